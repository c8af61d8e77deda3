// PEFT adapter export: the files are what PEFT saves and loads (keys, shapes, dtypes,
// adapter_config.json), merging them as PEFT does (tools/peft_check.py, numpy) gives fedvlm's
// merged weights, the merged base computes the LoRA decoder's logits, and bad requests are
// refused before anything is written.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/config_registry.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/model/hf/hf_decoder.hpp"
#include "fedvlm/model/hf/peft_export.hpp"
#include "fedvlm/model/hf/peft_export_config.hpp"
#include "fedvlm/model/hf/hf_vlm.hpp"
#include "fedvlm/model/strategy.hpp"
#include "fedvlm/model/vlm.hpp"
#include "fedvlm/model/hf/safetensors_torch.hpp"
#include "fedvlm/model/lora.hpp"
#include "model/hf_test_support.hpp"
#include "support/input_error.hpp"

namespace fedvlm::model::hf {
namespace {

namespace fs = std::filesystem;
using test_support::input_error;

constexpr double kMergeTolerance = 1e-6;
const LoraConfig kLora{4, 8.0, 0.05, {"q", "v", "down"}};

nlohmann::json read_json(const fs::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str());
}

torch::Tensor logits_of(Decoder& decoder) {
  torch::NoGradGuard no_grad;
  const torch::Tensor tokens = torch::tensor({1, 5, 9, 100, 17, 3, 64, 127, 8, 42, 0, 77}, torch::kInt64).unsqueeze(0);
  const torch::Tensor positions = torch::arange(tokens.size(1), torch::kInt64).unsqueeze(0);
  return decoder->head(decoder->hidden(decoder->embed(tokens), positions, {}));
}

// A stand-in for a VisionLanguageModel: the decoder under "decoder." and a trained connector.
struct PrefixedModel : torch::nn::Module {
  PrefixedModel(Decoder decoder_, std::int64_t width) {
    decoder = register_module("decoder", std::move(decoder_));
    connector = register_module("connector", torch::nn::Linear(width, width));
  }
  Decoder decoder{nullptr};
  torch::nn::Linear connector{nullptr};
};

class PeftExportTest : public testing::HfScratchTest {
 protected:
  void SetUp() override {
    if (!have_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not installed";
    HfScratchTest::SetUp();
  }

  fs::path checkpoint(const std::string& arguments) { return write_hf_checkpoint("base", arguments); }

  // The base with adapters drawn N(0, 0.1): their update is as large as the N(0, 0.02) weights.
  static HfDecoder with_adapters(const fs::path& base, const LoraConfig& lora = kLora) {
    HfDecoder loaded = load_hf_decoder(base, {lora, torch::kFloat32});
    torch::NoGradGuard no_grad;
    torch::manual_seed(7);
    for (auto& item : loaded.decoder->named_parameters())
      if (item.key().ends_with(".lora_a") || item.key().ends_with(".lora_b")) item.value().normal_(0.0, 0.1);
    return loaded;
  }

  static std::vector<HfTensorMapping> mapping_of(const fs::path& base, const std::string& prefix = "") {
    const HfTextConfig config = read_hf_text_config(base);
    std::vector<HfTensorMapping> mapping = decoder_mapping(config, decoder_layout(config, SafetensorsCheckpoint(base)));
    for (HfTensorMapping& m : mapping) m.parameter_name = prefix + m.parameter_name;
    return mapping;
  }

  // tools/peft_check.py's exit status.
  static int check(const fs::path& base, const fs::path& adapter, const std::string& arguments) {
    const std::string command = fmt::format("/usr/bin/python3 '{}/tools/peft_check.py' '{}' '{}' {} >/dev/null",
                                            FEDVLM_SOURCE_DIR, base.string(), adapter.string(), arguments);
    return WEXITSTATUS(std::system(command.c_str()));
  }

  // fedvlm's merged decoder weights under their checkpoint names.
  static void write_merged(Decoder& decoder, const std::vector<HfTensorMapping>& mapping, const fs::path& file) {
    for (auto& module : decoder->modules())
      if (auto* lora = module->as<LoraLinear>()) lora->merge();
    const auto parameters = decoder->named_parameters();
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    for (const HfTensorMapping& m : mapping) tensors.emplace_back(m.checkpoint_name, parameters[m.parameter_name]);
    write_safetensors(file, tensors);
    for (auto& module : decoder->modules())
      if (auto* lora = module->as<LoraLinear>()) lora->unmerge();
  }

};

TEST_F(PeftExportTest, LlamaAdapterHasPeftKeysShapesAndConfig) {
  const fs::path base = checkpoint("llama --seed 1");
  HfDecoder loaded = with_adapters(base);
  const PeftExport result = export_peft_adapter(*loaded.decoder, mapping_of(base), kLora, {"norm.weight"}, base, dir_ / "adapter");

  const SafetensorsFile adapter(dir_ / "adapter" / "adapter_model.safetensors");
  EXPECT_EQ(adapter.entries().size(), 2u * 3u * 2u + 1u);  // layers x targets x {A, B}, + the norm
  EXPECT_EQ(adapter.metadata().at("format"), "pt");
  const auto parameters = loaded.decoder->named_parameters();
  auto expect_tensor = [&](const std::string& key, const std::string& parameter, std::vector<std::int64_t> shape) {
    const SafetensorsEntry* entry = adapter.find(key);
    ASSERT_NE(entry, nullptr) << key;
    EXPECT_EQ(entry->dtype, SafetensorsDtype::F32) << key;
    EXPECT_EQ(entry->shape, shape) << key;
    EXPECT_TRUE(torch::equal(to_tensor(adapter, *entry), parameters[parameter])) << key;
  };
  expect_tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "layers.0.attention.q.lora_a", {4, 32});
  expect_tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", "layers.0.attention.q.lora_b", {32, 4});
  expect_tensor("base_model.model.model.layers.1.self_attn.v_proj.lora_B.weight", "layers.1.attention.v.lora_b", {16, 4});
  expect_tensor("base_model.model.model.layers.1.mlp.down_proj.lora_A.weight", "layers.1.ffn.down.lora_a", {4, 64});
  expect_tensor("base_model.model.model.norm.weight", "norm.weight", {32});

