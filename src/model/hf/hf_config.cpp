#include "fedvlm/model/hf/hf_config.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "hf_json_fields.hpp"

namespace fedvlm::model::hf {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Class defaults of transformers' LlamaConfig and Qwen2Config (4.4x; 5.x keeps them).
struct Defaults {
  std::int64_t vocab_size, hidden_size, intermediate_size, num_hidden_layers, num_attention_heads;
  std::int64_t max_position_embeddings;
};
constexpr Defaults kLlama{32000, 4096, 11008, 32, 32, 2048};
constexpr Defaults kQwen2{151936, 4096, 22016, 32, 32, 32768};
constexpr double kRmsNormEps = 1e-6;     // both
constexpr double kRopeTheta = 10000.0;   // both
constexpr std::int64_t kQwen2KeyValueHeads = 32;  // Qwen2Config's default; None means num_attention_heads

// rope_scaling (4.x) or rope_parameters (5.x): "default" or "llama3"; anything else refused.
std::optional<HfLlama3RopeScaling> read_rope_scaling(const json& object, const fs::path& file,
                                                     const std::string& prefix) {
  const Fields rope(object, file, prefix, nullptr);
  // transformers' backward compatibility: "rope_type" was first called "type".
  const std::string type_key = object.contains("rope_type") || !object.contains("type") ? "rope_type" : "type";
  const std::string type = rope.string(type_key, "default");
  if (type == "default") return std::nullopt;
  if (type != "llama3") {
    rope.fail(type_key, type, "fedvlm's decoder implements the rotary types \"default\" and \"llama3\" only");
  }
  HfLlama3RopeScaling scaling;
  const char* why = "required by rope_type \"llama3\"";
  for (const char* key : {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
    if (rope.find(key, true) == nullptr) rope.missing(key, why);
  }
  scaling.factor = rope.positive_number("factor", 0.0);
  scaling.low_freq_factor = rope.positive_number("low_freq_factor", 0.0);
  scaling.high_freq_factor = rope.positive_number("high_freq_factor", 0.0);
  scaling.original_max_position_embeddings = rope.positive_integer("original_max_position_embeddings", 0);
  if (scaling.high_freq_factor <= scaling.low_freq_factor) {
    rope.fail("high_freq_factor", scaling.high_freq_factor,
              fmt::format("must be greater than low_freq_factor ({})", scaling.low_freq_factor));
  }
  return scaling;
}

void read_text_fields(const json& text, HfTextConfig& config) {
  const Fields fields(text, config.file, config.key_prefix, &config.defaulted);
  const bool qwen2 = config.text_model_type == "qwen2";
  const Defaults& defaults = qwen2 ? kQwen2 : kLlama;
  config.vocab_size = fields.positive_integer("vocab_size", defaults.vocab_size);
  config.hidden_size = fields.positive_integer("hidden_size", defaults.hidden_size);
  config.intermediate_size = fields.positive_integer("intermediate_size", defaults.intermediate_size);
  config.num_hidden_layers = fields.positive_integer("num_hidden_layers", defaults.num_hidden_layers);
  config.num_attention_heads = fields.positive_integer("num_attention_heads", defaults.num_attention_heads);
  // Absent: the class default (Qwen2: 32); null: as many as the query heads (both classes).
  const bool kv_null = text.contains("num_key_value_heads") && text["num_key_value_heads"].is_null();
  config.num_key_value_heads =
      kv_null ? config.num_attention_heads
              : fields.positive_integer("num_key_value_heads", qwen2 ? kQwen2KeyValueHeads : config.num_attention_heads);
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    fields.fail("num_key_value_heads", config.num_key_value_heads,
                fmt::format("must divide num_attention_heads ({})", config.num_attention_heads));
  }
  if (fields.find("head_dim", true) != nullptr) {
    config.head_dim = fields.positive_integer("head_dim", 0, true);
  } else {
    if (config.hidden_size % config.num_attention_heads != 0) {
      fields.fail("hidden_size", config.hidden_size,
                  fmt::format("is not a multiple of num_attention_heads ({}) and head_dim is not given",
                              config.num_attention_heads));
    }
    config.head_dim = fields.positive_integer("head_dim", config.hidden_size / config.num_attention_heads, true);
  }
  config.max_position_embeddings = fields.positive_integer("max_position_embeddings", defaults.max_position_embeddings);
  config.rms_norm_eps = fields.positive_number("rms_norm_eps", kRmsNormEps);
  config.tie_word_embeddings = fields.boolean("tie_word_embeddings", false);

  config.hidden_act = fields.string("hidden_act", "silu");
  if (config.hidden_act != "silu") fields.fail("hidden_act", config.hidden_act, "fedvlm's SwiGLU uses \"silu\" only");
  if (const json* partial = fields.find("partial_rotary_factor", true);
      partial != nullptr && !(partial->is_number() && partial->get<double>() == 1.0)) {
    fields.fail("partial_rotary_factor", *partial, "fedvlm's rotary embedding covers the whole head (1.0) only");
  }

  // Rotary: rope_theta + rope_scaling (transformers 4.x) or rope_parameters (5.x, holding both).
  if (const json* parameters = fields.find("rope_parameters", true)) {
    if (!parameters->is_object()) fields.fail("rope_parameters", *parameters, "expected an object or null");
    const std::string prefix = config.key_prefix + "rope_parameters.";
    const Fields rope(*parameters, config.file, prefix, &config.defaulted);
    config.rope_theta = rope.positive_number("rope_theta", fields.positive_number("rope_theta", kRopeTheta));
    config.rope_scaling = read_rope_scaling(*parameters, config.file, prefix);
  } else {
    config.rope_theta = fields.positive_number("rope_theta", kRopeTheta);
    if (const json* scaling = fields.find("rope_scaling", true)) {
      if (!scaling->is_object()) fields.fail("rope_scaling", *scaling, "expected an object or null");
      config.rope_scaling = read_rope_scaling(*scaling, config.file, config.key_prefix + "rope_scaling.");
    }
  }

  if (qwen2) {  // Qwen2Attention: q, k, v with biases, o without; Qwen2MLP without
    config.qkv_bias = true;
    if (fields.boolean("use_sliding_window", false)) {
      fields.fail("use_sliding_window", true, "fedvlm's decoder has no sliding-window attention");
    }
    if (const json* types = fields.find("layer_types", true)) {
      if (!types->is_array()) fields.fail("layer_types", *types, "expected a list");
      for (const json& type : *types) {
        if (type != "full_attention") fields.fail("layer_types", *types, "fedvlm's decoder has full attention only");
      }
    }
  } else {  // LlamaAttention: attention_bias on q, k, v and o; LlamaMLP: mlp_bias on all three
    config.qkv_bias = config.output_bias = fields.boolean("attention_bias", false);
    config.mlp_bias = fields.boolean("mlp_bias", false);
  }
  // transformers 5.x writes "dtype". Informative only: loading converts the stored tensors' own types.
  const Fields quiet(text, config.file, config.key_prefix, nullptr);
  for (const char* key : {"torch_dtype", "dtype"}) {
    if (quiet.find(key, true) != nullptr) {
      config.torch_dtype = quiet.string(key, "", true);
      break;
    }
  }
}

}  // namespace

