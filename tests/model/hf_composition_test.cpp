// A LLaVA-style model composed of a Hugging Face CLIP / SigLIP directory and a separate Llama or
// Qwen2 directory (model.vision_tower + model.base, hf_vlm.hpp): each half holds exactly what it
// holds alone; the whole computes what the LLaVA model holding the same weights computes (split
// out of a LLaVA checkpoint here, so hf_vision_test's numpy parity of LLaVA carries over); the
// connector is the configured one, drawn from the seed; bad pairings are refused by name.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/hf/hf_decoder.hpp"
#include "fedvlm/model/hf/hf_vision.hpp"
#include "fedvlm/model/hf/hf_vlm.hpp"
#include "fedvlm/model/hf/peft_export.hpp"
#include "fedvlm/model/hf/safetensors_torch.hpp"
#include "fedvlm/model/strategy.hpp"
#include "model/hf_test_support.hpp"
#include "model/model_test_support.hpp"
#include "support/input_error.hpp"

namespace fedvlm::model::hf {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::input_error;
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

constexpr std::int64_t kVocab = 128;  // hf_checkpoint.py's default text vocabulary
const data::ImageShape kShape{3, 32, 32};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

NamedTensors read_all(const fs::path& file) {
  const SafetensorsFile reader(file);
  NamedTensors tensors;
  for (const SafetensorsEntry& entry : reader.entries()) tensors.emplace_back(entry.name, to_tensor(reader, entry));
  return tensors;
}

std::map<std::string, torch::Tensor> by_name(const torch::OrderedDict<std::string, torch::Tensor>& parameters,
                                             const std::string& prefix = "") {
  std::map<std::string, torch::Tensor> out;
  for (const auto& item : parameters) {
    if (item.key().ends_with(".lora_a") || item.key().ends_with(".lora_b")) continue;
    out.emplace(prefix + item.key(), item.value());
  }
  return out;
}

// Every tensor of `expected` equal to the one of the same name in `actual`, and the same names.
void expect_same_tensors(const std::map<std::string, torch::Tensor>& actual,
                         const std::map<std::string, torch::Tensor>& expected) {
  ASSERT_EQ(actual.size(), expected.size());
  for (const auto& [name, tensor] : expected) {
    const auto found = actual.find(name);
    ASSERT_NE(found, actual.end()) << name;
    EXPECT_TRUE(torch::equal(found->second, tensor)) << name;
  }
}

Batch text_batch(std::int64_t seed) {
  torch::manual_seed(static_cast<std::uint64_t>(seed));
  Batch batch;
  batch.images = torch::rand({2, 3, 32, 32}) * 2 - 1;
  batch.tokens = torch::randint(3, kVocab, {2, 9}, torch::kInt64);
  batch.tokens.select(1, 0).fill_(1);  // BOS
  batch.attention_mask = torch::ones_like(batch.tokens, torch::kBool);
  return batch;
}

class HfCompositionTest : public testing::HfScratchTest {
 protected:
  void SetUp() override {
    HfScratchTest::SetUp();
    if (!have_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not installed";
  }

  std::shared_ptr<VisionLanguageModel> compose(const fs::path& tower, const fs::path& decoder,
                                               const std::string& connector = "mlp2x_gelu", std::int64_t select = -2,
                                               std::uint64_t seed = 5) {
    return load_hf_tower_and_decoder(tower, decoder, connector, select, testing::tiny_lora(), kShape, kVocab, seed);
  }

  // The tower and the language model of a LLaVA directory as the two directories they come from:
  // vision_config + vision_model.* (a CLIPVisionModel), text_config + model.* (a LlamaForCausalLM).
  std::pair<fs::path, fs::path> split_llava(const fs::path& llava) {
    const json config = json::parse(read_text(llava / "config.json"));
    const fs::path tower = dir_ / "split-tower", decoder = dir_ / "split-decoder";
    fs::create_directories(tower), fs::create_directories(decoder);
    json tower_config = config["vision_config"];
    tower_config["architectures"] = {"CLIPVisionModel"};
    std::ofstream(tower / "config.json") << tower_config.dump(2);
    json decoder_config = config["text_config"];
    decoder_config["architectures"] = {"LlamaForCausalLM"};
    std::ofstream(decoder / "config.json") << decoder_config.dump(2);
    NamedTensors tower_tensors, decoder_tensors;
    const auto rename = [](const std::string& name, const std::string& from, const std::string& to) {
      return name.starts_with(from) ? to + name.substr(from.size()) : std::string();
    };
    for (auto& [name, tensor] : read_all(llava / "model.safetensors")) {
      if (auto renamed = rename(name, "vision_tower.", ""); !renamed.empty()) tower_tensors.emplace_back(renamed, tensor);
      if (auto renamed = rename(name, "language_model.", ""); !renamed.empty()) decoder_tensors.emplace_back(renamed, tensor);
    }
    write_safetensors(tower / "model.safetensors", tower_tensors, {{"format", "pt"}});
    write_safetensors(decoder / "model.safetensors", decoder_tensors, {{"format", "pt"}});
    return {tower, decoder};
  }
};

TEST_F(HfCompositionTest, EachHalfHoldsWhatItHoldsAlone) {
  const fs::path clip = write_hf_checkpoint("clip", "clip --seed 1 --vision-layers 3");
  const fs::path llama = write_hf_checkpoint("llama", "llama --seed 2");
  const auto vlm = compose(clip, llama, "mlp2x_gelu", -2);

  // hidden_states[-2] of 3 layers: the tower runs 2; the dual encoder's text half is not read.
  HfVisionTower tower = load_hf_vision_tower(clip, 2);
  expect_same_tensors(by_name(vlm->named_parameters(), ""), [&] {
    auto expected = by_name(tower->named_parameters(), "vision.");
    for (auto& [name, value] : by_name(load_hf_decoder(llama).decoder->named_parameters(), "decoder."))
      expected.emplace(name, value);
    for (auto& [name, value] : by_name(vlm->named_parameters(), ""))
      if (name.starts_with("connector.")) expected.emplace(name, value);
    return expected;
  }());
  EXPECT_EQ(vlm->num_image_tokens(), 16);  // (32 / 8)^2 patches; CLIP's class token dropped
  const ModelConfig& model = vlm->model_config();
  EXPECT_EQ(model.base, llama.string());
  EXPECT_EQ(model.vision_tower, clip.string());
  EXPECT_EQ(model.connector, "mlp2x_gelu");
  EXPECT_EQ(model.vision_select_layer, -2);
  EXPECT_EQ(model.vision_layers, 3);

  // The groups a strategy trains: F-CL trains the connector and the adapters, never the tower.
  const auto groups = vlm->parameter_groups();
  EXPECT_EQ(groups.connector.size(), 4u);
  EXPECT_FALSE(groups.lora.empty());
  EXPECT_EQ(groups.vision.size(), tower->parameters().size());
}

TEST_F(HfCompositionTest, ComputesWhatTheLlavaModelWithTheSameWeightsComputes) {
  const fs::path llava = write_hf_checkpoint("llava", "llava --seed 4 --vision-layers 3");
  const auto [tower, decoder] = split_llava(llava);
  const auto whole = load_hf_vlm(llava, testing::tiny_lora(), kShape, kVocab, 7);
  const auto composed = compose(tower, decoder, "mlp2x_gelu", -2, 7);  // LLaVA's config: layer -2, class token dropped
  {
    // LLaVA's projector into the composed model's connector (the only part no directory holds).
    torch::NoGradGuard no_grad;
    const auto from = by_name(whole->named_parameters());
    for (auto& [name, value] : by_name(composed->named_parameters()))
      if (name.starts_with("connector.")) value.copy_(from.at(name));
  }
  expect_same_tensors(by_name(composed->named_parameters()), by_name(whole->named_parameters()));
  torch::NoGradGuard no_grad;
  const Batch batch = text_batch(3);
  const torch::Tensor expected = whole->logits(batch), actual = composed->logits(batch);
  EXPECT_GT(expected.abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::equal(actual, expected)) << (actual - expected).abs().max().item<double>();
}

TEST_F(HfCompositionTest, ConnectorIsTheConfiguredOneDrawnFromTheSeed) {
  const fs::path siglip = write_hf_checkpoint("siglip", "siglip --seed 1");
  const fs::path qwen = write_hf_checkpoint("qwen2", "qwen2 --seed 2");
  const auto linear = compose(siglip, qwen, "linear", -1, 5);
  EXPECT_EQ(linear->num_image_tokens(), 16);  // SigLIP: no class token, every patch
  EXPECT_EQ(linear->parameter_groups().connector.size(), 2u);
  EXPECT_EQ(compose(siglip, qwen, "mlp6x_gelu", -1, 5)->parameter_groups().connector.size(), 12u);

  const auto connector = [](const std::shared_ptr<VisionLanguageModel>& vlm) {
    std::map<std::string, torch::Tensor> out;
    for (auto& [name, value] : by_name(vlm->named_parameters()))
      if (name.starts_with("connector.")) out.emplace(name, value);
    return out;
  };
  const auto first = connector(compose(siglip, qwen, "mlp2x_gelu", -1, 5));
  expect_same_tensors(connector(compose(siglip, qwen, "mlp2x_gelu", -1, 5)), first);
  const auto other = connector(compose(siglip, qwen, "mlp2x_gelu", -1, 6));
  EXPECT_FALSE(torch::equal(other.at("connector.0.weight"), first.at("connector.0.weight")));
  EXPECT_GT(first.at("connector.0.weight").abs().max().item<double>(), 0.0);
}

TEST_F(HfCompositionTest, RefusesPairingsItCannotCompose) {
  const fs::path clip = write_hf_checkpoint("clip", "clip_vision --seed 1");
  const fs::path llama = write_hf_checkpoint("llama", "llama --seed 2");
  const fs::path llava = write_hf_checkpoint("llava", "llava --seed 3");

  EXPECT_NE(input_error([&] { compose(clip, llava); }).find("is a LLaVA model, which has its own vision tower"),
            std::string::npos);
  EXPECT_NE(input_error([&] { compose(llava, llama); }).find("model.vision_tower"), std::string::npos);
  std::string message = input_error([&] { compose(clip, llama, "mlp2x_gelu", -3); });
  EXPECT_NE(message.find("model.vision_select_layer = -3"), std::string::npos) << message;
  EXPECT_NE(message.find("2 layers"), std::string::npos) << message;
  message = input_error([&] { compose(llama, llama); });
  EXPECT_NE(message.find("model_type"), std::string::npos) << message;  // a language model is no tower
  message = input_error([&] { compose(clip, clip); });
  EXPECT_NE(message.find("model_type"), std::string::npos) << message;  // nor a tower a language model
  message = input_error([&] { compose(clip, llama, "mlp3x"); });
  EXPECT_NE(message.find("mlp3x"), std::string::npos) << message;
  message = input_error(
      [&] { load_hf_tower_and_decoder(clip, llama, "linear", -1, testing::tiny_lora(), kShape, kVocab + 1, 1); });
  EXPECT_NE(message.find("vocab_size = 128"), std::string::npos) << message;
}

// What a run exports from such a model: the language model's adapter, named as the decoder
// directory names its modules (PEFT loads it onto AutoModelForCausalLM), and the connector,
// which neither directory holds, as mm_projector.safetensors under LLaVA's training-script names.
TEST_F(HfCompositionTest, ExportsTheLanguageModelAdapterAndTheConnectorBesideIt) {
  const fs::path clip = write_hf_checkpoint("clip", "clip --seed 1");
  const fs::path llama = write_hf_checkpoint("llama", "llama --seed 2");
  const auto vlm = compose(clip, llama, "mlp2x_gelu", -2);
  {
    torch::NoGradGuard no_grad;  // a trained model: adapters' B nonzero
    for (auto& item : vlm->named_parameters())
      if (item.key().ends_with(".lora_b")) item.value().normal_(0.0, 0.1);
  }
  const auto trained = ever_trainable_set(*vlm, parse_strategy("F-CL")).names;
  PeftExportOptions options;
  options.connector_as_mm_projector = true;
  const fs::path out = dir_ / "adapter";
  const PeftExport result = export_hf_results(*vlm, llama, hf_decoder_model_mapping(llama), trained, out, options);

  EXPECT_TRUE(result.modules_to_save.empty());
  ASSERT_FALSE(result.adapted_modules.empty());
  EXPECT_TRUE(result.adapted_modules.front().starts_with("model.layers.0.")) << result.adapted_modules.front();
  EXPECT_FALSE(fs::exists(out / "non_lora_trainables.safetensors"));
  const json config = json::parse(read_text(out / "adapter_config.json"));
  EXPECT_TRUE(config["modules_to_save"].is_null() || config["modules_to_save"].empty()) << config.dump();
  EXPECT_TRUE(config["target_modules"].is_array()) << config.dump();  // a bare decoder: short names select exactly

  const auto projector = read_all(out / "mm_projector.safetensors");
  const auto parameters = by_name(vlm->named_parameters());
  std::set<std::string> names;
  for (const auto& [name, tensor] : projector) {
    names.insert(name);
    EXPECT_TRUE(torch::equal(tensor, parameters.at("connector." + name.substr(std::string("model.mm_projector.").size()))))
        << name;
  }
  EXPECT_EQ(names, (std::set<std::string>{"model.mm_projector.0.weight", "model.mm_projector.0.bias",
                                           "model.mm_projector.2.weight", "model.mm_projector.2.bias"}));
  for (const auto& [name, tensor] : read_all(out / "adapter_model.safetensors"))
    EXPECT_EQ(name.find("connector"), std::string::npos) << name;

  // model.projector: the exported connector is where the next model starts (another seed
  // would draw another one), all or nothing.
  const fs::path file = out / "mm_projector.safetensors";
  const auto resumed = load_hf_tower_and_decoder(clip, llama, "mlp2x_gelu", -2, testing::tiny_lora(), kShape, kVocab, 99, file);
  for (const auto& [name, tensor] : by_name(resumed->named_parameters()))
    if (name.starts_with("connector.")) EXPECT_TRUE(torch::equal(tensor, parameters.at(name))) << name;
  std::string message = input_error(
      [&] { load_hf_tower_and_decoder(clip, llama, "linear", -2, testing::tiny_lora(), kShape, kVocab, 1, file); });
  EXPECT_NE(message.find("model.mm_projector.2."), std::string::npos) << message;  // linear has no second layer
  NamedTensors partial(projector.begin(), projector.begin() + 1);
  write_safetensors(dir_ / "partial.safetensors", partial, {});
  message = input_error([&] {
    load_hf_tower_and_decoder(clip, llama, "mlp2x_gelu", -2, testing::tiny_lora(), kShape, kVocab, 1, dir_ / "partial.safetensors");
  });
  EXPECT_NE(message.find("lacks model.mm_projector."), std::string::npos) << message;
  NamedTensors misshapen = projector;
  misshapen[0].second = misshapen[0].second.narrow(0, 0, 1).contiguous();
  write_safetensors(dir_ / "misshapen.safetensors", misshapen, {});
  message = input_error([&] {
    load_hf_tower_and_decoder(clip, llama, "mlp2x_gelu", -2, testing::tiny_lora(), kShape, kVocab, 1, dir_ / "misshapen.safetensors");
  });
  EXPECT_NE(message.find("has shape [1"), std::string::npos) << message;
}

}  // namespace
}  // namespace fedvlm::model::hf
