// Hugging Face decoders: logits of fedvlm's decoder loaded from tiny checkpoints written by
// tools/hf_checkpoint.py equal those of tools/hf_reference.py (the transformers forward pass in
// numpy); coverage, shape and config errors name the file and the tensor or key.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/model/hf/hf_config.hpp"
#include "fedvlm/model/hf/hf_decoder.hpp"
#include "fedvlm/model/hf/safetensors_torch.hpp"
#include "model/hf_test_support.hpp"
#include "support/input_error.hpp"

namespace fedvlm::model::hf {
namespace {

namespace fs = std::filesystem;
using test_support::input_error;

constexpr double kTolerance = 1e-4;  // max |fedvlm - reference| of fp32 logits
// hf_checkpoint.py draws weights N(0, 0.02): attention would be nearly uniform and rotary
// mistakes invisible at 1e-4. Scaled to N(0, 0.3), attention is sharp and logits are O(1).
constexpr double kWeightScale = 15.0;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// Every tensor of one safetensors file, in name order, with its stored type.
NamedTensors read_all(const fs::path& file) {
  const SafetensorsFile reader(file);
  NamedTensors tensors;
  for (const SafetensorsEntry& entry : reader.entries()) tensors.emplace_back(entry.name, to_tensor(reader, entry));
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return tensors;
}

void rewrite(const fs::path& file, const NamedTensors& tensors) {
  write_safetensors(file, tensors, {{"format", "pt"}});
}

class HfDecoderTest : public testing::HfScratchTest {
 protected:
  // A tiny checkpoint from tools/hf_checkpoint.py with its non-norm weights scaled by kWeightScale
  // (norm gains stay near 1), kept in the stored type.
  fs::path checkpoint(const std::string& name, const std::string& arguments) {
    const fs::path out = write_hf_checkpoint(name, arguments);
    for (const auto& item : fs::directory_iterator(out)) {
      if (item.path().extension() != ".safetensors") continue;
      NamedTensors tensors = read_all(item.path());
      for (auto& [tensor_name, tensor] : tensors) {
        if (!tensor_name.ends_with("norm.weight")) tensor = (tensor.to(torch::kFloat32) * kWeightScale).to(tensor.scalar_type());
      }
      rewrite(item.path(), tensors);
    }
    return out;
  }

  // [B, T, vocab] from tools/hf_reference.py.
  torch::Tensor reference_logits(const fs::path& model, const std::vector<std::vector<std::int64_t>>& sequences) {
    std::string arguments;
    for (const auto& tokens : sequences) arguments += fmt::format(" --tokens {}", fmt::join(tokens, ","));
    const fs::path out = dir_ / "reference.json";
    const std::string command = fmt::format("/usr/bin/python3 '{}/tools/hf_reference.py' '{}'{} --out '{}'",
                                            FEDVLM_SOURCE_DIR, model.string(), arguments, out.string());
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    const auto logits = nlohmann::json::parse(read_file(out))["logits"];
    std::vector<double> values;
    for (const auto& row : logits)
      for (const auto& position : row)
        for (const auto& value : position) values.push_back(value.get<double>());
    const auto batch = static_cast<std::int64_t>(sequences.size()), length = static_cast<std::int64_t>(sequences[0].size());
    return torch::tensor(values, torch::kFloat64).view({batch, length, -1});
  }

  static torch::Tensor fedvlm_logits(Decoder& decoder, const std::vector<std::vector<std::int64_t>>& sequences) {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> rows;
    for (const auto& tokens : sequences) rows.push_back(torch::tensor(tokens, torch::kInt64));
    const torch::Tensor tokens = torch::stack(rows);
    const torch::Tensor positions = torch::arange(tokens.size(1), torch::kInt64).unsqueeze(0).expand_as(tokens);
    return decoder->head(decoder->hidden(decoder->embed(tokens), positions, {})).to(torch::kFloat64);
  }

  static double max_difference(const torch::Tensor& a, const torch::Tensor& b) {
    return (a - b).abs().max().item<double>();
  }

  // Loads `model`, compares its logits on two sequences with the reference, returns the decoder.
  HfDecoder expect_parity(const fs::path& model) {
    const std::vector<std::vector<std::int64_t>> sequences = {{1, 5, 9, 100, 17, 3, 64, 127, 8, 8, 42, 0, 77, 2, 31, 90},
                                                              {2, 2, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59}};
    HfDecoder loaded = load_hf_decoder(model);
    const torch::Tensor ours = fedvlm_logits(loaded.decoder, sequences);
    const torch::Tensor reference = reference_logits(model, sequences);
    EXPECT_EQ(ours.sizes(), reference.sizes());
    EXPECT_GT(reference.abs().max().item<double>(), 0.5) << "logits too small to compare meaningfully";
    EXPECT_LE(max_difference(ours, reference), kTolerance) << model;
    reference_ = reference;
    sequences_ = sequences;
    return loaded;
  }

