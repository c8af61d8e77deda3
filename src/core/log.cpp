#include "fedvlm/core/log.hpp"

#include <algorithm>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include "fedvlm/core/error.hpp"

namespace fedvlm::log {
namespace {

spdlog::level::level_enum parse_level(const std::string& name) {
  auto level = spdlog::level::from_str(name);
  if (level == spdlog::level::off && name != "off")
    throw InputError(fmt::format("unknown log level '{}' (choose trace, debug, info, warn, error, off)", name));
  return level;
}

std::string pattern(int rank, int world_size) {
  // Rank on every line: interleaved output from mpirun stays attributable.
  return fmt::format("[%Y-%m-%d %H:%M:%S.%e] [rank {}/{}] [%^%l%$] %v", rank, world_size);
}

std::string g_file_pattern;
spdlog::sink_ptr g_rank_sink;  // the sink add_rank_file attached, replaced by the next call

}  // namespace

void setup(const Options& options) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
  if (!options.file.empty()) {
    std::filesystem::create_directories(options.file.parent_path());
    sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file.string(), false));
  }
  auto logger = std::make_shared<spdlog::logger>("fedvlm", sinks.begin(), sinks.end());
  auto level = parse_level(options.level);
  if (options.rank != 0 && !options.all_ranks && level < spdlog::level::warn) level = spdlog::level::warn;
  logger->set_level(level);
  g_file_pattern = pattern(options.rank, options.world_size);
  logger->set_pattern(g_file_pattern);
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  g_rank_sink.reset();
}

void add_rank_file(const std::filesystem::path& run_dir, int rank) {
  auto path = run_dir / "logs" / fmt::format("rank-{}.log", rank);
  std::filesystem::create_directories(path.parent_path());
  auto sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path.string(), false);
  auto logger = spdlog::default_logger();
  auto& sinks = logger->sinks();
  if (g_rank_sink) sinks.erase(std::remove(sinks.begin(), sinks.end(), g_rank_sink), sinks.end());
  // The file gets everything at info or above, even on ranks whose console is quiet: pin the
  // existing sinks to the logger's level before lowering it.
  auto console_level = logger->level();
  for (auto& existing : logger->sinks()) existing->set_level(std::max(existing->level(), console_level));
  sink->set_pattern(g_file_pattern.empty() ? pattern(rank, 0) : g_file_pattern);
  sink->set_level(std::min(console_level, spdlog::level::info));
  sinks.push_back(sink);
  g_rank_sink = sink;
  logger->set_level(std::min(console_level, spdlog::level::info));
}

}  // namespace fedvlm::log
