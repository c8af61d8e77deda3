// Run checkpoints: everything a resumed run, or `fedvlm eval`, needs, self-contained in one file
// <run>/checkpoints/round-NNNNNN.pt written atomically by rank 0:
//   rounds_done      int64 [1]   rounds completed
//   trained_names    uint8 [..]  newline-joined names of every parameter any round of the
//                                strategy trains (F-2stage: connector and LoRA), model order
//   trained_values   float32 [n] their values, flat, in that order
//   algorithm_*      the algorithm's state_dict (server state, replicated globals)
//   extra_json       uint8 [..]  JSON text: metrics so far (final, best), trained samples, times
//   fingerprint_json uint8 [..]  JSON text: what the checkpoint belongs to (RunFingerprint)
//   client_state_shards int64 [1] how many ranks wrote a client-state shard beside it (0: none)
// With per-client state (SCAFFOLD), each rank first writes its home clients' states atomically
// to round-NNNNNN.clients-RRRRR.bin; rank 0 writes round-NNNNNN.pt once every shard is complete,
// so a checkpoint file means its shards are there.
// The random streams need nothing saved: every draw is keyed by (seed, purpose, round, client).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/algorithm.hpp"

namespace fedvlm::model {
class VisionLanguageModel;
}

namespace fedvlm::sim {

// What a checkpoint was trained from: its values mean something only on top of the same base
// weights, dataset (tokenizer, image shape) and model shape. Each field is a string; a resume or
// an evaluation compares them all and names each that differs.
struct RunFingerprint {
  std::map<std::string, std::string> fields;  // "dataset", "base", "finetune.strategy", "model.*", ...
};

// The fingerprint of this configuration: meta.h5's and the base checkpoint's bytes (digests),
// the strategy, and the model's shape (model::finetune_config_fields).
RunFingerprint run_fingerprint(const Config& config, const model::VisionLanguageModel& model);

struct RunState {
  std::int64_t rounds_done = 0;
  std::vector<std::string> trained_names;
  torch::Tensor trained_values;   // float32, CPU
  fl::TensorMap algorithm_state;  // CPU tensors
  nlohmann::json extra = nlohmann::json::object();
  RunFingerprint fingerprint;
  std::int64_t client_state_shards = -1;  // -1: a checkpoint from before client-state shards
};

std::filesystem::path checkpoint_path(const std::filesystem::path& run_dir, std::int64_t rounds_done);
// Rank `rank`'s client-state shard of `checkpoint`.
std::filesystem::path client_state_shard_path(const std::filesystem::path& checkpoint, int rank);
// The `shards` shard paths of `checkpoint`; UnusableCheckpoint when one is missing.
std::vector<std::filesystem::path> client_state_shard_paths(const std::filesystem::path& checkpoint,
                                                            std::int64_t shards);
// Where rank `rank` spills client states beyond run.client_state_mb (scratch, not a checkpoint).
std::filesystem::path client_state_spill_file(const std::filesystem::path& run_dir, int rank);

// The state of `model` after `rounds_done` rounds: every parameter the strategy ever trains.
// `algorithm_state` and `extra` are copied in as given.
RunState capture_run_state(std::int64_t rounds_done, model::VisionLanguageModel& model, const Config& config,
                           fl::TensorMap algorithm_state, nlohmann::json extra, RunFingerprint fingerprint);
// Writes the checkpoint atomically and removes all but the `keep` most recent ones.
void save_run_state(const std::filesystem::path& run_dir, const RunState& state, std::int64_t keep);
// The newest checkpoint of a run directory, if any.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& run_dir);
// Every checkpoint of a run directory, the newest first.
std::vector<std::filesystem::path> checkpoints_newest_first(const std::filesystem::path& run_dir);

// A checkpoint that cannot be used as it is on disk: unreadable, not a run checkpoint, its
// checksum not matching its contents, or a client-state shard missing. A resume then falls back
// to the checkpoint before it; a checkpoint of another run setup is a different error.
class UnusableCheckpoint : public InputError {
 public:
  using InputError::InputError;
};

// Reads a checkpoint as it is, checking the checksum save_run_state stored over its contents
// (UnusableCheckpoint when it fails or the file is not a run checkpoint).
RunState load_run_state(const std::filesystem::path& path);

// The one restore behind `fedvlm run --resume` and `fedvlm eval --checkpoint`: reads `path`,
// refuses (InputError) a checkpoint of another base, dataset, strategy or model shape, saying
// which and how they differ, and puts every parameter it holds into `model`. Returns the state,
// whose algorithm state and extras a resumed run continues from.
RunState restore_run_state(const std::filesystem::path& path, model::VisionLanguageModel& model, const Config& config,
                           const RunFingerprint& expected);

// SIGTERM / SIGUSR1 (Slurm's pre-emption and time-limit signals) set a flag the round loop
// checks at round boundaries; it then checkpoints and exits cleanly.
void install_stop_signal_handlers();
bool stop_signal_received();
void clear_stop_signal();  // tests: after a simulated stop

}  // namespace fedvlm::sim
