// The shared writer: atomic output when a failure happens midway through the shards.
#include <gtest/gtest.h>

#include "federation.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/data/dataset.hpp"
#include "prep/prep_test_support.hpp"

namespace fedvlm::prep {
namespace {

TextSample sample(std::uint8_t value, const std::string& answer, std::size_t pixels = 16) {
  TextSample s;
  s.image.assign(pixels, value);
  s.prompt = "what is shown?";
  s.answer = answer;
  s.label = value % 3;
  return s;
}

FederationSpec spec_for(const std::filesystem::path& out) {
  FederationSpec spec;
  spec.out = out;
  spec.name = "toy";
  spec.tasks = {"cls"};
  spec.class_names = {"zero", "one", "two"};
  spec.image_shape = data::ImageShape{1, 4, 4};
  spec.num_clients = 4;
  spec.vocab_size = 40;
  spec.shards = 2;
  return spec;
}

FederationSplits toy_splits() {
  FederationSplits splits;
  for (int i = 0; i < 6; ++i) splits.public_samples.push_back(sample(static_cast<std::uint8_t>(i), i % 2 ? "one" : "two"));
  for (int i = 0; i < 40; ++i) splits.train.push_back(sample(static_cast<std::uint8_t>(i), i % 3 ? "one" : "zero"));
  for (int i = 0; i < 5; ++i) splits.test.push_back(sample(static_cast<std::uint8_t>(i), "two"));
  return splits;
}

TEST(Federation, WritesEveryClientAndSplit) {
  testing::TempDir temp;
  const auto summary = write_federation(spec_for(temp / "out"), toy_splits());
  data::DatasetReader reader(temp / "out");
  std::int64_t total = 0;
  for (std::int64_t c = 0; c < 4; ++c) total += reader.client_samples(c);
  EXPECT_EQ(total, 40);
  EXPECT_EQ(reader.split_size("public"), 6);
  EXPECT_EQ(reader.split_size("test"), 5);
  EXPECT_EQ(summary.client_sizes, (std::vector<std::int64_t>{10, 10, 10, 10}));
  EXPECT_EQ(reader.info().partition.at("partition"), "iid");
}

TEST(Federation, FailureWhileWritingClientsLeavesNothing) {
  testing::TempDir temp;
  auto splits = toy_splits();
  splits.train[37] = sample(1, "one", 15);  // a wrong-sized image, met after some clients are written
  try {
    write_federation(spec_for(temp / "out"), splits);
    FAIL() << "expected an error";
  } catch (const Error& error) {
    EXPECT_NE(std::string(error.what()).find("15 pixel values, expected 16"), std::string::npos) << error.what();
  }
  EXPECT_TRUE(std::filesystem::is_empty(temp.path())) << "the failed write left files behind";
}

TEST(Federation, EmptyPublicSplitNeedsATokenizerFile) {
  testing::TempDir temp;
  auto splits = toy_splits();
  splits.public_samples.clear();
  EXPECT_THROW(write_federation(spec_for(temp / "out"), splits), InputError);
  EXPECT_TRUE(std::filesystem::is_empty(temp.path()));
}

TEST(Federation, TaskListsAreValidatedAndDeduplicated) {
  EXPECT_EQ(parse_task_list("cap, vqa,cap"), (std::vector<std::string>{"cap", "vqa"}));
  EXPECT_THROW(parse_task_list("cls,captioning"), InputError);
  EXPECT_THROW(parse_task_list(""), InputError);
}

}  // namespace
}  // namespace fedvlm::prep
