#include "fedvlm/sim/run_directory.hpp"

#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"

namespace fedvlm::sim {
namespace fs = std::filesystem;

fs::path run_directory(const Config& config) {
  std::string name = config.run.name;
  if (name.empty()) name = config.source.empty() ? "run" : config.source.stem().string();
  return fs::path(config.run.dir) / name;
}

MetricsLog::MetricsLog(const fs::path& path, std::int64_t keep_through_round) {
  fs::create_directories(path.parent_path());
  if (keep_through_round >= 0 && fs::exists(path)) {
    std::ifstream in(path);
    std::string kept;
    for (std::string line; std::getline(in, line);) {
      // A line cut short by a kill does not parse: drop it with the rounds after the checkpoint.
      const auto record = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (!record.is_discarded() && record.value("round", std::int64_t{0}) <= keep_through_round) kept += line + "\n";
    }
    write_text_atomically(path, kept);
  }
  out_.open(path, std::ios::app);
  if (!out_) throw Error(fmt::format("cannot open {} for appending", path.string()));
}

void MetricsLog::write(const MetricRecord& r) {
  const nlohmann::json line = {{"round", r.round}, {"phase", r.phase},   {"task", r.task},
                               {"metric", r.metric}, {"value", r.value}, {"seconds", r.seconds}};
  out_ << line.dump() << '\n';
  out_.flush();
  // A full disk must stop the run, not leave a metrics file that silently ends early.
  if (!out_) throw Error(fmt::format("cannot append to metrics.jsonl: {} (is the disk full?)", std::strerror(errno)));
}

void write_resolved_config(const fs::path& run_dir, const Config& config) {
  write_text_atomically(run_dir / "config.toml", dump_config(config));
}

void write_summary(const fs::path& run_dir, const nlohmann::json& summary) {
  write_text_atomically(run_dir / "summary.json", summary.dump(2) + "\n");
}

}  // namespace fedvlm::sim
