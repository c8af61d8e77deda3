#include "fedvlm/fl/differential_privacy.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/torch_rng.hpp"
#include "fedvlm/fl/algorithm.hpp"

namespace fedvlm::fl {

DpSettings dp_settings(const Config& config, const Algorithm& algorithm, std::int64_t num_clients) {
  DpSettings dp;
  if (config.fl.dp_clip <= 0.0) return dp;
  FEDVLM_CHECK(num_clients > 0, "DP-FedAvg needs a federation with clients, got {}", num_clients);
  std::vector<std::string> extras;
  const Accumulator sums = algorithm.make_accumulator();
  for (const auto& segment : sums.layout()) {
    if (segment.name != kWeightSegment && segment.name != kClientsSegment && segment.name != kDeltaSegment)
      extras.push_back(segment.name);
  }
  if (!extras.empty()) {
    throw InputError(fmt::format(
        "fl.dp_clip = {}: DP-FedAvg clips and noises the mean update only, but fl.algorithm = \"{}\" also "
        "aggregates {} from its clients, which would leave unprotected. Use fedavg, fedavgm, fedprox, fedadam, "
        "fedyogi or fedadagrad with DP, or set fl.dp_clip = 0",
        config.fl.dp_clip, algorithm.name(), fmt::join(extras, ", ")));
  }
  dp.clip = config.fl.dp_clip;
  dp.noise_multiplier = config.fl.dp_noise_multiplier;
  dp.delta = config.fl.dp_delta;
  dp.expected_cohort = config.fl.clients_per_round > 0 ? std::min(config.fl.clients_per_round, num_clients) : num_clients;
  dp.sampling_rate = static_cast<double>(dp.expected_cohort) / static_cast<double>(num_clients);
  dp.seed = static_cast<std::uint64_t>(config.run.seed);
  return dp;
}

double dp_clip_scale(double norm, double clip) {
  if (clip <= 0.0 || !(norm > clip)) return 1.0;
  return clip / norm;
}

void privatize(Accumulator& reduced, const DpSettings& dp, std::int64_t round) {
  if (!dp.enabled()) return;
  FEDVLM_CHECK(dp.expected_cohort > 0, "DP-FedAvg: the expected cohort size is {}", dp.expected_cohort);
  reduced.segment(kWeightSegment).fill_(static_cast<double>(dp.expected_cohort));
  if (dp.noise_multiplier <= 0.0) return;
  torch::Tensor delta = reduced.segment(kDeltaSegment);
  auto generator = torch_generator({dp.seed, "dp-noise", round, 0});
  const torch::Tensor noise = torch::randn({delta.numel()}, generator, torch::TensorOptions().dtype(torch::kFloat64));
  delta.add_(noise.to(delta.device()), dp.noise_multiplier * dp.clip);
}

}  // namespace fedvlm::fl
