#include <gtest/gtest.h>

#include <cmath>

#include "fedvlm/core/error.hpp"
#include "fedvlm/eval/bleu.hpp"
#include "fedvlm/eval/cider.hpp"
#include "fedvlm/eval/rouge.hpp"
#include "fedvlm/eval/task_metrics.hpp"

namespace fedvlm::eval {
namespace {

TEST(TaskMetrics, ClassificationAccuracyAndTokenWeightedLoss) {
  TaskMetrics cls("cls");
  EXPECT_EQ(cls.add_prediction("Sandal", "sandal"), 1.0);  // each answer's own score
  EXPECT_EQ(cls.add_prediction("a bag.", "Bag"), 1.0);
  EXPECT_EQ(cls.add_prediction("Coat", "shirt"), 0.0);
  cls.add_loss(3.0, 2);  // two tokens, mean 1.5
  cls.add_loss(1.0, 2);  // two tokens, mean 0.5 -> overall (3 + 1) / 4 = 1.0
  const auto metrics = cls.finish();
  EXPECT_EQ(metrics.size(), 2u);
  EXPECT_DOUBLE_EQ(metrics.at("accuracy"), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(metrics.at("loss"), 1.0);
  EXPECT_EQ(cls.examples(), 3);
}

TEST(TaskMetrics, VqaUsesExactMatchToo) {
  TaskMetrics vqa("vqa");
  vqa.add_prediction("The red one", "red one");
  vqa.add_prediction("yes", "no");
  EXPECT_DOUBLE_EQ(vqa.finish().at("accuracy"), 0.5);
}

TEST(TaskMetrics, GroundingMeanIouAndAccuracyAtHalf) {
  // Reference (0,0)-(0.5,0.5). IoUs: exact 1, shifted by a quarter 1/7, unparsable 0.
  // iou = (1 + 1/7 + 0) / 3 = 8/21; acc_iou50 = 1/3.
  TaskMetrics ground("ground");
  const Box reference{0, 0, 0.5, 0.5};
  EXPECT_NEAR(ground.add_prediction("0.0 0.0 0.5 0.5", "", reference), 1.0, 1e-12);
  EXPECT_NEAR(ground.add_prediction("[0.25, 0.25, 0.75, 0.75]", "", reference), 1.0 / 7.0, 1e-12);
  EXPECT_EQ(ground.add_prediction("somewhere", "", reference), 0.0);
  const auto metrics = ground.finish();
  EXPECT_NEAR(metrics.at("iou"), 8.0 / 21.0, 1e-12);
  EXPECT_DOUBLE_EQ(metrics.at("acc_iou50"), 1.0 / 3.0);
  EXPECT_FALSE(metrics.contains("loss"));  // no loss was added
}

TEST(TaskMetrics, GroundingFallsBackToTheBoxInTheReferenceText) {
  TaskMetrics ground("ground");
  ground.add_prediction("0 0 99 99", "0 0 99 99");
  EXPECT_NEAR(ground.finish().at("iou"), 1.0, 1e-12);
  EXPECT_THROW(ground.add_prediction("0 0 99 99", "no box here"), fedvlm::InputError);
}

TEST(TaskMetrics, CaptionsGiveTheCorpusMetrics) {
  TaskMetrics cap("cap");
  EXPECT_TRUE(std::isnan(cap.add_prediction("a cat", "a cat")));  // no per-answer score
  cap.add_caption("a dog", {"a dog", "a small dog"});
  const std::vector<CaptionExample> corpus = {{"a cat", {"a cat"}}, {"a dog", {"a dog", "a small dog"}}};
  const auto metrics = cap.finish();
  EXPECT_DOUBLE_EQ(metrics.at("bleu4"), corpus_bleu4(corpus));
  EXPECT_DOUBLE_EQ(metrics.at("rouge_l"), corpus_rouge_l(corpus));
  EXPECT_DOUBLE_EQ(metrics.at("cider"), corpus_cider_d(corpus));
  EXPECT_GT(metrics.at("cider"), 0.0);
}

TEST(TaskMetrics, RejectsUnknownTasksAndMisplacedCaptions) {
  EXPECT_THROW(TaskMetrics("retrieval"), fedvlm::InputError);
  TaskMetrics cls("cls");
  EXPECT_THROW(cls.add_caption("a", {"a"}), fedvlm::Error);
  TaskMetrics cap("cap");
  EXPECT_THROW(cap.add_caption("a", {}), fedvlm::Error);
  EXPECT_THROW(cls.merge(cap), fedvlm::Error);
}

TEST(TaskMetrics, MergeEqualsOnePass) {
  TaskMetrics whole("vqa"), first("vqa"), second("vqa");
  const std::vector<std::pair<std::string, std::string>> answers = {{"yes", "yes"}, {"two", "2"}, {"red", "Red"}};
  for (std::size_t i = 0; i < answers.size(); ++i) {
    whole.add_prediction(answers[i].first, answers[i].second);
    (i < 1 ? first : second).add_prediction(answers[i].first, answers[i].second);
  }
  first.merge(second);
  EXPECT_EQ(first.sums(), whole.sums());
}

TEST(MetricsAccumulator, FinishesEveryTaskAndLeavesOutTasksWithoutExamples) {
  MetricsAccumulator accumulator({"cls", "cap", "vqa", "ground"});
  accumulator.at("cls").add_prediction("bag", "bag");
  accumulator.at("ground").add_prediction("0 0 99 99", "", Box{0, 0, 1, 1});
  const MetricsTable table = accumulator.finish();
  EXPECT_EQ(table.size(), 2u);
  EXPECT_DOUBLE_EQ(table.at("cls").at("accuracy"), 1.0);
  EXPECT_NEAR(table.at("ground").at("iou"), 1.0, 1e-12);
  EXPECT_THROW(accumulator.at("nope"), fedvlm::Error);
  EXPECT_THROW(MetricsAccumulator({"cls", "cls"}), fedvlm::InputError);
}

TEST(FormatMetricsTable, OneRowPerTaskKnownColumnsInOrderDashesWhereMissing) {
  const MetricsTable table = {{"cls", {{"loss", 1.25}, {"accuracy", 0.5}}}, {"cap", {{"bleu4", 0.125}}}};
  const std::string text = format_metrics_table(table);
  const std::string expected =
      "task   accuracy      bleu4       loss\n"
      "cap           -     0.1250          -\n"
      "cls      0.5000          -     1.2500\n";
  EXPECT_EQ(text, expected);
}

}  // namespace
}  // namespace fedvlm::eval
