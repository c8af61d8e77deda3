// Shared helpers of the fl tests: configs, hand-made client updates, and a tiny per-client
// least-squares problem whose SGD steps the tests can also write out as scalar loops.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/algorithm.hpp"

namespace fedvlm::fl::testing {

// A config for `algorithm` with non-default hyperparameters (the built-in algorithms are
// registered first, so their keys exist).
inline Config fl_config(const std::string& algorithm) {
  register_algorithms();
  Config config;
  config.fl.algorithm = algorithm;
  config.fl.server_lr = 0.7;
  config.set("fl.server_momentum", 0.8);
  config.set("fl.prox_mu", 0.3);
  config.set("fl.beta1", 0.9);
  config.set("fl.beta2", 0.95);
  config.set("fl.tau", 0.05);
  return config;
}

// A hyperparameter of `config`, e.g. param(config, "fl.prox_mu").
inline double param(const Config& config, const std::string& key) { return config.get<double>(key); }

// A hand-made update Δᵢ[k] of client i in round r (deterministic, mixed signs and sizes).
inline double hand_delta(std::int64_t client, std::int64_t round, std::int64_t k) {
  return 0.1 * static_cast<double>((client * 7 + round * 3 + k * 5) % 11 - 5) + 0.01 * static_cast<double>(k);
}

inline std::int64_t hand_samples(std::int64_t client) { return 10 + 15 * (client % 4); }
inline std::int64_t hand_steps(std::int64_t client) { return 1 + client % 3; }

// Client i's objective: ½ Σₖ (aₖ·wₖ − bₖ)², separable so each element is a scalar problem.
inline double ls_a(std::int64_t client, std::int64_t k) { return 1.0 + 0.5 * k + 0.1 * client; }
inline double ls_b(std::int64_t client, std::int64_t k) { return 0.3 * (client + 1) * (k - 1); }

inline torch::Tensor ls_gradient(std::int64_t client, const torch::Tensor& w) {
  auto grad = torch::empty_like(w);
  for (std::int64_t k = 0; k < w.numel(); ++k) {
    const double a = ls_a(client, k);
    grad[k] = a * (a * w[k].item<double>() - ls_b(client, k));
  }
  return grad;
}

// Runs `steps` optimizer steps y ← y − lr·direction(gradient) through the algorithm's hooks, in
// the order the local training loop calls them. The default direction is the gradient (SGD).
inline ClientOutcome train_least_squares(ClientUpdate& update, const torch::Tensor& x, std::int64_t client,
                                         std::int64_t steps, double lr,
                                         torch::Tensor (*direction)(const torch::Tensor&) = nullptr) {
  torch::Tensor y = x.clone();
  for (std::int64_t s = 0; s < steps; ++s) {
    torch::Tensor grad = ls_gradient(client, y);
    if (update.adjusts_gradient()) update.adjust_gradient(grad, y);
    y.sub_(direction ? direction(grad) : grad, lr);
    if (update.adjusts_params()) update.adjust_params(y);
  }
  return ClientOutcome{y, steps, hand_samples(client)};
}

// Folds clients with hand-made updates yᵢ = x + Δᵢ into `accumulator` (no local training).
inline void fold_hand_clients(Algorithm& algorithm, const torch::Tensor& x, const std::vector<std::int64_t>& clients,
                              std::int64_t round, double local_lr, Accumulator& accumulator) {
  for (const std::int64_t client : clients) {
    auto update = algorithm.begin_client(ClientContext{client, round, x, local_lr});
    torch::Tensor y = x.clone();
    for (std::int64_t k = 0; k < x.numel(); ++k) y[k] = x[k].item<double>() + hand_delta(client, round, k);
    update->finish(ClientOutcome{y, hand_steps(client), hand_samples(client)}, accumulator);
  }
}

inline std::vector<double> to_vector(const torch::Tensor& tensor) {
  const torch::Tensor cpu = tensor.to(torch::kCPU, torch::kFloat64).contiguous();
  return std::vector<double>(cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel());
}

inline bool bit_equal(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() && torch::equal(a, b);
}

}  // namespace fedvlm::fl::testing
