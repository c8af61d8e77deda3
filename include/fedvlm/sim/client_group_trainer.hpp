// ClientGroupTrainer: trains the clients one rank hosts in a round and folds each into the
// round's accumulator. The round loop sees only this interface; per-client state (model
// replica, optimizer, data cursor) lives behind it. The unit of work is a group of clients
// (client_groups): one client, trained alone (LocalTrainer), or up to run.batched_clients
// clients with the same number of local steps, trained in one pass (BatchedTrainer).
// SequentialGroupTrainer trains one group after the other on the rank's model;
// ParallelGroupTrainer trains several groups at once on threads, each with its own model replica.
// Both fold clients into the accumulator in increasing id order (finish() is not thread-safe;
// the order keeps a rank's sums reproducible), so they give bit-identical results, and results
// do not depend on run.batched_clients beyond float rounding.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/fl/accumulator.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/fl/robustness.hpp"
#include "fedvlm/model/strategy.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "fedvlm/sim/local_trainer.hpp"

namespace fedvlm::sim {

// Segments the round loop appends to the algorithm's accumulator layout (summed like the rest).
inline constexpr std::string_view kTrainLossSegment = "train_loss_sum";  // Σ batch losses
inline constexpr std::string_view kTrainStepsSegment = "train_steps";    // Σ local steps
inline constexpr std::string_view kTrainSamplesSegment = "train_samples";  // Σ samples processed

// The algorithm's accumulator layout followed by the train segments above,
// fl::kBadClientsSegment, fl::kDpClippedSegment and fl::kAttackedSegment, and, for a robust
// aggregator, the per-client rows of a cohort of `client_rows` (fl::client_row_layout), zeroed
// on `device`.
fl::Accumulator round_accumulator(const fl::Algorithm& algorithm, torch::Device device, std::int64_t client_rows = 0);

// What fold_client checks a client's update against before folding it.
struct UpdateScreen {
  std::int64_t client = 0;
  std::int64_t round = 0;    // 0-based
  torch::Tensor global;      // x
  double max_norm = 0.0;     // fl.max_update_norm; 0: no limit
  double dp_clip = 0.0;      // fl.dp_clip: a folded update is scaled to at most this norm; 0: off
  const fl::AttackSettings* attack = nullptr;  // fl.attack: an attacker's update is replaced first
  std::int64_t row = -1;     // the client's row under a robust aggregator (its place in the cohort); -1: none
};

// Hands a client's local result to the algorithm (update.finish) and adds its loss, steps and
// samples to the train segments above; returns true. An update that is not finite, or whose
// norm ‖y − x‖ exceeds screen.max_norm, is left out instead (nothing of it is folded, the
// algorithm's per-client state stays as it was) with a warning naming client and round, and
// counts in fl::kBadClientsSegment; returns false. An attacker's update (screen.attack) is
// replaced by what it sends before any of this, and counts in fl::kAttackedSegment; with
// screen.row >= 0, a folded update of a client with samples also goes into its row of
// fl::kClientRowsSegment. Under DP-FedAvg (screen.dp_clip > 0) a folded
// update longer than the clip norm is scaled down to it (ClientOutcome::scale) and counts in
// fl::kDpClippedSegment.
bool fold_client(fl::ClientUpdate& update, const LocalResult& result, std::int64_t samples, const UpdateScreen& screen,
                 fl::Accumulator& accumulator);

struct RoundContext {
  std::int64_t round = 0;
  torch::Tensor global;  // x
  double lr = 0.0;       // this round's local learning rate
  const fl::Robustness* robustness = nullptr;       // attacks and the aggregator's rows; null: neither
  const std::vector<std::int64_t>* cohort = nullptr;  // the round's cohort, sorted: rows are places in it
};

class ClientGroupTrainer {
 public:
  virtual ~ClientGroupTrainer() = default;
  // Trains `clients` (increasing ids; ClientData::kCentralizedClient for the centralized
  // baseline) from x. Returns the seconds spent reading client data.
  virtual double train(const std::vector<std::int64_t>& clients, const RoundContext& context,
                       fl::Algorithm& algorithm, const model::TrainableSet& trainable,
                       fl::Accumulator& accumulator) = 0;
};

// The round's clients as units of training: clients taking the same positive number of local
// steps (steps[i]) in groups of up to `group_size`, members in increasing index order, groups in
// the order of their first member; a client without steps is a group alone.
std::vector<std::vector<std::size_t>> client_groups(const std::vector<std::int64_t>& steps, std::int64_t group_size);

// Whether run.batched_clients applies to finetune.strategy: full trains the decoder base, which
// every client's rows share, so it trains one client at a time.
bool batches_clients(const Config& config);

class SequentialGroupTrainer final : public ClientGroupTrainer {
 public:
  // `batched` (with group_size > 1) trains the groups of several clients; null: one at a time.
  SequentialGroupTrainer(ClientData& data, LocalTrainer& trainer, const Config& config,
                         std::unique_ptr<BatchedTrainer> batched = nullptr);

