// DP-FedAvg: client-level differential privacy for the averaging algorithms, as McMahan,
// Ramage, Talwar and Zhang 2018 ("Learning Differentially Private Recurrent Language Models",
// Algorithm 1 with the fixed-denominator estimator and flat clipping) define it:
//   client i:  Δᵢ ← sᵢ·(yᵢ − x), sᵢ = min(1, S / ‖yᵢ − x‖)            (sim::fold_client)
//   server:    Δ  ← (Σᵢ Δᵢ + N(0, (z·S)²·I)) / m                      (privatize, rank 0)
// with S = fl.dp_clip, z = fl.dp_noise_multiplier and m the expected cohort size
// (fl.clients_per_round, or every client), uniform weights. The server optimizer then takes Δ as
// it takes the plain mean (FedAvg, FedAvgM, FedProx, FedAdam, FedYogi, FedAdagrad): DP composes
// with each. One client changes Σᵢ Δᵢ by at most S, so each round is a sampled Gaussian
// mechanism of noise multiplier z at sampling rate q = m / N; the RDP accountant
// (privacy_accountant.hpp) gives ε at δ = fl.dp_delta after every round.
//
// Departure, as docs/privacy.md says: fedvlm samples cohorts of exactly m without replacement,
// while the accountant's bound is for Poisson sampling with rate q (as TensorFlow Federated's and
// most papers' reported ε are).
#pragma once

#include <cstdint>

#include "fedvlm/core/config.hpp"
#include "fedvlm/fl/accumulator.hpp"

namespace fedvlm::fl {

class Algorithm;

struct DpSettings {
  double clip = 0.0;              // S; 0: DP off
  double noise_multiplier = 0.0;  // z; 0: clipping only (no guarantee)
  double delta = 1e-5;            // δ of the reported ε
  std::int64_t expected_cohort = 0;  // m, the fixed denominator
  double sampling_rate = 0.0;        // q = m / N
  std::uint64_t seed = 0;            // run.seed: the noise stream is (seed, "dp-noise", round)

  bool enabled() const { return clip > 0.0; }
  bool accounted() const { return enabled() && noise_multiplier > 0.0; }
};

// The settings of `config` for a federation of `num_clients`. Throws InputError when DP is on and
// `algorithm` aggregates more than the standard segments (SCAFFOLD's control variates, FedNova's
// normalized sums): what else its clients send would leave without clip or noise.
DpSettings dp_settings(const Config& config, const Algorithm& algorithm, std::int64_t num_clients);

// sᵢ = min(1, S / ‖yᵢ − x‖) for an update of L2 norm `norm`; 1 when DP is off.
double dp_clip_scale(double norm, double clip);

// On rank 0's reduced accumulator, before server_update: the weight becomes m (so the mean is
// Σᵢ Δᵢ / m, whoever took part) and the delta sum gains Gaussian noise of standard deviation z·S,
// drawn from the stream (seed, "dp-noise", round) on the CPU: the same values on any device and
// for any number of ranks.
void privatize(Accumulator& reduced, const DpSettings& dp, std::int64_t round);

}  // namespace fedvlm::fl
