#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <array>
#include <fstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/model/checkpoint.hpp"
#include "fedvlm/model/pretrain.hpp"
#include "fedvlm/model/vlm.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

using namespace testing;
namespace fs = std::filesystem;

Config tiny_pretrain_config() {
  Config config;
  config.model = tiny_model();
  config.lora = tiny_lora();
  config.pretrain.vision_steps = 4;
  config.pretrain.lm_steps = 4;
  config.pretrain.batch_size = 4;
  config.run.seed = 3;
  return config;
}

class PretrainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("fedvlm-pretrain-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override { fedvlm::remove_tree(dir_); }

  // Loads the base in dir_/name into a fresh model of `config`'s shape drawn from `seed`.
  std::shared_ptr<VisionLanguageModel> load_base(const std::string& name, const Config& config,
                                                 const data::ImageShape& shape, std::uint64_t seed = 1) {
    auto model = build_model(config.model, config.lora, shape, kVocab, seed);
    EXPECT_EQ(load_base_checkpoint(dir_ / name, *model, tokenizer_), tokenizer_);
    return model;
  }

  // Pretrains into dir_/name and loads the result into a fresh model.
  std::shared_ptr<VisionLanguageModel> pretrain_and_load(const Config& config, const data::Samples& samples,
                                                         const std::string& name) {
    PretrainVocabulary vocabulary{kVocab, {}, tokenizer_};
    pretrain_on_samples(config, samples, vocabulary, dir_ / name);
    return load_base(name, config, samples.image_shape);
  }

  fs::path dir_;
  const std::vector<std::uint8_t> tokenizer_ = {7, 7, 7};
};

TEST_F(PretrainTest, WritesBaseAndLogAndIsDeterministicGivenTheSeed) {
  const auto config = tiny_pretrain_config();
  const auto samples = make_samples(10);
  auto first = pretrain_and_load(config, samples, "a");
  auto second = pretrain_and_load(config, samples, "b");
  auto untrained = build_model(config.model, config.lora, samples.image_shape, kVocab, 1);
  const auto a = first->parameter_groups(), b = second->parameter_groups(), init = untrained->parameter_groups();
  for (std::size_t i = 0; i < a.decoder.size(); ++i) EXPECT_TRUE(torch::equal(a.decoder[i].second, b.decoder[i].second));
  for (std::size_t i = 0; i < a.vision.size(); ++i) EXPECT_TRUE(torch::equal(a.vision[i].second, b.vision[i].second));
  // Training moved both parts (the first vision block and the embedding).
  EXPECT_FALSE(torch::equal(a.vision.front().second, init.vision.front().second));
  EXPECT_FALSE(torch::equal(a.decoder.front().second, init.decoder.front().second));

  std::ifstream log(dir_ / "a" / "pretrain.jsonl");
  std::string line, text;
  int lines = 0;
  while (std::getline(log, line)) {
    ++lines;
    text += line;
  }
  EXPECT_EQ(lines, 3);  // the last step of each phase (every 10th step otherwise) and the vision evaluation
  EXPECT_NE(text.find(R"("phase":"vision")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("phase":"vision-eval","split":"public")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("phase":"lm")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("step":4)"), std::string::npos) << text;
}

// Images that are all black (label 0) or all white (label 1): trivially separable.
data::Samples two_shades(std::int64_t n, bool inverted_labels) {
  auto samples = make_samples(n);
  const auto pixels = samples.image_shape.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    const bool white = i % 2 == 1;
    std::fill_n(samples.images.begin() + i * pixels, pixels, white ? 255 : 0);
    samples.label[i] = white != inverted_labels ? 1 : 0;
  }
  return samples;
}

std::vector<nlohmann::json> eval_records(const fs::path& jsonl) {
  std::vector<nlohmann::json> records;
  std::ifstream in(jsonl);
  for (std::string line; std::getline(in, line);) {
    auto record = nlohmann::json::parse(line);
    if (record["phase"] == "vision-eval") records.push_back(record);
  }
  return records;
}

