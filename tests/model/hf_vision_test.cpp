// Hugging Face vision towers and LLaVA: tower features and LLaVA logits of fedvlm's modules
// loaded from tiny checkpoints written by tools/hf_checkpoint.py equal those of
// tools/hf_reference.py (transformers' forward pass in numpy); the image processor agrees with
// PIL as transformers uses it; coverage, shape, vocabulary and config errors name file and
// tensor or key; the loaded model is a drop-in EncoderVlm (groups, mapping, training).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/core/torch_rng.hpp"
#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/client_stack.hpp"
#include "fedvlm/model/hf/hf_image_processor.hpp"
#include "fedvlm/model/hf/hf_vision.hpp"
#include "fedvlm/model/hf/hf_vision_config.hpp"
#include "fedvlm/model/hf/hf_vlm.hpp"
#include "fedvlm/model/hf/safetensors_torch.hpp"
#include "fedvlm/model/strategy.hpp"
#include "model/model_test_support.hpp"
#include "model/client_stack_test_support.hpp"
#include "model/hf_test_support.hpp"
#include "support/input_error.hpp"

namespace fedvlm::model::hf {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using test_support::input_error;

constexpr double kTolerance = 1e-4;  // max |fedvlm - reference| of fp32 features and logits
// hf_checkpoint.py draws weights N(0, 0.02): attention would be nearly uniform and most mistakes
// invisible at 1e-4. Scaled to N(0, 0.3) (norm gains and biases left as drawn), attention is
// sharp and features and logits are O(1).
constexpr double kWeightScale = 15.0;
constexpr std::int64_t kVocab = 128;  // hf_checkpoint.py's default text vocabulary
constexpr std::array<double, 3> kClipMean{0.48145466, 0.4578275, 0.40821073};
constexpr std::array<double, 3> kClipStd{0.26862954, 0.26130258, 0.27577711};

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const fs::path& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

NamedTensors read_all(const fs::path& file) {
  const SafetensorsFile reader(file);
  NamedTensors tensors;
  for (const SafetensorsEntry& entry : reader.entries()) tensors.emplace_back(entry.name, to_tensor(reader, entry));
  return tensors;
}

void rewrite(const fs::path& file, const NamedTensors& tensors) { write_safetensors(file, tensors, {{"format", "pt"}}); }

// Applies `edit` to the tensors of every safetensors file of `model` (a sharded index is left
// as it is, so edits there must keep names).
template <class Edit>
void edit_tensors(const fs::path& model, Edit edit) {
  for (const auto& item : fs::directory_iterator(model)) {
    if (item.path().extension() != ".safetensors") continue;
    NamedTensors tensors = read_all(item.path());
    edit(tensors);
    rewrite(item.path(), tensors);
  }
}

torch::Tensor from_json(const json& nested) {
  std::vector<std::int64_t> shape;
  for (const json* level = &nested; level->is_array(); level = &(*level)[0]) shape.push_back(static_cast<std::int64_t>(level->size()));
  std::vector<double> values;
  std::function<void(const json&)> flatten = [&](const json& v) {
    if (v.is_array()) {
      for (const json& x : v) flatten(x);
    } else {
      values.push_back(v.get<double>());
    }
  };
  flatten(nested);
  return torch::tensor(values, torch::kFloat64).view(shape);
}

json to_json(const torch::Tensor& tensor) {
  const torch::Tensor t = tensor.to(torch::kFloat64).contiguous();
  if (t.dim() == 0) return t.item<double>();
  json out = json::array();
  for (std::int64_t i = 0; i < t.size(0); ++i) out.push_back(to_json(t[i]));
  return out;
}

class HfVisionTest : public testing::HfScratchTest {
 protected:
  static bool have_pil() { return std::system("/usr/bin/python3 -c 'import numpy, PIL' >/dev/null 2>&1") == 0; }

