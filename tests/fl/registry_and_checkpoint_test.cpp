// The registry, checkpoint resume (bit-identical) and reset for a new trainable length.
#include <filesystem>

#include <gtest/gtest.h>

#include "fedvlm/comm/local_communicator.hpp"
#include "fedvlm/fl/client_state.hpp"
#include "fl_test_support.hpp"

namespace fedvlm::fl {
namespace {

constexpr std::int64_t kClients = 5;
constexpr double kLr = 0.05;

std::vector<std::int64_t> cohort_of(std::int64_t round) {
  return round % 2 == 0 ? std::vector<std::int64_t>{0, 1, 3} : std::vector<std::int64_t>{1, 2, 4};
}

// One single-rank round with least-squares clients.
void run_round(Algorithm& algorithm, torch::Tensor& x, std::int64_t round) {
  comm::LocalCommunicator local;
  Accumulator accumulator = algorithm.make_accumulator();
  for (const std::int64_t client : cohort_of(round)) {
    auto update = algorithm.begin_client({client, round, x, kLr});
    update->finish(testing::train_least_squares(*update, x, client, testing::hand_steps(client), kLr), accumulator);
  }
  reduce_to_root(accumulator, local);
  algorithm.server_update(x, accumulator, round);
  algorithm.unpack_global(algorithm.pack_global(x), x);
  if (auto* states = algorithm.client_states()) states->end_round(local);
}

TEST(Registry, ListsEveryServerAlgorithmAndBuildsEach) {
  register_algorithms();
  const auto names = algorithm_names();
  // In registration order; a test may have registered a toy algorithm after these.
  ASSERT_GE(names.size(), 8u);
  EXPECT_EQ(std::vector<std::string>(names.begin(), names.begin() + 8),
            (std::vector<std::string>{"fedavg", "fedprox", "fedavgm", "fedadagrad", "fedadam", "fedyogi", "scaffold",
                                      "fednova"}));
  for (const auto& name : names) {
    EXPECT_TRUE(is_server_algorithm(name));
    EXPECT_EQ(make_algorithm(testing::fl_config(name), kClients)->name(), name);
  }
}

TEST(Registry, BaselinesAreNotServerAlgorithms) {
  for (const std::string name : {"centralized", "local"}) {
    EXPECT_FALSE(is_server_algorithm(name));
    try {
      make_algorithm(testing::fl_config(name), kClients);
      FAIL() << name << " was accepted";
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find("not a server algorithm"), std::string::npos) << error.what();
    }
  }
}

TEST(Registry, RejectsUnknownNamesAndBadSettings) {
  try {
    make_algorithm(testing::fl_config("fedsgd"), kClients);
    FAIL();
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("fedavg"), std::string::npos);  // lists the choices
  }
  Config config = testing::fl_config("fedadam");
  config.set("fl.beta1", 1.5);
  EXPECT_THROW(make_algorithm(config, kClients), InputError);
  config = testing::fl_config("fedyogi");
  config.set("fl.tau", 0.0);
  EXPECT_THROW(make_algorithm(config, kClients), InputError);
  config = testing::fl_config("fedavg");
  config.fl.weighting = "tokens";
  EXPECT_THROW(make_algorithm(config, kClients), InputError);
  config = testing::fl_config("fedprox");
  config.set("fl.prox_mu", -1.0);
  EXPECT_THROW(make_algorithm(config, kClients), InputError);
  EXPECT_THROW(make_algorithm(testing::fl_config("fedavg"), 0), InputError);
}

class ResumeAndReset : public ::testing::TestWithParam<std::string> {};

TEST_P(ResumeAndReset, ResumedRunEqualsUninterrupted) {
  const Config config = testing::fl_config(GetParam());
  const torch::Tensor x0 = torch::tensor({0.5f, -1.0f, 2.0f});

  auto uninterrupted = make_algorithm(config, kClients);
  uninterrupted->reset(3);
  torch::Tensor x = x0.clone();
  for (std::int64_t round = 0; round < 5; ++round) run_round(*uninterrupted, x, round);

  auto first = make_algorithm(config, kClients);
  first->reset(3);
  torch::Tensor x_resumed = x0.clone();
  for (std::int64_t round = 0; round < 3; ++round) run_round(*first, x_resumed, round);
  const auto path = std::filesystem::temp_directory_path() / ("fedvlm-fl-resume-" + GetParam() + ".pt");
  TensorMap saved = first->state_dict();
  saved["x"] = x_resumed.clone();
  save_tensor_map(path, saved);
  const auto shard = std::filesystem::path(path).replace_extension(".clients");  // client states live beside it
  if (auto* states = first->client_states()) states->save_shard(shard);
  first.reset();

  TensorMap loaded = load_tensor_map(path);
  std::filesystem::remove(path);
  auto second = make_algorithm(config, kClients);
  second->reset(3);
  x_resumed = loaded.at("x");
  loaded.erase("x");
  second->load_state_dict(loaded);
  if (auto* states = second->client_states()) {
    states->load_shards(std::vector<std::filesystem::path>{shard});
    std::filesystem::remove(shard);
  }
  for (std::int64_t round = 3; round < 5; ++round) run_round(*second, x_resumed, round);

  EXPECT_TRUE(testing::bit_equal(x_resumed, x)) << x_resumed << " vs " << x;
  const TensorMap expected_state = uninterrupted->state_dict();
  const TensorMap resumed_state = second->state_dict();
  ASSERT_EQ(resumed_state.size(), expected_state.size());
  for (const auto& [name, tensor] : expected_state)
    EXPECT_TRUE(testing::bit_equal(resumed_state.at(name), tensor)) << name;
  if (auto* states = uninterrupted->client_states()) {
    EXPECT_EQ(second->client_states()->size(), states->size());
    for (std::int64_t client = 0; client < kClients; ++client)
      EXPECT_TRUE(testing::bit_equal(second->client_states()->get(client), states->get(client))) << "client " << client;
  }
}

TEST_P(ResumeAndReset, ResetToANewLengthStartsFresh) {
  const Config config = testing::fl_config(GetParam());
  auto algorithm = make_algorithm(config, kClients);
  algorithm->reset(3);
  torch::Tensor x = torch::tensor({0.5f, -1.0f, 2.0f});
  for (std::int64_t round = 0; round < 2; ++round) run_round(*algorithm, x, round);
  const TensorMap old_state = algorithm->state_dict();

  // F-2stage: the trainable set changes to a vector of length 4.
  algorithm->reset(4);
  EXPECT_EQ(algorithm->length(), 4);
  EXPECT_EQ(algorithm->broadcast_size() % 4, 0);
  torch::Tensor y = torch::tensor({0.1f, 0.2f, -0.3f, 0.4f});
  run_round(*algorithm, y, 2);

  auto fresh = make_algorithm(config, kClients);
  fresh->reset(4);
  torch::Tensor y_fresh = torch::tensor({0.1f, 0.2f, -0.3f, 0.4f});
  run_round(*fresh, y_fresh, 2);
  EXPECT_TRUE(testing::bit_equal(y, y_fresh));  // no momentum, moments or controls survive a reset
  EXPECT_THROW(algorithm->load_state_dict(old_state), Error);  // a length-3 state does not fit
}

INSTANTIATE_TEST_SUITE_P(Algorithms, ResumeAndReset,
                         ::testing::Values("fedavg", "fedprox", "fedavgm", "fedadagrad", "fedadam", "fedyogi",
                                           "scaffold", "fednova"));

}  // namespace
}  // namespace fedvlm::fl