  const nlohmann::json config = read_json(dir_ / "adapter" / "adapter_config.json");
  EXPECT_EQ(config["peft_type"], "LORA");
  EXPECT_EQ(config["task_type"], "CAUSAL_LM");
  EXPECT_EQ(config["r"], 4);
  EXPECT_TRUE(config["lora_alpha"].is_number_integer());
  EXPECT_EQ(config["lora_alpha"], 8);
  EXPECT_DOUBLE_EQ(config["lora_dropout"].get<double>(), 0.05);
  EXPECT_EQ(config["target_modules"], nlohmann::json({"down_proj", "q_proj", "v_proj"}));
  EXPECT_EQ(config["modules_to_save"], nlohmann::json({"model.norm"}));
  EXPECT_EQ(config["bias"], "none");
  EXPECT_EQ(config["use_rslora"], false);
  EXPECT_EQ(config["fan_in_fan_out"], false);
  EXPECT_EQ(config["inference_mode"], true);
  EXPECT_TRUE(config["revision"].is_null());
  EXPECT_EQ(config["base_model_name_or_path"], fs::absolute(base).lexically_normal().string());

  const SafetensorsFile non_lora(dir_ / "adapter" / "non_lora_trainables.safetensors");
  ASSERT_EQ(non_lora.entries().size(), 1u);
  EXPECT_EQ(non_lora.entries()[0].name, "model.norm.weight");
  EXPECT_EQ(result.adapted_modules.size(), 6u);
  EXPECT_EQ(result.adapted_modules[0], "model.layers.0.self_attn.q_proj");
}

TEST_F(PeftExportTest, MergingTheExportAsPeftDoesEqualsFedvlmMerge) {
  const fs::path base = checkpoint("qwen2 --seed 2");
  HfDecoder loaded = with_adapters(base, {8, 4.0, 0.0, {"q", "k", "v", "o", "gate", "up", "down"}});
  const auto mapping = mapping_of(base);
  export_peft_adapter(*loaded.decoder, mapping, {8, 4.0, 0.0, {"q", "k", "v", "o", "gate", "up", "down"}}, {}, base,
                      dir_ / "adapter");
  write_merged(loaded.decoder, mapping, dir_ / "fedvlm-merged.safetensors");
  EXPECT_EQ(check(base, dir_ / "adapter", fmt::format("--compare '{}' --tolerance {}", (dir_ / "fedvlm-merged.safetensors").string(), kMergeTolerance)), 0);
  // The comparison sees the adapter: the unmerged base is far from the merge.
  write_safetensors(dir_ / "base.safetensors", [&] {
    std::vector<std::pair<std::string, torch::Tensor>> tensors;
    const auto parameters = loaded.decoder->named_parameters();
    for (const HfTensorMapping& m : mapping) tensors.emplace_back(m.checkpoint_name, parameters[m.parameter_name]);
    return tensors;
  }());
  EXPECT_EQ(check(base, dir_ / "adapter", fmt::format("--compare '{}' --tolerance 1e-3", (dir_ / "base.safetensors").string()) + " 2>/dev/null"), 1);
}

TEST_F(PeftExportTest, MergedBaseComputesTheLoraDecodersLogits) {
  const fs::path base = checkpoint("llama --seed 3");
  HfDecoder loaded = with_adapters(base);
  export_peft_adapter(*loaded.decoder, mapping_of(base), kLora, {}, base, dir_ / "adapter");
  ASSERT_EQ(check(base, dir_ / "adapter", fmt::format("--out '{}'", (dir_ / "merged").string())), 0);

  HfDecoder merged = load_hf_decoder(dir_ / "merged");
  HfDecoder plain = load_hf_decoder(base);
  const torch::Tensor with_lora = logits_of(loaded.decoder);
  EXPECT_LE((logits_of(merged.decoder) - with_lora).abs().max().item<double>(), 1e-5);
  EXPECT_GT((logits_of(plain.decoder) - with_lora).abs().max().item<double>(), 1e-3) << "the adapters change nothing";
}

TEST_F(PeftExportTest, LlavaAdapterUsesCheckpointPathsAndSavesTheConnector) {
  const fs::path base = checkpoint("llava --seed 4");
  HfDecoder loaded = with_adapters(base);
  PrefixedModel model(loaded.decoder, 32);
  torch::manual_seed(9);
  auto mapping = mapping_of(base, "decoder.");
  mapping.push_back({"multi_modal_projector.linear_2.weight", "connector.weight"});
  mapping.push_back({"multi_modal_projector.linear_2.bias", "connector.bias"});
  const std::vector<std::string> trained = {"connector.weight", "connector.bias", "decoder.layers.0.attention.q.lora_a"};
  const PeftExport result = export_peft_adapter(model, mapping, kLora, trained, base, dir_ / "adapter");

  const SafetensorsFile adapter(dir_ / "adapter" / "adapter_model.safetensors");
  EXPECT_NE(adapter.find("base_model.model.language_model.model.layers.1.mlp.down_proj.lora_B.weight"), nullptr);
  EXPECT_TRUE(torch::equal(to_tensor(adapter, adapter.entry("base_model.model.multi_modal_projector.linear_2.weight")),
                           model.connector->weight));
  const nlohmann::json config = read_json(dir_ / "adapter" / "adapter_config.json");
  // The CLIP tower has q_proj and v_proj too: short names would put adapters there as well.
  ASSERT_TRUE(config["target_modules"].is_string()) << config["target_modules"];
  // transformers >= 4.52 names the same modules model.language_model.*; PEFT matches live names.
  const std::regex targets(config["target_modules"].get<std::string>());
  EXPECT_TRUE(std::regex_match("model.language_model.layers.1.self_attn.v_proj", targets));
  EXPECT_TRUE(std::regex_match("language_model.model.layers.0.mlp.down_proj", targets));
  EXPECT_FALSE(std::regex_match("model.vision_tower.vision_model.encoder.layers.0.self_attn.q_proj", targets));
  EXPECT_FALSE(std::regex_match("language_model.model.layers.0.self_attn.k_proj", targets));
  EXPECT_EQ(config["modules_to_save"], nlohmann::json({"multi_modal_projector.linear_2"}));
  EXPECT_EQ(result.non_lora_tensors, (std::vector<std::string>{"multi_modal_projector.linear_2.weight",
                                                                "multi_modal_projector.linear_2.bias"}));
  const SafetensorsFile non_lora(dir_ / "adapter" / "non_lora_trainables.safetensors");
  EXPECT_NE(non_lora.find("multi_modal_projector.linear_2.bias"), nullptr);

  // peft_check.py applies PEFT's matching to every module of the base, vision tower included.
  write_merged(loaded.decoder, mapping_of(base), dir_ / "fedvlm-merged.safetensors");
  EXPECT_EQ(check(base, dir_ / "adapter", fmt::format("--compare '{}'", (dir_ / "fedvlm-merged.safetensors").string())), 0);
}

// The wiring point on the model a run trains: load_hf_vlm + hf_vlm_mapping, F-CL's trained set.
TEST_F(PeftExportTest, LlavaVlmExportCarriesTheConnectorAndMergesBackExactly) {
  const fs::path base = checkpoint("llava --seed 8");
  const auto model = load_hf_vlm(base, kLora, {3, 32, 32}, 128, 1);
  {
    torch::NoGradGuard no_grad;
    torch::manual_seed(11);
    for (auto& item : model->named_parameters())
      if (item.key().starts_with("connector.") || item.key().ends_with(".lora_b")) item.value().normal_(0.0, 0.1);
  }
  const auto trained = ever_trainable_set(*model, Strategy::kConnectorLora).names;
  const PeftExport result = export_hf_results(*model, base, hf_vlm_mapping(base), trained, dir_ / "adapter");
  EXPECT_EQ(result.modules_to_save,
            (std::vector<std::string>{"multi_modal_projector.linear_1", "multi_modal_projector.linear_2"}));
  EXPECT_EQ(result.adapted_modules.size(), 2u * 3u);
  EXPECT_EQ(read_json(dir_ / "adapter" / "adapter_config.json")["modules_to_save"],
            nlohmann::json({"multi_modal_projector.linear_1", "multi_modal_projector.linear_2"}));

  // The merge restores the trained connector and the adapters' effect on the language model.
  ASSERT_EQ(check(base, dir_ / "adapter", fmt::format("--out '{}'", (dir_ / "merged").string())), 0);
  const SafetensorsCheckpoint merged(dir_ / "merged");
  const auto parameters = model->named_parameters();
  for (const HfTensorMapping& m : hf_vlm_mapping(base)) {
    if (!m.parameter_name.starts_with("connector.")) continue;
    EXPECT_TRUE(torch::equal(to_tensor(merged, m.checkpoint_name), parameters[m.parameter_name])) << m.checkpoint_name;
  }
  model->merge_lora();
  const torch::Tensor q = to_tensor(merged, "language_model.model.layers.1.self_attn.q_proj.weight");
  EXPECT_LE((q - parameters["decoder.layers.1.attention.q.base.weight"]).abs().max().item<double>(), kMergeTolerance);
  model->unmerge_lora();
  EXPECT_GT((q - parameters["decoder.layers.1.attention.q.base.weight"]).abs().max().item<double>(), 1e-3);
}

TEST_F(PeftExportTest, Bfloat16ExportRoundsEachTensorOnce) {
  const fs::path base = checkpoint("llama --seed 5");
  HfDecoder loaded = with_adapters(base);
  PeftExportOptions options;
  options.dtype = torch::kBFloat16;
  options.base_model_name_or_path = "meta-llama/Llama-3.2-1B";
  export_peft_adapter(*loaded.decoder, mapping_of(base), kLora, {}, base, dir_ / "adapter", options);
  const SafetensorsFile adapter(dir_ / "adapter" / "adapter_model.safetensors");
  const SafetensorsEntry& a = adapter.entry("base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight");
  EXPECT_EQ(a.dtype, SafetensorsDtype::BF16);
  EXPECT_TRUE(torch::equal(to_tensor(adapter, a), loaded.decoder->named_parameters()["layers.0.attention.v.lora_a"].to(torch::kBFloat16)));
  EXPECT_EQ(read_json(dir_ / "adapter" / "adapter_config.json")["base_model_name_or_path"], "meta-llama/Llama-3.2-1B");
  EXPECT_FALSE(fs::exists(dir_ / "adapter" / "non_lora_trainables.safetensors"));
}

// ----- refusals -----

TEST_F(PeftExportTest, NonEmptyDirectoryIsReplacedOnlyWhenAsked) {
  const fs::path base = checkpoint("llama --seed 6");
  HfDecoder loaded = with_adapters(base);
  const fs::path out = dir_ / "adapter";
  fs::create_directories(out);
  write_text_atomically(out / "notes.txt", "keep me\n");
  EXPECT_NE(input_error([&] { export_peft_adapter(*loaded.decoder, mapping_of(base), kLora, {}, base, out); })
                .find("is not empty"),
            std::string::npos);
  EXPECT_TRUE(fs::exists(out / "notes.txt"));
  EXPECT_FALSE(fs::exists(out / "adapter_config.json"));

  PeftExportOptions options;
  options.overwrite = true;
  export_peft_adapter(*loaded.decoder, mapping_of(base), kLora, {}, base, out, options);
  EXPECT_FALSE(fs::exists(out / "notes.txt"));
  EXPECT_TRUE(fs::exists(out / "adapter_model.safetensors"));
  for (const auto& entry : fs::directory_iterator(dir_))  // no temporary or old copy left beside it
    EXPECT_EQ(entry.path().filename().string().find(".adapter"), std::string::npos) << entry.path();
}

TEST_F(PeftExportTest, BadRequestsAreRefusedBeforeAnythingIsWritten) {
  const fs::path base = checkpoint("llama --seed 7");
  HfDecoder loaded = with_adapters(base);
  const fs::path out = dir_ / "adapter";
  auto refusal = [&](const LoraConfig& lora, const std::vector<std::string>& trained) {
    return input_error([&] { export_peft_adapter(*loaded.decoder, mapping_of(base), lora, trained, base, out); });
  };
  EXPECT_NE(refusal({4, 8.0, 0.0, {"q", "v", "down", "qkv"}}, {}).find("unknown projection \"qkv\""), std::string::npos);
  EXPECT_NE(refusal({4, 8.0, 0.0, {"q", "v"}}, {}).find("lora.targets names"), std::string::npos);
  EXPECT_NE(refusal({8, 8.0, 0.0, kLora.targets}, {}).find("lora.rank is 8"), std::string::npos);
  EXPECT_NE(refusal(kLora, {"layers.0.attention.q.base.weight"}).find("also has a LoRA adapter"), std::string::npos);
  EXPECT_NE(refusal(kLora, {"no.such.weight"}).find("not a parameter"), std::string::npos);
  const HfDecoder without = load_hf_decoder(base);
  EXPECT_NE(input_error([&] { export_peft_adapter(*without.decoder, mapping_of(base), kLora, {}, base, out); })
                .find("no LoRA adapters"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(out));
  for (const auto& entry : fs::directory_iterator(dir_)) EXPECT_EQ(entry.path().filename(), "base") << entry.path();
}

TEST(PeftTargetModules, ShortNamesWhenTheySelectExactlyElseARegex) {
  const std::vector<std::string> adapted = {"model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.q_proj"};
  std::vector<std::string> all = {"model.embed_tokens", "model.layers.0.self_attn.q_proj", "model.layers.0.self_attn.k_proj",
                                  "model.layers.1.self_attn.q_proj", "model.layers.1.self_attn.k_proj", "lm_head"};
  EXPECT_EQ(peft_target_modules(adapted, all), nlohmann::json({"q_proj"}));
  all.push_back("vision_tower.layers.0.self_attn.q_proj");
  EXPECT_EQ(peft_target_modules(adapted, all), R"(model\.layers\.\d+\.self_attn\.q_proj)");
  all.push_back("model.layers.2.self_attn.q_proj");  // a layer without an adapter: spelled out
  EXPECT_EQ(peft_target_modules(adapted, all),
            R"(model\.layers\.0\.self_attn\.q_proj|model\.layers\.1\.self_attn\.q_proj)");
}

TEST(PeftExportConfig, KeysGiveTheExportOptions) {
  declare_peft_export_parameters();
  declare_peft_export_parameters();  // idempotent
  Config config;
  config.model.base = "/models/llava-1.5-7b-hf/";
  EXPECT_FALSE(config.get<bool>("export.peft"));
  PeftExportOptions options = peft_export_options(config);
  EXPECT_EQ(options.dtype, torch::kFloat32);
  EXPECT_EQ(options.base_model_name_or_path, "/models/llava-1.5-7b-hf/");
  EXPECT_TRUE(options.overwrite);
  config.set("export.dtype", std::string("bf16"));
  config.set("export.base_name", std::string("llava-hf/llava-1.5-7b-hf"));
  options = peft_export_options(config);
  EXPECT_EQ(options.dtype, torch::kBFloat16);
  EXPECT_EQ(options.base_model_name_or_path, "llava-hf/llava-1.5-7b-hf");
  config.set("export.dtype", std::string("fp8"));
  EXPECT_NE(input_error([&] { validate_keys(config, {"export.dtype"}); }).find("fp8"), std::string::npos);
  EXPECT_EQ(peft_export_directory("runs/a"), fs::path("runs/a/hf_adapter"));
}

}  // namespace
}  // namespace fedvlm::model::hf
