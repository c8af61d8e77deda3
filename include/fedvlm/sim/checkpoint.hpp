// Run checkpoints: everything a resumed run needs to continue bit-identically, in one file
// <run>/checkpoints/round-NNNNNN.pt written atomically by rank 0:
//   rounds_done    int64 [1]   rounds completed
//   global_vector  float32 [n] the global trainable vector x
//   algorithm_*    the algorithm's state_dict (server state, replicated globals, client states)
//   extra_json     uint8 [..]  JSON text: metrics so far (final, best), trained samples, times
// The random streams need nothing saved: every draw is keyed by (seed, purpose, round, client).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fedvlm/fl/algorithm.hpp"

namespace fedvlm::sim {

struct RunState {
  std::int64_t rounds_done = 0;
  torch::Tensor global;           // x (CPU)
  fl::TensorMap algorithm_state;  // CPU tensors
  nlohmann::json extra = nlohmann::json::object();
};

std::filesystem::path checkpoint_path(const std::filesystem::path& run_dir, std::int64_t rounds_done);
// Writes the checkpoint and removes all but the `keep` most recent ones.
void save_run_state(const std::filesystem::path& run_dir, const RunState& state, std::int64_t keep);
// The newest checkpoint of a run directory, if any.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& run_dir);
RunState load_run_state(const std::filesystem::path& path);

// SIGTERM / SIGUSR1 (Slurm's pre-emption and time-limit signals) set a flag the round loop
// checks at round boundaries; it then checkpoints and exits cleanly.
void install_stop_signal_handlers();
bool stop_signal_received();
void clear_stop_signal();  // tests: after a simulated stop

}  // namespace fedvlm::sim
