// Batched multi-client training (run.batched_clients): each client's update from one batched pass
// equals training it alone, for every algorithm, every strategy that batches, both model kinds,
// both optimizers, with dropout and gradient clipping on, with equal and unequal client batches.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/sim/algorithms.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "fedvlm/sim/client_group_trainer.hpp"
#include "fedvlm/sim/local_trainer.hpp"
#include "fedvlm/sim/setup.hpp"
#include "tiny_federation.hpp"

namespace fs = std::filesystem;
using namespace fedvlm;

namespace {

// The batched update's difference from the alone update (y − x), relative to the alone update:
// in the L2 norm, and elementwise (the largest difference over the largest change). The batched
// products sum in another order than the alone ones, so gradients differ by float rounding. SGD
// passes that on linearly; AdamW divides each element by its own gradient scale, so an element
// whose gradient nearly cancels (rounding is large relative to it) can move by up to ~1e-3 of the
// largest step: the elementwise bound holds for SGD, the norm bound for both.
double relative_difference(const torch::Tensor& batched, const torch::Tensor& alone, const torch::Tensor& x) {
  const double scale = (alone - x).norm().item<double>();
  EXPECT_GT(scale, 0.0) << "training did not move the vector";
  return (batched - alone).norm().item<double>() / scale;
}
double elementwise_difference(const torch::Tensor& batched, const torch::Tensor& alone, const torch::Tensor& x) {
  return (batched - alone).abs().max().item<double>() / (alone - x).abs().max().item<double>();
}

struct Case {
  std::string algorithm;
  std::string kind;      // encoder | encoder-free
  std::string strategy;  // F-C | F-L | F-CL | F-2stage
  std::int64_t round;    // F-2stage: 0 trains the connector, 1 LoRA
  std::string optimizer;
  std::string data;      // "equal": every client fills each batch; "unequal": ragged batches
};

void PrintTo(const Case& c, std::ostream* out) {
  *out << fmt::format("{} {} {} round {} {} {}", c.algorithm, c.kind, c.strategy, c.round, c.optimizer, c.data);
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  auto name = fmt::format("{}_{}_{}_r{}_{}_{}", info.param.algorithm, info.param.kind, info.param.strategy,
                          info.param.round, info.param.optimizer, info.param.data);
  for (auto& c : name)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return name;
}

class BatchedClients : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("fedvlm-batched-" + std::to_string(::getpid()));
    test_support::write_tiny_federation(root_ / "equal", std::vector<int>{4, 8, 4, 12});
    test_support::write_tiny_federation(root_ / "unequal", std::vector<int>{1, 3, 7, 5, 4});
  }
  static void TearDownTestSuite() { fedvlm::remove_tree(root_); }
  static inline fs::path root_;
};