  torch::Tensor reference_;
  std::vector<std::vector<std::int64_t>> sequences_;
};

#define REQUIRE_NUMPY()                                                              \
  if (!have_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not installed"

// ----- parity with the numpy reference -----

TEST_F(HfDecoderTest, LlamaUntiedMatchesReference) {
  REQUIRE_NUMPY();
  const HfDecoder loaded = expect_parity(checkpoint("llama", "llama --seed 1"));
  EXPECT_FALSE(loaded.shape.model.tie_embeddings);
  EXPECT_TRUE(loaded.decoder->lm_head);
  EXPECT_EQ(loaded.shape.model.max_seq_len, 256);
  EXPECT_FALSE(loaded.config.rope_scaling.has_value());
}

TEST_F(HfDecoderTest, LlamaTiedWithLlama3RopeScalingMatchesReference) {
  REQUIRE_NUMPY();
  // head_dim 16 at rope_theta 500000 puts one frequency in each llama3 band (kept, interpolated,
  // stretched) for original_max_position_embeddings 128.
  HfDecoder loaded = expect_parity(checkpoint("llama3", "llama --tie --rope-scaling --hidden 64 --heads 4 --seed 2"));
  ASSERT_TRUE(loaded.config.rope_scaling.has_value());
  EXPECT_EQ(loaded.config.rope_scaling->original_max_position_embeddings, 128);
  EXPECT_FALSE(loaded.decoder->lm_head);
  // The comparison can see the scaling: without it the logits move well past the tolerance.
  auto unscaled = loaded.shape;
  unscaled.variant.rope_scaling.reset();
  Decoder plain(unscaled.model, HfDecoderOptions{}.lora, unscaled.vocab_size, std::make_shared<ForwardState>(),
                unscaled.variant);
  load_hf_decoder_weights(plain, loaded.config, SafetensorsCheckpoint(dir_ / "llama3"));
  EXPECT_GT(max_difference(fedvlm_logits(plain, sequences_), reference_), 100 * kTolerance);
}

TEST_F(HfDecoderTest, Qwen2WithQkvBiasesMatchesReference) {
  REQUIRE_NUMPY();
  const HfDecoder loaded = expect_parity(checkpoint("qwen2", "qwen2 --seed 3"));
  EXPECT_TRUE(loaded.shape.variant.qkv_bias);
  EXPECT_FALSE(loaded.shape.variant.output_bias);
  EXPECT_TRUE(loaded.decoder->named_parameters().contains("layers.1.attention.k.base.bias"));
  EXPECT_FALSE(loaded.decoder->named_parameters().contains("layers.1.attention.o.base.bias"));
}

TEST_F(HfDecoderTest, Bfloat16ShardedWeightsLoadAsFloat32AndMatchReference) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("bf16", "llama --dtype bf16 --shards 3 --seed 4");
  const HfDecoder loaded = expect_parity(model);
  EXPECT_EQ(loaded.config.torch_dtype, "bfloat16");
  EXPECT_EQ(loaded.decoder->embedding->weight.scalar_type(), torch::kFloat32);
  // Exactly the stored bf16 values, widened.
  const SafetensorsCheckpoint stored(model);
  EXPECT_TRUE(torch::equal(loaded.decoder->norm->weight, to_tensor(stored, "model.norm.weight").to(torch::kFloat32)));
}

TEST_F(HfDecoderTest, LlavaLanguageModelMatchesReference) {
  REQUIRE_NUMPY();
  const HfDecoder loaded = expect_parity(checkpoint("llava", "llava --text-arch qwen2 --dtype fp16 --seed 5"));
  EXPECT_EQ(loaded.config.model_type, "llava");
  EXPECT_EQ(loaded.config.text_model_type, "qwen2");
}

TEST_F(HfDecoderTest, KvCacheDecodingEqualsFullForward) {
  REQUIRE_NUMPY();
  HfDecoder loaded = load_hf_decoder(checkpoint("qwen2", "qwen2 --rope-scaling --seed 6"));
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = torch::tensor({{1, 8, 3, 44, 90, 12}}, torch::kInt64);
  const torch::Tensor positions = torch::arange(6, torch::kInt64).unsqueeze(0);
  const torch::Tensor full = loaded.decoder->hidden(loaded.decoder->embed(tokens), positions, {});
  KvCache cache;
  for (std::int64_t t = 0; t < 6; ++t) {
    const torch::Tensor step = loaded.decoder->hidden(loaded.decoder->embed(tokens.slice(1, t, t + 1)),
                                                      positions.slice(1, t, t + 1), {}, &cache);
    EXPECT_LE(max_difference(step, full.slice(1, t, t + 1)), 1e-5) << t;
  }
}

TEST_F(HfDecoderTest, LoraAddsToBiasedProjectionsAndMerges) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("qwen2", "qwen2 --seed 7");
  HfDecoderOptions options;
  options.lora = LoraConfig{4, 8.0, 0.0, {"q", "k", "v", "o"}};
  HfDecoder with_lora = load_hf_decoder(model, options);
  const HfDecoder plain = load_hf_decoder(model);
  const std::vector<std::vector<std::int64_t>> sequences = {{1, 2, 3, 4, 5}};
  auto& q = *with_lora.decoder->layers[0]->as<DecoderBlock>()->attention->q;
  ASSERT_TRUE(q.has_adapter());
  ASSERT_TRUE(q.base->bias.defined());
  // A fresh adapter (B = 0) changes nothing; a trained one does, and merging it keeps the logits.
  auto plain_decoder = plain.decoder;
  EXPECT_LE(max_difference(fedvlm_logits(with_lora.decoder, sequences), fedvlm_logits(plain_decoder, sequences)), 1e-6);
  {
    torch::NoGradGuard no_grad;
    q.lora_a.normal_(0.0, 0.5);
    q.lora_b.normal_(0.0, 0.5);
  }
  const torch::Tensor adapted = fedvlm_logits(with_lora.decoder, sequences);
  EXPECT_GT(max_difference(adapted, fedvlm_logits(plain_decoder, sequences)), 1e-3);
  q.merge();
  EXPECT_LE(max_difference(fedvlm_logits(with_lora.decoder, sequences), adapted), 1e-4);
}

// ----- coverage and shapes -----

TEST_F(HfDecoderTest, MissingTensorIsNamed) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("llama", "llama");
  NamedTensors tensors = read_all(model / "model.safetensors");
  std::erase_if(tensors, [](const auto& t) { return t.first == "model.layers.1.mlp.up_proj.weight"; });
  rewrite(model / "model.safetensors", tensors);
  const std::string message = input_error([&] { load_hf_decoder(model); });
  EXPECT_NE(message.find("model.layers.1.mlp.up_proj.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("missing"), std::string::npos) << message;
  EXPECT_NE(message.find(model.string()), std::string::npos) << message;
}

TEST_F(HfDecoderTest, UntiedHeadMissingIsNamed) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("llama", "llama --tie");
  std::string config = read_file(model / "config.json");
  config.replace(config.find("\"tie_word_embeddings\": true"), 27, "\"tie_word_embeddings\": false");
  std::ofstream(model / "config.json") << config;
  const std::string message = input_error([&] { load_hf_decoder(model); });
  EXPECT_NE(message.find("lm_head.weight"), std::string::npos) << message;
}

TEST_F(HfDecoderTest, ExtraTensorIsNamed) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("qwen2", "qwen2");
  NamedTensors tensors = read_all(model / "model.safetensors");
  tensors.emplace_back("model.layers.0.self_attn.o_proj.bias", torch::zeros({32}));
  rewrite(model / "model.safetensors", tensors);
  const std::string message = input_error([&] { load_hf_decoder(model); });
  EXPECT_NE(message.find("model.layers.0.self_attn.o_proj.bias"), std::string::npos) << message;
  EXPECT_NE(message.find("not part of"), std::string::npos) << message;
}

