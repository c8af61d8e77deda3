#include "fedvlm/model/hf/hf_decoder.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/torch_rng.hpp"
#include "fedvlm/model/hf/safetensors_torch.hpp"
#include "hf_tensor_loading.hpp"

namespace fedvlm::model::hf {

namespace {

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

bool is_lora(const std::string& parameter_name) {
  return parameter_name.ends_with(".lora_a") || parameter_name.ends_with(".lora_b");
}

// Older transformers saved each layer's rotary inverse frequencies as a buffer; they follow from
// the config, and transformers ignores them on load too.
bool is_derived_buffer(const std::string& name) { return name.ends_with(".rotary_emb.inv_freq"); }


std::string shape_of(const torch::Tensor& tensor) {
  const auto sizes = tensor.sizes();
  return shape_string(std::vector<std::int64_t>(sizes.begin(), sizes.end()));
}

}  // namespace

HfDecoderShape decoder_shape(const HfTextConfig& config) {
  HfDecoderShape shape;
  ModelConfig& model = shape.model;
  model.dim = config.hidden_size;
  model.layers = config.num_hidden_layers;
  model.heads = config.num_attention_heads;
  model.kv_heads = config.num_key_value_heads;
  model.ffn_dim = config.intermediate_size;
  model.max_seq_len = config.max_position_embeddings;
  model.rope_theta = config.rope_theta;
  model.norm_eps = config.rms_norm_eps;
  model.tie_embeddings = config.tie_word_embeddings;
  model.dropout = 0.0;
  DecoderVariant& variant = shape.variant;
  variant.head_dim = config.head_dim == config.hidden_size / config.num_attention_heads ? 0 : config.head_dim;
  variant.qkv_bias = config.qkv_bias;
  variant.output_bias = config.output_bias;
  variant.mlp_bias = config.mlp_bias;
  if (config.rope_scaling) {
    const HfLlama3RopeScaling& s = *config.rope_scaling;
    variant.rope_scaling = Llama3RopeScaling{s.factor, s.low_freq_factor, s.high_freq_factor,
                                             static_cast<double>(s.original_max_position_embeddings)};
  }
  shape.vocab_size = config.vocab_size;
  return shape;
}

HfDecoderLayout decoder_layout(const HfTextConfig& config, const SafetensorsCheckpoint& checkpoint) {
  if (config.model_type != "llava") return {"model.", "lm_head.weight", {""}};
  const std::vector<std::string> names = checkpoint.names();
  const bool new_layout = std::any_of(names.begin(), names.end(),
                                      [](const std::string& name) { return starts_with(name, "model.language_model."); });
  if (new_layout) return {"model.language_model.", "lm_head.weight", {"model.language_model.", "lm_head."}};
  return {"language_model.model.", "language_model.lm_head.weight", {"language_model."}};
}

std::vector<HfTensorMapping> decoder_mapping(const HfTextConfig& config, const HfDecoderLayout& layout) {
  std::vector<HfTensorMapping> mapping;
  const std::string& prefix = layout.model_prefix;
  mapping.push_back({prefix + "embed_tokens.weight", "embedding.weight"});
  auto linear = [&](const std::string& hf, const std::string& ours, bool bias) {
    mapping.push_back({hf + ".weight", ours + ".base.weight"});
    if (bias) mapping.push_back({hf + ".bias", ours + ".base.bias"});
  };
  for (std::int64_t i = 0; i < config.num_hidden_layers; ++i) {
    const std::string hf = fmt::format("{}layers.{}.", prefix, i), ours = fmt::format("layers.{}.", i);
    mapping.push_back({hf + "input_layernorm.weight", ours + "attention_norm.weight"});
    for (const char* p : {"q", "k", "v"}) linear(fmt::format("{}self_attn.{}_proj", hf, p), ours + "attention." + p, config.qkv_bias);
    linear(hf + "self_attn.o_proj", ours + "attention.o", config.output_bias);
    mapping.push_back({hf + "post_attention_layernorm.weight", ours + "ffn_norm.weight"});
    for (const char* p : {"gate", "up", "down"}) linear(fmt::format("{}mlp.{}_proj", hf, p), ours + "ffn." + p, config.mlp_bias);
  }
  mapping.push_back({prefix + "norm.weight", "norm.weight"});
  if (!config.tie_word_embeddings) mapping.push_back({layout.head_name, "lm_head.weight"});
  return mapping;
}

void load_hf_decoder_weights(Decoder& decoder, const HfTextConfig& config, const SafetensorsCheckpoint& checkpoint) {
  const HfDecoderLayout layout = decoder_layout(config, checkpoint);
  const std::vector<HfTensorMapping> mapping = decoder_mapping(config, layout);
  const std::string where = checkpoint.path().string();

  // The decoder must be the one the config describes: exactly the mapped parameters (+ LoRA).
  std::map<std::string, torch::Tensor> parameters;
  for (const auto& item : decoder->named_parameters()) {
    if (!is_lora(item.key())) parameters.emplace(item.key(), item.value());
  }
  std::set<std::string> mapped;
  for (const HfTensorMapping& m : mapping) {
    FEDVLM_CHECK(parameters.count(m.parameter_name) == 1, "{}: the decoder has no parameter {} for {} (not built from {})",
                 where, m.parameter_name, m.checkpoint_name, config.file.string());
    mapped.insert(m.parameter_name);
  }
  for (const auto& [name, tensor] : parameters) {
    FEDVLM_CHECK(mapped.count(name) == 1, "{}: decoder parameter {} has no checkpoint tensor (not built from {})", where,
                 name, config.file.string());
  }

  // Coverage of the checkpoint: nothing the language model needs is missing, nothing of it is left over.
  std::set<std::string> wanted;
  std::vector<std::string> missing, unknown;
  for (const HfTensorMapping& m : mapping) {
    wanted.insert(m.checkpoint_name);
    if (!checkpoint.contains(m.checkpoint_name)) missing.push_back(m.checkpoint_name);
  }
  const std::string embedding_name = layout.model_prefix + "embed_tokens.weight";
  bool tied_head_stored = false;
  for (const std::string& name : checkpoint.names()) {
    const bool owned = std::any_of(layout.owned_prefixes.begin(), layout.owned_prefixes.end(),
                                   [&](const std::string& prefix) { return starts_with(name, prefix); });
    if (!owned || wanted.count(name) || is_derived_buffer(name)) continue;
    if (config.tie_word_embeddings && name == layout.head_name) {
      tied_head_stored = true;  // allowed when it is the embedding's copy (checked below)
      continue;
    }
    unknown.push_back(name);
  }
  const std::string config_name = config.file.string();
  if (!missing.empty()) {
    throw InputError(fmt::format("{}: {} tensor(s) that {} ({} {}) needs are missing: {}", where, missing.size(),
                                 config_name, config.text_model_type,
                                 config.tie_word_embeddings ? "tied" : "untied", some_names(missing)));
  }
  if (!unknown.empty()) {
    throw InputError(fmt::format("{}: {} tensor(s) are not part of the {} decoder that {} describes: {}", where,
                                 unknown.size(), config.text_model_type, config_name, some_names(unknown)));
  }
  for (const HfTensorMapping& m : mapping) {
    const SafetensorsEntry& entry = checkpoint.entry(m.checkpoint_name);
    const torch::Tensor& parameter = parameters.at(m.parameter_name);
    const auto sizes = parameter.sizes();
    if (entry.shape != std::vector<std::int64_t>(sizes.begin(), sizes.end())) {
      throw InputError(fmt::format("{}: tensor {} has shape {}, but {} needs {}", checkpoint.file_of(m.checkpoint_name).path().string(),
                                   m.checkpoint_name, shape_string(entry.shape), config_name, shape_of(parameter)));
    }
    const SafetensorsDtype type = entry.dtype;
    if (type != SafetensorsDtype::F32 && type != SafetensorsDtype::F16 && type != SafetensorsDtype::BF16 &&
        type != SafetensorsDtype::F64) {
      throw InputError(fmt::format("{}: tensor {} is stored as {}; weights must be F32, F16, BF16 or F64",
                                   checkpoint.file_of(m.checkpoint_name).path().string(), m.checkpoint_name,
                                   dtype_name(type)));
    }
  }
  if (tied_head_stored) {  // transformers ties the head to the embedding and drops a stored copy
    const SafetensorsEntry& head = checkpoint.entry(layout.head_name);
    if (head.shape != checkpoint.entry(embedding_name).shape ||
        !torch::equal(to_tensor(checkpoint, layout.head_name), to_tensor(checkpoint, embedding_name))) {
      throw InputError(fmt::format("{}: tensor {} differs from {}, but {} ties them (tie_word_embeddings)", where,
                                   layout.head_name, embedding_name, config_name));
    }
  }

  torch::NoGradGuard no_grad;
  for (const HfTensorMapping& m : mapping) {
    torch::Tensor& parameter = parameters.at(m.parameter_name);
    parameter.copy_(to_tensor(checkpoint, m.checkpoint_name).to(parameter.dtype()));
  }
}

HfDecoder load_hf_decoder(const std::filesystem::path& directory, const HfDecoderOptions& options) {
  HfDecoder loaded;
  loaded.config = read_hf_text_config(directory);
  loaded.shape = decoder_shape(loaded.config);
  const SafetensorsCheckpoint checkpoint(directory);
  auto state = std::make_shared<ForwardState>(ForwardState{torch_generator({0, "dropout", 0, 0})});
  loaded.decoder = Decoder(loaded.shape.model, options.lora, loaded.shape.vocab_size, state, loaded.shape.variant);
  loaded.decoder->to(options.dtype);
  load_hf_decoder_weights(loaded.decoder, loaded.config, checkpoint);
  loaded.decoder->eval();
  return loaded;
}

}  // namespace fedvlm::model::hf