TEST_P(BatchedClients, EachClientsUpdateEqualsTrainingItAlone) {
  const Case& c = GetParam();
  const bool scaffold_variant = c.algorithm.rfind("scaffold-", 0) == 0;
  Config config = test_support::tiny_config(root_ / c.data, root_ / "runs", scaffold_variant ? "scaffold" : c.algorithm);
  config.model.kind = c.kind;
  config.finetune.strategy = c.strategy;
  config.finetune.stage1_rounds = 1;
  config.local.optimizer = c.optimizer;
  config.local.momentum = 0.9;
  config.local.steps = 3;
  config.local.batch_size = 4;
  config.local.lr = c.optimizer == "sgd" ? 0.5 : 0.01;
  config.local.grad_clip = 0.5;  // active: the first steps' gradients are larger
  config.lora.dropout = 0.1;
  config.model.dropout = 0.1;
  if (c.algorithm == "fedadam" || c.algorithm == "fedyogi" || c.algorithm == "fedadagrad")
    config.fl.server_lr = 0.01;  // their default (tiny_config sets 1.0 for the rest)
  if (scaffold_variant) config.set("fl.scaffold_control", c.algorithm.substr(9));

  sim::Workbench bench = sim::open_workbench(config);
  sim::ClientData data(bench.dataset);
  const std::int64_t clients = bench.dataset.info().num_clients;
  auto algorithm = fl::make_algorithm(config, clients);
  const auto trainable = model::apply_strategy(*bench.model, config.finetune, c.round);
  torch::Tensor x = model::flatten_values(trainable.parameters);
  algorithm->reset(x.numel());
  sim::LocalTrainer alone(*bench.model, config, bench.special, bench.device);
  sim::BatchedTrainer batched(*bench.model, config, bench.special, bench.device);
  const double lr = config.local.lr;

  // A first round, alone, so that the server's and the clients' states (SCAFFOLD's controls,
  // momenta) are not zero.
  {
    fl::Accumulator accumulator = algorithm->make_accumulator();
    for (std::int64_t client = 0; client < clients; ++client) {
      auto update = algorithm->begin_client({client, 0, x, lr});
      const auto result = alone.train(trainable, *data.samples(client), client, 0, x, lr, update.get());
      update->finish({result.params, result.steps, data.sample_count(client)}, accumulator);
    }
    algorithm->server_update(x, accumulator, 0);
    algorithm->unpack_global(algorithm->pack_global(x), x);
  }

  // The round under test: the same clients alone and in one batched pass.
  const std::int64_t round = 1;
  std::vector<std::unique_ptr<fl::ClientUpdate>> alone_updates, batched_updates;
  std::vector<sim::ClientData::Samples> held;
  std::vector<sim::BatchedTrainer::Client> members;
  for (std::int64_t client = 0; client < clients; ++client) {
    alone_updates.push_back(algorithm->begin_client({client, round, x, lr}));
    batched_updates.push_back(algorithm->begin_client({client, round, x, lr}));
    held.push_back(data.samples(client));
    members.push_back({held.back().get(), client, batched_updates.back().get()});
  }
  const auto together = batched.train(trainable, members, round, x, lr, config.local.steps);
  ASSERT_EQ(together.size(), static_cast<std::size_t>(clients));
  fl::Accumulator alone_sum = sim::round_accumulator(*algorithm, bench.device);
  fl::Accumulator batched_sum = sim::round_accumulator(*algorithm, bench.device);
  for (std::int64_t client = 0; client < clients; ++client) {
    const auto i = static_cast<std::size_t>(client);
    const auto by_itself = alone.train(trainable, *held[i], client, round, x, lr, alone_updates[i].get());
    EXPECT_LE(relative_difference(together[i].params, by_itself.params, x), 1e-4) << "client " << client;
    if (c.optimizer == "sgd") {  // linear in the gradient: every element agrees to rounding as well
      EXPECT_LE(elementwise_difference(together[i].params, by_itself.params, x), 1e-4) << "client " << client;
    }
    EXPECT_EQ(together[i].steps, by_itself.steps);
    EXPECT_EQ(together[i].samples_seen, by_itself.samples_seen);
    EXPECT_NEAR(together[i].loss_sum, by_itself.loss_sum, 1e-4 * std::abs(by_itself.loss_sum)) << "client " << client;
    EXPECT_TRUE(sim::fold_client(*alone_updates[i], by_itself, held[i]->size(), {client, round, x}, alone_sum));
    EXPECT_TRUE(sim::fold_client(*batched_updates[i], together[i], held[i]->size(), {client, round, x}, batched_sum));
  }
  // What the clients send (and, for SCAFFOLD, their new controls) agrees as well.
  const double sum_scale = alone_sum.buffer().abs().max().item<double>();
  EXPECT_LE((batched_sum.buffer() - alone_sum.buffer()).abs().max().item<double>(), 1e-4 * sum_scale);
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  sim::register_algorithms();  // before main: the instantiation below runs at static initialization
  auto algorithms = fl::algorithm_names();
  algorithms.push_back("scaffold-steps");
  algorithms.push_back("scaffold-gradients");
  for (const auto& algorithm : algorithms) {
    cases.push_back({algorithm, "encoder", "F-CL", 1, "adamw", "unequal"});
  }
  for (const char* strategy : {"F-C", "F-L"}) cases.push_back({"fedprox", "encoder", strategy, 1, "adamw", "unequal"});
  cases.push_back({"fedavg", "encoder", "F-2stage", 0, "adamw", "unequal"});
  cases.push_back({"scaffold", "encoder", "F-2stage", 1, "adamw", "unequal"});
  cases.push_back({"fedavg", "encoder", "F-CL", 1, "adamw", "equal"});
  cases.push_back({"fedprox", "encoder", "F-CL", 1, "sgd", "unequal"});
  cases.push_back({"scaffold", "encoder", "F-CL", 1, "sgd", "equal"});
  cases.push_back({"fedavg", "encoder-free", "F-L", 1, "adamw", "unequal"});
  cases.push_back({"scaffold", "encoder-free", "F-L", 1, "sgd", "equal"});
  cases.push_back({"fedprox", "encoder-free", "F-L", 1, "adamw", "equal"});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Cases, BatchedClients, ::testing::ValuesIn(all_cases()), case_name);

