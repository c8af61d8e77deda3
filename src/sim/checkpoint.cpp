#include "fedvlm/sim/checkpoint.hpp"

#include <atomic>
#include <csignal>
#include <regex>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/fl/client_state.hpp"

namespace fedvlm::sim {
namespace fs = std::filesystem;
namespace {

// Archive entry names must be identifiers (torch serializes them as attributes).
constexpr std::string_view kAlgorithmPrefix = "algorithm_";
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }

std::vector<std::pair<std::int64_t, fs::path>> checkpoints_of(const fs::path& run_dir) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  const fs::path dir = run_dir / "checkpoints";
  if (!fs::exists(dir)) return found;
  static const std::regex name("round-(\\d+)\\.pt");
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch match;
    const std::string file = entry.path().filename().string();
    if (std::regex_match(file, match, name)) found.emplace_back(std::stoll(match[1]), entry.path());
  }
  std::sort(found.begin(), found.end());
  return found;
}

}  // namespace

fs::path checkpoint_path(const fs::path& run_dir, std::int64_t rounds_done) {
  return run_dir / "checkpoints" / fmt::format("round-{:06d}.pt", rounds_done);
}

void save_run_state(const fs::path& run_dir, const RunState& state, std::int64_t keep) {
  std::map<std::string, torch::Tensor> tensors;
  tensors["rounds_done"] = torch::tensor({state.rounds_done}, torch::kInt64);
  tensors["global_vector"] = state.global.to(torch::kCPU).contiguous();
  for (const auto& [name, tensor] : state.algorithm_state) tensors[std::string(kAlgorithmPrefix) + name] = tensor.to(torch::kCPU);
  const std::string extra = state.extra.dump();
  tensors["extra_json"] = torch::from_blob(const_cast<char*>(extra.data()), {static_cast<std::int64_t>(extra.size())},
                                      torch::kUInt8)
                         .clone();
  fl::save_tensor_map(checkpoint_path(run_dir, state.rounds_done), tensors);  // atomic
  auto all = checkpoints_of(run_dir);
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < all.size(); ++i) fs::remove(all[i].second);
}

std::optional<fs::path> latest_checkpoint(const fs::path& run_dir) {
  auto all = checkpoints_of(run_dir);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

RunState load_run_state(const fs::path& path) {
  auto tensors = fl::load_tensor_map(path);
  for (const char* required : {"rounds_done", "global_vector", "extra_json"})
    if (!tensors.count(required))
      throw InputError(fmt::format("{}: not a fedvlm run checkpoint (no '{}' entry)", path.string(), required));
  RunState state;
  state.rounds_done = tensors.at("rounds_done").item<std::int64_t>();
  state.global = tensors.at("global_vector");
  const auto& extra = tensors.at("extra_json");
  state.extra = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(extra.data_ptr<std::uint8_t>()),
                                                  static_cast<std::size_t>(extra.numel())));
  for (auto& [name, tensor] : tensors)
    if (name.starts_with(kAlgorithmPrefix)) state.algorithm_state[name.substr(kAlgorithmPrefix.size())] = tensor;
  return state;
}

void install_stop_signal_handlers() {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGUSR1, on_stop_signal);
}

bool stop_signal_received() { return g_stop.load(); }
void clear_stop_signal() { g_stop.store(false); }

}  // namespace fedvlm::sim
