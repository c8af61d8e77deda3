// RoundLoop: the rounds of a server-driven run (a federated algorithm, or the centralized
// baseline), one screen per round (DESIGN.md section 3):
//   stage (F-2stage's switch) -> the runner trains its clients into the accumulator ->
//   fl::complete_round (reduce, server step, broadcast, client-state sync) -> evaluation ->
//   checkpoint -> stop signal.
// What differs between runners, which clients a rank trains and how, is the TrainRound callback.
// The loop owns everything else: the trainable set and x, the algorithm, resume from a
// checkpoint, metrics.jsonl, summary.json, the clock and the progress lines.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>

#include <torch/torch.h>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/config.hpp"
#include "fedvlm/fl/accumulator.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/fl/differential_privacy.hpp"
#include "fedvlm/fl/privacy_accountant.hpp"
#include "fedvlm/fl/robustness.hpp"
#include "fedvlm/model/strategy.hpp"
#include "fedvlm/sim/checkpoint.hpp"
#include "fedvlm/sim/federation.hpp"
#include "fedvlm/sim/round_clock.hpp"
#include "fedvlm/sim/run_directory.hpp"
#include "fedvlm/sim/run_summary.hpp"
#include "fedvlm/sim/setup.hpp"

namespace fedvlm::sim {

// What every runner works with: the checked configuration, the ranks, the prepared run
// directory, and the dataset and model (sim/setup.hpp).
struct RunContext {
  const Config& config;
  comm::Communicator& comm;
  RunOptions options;
  std::filesystem::path run_dir;
  Workbench bench;
  RoundClock clock;
};

// One round's training, as the loop hands it to the runner: fold every client this rank trains
// into `accumulator`, starting each from `global`.
struct RoundInputs {
  std::int64_t round = 0;  // 0-based
  const torch::Tensor& global;
  double lr = 0.0;  // this round's local learning rate
  const model::TrainableSet& trainable;
  fl::Algorithm& algorithm;
  fl::Accumulator& accumulator;
  const fl::Robustness& robustness;  // fl.attack and fl.aggregator (fold them through RoundContext)
};
// Returns the seconds spent reading client data (charged to "data", not "train").
using TrainRound = std::function<double(const RoundInputs&)>;

class RoundLoop {
 public:
  // `algorithm` is the run's server algorithm, not yet reset. With options.resume, the model, x,
  // the algorithm and the summary continue from the run directory's latest checkpoint.
  RoundLoop(RunContext& run, std::unique_ptr<fl::Algorithm> algorithm);

  RunOutcome run(const TrainRound& train_round);

 private:
  void resume_from_checkpoint();
  void export_peft();  // export.peft: <run dir>/hf_adapter/, rank 0, at the end
  void enter_stage(std::int64_t round);  // F-2stage: connector, then LoRA with fresh algorithm state
  fl::Accumulator new_accumulator() const;
  void log_robustness() const;  // rank 0, at the start: who attacks, what the aggregator gathers
  void report_training(std::int64_t done, const fl::Accumulator& reduced, double round_start);
  bool finish_round(std::int64_t done);  // evaluation, checkpoint, stop signal; true: stop now
  void evaluate(std::int64_t done);
  void checkpoint(std::int64_t done);
  void record(std::int64_t round, std::string phase, std::string task, std::string metric, double value);
  // DP-FedAvg (rank 0): the round's clipped clients and the ε spent after `done` rounds, in
  // metrics.jsonl and the summary; returns the log line's part.
  std::string report_privacy(std::int64_t done, const fl::Accumulator& reduced);

  RunContext& run_;
  const Config& config_;
  model::VisionLanguageModel& model_;
  std::unique_ptr<fl::Algorithm> algorithm_;
  model::Strategy strategy_;
  RunFingerprint fingerprint_;
  int stage_ = -1;  // 0, or 1 once F-2stage has switched to LoRA
  model::TrainableSet trainable_;
  torch::Tensor x_;
  std::int64_t start_round_ = 0;
  RunSummary summary_;
  std::optional<MetricsLog> metrics_;  // rank 0
  fl::DpSettings dp_;                  // DP-FedAvg; off unless fl.dp_clip > 0
  fl::Robustness robustness_;          // simulated attacks and the server's aggregator
  fl::PrivacyAccountant accountant_;   // rank 0: every round so far, resumed ones included
};

}  // namespace fedvlm::sim