HfTextConfig parse_hf_text_config(std::string_view json_text, const std::filesystem::path& file) {
  const json root = parse_json_object(json_text, file);
  HfTextConfig config;
  config.file = file;
  const Fields top(root, config.file, "", nullptr);
  if (top.find("model_type", false) == nullptr) {
    top.missing("model_type", "it names the architecture (llama, qwen2 or llava)");
  }
  config.model_type = top.string("model_type", "");
  const json* text = &root;
  if (config.model_type == "llava") {
    text = top.find("text_config", true);
    if (text == nullptr) top.missing("text_config", "a LLaVA config describes its language model there");
    if (!text->is_object()) top.fail("text_config", *text, "expected an object");
    config.key_prefix = "text_config.";
    // LlavaConfig: a text_config without model_type is a Llama.
    config.text_model_type = Fields(*text, config.file, config.key_prefix, &config.defaulted).string("model_type", "llama");
    if (config.text_model_type != "llama" && config.text_model_type != "qwen2") {
      Fields(*text, config.file, config.key_prefix, nullptr)
          .fail("model_type", config.text_model_type, "fedvlm loads llama and qwen2 language models");
    }
  } else if (config.model_type == "llama" || config.model_type == "qwen2") {
    config.text_model_type = config.model_type;
  } else {
    top.fail("model_type", config.model_type, "fedvlm loads llama, qwen2 and llava (its language model)");
  }
  read_text_fields(*text, config);
  return config;
}

HfTextConfig read_hf_text_config(const std::filesystem::path& path) {
  const fs::path file = path.extension() == ".json" ? path : path / "config.json";
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read the model's config.json", file.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_hf_text_config(text.str(), file);
}

}  // namespace fedvlm::model::hf
