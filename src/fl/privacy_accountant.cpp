#include "fedvlm/fl/privacy_accountant.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <utility>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"

namespace fedvlm::fl {
namespace {

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kLogZero = -kInfinity;

// log(eˣ + eʸ) without overflow.
double log_add(double x, double y) {
  if (x < y) std::swap(x, y);
  if (y == kLogZero) return x;
  return x + std::log1p(std::exp(y - x));
}

// log(eˣ − eʸ) for x ≥ y.
double log_sub(double x, double y) {
  FEDVLM_CHECK(x >= y, "privacy accountant: log-space difference would be negative ({} < {})", x, y);
  if (y == kLogZero) return x;
  if (x == y) return kLogZero;
  return x + std::log(-std::expm1(y - x));
}

// log(erfc(x)), accurate where erfc(x) itself underflows (x ≳ 26.5): there the asymptotic
// series erfc(x) = e^(−x²)/(x√π) · Σₖ (−1)ᵏ (2k−1)!!/(2x²)ᵏ is used; at x ≥ 25 its eighth term
// is below 1e-17.
double log_erfc(double x) {
  if (x < 25.0) return std::log(std::erfc(x));
  const double inverse_2x2 = 1.0 / (2.0 * x * x);
  double term = 1.0, series = 1.0;
  for (int k = 1; k <= 8; ++k) {
    term *= -(2.0 * k - 1.0) * inverse_2x2;
    series += term;
  }
  return -x * x - std::log(x) - 0.5 * std::log(std::numbers::pi) + std::log(series);
}

// log|Γ(x)| and the sign of Γ(x) for x not a non-positive integer. Negative x goes through the
// reflection Γ(x)Γ(1 − x) = π / sin(πx), so std::lgamma only ever sees positive arguments.
double log_abs_gamma(double x, int& sign) {
  if (x > 0.0) {
    sign = 1;
    return std::lgamma(x);
  }
  const double sine = std::sin(std::numbers::pi * x);
  sign = sine > 0.0 ? 1 : -1;
  return std::log(std::numbers::pi) - std::log(std::abs(sine)) - std::lgamma(1.0 - x);
}

// log|C(α, i)| and its sign, for real α > 1 and integer i ≥ 0: Γ(α+1) / (Γ(i+1) Γ(α−i+1)).
double log_abs_binomial(double alpha, double i, int& sign) {
  const double log_denominator = log_abs_gamma(alpha - i + 1.0, sign);
  return std::lgamma(alpha + 1.0) - std::lgamma(i + 1.0) - log_denominator;
}

// The mechanism's RDP at order α is log(A_α)/(α − 1), where A_α = E_{z∼μ₀}[(μ(z)/μ₀(z))^α],
// μ₀ = N(0, σ²), μ = (1 − q)μ₀ + q N(1, σ²) (Mironov, Talwar, Zhang 2019, section 3.3).

// Integer α: expanding the binomial, A_α = Σᵢ C(α, i) qⁱ (1 − q)^(α−i) exp((i² − i)/(2σ²)).
double log_a_integer_order(double q, double sigma, std::int64_t alpha) {
  const double log_q = std::log(q), log_1mq = std::log1p(-q);
  const double a = static_cast<double>(alpha);
  double log_a = kLogZero;
  for (std::int64_t k = 0; k <= alpha; ++k) {
    const double i = static_cast<double>(k);
    const double log_binomial = std::lgamma(a + 1.0) - std::lgamma(i + 1.0) - std::lgamma(a - i + 1.0);
    const double log_term = log_binomial + i * log_q + (a - i) * log_1mq + (i * i - i) / (2.0 * sigma * sigma);
    log_a = log_add(log_a, log_term);
  }
  return log_a;
}

// Fractional α: the binomial series does not terminate, and converges only after splitting the
// integral at z₀ = σ² log(1/q − 1) + ½, where the two components are equal, q·N(1, σ²)(z₀) =
// (1 − q)·N(0, σ²)(z₀); expanding each side around its larger component gives
//   A₀ = Σᵢ C(α, i) qⁱ (1 − q)^(α−i) e^((i² − i)/(2σ²)) · ½ erfc((i − z₀)/(√2 σ)),
//   A₁ = Σᵢ C(α, i) q^(α−i) (1 − q)ⁱ e^((j² − j)/(2σ²)) · ½ erfc((z₀ − j)/(√2 σ)),  j = α − i.
// C(α, i) alternates in sign once i > α + 1, so positive and negative terms are summed apart.
//
// When to stop. Opacus and the TF Privacy of 2019-2023 stop at the first i whose two terms are
// both below e⁻³⁰; that can happen at i = 0 before the bulk of the sum (q = 0.3, σ = 100,
// α = 256.1: (1 − q)^α = e⁻⁹¹, and the terms peak near i = qα ≈ 77), which returned a negative
// RDP. Here: apart from C(α, i), each term falls strictly with i (s₀: its e^((i² − i)/(2σ²)) is
// outrun by the erfc factor past z₀ and by q/(1 − q) before; s₁ likewise in j), and |C(α, i)|
// falls once i > (α − 1)/2. So past i = α both terms only shrink, and the sum stops at the first
// such i where both are below e⁻³⁰ of the sum so far. The tail left out shrinks at least like
// |C(α, i)| ~ i^(−α−1) and alternates in sign: at most about (i/α)·e⁻³⁰ of the total. A series
// still running after kMaxSeriesTerms terms gives +inf, like an overflow.
constexpr std::int64_t kMaxSeriesTerms = 1'000'000;

double log_a_fractional_order(double q, double sigma, double alpha) {
  const double log_q = std::log(q), log_1mq = std::log1p(-q);
  const double z0 = sigma * sigma * (log_1mq - log_q) + 0.5;
  const double erfc_scale = 1.0 / (std::numbers::sqrt2 * sigma);
  double log_positive = kLogZero, log_negative = kLogZero;
  for (std::int64_t k = 0;; ++k) {
    const double i = static_cast<double>(k), j = alpha - i;
    int sign = 1;
    const double log_binomial = log_abs_binomial(alpha, i, sign);
    const double log_s0 = log_binomial + i * log_q + j * log_1mq + (i * i - i) / (2.0 * sigma * sigma) +
                          std::log(0.5) + log_erfc((i - z0) * erfc_scale);
    const double log_s1 = log_binomial + j * log_q + i * log_1mq + (j * j - j) / (2.0 * sigma * sigma) +
                          std::log(0.5) + log_erfc((z0 - j) * erfc_scale);
    double& sum = sign > 0 ? log_positive : log_negative;
    sum = log_add(sum, log_add(log_s0, log_s1));
    if (i > alpha && std::max(log_s0, log_s1) < log_positive - 30.0) break;
    // Overflow (σ² outside the doubles) or no convergence: no guarantee at this order.
    if (!(sum < kInfinity) || k > kMaxSeriesTerms) return kInfinity;
  }
  return log_sub(log_positive, log_negative);
}

void check_order(double order) {
  if (!(std::isfinite(order) && order > 1.0))
    throw InputError(fmt::format("privacy accountant: an RDP order must be finite and > 1, got {}", order));
}

void check_mechanism(double sampling_rate, double noise_multiplier) {
  if (!(sampling_rate >= 0.0 && sampling_rate <= 1.0))
    throw InputError(
        fmt::format("privacy accountant: the sampling rate q must lie in [0, 1], got {}", sampling_rate));
  if (!(noise_multiplier > 0.0 && std::isfinite(noise_multiplier)))
    throw InputError(fmt::format("privacy accountant: the noise multiplier σ must be positive and finite, got {}",
                                 noise_multiplier));
}

}  // namespace

std::vector<double> default_rdp_orders() {
  std::vector<double> orders;
  for (int x = 1; x < 100; ++x) orders.push_back(1.0 + x / 10.0);
  for (int order = 12; order < 64; ++order) orders.push_back(order);
  return orders;
}

double sampled_gaussian_rdp(double sampling_rate, double noise_multiplier, double order) {
  check_mechanism(sampling_rate, noise_multiplier);
  check_order(order);
  const double q = sampling_rate, sigma = noise_multiplier;
  if (q == 0.0) return 0.0;
  if (q == 1.0) return order / (2.0 * sigma * sigma);
  const double log_a = order == std::floor(order) ? log_a_integer_order(q, sigma, static_cast<std::int64_t>(order))
                                                   : log_a_fractional_order(q, sigma, order);
  // A_α ≥ 1 (Jensen), so log A_α ≥ 0 up to rounding. NaN or a clearly negative value means the
  // sums overflowed (σ so small or large that σ² leaves the doubles): no guarantee at this order.
  if (std::isnan(log_a) || log_a < -1e-9) return kInfinity;
  return std::max(log_a, 0.0) / (order - 1.0);
}

PrivacySpent rdp_to_dp(std::span<const double> orders, std::span<const double> rdp, double delta,
                       RdpConversion conversion) {
  if (!(delta > 0.0 && delta < 1.0))
    throw InputError(fmt::format("privacy accountant: δ must lie in (0, 1), got {}", delta));
  if (orders.empty() || orders.size() != rdp.size())
    throw InputError(fmt::format("privacy accountant: {} orders for {} RDP values; need as many, at least one",
                                 orders.size(), rdp.size()));
  PrivacySpent best{kInfinity, orders.front()};
  for (std::size_t k = 0; k < orders.size(); ++k) {
    const double alpha = orders[k], r = rdp[k];
    check_order(alpha);
    if (std::isnan(r)) continue;
    double epsilon = 0.0;
    if (r <= 0.0) {
      epsilon = 0.0;  // no divergence at all: the outputs do not depend on the data
    } else if (conversion == RdpConversion::kMironov2017) {
      epsilon = r - std::log(delta) / (alpha - 1.0);
    } else if (delta * delta + std::expm1(-r) >= 0.0) {
      epsilon = 0.0;  // r ≥ KL divergence and TV ≤ √(1 − e^(−KL)) ≤ δ: (0, δ)-DP
    } else {
      epsilon = r - (std::log(delta) + std::log(alpha)) / (alpha - 1.0) + std::log1p(-1.0 / alpha);
    }
    if (epsilon < best.epsilon) best = {epsilon, alpha};
  }
  best.epsilon = std::max(best.epsilon, 0.0);
  return best;
}

PrivacyAccountant::PrivacyAccountant(std::vector<double> orders) : orders_(std::move(orders)) {
  if (orders_.empty()) throw InputError("privacy accountant: the list of RDP orders is empty");
  for (const double order : orders_) check_order(order);
  rdp_.assign(orders_.size(), 0.0);
}

void PrivacyAccountant::step(double sampling_rate, double noise_multiplier, std::int64_t count) {
  check_mechanism(sampling_rate, noise_multiplier);
  if (count < 0) throw InputError(fmt::format("privacy accountant: a negative step count {}", count));
  if (count == 0) return;
  if (sampling_rate != cached_sampling_rate_ || noise_multiplier != cached_noise_multiplier_) {
    cached_step_rdp_.resize(orders_.size());
    for (std::size_t k = 0; k < orders_.size(); ++k)
      cached_step_rdp_[k] = sampled_gaussian_rdp(sampling_rate, noise_multiplier, orders_[k]);
    cached_sampling_rate_ = sampling_rate;
    cached_noise_multiplier_ = noise_multiplier;
  }
  for (std::size_t k = 0; k < orders_.size(); ++k) rdp_[k] += static_cast<double>(count) * cached_step_rdp_[k];
  if (!history_.empty() && history_.back().sampling_rate == sampling_rate &&
      history_.back().noise_multiplier == noise_multiplier) {
    history_.back().count += count;
  } else {
    history_.push_back({sampling_rate, noise_multiplier, count});
  }
}

PrivacySpent PrivacyAccountant::privacy_spent(double delta, RdpConversion conversion) const {
  return rdp_to_dp(orders_, rdp_, delta, conversion);
}

std::int64_t PrivacyAccountant::steps() const {
  std::int64_t total = 0;
  for (const Steps& steps : history_) total += steps.count;
  return total;
}

}  // namespace fedvlm::fl