TEST_F(HfDecoderTest, WrongShapeIsNamedWithBothShapes) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("llama", "llama --shards 2");
  for (const auto& item : fs::directory_iterator(model)) {
    if (item.path().extension() != ".safetensors") continue;
    NamedTensors tensors = read_all(item.path());
    for (auto& [name, tensor] : tensors) {
      if (name == "model.layers.0.self_attn.k_proj.weight") tensor = torch::zeros({24, 32});
    }
    rewrite(item.path(), tensors);
  }
  const std::string message = input_error([&] { load_hf_decoder(model); });
  EXPECT_NE(message.find("model.layers.0.self_attn.k_proj.weight"), std::string::npos) << message;
  EXPECT_NE(message.find("[24, 32]"), std::string::npos) << message;
  EXPECT_NE(message.find("[16, 32]"), std::string::npos) << message;
  EXPECT_NE(message.find(".safetensors"), std::string::npos) << message;
}

TEST_F(HfDecoderTest, TiedHeadCopyIsAcceptedOnlyWhenEqual) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("llama", "llama --tie");
  NamedTensors tensors = read_all(model / "model.safetensors");
  torch::Tensor embedding;
  for (const auto& [name, tensor] : tensors)
    if (name == "model.embed_tokens.weight") embedding = tensor;
  tensors.emplace_back("lm_head.weight", embedding.clone());
  rewrite(model / "model.safetensors", tensors);
  EXPECT_NO_THROW(load_hf_decoder(model));
  tensors.back().second = embedding + 1.0;
  rewrite(model / "model.safetensors", tensors);
  const std::string message = input_error([&] { load_hf_decoder(model); });
  EXPECT_NE(message.find("lm_head.weight differs"), std::string::npos) << message;
}

