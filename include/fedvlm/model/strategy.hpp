// Fine-tuning strategies (DESIGN.md section 5): which parameters train — and are therefore
// communicated — in a given round. Everything else is frozen (requires_grad false).
//   F-C       connector                       F-L   LoRA adapters
//   F-CL      connector + LoRA                full  connector + decoder base (not the vision
//                                                   encoder; LoRA adapters stay frozen at zero)
//   F-2stage  connector while round < finetune.stage1_rounds, then LoRA (connector frozen)
// Encoder-free models take only full (patch embedding + decoder) and F-L.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/core/config.hpp"

namespace fedvlm::model {

class VisionLanguageModel;

enum class Strategy { kConnector, kLora, kConnectorLora, kTwoStage, kFull };

Strategy parse_strategy(std::string_view name);  // InputError naming the choices
std::string strategy_name(Strategy strategy);    // "F-C", "F-L", ...

// The ordered trainable set. Order: the model's named_parameters() order (registration order:
// vision, connector / patch_embedding, decoder layer by layer; LoRA A before B per projection).
struct TrainableSet {
  std::vector<std::string> names;
  std::vector<torch::Tensor> parameters;
  std::int64_t numel() const;
};

// Throws InputError if `model` cannot use `strategy` (encoder-free with a connector strategy,
// a LoRA strategy with lora.rank 0 or no targets).
void check_strategy(const VisionLanguageModel& model, Strategy strategy);

// The parameters that train in `round` (0-based) without touching requires_grad.
TrainableSet trainable_set(VisionLanguageModel& model, Strategy strategy, std::int64_t round,
                           std::int64_t stage1_rounds);

// Every parameter some round of `strategy` trains, in the same order: F-2stage's connector and
// LoRA together, the round's set for every other strategy. A run's checkpoint holds these values,
// so it restores the model whatever stage the run has reached.
TrainableSet ever_trainable_set(VisionLanguageModel& model, Strategy strategy);

// trainable_set, and sets requires_grad: true on exactly that set, false on every other parameter.
TrainableSet apply_strategy(VisionLanguageModel& model, Strategy strategy, std::int64_t round,
                            std::int64_t stage1_rounds);
TrainableSet apply_strategy(VisionLanguageModel& model, const FinetuneConfig& finetune, std::int64_t round);

}  // namespace fedvlm::model