TEST_F(PretrainTest, VisionPhaseReportsTheHeadsAccuracyOnPublicAndHeldOutImages) {
  auto config = tiny_pretrain_config();
  config.pretrain.vision_steps = 40;
  config.pretrain.lm_steps = 0;
  config.pretrain.batch_size = 8;
  PretrainVocabulary vocabulary{kVocab, {}, tokenizer_};
  // Held-out images labelled the other way round: a head that learned the public rule gets them all wrong.
  const auto held_out = two_shades(12, /*inverted_labels=*/true);
  pretrain_on_samples(config, two_shades(16, false), vocabulary, dir_ / "shades", &held_out);
  const auto records = eval_records(dir_ / "shades" / "pretrain.jsonl");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0]["split"], "public");
  EXPECT_DOUBLE_EQ(records[0]["accuracy"].get<double>(), 1.0);
  EXPECT_EQ(records[1]["split"], "test");
  EXPECT_DOUBLE_EQ(records[1]["accuracy"].get<double>(), 0.0);
}

TEST_F(PretrainTest, FlipShiftAndDenseLossesChangeTheVisionPhaseOnly) {
  auto config = tiny_pretrain_config();
  const auto samples = make_samples(10);
  auto plain = pretrain_and_load(config, samples, "plain");
  for (const std::string variant : {"flip", "shift", "dense"}) {
    auto changed = config;
    if (variant == "flip") changed.pretrain.flip = true;
    if (variant == "shift") changed.pretrain.shift = 2;
    if (variant == "dense") changed.pretrain.dense_weight = 1.0;
    auto other = pretrain_and_load(changed, samples, variant);
    const auto a = plain->parameter_groups(), b = other->parameter_groups();
    EXPECT_FALSE(torch::equal(a.vision.front().second, b.vision.front().second)) << variant;
    for (std::size_t i = 0; i < a.decoder.size(); ++i)
      EXPECT_TRUE(torch::equal(a.decoder[i].second, b.decoder[i].second)) << variant;
  }
}

// Black 8x8 images with one white 4x4 item in patch i % 4, labelled i % 3; every second image
// also holds a second item and stores the first one's box, as Fashion's grounding images do.
data::Samples boxed_items(std::int64_t n) {
  auto samples = make_samples(n);
  std::fill(samples.images.begin(), samples.images.end(), 0);
  for (std::int64_t i = 0; i < n; ++i) {
    auto paint = [&](std::int64_t patch) {
      for (std::int64_t y = 0; y < 4; ++y)
        for (std::int64_t x = 0; x < 4; ++x)
          samples.images[static_cast<std::size_t>(i * 64 + (patch / 2 * 4 + y) * 8 + patch % 2 * 4 + x)] = 255;
    };
    const auto patch = i % 4;
    paint(patch);
    if (i % 2 == 1) {
      paint((patch + 1) % 4);
      const std::array<float, 4> box{patch % 2 * 0.5f, patch / 2 * 0.5f, patch % 2 * 0.5f + 0.5f, patch / 2 * 0.5f + 0.5f};
      std::copy(box.begin(), box.end(), samples.box.begin() + 4 * i);
    }
  }
  return samples;
}

TEST_F(PretrainTest, DenseLossesReportGroundingIouAndTheBaseHoldsOnlyTheEncoder) {
  auto config = tiny_pretrain_config();
  config.model.vision_stem = "conv";
  config.pretrain.vision_steps = 20;
  config.pretrain.lm_steps = 0;
  config.pretrain.batch_size = 8;
  config.pretrain.dense_weight = 1.0;
  config.pretrain.shift = 1;
  config.pretrain.flip = true;
  PretrainVocabulary vocabulary{kVocab, {}, tokenizer_};
  const auto held_out = boxed_items(12);
  pretrain_on_samples(config, boxed_items(16), vocabulary, dir_ / "dense", &held_out);
  const auto records = eval_records(dir_ / "dense" / "pretrain.jsonl");
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[2]["split"], "test");
  const auto iou = records[2]["ground_iou"].get<double>();
  EXPECT_GE(iou, 0.0);
  EXPECT_LE(iou, 1.0);
  // The base loads into a plain conv-stem model: the throwaway heads were not saved.
  auto model = build_model(config.model, config.lora, held_out.image_shape, kVocab, 1);
  EXPECT_EQ(load_base_checkpoint(dir_ / "dense", *model, tokenizer_), tokenizer_);
  config.pretrain.shift = 8;  // as large as the image: every item could leave it
  EXPECT_THROW(pretrain_on_samples(config, boxed_items(16), vocabulary, dir_ / "too-far", &held_out), InputError);
}

