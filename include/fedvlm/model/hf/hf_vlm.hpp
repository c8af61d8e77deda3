// A LLaVA model from a Hugging Face directory (LlavaForConditionalGeneration: a CLIP or SigLIP
// vision tower, the two-layer GELU projector, a Llama or Qwen2 language model) as a fedvlm
// VisionLanguageModel, a drop-in for EncoderVlm wherever the trainer uses one:
//
//   parameter group  names                       from the checkpoint
//   vision           vision.<as transformers>    vision_tower.vision_model.* (layers up to the feature layer)
//   connector        connector.{0,2}.{weight,bias}  multi_modal_projector.linear_{1,2}.*
//   decoder          decoder.*                   language_model.* (hf_decoder.hpp)
//   lora             decoder.*.lora_{a,b}        drawn from `seed` as build_model draws them
//
// Both checkpoint layouts load: transformers < 4.52 (vision_tower.*, multi_modal_projector.*,
// language_model.model.*, language_model.lm_head.weight) and 4.52 and later (model.vision_tower.*,
// model.multi_modal_projector.*, model.language_model.*, lm_head.weight).
//
// Sequence layout is fedvlm's: the image's tokens first, then the text (BOS, prompt, answer),
// positions counted from 0 over both — what transformers computes for input_ids that start with
// num_image_tokens() image tokens (image_token_index) and no other image token. Image tokens
// are hidden_states[vision_feature_layer] of the tower, without the class token for
// vision_feature_select_strategy "default" (CLIP), with it for "full"; SigLIP has none.
//
// Images: the trainer's [B, C, H, W] float images in [-1, 1] (collate_images) go through the
// model's image processor inside embed_images (hf_image_processor.hpp), in torch ops, so on the
// model's device.
//
// Loading is all or nothing, as load_hf_decoder_weights: every parameter gets exactly one
// checkpoint tensor of its shape; every checkpoint tensor is used or on the list of tensors
// LLaVA's feature extraction never reads (the tower's post_layernorm, SigLIP's head, encoder
// layers after the feature layer, stored position_ids buffers); anything else — a missing
// tensor, an unknown one, a wrong shape — is an InputError naming the file and the tensor.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "fedvlm/core/config.hpp"
#include "fedvlm/data/samples.hpp"
#include "fedvlm/model/hf/hf_decoder.hpp"
#include "fedvlm/model/hf/hf_vision_config.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::model::hf {

// True when `path` is a directory holding config.json (a Hugging Face model directory).
bool is_hf_model_directory(const std::filesystem::path& path);

// The VLM a LLaVA-layout directory describes, weights loaded (vision tower, projector, language
// model), LoRA adapters from `lora` (initialized as fedvlm initializes them, from `seed`), for
// dataset images of `shape` (the model's processor maps them to the tower's input) and a
// tokenizer of `vocab_size` ids (at most the config's text vocab_size, the model's embedding rows,
// which checkpoints often pad past the tokenizer: InputError otherwise).
// model_config() describes it in fedvlm's terms: preset "hf", base = `directory`, kind "encoder",
// connector "mlp2x_gelu", vision_stem = the tower's model_type, patch_size / vision_dim /
// vision_layers / vision_heads of the tower, vision_select_layer = vision_feature_layer counted
// from the end (-1: the last layer), the decoder keys as decoder_shape gives them (max_seq_len =
// max_position_embeddings), dropout 0. In eval mode, float32, on the CPU. InputError for a
// directory that is not LLaVA's, images the processor cannot bring to the tower's size
// (hf_image_processor.hpp), or image tokens + 3 beyond max_position_embeddings.
std::shared_ptr<VisionLanguageModel> load_hf_vlm(const std::filesystem::path& directory, const LoraConfig& lora,
                                                 const data::ImageShape& shape, std::int64_t vocab_size,
                                                 std::uint64_t seed);

// Every parameter of that model (named as its named_parameters, in that order) and the
// checkpoint tensor it came from (LoRA adapters excluded), for exporting results back in
// Hugging Face names. Reads config.json and the safetensors headers, no weights.
std::vector<HfTensorMapping> hf_vlm_mapping(const std::filesystem::path& directory);

// A LLaVA-style model composed of two Hugging Face directories, as LLaVA's training scripts
// compose one before their stage 1 (model.vision_tower + model.base):
//   vision      the tower of `vision_tower`: a CLIPVisionModel or SiglipVisionModel directory, or
//               the vision half of a CLIPModel or SiglipModel one (openai/clip-vit-large-patch14-336,
//               google/siglip-so400m-patch14-384), its image processor included;
//   connector   `connector` (linear, mlp2x_gelu, mlp6x_gelu), drawn from `seed` as build_model
//               draws it, or read from `projector`: a safetensors file of exactly its parameters
//               named model.mm_projector.<i>.<weight|bias> (LLaVA's stage-1 projector; the
//               mm_projector.safetensors of fedvlm's export);
//   decoder     the language model of `decoder`: a Llama or Qwen2 *ForCausalLM directory.
// Image tokens are hidden_states[vision_select_layer] (-1: the last layer, -2: LLaVA's
// second-to-last), without CLIP's class token; SigLIP has none, so each patch is a token. The
// HfLlavaConfig it amounts to: read_hf_tower_and_decoder_config. model_config() is as
// load_hf_vlm's, with base = `decoder`, vision_tower = `vision_tower` and connector = `connector`.
// InputError for: a LLaVA directory on either side, a vision_select_layer outside -1 ..
// -num_hidden_layers, an unknown connector, a projector file with a tensor missing, unknown or
// misshapen, and everything load_hf_vlm refuses.
HfLlavaConfig read_hf_tower_and_decoder_config(const std::filesystem::path& vision_tower,
                                              const std::filesystem::path& decoder, std::int64_t vision_select_layer);
std::shared_ptr<VisionLanguageModel> load_hf_tower_and_decoder(const std::filesystem::path& vision_tower,
                                                               const std::filesystem::path& decoder,
                                                               const std::string& connector,
                                                               std::int64_t vision_select_layer, const LoraConfig& lora,
                                                               const data::ImageShape& shape, std::int64_t vocab_size,
                                                               std::uint64_t seed, const std::filesystem::path& projector = {});
// The decoder parameters of such a model ("decoder.<name>") and their tensors in `decoder`: what
// a PEFT adapter for that language model is named by. The tower and the connector are not in it.
std::vector<HfTensorMapping> hf_decoder_model_mapping(const std::filesystem::path& decoder);

}  // namespace fedvlm::model::hf
