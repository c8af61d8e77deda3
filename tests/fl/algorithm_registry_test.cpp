// The algorithm registry as the configuration sees it: fl.algorithm is validated from the
// registry, each algorithm's keys load, dump and fail like core's, defaults that depend on other
// keys name their origin, and an algorithm registered from a test file runs rounds.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>

#include <gtest/gtest.h>

#include "fedvlm/comm/local_communicator.hpp"
#include "fl_test_support.hpp"
#include "toy_algorithm.hpp"

namespace fedvlm::fl {
namespace {

// The message of the InputError thrown by loading `sources`, or "" if none.
std::string error_of(const ConfigSources& sources) {
  try {
    load_config(sources);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

// The reference row of `key` in docs/configuration.md's generated tables.
std::string reference_row(const std::string& key) {
  const std::string reference = config_reference_markdown();
  const auto start = reference.find("| `" + key + "` |");
  if (start == std::string::npos) return "";
  return reference.substr(start, reference.find('\n', start) - start);
}

void register_toy() {
  register_algorithms();
  register_algorithm(testing::toy_spec());
}

// One single-rank round of hand-made clients: client c has y = x + delta_c and `samples_c` samples.
void run_hand_round(Algorithm& algorithm, torch::Tensor& x, std::int64_t round) {
  comm::LocalCommunicator local;
  Accumulator accumulator = algorithm.make_accumulator();
  const std::vector<std::pair<std::vector<float>, std::int64_t>> clients = {{{1, 0, -1}, 10}, {{-1, 2, 3}, 30}};
  for (std::size_t c = 0; c < clients.size(); ++c) {
    auto update = algorithm.begin_client({static_cast<std::int64_t>(c), round, x, 0.1});
    update->finish({x + torch::tensor(clients[c].first), 1, clients[c].second}, accumulator);
  }
  reduce_to_root(accumulator, local);
  algorithm.server_update(x, accumulator, round);
  algorithm.unpack_global(algorithm.pack_global(x), x);
}

TEST(ToyAlgorithm, RegisteredFromATestLoadsFromConfigAndRunsRounds) {
  register_toy();
  register_algorithm(testing::toy_spec());  // again: idempotent
  EXPECT_TRUE(is_server_algorithm("toy-avg"));
  const auto names = algorithm_names();
  EXPECT_EQ(std::count(names.begin(), names.end(), "toy-avg"), 1);

  const Config config = load_config({.overrides = {"fl.algorithm=toy-avg", "fl.toy_scale=0.5"}});
  EXPECT_EQ(config.fl.algorithm, "toy-avg");
  EXPECT_DOUBLE_EQ(config.get<double>("fl.toy_scale"), 0.5);
  EXPECT_EQ(config.origins.at("fl.toy_scale"), "--set fl.toy_scale=0.5");
  // Its default for the shared fl.server_lr applies, and says where it came from.
  EXPECT_DOUBLE_EQ(config.fl.server_lr, 2.0);
  EXPECT_EQ(config.origins.at("fl.server_lr"), "default for fl.algorithm = \"toy-avg\"");
  EXPECT_NE(dump_config(config).find("toy_scale = 0.5  # --set fl.toy_scale=0.5"), std::string::npos);

  // x ← x + 0.5·2·Δ with Δ the sample-weighted mean of {1, 0, −1}·10 and {−1, 2, 3}·30: {−0.5, 1.5, 2}.
  auto algorithm = make_algorithm(config, /*num_clients=*/2);
  EXPECT_EQ(algorithm->name(), "toy-avg");
  algorithm->reset(3, torch::kCPU);
  torch::Tensor x = torch::tensor({1.0f, 2.0f, 3.0f});
  run_hand_round(*algorithm, x, 0);
  EXPECT_EQ(testing::to_vector(x), (std::vector<double>{0.5, 3.5, 5.0}));
  run_hand_round(*algorithm, x, 1);
  EXPECT_EQ(testing::to_vector(x), (std::vector<double>{0.0, 5.0, 7.0}));
  const TensorMap state = algorithm->state_dict();
  EXPECT_EQ(state.at("toy_rounds").item<std::int64_t>(), 2);

  auto resumed = make_algorithm(config, 2);
  resumed->reset(3, torch::kCPU);
  resumed->load_state_dict(state);
  run_hand_round(*resumed, x, 2);
  EXPECT_EQ(testing::to_vector(x), (std::vector<double>{-0.5, 6.5, 9.0}));
  EXPECT_EQ(resumed->state_dict().at("toy_rounds").item<std::int64_t>(), 3);
}

TEST(ToyAlgorithm, ItsKeysFailLikeCoresKeys) {
  register_toy();
  std::string message = error_of({.overrides = {"fl.algorithm=toy-avg", "fl.toy_scael=0.5"}});
  EXPECT_NE(message.find("--set fl.toy_scael=0.5: unknown configuration key 'fl.toy_scael' (did you mean "
                         "'fl.toy_scale'?)"),
            std::string::npos)
      << message;
  const auto file = std::filesystem::temp_directory_path() / ("fedvlm-toy-" + std::to_string(::getpid()) + ".toml");
  std::ofstream(file) << "[fl]\nalgorithm = \"toy-avg\"\ntoy_scale = 0\n";
  message = error_of({.files = {file}});
  std::filesystem::remove(file);
  EXPECT_NE(message.find(file.string() + ":3: fl.toy_scale = 0.0 is out of range: must be in (0, 10]"),
            std::string::npos)
      << message;
  EXPECT_NE(error_of({.overrides = {"fl.toy_scale=big"}}).find("fl.toy_scale must be of type number, got 'big'"),
            std::string::npos);
  EXPECT_NE(reference_row("fl.toy_scale").find("*toy-avg*: Factor on the server step."), std::string::npos)
      << reference_row("fl.toy_scale");
}

TEST(AlgorithmConfig, AlgorithmIsValidatedFromTheRegistry) {
  register_algorithms();
  const Config defaults = load_config({});
  EXPECT_EQ(defaults.fl.algorithm, "fedavg");
  EXPECT_EQ(defaults.origins.at("fl.algorithm"), "default");
  const std::string message = error_of({.overrides = {"fl.algorithm=fedavgx"}});
  EXPECT_NE(message.find("fl.algorithm = \"fedavgx\" is not one of: fedavg, fedprox, fedavgm"), std::string::npos)
      << message;
  for (const auto& name : algorithm_names())
    EXPECT_EQ(load_config({.overrides = {"fl.algorithm=" + name}}).fl.algorithm, name);
}

// The declared limits say what the algorithms accept: fl.tau and fl.server_lr must be > 0.
TEST(AlgorithmConfig, ExclusiveLowerBoundsMatchWhatTheAlgorithmsAccept) {
  register_algorithms();
  for (const std::string key : {"fl.tau", "fl.server_lr"}) {
    const std::string message = error_of({.overrides = {"fl.algorithm=fedadam", key + "=0"}});
    EXPECT_NE(message.find(key + " = 0.0 is out of range: must be > 0"), std::string::npos) << message;
    EXPECT_NO_THROW(load_config({.overrides = {"fl.algorithm=fedadam", key + "=1e-9"}})) << key;
    EXPECT_NE(reference_row(key).find("| > 0 |"), std::string::npos) << reference_row(key);
    Config config = testing::fl_config("fedadam");
    config.set(key, 0.0);
    EXPECT_THROW(make_algorithm(config, 4), InputError) << key;
  }
  EXPECT_NE(error_of({.overrides = {"fl.beta1=1.5"}}).find("fl.beta1 = 1.5 is out of range: must be in [0, 1]"),
            std::string::npos);
}

TEST(AlgorithmConfig, AdaptiveServerOptimizersGetTheirOwnServerLrDefault) {
  register_algorithms();
  EXPECT_DOUBLE_EQ(load_config({}).fl.server_lr, 1.0);
  for (const char* algorithm : {"fedadagrad", "fedadam", "fedyogi"}) {
    const Config config = load_config({.overrides = {std::string("fl.algorithm=") + algorithm}});
    EXPECT_DOUBLE_EQ(config.fl.server_lr, 0.01) << algorithm;
    EXPECT_EQ(config.origins.at("fl.server_lr"), fmt::format("default for fl.algorithm = \"{}\"", algorithm));
  }
  for (const char* algorithm : {"fedavg", "fedprox", "fedavgm", "scaffold", "fednova"}) {
    const Config config = load_config({.overrides = {std::string("fl.algorithm=") + algorithm}});
    EXPECT_DOUBLE_EQ(config.fl.server_lr, 1.0) << algorithm;
    EXPECT_EQ(config.origins.at("fl.server_lr"), "default") << algorithm;
  }
  // A value set anywhere wins, whatever the algorithm: in a file, or on the command line.
  const auto file = std::filesystem::temp_directory_path() / ("fedvlm-adam-" + std::to_string(::getpid()) + ".toml");
  std::ofstream(file) << "[fl]\nalgorithm = \"fedadam\"\nserver_lr = 0.3\n";
  EXPECT_DOUBLE_EQ(load_config({.files = {file}}).fl.server_lr, 0.3);
  std::filesystem::remove(file);
  EXPECT_DOUBLE_EQ(load_config({.overrides = {"fl.algorithm=fedyogi", "fl.server_lr=1"}}).fl.server_lr, 1.0);
  EXPECT_NE(reference_row("fl.server_lr").find("Unset: 0.01 with fl.algorithm = fedadagrad, fedadam or fedyogi"),
            std::string::npos)
      << reference_row("fl.server_lr");
}

TEST(AlgorithmConfig, ScaffoldControlFollowsTheLocalOptimizerUnlessSet) {
  register_algorithms();
  const Config adamw = load_config({.overrides = {"fl.algorithm=scaffold"}});
  EXPECT_EQ(adamw.local.optimizer, "adamw");
  EXPECT_EQ(adamw.get<std::string>("fl.scaffold_control"), "steps");
  EXPECT_EQ(adamw.origins.at("fl.scaffold_control"), "default for local.optimizer = \"adamw\"");
  const Config sgd = load_config({.overrides = {"fl.algorithm=scaffold", "local.optimizer=sgd"}});
  EXPECT_EQ(sgd.get<std::string>("fl.scaffold_control"), "update");
  EXPECT_EQ(sgd.origins.at("fl.scaffold_control"), "default");
  EXPECT_EQ(load_config({.overrides = {"fl.scaffold_control=update"}}).get<std::string>("fl.scaffold_control"),
            "update");
}

// fl.beta1 and fl.tau are declared once in adaptive.cpp for the three adaptive algorithms.
TEST(AlgorithmConfig, SharedKeysNameEveryAlgorithmThatDeclaresThem) {
  register_algorithms();
  EXPECT_NE(reference_row("fl.beta1").find("*fedadagrad, fedadam, fedyogi*"), std::string::npos);
  EXPECT_NE(reference_row("fl.tau").find("*fedadagrad, fedadam, fedyogi*"), std::string::npos);
  EXPECT_NE(reference_row("fl.beta2").find("*fedadam, fedyogi*"), std::string::npos);
  EXPECT_NE(reference_row("fl.prox_mu").find("*fedprox*"), std::string::npos);
  // A dumped config, algorithm keys included, loads back to the same values.
  const Config original = load_config({.overrides = {"fl.algorithm=fedadam", "fl.beta2=0.5", "fl.prox_mu=0.25"}});
  const auto dumped = std::filesystem::temp_directory_path() / ("fedvlm-dump-" + std::to_string(::getpid()) + ".toml");
  std::ofstream(dumped) << dump_config(original);
  const Config reloaded = load_config({.files = {dumped}});
  std::filesystem::remove(dumped);
  auto values_only = [](const std::string& dump) { return std::regex_replace(dump, std::regex("  #.*"), ""); };
  EXPECT_EQ(values_only(dump_config(original)), values_only(dump_config(reloaded)));
  EXPECT_DOUBLE_EQ(reloaded.get<double>("fl.beta2"), 0.5);
}

}  // namespace
}  // namespace fedvlm::fl
