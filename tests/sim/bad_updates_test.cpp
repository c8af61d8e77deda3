// Bad client updates (issue 14, item 3): a non-finite update, or one whose norm exceeds
// fl.max_update_norm, is left out of aggregation with a warning naming client and round; the run
// stops with a clear error when more than fl.max_bad_fraction of a cohort is bad.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/fl/round_protocol.hpp"
#include "fedvlm/sim/client_group_trainer.hpp"
#include "federation_fixture.hpp"

namespace fs = std::filesystem;
using namespace fedvlm;

namespace {

using Federation = test_support::FederationTest;

struct Folding {
  Config config;
  std::unique_ptr<fl::Algorithm> algorithm;
  fl::Accumulator accumulator;
  torch::Tensor x = torch::zeros({4});

  explicit Folding(const std::string& name) {
    config.fl.algorithm = name;
    algorithm = fl::make_algorithm(config, 3);
    algorithm->reset(4, torch::kCPU);
    accumulator = sim::round_accumulator(*algorithm, torch::kCPU);
  }
  bool fold(std::int64_t client, torch::Tensor y, double max_norm = 0.0, double loss = 1.0) {
    auto update = algorithm->begin_client({client, 0, x, 0.1});
    sim::LocalResult result{y, 2, loss, 4};
    return sim::fold_client(*update, result, 4, {client, 0, x, max_norm}, accumulator);
  }
};

TEST(BadUpdates, NonFiniteUpdatesAreLeftOutAndCounted) {
  Folding folding("fedavg");
  EXPECT_TRUE(folding.fold(0, torch::tensor({1.0f, 2.0f, 3.0f, 4.0f})));
  const auto folded = folding.accumulator.buffer().clone();
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(folding.fold(1, torch::tensor({1.0f, nan, 3.0f, 4.0f})));
  EXPECT_FALSE(folding.fold(2, torch::tensor({inf, 0.0f, 0.0f, 0.0f})));
  EXPECT_FALSE(folding.fold(2, torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}), 0.0, std::nan("")));  // a NaN loss too
  // Nothing of them reached the sums: only the left-out count moved.
  auto expected = folded.clone();
  fl::Accumulator reference = sim::round_accumulator(*folding.algorithm, torch::kCPU);
  reference.buffer().copy_(folded);
  reference.add_scalar(fl::kBadClientsSegment, 3.0);
  EXPECT_TRUE(torch::equal(folding.accumulator.buffer(), reference.buffer()));
  EXPECT_EQ(folding.accumulator.clients(), 1);
  EXPECT_EQ(folding.accumulator.scalar(fl::kBadClientsSegment), 3.0);
}

TEST(BadUpdates, UpdatesAboveTheNormLimitAreLeftOut) {
  Folding folding("scaffold");  // an algorithm with per-client state: a left-out client keeps its old state
  const auto y = torch::tensor({3.0f, 4.0f, 0.0f, 0.0f});  // ||y - x|| = 5
  EXPECT_TRUE(folding.fold(0, y, 5.0));
  EXPECT_FALSE(folding.fold(1, y, 4.99));
  EXPECT_TRUE(folding.fold(2, y, 0.0));  // 0: no limit
  EXPECT_EQ(folding.accumulator.clients(), 2);
  EXPECT_EQ(folding.accumulator.scalar(fl::kBadClientsSegment), 1.0);
  EXPECT_TRUE(torch::equal(folding.accumulator.segment(fl::kDeltaSegment),
                           torch::tensor({24.0, 32.0, 0.0, 0.0}, torch::kFloat64)));  // 4·y twice
}

TEST(BadUpdates, TheRunStopsWhenMoreThanTheAllowedFractionIsBad) {
  Folding folding("fedavg");
  folding.fold(0, torch::ones({4}));
  folding.fold(1, torch::ones({4}));
  folding.fold(2, torch::full({4}, std::numeric_limits<float>::quiet_NaN()));  // 1 of 3 bad
  EXPECT_NO_THROW(fl::check_bad_fraction(folding.accumulator, 0.5, 6));
  EXPECT_NO_THROW(fl::check_bad_fraction(folding.accumulator, 1.0 / 3.0, 6));  // "more than" the fraction
  try {
    fl::check_bad_fraction(folding.accumulator, 0.3, 6);
    FAIL() << "no error";
  } catch (const InputError& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("round 7: 1 of the cohort's 3 client updates were left out"), std::string::npos) << message;
    EXPECT_NE(message.find("fl.max_bad_fraction = 0.3"), std::string::npos) << message;
  }
}

// A whole run: every update above the limit stops it at round 1 with the error; a run that
// allows it finishes, records how many were left out, and leaves x where it was.
TEST_F(Federation, BadUpdatesStopTheRunOrAreLeftOut) {
  Config config = test_support::tiny_config(root_ / "data4", root_ / "runs-bad", "fedavg");
  config.fl.rounds = 2;
  config.fl.max_update_norm = 1e-9;
  config.run.name = "stops";
  try {
    run(config, 2);
    FAIL() << "the run did not stop";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("round 1: 4 of the cohort's 4 client updates were left out"),
              std::string::npos)
        << e.what();
  }

  config.fl.max_bad_fraction = 1.0;
  config.run.name = "goes-on";
  const torch::Tensor kept = run(config, 2);
  Config untrained = config;
  untrained.local.lr = 0.0, untrained.fl.max_update_norm = 0.0, untrained.run.name = "untrained";
  EXPECT_TRUE(torch::equal(kept, run(untrained, 1)));  // nothing was aggregated
  std::ifstream metrics(sim::run_directory(config) / "metrics.jsonl");
  int left_out_lines = 0;
  for (std::string line; std::getline(metrics, line);)
    if (line.find("\"left_out_clients\"") != std::string::npos && line.find("\"value\":4") != std::string::npos)
      ++left_out_lines;
  EXPECT_EQ(left_out_lines, 2);  // one per round
}

}  // namespace
