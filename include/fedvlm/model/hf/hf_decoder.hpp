// fedvlm's LLaMA-style decoder from a Hugging Face model directory: LlamaForCausalLM (Llama 2/3,
// llama3 rope scaling), Qwen2ForCausalLM (q/k/v biases), or the language model of a
// LlavaForConditionalGeneration; tied or untied embeddings; F32/F16/BF16 weights converted to the
// decoder's type.
//
//   auto loaded = hf::load_hf_decoder("/models/Llama-3.2-1B");       // config + weights
//   torch::Tensor logits = loaded.decoder->head(loaded.decoder->hidden(
//       loaded.decoder->embed(tokens), positions, {}));
//
// or, into a decoder built elsewhere from decoder_shape(config): load_hf_decoder_weights.
// Loading is all or nothing: every decoder parameter must get exactly one checkpoint tensor of
// its shape, and every checkpoint tensor of the language model must be used; a missing tensor,
// an unknown one or a wrong shape is an InputError naming the file and the tensor, raised before
// any parameter is written. LoRA adapters (lora_a, lora_b) are not in checkpoints and are left
// as they are.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/model/decoder.hpp"
#include "fedvlm/model/hf/hf_config.hpp"
#include "fedvlm/model/hf/safetensors.hpp"

namespace fedvlm::model::hf {

// The decoder a config describes: ModelConfig's decoder keys (dim, layers, heads, kv_heads,
// ffn_dim, max_seq_len = max_position_embeddings, rope_theta, norm_eps, tie_embeddings; no
// dropout; the vision keys left at their defaults), what ModelConfig cannot say (DecoderVariant:
// biases, head_dim, llama3 scaling), and the vocabulary size.
struct HfDecoderShape {
  ModelConfig model;
  DecoderVariant variant;
  std::int64_t vocab_size = 0;
};
HfDecoderShape decoder_shape(const HfTextConfig& config);

// Where a checkpoint keeps the language model's tensors.
struct HfDecoderLayout {
  std::string model_prefix;  // "model." | "language_model.model." | "model.language_model."
  std::string head_name;     // "lm_head.weight" | "language_model.lm_head.weight"
  // Names that belong to the language model (every name for a *ForCausalLM checkpoint).
  std::vector<std::string> owned_prefixes;
};
// *ForCausalLM: model.* and lm_head.weight. LLaVA: language_model.model.* and
// language_model.lm_head.weight as transformers < 4.52 saves it (most of the Hub), or
// model.language_model.* and lm_head.weight as 4.52 and later save it.
HfDecoderLayout decoder_layout(const HfTextConfig& config, const SafetensorsCheckpoint& checkpoint);

// One decoder parameter and the checkpoint tensor that holds it.
struct HfTensorMapping {
  std::string checkpoint_name;  // "model.layers.0.self_attn.q_proj.weight"
  std::string parameter_name;   // "layers.0.attention.q.base.weight" (as Decoder::named_parameters)
};
// In the decoder's parameter order; lm_head only when the embeddings are not tied.
std::vector<HfTensorMapping> decoder_mapping(const HfTextConfig& config, const HfDecoderLayout& layout);

// Copies the checkpoint's language-model tensors into `decoder` (built from decoder_shape(config),
// with or without LoRA adapters, of any floating type), converting each to the parameter's type.
void load_hf_decoder_weights(Decoder& decoder, const HfTextConfig& config, const SafetensorsCheckpoint& checkpoint);

struct HfDecoderOptions {
  LoraConfig lora{0, 0.0, 0.0, {}};  // no adapters unless asked
  torch::Dtype dtype = torch::kFloat32;
};

struct HfDecoder {
  HfTextConfig config;
  HfDecoderShape shape;
  Decoder decoder{nullptr};  // in eval mode, on the CPU
};

// read_hf_text_config + decoder_shape + a new Decoder + load_hf_decoder_weights.
HfDecoder load_hf_decoder(const std::filesystem::path& directory, const HfDecoderOptions& options = {});

}  // namespace fedvlm::model::hf
