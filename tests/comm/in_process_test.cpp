// InProcessCommunicator: every collective at world sizes 1-4, with expected values written as
// functions of the world size n, and the harness's failure modes (mismatch, exception, abort,
// deadlock) failing fast with a clear error instead of hanging.
#include <gtest/gtest.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "fedvlm/comm/in_process.hpp"
#include "fedvlm/comm/in_process_communicator.hpp"
#include "fedvlm/comm/tensor_ops.hpp"

namespace fedvlm::comm {
namespace {

using namespace std::chrono_literals;

Buffer view(std::vector<float>& v) { return {v.data(), v.size(), DType::Float32, false}; }
Buffer view(std::vector<double>& v) { return {v.data(), v.size(), DType::Float64, false}; }
Buffer view(std::vector<std::int32_t>& v) { return {v.data(), v.size(), DType::Int32, false}; }
Buffer view(std::vector<std::int64_t>& v) { return {v.data(), v.size(), DType::Int64, false}; }
Buffer view(std::vector<std::uint8_t>& v) { return {v.data(), v.size(), DType::UInt8, false}; }

class InProcessCollectives : public ::testing::TestWithParam<int> {
 protected:
  int n() const { return GetParam(); }
  void run(const std::function<void(Communicator&)>& body) { run_in_process(n(), body, 30s); }
};

TEST_P(InProcessCollectives, RanksAndSizeAreThoseOfTheWorld) {
  std::vector<std::atomic<int>> seen(static_cast<std::size_t>(n()));
  run([&](Communicator& comm) {
    EXPECT_EQ(comm.size(), n());
    EXPECT_EQ(comm.backend(), "inprocess");
    EXPECT_EQ(current_rank(), comm.rank());  // errors and logs name the thread's rank
    ++seen[static_cast<std::size_t>(comm.rank())];
  });
  for (auto& count : seen) EXPECT_EQ(count.load(), 1);
}

TEST_P(InProcessCollectives, AllreduceSumOfRankPlusOneIsTriangularNumber) {
  run([&](Communicator& comm) {
    std::vector<float> values(5);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((comm.rank() + 1) * (i + 1));
    comm.allreduce(view(values), ReduceOp::Sum);
    for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(values[i], static_cast<float>((i + 1) * n() * (n() + 1) / 2));
  });
}

TEST_P(InProcessCollectives, AllreduceMaxIsWorldSize) {
  run([&](Communicator& comm) {
    std::vector<std::int32_t> values{comm.rank() + 1, -(comm.rank() + 1)};
    comm.allreduce(view(values), ReduceOp::Max);
    EXPECT_EQ(values[0], n());
    EXPECT_EQ(values[1], -1);
  });
}

TEST_P(InProcessCollectives, AllreduceGivesBitIdenticalFloatsOnEveryRank) {
  run([&](Communicator& comm) {
    std::vector<double> value{0.1 * (comm.rank() + 1) + 1e-17 * comm.rank()};
    comm.allreduce(view(value), ReduceOp::Sum);
    EXPECT_NEAR(value[0], 0.1 * n() * (n() + 1) / 2, 1e-12);
    std::vector<std::int64_t> bits{std::bit_cast<std::int64_t>(value[0])};
    std::vector<std::int64_t> all(static_cast<std::size_t>(n()));
    comm.allgather(view(bits), view(all));
    for (auto other : all) EXPECT_EQ(other, all[0]);
  });
}

TEST_P(InProcessCollectives, ReduceToRankOneSumsThere) {
  const int root = std::min(1, n() - 1);
  run([&](Communicator& comm) {
    std::vector<std::int64_t> values{comm.rank() + 1, 10};
    comm.reduce(view(values), ReduceOp::Sum, root);
    if (comm.rank() == root) {
      EXPECT_EQ(values[0], n() * (n() + 1) / 2);
      EXPECT_EQ(values[1], 10 * n());
    }
  });
}

TEST_P(InProcessCollectives, ReduceMaxToRoot) {
  const int root = n() - 1;
  run([&](Communicator& comm) {
    std::vector<double> values{static_cast<double>(comm.rank()) * 1.5};
    comm.reduce(view(values), ReduceOp::Max, root);
    if (comm.rank() == root) {
      EXPECT_EQ(values[0], (n() - 1) * 1.5);
    }
  });
}

TEST_P(InProcessCollectives, BroadcastFromLastRankCopiesItsValues) {
  const int root = n() - 1;
  run([&](Communicator& comm) {
    std::vector<double> values(4, -1.0);
    if (comm.rank() == root) {
      for (std::size_t i = 0; i < values.size(); ++i) values[i] = root * 10.0 + static_cast<double>(i);
    }
    comm.broadcast(view(values), root);
    for (std::size_t i = 0; i < values.size(); ++i) EXPECT_EQ(values[i], (n() - 1) * 10.0 + static_cast<double>(i));
  });
}

TEST_P(InProcessCollectives, AllgatherStacksInRankOrder) {
  run([&](Communicator& comm) {
    std::vector<std::int32_t> send{comm.rank() * 100, comm.rank() * 100 + 1, comm.rank() * 100 + 2};
    std::vector<std::int32_t> receive(3 * static_cast<std::size_t>(n()), -1);
    comm.allgather(view(send), view(receive));
    for (int r = 0; r < n(); ++r) {
      for (int i = 0; i < 3; ++i) EXPECT_EQ(receive[static_cast<std::size_t>(3 * r + i)], r * 100 + i);
    }
  });
}

TEST_P(InProcessCollectives, AlltoallvDeliversEachBlockToItsRank) {
  run([&](Communicator& comm) {
    // Rank r sends (r + p) % 3 values to rank p: r·1000 + p·10 + i. Some blocks are empty.
    const auto blocks = [&](int from, int to) { return static_cast<std::size_t>((from + to) % 3); };
    std::vector<std::int64_t> send;
    std::vector<std::size_t> send_counts, receive_counts;
    std::size_t expected = 0;
    for (int p = 0; p < n(); ++p) {
      send_counts.push_back(blocks(comm.rank(), p));
      receive_counts.push_back(blocks(p, comm.rank()));
      expected += blocks(p, comm.rank());
      for (std::size_t i = 0; i < blocks(comm.rank(), p); ++i) send.push_back(comm.rank() * 1000 + p * 10 + static_cast<std::int64_t>(i));
    }
    std::vector<std::int64_t> receive(expected + 1, -1);  // one spare element stays untouched
    comm.alltoallv(view(send), send_counts, view(receive), receive_counts);
    std::size_t k = 0;
    for (int p = 0; p < n(); ++p)
      for (std::size_t i = 0; i < blocks(p, comm.rank()); ++i)
        EXPECT_EQ(receive[k++], p * 1000 + comm.rank() * 10 + static_cast<std::int64_t>(i)) << "from rank " << p;
    EXPECT_EQ(receive.back(), -1);
  });
}

TEST_P(InProcessCollectives, AlltoallvRefusesCountsThePeerDoesNotExpect) {
  if (n() < 2) GTEST_SKIP() << "needs two ranks";
  EXPECT_THROW(run([&](Communicator& comm) {
                 std::vector<float> send(4, 1.0f), receive(4, 0.0f);
                 std::vector<std::size_t> send_counts(n(), 0), receive_counts(n(), 0);
                 if (comm.rank() == 0) send_counts[1] = 2;  // rank 1 expects nothing from rank 0
                 comm.alltoallv(view(send), send_counts, view(receive), receive_counts);
               }),
               Error);
}

TEST_P(InProcessCollectives, MixedDtypesInSequence) {
  run([&](Communicator& comm) {
    std::vector<std::uint8_t> bytes{100, static_cast<std::uint8_t>(comm.rank())};
    comm.allreduce(view(bytes), ReduceOp::Sum);
    EXPECT_EQ(bytes[0], static_cast<std::uint8_t>((100 * n()) % 256));  // wraps, as MPI's uint8 sum
    EXPECT_EQ(bytes[1], n() * (n() - 1) / 2);

    std::vector<std::int64_t> big{std::int64_t{1} << 40};
    comm.allreduce(view(big), ReduceOp::Sum);
    EXPECT_EQ(big[0], n() * (std::int64_t{1} << 40));

    std::vector<float> small{0.5f * comm.rank()};
    comm.allreduce(view(small), ReduceOp::Max);
    EXPECT_EQ(small[0], 0.5f * (n() - 1));
  });
}

TEST_P(InProcessCollectives, RepeatedCollectivesWithFreshBuffersStayCorrect) {
  run([&](Communicator& comm) {
    for (int iteration = 0; iteration < 40; ++iteration) {
      std::vector<std::int64_t> sum(static_cast<std::size_t>(1 + iteration % 7), comm.rank() + iteration);
      comm.allreduce(view(sum), ReduceOp::Sum);
      for (auto value : sum) ASSERT_EQ(value, n() * iteration + n() * (n() - 1) / 2);

      const int root = iteration % n();
      std::vector<double> shared{comm.rank() == root ? iteration * 2.0 : -1.0};
      comm.broadcast(view(shared), root);
      ASSERT_EQ(shared[0], iteration * 2.0);

      std::vector<std::int32_t> send{comm.rank() ^ iteration};
      std::vector<std::int32_t> all(static_cast<std::size_t>(n()));
      comm.allgather(view(send), view(all));
      for (int r = 0; r < n(); ++r) ASSERT_EQ(all[static_cast<std::size_t>(r)], r ^ iteration);
      comm.barrier();
    }
  });
}

TEST_P(InProcessCollectives, BarrierPublishesWritesMadeBeforeIt) {
  std::vector<int> written(static_cast<std::size_t>(n()), 0);
  run([&](Communicator& comm) {
    written[static_cast<std::size_t>(comm.rank())] = comm.rank() + 1;  // each rank its own slot
    comm.barrier();
    for (int r = 0; r < n(); ++r) EXPECT_EQ(written[static_cast<std::size_t>(r)], r + 1);
  });
}

TEST_P(InProcessCollectives, EmptyBuffersAreAllowed) {
  run([&](Communicator& comm) {
    std::vector<float> none;
    comm.allreduce(view(none), ReduceOp::Sum);
    comm.broadcast(view(none), 0);
    std::vector<float> receive;
    comm.allgather(view(none), view(receive));
  });
}

TEST_P(InProcessCollectives, TensorAdaptersReduceBroadcastAndGather) {
  run([&](Communicator& comm) {
    torch::Tensor sum = torch::full({2, 3}, comm.rank() + 1, torch::kFloat32);
    allreduce(comm, sum);
    EXPECT_TRUE(torch::equal(sum, torch::full({2, 3}, n() * (n() + 1) / 2, torch::kFloat32)));

    torch::Tensor maximum = torch::tensor({comm.rank()}, torch::kInt64);
    reduce(comm, maximum, ReduceOp::Max, 0);
    if (comm.rank() == 0) {
      EXPECT_EQ(maximum.item<std::int64_t>(), n() - 1);
    }

    torch::Tensor weights = comm.rank() == n() - 1 ? torch::arange(4, torch::kFloat64) : torch::zeros({4}, torch::kFloat64);
    broadcast(comm, weights, n() - 1);
    EXPECT_TRUE(torch::equal(weights, torch::arange(4, torch::kFloat64)));

    torch::Tensor gathered = allgather(comm, torch::full({2}, comm.rank(), torch::kUInt8));
    ASSERT_EQ(gathered.sizes(), (std::vector<std::int64_t>{n(), 2}));
    for (int r = 0; r < n(); ++r) EXPECT_TRUE(torch::equal(gathered[r], torch::full({2}, r, torch::kUInt8)));
  });
}

TEST_P(InProcessCollectives, InvalidRootIsRejectedWithItsValue) {
  try {
    run([&](Communicator& comm) {
      std::vector<float> values(2);
      comm.broadcast(view(values), n());
    });
    FAIL() << "a broadcast from a rank outside the world must fail";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find(fmt::format("root {} is not a rank", n())), std::string::npos)
        << error.what();
  }
}

TEST_P(InProcessCollectives, AbortThrowsInEveryRankInsteadOfExiting) {
  std::atomic<int> woken{0};
  try {
    run([&](Communicator& comm) {
      if (comm.rank() == 0) comm.abort(3);
      try {
        comm.barrier();
      } catch (const WorldPoisoned&) {
        ++woken;
        throw;
      }
    });
    FAIL() << "abort must surface as an exception";
  } catch (const InProcessAbort& error) {
    EXPECT_EQ(error.exit_code(), 3);
  }
  EXPECT_EQ(woken.load(), n() - 1);
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, InProcessCollectives, ::testing::Values(1, 2, 3, 4),
                         [](const auto& info) { return "n" + std::to_string(info.param); });

TEST(InProcessHarness, MismatchedBarrierTimesOutInsteadOfHanging) {
  try {
    run_in_process(
        2,
        [](Communicator& comm) {
          comm.barrier();
          if (comm.rank() == 0) comm.barrier();  // rank 1 never joins this one
        },
        1s);
    FAIL() << "a deadlocked world must fail";
  } catch (const WorldPoisoned& error) {
    FAIL() << "the deadlock must be reported as such, not as a wake-up: " << error.what();
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("did not finish within 1 s"), std::string::npos) << message;
    EXPECT_NE(message.find("rank 0 waits in barrier (collective #2"), std::string::npos) << message;
    EXPECT_NE(message.find("finished: 1"), std::string::npos) << message;
  }
}