  // A tiny checkpoint from tools/hf_checkpoint.py, weights other than norms and biases scaled by
  // kWeightScale, each kept in its stored type.
  fs::path checkpoint(const std::string& name, const std::string& arguments) {
    const fs::path out = write_hf_checkpoint(name, arguments);
    edit_tensors(out, [](NamedTensors& tensors) {
      for (auto& [name, tensor] : tensors) {
        if (name.find("norm") == std::string::npos && !name.ends_with(".bias")) {
          tensor = (tensor.to(torch::kFloat32) * kWeightScale).to(tensor.scalar_type());
        }
      }
    });
    return out;
  }

  // Runs tools/hf_reference.py with `arguments` (plus --out) and returns the JSON array under `key`.
  torch::Tensor reference(const std::string& arguments, const std::string& key) {
    const fs::path out = dir_ / "reference.json";
    const std::string command =
        fmt::format("/usr/bin/python3 '{}/tools/hf_reference.py' {} --out '{}'", FEDVLM_SOURCE_DIR, arguments, out.string());
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    return from_json(json::parse(read_text(out))[key]);
  }

  fs::path write_pixels(const torch::Tensor& pixels) {
    const fs::path file = dir_ / "pixels.json";
    write_text(file, json{{"pixels", to_json(pixels)}}.dump());
    return file;
  }

  // Images as the trainer feeds them ([-1, 1] from uint8) and those uint8 values.
  static std::pair<torch::Tensor, torch::Tensor> dataset_images(std::int64_t batch, std::int64_t channels, std::int64_t size,
                                                        std::uint64_t seed) {
    torch::manual_seed(seed);
    const torch::Tensor raw = torch::randint(0, 256, {batch, channels, size, size}, torch::kInt64);
    return {raw.to(torch::kFloat32).div(255.0).sub(0.5).div(0.5), raw};
  }

  // The pixel values the processor must give for `raw` uint8 images at the tower's size (no resize).
  static torch::Tensor normalized(const torch::Tensor& raw, const std::array<double, 3>& mean,
                                  const std::array<double, 3>& std) {
    const auto rgb = raw.size(1) == 1 ? raw.expand({raw.size(0), 3, raw.size(2), raw.size(3)}) : raw;
    const auto m = torch::tensor(std::vector<double>(mean.begin(), mean.end()), torch::kFloat64).view({1, 3, 1, 1});
    const auto s = torch::tensor(std::vector<double>(std.begin(), std.end()), torch::kFloat64).view({1, 3, 1, 1});
    return (rgb.to(torch::kFloat64) / 255.0 - m) / s;
  }

  static Batch text_batch(const torch::Tensor& images, const std::vector<std::vector<std::int64_t>>& sequences) {
    std::vector<torch::Tensor> rows;
    for (const auto& tokens : sequences) rows.push_back(torch::tensor(tokens, torch::kInt64));
    Batch batch;
    batch.images = images;
    batch.tokens = torch::stack(rows);
    batch.attention_mask = torch::ones_like(batch.tokens, torch::kBool);
    return batch;
  }

  // Loads `model` as a VLM and compares the logits of two images + prompts with the reference
  // given the pixel values `expected_pixels` would produce.
  void expect_llava_parity(const fs::path& model, const torch::Tensor& images, const torch::Tensor& expected_pixels) {
    const std::vector<std::vector<std::int64_t>> sequences = {{1, 5, 9, 100, 17, 3, 64, 126}, {1, 2, 7, 11, 13, 17, 19, 23}};
    const auto vlm = load_hf_vlm(model, tiny_lora(), {images.size(1), images.size(2), images.size(3)}, kVocab, 7);
    torch::Tensor ours;
    {
      torch::NoGradGuard no_grad;
      ours = vlm->logits(text_batch(images, sequences)).to(torch::kFloat64);
    }
    std::string arguments = fmt::format("'{}' --pixels '{}'", model.string(), write_pixels(expected_pixels).string());
    for (const auto& tokens : sequences) arguments += fmt::format(" --tokens {}", fmt::join(tokens, ","));
    const torch::Tensor theirs = reference(arguments, "logits");
    ASSERT_EQ(ours.sizes(), theirs.sizes());
    EXPECT_GT(theirs.abs().max().item<double>(), 0.5) << "logits too small to compare meaningfully";
    const double difference = (ours - theirs).abs().max().item<double>();
    EXPECT_LE(difference, kTolerance) << model;
    RecordProperty("max_abs_difference", fmt::format("{:.3g}", difference));
  }

