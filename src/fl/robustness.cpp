#include "fedvlm/fl/robustness.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fedvlm/core/config_registry.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/rng.hpp"
#include "fedvlm/core/torch_rng.hpp"
#include "fedvlm/fl/algorithm.hpp"

namespace fedvlm::fl {
namespace {

constexpr const char* kDeclaredBy = "robustness";

struct Named {
  const char* name;
  int value;
};
constexpr Named kAttacks[] = {{"none", static_cast<int>(Attack::kNone)},
                              {"sign-flip", static_cast<int>(Attack::kSignFlip)},
                              {"scale", static_cast<int>(Attack::kScale)},
                              {"gaussian", static_cast<int>(Attack::kGaussian)},
                              {"nan", static_cast<int>(Attack::kNan)}};
constexpr Named kAggregators[] = {{"mean", static_cast<int>(Aggregator::kMean)},
                                  {"median", static_cast<int>(Aggregator::kMedian)},
                                  {"trimmed-mean", static_cast<int>(Aggregator::kTrimmedMean)},
                                  {"clipped-mean", static_cast<int>(Aggregator::kClippedMean)},
                                  {"krum", static_cast<int>(Aggregator::kKrum)}};

template <std::size_t N>
std::vector<std::string> names_of(const Named (&table)[N]) {
  std::vector<std::string> names;
  for (const auto& entry : table) names.emplace_back(entry.name);
  return names;
}

template <std::size_t N>
int value_of(const Named (&table)[N], const std::string& name, const char* key) {
  for (const auto& entry : table)
    if (name == entry.name) return entry.value;
  throw InputError(fmt::format("{} = \"{}\" is unknown; choose one of {}", key, name, fmt::join(names_of(table), ", ")));
}

std::string origin(const Config& config, const std::string& key) {
  const auto found = config.origins.find(key);
  return found == config.origins.end() ? std::string("default") : found->second;
}

// ⌊β·k⌋, the updates a rule assumes adversarial among k.
std::int64_t byzantine_count(double fraction, std::int64_t k) {
  return static_cast<std::int64_t>(std::floor(fraction * static_cast<double>(k) + 1e-9));
}

// The classical median of a float64 [k, n] matrix's columns: the middle value, or the mean of
// the two middle values for even k (torch::median takes the lower one).
torch::Tensor column_median(const torch::Tensor& sorted) {
  const std::int64_t k = sorted.size(0);
  if (k % 2 == 1) return sorted[k / 2].clone();
  return (sorted[k / 2 - 1] + sorted[k / 2]) * 0.5;
}

void check_rows(const torch::Tensor& rows, const char* rule) {
  FEDVLM_CHECK(rows.dim() == 2 && rows.size(0) >= 1 && rows.scalar_type() == torch::kFloat64,
               "{} aggregates a float64 [k, n] matrix with k >= 1, got sizes {}", rule, fmt::join(rows.sizes(), "x"));
}

}  // namespace

bool AttackSettings::attacks(std::int64_t client) const {
  return kind != Attack::kNone && std::binary_search(attackers.begin(), attackers.end(), client);
}

void declare_robustness_parameters() {
  declare_config_parameter(
      {"fl.attack", std::string("none"),
       "Simulated adversarial clients: the attackers (fl.attack_fraction of the clients, chosen by run.seed) send "
       "their update reversed (sign-flip), multiplied by fl.attack_scale (scale), Gaussian noise fl.attack_scale "
       "times as long as it (gaussian), or NaN (nan). docs/robustness.md.",
       {.choices = names_of(kAttacks)}},
      kDeclaredBy);
  declare_config_parameter({"fl.attack_fraction", 0.2,
                            "Fraction of the federation's clients that attack (with fl.attack), rounded to the "
                            "nearest count; the same clients in every round.",
                            {.min = 0, .max = 1}},
                           kDeclaredBy);
  declare_config_parameter({"fl.attack_scale", 10.0,
                            "fl.attack = scale: the factor on the attacker's update; gaussian: the noise's norm over "
                            "the attacker's honest update norm.",
                            {.min = 0, .min_exclusive = true}},
                           kDeclaredBy);
  declare_config_parameter(
      {"fl.aggregator", std::string("mean"),
       "How the server combines the cohort's updates: the weighted mean, or a robust rule on the uniform updates: "
       "coordinate-wise median, trimmed-mean, clipped-mean (each update clipped to fl.aggregator_clip), or krum. "
       "Robust rules gather every update on rank 0 (an m x n buffer) and need fl.weighting = \"uniform\".",
       {.choices = names_of(kAggregators)}},
      kDeclaredBy);
  declare_config_parameter({"fl.byzantine_fraction", 0.2,
                            "The fraction of a cohort the robust aggregators withstand: trimmed-mean drops this "
                            "fraction of the values at each end of every coordinate, krum assumes this fraction "
                            "adversarial.",
                            {.min = 0, .max = 0.5}},
                           kDeclaredBy);
  declare_config_parameter({"fl.aggregator_clip", 0.0,
                            "clipped-mean: each update is scaled to L2 norm at most this; 0: the median of the "
                            "round's update norms.",
                            {.min = 0}},
                           kDeclaredBy);
}

Robustness robustness_settings(const Config& config, const Algorithm& algorithm, std::int64_t num_clients) {
  validate_keys(config, {"fl.attack", "fl.attack_fraction", "fl.attack_scale", "fl.aggregator",
                         "fl.byzantine_fraction", "fl.aggregator_clip"});
  Robustness r;
  const auto attack_name = config.get<std::string>("fl.attack");
  r.attack.kind = static_cast<Attack>(value_of(kAttacks, attack_name, "fl.attack"));
  r.attack.scale = config.get<double>("fl.attack_scale");
  r.attack.seed = static_cast<std::uint64_t>(config.run.seed);
  if (r.attack.kind != Attack::kNone) {
    const double fraction = config.get<double>("fl.attack_fraction");
    const auto count = static_cast<std::int64_t>(std::llround(fraction * static_cast<double>(num_clients)));
    if (count == 0)
      throw InputError(fmt::format("{}: fl.attack_fraction = {} of {} clients makes no attacker; raise it or set "
                                   "fl.attack = \"none\"",
                                   origin(config, "fl.attack_fraction"), fraction, num_clients));
    r.attack.attackers = Rng(StreamKey{r.attack.seed, "attackers", 0, 0}).sample_without_replacement(num_clients, count);
    std::sort(r.attack.attackers.begin(), r.attack.attackers.end());
  }

  const auto aggregator_name = config.get<std::string>("fl.aggregator");
  r.aggregator.kind = static_cast<Aggregator>(value_of(kAggregators, aggregator_name, "fl.aggregator"));
  r.aggregator.byzantine_fraction = config.get<double>("fl.byzantine_fraction");
  r.aggregator.clip = config.get<double>("fl.aggregator_clip");
  const std::int64_t m = config.fl.clients_per_round > 0 ? std::min(config.fl.clients_per_round, num_clients) : num_clients;
  r.aggregator.cohort = m;
  if (!r.aggregator.robust()) return r;

  const std::string where = origin(config, "fl.aggregator");
  if (config.fl.weighting != "uniform")
    throw InputError(fmt::format("{}: fl.aggregator = \"{}\" counts every client's update once, but fl.weighting = "
                                 "\"{}\": set fl.weighting = \"uniform\"",
                                 where, aggregator_name, config.fl.weighting));
  if (config.fl.dp_clip > 0)
    throw InputError(fmt::format("{}: fl.aggregator = \"{}\" with fl.dp_clip = {}: DP-FedAvg's guarantee is for the "
                                 "noised mean, not for a robust aggregate; choose one",
                                 where, aggregator_name, config.fl.dp_clip));
  std::vector<std::string> extras;
  const Accumulator sums = algorithm.make_accumulator();  // a temporary's layout() would dangle in the loop
  for (const auto& segment : sums.layout())
    if (segment.name != kWeightSegment && segment.name != kClientsSegment && segment.name != kDeltaSegment)
      extras.push_back(segment.name);
  if (!extras.empty())
    throw InputError(fmt::format("{}: fl.aggregator = \"{}\" replaces the mean update, but fl.algorithm = \"{}\" also "
                                 "aggregates {} from its clients; use fedavg, fedavgm, fedprox, fedadam, fedyogi or "
                                 "fedadagrad with a robust aggregator",
                                 where, aggregator_name, algorithm.name(), fmt::join(extras, ", ")));
  const std::int64_t f = byzantine_count(r.aggregator.byzantine_fraction, m);
  if (r.aggregator.kind == Aggregator::kTrimmedMean && r.aggregator.byzantine_fraction > 0 && f == 0)
    throw InputError(fmt::format("{}: fl.aggregator = \"trimmed-mean\" with fl.byzantine_fraction = {} drops no value "
                                 "of a cohort of {}: raise it to at least {:.3g}",
                                 where, r.aggregator.byzantine_fraction, m, 1.0 / static_cast<double>(m)));
  if (r.aggregator.kind == Aggregator::kKrum && m < 2 * f + 3)
    throw InputError(fmt::format("{}: fl.aggregator = \"krum\" assumes f = {} adversarial clients "
                                 "(fl.byzantine_fraction = {}) and needs a cohort of at least 2f + 3 = {}; the cohort "
                                 "is {}",
                                 where, f, r.aggregator.byzantine_fraction, 2 * f + 3, m));
  return r;
}

torch::Tensor attacked_params(const AttackSettings& attack, const torch::Tensor& y, const torch::Tensor& x,
                              std::int64_t client, std::int64_t round) {
  switch (attack.kind) {
    case Attack::kNone:
      return y;
    case Attack::kSignFlip:
      return x * 2 - y;  // x − (y − x)
    case Attack::kScale:
      return x + (y - x) * attack.scale;
    case Attack::kGaussian: {
      const double norm = std::sqrt(squared_distance(y.to(torch::kCPU).contiguous(), x.to(torch::kCPU).contiguous()));
      const double sigma = attack.scale * norm / std::sqrt(static_cast<double>(std::max<std::int64_t>(y.numel(), 1)));
      auto generator = torch_generator({attack.seed, "attack-noise", round, client});
      const torch::Tensor noise = torch::randn({y.numel()}, generator, torch::TensorOptions().dtype(torch::kFloat32));
      return x + noise.to(x.device()) * sigma;
    }
    case Attack::kNan:
      return torch::full_like(y, std::numeric_limits<float>::quiet_NaN());
  }
  throw Error("attacked_params: unknown attack");
}

std::vector<AccumulatorSegment> client_row_layout(std::int64_t cohort, std::int64_t n) {
  FEDVLM_CHECK(cohort >= 0 && n >= 0, "client rows of a cohort of {} and length {}", cohort, n);
  return {{std::string(kClientRowsSegment), cohort * n}, {std::string(kClientRowUsedSegment), cohort}};
}

torch::Tensor coordinate_median(const torch::Tensor& rows) {
  check_rows(rows, "median");
  return column_median(std::get<0>(rows.sort(0)));
}

torch::Tensor trimmed_mean(const torch::Tensor& rows, std::int64_t trim) {
  check_rows(rows, "trimmed-mean");
  const std::int64_t k = rows.size(0);
  trim = std::clamp<std::int64_t>(trim, 0, (k - 1) / 2);
  if (trim == 0) return rows.mean(0);
  return std::get<0>(rows.sort(0)).narrow(0, trim, k - 2 * trim).mean(0);
}

torch::Tensor clipped_mean(const torch::Tensor& rows, double clip) {
  check_rows(rows, "clipped-mean");
  const torch::Tensor norms = rows.norm(2, {1});
  const double tau = clip > 0 ? clip : column_median(std::get<0>(norms.unsqueeze(1).sort(0))).item<double>();
  // min(1, τ / ‖Δᵢ‖); an update of norm 0 stays as it is.
  const torch::Tensor scale = torch::where(norms > tau, tau / norms, torch::ones_like(norms));
  return (rows * scale.unsqueeze(1)).mean(0);
}

std::int64_t krum_choice(const torch::Tensor& rows, std::int64_t byzantine) {
  check_rows(rows, "krum");
  const std::int64_t k = rows.size(0);
  if (k == 1) return 0;
  const std::int64_t neighbours = std::clamp<std::int64_t>(k - byzantine - 2, 1, k - 1);
  // Squared distances from the row norms and the Gram matrix, in float64.
  const torch::Tensor squares = rows.square().sum(1);
  const torch::Tensor distances =
      (squares.unsqueeze(1) + squares.unsqueeze(0) - rows.matmul(rows.t()) * 2).clamp_min(0).to(torch::kCPU);
  const auto d = distances.accessor<double, 2>();
  std::int64_t best = 0;
  double best_score = std::numeric_limits<double>::infinity();
  std::vector<double> others;
  for (std::int64_t i = 0; i < k; ++i) {
    others.clear();
    for (std::int64_t j = 0; j < k; ++j)
      if (j != i) others.push_back(d[i][j]);
    std::partial_sort(others.begin(), others.begin() + neighbours, others.end());
    double score = 0.0;
    for (std::int64_t j = 0; j < neighbours; ++j) score += others[static_cast<std::size_t>(j)];
    if (score < best_score) best = i, best_score = score;  // ties: the lowest row, the smallest client id
  }
  return best;
}

torch::Tensor aggregate_rows(const torch::Tensor& rows, const AggregatorSettings& settings) {
  const std::int64_t f = byzantine_count(settings.byzantine_fraction, rows.size(0));
  switch (settings.kind) {
    case Aggregator::kMean:
      check_rows(rows, "mean");
      return rows.mean(0);
    case Aggregator::kMedian:
      return coordinate_median(rows);
    case Aggregator::kTrimmedMean:
      return trimmed_mean(rows, f);
    case Aggregator::kClippedMean:
      return clipped_mean(rows, settings.clip);
    case Aggregator::kKrum:
      return rows[krum_choice(rows, f)].clone();
  }
  throw Error("aggregate_rows: unknown aggregator");
}

void aggregate_robustly(Accumulator& reduced, const AggregatorSettings& settings) {
  if (!settings.robust()) return;
  const torch::Tensor used = reduced.segment(kClientRowUsedSegment);
  const torch::Tensor delta = reduced.segment(kDeltaSegment);
  FEDVLM_CHECK(used.numel() == settings.cohort && reduced.segment(kClientRowsSegment).numel() == settings.cohort * delta.numel(),
               "the accumulator's client rows ({} rows) do not match a cohort of {} and an update of {} values",
               used.numel(), settings.cohort, delta.numel());
  const torch::Tensor present = used.gt(0.5).nonzero().flatten();
  if (present.numel() == 0) return;  // only clients without samples: total weight 0, the loop keeps x
  const torch::Tensor rows = reduced.segment(kClientRowsSegment).view({settings.cohort, delta.numel()});
  delta.copy_(aggregate_rows(rows.index_select(0, present), settings));
  reduced.segment(kWeightSegment).fill_(1.0);
}

}  // namespace fedvlm::fl
