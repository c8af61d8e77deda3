// Robustness studies (docs/robustness.md): simulated adversarial clients and robust server
// aggregators.
//
// Attacks (fl.attack), made by the clients of a fixed set, ⌊fl.attack_fraction · N⌉ of the N
// clients chosen once from the stream (seed, "attackers"). An attacker trains as usual, then
// sends in place of its update Δ = y − x:
//   sign-flip  −Δ                                  (pushes the model uphill)
//   scale      s·Δ, s = fl.attack_scale            (a boosted update)
//   gaussian   N(0, σ²·I), σ = s·‖Δ‖ / √n          (noise s times as long as its honest update)
//   nan        NaN in every element                (a broken client)
// sim::fold_client applies it before the bad-update screen (fl.max_update_norm, non-finite
// updates), which therefore sees what a server would receive.
//
// Aggregators (fl.aggregator) replace the cohort's weighted mean on rank 0. With β =
// fl.byzantine_fraction and k the updates aggregated:
//   mean          Σ wᵢΔᵢ / Σ wᵢ: every algorithm's own aggregation
//   median        the coordinate-wise median (Yin et al. 2018)
//   trimmed-mean  per coordinate, the mean of what is left once the ⌊βk⌋ largest and the ⌊βk⌋
//                 smallest values are dropped (Yin et al. 2018)
//   clipped-mean  the mean of the updates, each scaled to norm at most τ = fl.aggregator_clip
//                 (0: the median of the updates' norms, which adapts as updates shrink)
//   krum          the one update whose squared distances to its k − f − 2 nearest others sum
//                 least, f = ⌊βk⌋ (Blanchard et al. 2017)
// The robust ones need every update on rank 0. Each client folds its Δ into its own row of an
// [m, n] accumulator segment, m the cohort size and the row its place in the round's cohort
// (sorted ids), so the round's one sum-collective gathers them exactly, whatever the number of
// ranks. The result replaces the delta sum with weight 1: the server optimizer (FedAvg's and
// FedProx's step, FedAvgM's momentum, FedAdam, FedYogi, FedAdagrad) takes it as it takes the
// mean, so aggregators and server optimizers compose. Every update counts once (fl.weighting =
// "uniform" is required); algorithms that aggregate more than the update (SCAFFOLD, FedNova) and
// DP-FedAvg are refused.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include <torch/types.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/fl/accumulator.hpp"

namespace fedvlm::fl {

class Algorithm;

enum class Attack { kNone, kSignFlip, kScale, kGaussian, kNan };
enum class Aggregator { kMean, kMedian, kTrimmedMean, kClippedMean, kKrum };

struct AttackSettings {
  Attack kind = Attack::kNone;
  double scale = 10.0;                  // s: the factor of `scale`, the noise-to-update ratio of `gaussian`
  std::uint64_t seed = 0;               // run.seed: the noise stream is (seed, "attack-noise", round, client)
  std::vector<std::int64_t> attackers;  // sorted client ids

  bool enabled() const { return kind != Attack::kNone && !attackers.empty(); }
  bool attacks(std::int64_t client) const;
};

struct AggregatorSettings {
  Aggregator kind = Aggregator::kMean;
  double byzantine_fraction = 0.2;  // β
  double clip = 0.0;                // τ of clipped-mean; 0: the median norm
  std::int64_t cohort = 0;          // m: rows of the per-client segment

  bool robust() const { return kind != Aggregator::kMean; }
};

struct Robustness {
  AttackSettings attack;
  AggregatorSettings aggregator;
};

// Declares fl.attack, fl.attack_fraction, fl.attack_scale, fl.aggregator, fl.byzantine_fraction
// and fl.aggregator_clip (fl::register_algorithms calls it).
void declare_robustness_parameters();

// The settings of `config` for a federation of `num_clients` run by `algorithm`. Throws
// InputError, naming the key and where it was set, for what has no meaning: a robust aggregator
// with sample-count weights, with DP-FedAvg or with an algorithm that aggregates more than the
// update; too few clients for trimmed-mean or Krum to drop any; an attack fraction that makes
// no attacker.
Robustness robustness_settings(const Config& config, const Algorithm& algorithm, std::int64_t num_clients);

// The parameters attacker `client` sends in round `round` (0-based) instead of its trained y
// (float32, on x's device; a new tensor, y is not changed).
torch::Tensor attacked_params(const AttackSettings& attack, const torch::Tensor& y, const torch::Tensor& x,
                              std::int64_t client, std::int64_t round);

// Segments of a round's accumulator under a robust aggregator, and the attack count.
inline constexpr std::string_view kClientRowsSegment = "client_rows";         // [m·n] row r: Δ of the r-th cohort client
inline constexpr std::string_view kClientRowUsedSegment = "client_row_used";  // [m] 1 where row r holds a folded update
inline constexpr std::string_view kAttackedSegment = "attacked_clients";      // [1] updates an attacker replaced
std::vector<AccumulatorSegment> client_row_layout(std::int64_t cohort, std::int64_t n);

// The aggregation rules on k updates, the rows of a float64 [k, n] matrix (k ≥ 1); each
// returns the [n] aggregate. `trim` and `byzantine` are clamped to what k allows (at least one
// value per coordinate kept, at least one neighbour scored).
torch::Tensor coordinate_median(const torch::Tensor& rows);
torch::Tensor trimmed_mean(const torch::Tensor& rows, std::int64_t trim);
torch::Tensor clipped_mean(const torch::Tensor& rows, double clip);
std::int64_t krum_choice(const torch::Tensor& rows, std::int64_t byzantine);  // the chosen row
torch::Tensor aggregate_rows(const torch::Tensor& rows, const AggregatorSettings& settings);

// On rank 0's reduced accumulator, before server_update: under a robust aggregator, the delta
// sum becomes the aggregate of the folded rows and the weight 1. Nothing otherwise, or when no
// row holds an update.
void aggregate_robustly(Accumulator& reduced, const AggregatorSettings& settings);

}  // namespace fedvlm::fl
