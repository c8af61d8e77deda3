#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

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
  void TearDown() override { fs::remove_all(dir_); }

  // Pretrains into dir_/name and loads the result into a fresh model.
  std::shared_ptr<VisionLanguageModel> pretrain_and_load(const Config& config, const data::Samples& samples,
                                                         const std::string& name) {
    PretrainVocabulary vocabulary{kVocab, {}, tokenizer_};
    pretrain_on_samples(config, samples, vocabulary, dir_ / name);
    auto model = build_model(config.model, config.lora, samples.image_shape, kVocab, 1);
    EXPECT_EQ(load_base_checkpoint(dir_ / name, *model, tokenizer_), tokenizer_);
    return model;
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
  EXPECT_EQ(lines, 2);  // the last step of each phase (every 10th step otherwise)
  EXPECT_NE(text.find(R"("phase":"vision")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("phase":"lm")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("step":4)"), std::string::npos) << text;
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

}  // namespace
}  // namespace fedvlm::model
