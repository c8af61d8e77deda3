// The run directory (DESIGN.md section 7):
//   runs/<name>/config.toml     fully resolved configuration
//               metrics.jsonl   one JSON object per line: round, phase, task, metric, value, seconds
//               summary.json    final and best metrics, rounds, wall time, throughput
//               checkpoints/    round-NNNNNN/ directories (sim/checkpoint.hpp)
//               logs/rank-N.log
// Only rank 0 writes files here (except each rank's log). Every file is written atomically or
// appended line by line, so a killed run never leaves a half-written summary or config.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "fedvlm/core/config.hpp"

namespace fedvlm::sim {

// runs/<run.name>, or runs/<config file stem> when run.name is empty.
std::filesystem::path run_directory(const Config& config);

struct MetricRecord {
  std::int64_t round = 0;  // 1-based: the number of rounds completed when measured
  std::string phase;       // "train", "eval", "time"
  std::string task;        // cls, cap, vqa, ground, or "all"
  std::string metric;
  double value = 0.0;
  double seconds = 0.0;    // wall seconds since the run started
};

// Appends records to metrics.jsonl, one flushed line each.
class MetricsLog {
 public:
  // Opens for appending. With keep_through_round >= 0 (a resumed run), first drops the lines of
  // rounds after it, so the resumed log equals the uninterrupted one.
  MetricsLog(const std::filesystem::path& path, std::int64_t keep_through_round = -1);
  void write(const MetricRecord& record);

 private:
  std::ofstream out_;
};

// Writes the resolved config (`config.toml`) atomically.
void write_resolved_config(const std::filesystem::path& run_dir, const Config& config);
void write_summary(const std::filesystem::path& run_dir, const nlohmann::json& summary);

}  // namespace fedvlm::sim
