#include <gtest/gtest.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/connector.hpp"
#include "fedvlm/model/vlm.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

using namespace testing;

TEST(ModelShapes, LogitsAndImageTokensHaveTheDocumentedShapes) {
  for (const std::string kind : {"encoder", "encoder-free"}) {
    auto model = build_model(tiny_model(kind), tiny_lora(), kShape, kVocab);
    const auto samples = make_samples(3);
    const std::vector<std::int64_t> rows = {0, 1, 2};
    const auto batch = collate_training(samples, rows, {});
    EXPECT_EQ(model->num_image_tokens(), 4) << kind;
    const auto images = model->embed_images(batch.images);
    EXPECT_EQ(images.sizes(), (std::vector<std::int64_t>{3, 4, 32})) << kind;
    const auto logits = model->logits(batch);
    EXPECT_EQ(logits.sizes(), (std::vector<std::int64_t>{3, batch.length(), kVocab})) << kind;
    EXPECT_EQ(logits.scalar_type(), torch::kFloat32);
    const auto loss = model->loss(batch);
    EXPECT_EQ(loss.dim(), 0);
    EXPECT_TRUE(std::isfinite(loss.item<double>()));
  }
}

TEST(ModelShapes, BatchTensorsHaveTheDocumentedTypes) {
  const auto samples = make_samples(2);
  const std::vector<std::int64_t> rows = {1, 0};
  const auto batch = collate_training(samples, rows, {});
  EXPECT_EQ(batch.images.scalar_type(), torch::kFloat32);
  EXPECT_EQ(batch.images.sizes(), (std::vector<std::int64_t>{2, 1, 8, 8}));
  EXPECT_LE(batch.images.max().item<float>(), 1.0f);
  EXPECT_GE(batch.images.min().item<float>(), -1.0f);
  EXPECT_EQ(batch.tokens.scalar_type(), torch::kInt64);
  EXPECT_EQ(batch.labels.scalar_type(), torch::kInt64);
  EXPECT_EQ(batch.attention_mask.scalar_type(), torch::kBool);
  // Pixel (0,0) of sample 1 maps to (v / 255 - 0.5) / 0.5.
  const float expected = (samples.images[64] / 255.0f - 0.5f) / 0.5f;
  EXPECT_NEAR(batch.images[0][0][0][0].item<float>(), expected, 1e-6);
}

TEST(ModelShapes, ConnectorsHaveLlavaDepths) {
  auto count_linear = [](torch::nn::Sequential connector) {
    int linear = 0;
    for (const auto& module : connector->children()) linear += module->as<torch::nn::Linear>() != nullptr;
    return linear;
  };
  EXPECT_EQ(count_linear(make_connector("linear", 16, 32)), 1);
  EXPECT_EQ(count_linear(make_connector("mlp2x_gelu", 16, 32)), 2);
  EXPECT_EQ(count_linear(make_connector("mlp6x_gelu", 16, 32)), 6);
  EXPECT_EQ(make_connector("mlp6x_gelu", 16, 32)->size(), 11u);  // Linear + 5 x (GELU, Linear)
  EXPECT_THROW(make_connector("mlp3x_relu", 16, 32), InputError);
}

TEST(ModelShapes, ImageSizeNotDivisibleByPatchSizeIsRejectedWithSizesThatWork) {
  try {
    build_model(tiny_model(), tiny_lora(), data::ImageShape{1, 30, 32}, kVocab);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("patch_size=4"), std::string::npos) << message;
    EXPECT_NE(message.find("sizes that work: 1, 2"), std::string::npos) << message;
  }
}

TEST(ModelShapes, TooManyImageTokensForMaxSeqLenIsRejectedWithPatchSizesThatFit) {
  auto config = tiny_model();
  config.patch_size = 2;  // 16 x 16 = 256 image tokens from 32 x 32 images
  try {
    build_model(config, tiny_lora(), data::ImageShape{1, 32, 32}, kVocab);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("256 image tokens"), std::string::npos) << message;
    EXPECT_NE(message.find("patch sizes that fit: 8 16 32"), std::string::npos) << message;
  }
}

TEST(ModelShapes, SequenceLongerThanMaxSeqLenIsRejected) {
  auto config = tiny_model();
  config.max_seq_len = 8;  // 4 image tokens + at most 4 text tokens
  auto model = build_model(config, tiny_lora(), kShape, kVocab);
  const auto samples = make_samples(5);
  const std::vector<std::int64_t> rows = {4};  // 1 + 5 + 2 + 1 = 9 text tokens
  EXPECT_THROW(model->loss(collate_training(samples, rows, {})), InputError);
}

TEST(ModelShapes, UnknownKindAndBadHeadsAreRejected) {
  auto config = tiny_model("llava");
  EXPECT_THROW(build_model(config, tiny_lora(), kShape, kVocab), InputError);
  config = tiny_model();
  config.kv_heads = 3;
  EXPECT_THROW(build_model(config, tiny_lora(), kShape, kVocab), InputError);
}

}  // namespace
}  // namespace fedvlm::model
