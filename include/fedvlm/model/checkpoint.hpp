// Checkpoints: one torch::serialize archive (zip) per file, written atomically.
//
// Base checkpoint (`fedvlm pretrain` -> <run>/base.pt):
//   format = "fedvlm-base", version = 1
//   config.<key> = value (strings, base_config_fields)   tokenizer = uint8 tensor (SentencePiece model)
//   names = newline-joined parameter names; t<i> = tensor of names[i]
// It holds the vision encoder and the decoder's base weights; the connector (or patch
// embedding) and LoRA adapters are not in it: every fine-tuning run draws them fresh from its seed.
//
// Fine-tuned state: format = "fedvlm-finetuned", version = 1, config.<key> (finetune_config_fields),
//   strategy, round (string), names (newline-joined trainable set), trainable = the flat vector.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/model/strategy.hpp"

namespace fedvlm::model {

class VisionLanguageModel;

using ConfigFields = std::map<std::string, std::string>;

ConfigFields base_config_fields(const VisionLanguageModel& model);      // what the base weights depend on
ConfigFields finetune_config_fields(const VisionLanguageModel& model);  // + connector and LoRA shape

// `model.base` names a file, or a pretrain run directory holding base.pt.
std::filesystem::path resolve_base_path(const std::string& base);

void save_base_checkpoint(const std::filesystem::path& path, VisionLanguageModel& model,
                          std::span<const std::uint8_t> tokenizer_model);

// Loads the base weights into `model` (on whatever device it lives); `path` may be a pretrain
// run directory (then <path>/base.pt). Throws InputError listing
// every mismatched config key (expected = this model, found = the file), or when
// `expected_tokenizer` is non-empty and differs from the stored one. Returns the stored tokenizer.
std::vector<std::uint8_t> load_base_checkpoint(const std::filesystem::path& path, VisionLanguageModel& model,
                                               std::span<const std::uint8_t> expected_tokenizer = {});

struct FinetunedState {
  Strategy strategy = Strategy::kConnectorLora;
  std::int64_t round = 0;
  std::vector<std::string> names;
  torch::Tensor trainable;  // 1-D, on the requested device
};

void save_finetuned(const std::filesystem::path& path, VisionLanguageModel& model, const TrainableSet& trainable,
                    Strategy strategy, std::int64_t round);
// Reads and checks (config keys) a fine-tuned state; the vector is mapped to `device`.
FinetunedState load_finetuned(const std::filesystem::path& path, const VisionLanguageModel& model,
                              const torch::Device& device = torch::kCPU);
// Applies the state's strategy for its round to `model` and copies the vector in.
TrainableSet restore_finetuned(VisionLanguageModel& model, const FinetunedState& state, std::int64_t stage1_rounds);

}  // namespace fedvlm::model
