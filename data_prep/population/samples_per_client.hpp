// --samples-per-client SPEC: how many samples each client of a population holds (population
// mode, where samples are drawn from the client pool with replacement, so a population can be
// far larger than the pool):
//   N                            every client holds exactly N samples
//   lognormal:MEAN,SIGMA[,MAX]   cross-device quantity skew: n_c = round(exp(mu + SIGMA * z)),
//                                z ~ N(0, 1), mu = ln(MEAN) - SIGMA^2 / 2 so that MEAN is the
//                                mean of the log-normal before rounding and clipping; then
//                                clipped to [max(1, --min-samples), MAX], MAX = ceil(100 * MEAN)
//                                when omitted.
// Client c's size is drawn from stream {seed, "prep-pop-size", 0, c}: any client's size can be
// computed alone, in any order, on any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace fedvlm::prep {

struct SamplesPerClient {
  enum class Kind { kFixed, kLognormal };
  Kind kind = Kind::kFixed;
  std::int64_t count = 1;  // kFixed
  double mean = 1.0;       // kLognormal: mean of the unclipped log-normal
  double sigma = 0.0;      // kLognormal: standard deviation of log(n)
  std::int64_t max = 1;    // kLognormal: upper clip
  std::int64_t min = 1;    // lower clip (from --min-samples, at least 1)

  // The canonical SPEC ("2", "lognormal:20,1,2000"), stored in meta.h5's partition attributes.
  std::string text() const;
};

// Parses SPEC; InputError naming --samples-per-client and the value on any defect. A fixed
// count below `min_samples` is an error; lognormal sizes are clipped up to it.
SamplesPerClient parse_samples_per_client(std::string_view spec, std::int64_t min_samples = 1);

// Client `client`'s size.
std::int64_t client_sample_count(const SamplesPerClient& spec, std::uint64_t seed, std::int64_t client);

// Sizes of clients [0, num_clients).
std::vector<std::int64_t> draw_client_sample_counts(const SamplesPerClient& spec, std::uint64_t seed,
                                                    std::int64_t num_clients);

}  // namespace fedvlm::prep
