// ClientGroupTrainer: trains the clients one rank hosts in a round and folds each into the
// round's accumulator. The round loop sees only this interface; per-client state (model
// replica, optimizer, data cursor) lives behind it. SequentialGroupTrainer trains one client
// after the other on the rank's model; ParallelGroupTrainer trains several at once on threads,
// each with its own model replica. Both fold clients into the accumulator in increasing id
// order (finish() is not thread-safe; the order keeps a rank's sums reproducible), so they give
// bit-identical results. Another implementation (CUDA streams, batched multi-client kernels)
// plugs in the same way.
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
#include "fedvlm/model/strategy.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "fedvlm/sim/local_trainer.hpp"

namespace fedvlm::sim {

// Segments the round loop appends to the algorithm's accumulator layout (summed like the rest).
inline constexpr std::string_view kTrainLossSegment = "train_loss_sum";  // Σ batch losses
inline constexpr std::string_view kTrainStepsSegment = "train_steps";    // Σ local steps
inline constexpr std::string_view kTrainSamplesSegment = "train_samples";  // Σ samples processed

// Hands a client's local result to the algorithm (update.finish) and adds its loss, steps and
// samples to the train segments above.
void fold_client(fl::ClientUpdate& update, const LocalResult& result, std::int64_t samples,
                 fl::Accumulator& accumulator);

struct RoundContext {
  std::int64_t round = 0;
  torch::Tensor global;  // x
  double lr = 0.0;       // this round's local learning rate
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

class SequentialGroupTrainer final : public ClientGroupTrainer {
 public:
  SequentialGroupTrainer(ClientData& data, LocalTrainer& trainer) : data_(data), trainer_(trainer) {}

  double train(const std::vector<std::int64_t>& clients, const RoundContext& context, fl::Algorithm& algorithm,
               const model::TrainableSet& trainable, fl::Accumulator& accumulator) override;

 private:
  ClientData& data_;
  LocalTrainer& trainer_;
};

// Up to `workers` clients at once, each on its own thread and model replica. Replicas are made
// by `make_model` (same architecture as the rank's model) and take the rank's values: parameters
// that no round of finetune.strategy trains (the vision encoder, and the decoder base unless
// `full`) share the rank's tensors; the rest are copies, which every client overwrites with x
// while they train and which take the rank's values again once frozen (F-2stage's connector).
// Data reads and the algorithm's begin_client()/finish() stay on the calling thread, in
// increasing id order; only the local steps run on the workers.
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
  std::vector<std::unique_ptr<Worker>> workers_;
};

// The trainer `run.parallel_clients` asks for: sequential on `trainer` for 1, parallel otherwise.
std::unique_ptr<ClientGroupTrainer> make_group_trainer(ClientData& data, LocalTrainer& trainer,
                                                       model::VisionLanguageModel& model,
                                                       const ParallelGroupTrainer::ModelFactory& make_model,
                                                       const Config& config, model::SpecialTokens special,
                                                       torch::Device device);

}  // namespace fedvlm::sim