  static LoraConfig tiny_lora() { return testing::tiny_lora(); }

};

#define REQUIRE_NUMPY() \
  if (!have_numpy()) GTEST_SKIP() << "/usr/bin/python3 with numpy is not installed"

// ----- towers -----

TEST_F(HfVisionTest, ClipTowerHiddenStatesMatchReference) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("clip", "clip_vision --seed 11");
  torch::manual_seed(3);
  const torch::Tensor pixels = torch::randn({2, 3, 32, 32});
  for (const std::int64_t layers : {2, 1}) {  // the last layer's output, and the first's (an inner feature layer)
    HfVisionTower tower = load_hf_vision_tower(model, layers);
    torch::NoGradGuard no_grad;
    const torch::Tensor ours = tower->forward(pixels).to(torch::kFloat64);
    const torch::Tensor theirs =
        reference(fmt::format("'{}' --pixels '{}' --hidden-layer {}", model.string(), write_pixels(pixels).string(), layers),
                  "hidden");
    ASSERT_EQ(ours.sizes(), theirs.sizes());
    EXPECT_EQ(ours.size(1), 16 + 1) << "16 patches and the class token";
    EXPECT_GT(theirs.abs().max().item<double>(), 0.5);
    EXPECT_LE((ours - theirs).abs().max().item<double>(), kTolerance) << layers << " layers";
  }
}

TEST_F(HfVisionTest, SiglipTowerWithUnusedHeadMatchesReference) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("siglip", "siglip_vision --seed 12");  // with the pooling head (unused)
  torch::manual_seed(4);
  const torch::Tensor pixels = torch::randn({2, 3, 32, 32});
  HfVisionTower tower = load_hf_vision_tower(model);
  torch::NoGradGuard no_grad;
  const torch::Tensor ours = tower->forward(pixels).to(torch::kFloat64);
  const torch::Tensor theirs =
      reference(fmt::format("'{}' --pixels '{}' --hidden-layer -1", model.string(), write_pixels(pixels).string()), "hidden");
  ASSERT_EQ(ours.sizes(), theirs.sizes());
  EXPECT_EQ(ours.size(1), 16) << "no class token";
  EXPECT_GT(theirs.abs().max().item<double>(), 0.5);
  EXPECT_LE((ours - theirs).abs().max().item<double>(), kTolerance);
}

TEST_F(HfVisionTest, TowerParameterNamesAreTheCheckpointNames) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("clip", "clip_vision");
  HfVisionTower tower = load_hf_vision_tower(model, 1);
  const auto mapping = vision_tower_mapping(tower->config(), 1, "vision_model.");
  const auto parameters = tower->named_parameters();
  ASSERT_EQ(mapping.size(), parameters.size());
  for (std::size_t i = 0; i < mapping.size(); ++i) {
    EXPECT_EQ(mapping[i].parameter_name, parameters[i].key());
    EXPECT_EQ(mapping[i].checkpoint_name, "vision_model." + parameters[i].key());
  }
}

// ----- LLaVA -----

TEST_F(HfVisionTest, LlavaLogitsMatchReference) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("llava", "llava --seed 21");
  const auto [images, raw] = dataset_images(2, 3, 32, 5);
  expect_llava_parity(model, images, normalized(raw, kClipMean, kClipStd));
}