TEST(ClientGroups, SameStepCountsGroupInIdOrderUpToTheSize) {
  using Groups = std::vector<std::vector<std::size_t>>;
  EXPECT_EQ(sim::client_groups({2, 2, 2, 2, 2}, 2), (Groups{{0, 1}, {2, 3}, {4}}));
  EXPECT_EQ(sim::client_groups({1, 2, 1, 0, 2, 1}, 8), (Groups{{0, 2, 5}, {1, 4}, {3}}));
  EXPECT_EQ(sim::client_groups({3, 3, 3}, 1), (Groups{{0}, {1}, {2}}));
  EXPECT_EQ(sim::client_groups({}, 4), Groups{});
}

TEST(BatchedTrainerRefuses, TheFullStrategy) {
  const fs::path root = fs::temp_directory_path() / ("fedvlm-batched-full-" + std::to_string(::getpid()));
  test_support::write_tiny_federation(root / "data", 2);
  Config config = test_support::tiny_config(root / "data", root / "runs", "fedavg");
  config.finetune.strategy = "full";
  EXPECT_FALSE(sim::batches_clients(config));
  config.run.batched_clients = 4;
  EXPECT_FALSE(sim::batches_clients(config));
  config.finetune.strategy = "F-CL";
  EXPECT_TRUE(sim::batches_clients(config));
  config.finetune.strategy = "full";
  sim::Workbench bench = sim::open_workbench(config);
  sim::ClientData data(bench.dataset);
  const auto trainable = model::apply_strategy(*bench.model, config.finetune, 0);
  const auto x = model::flatten_values(trainable.parameters);
  sim::BatchedTrainer batched(*bench.model, config, bench.special, bench.device);
  const auto first = data.samples(0), second = data.samples(1);
  const std::vector<sim::BatchedTrainer::Client> members = {{first.get(), 0, nullptr}, {second.get(), 1, nullptr}};
  try {
    batched.train(trainable, members, 0, x, 0.01, 1);
    ADD_FAILURE() << "the full strategy was batched";
  } catch (const std::exception& error) {
    EXPECT_NE(std::string(error.what()).find("cannot stack decoder."), std::string::npos) << error.what();
  }
  fedvlm::remove_tree(root);
}

}  // namespace