TEST(InProcessHarness, MismatchedCollectivesAreReportedByName) {
  try {
    run_in_process(2, [](Communicator& comm) {
      std::vector<float> values(3);
      if (comm.rank() == 0) {
        comm.allreduce(view(values), ReduceOp::Sum);
      } else {
        comm.barrier();
      }
    });
    FAIL() << "mismatched collectives must fail";
  } catch (const Error& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("mismatched collectives at #1"), std::string::npos) << message;
    EXPECT_NE(message.find("allreduce(float32 x 3, sum)"), std::string::npos) << message;
    EXPECT_NE(message.find("barrier"), std::string::npos) << message;
  }
}

TEST(InProcessHarness, MismatchedCountsAreReported) {
  EXPECT_THROW(run_in_process(3,
                              [](Communicator& comm) {
                                std::vector<double> values(static_cast<std::size_t>(comm.rank() == 2 ? 4 : 5));
                                comm.allreduce(view(values), ReduceOp::Sum);
                              }),
               Error);
}

TEST(InProcessHarness, FirstFailureIsRethrownAndWakesWaitingRanks) {
  try {
    run_in_process(3, [](Communicator& comm) {
      if (comm.rank() == 1) throw std::runtime_error("client 17 has no samples");
      comm.barrier();  // ranks 0 and 2 would wait forever without the poisoning
    });
    FAIL() << "the rank's exception must be rethrown";
  } catch (const WorldPoisoned& error) {
    FAIL() << "the cause must win over the wake-ups it caused: " << error.what();
  } catch (const std::runtime_error& error) {
    EXPECT_STREQ(error.what(), "client 17 has no samples");
  }
}