TEST(HfDecoderMapping, LlamaAttentionAndMlpBiasesMapToLoraBaseBiases) {
  const HfTextConfig config = parse_hf_text_config(
      R"({"model_type": "llama", "hidden_size": 8, "intermediate_size": 16, "num_hidden_layers": 1,
          "num_attention_heads": 2, "vocab_size": 10, "attention_bias": true, "mlp_bias": true})",
      "config.json");
  const auto mapping = decoder_mapping(config, {"model.", "lm_head.weight", {""}});
  std::map<std::string, std::string> names;
  for (const auto& m : mapping) names[m.checkpoint_name] = m.parameter_name;
  EXPECT_EQ(names.at("model.layers.0.self_attn.o_proj.bias"), "layers.0.attention.o.base.bias");
  EXPECT_EQ(names.at("model.layers.0.mlp.down_proj.bias"), "layers.0.ffn.down.base.bias");
  EXPECT_EQ(names.at("lm_head.weight"), "lm_head.weight");
  // The decoder built from the config has exactly these parameters.
  const HfDecoderShape shape = decoder_shape(config);
  Decoder decoder(shape.model, HfDecoderOptions{}.lora, shape.vocab_size, std::make_shared<ForwardState>(), shape.variant);
  EXPECT_EQ(decoder->named_parameters().size(), mapping.size());
  for (const auto& m : mapping) EXPECT_TRUE(decoder->named_parameters().contains(m.parameter_name)) << m.parameter_name;
}

// ----- config.json -----

HfTextConfig parse(const std::string& text) { return parse_hf_text_config(text, "/models/x/config.json"); }

TEST(HfConfig, LlamaKeysAndTransformersDefaults) {
  const HfTextConfig config = parse(R"({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
      "rope_scaling": {"type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                       "original_max_position_embeddings": 8192}})");
  EXPECT_EQ(config.text_model_type, "llama");
  EXPECT_EQ(config.num_key_value_heads, 4);  // = heads
  EXPECT_EQ(config.head_dim, 16);
  EXPECT_EQ(config.vocab_size, 32000);
  EXPECT_EQ(config.intermediate_size, 11008);
  EXPECT_EQ(config.max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(config.rms_norm_eps, 1e-6);
  EXPECT_DOUBLE_EQ(config.rope_theta, 10000.0);
  EXPECT_FALSE(config.tie_word_embeddings);
  EXPECT_FALSE(config.qkv_bias);
  ASSERT_TRUE(config.rope_scaling.has_value());  // the legacy key "type" is read as rope_type
  EXPECT_EQ(config.rope_scaling->original_max_position_embeddings, 8192);
  EXPECT_NE(std::find(config.defaulted.begin(), config.defaulted.end(), "vocab_size"), config.defaulted.end());
}

TEST(HfConfig, Qwen2DefaultsDifferFromLlama) {
  const HfTextConfig config = parse(R"({"model_type": "qwen2", "num_attention_heads": 64, "head_dim": 128,
                                        "rope_scaling": null, "attention_bias": false})");
  EXPECT_EQ(config.num_key_value_heads, 32);  // Qwen2Config's default, not the head count
  EXPECT_EQ(config.vocab_size, 151936);
  EXPECT_EQ(config.max_position_embeddings, 32768);
  EXPECT_EQ(config.head_dim, 128);  // given, though hidden_size / heads is 64
  EXPECT_TRUE(config.qkv_bias);     // always, whatever attention_bias says
  EXPECT_FALSE(config.output_bias);
  EXPECT_FALSE(config.rope_scaling.has_value());
}

TEST(HfConfig, LlavaReadsItsTextConfig) {
  const HfTextConfig config = parse(R"({"model_type": "llava", "tie_word_embeddings": true,
      "text_config": {"vocab_size": 32064, "rms_norm_eps": 1e-05, "max_position_embeddings": 4096}})");
  EXPECT_EQ(config.text_model_type, "llama");  // LlavaConfig's default
  EXPECT_EQ(config.key_prefix, "text_config.");
  EXPECT_EQ(config.vocab_size, 32064);
  EXPECT_EQ(config.hidden_size, 4096);  // LLaVA 1.5 relies on LlamaConfig's defaults
  EXPECT_FALSE(config.tie_word_embeddings);  // the language model's own setting
  EXPECT_NE(std::find(config.defaulted.begin(), config.defaulted.end(), "text_config.hidden_size"),
            config.defaulted.end());
}

