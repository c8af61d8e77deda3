#include "fedvlm/sim/checkpoint.hpp"

#include <atomic>
#include <csignal>
#include <regex>
#include <set>

#include <fmt/ranges.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/core/text.hpp"
#include "fedvlm/fl/client_state.hpp"
#include "fedvlm/model/checkpoint.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/model/hf/hf_fingerprint.hpp"
#include "fedvlm/model/hf/hf_vlm.hpp"
#include "fedvlm/model/strategy.hpp"
#include "fedvlm/model/vlm.hpp"

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

torch::Tensor text_tensor(const std::string& text) {
  return torch::from_blob(const_cast<char*>(text.data()), {static_cast<std::int64_t>(text.size())}, torch::kUInt8)
      .clone();
}

std::string tensor_text(const torch::Tensor& tensor) {
  const torch::Tensor bytes = tensor.to(torch::kCPU, torch::kUInt8).contiguous();
  return {reinterpret_cast<const char*>(bytes.data_ptr<std::uint8_t>()), static_cast<std::size_t>(bytes.numel())};
}

constexpr const char* kNoBase = "none (random initialization)";
constexpr const char* kChecksumEntry = "checksum";

// The Fingerprint of every entry but the checksum, in name order: name, dtype, shape and bytes.
std::string contents_checksum(const std::map<std::string, torch::Tensor>& tensors) {
  Fingerprint fingerprint;
  for (const auto& [name, tensor] : tensors) {
    if (name == kChecksumEntry) continue;
    const torch::Tensor data = tensor.to(torch::kCPU).contiguous();
    const std::string header = fmt::format("{}\n{}\n{}\n", name, c10::toString(data.scalar_type()),
                                           fmt::join(data.sizes(), ","));
    fingerprint.update(header.data(), header.size());
    fingerprint.update(data.data_ptr(), static_cast<std::size_t>(data.nbytes()));
  }
  return fingerprint.hex();
}

// One line of a refusal: which part of the setup differs, and what the user can do about it.
std::string describe_difference(const std::string& key, const std::string& found, const std::string& here,
                                const Config& config) {
  if (key == "dataset")
    return fmt::format("dataset: the checkpoint was trained on a meta.h5 with fingerprint {}, data.path = \"{}\" has {}",
                       found, config.data.path, here);
  if (key == "base")
    return fmt::format("base: the checkpoint was trained from base {}, model.base = \"{}\" is {}", found,
                       config.model.base, here);
  return fmt::format("{}: the checkpoint has {}, this config {}", key, found, here);
}

}  // namespace

fs::path checkpoint_path(const fs::path& run_dir, std::int64_t rounds_done) {
  return run_dir / "checkpoints" / fmt::format("round-{:06d}.pt", rounds_done);
}

fs::path client_state_shard_path(const fs::path& checkpoint, int rank) {
  return checkpoint.parent_path() / fmt::format("{}.clients-{:05d}.bin", checkpoint.stem().string(), rank);
}

std::vector<fs::path> client_state_shard_paths(const fs::path& checkpoint, std::int64_t shards) {
  std::vector<fs::path> paths;
  for (std::int64_t rank = 0; rank < shards; ++rank) {
    paths.push_back(client_state_shard_path(checkpoint, static_cast<int>(rank)));
    if (!fs::is_regular_file(paths.back()))
      throw UnusableCheckpoint(fmt::format("{} is incomplete: it has {} client state shards, but {} is missing",
                                   checkpoint.string(), shards, paths.back().string()));
  }
  return paths;
}

fs::path client_state_spill_file(const fs::path& run_dir, int rank) {
  return run_dir / "client-states" / fmt::format("rank-{:05d}.spill", rank);
}

RunFingerprint run_fingerprint(const Config& config, const model::VisionLanguageModel& model) {
  RunFingerprint fingerprint;
  for (auto& [key, value] : model::finetune_config_fields(model)) fingerprint.fields[key] = std::move(value);
  fingerprint.fields["finetune.strategy"] = config.finetune.strategy;
  if (config.finetune.strategy == "F-2stage")
    fingerprint.fields["finetune.stage1_rounds"] = std::to_string(config.finetune.stage1_rounds);
  fingerprint.fields["dataset"] = file_fingerprint(fs::path(config.data.path) / "meta.h5");
  if (config.model.base.empty())
    fingerprint.fields["base"] = kNoBase;
  else if (model::hf::is_hf_model_directory(config.model.base))
    fingerprint.fields["base"] = model::hf::hf_directory_fingerprint(config.model.base);
  else
    fingerprint.fields["base"] = file_fingerprint(model::resolve_base_path(config.model.base));
  if (!config.model.vision_tower.empty())
    fingerprint.fields["vision_tower"] = model::hf::hf_directory_fingerprint(config.model.vision_tower);
  if (!config.model.projector.empty()) fingerprint.fields["projector"] = file_fingerprint(config.model.projector);
  return fingerprint;
}

RunState capture_run_state(std::int64_t rounds_done, model::VisionLanguageModel& model, const Config& config,
                           fl::TensorMap algorithm_state, nlohmann::json extra, RunFingerprint fingerprint) {
  const auto trained = model::ever_trainable_set(model, model::parse_strategy(config.finetune.strategy));
  return {rounds_done,
          trained.names,
          model::flatten_values(trained.parameters).to(torch::kCPU),
          std::move(algorithm_state),
          std::move(extra),
          std::move(fingerprint)};
}

