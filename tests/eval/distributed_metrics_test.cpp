// The cross-rank paths: gather_strings, MetricsAccumulator::reduce and split_range, with threads
// acting as ranks (comm::run_in_process), so a deadlock fails instead of hanging.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>

#include "fedvlm/comm/in_process.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/eval/gather_strings.hpp"
#include "fedvlm/eval/split_range.hpp"
#include "fedvlm/eval/task_metrics.hpp"

namespace fedvlm::eval {
namespace {

constexpr auto kTimeout = std::chrono::seconds(30);

// Rank r holds r + 1 strings, among them an empty one, one with a NUL byte and one with ':'.
std::vector<std::string> strings_of_rank(int rank) {
  std::vector<std::string> strings;
  for (int i = 0; i <= rank; ++i) strings.push_back(fmt::format("rank{}:item{}", rank, i));
  if (rank == 1) strings[0] = "";
  if (rank == 2) strings[1] = std::string("nul\0inside", 10);
  return strings;
}

TEST(GatherStrings, RootReceivesEveryRanksStringsInRankOrder) {
  for (int root : {0, 1, 2}) {
    std::vector<std::string> expected;
    for (int rank = 0; rank < 3; ++rank) {
      const auto mine = strings_of_rank(rank);
      expected.insert(expected.end(), mine.begin(), mine.end());
    }
    std::mutex mutex;
    std::vector<std::vector<std::string>> received(3);
    comm::run_in_process(
        3,
        [&](comm::Communicator& communicator) {
          auto gathered = gather_strings(communicator, strings_of_rank(communicator.rank()), root);
          std::lock_guard lock(mutex);
          received[communicator.rank()] = std::move(gathered);
        },
        kTimeout);
    for (int rank = 0; rank < 3; ++rank) {
      if (rank == root) {
        EXPECT_EQ(received[rank], expected) << "root " << root;
      } else {
        EXPECT_TRUE(received[rank].empty()) << "rank " << rank << " root " << root;
      }
    }
  }
}

TEST(GatherStrings, RanksWithoutStringsAndAllEmpty) {
  std::vector<std::string> at_root;
  comm::run_in_process(
      2,
      [&](comm::Communicator& communicator) {
        const std::vector<std::string> mine =
            communicator.rank() == 1 ? std::vector<std::string>{"", ""} : std::vector<std::string>{};
        auto gathered = gather_strings(communicator, mine, 0);
        if (communicator.rank() == 0) at_root = std::move(gathered);
      },
      kTimeout);
  EXPECT_EQ(at_root, (std::vector<std::string>{"", ""}));

  comm::run_in_process(
      2, [&](comm::Communicator& communicator) { EXPECT_TRUE(gather_strings(communicator, {}, 0).empty()); }, kTimeout);
}

TEST(SplitRange, ContiguousBalancedRangesCoverTheSplitInOrder) {
  using Range = std::pair<std::int64_t, std::int64_t>;
  EXPECT_EQ(split_range(10, 0, 3), Range(0, 4));
  EXPECT_EQ(split_range(10, 1, 3), Range(4, 7));
  EXPECT_EQ(split_range(10, 2, 3), Range(7, 10));
  EXPECT_EQ(split_range(2, 2, 3), Range(2, 2));  // more ranks than rows
  for (std::int64_t total : {0, 1, 7, 64, 1001}) {
    for (int world : {1, 2, 3, 4, 8}) {
      std::int64_t next = 0;
      for (int rank = 0; rank < world; ++rank) {
        const auto [begin, end] = split_range(total, rank, world);
        EXPECT_EQ(begin, next);
        EXPECT_GE(end - begin, total / world);
        EXPECT_LE(end - begin, total / world + 1);
        next = end;
      }
      EXPECT_EQ(next, total);
    }
  }
  EXPECT_THROW(split_range(10, 3, 3), fedvlm::Error);
  EXPECT_THROW(split_range(-1, 0, 1), fedvlm::Error);
}

// A small test split of every task: example i of the split feeds the accumulator.
struct Example {
  std::string task;
  std::string prediction;
  std::string reference;
  std::optional<Box> box;
  double loss_sum;
  double tokens;
};

std::vector<Example> test_split() {
  return {
      {"cls", "sandal", "Sandal", {}, 0.5, 2},
      {"cap", "a red dress with long sleeves", "a red dress with short sleeves", {}, 4.0, 7},
      {"vqa", "red", "blue", {}, 1.5, 1},
      {"ground", "10 10 50 50", "", Box{0.1, 0.1, 0.5, 0.5}, 2.0, 5},
      {"cls", "bag", "coat", {}, 2.5, 2},
      {"cap", "a pair of white sneakers", "a pair of white sneakers", {}, 1.0, 6},
      {"cap", "a black bag", "a black leather bag with a strap", {}, 6.0, 8},
      {"ground", "[0.2, 0.2, 0.6, 0.7]", "", Box{0.1, 0.1, 0.5, 0.5}, 3.0, 5},
      {"vqa", "two", "two", {}, 0.25, 1},
      {"cap", "a grey coat", "a long grey coat", {}, 2.0, 5},
      {"ground", "nothing", "", Box{0.3, 0.3, 0.9, 0.9}, 4.0, 5},
  };
}

const std::vector<std::string> kTasks = {"cls", "cap", "vqa", "ground"};

void accumulate(MetricsAccumulator& accumulator, const std::vector<Example>& split, std::int64_t begin, std::int64_t end) {
  for (std::int64_t i = begin; i < end; ++i) {
    const Example& example = split[static_cast<std::size_t>(i)];
    TaskMetrics& metrics = accumulator.at(example.task);
    metrics.add_prediction(example.prediction, example.reference, example.box);
    metrics.add_loss(example.loss_sum, example.tokens);
  }
}

void expect_tables_equal(const MetricsTable& actual, const MetricsTable& expected, int world) {
  ASSERT_EQ(actual.size(), expected.size()) << "world " << world;
  for (const auto& [task, metrics] : expected) {
    ASSERT_TRUE(actual.contains(task)) << task << ", world " << world;
    ASSERT_EQ(actual.at(task).size(), metrics.size()) << task << ", world " << world;
    for (const auto& [name, value] : metrics)
      EXPECT_NEAR(actual.at(task).at(name), value, 1e-12) << task << "/" << name << ", world " << world;
  }
}

TEST(MetricsAccumulator, ReducedTableAtOneTwoThreeRanksMatchesOnePass) {
  const std::vector<Example> split = test_split();
  MetricsAccumulator single(kTasks);
  accumulate(single, split, 0, static_cast<std::int64_t>(split.size()));
  const MetricsTable expected = single.finish();
  ASSERT_EQ(expected.size(), 4u);
  ASSERT_EQ(expected.at("cap").size(), 4u);  // bleu4, rouge_l, cider, loss

  for (int world : {1, 2, 3}) {
    MetricsTable at_root;
    std::vector<std::string> root_captions;
    comm::run_in_process(
        world,
        [&](comm::Communicator& communicator) {
          MetricsAccumulator accumulator(kTasks);
          const auto [begin, end] = split_range(static_cast<std::int64_t>(split.size()), communicator.rank(), world);
          accumulate(accumulator, split, begin, end);
          accumulator.reduce(communicator, 0);
          if (communicator.is_root()) {
            at_root = accumulator.finish();
            for (const auto& example : accumulator.at("cap").captions()) root_captions.push_back(example.candidate);
          }
        },
        kTimeout);
    expect_tables_equal(at_root, expected, world);
    // The captions reach the root in the order of the split, as in the single pass.
    std::vector<std::string> single_captions;
    for (const auto& example : single.at("cap").captions()) single_captions.push_back(example.candidate);
    EXPECT_EQ(root_captions, single_captions) << "world " << world;
  }
}

TEST(MetricsAccumulator, ReduceCarriesSeveralReferencesPerCaption) {
  MetricsTable at_root;
  comm::run_in_process(
      2,
      [&](comm::Communicator& communicator) {
        MetricsAccumulator accumulator({"cap"});
        if (communicator.rank() == 1) accumulator.at("cap").add_caption("a: b", {"a: b", "12:x", ""});
        accumulator.reduce(communicator, 0);
        if (communicator.is_root()) {
          ASSERT_EQ(accumulator.at("cap").captions().size(), 1u);
          const CaptionExample& example = accumulator.at("cap").captions()[0];
          EXPECT_EQ(example.candidate, "a: b");
          EXPECT_EQ(example.references, (std::vector<std::string>{"a: b", "12:x", ""}));
        }
      },
      kTimeout);
}

TEST(MetricsAccumulator, DifferentTaskListsOnRanksThrowInsteadOfHanging) {
  EXPECT_THROW(comm::run_in_process(
                   2,
                   [&](comm::Communicator& communicator) {
                     MetricsAccumulator accumulator(communicator.rank() == 0 ? std::vector<std::string>{"cls"}
                                                                             : std::vector<std::string>{"vqa"});
                     accumulator.reduce(communicator, 0);
                   },
                   kTimeout),
               fedvlm::Error);
}

}  // namespace
}  // namespace fedvlm::eval