TEST(HfConfig, RopeParametersOfTransformers5AreRead) {
  const HfTextConfig config = parse(R"({"model_type": "llama", "hidden_size": 64, "num_attention_heads": 4,
      "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0, "low_freq_factor": 1.0,
                          "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})");
  EXPECT_DOUBLE_EQ(config.rope_theta, 500000.0);
  ASSERT_TRUE(config.rope_scaling.has_value());
  EXPECT_DOUBLE_EQ(config.rope_scaling->factor, 32.0);
}

TEST(HfConfig, EachBadFieldNamesFileKeyAndValue) {
  struct Case {
    const char* json;
    std::vector<const char*> expected;
  };
  const Case cases[] = {
      {R"({"hidden_size": 64})", {"model_type is missing"}},
      {R"({"model_type": "mistral"})", {"model_type = \"mistral\"", "llama, qwen2 and llava"}},
      {R"({"model_type": "llama", "hidden_size": "64"})", {"hidden_size = \"64\"", "positive integer"}},
      {R"({"model_type": "llama", "hidden_size": 64.0})", {"hidden_size = 64.0"}},
      {R"({"model_type": "llama", "num_hidden_layers": 0})", {"num_hidden_layers = 0"}},
      {R"({"model_type": "llama", "num_attention_heads": 4, "num_key_value_heads": 3})",
       {"num_key_value_heads = 3", "must divide num_attention_heads (4)"}},
      {R"({"model_type": "llama", "hidden_size": 30, "num_attention_heads": 4})", {"hidden_size = 30", "head_dim"}},
      {R"({"model_type": "llama", "hidden_act": "gelu"})", {"hidden_act = \"gelu\"", "silu"}},
      {R"({"model_type": "llama", "rms_norm_eps": -1})", {"rms_norm_eps = -1"}},
      {R"({"model_type": "llama", "tie_word_embeddings": "no"})", {"tie_word_embeddings = \"no\""}},
      {R"({"model_type": "llama", "rope_scaling": {"rope_type": "yarn", "factor": 4.0}})",
       {"rope_scaling.rope_type = \"yarn\"", "\"llama3\""}},
      {R"({"model_type": "llama", "rope_scaling": {"type": "linear", "factor": 2.0}})", {"rope_scaling.type = \"linear\""}},
      {R"({"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
           "high_freq_factor": 4.0}})",
       {"rope_scaling.original_max_position_embeddings is missing"}},
      {R"({"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0,
           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}})",
       {"rope_scaling.high_freq_factor = 4.0", "greater than low_freq_factor"}},
      {R"({"model_type": "llama", "partial_rotary_factor": 0.5})", {"partial_rotary_factor = 0.5"}},
      {R"({"model_type": "qwen2", "use_sliding_window": true})", {"use_sliding_window = true", "sliding-window"}},
      {R"({"model_type": "llava"})", {"text_config is missing"}},
      {R"({"model_type": "llava", "text_config": {"model_type": "gemma"}})", {"text_config.model_type = \"gemma\""}},
      {R"({"model_type": "llava", "text_config": {"hidden_size": -8}})", {"text_config.hidden_size = -8"}},
      {R"([1, 2])", {"expected a JSON object"}},
      {R"({"model_type": )", {"not valid JSON"}},
  };
  for (const Case& c : cases) {
    const std::string message = input_error([&] { parse(c.json); });
    EXPECT_NE(message.find("/models/x/config.json"), std::string::npos) << c.json << " -> " << message;
    for (const char* part : c.expected) EXPECT_NE(message.find(part), std::string::npos) << c.json << " -> " << message;
  }
}

TEST(HfConfig, MissingConfigFileIsNamed) {
  const std::string message = input_error([] { read_hf_text_config("/nonexistent-fedvlm-model"); });
  EXPECT_NE(message.find("/nonexistent-fedvlm-model/config.json"), std::string::npos) << message;
}

}  // namespace
}  // namespace fedvlm::model::hf
