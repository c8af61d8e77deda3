#include <gtest/gtest.h>

#include <unistd.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/model/checkpoint.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/model/vlm.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

using namespace testing;
namespace fs = std::filesystem;

class CheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           fmt::format("fedvlm-model-{}-{}", ::getpid(), ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fedvlm::remove_tree(dir_); }
  fs::path dir_;
  const std::vector<std::uint8_t> tokenizer_ = {1, 2, 3, 250};
};

TEST_F(CheckpointTest, WrongConfigIsRejectedNamingEachMismatchedKey) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 7);
  save_base_checkpoint(dir_ / "base.pt", *model, tokenizer_);
  auto config = tiny_model();
  config.dim = 48;
  config.ffn_dim = 64;
  auto other = build_model(config, tiny_lora(), kShape, kVocab, 7);
  try {
    load_base_checkpoint(dir_ / "base.pt", *other);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("model.dim: expected 48, found 32"), std::string::npos) << message;
    EXPECT_NE(message.find("model.ffn_dim: expected 64, found 48"), std::string::npos) << message;
  }
  auto wider_images = build_model(tiny_model(), tiny_lora(), data::ImageShape{3, 8, 8}, kVocab, 7);
  EXPECT_THROW(load_base_checkpoint(dir_ / "base.pt", *wider_images), InputError);
}

TEST_F(CheckpointTest, ConvStemBaseLoadsIntoAConvStemModelOnly) {
  auto config = tiny_model();
  config.vision_stem = "conv";
  auto source = build_model(config, tiny_lora(), kShape, kVocab, 7);
  randomize(*source, 0.5, 1);
  save_base_checkpoint(dir_ / "base.pt", *source, tokenizer_);
  auto target = build_model(config, tiny_lora(), kShape, kVocab, 8);
  load_base_checkpoint(dir_ / "base.pt", *target);
  const auto a = source->parameter_groups().vision, b = target->parameter_groups().vision;
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i].second, b[i].second)) << a[i].first;
  auto linear = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 7);
  try {
    load_base_checkpoint(dir_ / "base.pt", *linear);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("model.vision_stem: expected linear, found conv"), std::string::npos)
        << error.what();
  }
}

TEST_F(CheckpointTest, BaseOfAnotherTokenizerOrMissingFileIsRejected) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 7);
  save_base_checkpoint(dir_ / "base.pt", *model, tokenizer_);
  const std::vector<std::uint8_t> other_tokenizer = {9, 9};
  EXPECT_THROW(load_base_checkpoint(dir_ / "base.pt", *model, other_tokenizer), InputError);
  EXPECT_EQ(load_base_checkpoint(dir_ / "base.pt", *model, tokenizer_), tokenizer_);
  EXPECT_THROW(load_base_checkpoint(dir_ / "missing.pt", *model), InputError);
}

TEST_F(CheckpointTest, BaseCheckpointHoldsVisionAndDecoderButNotConnectorOrLora) {
  auto source = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 7);
  randomize(*source, 0.5, 1);
  save_base_checkpoint(dir_ / "base.pt", *source, tokenizer_);
  auto target = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 8);
  const auto connector_before = target->parameter_groups().connector.front().second.clone();
  load_base_checkpoint(dir_ / "base.pt", *target);
  const auto from = source->parameter_groups(), to = target->parameter_groups();
  for (std::size_t i = 0; i < from.vision.size(); ++i) EXPECT_TRUE(torch::equal(from.vision[i].second, to.vision[i].second));
  for (std::size_t i = 0; i < from.decoder.size(); ++i) EXPECT_TRUE(torch::equal(from.decoder[i].second, to.decoder[i].second));
  EXPECT_TRUE(torch::equal(to.connector.front().second, connector_before));
  for (const auto& [name, p] : to.lora) {
    if (name.ends_with("lora_b")) {
      EXPECT_EQ(p.abs().sum().item<double>(), 0.0) << name;
    }
  }
}

}  // namespace
}  // namespace fedvlm::model
