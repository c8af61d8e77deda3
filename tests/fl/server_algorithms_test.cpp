// Each server algorithm against its published formula, over several rounds of hand-made client
// updates. Expected values come from independent scalar loops in double, never from the code
// under test.
#include <cmath>
#include <functional>
#include <map>

#include <gtest/gtest.h>

#include "fedvlm/comm/local_communicator.hpp"
#include "fedvlm/fl/client_state.hpp"
#include "fl_test_support.hpp"

namespace fedvlm::fl {
namespace {

using testing::fl_config;
using testing::hand_delta;
using testing::hand_samples;
using testing::hand_steps;

constexpr std::int64_t kLength = 5;
constexpr std::int64_t kRounds = 4;
constexpr double kTolerance = 2e-5;

std::vector<std::int64_t> cohort_of(std::int64_t round) {
  return round % 2 == 0 ? std::vector<std::int64_t>{0, 2, 3} : std::vector<std::int64_t>{1, 2, 4, 5};
}

double initial_x(std::int64_t k) { return 0.25 * static_cast<double>(k) - 0.4; }

// Δ = Σ pᵢΔᵢ for element k.
double reference_mean_delta(const Config& config, std::int64_t round, std::int64_t k) {
  double total = 0.0, weight = 0.0;
  for (const std::int64_t client : cohort_of(round)) {
    const double w = config.fl.weighting == "uniform" ? 1.0 : static_cast<double>(hand_samples(client));
    total += w * hand_delta(client, round, k);
    weight += w;
  }
  return total / weight;
}

// Runs kRounds rounds of `config.fl.algorithm` and returns x after each.
std::vector<std::vector<double>> run_rounds(const Config& config, std::int64_t num_clients = 6) {
  auto algorithm = make_algorithm(config, num_clients);
  algorithm->reset(kLength);
  torch::Tensor x = torch::empty({kLength});
  for (std::int64_t k = 0; k < kLength; ++k) x[k] = initial_x(k);
  std::vector<std::vector<double>> history;
  for (std::int64_t round = 0; round < kRounds; ++round) {
    Accumulator accumulator = algorithm->make_accumulator();
    testing::fold_hand_clients(*algorithm, x, cohort_of(round), round, /*local_lr=*/0.1, accumulator);
    algorithm->server_update(x, accumulator, round);
    history.push_back(testing::to_vector(x));
  }
  return history;
}

// Reference: per element, a scalar recurrence step(k, Δ, state) → x increment.
using ScalarServer = std::function<double(std::int64_t k, double delta, std::map<std::string, double>& state)>;

void expect_matches_reference(const Config& config, const ScalarServer& step) {
  const auto history = run_rounds(config);
  for (std::int64_t k = 0; k < kLength; ++k) {
    std::map<std::string, double> state;
    double x = initial_x(k);
    for (std::int64_t round = 0; round < kRounds; ++round) {
      x += step(k, reference_mean_delta(config, round, k), state);
      EXPECT_NEAR(history[round][k], x, kTolerance) << config.fl.algorithm << " round " << round << " element " << k;
    }
  }
}

TEST(ServerAlgorithms, FedAvgAddsServerLrTimesSampleWeightedMeanDelta) {
  const Config config = fl_config("fedavg");
  expect_matches_reference(config, [&](std::int64_t, double delta, auto&) { return config.fl.server_lr * delta; });
}

TEST(ServerAlgorithms, FedAvgUniformWeightingIgnoresSampleCounts) {
  Config config = fl_config("fedavg");
  config.fl.weighting = "uniform";
  expect_matches_reference(config, [&](std::int64_t, double delta, auto&) { return config.fl.server_lr * delta; });
  // And the two weightings really differ on these clients.
  Config by_samples = fl_config("fedavg");
  EXPECT_GT(std::abs(run_rounds(config)[0][1] - run_rounds(by_samples)[0][1]), 1e-4);
}

// A sampled client without samples reports nothing under either weighting: under uniform weights
// its zero update would otherwise pull the cohort's mean toward zero.
TEST(ServerAlgorithms, ClientWithoutSamplesWeighsNothing) {
  Config config = fl_config("fedavg");
  for (const char* weighting : {"samples", "uniform"}) {
    config.fl.weighting = weighting;
    EXPECT_EQ(client_weight(config.fl, 0), 0.0) << weighting;
    EXPECT_GT(client_weight(config.fl, 3), 0.0) << weighting;
  }
}

TEST(ServerAlgorithms, FedProxServerStepIsFedAvg) {
  const Config config = fl_config("fedprox");
  expect_matches_reference(config, [&](std::int64_t, double delta, auto&) { return config.fl.server_lr * delta; });
}

TEST(ServerAlgorithms, FedAvgMAccumulatesMomentumAcrossRounds) {
  const Config config = fl_config("fedavgm");
  expect_matches_reference(config, [&](std::int64_t, double delta, auto& state) {
    state["v"] = testing::param(config, "fl.server_momentum") * state["v"] + delta;
    return config.fl.server_lr * state["v"];
  });
}

// Reddi et al. 2021, Algorithm 2, with m₀ = 0, v₀ = τ².
ScalarServer adaptive_reference(const Config& config, const std::string& rule) {
  return [config, rule](std::int64_t, double delta, std::map<std::string, double>& state) {
    if (!state.contains("v")) state["v"] = testing::param(config, "fl.tau") * testing::param(config, "fl.tau");
    double& m = state["m"];
    double& v = state["v"];
    m = testing::param(config, "fl.beta1") * m + (1.0 - testing::param(config, "fl.beta1")) * delta;
    const double squared = delta * delta;
    if (rule == "adagrad") v = v + squared;
    if (rule == "adam") v = testing::param(config, "fl.beta2") * v + (1.0 - testing::param(config, "fl.beta2")) * squared;
    if (rule == "yogi") {
      const double difference = v - squared;
      const double sign = difference > 0 ? 1.0 : (difference < 0 ? -1.0 : 0.0);
      v = v - (1.0 - testing::param(config, "fl.beta2")) * squared * sign;
    }
    return config.fl.server_lr * m / (std::sqrt(v) + testing::param(config, "fl.tau"));
  };
}

TEST(ServerAlgorithms, FedAdagradFollowsReddiAlgorithm2) {
  const Config config = fl_config("fedadagrad");
  expect_matches_reference(config, adaptive_reference(config, "adagrad"));
}

TEST(ServerAlgorithms, FedAdamFollowsReddiAlgorithm2) {
  const Config config = fl_config("fedadam");
  expect_matches_reference(config, adaptive_reference(config, "adam"));
}

TEST(ServerAlgorithms, FedYogiFollowsReddiAlgorithm2) {
  const Config config = fl_config("fedyogi");
  expect_matches_reference(config, adaptive_reference(config, "yogi"));
}

TEST(ServerAlgorithms, FedYogiAndFedAdamDiffer) {
  // Guards against the three adaptive rules collapsing into one.
  const auto adam = run_rounds(fl_config("fedadam"));
  const auto yogi = run_rounds(fl_config("fedyogi"));
  const auto adagrad = run_rounds(fl_config("fedadagrad"));
  EXPECT_GT(std::abs(adam[kRounds - 1][0] - yogi[kRounds - 1][0]), 1e-5);
  EXPECT_GT(std::abs(adam[kRounds - 1][0] - adagrad[kRounds - 1][0]), 1e-5);
}

TEST(ServerAlgorithms, FedNovaNormalizesByLocalSteps) {
  const Config config = fl_config("fednova");
  const auto history = run_rounds(config);
  for (std::int64_t k = 0; k < kLength; ++k) {
    double x = initial_x(k);
    for (std::int64_t round = 0; round < kRounds; ++round) {
      double weight = 0.0, weighted_steps = 0.0, normalized = 0.0;
      for (const std::int64_t client : cohort_of(round)) {
        const double w = static_cast<double>(hand_samples(client));
        const double tau = static_cast<double>(hand_steps(client));
        weight += w;
        weighted_steps += w * tau;
        normalized += w * hand_delta(client, round, k) / tau;
      }
      x += config.fl.server_lr * (weighted_steps / weight) * (normalized / weight);
      EXPECT_NEAR(history[round][k], x, kTolerance) << "round " << round << " element " << k;
    }
  }
}

TEST(ServerAlgorithms, ScaffoldMovesXLikeFedAvgAndControlByControlDeltasOverN) {
  Config config = fl_config("scaffold");
  const std::int64_t num_clients = 6;
  const double local_lr = 0.1;
  auto algorithm = make_algorithm(config, num_clients);
  algorithm->reset(kLength);
  comm::LocalCommunicator local;
  torch::Tensor x = torch::empty({kLength});
  for (std::int64_t k = 0; k < kLength; ++k) x[k] = initial_x(k);

  // Scalar reference: x, c and every cᵢ, element by element.
  std::vector<double> ref_x(kLength), ref_c(kLength, 0.0);
  std::vector<std::vector<double>> ref_ci(num_clients, std::vector<double>(kLength, 0.0));
  for (std::int64_t k = 0; k < kLength; ++k) ref_x[k] = initial_x(k);

  for (std::int64_t round = 0; round < kRounds; ++round) {
    Accumulator accumulator = algorithm->make_accumulator();
    testing::fold_hand_clients(*algorithm, x, cohort_of(round), round, local_lr, accumulator);
    algorithm->server_update(x, accumulator, round);
    torch::Tensor packed = algorithm->pack_global(x);
    algorithm->unpack_global(packed, x);

    for (std::int64_t k = 0; k < kLength; ++k) {
      double control_sum = 0.0;
      for (const std::int64_t client : cohort_of(round)) {
        const double tau = static_cast<double>(hand_steps(client));
        // Option II with yᵢ − x = Δᵢ: cᵢ⁺ = cᵢ − c − Δᵢ/(τ·ηₗ).
        const double updated = ref_ci[client][k] - ref_c[k] - hand_delta(client, round, k) / (tau * local_lr);
        control_sum += updated - ref_ci[client][k];
        ref_ci[client][k] = updated;
      }
      ref_x[k] += config.fl.server_lr * reference_mean_delta(config, round, k);
      ref_c[k] += control_sum / static_cast<double>(num_clients);
      EXPECT_NEAR(x[k].item<double>(), ref_x[k], kTolerance) << "x, round " << round << " element " << k;
      EXPECT_NEAR(packed[kLength + k].item<double>(), ref_c[k], 1e-4) << "c, round " << round << " element " << k;
    }
    algorithm->client_states()->end_round(local);
  }
  for (std::int64_t client = 0; client < num_clients; ++client)
    for (std::int64_t k = 0; k < kLength; ++k)
      EXPECT_NEAR(algorithm->client_states()->get(client)[k].item<double>(), ref_ci[client][k], 1e-4)
          << "c_" << client << " element " << k;
}

TEST(ServerAlgorithms, EmptyCohortIsAnError) {
  auto algorithm = make_algorithm(fl_config("fedavg"), 4);
  algorithm->reset(kLength);
  torch::Tensor x = torch::zeros({kLength});
  Accumulator accumulator = algorithm->make_accumulator();
  EXPECT_THROW(algorithm->server_update(x, accumulator, 0), Error);
}

}  // namespace
}  // namespace fedvlm::fl
