// RunSummary: what summary.json reports (DESIGN.md section 7), built up round by round and
// carried through checkpoints so a resumed run reports the same as an uninterrupted one.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "fedvlm/core/config.hpp"
#include "fedvlm/eval/metrics_table.hpp"
#include "fedvlm/sim/round_clock.hpp"

namespace fedvlm::sim {

class RunSummary {
 public:
  RunSummary(const Config& config, int world_size, std::int64_t num_clients);

  void add_evaluation(std::int64_t rounds_done, const eval::MetricsTable& table);
  void add_trained_samples(std::int64_t samples) { trained_samples_ += samples; }
  // Folds this session's clock into the totals (time before a resume is kept).
  void set_time(const RoundClock& clock);
  // summary.json "memory": per rank (rows), this session's peak resident bytes, client states
  // kept, client states spilled, and bytes of resident client states (int64 [ranks, 4]).
  void set_memory(std::vector<std::array<std::int64_t, 4>> per_rank) { memory_ = std::move(per_rank); }
  // summary.json "privacy" (DP-FedAvg): epsilon, delta and the mechanism, after the last round.
  void set_privacy(nlohmann::json privacy) { privacy_ = std::move(privacy); }

  const eval::MetricsTable& final_table() const { return final_; }
  double prior_seconds() const { return prior_seconds_; }

  nlohmann::json checkpoint_extra() const;       // what a checkpoint must carry
  void restore(const nlohmann::json& extra);     // from a checkpoint
  nlohmann::json to_json() const;                // summary.json

 private:
  const Config& config_;
  int world_size_;
  std::int64_t num_clients_;
  eval::MetricsTable final_;
  eval::MetricsTable best_;
  std::int64_t final_round_ = 0;
  std::int64_t trained_samples_ = 0;
  double prior_seconds_ = 0.0;                   // wall time of earlier sessions (before resumes)
  double session_seconds_ = 0.0;
  std::map<std::string, double> prior_parts_;
  std::map<std::string, double> session_parts_;
  std::vector<std::array<std::int64_t, 4>> memory_;
  nlohmann::json privacy_;  // null without DP
};

// This process's peak resident set size so far (getrusage), in bytes.
std::int64_t peak_rss_bytes();

// Higher is better for every metric but the loss.
bool metric_improves(const std::string& metric, double candidate, double incumbent);

}  // namespace fedvlm::sim
