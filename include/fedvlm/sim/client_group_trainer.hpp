// ClientGroupTrainer: trains the clients one rank hosts in a round and folds each into the
// round's accumulator. The round loop sees only this interface; per-client state (model
// replica, optimizer, data cursor) lives behind it. SequentialGroupTrainer trains one client
// after the other on the rank's model; a parallel one (threads, CUDA streams, batched
// multi-client kernels) can replace it without touching the loop, provided it folds clients
// into the accumulator in increasing id order (finish() is not thread-safe; the order keeps a
// rank's sums reproducible).
#pragma once

#include <cstdint>
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

}  // namespace fedvlm::sim
