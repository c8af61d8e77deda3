#include "population/samples_per_client.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/rng.hpp"

namespace fedvlm::prep {
namespace {

constexpr std::string_view kLognormalPrefix = "lognormal:";
constexpr double kDefaultMaxFactor = 100.0;  // MAX defaults to 100 x MEAN: clips only the far tail

[[noreturn]] void bad_spec(std::string_view spec, std::string_view why) {
  throw InputError(fmt::format("--samples-per-client {}: {} (expected a count such as 2, or lognormal:MEAN,SIGMA[,MAX])",
                               spec, why));
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  while (!text.empty() && text.back() == ' ') text.remove_suffix(1);
  return text;
}

// The whole of `text` as a number, else nullopt-like failure reported by the caller.
template <class T>
bool parse_number(std::string_view text, T& value) {
  text = trimmed(text);
  if (text.empty()) return false;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const auto comma = text.find(',', start);
    parts.push_back(text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) return parts;
    start = comma + 1;
  }
}

}  // namespace

std::string SamplesPerClient::text() const {
  if (kind == Kind::kFixed) return std::to_string(count);
  return fmt::format("lognormal:{},{},{}", mean, sigma, max);
}

SamplesPerClient parse_samples_per_client(std::string_view spec, std::int64_t min_samples) {
  SamplesPerClient parsed;
  parsed.min = std::max<std::int64_t>(1, min_samples);
  if (!spec.starts_with(kLognormalPrefix)) {
    std::int64_t count = 0;
    if (!parse_number(spec, count)) bad_spec(spec, "not a whole number");
    if (count < 1) bad_spec(spec, "the count must be at least 1");
    if (count < parsed.min) bad_spec(spec, fmt::format("the count is below --min-samples {}", min_samples));
    parsed.count = count;
    return parsed;
  }
  const auto parts = split_commas(spec.substr(kLognormalPrefix.size()));
  if (parts.size() < 2 || parts.size() > 3) bad_spec(spec, "lognormal takes MEAN,SIGMA or MEAN,SIGMA,MAX");
  parsed.kind = SamplesPerClient::Kind::kLognormal;
  if (!parse_number(parts[0], parsed.mean)) bad_spec(spec, fmt::format("MEAN '{}' is not a number", parts[0]));
  if (!(parsed.mean > 0.0) || !std::isfinite(parsed.mean)) bad_spec(spec, "MEAN must be positive");
  if (!parse_number(parts[1], parsed.sigma)) bad_spec(spec, fmt::format("SIGMA '{}' is not a number", parts[1]));
  if (!(parsed.sigma >= 0.0) || !std::isfinite(parsed.sigma) || parsed.sigma > 10.0)
    bad_spec(spec, "SIGMA must be in [0, 10]");
  if (parts.size() == 3) {
    if (!parse_number(parts[2], parsed.max)) bad_spec(spec, fmt::format("MAX '{}' is not a whole number", parts[2]));
  } else {
    parsed.max = static_cast<std::int64_t>(std::ceil(kDefaultMaxFactor * parsed.mean));
  }
  if (parsed.max < parsed.min)
    bad_spec(spec, fmt::format("MAX {} is below the smallest client size {} (1, or --min-samples)", parsed.max, parsed.min));
  return parsed;
}

std::int64_t client_sample_count(const SamplesPerClient& spec, std::uint64_t seed, std::int64_t client) {
  if (spec.kind == SamplesPerClient::Kind::kFixed) return spec.count;
  Rng rng(StreamKey{seed, "prep-pop-size", 0, client});
  const double mu = std::log(spec.mean) - 0.5 * spec.sigma * spec.sigma;
  const double drawn = std::round(std::exp(mu + spec.sigma * rng.normal()));
  // Clip in floating point first: a huge draw must not overflow the integer conversion.
  const double clipped = std::clamp(drawn, static_cast<double>(spec.min), static_cast<double>(spec.max));
  return static_cast<std::int64_t>(clipped);
}

std::vector<std::int64_t> draw_client_sample_counts(const SamplesPerClient& spec, std::uint64_t seed,
                                                    std::int64_t num_clients) {
  std::vector<std::int64_t> counts(static_cast<std::size_t>(num_clients));
  for (std::int64_t c = 0; c < num_clients; ++c) counts[static_cast<std::size_t>(c)] = client_sample_count(spec, seed, c);
  return counts;
}

}  // namespace fedvlm::prep
