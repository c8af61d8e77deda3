#include "fedvlm/core/rng.hpp"

#include <cmath>
#include <numbers>

#include "fedvlm/core/error.hpp"

namespace fedvlm {
namespace {

constexpr std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr std::uint64_t fnv1a(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ULL;
  return hash;
}

constexpr std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

std::uint64_t stream_seed(const StreamKey& key) {
  std::uint64_t h = splitmix64(key.seed);
  h = splitmix64(h ^ fnv1a(key.purpose));
  h = splitmix64(h ^ static_cast<std::uint64_t>(key.round));
  h = splitmix64(h ^ static_cast<std::uint64_t>(key.client));
  return h;
}

Rng::Rng(const StreamKey& key) : Rng(stream_seed(key)) {}

Rng::Rng(std::uint64_t seed) {
  for (auto& word : state_) {
    seed = splitmix64(seed);
    word = seed;
  }
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const std::uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

double Rng::uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

std::uint64_t Rng::below(std::uint64_t n) {
  FEDVLM_CHECK(n > 0, "Rng::below needs a positive bound");
  // Lemire's nearly-divisionless method, with rejection for exact uniformity.
  unsigned __int128 m = static_cast<unsigned __int128>(next_u64()) * n;
  auto low = static_cast<std::uint64_t>(m);
  if (low < n) {
    const std::uint64_t threshold = -n % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next_u64()) * n;
      low = static_cast<std::uint64_t>(m);
    }
  }
  return static_cast<std::uint64_t>(m >> 64);
}

std::int64_t Rng::range(std::int64_t lo, std::int64_t hi) {
  FEDVLM_CHECK(lo <= hi, "Rng::range needs lo <= hi, got [{}, {}]", lo, hi);
  return lo + static_cast<std::int64_t>(below(static_cast<std::uint64_t>(hi - lo) + 1));
}

double Rng::normal() {
  // Box-Muller without caching, so the stream position never depends on earlier calls' parity.
  double u1 = uniform();
  while (u1 <= 0.0) u1 = uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

double Rng::gamma(double shape) {
  FEDVLM_CHECK(shape > 0, "Gamma shape must be positive, got {}", shape);
  if (shape < 1.0) {
    // Boost: Gamma(a) = Gamma(a + 1) * U^(1/a).
    double u = uniform();
    while (u <= 0.0) u = uniform();
    return gamma(shape + 1.0) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x = normal();
    double v = 1.0 + c * x;
    if (v <= 0.0) continue;
    v = v * v * v;
    const double u = uniform();
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (u > 0.0 && std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

std::vector<double> Rng::dirichlet(std::span<const double> alpha) {
  std::vector<double> draw(alpha.size());
  double total = 0.0;
  for (std::size_t i = 0; i < alpha.size(); ++i) total += draw[i] = gamma(alpha[i]);
  if (total <= 0.0 || !std::isfinite(total)) {
    // Tiny alphas can underflow every component: the limit is a one-hot draw.
    std::fill(draw.begin(), draw.end(), 0.0);
    draw[below(draw.size())] = 1.0;
    return draw;
  }
  for (auto& value : draw) value /= total;
  return draw;
}

std::vector<double> Rng::dirichlet(double alpha, std::size_t k) {
  std::vector<double> alphas(k, alpha);
  return dirichlet(alphas);
}

std::vector<std::int64_t> Rng::sample_without_replacement(std::int64_t n, std::int64_t k) {
  FEDVLM_CHECK(0 <= k && k <= n, "cannot draw {} distinct items from {}", k, n);
  // Partial Fisher-Yates over an index vector: O(n) memory, fine for client populations.
  std::vector<std::int64_t> items(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) items[i] = i;
  for (std::int64_t i = 0; i < k; ++i) std::swap(items[i], items[i + static_cast<std::int64_t>(below(n - i))]);
  items.resize(static_cast<std::size_t>(k));
  return items;
}

}  // namespace fedvlm