TEST(InProcessHarness, RejectsBadArguments) {
  EXPECT_THROW(run_in_process(0, [](Communicator&) {}), Error);
  EXPECT_THROW(InProcessWorld(0), Error);
  EXPECT_THROW(InProcessCommunicator(std::make_shared<InProcessWorld>(2), 2), Error);
}

TEST(InProcessHarness, AllgatherChecksTheReceiveSize) {
  try {
    run_in_process(2, [](Communicator& comm) {
      std::vector<float> send(3);
      std::vector<float> receive(5);
      comm.allgather(view(send), view(receive));
    });
    FAIL() << "a receive buffer of the wrong size must be rejected";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("receive holds 5 elements, needs 6"), std::string::npos) << error.what();
  }
}

TEST(InProcessHarness, TensorAdaptersRejectUnsupportedTensors) {
  run_in_process(2, [](Communicator& comm) {
    torch::Tensor half = torch::zeros({2}, torch::kFloat16);
    EXPECT_THROW(allreduce(comm, half), Error);
    torch::Tensor strided = torch::zeros({4, 4}).t();
    EXPECT_THROW(allreduce(comm, strided), Error);
    torch::Tensor undefined;
    EXPECT_THROW(broadcast(comm, undefined, 0), Error);
  });
}

}  // namespace
}  // namespace fedvlm::comm
