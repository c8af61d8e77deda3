// Progress reporting shared by the pretraining phases (private to src/model).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace fedvlm::model {

class PretrainProgress {
 public:
  explicit PretrainProgress(double log_every_seconds);
  void start_phase(const std::string& phase, std::int64_t steps);
  // Call after each step; logs a progress line every few seconds and a JSON line every 10 steps.
  void step_done(std::int64_t step, double loss, std::int64_t samples);
  // Adds one line to the JSON log, e.g. an evaluation between the phases.
  void note(const nlohmann::json& record) { jsonl_ += record.dump() + "\n"; }
  const std::string& jsonl() const { return jsonl_; }

 private:
  using Clock = std::chrono::steady_clock;
  double log_every_seconds_;
  Clock::time_point run_start_, phase_start_, last_log_;
  std::string phase_, jsonl_;
  std::int64_t steps_ = 0, samples_ = 0;
};

}  // namespace fedvlm::model