TEST_F(HfVisionTest, LlavaBfloat16ShardsWithQwen2FullStrategyAndLastLayerMatchReference) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("llava-bf16", "llava --text-arch qwen2 --dtype bf16 --shards 3 --seed 22");
  json config = json::parse(read_text(model / "config.json"));
  config["vision_feature_select_strategy"] = "full";  // the class token stays: 17 image tokens
  config["vision_feature_layer"] = -1;
  write_text(model / "config.json", config.dump(2));
  const auto [images, raw] = dataset_images(2, 1, 32, 6);  // grayscale: repeated to RGB
  expect_llava_parity(model, images, normalized(raw, kClipMean, kClipStd));
  const auto vlm = load_hf_vlm(model, tiny_lora(), {1, 32, 32}, kVocab, 1);
  EXPECT_EQ(vlm->num_image_tokens(), 17);
  EXPECT_EQ(vlm->model_config().vision_select_layer, -1);
}

TEST_F(HfVisionTest, LlavaLayoutOfTransformers452MatchesReference) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("llava-new", "llava --seed 23");
  edit_tensors(model, [](NamedTensors& tensors) {
    for (auto& [name, tensor] : tensors) {
      if (name.starts_with("language_model.model.")) {
        name = "model.language_model." + name.substr(std::string("language_model.model.").size());
      } else if (name == "language_model.lm_head.weight") {
        name = "lm_head.weight";
      } else {
        name = "model." + name;  // vision_tower.*, multi_modal_projector.*
      }
    }
  });
  const auto [images, raw] = dataset_images(2, 3, 32, 7);
  expect_llava_parity(model, images, normalized(raw, kClipMean, kClipStd));
  const auto mapping = hf_vlm_mapping(model);
  EXPECT_EQ(mapping.front().checkpoint_name, "model.vision_tower.vision_model.embeddings.class_embedding");
  EXPECT_EQ(mapping.back().checkpoint_name, "lm_head.weight");
}

TEST_F(HfVisionTest, LlavaWithSiglipTowerMatchesReference) {
  REQUIRE_NUMPY();
  // hf_checkpoint.py writes CLIP LLaVAs: swap in a SigLIP tower of the same width.
  const fs::path model = checkpoint("llava-siglip", "llava --seed 24");
  const fs::path siglip = checkpoint("siglip", "siglip_vision --seed 25 --no-head");
  json config = json::parse(read_text(model / "config.json"));
  config["vision_config"] = json::parse(read_text(siglip / "config.json"));
  write_text(model / "config.json", config.dump(2));
  NamedTensors tensors;
  for (auto& [name, tensor] : read_all(model / "model.safetensors")) {
    if (!name.starts_with("vision_tower.")) tensors.emplace_back(name, tensor);
  }
  for (auto& [name, tensor] : read_all(siglip / "model.safetensors")) tensors.emplace_back("vision_tower." + name, tensor);
  rewrite(model / "model.safetensors", tensors);
  const auto [images, raw] = dataset_images(2, 3, 32, 8);
  // SiglipImageProcessor normalizes by 0.5, 0.5; "default" drops the first patch, as transformers does.
  expect_llava_parity(model, images, normalized(raw, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5}));
  EXPECT_EQ(load_hf_vlm(model, tiny_lora(), {3, 32, 32}, kVocab, 1)->num_image_tokens(), 15);
}

