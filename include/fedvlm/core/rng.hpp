// Deterministic random streams. Every random draw in fedvlm comes from a stream keyed by
// (seed, purpose, round, client): nothing depends on which rank draws it or in what order.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace fedvlm {

struct StreamKey {
  std::uint64_t seed = 0;
  std::string_view purpose;  // e.g. "cohort", "local-shuffle", "dropout", "partition"
  std::int64_t round = 0;
  std::int64_t client = 0;
};

// 64-bit seed of a stream: a SplitMix64 chain over the key's fields (FNV-1a of the purpose).
std::uint64_t stream_seed(const StreamKey& key);

// A small, fast generator (xoshiro256**) seeded from a StreamKey. Not thread-safe: one per user.
class Rng {
 public:
  explicit Rng(const StreamKey& key);
  explicit Rng(std::uint64_t seed);

  std::uint64_t next_u64();
  double uniform();                                      // [0, 1)
  std::uint64_t below(std::uint64_t n);                  // uniform in [0, n), unbiased
  std::int64_t range(std::int64_t lo, std::int64_t hi);  // uniform in [lo, hi]
  double normal();                                       // standard normal
  double gamma(double shape);                            // Gamma(shape, 1), Marsaglia-Tsang
  std::vector<double> dirichlet(std::span<const double> alpha);
  std::vector<double> dirichlet(double alpha, std::size_t k);

  template <class T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }
  // k distinct indices from [0, n), in draw order.
  std::vector<std::int64_t> sample_without_replacement(std::int64_t n, std::int64_t k);

 private:
  std::uint64_t state_[4];
};

}  // namespace fedvlm