TEST_F(PretrainTest, UnlabeledImagesUseMaskedPatchReconstruction) {
  auto config = tiny_pretrain_config();
  config.pretrain.lm_steps = 0;
  auto samples = make_samples(10);
  std::fill(samples.label.begin(), samples.label.end(), -1);
  auto model = pretrain_and_load(config, samples, "unlabeled");
  auto untrained = build_model(config.model, config.lora, samples.image_shape, kVocab, 1);
  EXPECT_FALSE(torch::equal(model->parameter_groups().vision.front().second,
                            untrained->parameter_groups().vision.front().second));
}

TEST_F(PretrainTest, EncoderFreeModelsPretrainTheLanguageModelOnly) {
  auto config = tiny_pretrain_config();
  config.model.kind = "encoder-free";
  auto model = pretrain_and_load(config, make_samples(10), "free");
  EXPECT_TRUE(model->parameter_groups().vision.empty());
}

// make_samples with every other sample a caption ("cap", task id 1 of {"cls", "cap"}).
data::Samples with_captions(std::int64_t n) {
  auto samples = make_samples(n);
  for (std::int64_t i = 0; i < n; ++i) samples.task[i] = static_cast<std::uint8_t>(i % 2);
  return samples;
}

TEST_F(PretrainTest, CaptionPhaseTrainsAndStoresTheEncoderFreePatchEmbedding) {
  auto config = tiny_pretrain_config();
  config.model.kind = "encoder-free";
  config.pretrain.lm_steps = 2;
  config.pretrain.caption_steps = 4;
  const auto samples = with_captions(10);
  PretrainVocabulary vocabulary{kVocab, {}, tokenizer_, {"cls", "cap"}};
  pretrain_on_samples(config, samples, vocabulary, dir_ / "captions");
  auto no_captions = config;
  no_captions.pretrain.caption_steps = 0;
  pretrain_on_samples(no_captions, samples, vocabulary, dir_ / "language");
  EXPECT_TRUE(base_holds_connector(dir_ / "captions"));
  EXPECT_FALSE(base_holds_connector(dir_ / "language"));
  std::ifstream log(dir_ / "captions" / "pretrain.jsonl");
  const std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(R"("phase":"caption","seconds")"), std::string::npos) << text;  // the phase logged its steps

  // The trained patch embedding is the base's: models drawn from any seed load the same one, and
  // it is neither their own draw nor the one pretraining started from (run.seed 3).
  auto load = [&](const std::string& name, std::uint64_t seed) { return load_base(name, config, samples.image_shape, seed); };
  const auto first = load("captions", 1)->parameter_groups(), other = load("captions", 7)->parameter_groups();
  const auto start = build_model(config.model, config.lora, samples.image_shape, kVocab, 3)->parameter_groups();
  const auto plain = load("language", 1)->parameter_groups();
  ASSERT_FALSE(first.connector.empty());
  for (std::size_t i = 0; i < first.connector.size(); ++i) {
    EXPECT_EQ(first.connector[i].first.rfind("patch_embedding.", 0), 0u) << first.connector[i].first;
    EXPECT_TRUE(torch::equal(first.connector[i].second, other.connector[i].second)) << first.connector[i].first;
    EXPECT_FALSE(torch::equal(first.connector[i].second, start.connector[i].second)) << first.connector[i].first;
  }
  // Without the phase the patch embedding stays each run's own draw; with it the decoder trained on.
  EXPECT_TRUE(torch::equal(plain.connector.front().second,
                           build_model(config.model, config.lora, samples.image_shape, kVocab, 1)
                               ->parameter_groups().connector.front().second));
  EXPECT_FALSE(torch::equal(first.decoder.front().second, plain.decoder.front().second));

  // A base continued without a caption phase keeps the patch embedding it was given.
  auto continued = no_captions;
  continued.model.base = (dir_ / "captions").string();
  pretrain_on_samples(continued, samples, vocabulary, dir_ / "continued");
  EXPECT_TRUE(base_holds_connector(dir_ / "continued"));
  const auto kept = load("continued", 1)->parameter_groups();
  EXPECT_TRUE(torch::equal(kept.connector.front().second, first.connector.front().second));

  // No caption samples: refused before writing anything, naming the key and the tasks.
  try {
    pretrain_on_samples(config, make_samples(6), vocabulary, dir_ / "no-captions");
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("pretrain.caption_steps = 4"), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("cls, cap"), std::string::npos) << error.what();
  }
  EXPECT_FALSE(fs::exists(dir_ / "no-captions"));
}

