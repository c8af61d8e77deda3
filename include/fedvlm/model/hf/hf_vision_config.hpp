// The vision half of a Hugging Face model directory's config.json: a CLIPVisionModel or
// SiglipVisionModel config, the vision_config of a CLIPModel or SiglipModel (the dual encoders
// LLaVA-style models take their tower from: openai/clip-vit-large-patch14-336,
// google/siglip-so400m-patch14-384), or a LlavaForConditionalGeneration's vision_config plus the
// keys that say how LLaVA turns the tower's output into image tokens. Plain values, no LibTorch.
//
// Keys and defaults are transformers' (CLIPVisionConfig, SiglipVisionConfig, LlavaConfig): a
// LLaVA config without vision_config gets LlavaConfig's CLIP ViT-L/14-336, one without
// model_type in vision_config a CLIP tower; `defaulted` lists every key left out. A value of the
// wrong type or out of range, or a feature fedvlm does not implement (several feature layers,
// an activation other than quick_gelu / gelu / gelu_pytorch_tanh, a projector without biases or
// with another activation) is an InputError naming the file, the key and the value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fedvlm/model/hf/hf_config.hpp"

namespace fedvlm::model::hf {

struct HfVisionConfig {
  std::filesystem::path file;  // the config.json read
  std::string model_type;      // "clip_vision_model" or "siglip_vision_model"
  std::string key_prefix;      // "" or "vision_config." (for messages)
  // The config.json's own model_type: model_type above for a vision-only directory, else "clip",
  // "siglip" (a dual encoder: its text tower's tensors are not the vision tower's) or "llava".
  std::string directory_type;

  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_channels = 0;
  std::int64_t image_size = 0;
  std::int64_t patch_size = 0;
  double layer_norm_eps = 0.0;
  std::string hidden_act;  // "quick_gelu", "gelu", "gelu_pytorch_tanh" (or its alias "gelu_new")

  std::vector<std::string> defaulted;  // keys absent from the file (with key_prefix)

  bool clip() const { return model_type == "clip_vision_model"; }
  // CLIP prepends a class token and normalizes before the encoder (pre_layrnorm); SigLIP neither.
  bool class_token() const { return clip(); }
  std::int64_t num_patches() const { return (image_size / patch_size) * (image_size / patch_size); }
};

struct HfLlavaConfig {
  HfTextConfig text;
  HfVisionConfig vision;
  // Index into the tower's hidden_states (num_hidden_layers + 1 entries: the embeddings, then
  // each layer's output); negative counts from the end. -2 (the default): the second-to-last layer.
  std::int64_t vision_feature_layer = -2;
  std::string vision_feature_select_strategy = "default";  // "default" drops the class token, "full" keeps it
  std::string projector_hidden_act = "gelu";                // only "gelu" (exact) is accepted
  std::int64_t image_token_index = 32000;
  bool multimodal_projector_bias = true;                    // only true is accepted

  // vision_feature_layer as a count of encoder layers run: 0 .. num_hidden_layers.
  std::int64_t vision_layers_used() const;
  // Image tokens per image: patches, plus the class token with "full" on a CLIP tower.
  std::int64_t num_image_tokens() const;
};

// Reads `<path>/config.json` (or `path` itself when it names a .json file) of a CLIPVisionModel,
// a SiglipVisionModel, or (its vision_config) a CLIPModel, a SiglipModel or a LLaVA model.
HfVisionConfig read_hf_vision_config(const std::filesystem::path& path);
HfVisionConfig parse_hf_vision_config(std::string_view json_text, const std::filesystem::path& file);

// The whole of a LLaVA config.json: text_config (read_hf_text_config), vision_config and the
// LLaVA keys. Any other model_type is an InputError.
HfLlavaConfig read_hf_llava_config(const std::filesystem::path& path);
HfLlavaConfig parse_hf_llava_config(std::string_view json_text, const std::filesystem::path& file);

}  // namespace fedvlm::model::hf