namespace {

// A client's first batch is a shuffle of its samples: one step over a batch of all of them, at
// learning rate 0 and without dropout, has the loss of all of them, alone and batched.
TEST(LocalTraining, TheFirstBatchIsAShuffleOfTheClientsSamples) {
  const fs::path root = fs::temp_directory_path() / ("fedvlm-first-batch-" + std::to_string(::getpid()));
  test_support::write_tiny_federation(root / "data", std::vector<int>{8, 8});
  Config config = test_support::tiny_config(root / "data", root / "runs", "fedavg");
  config.local.steps = 1;
  config.local.batch_size = 8;
  sim::Workbench bench = sim::open_workbench(config);
  sim::ClientData data(bench.dataset);
  const auto trainable = model::apply_strategy(*bench.model, config.finetune, 0);
  const auto x = model::flatten_values(trainable.parameters);
  const auto first = data.samples(0), second = data.samples(1);
  std::vector<double> expected;
  for (const auto& held : {first, second}) {
    std::vector<std::int64_t> rows(8);
    std::iota(rows.begin(), rows.end(), 0);
    bench.model->eval();  // no dropout in tiny_config: the same loss as in training mode
    torch::NoGradGuard no_grad;
    expected.push_back(bench.model->loss(model::collate_training(*held, rows, bench.special)).item<double>());
  }
  ASSERT_GT(std::abs(expected[0] - expected[1]), 0.0);
  sim::LocalTrainer alone(*bench.model, config, bench.special, bench.device);
  EXPECT_NEAR(alone.train(trainable, *first, 0, 0, x, 0.0, nullptr).loss_sum, expected[0], 1e-5);
  EXPECT_NEAR(alone.train(trainable, *second, 1, 0, x, 0.0, nullptr).loss_sum, expected[1], 1e-5);
  sim::BatchedTrainer batched(*bench.model, config, bench.special, bench.device);
  const std::vector<sim::BatchedTrainer::Client> members = {{first.get(), 0, nullptr}, {second.get(), 1, nullptr}};
  const auto together = batched.train(trainable, members, 0, x, 0.0, 1);
  EXPECT_NEAR(together[0].loss_sum, expected[0], 1e-5);
  EXPECT_NEAR(together[1].loss_sum, expected[1], 1e-5);
  fedvlm::remove_tree(root);
}

}  // namespace

namespace {

// model.gradient_checkpointing with batched clients: each client's update equals the update
// without it (the stacked clients' own dropout streams are replayed in the recomputation), alone
// and batched.
TEST(GradientCheckpointing, BatchedAndAloneUpdatesEqualThoseWithoutIt) {
  const fs::path root = fs::temp_directory_path() / ("fedvlm-checkpointing-" + std::to_string(::getpid()));
  test_support::write_tiny_federation(root / "data", std::vector<int>{3, 7, 5});
  std::vector<std::vector<torch::Tensor>> updates;  // [checkpointing][batched clients..., alone clients...]
  torch::Tensor x;
  for (bool checkpointing : {false, true}) {
    Config config = test_support::tiny_config(root / "data", root / "runs", "fedavg");
    config.model.gradient_checkpointing = checkpointing;
    config.local.steps = 3;
    config.local.batch_size = 4;
    config.lora.dropout = 0.2;
    config.model.dropout = 0.2;
    sim::Workbench bench = sim::open_workbench(config);
    sim::ClientData data(bench.dataset);
    const auto trainable = model::apply_strategy(*bench.model, config.finetune, 0);
    x = model::flatten_values(trainable.parameters);
    std::vector<sim::ClientData::Samples> held;
    std::vector<sim::BatchedTrainer::Client> members;
    for (std::int64_t client = 0; client < 3; ++client) {
      held.push_back(data.samples(client));
      members.push_back({held.back().get(), client, nullptr});
    }
    sim::BatchedTrainer batched(*bench.model, config, bench.special, bench.device);
    sim::LocalTrainer alone(*bench.model, config, bench.special, bench.device);
    std::vector<torch::Tensor> results;
    for (const auto& result : batched.train(trainable, members, 0, x, 0.01, config.local.steps))
      results.push_back(result.params);
    for (std::int64_t client = 0; client < 3; ++client)
      results.push_back(alone.train(trainable, *held[client], client, 0, x, 0.01, nullptr).params);
    updates.push_back(std::move(results));
  }
  for (std::size_t i = 0; i < updates[0].size(); ++i)
    EXPECT_LE(relative_difference(updates[1][i], updates[0][i], x), 1e-5) << (i < 3 ? "batched" : "alone") << " client " << i % 3;
  fedvlm::remove_tree(root);
}

}  // namespace