TEST_F(HfVisionTest, ParameterGroupsAndMappingCoverEveryParameterOnce) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("llava", "llava");
  const auto vlm = load_hf_vlm(model, tiny_lora(), {3, 32, 32}, kVocab, 1);
  const ParameterGroups groups = vlm->parameter_groups();
  std::set<std::string> seen;
  std::size_t grouped = 0;
  for (const NamedParameters* group : {&groups.vision, &groups.connector, &groups.decoder, &groups.lora}) {
    for (const auto& [name, parameter] : *group) seen.insert(name);
    grouped += group->size();
  }
  EXPECT_EQ(grouped, vlm->named_parameters().size());
  EXPECT_EQ(seen.size(), grouped);
  for (const auto& [name, p] : groups.vision) EXPECT_TRUE(name.starts_with("vision.")) << name;
  ASSERT_EQ(groups.connector.size(), 4u);
  EXPECT_EQ(groups.connector[0].first, "connector.0.weight");
  EXPECT_EQ(groups.connector[3].first, "connector.2.bias");
  for (const auto& [name, p] : groups.decoder) EXPECT_TRUE(name.starts_with("decoder.")) << name;
  EXPECT_FALSE(groups.lora.empty());
  // The mapping lists every non-LoRA parameter in named_parameters order, each once.
  const auto mapping = hf_vlm_mapping(model);
  std::vector<std::string> parameters;
  for (const auto& item : vlm->named_parameters()) {
    if (!item.key().ends_with(".lora_a") && !item.key().ends_with(".lora_b")) parameters.push_back(item.key());
  }
  ASSERT_EQ(mapping.size(), parameters.size());
  for (std::size_t i = 0; i < mapping.size(); ++i) EXPECT_EQ(mapping[i].parameter_name, parameters[i]) << i;
  EXPECT_EQ(mapping[0].checkpoint_name, "vision_tower.vision_model.embeddings.class_embedding");
  // Feature layer -2 of 2: one layer runs, the second's tensors are known-unused.
  EXPECT_EQ(vlm->model_config().vision_select_layer, -2);
  EXPECT_EQ(vlm->num_image_tokens(), 16);
  EXPECT_EQ(vlm->model_config().connector, "mlp2x_gelu");
  EXPECT_EQ(vlm->model_config().max_seq_len, 256);
}

TEST_F(HfVisionTest, OneFClStepOnGrayscaleImagesLowersTheLoss) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("llava", "llava --seed 26");
  const data::ImageShape shape{1, 28, 28};  // Fashion-like: resized to the tower's 32 x 32
  const auto vlm = load_hf_vlm(model, tiny_lora(), shape, kVocab, 3);
  vlm->train();
  const TrainableSet trainable = apply_strategy(*vlm, Strategy::kConnectorLora, 0, 0);
  for (const auto& name : trainable.names) {
    EXPECT_TRUE(name.starts_with("connector.") || name.ends_with(".lora_a") || name.ends_with(".lora_b")) << name;
  }
  const data::Samples samples = testing::make_samples(4, 5, shape);
  const std::vector<std::int64_t> rows = {0, 1, 2, 3};
  const Batch batch = collate_training(samples, rows, {});
  torch::optim::SGD optimizer(trainable.parameters, torch::optim::SGDOptions(1e-3));
  const torch::Tensor before = vlm->loss(batch);
  optimizer.zero_grad();
  before.backward();
  for (const auto& p : vlm->parameter_groups().vision) EXPECT_FALSE(p.second.grad().defined()) << p.first;
  optimizer.step();
  const double after = vlm->loss(batch).item<double>();
  EXPECT_LT(after, before.item<double>());
}

TEST_F(HfVisionTest, StackedClientsLossesEqualEachClientAlone) {
  REQUIRE_NUMPY();
  // Batched multi-client training reads the projector per client as it reads EncoderVlm's connector.
  const fs::path model = checkpoint("llava", "llava --seed 27");
  const data::ImageShape shape{1, 28, 28};
  const auto vlm = load_hf_vlm(model, tiny_lora(), shape, kVocab, 3);
  const auto losses = testing::stacked_and_alone_losses(*vlm, shape);
  for (std::size_t k = 0; k < 2; ++k) EXPECT_NEAR(losses.stacked[k], losses.alone[k], 1e-5) << "client " << k;
  EXPECT_GT(std::abs(losses.stacked[0] - losses.stacked[1]), 1e-4) << "the clients' projectors differ";
}

// ----- the image processor against PIL -----

