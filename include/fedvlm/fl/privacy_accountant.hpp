// PrivacyAccountant: the (ε, δ) spent by DP-FedAvg, from a Rényi-DP (RDP) accountant for the
// sampled Gaussian mechanism (SGM): each round adds Gaussian noise of standard deviation
// σ·(clip norm) to a sum over a Poisson-subsampled cohort, each client taking part with
// probability q. The RDP of one such step at order α is computed as in Mironov, Talwar, Zhang
// 2019, "Rényi Differential Privacy of the Sampled Gaussian Mechanism" (arXiv:1908.10530),
// section 3.3, in log space; rounds compose by adding RDP order by order; the total converts to
// (ε, δ) at the best order of a fixed grid. docs/privacy.md says what is reported and how.
//
// Torch-free on purpose: the numbers are checked against published values in
// tests/fl/privacy_accountant_test.cpp.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fedvlm::fl {

// Opacus's RDPAccountant.DEFAULT_ALPHAS: 1.1, 1.2, …, 10.9 (1 + x/10, x = 1..99), then
// 12, 13, …, 63. (11 is not in it.) 151 orders.
std::vector<double> default_rdp_orders();

// RDP at `order` (> 1) of one step of the sampled Gaussian mechanism with sampling rate
// `sampling_rate` q ∈ [0, 1] and noise multiplier σ > 0 (noise standard deviation over the L2
// sensitivity). q = 0 gives 0; q = 1 is the plain Gaussian mechanism, order/(2σ²). Integer
// orders use the exact binomial sum, fractional ones the two-sided series of the paper. +inf
// when the sums overflow (σ² outside the doubles), which the conversions read as "no guarantee
// at this order".
// Throws InputError for arguments outside these ranges.
double sampled_gaussian_rdp(double sampling_rate, double noise_multiplier, double order);

// How RDP becomes (ε, δ)-DP at order α, for a total RDP r(α):
enum class RdpConversion {
  // Balle et al. 2020, "Hypothesis Testing Interpretations and Rényi Differential Privacy",
  // Theorem 21: ε = r − (log δ + log α)/(α − 1) + log((α − 1)/α). What Opacus's current
  // get_privacy_spent and TF Privacy / dp_accounting (since Dec 2020) use. The default.
  kBalle2020,
  // Mironov 2017, "Rényi Differential Privacy", Proposition 3: ε = r + log(1/δ)/(α − 1).
  // Looser; what the moments accountant (Abadi et al. 2016) and older published numbers used.
  kMironov2017,
};

struct PrivacySpent {
  double epsilon = 0.0;  // min over the orders; ≥ 0; +inf when no order gives a finite bound
  double order = 0.0;    // the order attaining it (the first such, in grid order)
};

// Converts RDP values r[i] at orders[i] into the smallest ε over the orders, at `delta` ∈ (0, 1).
// ε is floored at 0 (an (ε < 0, δ) guarantee implies (0, δ)); an order with RDP 0 (no steps, or
// q = 0 only) gives ε = 0; with kBalle2020, so does an order whose RDP is at most −log(1 − δ²)
// (its KL divergence then bounds the total variation by δ), as TF Privacy / dp_accounting do.
// Throws InputError for δ outside (0, 1), mismatched lengths, no orders, or an order ≤ 1.
PrivacySpent rdp_to_dp(std::span<const double> orders, std::span<const double> rdp, double delta,
                       RdpConversion conversion = RdpConversion::kBalle2020);

class PrivacyAccountant {
 public:
  // One (q, σ) setting and how many consecutive steps used it.
  struct Steps {
    double sampling_rate = 0.0;
    double noise_multiplier = 0.0;
    std::int64_t count = 0;
  };

  // Throws InputError when `orders` is empty or holds an order that is not finite and > 1.
  explicit PrivacyAccountant(std::vector<double> orders = default_rdp_orders());

  // Records `count` (≥ 0) steps of the SGM with sampling rate q and noise multiplier σ; q and σ
  // may change from call to call. Throws InputError for q ∉ [0, 1], σ ≤ 0 or count < 0.
  void step(double sampling_rate, double noise_multiplier, std::int64_t count = 1);

  // ε at δ and the order attaining it, over this accountant's orders (RdpConversion above).
  PrivacySpent privacy_spent(double delta, RdpConversion conversion = RdpConversion::kBalle2020) const;
  double epsilon(double delta, RdpConversion conversion = RdpConversion::kBalle2020) const {
    return privacy_spent(delta, conversion).epsilon;
  }

  const std::vector<double>& orders() const { return orders_; }
  const std::vector<double>& rdp() const { return rdp_; }  // total RDP at each order
  // Every step recorded, consecutive calls with equal (q, σ) merged: replaying it with step()
  // into a fresh accountant of the same orders restores this one (e.g. after a checkpoint).
  const std::vector<Steps>& history() const { return history_; }
  std::int64_t steps() const;  // Σ count over the history

 private:
  std::vector<double> orders_;
  std::vector<double> rdp_;
  std::vector<Steps> history_;
  // The per-step RDP of the last (q, σ) seen, kept because a run repeats one setting every round.
  double cached_sampling_rate_ = -1.0;
  double cached_noise_multiplier_ = -1.0;
  std::vector<double> cached_step_rdp_;
};

}  // namespace fedvlm::fl
