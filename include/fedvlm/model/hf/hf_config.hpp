// The language model of a Hugging Face model directory, as its config.json describes it: a
// LlamaForCausalLM (Llama 2/3), a Qwen2ForCausalLM, or the text_config of a
// LlavaForConditionalGeneration. Plain values, no LibTorch: model/hf/hf_decoder.hpp builds and
// loads fedvlm's decoder from it.
//
// Keys and defaults are transformers' (LlamaConfig, Qwen2Config, modeling_rope_utils.py): a key
// the file leaves out takes the class default, as AutoConfig gives it (LLaVA 1.5's text_config,
// for one, names only a few keys and relies on LlamaConfig's 7B defaults); `defaulted` lists
// them. A value of the wrong type or out of range, an architecture other than these, or a
// feature fedvlm's decoder lacks (another rope_type, sliding-window attention, an activation
// other than SiLU, partial rotary) is an InputError naming the file, the key and the value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fedvlm::model::hf {

// rope_scaling with rope_type (or the older key `type`) "llama3".
struct HfLlama3RopeScaling {
  double factor = 0.0;
  double low_freq_factor = 0.0;
  double high_freq_factor = 0.0;
  std::int64_t original_max_position_embeddings = 0;
};

struct HfTextConfig {
  std::filesystem::path file;  // the config.json read
  std::string model_type;      // of the whole model: "llama", "qwen2" or "llava"
  std::string text_model_type;  // of its language model: "llama" or "qwen2"
  std::string key_prefix;       // "" or "text_config." (for messages)

  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_hidden_layers = 0;
  std::int64_t num_attention_heads = 0;
  std::int64_t num_key_value_heads = 0;  // Llama: default num_attention_heads; Qwen2: default 32
  std::int64_t head_dim = 0;             // default hidden_size / num_attention_heads
  std::int64_t max_position_embeddings = 0;
  double rms_norm_eps = 0.0;
  double rope_theta = 0.0;
  std::optional<HfLlama3RopeScaling> rope_scaling;  // nullopt: plain rotary ("default")
  bool tie_word_embeddings = false;  // of the language model (LLaVA: text_config's)
  bool qkv_bias = false;             // Qwen2 always; Llama: attention_bias
  bool output_bias = false;          // Llama: attention_bias (o_proj)
  bool mlp_bias = false;             // Llama: mlp_bias
  std::string hidden_act;            // always "silu" (anything else is refused)
  std::string torch_dtype;           // as written ("bfloat16", ...); "" when absent

  std::vector<std::string> defaulted;  // keys absent from the file (with key_prefix)
};

// Reads `<path>/config.json`, or `path` itself when it names a .json file.
HfTextConfig read_hf_text_config(const std::filesystem::path& path);
// The same from the JSON text; `file` only names it in errors.
HfTextConfig parse_hf_text_config(std::string_view json_text, const std::filesystem::path& file);

}  // namespace fedvlm::model::hf
