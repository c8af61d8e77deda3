// Checkpoints: one torch::serialize archive (zip) per file, written atomically.
//
// Base checkpoint (`fedvlm pretrain` -> <run>/base.pt):
//   format = "fedvlm-base", version = 1
//   config.<key> = value (strings, base_config_fields)   tokenizer = uint8 tensor (SentencePiece model)
//   names = newline-joined parameter names; t<i> = tensor of names[i]
// It holds the vision encoder and the decoder's base weights. The connector (or patch embedding)
// is in it only when pretraining trained it (pretrain.caption_steps; an encoder-based base then
// also records config.model.connector); otherwise every fine-tuning run draws it fresh from its
// seed, as it always draws the LoRA adapters.
//
// Fine-tuned values live in run checkpoints (sim/checkpoint.hpp), which record
// finetune_config_fields among their fingerprints.
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

// `with_connector`: also store the connector (or patch embedding) group.
void save_base_checkpoint(const std::filesystem::path& path, VisionLanguageModel& model,
                          std::span<const std::uint8_t> tokenizer_model, bool with_connector = false);

// Whether the base at `path` (file or pretrain run directory) holds a connector or patch embedding.
bool base_holds_connector(const std::filesystem::path& path);

// Loads the base weights into `model` (on whatever device it lives); `path` may be a pretrain
// run directory (then <path>/base.pt). Throws InputError listing
// every mismatched config key (expected = this model, found = the file), when the base holds a
// connector of another model.connector than this model's, or when `expected_tokenizer` is
// non-empty and differs from the stored one. Returns the stored tokenizer.
std::vector<std::uint8_t> load_base_checkpoint(const std::filesystem::path& path, VisionLanguageModel& model,
                                               std::span<const std::uint8_t> expected_tokenizer = {});

}  // namespace fedvlm::model