TEST_F(HfVisionTest, ProcessorsMatchPil) {
  if (!have_pil()) GTEST_SKIP() << "/usr/bin/python3 with numpy and PIL is not installed";
  HfVisionConfig vision;
  vision.image_size = 32;
  struct Case {
    std::string tower;
    std::int64_t channels, height, width;
  };
  torch::manual_seed(9);
  for (const Case& c : {Case{"clip_vision_model", 1, 28, 28}, Case{"clip_vision_model", 3, 40, 48},
                        Case{"clip_vision_model", 3, 64, 50}, Case{"siglip_vision_model", 3, 40, 48}}) {
    vision.model_type = c.tower;
    HfImageProcessor processor = read_hf_image_processor(dir_ / "none", vision);  // the class defaults at 32
    processor.bicubic = vision.clip();  // SigLIP's bilinear variant, so both PIL filters are checked
    const torch::Tensor source = torch::randint(0, 256, {2, c.channels, c.height, c.width}, torch::kInt64);
    const torch::Tensor ours = processor(source.to(torch::kFloat32).div(255.0).sub(0.5).div(0.5)).to(torch::kFloat64);
    const fs::path request = dir_ / "request.json";
    write_text(request, json{{"images", to_json(source)},
                             {"size", 32},
                             {"mean", processor.image_mean},
                             {"std", processor.image_std},
                             {"shortest_edge", vision.clip()},
                             {"crop", vision.clip()},
                             {"bicubic", processor.bicubic}}
                            .dump());
    const torch::Tensor theirs = reference(fmt::format("--process '{}'", request.string()), "pixels");
    ASSERT_EQ(ours.sizes(), theirs.sizes());
    // In 0..255 levels: the same 8-bit pixels, up to float32 rescale / normalize rounding.
    const auto& s = processor.image_std;
    const auto std = torch::tensor(std::vector<double>(s.begin(), s.end()), torch::kFloat64).view({1, 3, 1, 1});
    const double levels = ((ours - theirs) * std * 255.0).abs().max().item<double>();
    EXPECT_LE(levels, 1e-3) << c.tower << " " << c.channels << "x" << c.height << "x" << c.width;
  }
}

TEST_F(HfVisionTest, ProcessorConfigIsReadAndCheckedAgainstTheTower) {
  HfVisionConfig vision;
  vision.model_type = "siglip_vision_model";
  vision.image_size = 32;
  vision.file = dir_ / "config.json";
  write_text(dir_ / "preprocessor_config.json",
             R"({"image_processor_type": "SiglipImageProcessor", "size": {"height": 32, "width": 32},
                 "resample": 2, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]})");
  const HfImageProcessor siglip = read_hf_image_processor(dir_, vision);
  EXPECT_FALSE(siglip.bicubic);
  EXPECT_FALSE(siglip.do_center_crop);
  check_processable(siglip, {1, 20, 40}, vision);  // squashed to 32 x 32: fine
  const auto pixels = siglip(torch::full({1, 1, 20, 40}, 1.0));  // white, level 255
  EXPECT_EQ(pixels.sizes(), (std::vector<std::int64_t>{1, 3, 32, 32}));
  EXPECT_NEAR((pixels - 1.0).abs().max().item<double>(), 0.0, 1e-6) << "255 / 255 normalized by 0.5, 0.5 is 1";

  vision.model_type = "clip_vision_model";
  write_text(dir_ / "preprocessor_config.json", R"({"image_processor_type": "CLIPImageProcessor", "size": 48, "crop_size": 40})");
  const std::string wrong_size = input_error([&] { check_processable(read_hf_image_processor(dir_, vision), {3, 28, 28}, vision); });
  EXPECT_NE(wrong_size.find("come out 40x40"), std::string::npos) << wrong_size;
  EXPECT_NE(wrong_size.find("takes 32x32"), std::string::npos) << wrong_size;
  write_text(dir_ / "preprocessor_config.json", R"({"image_processor_type": "CLIPImageProcessor", "size": 48, "crop_size": 32})");
  const HfImageProcessor clip = read_hf_image_processor(dir_, vision);
  check_processable(clip, {3, 28, 28}, vision);  // 28 -> 48, crop 32: the tower's size
  EXPECT_EQ(clip(torch::zeros({2, 3, 28, 28})).sizes(), (std::vector<std::int64_t>{2, 3, 32, 32}));
  const std::string channels = input_error([&] { check_processable(clip, {2, 28, 28}, vision); });
  EXPECT_NE(channels.find("2 channels"), std::string::npos) << channels;

  write_text(dir_ / "preprocessor_config.json", R"({"resample": 1})");
  const std::string resample = input_error([&] { read_hf_image_processor(dir_, vision); });
  EXPECT_NE(resample.find("preprocessor_config.json: resample = 1"), std::string::npos) << resample;
}

