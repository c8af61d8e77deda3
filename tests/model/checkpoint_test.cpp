#include <gtest/gtest.h>

#include <unistd.h>

#include "fedvlm/core/error.hpp"
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
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  const std::vector<std::uint8_t> tokenizer_ = {1, 2, 3, 250};
};

// One SGD step on a fixed batch with dropout from the (seed, step) stream.
void train_step(VisionLanguageModel& model, const TrainableSet& set, const Batch& batch, std::int64_t step) {
  model.seed_dropout({1, "dropout", step, 0});
  for (auto& p : set.parameters) p.mutable_grad() = torch::Tensor();
  model.loss(batch).backward();
  torch::NoGradGuard no_grad;
  for (auto& p : set.parameters) p.sub_(p.grad() * 0.05);
}

TEST_F(CheckpointTest, SaveLoadContinueEqualsUninterruptedTraining) {
  const auto samples = make_samples(6);
  const std::vector<std::int64_t> rows = {0, 1, 2, 3, 4, 5};
  const auto batch = collate_training(samples, rows, {});
  auto original = build_model(tiny_model(), tiny_lora(0.2), kShape, kVocab, 7);
  original->train();
  save_base_checkpoint(dir_ / "base.pt", *original, tokenizer_);
  auto set = apply_strategy(*original, Strategy::kConnectorLora, 0, 0);
  for (std::int64_t step = 0; step < 2; ++step) train_step(*original, set, batch, step);
  save_finetuned(dir_ / "state.pt", *original, set, Strategy::kConnectorLora, 3);
  for (std::int64_t step = 2; step < 4; ++step) train_step(*original, set, batch, step);

  auto resumed = build_model(tiny_model(), tiny_lora(0.2), kShape, kVocab, 99);  // other init: all must come from files
  resumed->train();
  EXPECT_EQ(load_base_checkpoint(resolve_base_path(dir_.string()), *resumed, tokenizer_), tokenizer_);
  const auto state = load_finetuned(dir_ / "state.pt", *resumed);
  EXPECT_EQ(state.strategy, Strategy::kConnectorLora);
  EXPECT_EQ(state.round, 3);
  auto resumed_set = restore_finetuned(*resumed, state, 0);
  for (std::int64_t step = 2; step < 4; ++step) train_step(*resumed, resumed_set, batch, step);

  EXPECT_TRUE(torch::equal(flatten_values(resumed_set.parameters), flatten_values(set.parameters)));
  for (const auto& item : original->named_parameters()) {
    EXPECT_TRUE(torch::equal(item.value(), resumed->named_parameters()[item.key()])) << item.key();
  }
}

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

TEST_F(CheckpointTest, FinetunedStateOfOtherLoraShapeOrTokenizerIsRejected) {
  auto model = build_model(tiny_model(), tiny_lora(), kShape, kVocab, 7);
  save_base_checkpoint(dir_ / "base.pt", *model, tokenizer_);
  const std::vector<std::uint8_t> other_tokenizer = {9, 9};
  EXPECT_THROW(load_base_checkpoint(dir_ / "base.pt", *model, other_tokenizer), InputError);
  const auto set = apply_strategy(*model, Strategy::kLora, 0, 0);
  save_finetuned(dir_ / "state.pt", *model, set, Strategy::kLora, 1);
  auto lora = tiny_lora();
  lora.rank = 8;
  auto other = build_model(tiny_model(), lora, kShape, kVocab, 7);
  try {
    load_finetuned(dir_ / "state.pt", *other);
    FAIL() << "expected InputError";
  } catch (const InputError& error) {
    EXPECT_NE(std::string(error.what()).find("lora.rank: expected 8, found 4"), std::string::npos) << error.what();
  }
  EXPECT_THROW(load_finetuned(dir_ / "base.pt", *model), InputError);     // a base file is not a state
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