TEST_F(PretrainTest, CaptionPhaseAlignsTheConnectorAloneOfAnEncoderBase) {
  auto config = tiny_pretrain_config();
  config.pretrain.vision_steps = 2;
  config.pretrain.lm_steps = 2;
  const auto samples = with_captions(10);
  PretrainVocabulary vocabulary{kVocab, {}, tokenizer_, {"cls", "cap"}};
  pretrain_on_samples(config, samples, vocabulary, dir_ / "plain");
  auto aligned = config;
  aligned.pretrain.caption_steps = 3;
  pretrain_on_samples(aligned, samples, vocabulary, dir_ / "aligned");
  auto load = [&](const std::string& name, const Config& c) {
    return load_base(name, c, samples.image_shape)->parameter_groups();
  };
  const auto a = load("plain", config), b = load("aligned", config);
  // LLaVA's stage 1: the encoder and the decoder are frozen, bit for bit; the connector moved
  // away from the fine-tuning run's own draw (which the plain base leaves in place).
  for (std::size_t i = 0; i < a.vision.size(); ++i) EXPECT_TRUE(torch::equal(a.vision[i].second, b.vision[i].second));
  for (std::size_t i = 0; i < a.decoder.size(); ++i) EXPECT_TRUE(torch::equal(a.decoder[i].second, b.decoder[i].second));
  ASSERT_FALSE(b.connector.empty());
  EXPECT_FALSE(torch::equal(a.connector.front().second, b.connector.front().second));
  // The base records its connector's kind: a model with another connector is refused by name.
  auto wider = config;
  wider.model.connector = config.model.connector == "linear" ? "mlp2x_gelu" : "linear";
  try {
    load("aligned", wider);
    ADD_FAILURE() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("model.connector = \"" + config.model.connector + "\""), std::string::npos) << error.what();
  }
  EXPECT_NO_THROW(load("plain", wider));  // a base without a connector fits any
}

TEST_F(PretrainTest, ContinuesFromABaseTrainingOnlyThePhasesWithSteps) {
  auto config = tiny_pretrain_config();
  const auto samples = make_samples(10);
  auto base = pretrain_and_load(config, samples, "base");

  // No steps at all: the written base is the one it started from, whatever run.seed draws.
  auto same = config;
  same.model.base = (dir_ / "base").string();
  same.run.seed = 99;
  same.pretrain.vision_steps = same.pretrain.lm_steps = 0;
  auto copy = pretrain_and_load(same, samples, "copy");
  // A language phase only: the vision encoder is the base's, bit for bit; the decoder moved on.
  auto language = same;
  language.pretrain.lm_steps = 4;
  auto longer = pretrain_and_load(language, samples, "language");
  const auto a = base->parameter_groups(), b = copy->parameter_groups(), c = longer->parameter_groups();
  for (std::size_t i = 0; i < a.vision.size(); ++i) {
    EXPECT_TRUE(torch::equal(a.vision[i].second, b.vision[i].second)) << a.vision[i].first;
    EXPECT_TRUE(torch::equal(a.vision[i].second, c.vision[i].second)) << a.vision[i].first;
  }
  for (std::size_t i = 0; i < a.decoder.size(); ++i) EXPECT_TRUE(torch::equal(a.decoder[i].second, b.decoder[i].second));
  EXPECT_FALSE(torch::equal(a.decoder.front().second, c.decoder.front().second));

  // Refused before any training, each with its reason: another tokenizer, a base of another
  // shape, a Hugging Face model directory (a base for fine-tuning, not for pretraining).
  auto refused = [&](const Config& config, std::vector<std::uint8_t> tokenizer, const std::string& out,
                     const std::string& reason) {
    try {
      pretrain_on_samples(config, samples, PretrainVocabulary{kVocab, {}, tokenizer}, dir_ / out);
      ADD_FAILURE() << out << ": expected InputError";
    } catch (const InputError& error) {
      EXPECT_NE(std::string(error.what()).find(reason), std::string::npos) << out << ": " << error.what();
    }
  };
  refused(language, {1, 2}, "refused", "tokenizer");
  auto wider = language;
  wider.model.dim *= 2;
  refused(wider, tokenizer_, "wider", "dim");
  fs::create_directories(dir_ / "hf");
  std::ofstream(dir_ / "hf" / "config.json") << "{}";
  auto hf = language;
  hf.model.base = (dir_ / "hf").string();
  refused(hf, tokenizer_, "from-hf", "continues only its own bases");
  for (const char* refused : {"refused", "wider", "from-hf"}) EXPECT_FALSE(fs::exists(dir_ / refused)) << refused;
}

}  // namespace
}  // namespace fedvlm::model