// ----- errors -----

TEST_F(HfVisionTest, MissingUnknownAndMisshapenTensorsAreNamed) {
  REQUIRE_NUMPY();
  const std::string missing_name = "vision_tower.vision_model.encoder.layers.0.self_attn.q_proj.weight";
  const fs::path missing = checkpoint("missing", "llava");
  edit_tensors(missing, [&](NamedTensors& tensors) {
    std::erase_if(tensors, [&](const auto& t) { return t.first == missing_name; });
  });
  std::string message = input_error([&] { load_hf_vlm(missing, tiny_lora(), {3, 32, 32}, kVocab, 1); });
  EXPECT_NE(message.find(missing.string()), std::string::npos) << message;
  EXPECT_NE(message.find("missing: " + missing_name), std::string::npos) << message;

  const fs::path unknown = checkpoint("unknown", "llava");
  edit_tensors(unknown, [](NamedTensors& tensors) {
    tensors.emplace_back("vision_tower.vision_model.embeddings.extra_token", torch::zeros({32}));
  });
  message = input_error([&] { load_hf_vlm(unknown, tiny_lora(), {3, 32, 32}, kVocab, 1); });
  EXPECT_NE(message.find(unknown.string()), std::string::npos) << message;
  EXPECT_NE(message.find("not part of the LLaVA model"), std::string::npos) << message;
  EXPECT_NE(message.find("vision_tower.vision_model.embeddings.extra_token"), std::string::npos) << message;

  const fs::path misshapen = checkpoint("misshapen", "llava");
  edit_tensors(misshapen, [](NamedTensors& tensors) {
    for (auto& [name, tensor] : tensors) {
      if (name == "multi_modal_projector.linear_1.weight") tensor = torch::zeros({32, 16});
    }
  });
  message = input_error([&] { load_hf_vlm(misshapen, tiny_lora(), {3, 32, 32}, kVocab, 1); });
  EXPECT_NE(message.find((misshapen / "model.safetensors").string()), std::string::npos) << message;
  EXPECT_NE(message.find("multi_modal_projector.linear_1.weight has shape [32, 16]"), std::string::npos) << message;
  EXPECT_NE(message.find("needs [32, 32]"), std::string::npos) << message;

  const fs::path tower = checkpoint("clip", "clip_vision");  // the standalone loader checks alike
  edit_tensors(tower, [](NamedTensors& tensors) { tensors.emplace_back("vision_model.mystery", torch::zeros({1})); });
  message = input_error([&] { load_hf_vision_tower(tower); });
  EXPECT_NE(message.find("vision_model.mystery"), std::string::npos) << message;
}

// The embedding may have more rows than the tokenizer has ids (checkpoints pad it), never fewer.
TEST_F(HfVisionTest, TokenizerLargerThanTheEmbeddingIsRefusedSmallerLoads) {
  REQUIRE_NUMPY();
  const fs::path model = checkpoint("llava", "llava");
  const std::string message = input_error([&] { load_hf_vlm(model, tiny_lora(), {3, 32, 32}, 129, 1); });
  EXPECT_NE(message.find("text_config.vocab_size = 128"), std::string::npos) << message;
  EXPECT_NE(message.find("129 ids"), std::string::npos) << message;
  EXPECT_EQ(load_hf_vlm(model, tiny_lora(), {3, 32, 32}, 100, 1)->vocab_size(), 128);
}

