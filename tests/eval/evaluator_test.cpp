// The evaluation loop on a tiny randomly initialized model: what is asserted does not depend on
// the model being any good (counts, the loss plumbing, rank independence, mode restoration).
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <map>
#include <mutex>

#include "fedvlm/comm/in_process.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/eval/evaluator.hpp"
#include "fedvlm/eval/split_range.hpp"
#include "fedvlm/model/batch.hpp"

namespace fedvlm::eval {
namespace {

const std::vector<std::string> kTasks = {"cls", "cap", "vqa", "ground"};
constexpr data::ImageShape kShape{1, 16, 16};

const data::Tokenizer& tokenizer() {
  static const data::Tokenizer instance = [] {
    std::vector<std::string> texts;
    for (int i = 0; i < 200; ++i)
      texts.push_back(fmt::format("what is {} the {} shirt at {} {} bag coat a red dress", i % 2 ? "it" : "this",
                                  i % 3 ? "small" : "large", i % 100, (i * 7) % 100));
    return data::Tokenizer::train(texts, 60, 1);
  }();
  return instance;
}

ModelConfig tiny_model() {
  ModelConfig config;
  config.patch_size = 8;
  config.vision_dim = 32;
  config.vision_layers = 2;
  config.vision_heads = 2;
  config.dim = 32;
  config.layers = 1;
  config.heads = 2;
  config.kv_heads = 1;
  config.ffn_dim = 64;
  config.max_seq_len = 64;
  return config;
}

std::shared_ptr<model::VisionLanguageModel> tiny_vlm() {
  return model::build_model(tiny_model(), LoraConfig{}, kShape, tokenizer().vocab_size(), 7);
}

// Twelve rows over the four tasks, interleaved; ground rows carry a box (one NaN: the answer's).
data::Samples test_rows() {
  const std::vector<std::pair<int, std::string>> rows = {
      {0, "shirt"}, {1, "a red dress"},  {2, "red"},      {3, "12 30 50 61"}, {0, "bag"},  {1, "a small coat"},
      {2, "this"},  {3, "0 0 99 99"},    {0, "coat"},     {1, "the large bag"}, {2, "it"}, {3, "40 40 70 90"}};
  data::Samples samples;
  samples.image_shape = kShape;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    std::vector<std::uint8_t> image(static_cast<std::size_t>(kShape.numel()));
    for (std::size_t p = 0; p < image.size(); ++p) image[p] = static_cast<std::uint8_t>((p * 31 + i * 17) % 256);
    const auto& [task, answer] = rows[i];
    std::array<float, 4> box = {NAN, NAN, NAN, NAN};
    if (task == 3 && i != 7) box = {0.1f, 0.2f, 0.5f, 0.6f};
    samples.add(image, static_cast<std::uint8_t>(task), tokenizer().encode(fmt::format("what is the {}", i % 5)),
                tokenizer().encode(answer), -1, box);
  }
  return samples;
}

TEST(Evaluator, ScoresEveryRowOnceAndTheLossIsTheTokenWeightedMean) {
  auto model = tiny_vlm();
  const data::Samples rows = test_rows();
  EvalConfig config;
  config.batch_size = 2;  // each task's 3 rows in batches of 2 and 1
  config.max_new_tokens = 4;
  MetricsAccumulator accumulator = score_rows(*model, rows, tokenizer(), kTasks, config, torch::kCPU);
  for (const std::string& task : kTasks) EXPECT_EQ(accumulator.at(task).examples(), 3) << task;
  EXPECT_EQ(accumulator.at("cap").captions().size(), 3u);
  EXPECT_EQ(accumulator.at("cap").captions()[0].references, std::vector<std::string>{"a red dress"});

  // The summed batch losses equal one batch of all the task's rows (model.loss is the mean
  // over supervised tokens, so sum = mean * tokens).
  torch::NoGradGuard no_grad;
  model->eval();
  const std::vector<std::int64_t> cls_rows = {0, 4, 8};
  const model::SpecialTokens special{tokenizer().pad_id(), tokenizer().bos_id(), tokenizer().eos_id()};
  const model::Batch batch = model::collate_training(rows, cls_rows, special);
  const double expected = model->loss(batch).item<double>();
  EXPECT_NEAR(accumulator.at("cls").finish().at("loss"), expected, 1e-5);

  const MetricsTable table = accumulator.finish();
  ASSERT_EQ(table.size(), 4u);
  for (const char* metric : {"accuracy", "loss"}) EXPECT_TRUE(table.at("vqa").contains(metric)) << metric;
  for (const char* metric : {"bleu4", "rouge_l", "cider", "loss"}) EXPECT_TRUE(table.at("cap").contains(metric)) << metric;
  for (const char* metric : {"iou", "acc_iou50", "loss"}) EXPECT_TRUE(table.at("ground").contains(metric)) << metric;
}

// The per-answer records: one per row, in row order, each scored as the table counts it.
TEST(Evaluator, RecordsEveryAnswerInRowOrderWithTheScoreTheTableCounts) {
  auto model = tiny_vlm();
  const data::Samples rows = test_rows();
  EvalConfig config;
  config.batch_size = 2;
  config.max_new_tokens = 4;
  std::vector<Prediction> predictions = {{.row = -1, .task = "earlier"}};  // appended after what is there
  const MetricsTable table =
      score_rows(*model, rows, tokenizer(), kTasks, config, torch::kCPU, &predictions).finish();
  ASSERT_EQ(predictions.size(), static_cast<std::size_t>(rows.size()) + 1);
  EXPECT_EQ(predictions[0].task, "earlier");
  std::map<std::string, std::pair<double, int>> score_sums;
  for (std::int64_t row = 0; row < rows.size(); ++row) {
    const Prediction& p = predictions[static_cast<std::size_t>(row) + 1];
    EXPECT_EQ(p.row, row);
    EXPECT_EQ(p.task, kTasks[rows.task[static_cast<std::size_t>(row)]]);
    EXPECT_EQ(p.prompt, tokenizer().decode(rows.prompt_of(row)));
    EXPECT_EQ(p.reference, tokenizer().decode(rows.answer_of(row)));
    if (p.task == "cap") {
      EXPECT_TRUE(std::isnan(p.score));
    } else {
      score_sums[p.task].first += p.score;
      score_sums[p.task].second += 1;
    }
  }
  EXPECT_DOUBLE_EQ(score_sums["cls"].first / score_sums["cls"].second, table.at("cls").at("accuracy"));
  EXPECT_DOUBLE_EQ(score_sums["vqa"].first / score_sums["vqa"].second, table.at("vqa").at("accuracy"));
  EXPECT_NEAR(score_sums["ground"].first / score_sums["ground"].second, table.at("ground").at("iou"), 1e-12);
}

TEST(Evaluator, RestoresTheTrainingFlagAndRecordsNoGradient) {
  auto model = tiny_vlm();
  model->train();
  EvalConfig config;
  config.max_new_tokens = 2;
  comm::run_in_process(1, [&](comm::Communicator& communicator) {
    evaluate(*model, test_rows(), tokenizer(), kTasks, config, communicator);
  });
  EXPECT_TRUE(model->is_training());
  for (const auto& parameter : model->parameters()) EXPECT_FALSE(parameter.grad().defined());
}

TEST(Evaluator, TableAtOneTwoThreeRanksMatchesOnePass) {
  const data::Samples rows = test_rows();
  EvalConfig config;
  config.batch_size = 1;  // the same batches whatever the split, so generation is identical
  config.max_new_tokens = 4;
  const MetricsTable expected = score_rows(*tiny_vlm(), rows, tokenizer(), kTasks, config, torch::kCPU).finish();

  for (int world : {1, 2, 3}) {
    std::vector<std::shared_ptr<model::VisionLanguageModel>> models;  // one per rank, like processes
    for (int rank = 0; rank < world; ++rank) models.push_back(tiny_vlm());
    std::mutex mutex;
    std::vector<MetricsTable> tables(static_cast<std::size_t>(world));
    comm::run_in_process(
        world,
        [&](comm::Communicator& communicator) {
          const auto [begin, end] = split_range(rows.size(), communicator.rank(), world);
          std::vector<std::int64_t> mine;
          for (std::int64_t row = begin; row < end; ++row) mine.push_back(row);
          MetricsTable table =
              evaluate(*models[communicator.rank()], rows.select(mine), tokenizer(), kTasks, config, communicator);
          std::lock_guard lock(mutex);
          tables[communicator.rank()] = std::move(table);
        },
        std::chrono::seconds(120));
    for (int rank = 1; rank < world; ++rank) EXPECT_TRUE(tables[rank].empty()) << "rank " << rank;
    ASSERT_EQ(tables[0].size(), expected.size()) << "world " << world;
    for (const auto& [task, metrics] : expected) {
      ASSERT_EQ(tables[0].at(task).size(), metrics.size()) << task;
      for (const auto& [name, value] : metrics)
        EXPECT_NEAR(tables[0].at(task).at(name), value, 1e-6) << task << "/" << name << ", world " << world;
    }
  }
}

TEST(Evaluator, RejectsBadConfigurationAndUnknownTaskIds) {
  auto model = tiny_vlm();
  EvalConfig config;
  config.batch_size = 0;
  EXPECT_THROW(score_rows(*model, test_rows(), tokenizer(), kTasks, config, torch::kCPU), fedvlm::InputError);
  config.batch_size = 4;
  const std::vector<std::string> two_tasks = {"cls", "cap"};  // rows use task ids up to 3
  EXPECT_THROW(score_rows(*model, test_rows(), tokenizer(), two_tasks, config, torch::kCPU), fedvlm::InputError);
}

}  // namespace
}  // namespace fedvlm::eval
