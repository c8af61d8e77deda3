#include "fedvlm/sim/run_summary.hpp"

#include <sys/resource.h>

#include <cmath>

namespace fedvlm::sim {

bool metric_improves(const std::string& metric, double candidate, double incumbent) {
  if (std::isnan(candidate)) return false;
  if (std::isnan(incumbent)) return true;
  return metric == "loss" ? candidate < incumbent : candidate > incumbent;
}

RunSummary::RunSummary(const Config& config, int world_size, std::int64_t num_clients)
    : config_(config), world_size_(world_size), num_clients_(num_clients) {}

void RunSummary::add_evaluation(std::int64_t rounds_done, const eval::MetricsTable& table) {
  final_ = table;
  final_round_ = rounds_done;
  for (const auto& [task, metrics] : table) {
    for (const auto& [metric, value] : metrics) {
      auto& best = best_[task];
      if (!best.count(metric) || metric_improves(metric, value, best[metric])) best[metric] = value;
    }
  }
}

void RunSummary::set_time(const RoundClock& clock) {
  session_seconds_ = clock.elapsed();
  session_parts_ = clock.parts();
}

nlohmann::json RunSummary::checkpoint_extra() const {
  std::map<std::string, double> parts = prior_parts_;
  for (const auto& [part, seconds] : session_parts_) parts[part] += seconds;
  return {{"final", final_},
          {"best", best_},
          {"final_round", final_round_},
          {"trained_samples", trained_samples_},
          {"wall_seconds", prior_seconds_ + session_seconds_},
          {"time_seconds", parts}};
}

void RunSummary::restore(const nlohmann::json& extra) {
  final_ = extra.value("final", eval::MetricsTable{});
  best_ = extra.value("best", eval::MetricsTable{});
  final_round_ = extra.value("final_round", std::int64_t{0});
  trained_samples_ = extra.value("trained_samples", std::int64_t{0});
  prior_seconds_ = extra.value("wall_seconds", 0.0);
  prior_parts_ = extra.value("time_seconds", std::map<std::string, double>{});
}

nlohmann::json RunSummary::to_json() const {
  nlohmann::json summary = checkpoint_extra();
  const double wall = summary["wall_seconds"].get<double>();
  const double train = summary["time_seconds"].value("train", 0.0);
  summary["rounds"] = config_.fl.rounds;
  summary["run"] = {{"algorithm", config_.fl.algorithm},
                    {"strategy", config_.finetune.strategy},
                    {"data", config_.data.path},
                    {"preset", config_.model.preset},
                    {"seed", config_.run.seed},
                    {"ranks", world_size_},
                    {"clients", num_clients_}};
  summary["throughput"] = {
      {"samples_per_second", wall > 0 ? static_cast<double>(trained_samples_) / wall : 0.0},
      // Rank 0's local-training time: the per-rank rate at which samples are trained.
      {"train_samples_per_second_per_rank",
       train > 0 ? static_cast<double>(trained_samples_) / world_size_ / train : 0.0},
      {"seconds_per_round", config_.fl.rounds > 0 ? wall / static_cast<double>(config_.fl.rounds) : 0.0}};
  if (!memory_.empty()) {
    const auto mb = [](std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); };
    std::vector<double> peak, resident;
    std::vector<std::int64_t> kept, spilled;
    for (const auto& [peak_bytes, states, spilled_states, resident_bytes] : memory_) {
      peak.push_back(mb(peak_bytes)), kept.push_back(states), spilled.push_back(spilled_states);
      resident.push_back(mb(resident_bytes));
    }
    summary["memory"] = {{"peak_rss_mb_per_rank", peak},
                         {"client_states_per_rank", kept},
                         {"client_states_spilled_per_rank", spilled},
                         {"client_state_resident_mb_per_rank", resident}};
  }
  if (!privacy_.is_null()) summary["privacy"] = privacy_;
  return summary;
}

std::int64_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;  // Linux reports kilobytes
}

}  // namespace fedvlm::sim
