// The client-side terms on a separable 3-element least-squares problem, f(w) = ½ Σₖ (aₖwₖ − bₖ)²,
// whose SGD steps are written out here as scalar loops.
#include <gtest/gtest.h>

#include "fedvlm/comm/local_communicator.hpp"
#include "fedvlm/fl/client_state.hpp"
#include "fl_test_support.hpp"

namespace fedvlm::fl {
namespace {

using testing::fl_config;
using testing::ls_a;
using testing::ls_b;

constexpr std::int64_t kLength = 3;
constexpr std::int64_t kClient = 2;
constexpr std::int64_t kSteps = 4;
constexpr double kLr = 0.1;

torch::Tensor start_x() { return torch::tensor({0.5f, -1.0f, 2.0f}); }

// Plain local SGD plus an extra gradient term extra(k, w) at every step.
template <class Extra>
std::vector<double> reference_sgd(std::int64_t client, const torch::Tensor& x, Extra extra) {
  std::vector<double> w = testing::to_vector(x);
  for (std::int64_t s = 0; s < kSteps; ++s)
    for (std::int64_t k = 0; k < kLength; ++k) {
      const double a = ls_a(client, k);
      w[k] -= kLr * (a * (a * w[k] - ls_b(client, k)) + extra(k, w[k]));
    }
  return w;
}

std::unique_ptr<Algorithm> make(const std::string& name) {
  auto algorithm = make_algorithm(fl_config(name), /*num_clients=*/4);
  algorithm->reset(kLength);
  return algorithm;
}

TEST(ClientSide, FedAvgClientRunsPlainSgd) {
  auto algorithm = make("fedavg");
  const torch::Tensor x = start_x();
  auto update = algorithm->begin_client({kClient, 0, x, kLr});
  const ClientOutcome outcome = testing::train_least_squares(*update, x, kClient, kSteps, kLr);
  const auto expected = reference_sgd(kClient, x, [](std::int64_t, double) { return 0.0; });
  for (std::int64_t k = 0; k < kLength; ++k) EXPECT_NEAR(outcome.params[k].item<double>(), expected[k], 1e-5);
}

TEST(ClientSide, FedProxAddsProximalGradientMuTimesYMinusX) {
  auto algorithm = make("fedprox");
  const double mu = testing::param(fl_config("fedprox"), "fl.prox_mu");
  const torch::Tensor x = start_x();
  const auto x_values = testing::to_vector(x);
  auto update = algorithm->begin_client({kClient, 0, x, kLr});
  const ClientOutcome outcome = testing::train_least_squares(*update, x, kClient, kSteps, kLr);
  const auto expected = reference_sgd(kClient, x, [&](std::int64_t k, double w) { return mu * (w - x_values[k]); });
  const auto plain = reference_sgd(kClient, x, [](std::int64_t, double) { return 0.0; });
  for (std::int64_t k = 0; k < kLength; ++k) {
    EXPECT_NEAR(outcome.params[k].item<double>(), expected[k], 1e-5) << "element " << k;
    // The proximal term pulls y back towards x compared with plain SGD.
    EXPECT_LT(std::abs(expected[k] - x_values[k]), std::abs(plain[k] - x_values[k]));
  }
}

TEST(ClientSide, FedProxGradientTermOnOneStepByHand) {
  auto algorithm = make("fedprox");
  const torch::Tensor x = torch::tensor({1.0f, 2.0f, 3.0f});
  auto update = algorithm->begin_client({0, 0, x, kLr});
  torch::Tensor grad = torch::tensor({0.5f, 0.0f, -1.0f});
  const torch::Tensor y = torch::tensor({2.0f, 2.0f, 1.0f});
  update->adjust_gradient(grad, y);
  // μ = 0.3: grad + 0.3·(y − x) = {0.5 + 0.3, 0, −1 − 0.6}.
  EXPECT_NEAR(grad[0].item<double>(), 0.8, 1e-6);
  EXPECT_NEAR(grad[1].item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(grad[2].item<double>(), -1.6, 1e-6);
}

TEST(ClientSide, ScaffoldCorrectsGradientAndUpdatesControlOptionTwo) {
  auto algorithm = make("scaffold");
  comm::LocalCommunicator local;
  const torch::Tensor x0 = start_x();
  const auto x_values = testing::to_vector(x0);

  // Round 0: c = cᵢ = 0, so the client runs plain SGD; its cᵢ becomes (x − y)/(τ·ηₗ).
  auto update = algorithm->begin_client({kClient, 0, x0, kLr});
  const ClientOutcome first = testing::train_least_squares(*update, x0, kClient, kSteps, kLr);
  Accumulator accumulator = algorithm->make_accumulator();
  update->finish(first, accumulator);
  const auto y0 = reference_sgd(kClient, x0, [](std::int64_t, double) { return 0.0; });
  std::vector<double> ci(kLength);
  for (std::int64_t k = 0; k < kLength; ++k) {
    ci[k] = (x_values[k] - y0[k]) / (kSteps * kLr);
    EXPECT_NEAR(accumulator.segment("control_delta")[k].item<double>(), ci[k], 1e-4);
  }
  algorithm->client_states()->end_round(local);
  for (std::int64_t k = 0; k < kLength; ++k)
    EXPECT_NEAR(algorithm->client_states()->get(kClient)[k].item<double>(), ci[k], 1e-4);

  // Server step with N = 4 clients: c = Δcᵢ/4; x moves by η_g·Δ.
  torch::Tensor x = x0.clone();
  algorithm->server_update(x, accumulator, 0);
  const torch::Tensor packed = algorithm->pack_global(x);
  std::vector<double> c(kLength);
  for (std::int64_t k = 0; k < kLength; ++k) {
    c[k] = ci[k] / 4.0;
    EXPECT_NEAR(packed[kLength + k].item<double>(), c[k], 1e-5);
  }

  // Round 1: every gradient gains c − cᵢ; cᵢ⁺ = cᵢ − c + (x − y)/(τ·ηₗ).
  const auto x1 = testing::to_vector(x);
  auto second_update = algorithm->begin_client({kClient, 1, x, kLr});
  const ClientOutcome second = testing::train_least_squares(*second_update, x, kClient, kSteps, kLr);
  const auto y1 = reference_sgd(kClient, x, [&](std::int64_t k, double) { return c[k] - ci[k]; });
  Accumulator next = algorithm->make_accumulator();
  second_update->finish(second, next);
  for (std::int64_t k = 0; k < kLength; ++k) {
    EXPECT_NEAR(second.params[k].item<double>(), y1[k], 1e-5) << "element " << k;
    const double updated = ci[k] - c[k] + (x1[k] - y1[k]) / (kSteps * kLr);
    EXPECT_NEAR(next.segment("control_delta")[k].item<double>(), updated - ci[k], 1e-4);
    EXPECT_NEAR(algorithm->client_states()->get(kClient)[k].item<double>(), updated, 1e-4);
  }
}

// "gradients" keeps the mean raw minibatch gradient; under plain SGD that is option II exactly,
// round after round (the second round has a non-zero correction c − cᵢ).
TEST(ClientSide, ScaffoldGradientControlIsTheMeanRawGradientAndOptionTwoUnderSgd) {
  comm::LocalCommunicator local;
  Config gradients_config = fl_config("scaffold");
  gradients_config.set("fl.scaffold_control", "gradients");
  ASSERT_EQ(fl_config("scaffold").get<std::string>("fl.scaffold_control"), "update");
  std::unique_ptr<Algorithm> algorithms[] = {make("scaffold"), make_algorithm(gradients_config, 4)};
  algorithms[1]->reset(kLength);
  torch::Tensor xs[] = {start_x(), start_x()};
  for (std::int64_t round = 0; round < 2; ++round) {
    for (int i = 0; i < 2; ++i) {
      auto update = algorithms[i]->begin_client({kClient, round, xs[i], kLr});
      Accumulator accumulator = algorithms[i]->make_accumulator();
      update->finish(testing::train_least_squares(*update, xs[i], kClient, kSteps, kLr), accumulator);
      algorithms[i]->client_states()->end_round(local);
      algorithms[i]->server_update(xs[i], accumulator, round);
    }
    const auto option_two = testing::to_vector(algorithms[0]->client_states()->get(kClient));
    const auto mean_gradient = testing::to_vector(algorithms[1]->client_states()->get(kClient));
    for (std::int64_t k = 0; k < kLength; ++k) EXPECT_NEAR(mean_gradient[k], option_two[k], 1e-4) << round << "/" << k;
    EXPECT_TRUE(torch::allclose(xs[0], xs[1], 1e-5, 1e-6)) << "round " << round;
  }

  // By hand: raw gradients {1, 2, 3} and {3, 2, 1} over two steps give cᵢ = {2, 2, 2}, whatever
  // the steps themselves did (here: nothing, as an optimizer other than SGD might).
  auto update = algorithms[1]->begin_client({1, 0, start_x(), kLr});
  for (const auto& values : {std::vector<float>{1, 2, 3}, std::vector<float>{3, 2, 1}}) {
    torch::Tensor grad = torch::tensor(values);
    update->adjust_gradient(grad, start_x());
  }
  Accumulator accumulator = algorithms[1]->make_accumulator();
  update->finish({start_x(), 2, 5}, accumulator);
  algorithms[1]->client_states()->end_round(local);
  for (std::int64_t k = 0; k < kLength; ++k)
    EXPECT_NEAR(algorithms[1]->client_states()->get(1)[k].item<double>(), 2.0, 1e-6) << k;
}

Config scaffold_config(const std::string& control) {
  Config config = fl_config("scaffold");
  config.set("fl.scaffold_control", control);
  return config;
}

// Runs `rounds` rounds of one client (kClient) of a 4-client SCAFFOLD federation whose local
// optimizer steps along direction(gradient); returns the client's control after each round.
std::vector<std::vector<double>> scaffold_client_controls(Algorithm& algorithm, torch::Tensor& x, int rounds,
                                                          torch::Tensor (*direction)(const torch::Tensor&) = nullptr) {
  comm::LocalCommunicator local;
  std::vector<std::vector<double>> controls;
  for (int round = 0; round < rounds; ++round) {
    auto update = algorithm.begin_client({kClient, round, x, kLr});
    Accumulator accumulator = algorithm.make_accumulator();
    update->finish(testing::train_least_squares(*update, x, kClient, kSteps, kLr, direction), accumulator);
    algorithm.client_states()->end_round(local);
    algorithm.server_update(x, accumulator, round);
    controls.push_back(testing::to_vector(algorithm.client_states()->get(kClient)));
  }
  return controls;
}

// "steps" applies −ηₗ(c − cᵢ) after the optimizer step instead of adding c − cᵢ to the gradient:
// under plain SGD that is option II exactly, round after round.
TEST(ClientSide, ScaffoldStepControlIsOptionTwoUnderSgd) {
  auto update_mode = make_algorithm(scaffold_config("update"), 4);
  auto steps_mode = make_algorithm(scaffold_config("steps"), 4);
  update_mode->reset(kLength);
  steps_mode->reset(kLength);
  torch::Tensor xs[] = {start_x(), start_x()};
  const auto option_two = scaffold_client_controls(*update_mode, xs[0], 3);
  const auto steps = scaffold_client_controls(*steps_mode, xs[1], 3);
  for (std::size_t round = 0; round < option_two.size(); ++round)
    for (std::int64_t k = 0; k < kLength; ++k) EXPECT_NEAR(steps[round][k], option_two[round][k], 1e-4) << round;
  EXPECT_TRUE(torch::allclose(xs[0], xs[1], 1e-5, 1e-6)) << "max diff " << (xs[0] - xs[1]).abs().max().item<double>();
  auto update = steps_mode->begin_client({kClient, 3, xs[1], kLr});
  EXPECT_FALSE(update->adjusts_gradient());
  EXPECT_TRUE(update->adjusts_params());
}

// Under an optimizer whose steps are not gradients (here sign descent, as AdamW's normalized
// steps roughly are), "steps" makes cᵢ the client's mean step direction, whatever the correction
// c − cᵢ was; "update" would mix the correction into the gradient before the sign.
TEST(ClientSide, ScaffoldStepControlIsTheMeanOptimizerStep) {
  auto algorithm = make_algorithm(scaffold_config("steps"), 4);
  algorithm->reset(kLength);
  torch::Tensor x = start_x();
  const auto sign = [](const torch::Tensor& grad) { return torch::sign(grad); };
  scaffold_client_controls(*algorithm, x, 1, sign);  // round 0: c, cᵢ become non-zero
  const torch::Tensor c = algorithm->pack_global(x).narrow(0, kLength, kLength).clone();
  const torch::Tensor ci = algorithm->client_states()->get(kClient).clone();
  ASSERT_GT((c - ci).abs().min().item<double>(), 1e-3) << "the second round needs a non-zero correction";

  // Round 1 by hand: w ← w − ηₗ·sign(g(w)) − ηₗ(c − cᵢ); cᵢ⁺ = mean sign(g).
  std::vector<double> w = testing::to_vector(x), mean_sign(kLength, 0.0);
  const auto correction = testing::to_vector(c - ci);
  for (std::int64_t s = 0; s < kSteps; ++s)
    for (std::int64_t k = 0; k < kLength; ++k) {
      const double a = ls_a(kClient, k);
      const double direction = (a * (a * w[k] - ls_b(kClient, k))) > 0 ? 1.0 : -1.0;
      mean_sign[k] += direction / kSteps;
      w[k] -= kLr * (direction + correction[k]);
    }
  const torch::Tensor x1 = x.clone();
  auto update = algorithm->begin_client({kClient, 1, x1, kLr});
  const ClientOutcome outcome = testing::train_least_squares(*update, x1, kClient, kSteps, kLr, sign);
  Accumulator accumulator = algorithm->make_accumulator();
  update->finish(outcome, accumulator);
  comm::LocalCommunicator local;
  algorithm->client_states()->end_round(local);
  for (std::int64_t k = 0; k < kLength; ++k) {
    EXPECT_NEAR(outcome.params[k].item<double>(), w[k], 1e-5) << k;
    EXPECT_NEAR(algorithm->client_states()->get(kClient)[k].item<double>(), mean_sign[k], 1e-4) << k;
  }
}

TEST(ClientSide, ScaffoldClientWithoutStepsKeepsItsControl) {
  auto algorithm = make("scaffold");
  const torch::Tensor x = start_x();
  auto update = algorithm->begin_client({1, 0, x, kLr});
  Accumulator accumulator = algorithm->make_accumulator();
  update->finish(ClientOutcome{x.clone(), 0, 0}, accumulator);
  EXPECT_FALSE(algorithm->client_states()->contains(1));
  EXPECT_EQ(accumulator.segment("control_delta").abs().sum().item<double>(), 0.0);
  EXPECT_EQ(accumulator.clients(), 1);
}

TEST(ClientSide, AccumulatorHoldsWeightCountAndWeightedDelta) {
  auto algorithm = make("fednova");
  const torch::Tensor x = start_x();
  Accumulator accumulator = algorithm->make_accumulator();
  const torch::Tensor y_a = x + torch::tensor({1.0f, 0.0f, -2.0f});
  const torch::Tensor y_b = x + torch::tensor({0.5f, 0.5f, 0.5f});
  algorithm->begin_client({0, 0, x, kLr})->finish({y_a, 2, 10}, accumulator);
  algorithm->begin_client({1, 0, x, kLr})->finish({y_b, 5, 30}, accumulator);
  EXPECT_DOUBLE_EQ(accumulator.total_weight(), 40.0);
  EXPECT_EQ(accumulator.clients(), 2);
  EXPECT_DOUBLE_EQ(accumulator.scalar("weighted_steps"), 10.0 * 2 + 30.0 * 5);
  const auto delta = testing::to_vector(accumulator.segment("delta"));
  const auto normalized = testing::to_vector(accumulator.segment("normalized_delta"));
  const double expected_delta[] = {10 * 1.0 + 30 * 0.5, 30 * 0.5, 10 * -2.0 + 30 * 0.5};
  const double expected_normalized[] = {5 * 1.0 + 6 * 0.5, 6 * 0.5, 5 * -2.0 + 6 * 0.5};
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(delta[k], expected_delta[k], 1e-5);
    EXPECT_NEAR(normalized[k], expected_normalized[k], 1e-5);
  }
}

TEST(ClientSide, WrongLengthOutcomeIsRejected) {
  auto algorithm = make("fedavg");
  const torch::Tensor x = start_x();
  Accumulator accumulator = algorithm->make_accumulator();
  auto update = algorithm->begin_client({0, 0, x, kLr});
  EXPECT_THROW(update->finish({torch::zeros({4}), 1, 1}, accumulator), Error);
  EXPECT_THROW(algorithm->begin_client({0, 0, torch::zeros({2}), kLr}), Error);
}

// The local loop flattens gradients only for updates that declare a gradient term: exactly the
// algorithms with a client-side term must declare one.
TEST(ClientSide, OnlyFedProxAndScaffoldDeclareAGradientTerm) {
  const torch::Tensor x = start_x();
  for (const auto& name : algorithm_names()) {
    auto algorithm = make(name);
    auto update = algorithm->begin_client({kClient, 0, x, kLr});
    EXPECT_EQ(update->adjusts_gradient(), name == "fedprox" || name == "scaffold") << name;
    EXPECT_FALSE(update->adjusts_params()) << name;
  }
}

}  // namespace
}  // namespace fedvlm::fl