void save_run_state(const fs::path& run_dir, const RunState& state, std::int64_t keep) {
  std::map<std::string, torch::Tensor> tensors;
  tensors["rounds_done"] = torch::tensor({state.rounds_done}, torch::kInt64);
  tensors["trained_names"] = text_tensor(join(state.trained_names, "\n"));
  tensors["trained_values"] = state.trained_values.to(torch::kCPU, torch::kFloat32).contiguous();
  for (const auto& [name, tensor] : state.algorithm_state) tensors[std::string(kAlgorithmPrefix) + name] = tensor.to(torch::kCPU);
  tensors["extra_json"] = text_tensor(state.extra.dump());
  tensors["fingerprint_json"] = text_tensor(nlohmann::json(state.fingerprint.fields).dump());
  tensors["client_state_shards"] = torch::tensor({state.client_state_shards}, torch::kInt64);
  tensors[kChecksumEntry] = text_tensor(contents_checksum(tensors));
  fl::save_tensor_map(checkpoint_path(run_dir, state.rounds_done), tensors);  // atomic
  auto all = checkpoints_of(run_dir);
  for (std::size_t i = 0; i + static_cast<std::size_t>(keep) < all.size(); ++i) {
    // Its shards first: a checkpoint file never outlives one of its shards.
    const std::string shard_prefix = all[i].second.stem().string() + ".clients-";
    for (const auto& entry : fs::directory_iterator(all[i].second.parent_path()))
      if (entry.path().filename().string().starts_with(shard_prefix)) fs::remove(entry.path());
    fs::remove(all[i].second);
  }
}

std::optional<fs::path> latest_checkpoint(const fs::path& run_dir) {
  auto all = checkpoints_of(run_dir);
  if (all.empty()) return std::nullopt;
  return all.back().second;
}

std::vector<fs::path> checkpoints_newest_first(const fs::path& run_dir) {
  std::vector<fs::path> paths;
  const auto all = checkpoints_of(run_dir);
  for (auto it = all.rbegin(); it != all.rend(); ++it) paths.push_back(it->second);
  return paths;
}

RunState load_run_state(const fs::path& path) {
  if (!fs::is_regular_file(path)) throw InputError(fmt::format("checkpoint {} does not exist", path.string()));
  std::map<std::string, torch::Tensor> tensors;
  try {
    tensors = fl::load_tensor_map(path);
  } catch (const InputError& e) {
    throw UnusableCheckpoint(e.what());
  }
  if (const auto stored = tensors.find(kChecksumEntry); stored != tensors.end()) {  // older files have none
    const std::string expected = tensor_text(stored->second), found = contents_checksum(tensors);
    if (expected != found)
      throw UnusableCheckpoint(fmt::format("{} is corrupt: its contents have checksum {}, but {} was stored with them",
                                           path.string(), found, expected));
  }
  if (tensors.count("global_vector") && !tensors.count("trained_values"))
    throw InputError(fmt::format("{} was written by an older fedvlm that kept only the current stage's vector; "
                                 "it cannot restore a model exactly: rerun, or evaluate with that version",
                                 path.string()));
  for (const char* required : {"rounds_done", "trained_names", "trained_values", "extra_json", "fingerprint_json"})
    if (!tensors.count(required))
      throw UnusableCheckpoint(fmt::format("{}: not a fedvlm run checkpoint (no '{}' entry)", path.string(), required));
  RunState state;
  state.rounds_done = tensors.at("rounds_done").item<std::int64_t>();
  state.trained_names = split_lines(tensor_text(tensors.at("trained_names")));
  state.trained_values = tensors.at("trained_values");
  state.extra = nlohmann::json::parse(tensor_text(tensors.at("extra_json")));
  state.fingerprint.fields =
      nlohmann::json::parse(tensor_text(tensors.at("fingerprint_json"))).get<std::map<std::string, std::string>>();
  if (tensors.count("client_state_shards")) state.client_state_shards = tensors.at("client_state_shards").item<std::int64_t>();
  for (auto& [name, tensor] : tensors)
    if (name.starts_with(kAlgorithmPrefix)) state.algorithm_state[name.substr(kAlgorithmPrefix.size())] = tensor;
  return state;
}

RunState restore_run_state(const fs::path& path, model::VisionLanguageModel& model, const Config& config,
                           const RunFingerprint& expected) {
  RunState state = load_run_state(path);
  std::vector<std::string> differences;
  std::set<std::string> keys;
  for (const auto& [key, value] : expected.fields) keys.insert(key);
  for (const auto& [key, value] : state.fingerprint.fields) keys.insert(key);
  for (const auto& key : keys) {
    const auto stored = state.fingerprint.fields.find(key);
    const auto wanted = expected.fields.find(key);
    const std::string found = stored == state.fingerprint.fields.end() ? "(absent)" : stored->second;
    const std::string here = wanted == expected.fields.end() ? "(absent)" : wanted->second;
    if (found != here) differences.push_back(describe_difference(key, found, here, config));
  }
  if (!differences.empty())
    throw InputError(fmt::format("{} belongs to another run setup, so its values would mean something else here:\n  {}",
                                 path.string(), fmt::join(differences, "\n  ")));
  const auto trained = model::ever_trainable_set(model, model::parse_strategy(config.finetune.strategy));
  if (trained.names != state.trained_names || state.trained_values.numel() != trained.numel())
    throw InputError(fmt::format("{} holds {} parameters ({} values) but this model trains {} ({} values): "
                                 "restore it with the run's config.toml",
                                 path.string(), state.trained_names.size(), state.trained_values.numel(),
                                 trained.names.size(), trained.numel()));
  const auto device = trained.parameters.empty() ? torch::Device(torch::kCPU) : trained.parameters.front().device();
  model::assign_values(trained.parameters, state.trained_values.to(device));
  return state;
}

void install_stop_signal_handlers() {
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGUSR1, on_stop_signal);
}

bool stop_signal_received() { return g_stop.load(); }
void clear_stop_signal() { g_stop.store(false); }

}  // namespace fedvlm::sim