  double train(const std::vector<std::int64_t>& clients, const RoundContext& context, fl::Algorithm& algorithm,
               const model::TrainableSet& trainable, fl::Accumulator& accumulator) override;

 private:
  ClientData& data_;
  LocalTrainer& trainer_;
  const Config& config_;
  std::unique_ptr<BatchedTrainer> batched_;
};

// Up to `workers` groups at once, each on its own thread and model replica. Replicas are made
// by `make_model` (same architecture as the rank's model) and take the rank's values: parameters
// that no round of finetune.strategy trains (the vision encoder, and the decoder base unless
// `full`) share the rank's tensors; the rest are copies, which every client overwrites with x
// while they train and which take the rank's values again once frozen (F-2stage's connector).
// Data reads and the algorithm's begin_client()/finish() stay on the calling thread, in
// increasing id order; only the local steps run on the workers. With config.run.batched_clients
// > 1 (and batches_clients), each worker trains groups of clients in one pass.
class ParallelGroupTrainer final : public ClientGroupTrainer {
 public:
  using ModelFactory = std::function<std::shared_ptr<model::VisionLanguageModel>()>;
  ParallelGroupTrainer(ClientData& data, model::VisionLanguageModel& model, const ModelFactory& make_model,
                       const Config& config, model::SpecialTokens special, torch::Device device, int workers);
  ~ParallelGroupTrainer() override;

  double train(const std::vector<std::int64_t>& clients, const RoundContext& context, fl::Algorithm& algorithm,
               const model::TrainableSet& trainable, fl::Accumulator& accumulator) override;

  // Replica `worker`'s model (tests check what it shares with the rank's model).
  const model::VisionLanguageModel& replica(int worker) const;

 private:
  struct Worker;
  void refresh_frozen_copies(model::VisionLanguageModel& replica, const model::TrainableSet& trainable) const;

  ClientData& data_;
  model::VisionLanguageModel& model_;
  const Config& config_;
  std::set<std::string> ever_trained_;  // parameters some round trains: copied, not shared
  std::int64_t group_size_;             // clients per group: run.batched_clients where it applies, else 1
  std::vector<std::unique_ptr<Worker>> workers_;
};

// The trainer `run.parallel_clients` and `run.batched_clients` ask for: sequential on `trainer`
// (and its model) for one thread, parallel otherwise; batched where run.batched_clients > 1.
std::unique_ptr<ClientGroupTrainer> make_group_trainer(ClientData& data, LocalTrainer& trainer,
                                                       model::VisionLanguageModel& model,
                                                       const ParallelGroupTrainer::ModelFactory& make_model,
                                                       const Config& config, model::SpecialTokens special,
                                                       torch::Device device);

}  // namespace fedvlm::sim
