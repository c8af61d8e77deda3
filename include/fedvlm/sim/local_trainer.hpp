// LocalTrainer: one client's local update (DESIGN.md section 3, step 3). Starting from the
// global vector x it runs the client's local steps with a fresh optimizer (AdamW or SGD, as
// the paper does every round), the algorithm's gradient hook, and gradient clipping, and hands
// the final vector to the algorithm. Every random draw (batch order, dropout) comes from
// streams keyed by (seed, round, client): the result does not depend on the rank.
// run.precision = bf16 runs the forward pass under CUDA bf16 autocast (refused off CUDA).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/data/samples.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/flat_parameters.hpp"
#include "fedvlm/model/strategy.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::sim {

struct LocalResult {
  torch::Tensor params;       // y, flat
  std::int64_t steps = 0;     // τ
  double loss_sum = 0.0;      // summed batch losses
  std::int64_t samples_seen = 0;  // samples processed (steps x batch, the last batch of a pass may be short)
};

// Local steps a client of `samples` samples takes per round: local.steps (none for a client
// without samples), or local.epochs passes of ceil(samples / local.batch_size) batches.
std::int64_t local_steps(const LocalConfig& local, std::int64_t samples);
// local_steps of every client: the work placement balances over ranks.
std::vector<std::int64_t> local_steps_of_clients(const LocalConfig& local, const std::vector<std::int64_t>& client_samples);
// Samples that `steps` local steps process on a client of `samples` samples: passes over a fresh
// shuffle in batches of `batch`, the last batch of each pass holding what is left.
std::int64_t samples_in_steps(std::int64_t samples, std::int64_t batch, std::int64_t steps);
// The fewest steps on `samples` samples that process at least `budget` samples.
std::int64_t steps_covering(std::int64_t samples, std::int64_t batch, std::int64_t budget);

class LocalTrainer {
 public:
  // How train() hands back y: a copy, or a view of the trainer's flat buffer that stays valid
  // until its next train() (for a caller that folds y at once: no 4n-byte copy per client).
  enum class Params { kCopy, kView };

  LocalTrainer(model::VisionLanguageModel& model, const Config& config, model::SpecialTokens special,
               torch::Device device);

  // Loads x into `trainable`, trains on `samples` for `steps` steps (negative: local_steps of
  // the config), returns y (the model keeps y afterwards). The trainable tensors become views
  // of one flat buffer the trainer keeps (model/flat_parameters.hpp) while the set stays the same.
  LocalResult train(const model::TrainableSet& trainable, const data::Samples& samples, std::int64_t client,
                    std::int64_t round, const torch::Tensor& x, double lr, fl::ClientUpdate* update,
                    std::int64_t steps = -1, Params params = Params::kCopy);

  // Seconds spent in local steps (batches, forward, backward, optimizer) since construction:
  // what a client costs beyond them is the framework's per-client overhead (fedvlm bench).
  double step_seconds() const { return step_seconds_; }

 private:
  // Binds `params` to the flat buffers and returns the optimizer of the flat values, in the
  // state a new one would have: kept from client to client (its state zeroed, not reallocated)
  // while the trainable set stays bound.
  torch::optim::Optimizer& fresh_optimizer(const std::vector<torch::Tensor>& params, double lr);

  model::VisionLanguageModel& model_;
  const Config& config_;
  model::SpecialTokens special_;
  torch::Device device_;
  bool bf16_;  // run.precision = bf16: the forward pass under CUDA bf16 autocast
  model::FlatParameters flat_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;  // steps flat_.values()
  double step_seconds_ = 0.0;
};

// Several clients in one forward and backward pass per step (run.batched_clients; see
// model/client_stack.hpp): their flat vectors are the rows of one [K, n] tensor, which the
// optimizer steps as a whole (AdamW and SGD act elementwise, so each row steps as its client's
// own optimizer would); the gradient term, the clipping norm and the loss are per row. Every
// random draw comes from the client's own streams, as in LocalTrainer. Each client's result
// equals LocalTrainer::train on it alone up to float rounding (the batched products sum in
// another order).
class BatchedTrainer {
 public:
  BatchedTrainer(model::VisionLanguageModel& model, const Config& config, model::SpecialTokens special,
                 torch::Device device);

  struct Client {
    const data::Samples* samples = nullptr;  // at least one sample
    std::int64_t id = 0;                     // ClientData::kCentralizedClient (-1) draws as client 0
    fl::ClientUpdate* update = nullptr;      // may be null
  };
  // Trains `clients` from x for `steps` steps each (> 0; the same for all). The model's own
  // trainable values are not touched. Throws for the full strategy (the decoder base is shared).
  std::vector<LocalResult> train(const model::TrainableSet& trainable, std::span<const Client> clients,
                                 std::int64_t round, const torch::Tensor& x, double lr, std::int64_t steps);

 private:
  model::VisionLanguageModel& model_;
  const Config& config_;
  model::SpecialTokens special_;
  torch::Device device_;
  bool bf16_;
};

}  // namespace fedvlm::sim