TEST_F(HfVisionTest, IsHfModelDirectoryNeedsConfigJson) {
  EXPECT_FALSE(is_hf_model_directory(dir_));
  write_text(dir_ / "config.json", "{}");
  EXPECT_TRUE(is_hf_model_directory(dir_));
  EXPECT_FALSE(is_hf_model_directory(dir_ / "config.json"));
}

// ----- config -----

HfLlavaConfig parse_llava(const std::string& text) { return parse_hf_llava_config(text, "/models/x/config.json"); }

TEST_F(HfVisionTest, LlavaConfigDefaultsAreTransformers) {
  // LLaVA 1.5's config.json names few keys: the rest are LlavaConfig's and CLIPVisionConfig's.
  const HfLlavaConfig config = parse_llava(R"({"model_type": "llava", "text_config": {"model_type": "llama"}})");
  EXPECT_EQ(config.vision.model_type, "clip_vision_model");
  EXPECT_EQ(config.vision.hidden_size, 1024);
  EXPECT_EQ(config.vision.num_hidden_layers, 24);
  EXPECT_EQ(config.vision.image_size, 336);
  EXPECT_EQ(config.vision.patch_size, 14);
  EXPECT_EQ(config.vision.hidden_act, "quick_gelu");
  EXPECT_EQ(config.vision_feature_layer, -2);
  EXPECT_EQ(config.vision_layers_used(), 23);
  EXPECT_EQ(config.num_image_tokens(), 576);
  EXPECT_EQ(config.image_token_index, 32000);
  const HfLlavaConfig siglip = parse_llava(
      R"({"model_type": "llava", "text_config": {}, "vision_config": {"model_type": "siglip_vision_model"},
          "vision_feature_select_strategy": "full", "vision_feature_layer": 3})");
  EXPECT_EQ(siglip.vision.patch_size, 16);
  EXPECT_EQ(siglip.vision.hidden_act, "gelu_pytorch_tanh");
  EXPECT_DOUBLE_EQ(siglip.vision.layer_norm_eps, 1e-6);
  EXPECT_EQ(siglip.vision_layers_used(), 3);
  EXPECT_EQ(siglip.num_image_tokens(), 196);
}

TEST_F(HfVisionTest, BadVisionConfigNamesFileKeyAndValue) {
  struct Case {
    std::string json;
    std::vector<std::string> expected;
  };
  const std::string llava = R"({"model_type": "llava", "text_config": {}, )";
  const std::vector<Case> cases = {
      {llava + R"("vision_feature_layer": [-2, -5]})", {"vision_feature_layer = [-2,-5]", "not several"}},
      {llava + R"("vision_feature_layer": -26})", {"vision_feature_layer = -26", "from -25 to 24"}},
      {llava + R"("vision_feature_select_strategy": "cls"})", {"vision_feature_select_strategy = \"cls\""}},
      {llava + R"("projector_hidden_act": "relu"})", {"projector_hidden_act = \"relu\""}},
      {llava + R"("multimodal_projector_bias": false})", {"multimodal_projector_bias = false"}},
      {llava + R"("vision_config": {"hidden_act": "relu"}})", {"vision_config.hidden_act = \"relu\""}},
      {llava + R"("vision_config": {"model_type": "dinov2"}})", {"vision_config.model_type = \"dinov2\""}},
      {llava + R"("vision_config": {"image_size": 30, "patch_size": 14}})", {"vision_config.image_size = 30"}},
      {llava + R"("vision_config": {"hidden_size": -1}})", {"vision_config.hidden_size = -1"}},
  };
  for (const Case& c : cases) {
    const std::string message = input_error([&] { parse_llava(c.json); });
    EXPECT_NE(message.find("/models/x/config.json"), std::string::npos) << c.json << " -> " << message;
    for (const std::string& part : c.expected) EXPECT_NE(message.find(part), std::string::npos) << c.json << " -> " << message;
  }
  const std::string not_llava = input_error([] { parse_llava(R"({"model_type": "llama"})"); });
  EXPECT_NE(not_llava.find("model_type = \"llama\""), std::string::npos) << not_llava;
}

}  // namespace
}  // namespace fedvlm::model::hf
