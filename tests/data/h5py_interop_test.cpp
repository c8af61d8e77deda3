// A dataset written by tests/data/write_with_h5py.py (the example of docs/data-format.md)
// validates cleanly and reads back the values the script wrote, with fedvlm's special-id layout
// and with spm_train's defaults (unk 0, bos 1, eos 2, no pad; Llama's layout).
#include <cstdlib>
#include <fstream>

#include "data_test_support.hpp"
#include "fedvlm/data/inspect.hpp"

namespace fedvlm::data {
namespace {
using namespace testing;

class H5pyInterop : public ::testing::TestWithParam<bool> {
 protected:
  const Tokenizer& tokenizer() const { return GetParam() ? small_spm_default_tokenizer() : small_tokenizer(); }
};

INSTANTIATE_TEST_SUITE_P(SpecialIdLayouts, H5pyInterop, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "SentencePieceDefaults" : "Fedvlm"; });

TEST_P(H5pyInterop, DatasetWrittenWithH5pyValidatesAndReads) {
  if (std::system("/usr/bin/python3 -c 'import h5py, numpy' > /dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with h5py and numpy is not available";
  TempDir tmp;
  auto model = tokenizer().serialized();
  {
    std::ofstream out(tmp / "tokenizer.model", std::ios::binary);
    out.write(reinterpret_cast<const char*>(model.data()), static_cast<std::streamsize>(model.size()));
  }
  const std::string command = fmt::format("/usr/bin/python3 {}/tests/data/write_with_h5py.py {} {}", FEDVLM_SOURCE_DIR,
                                          (tmp / "ds").string(), (tmp / "tokenizer.model").string());
  ASSERT_EQ(std::system(command.c_str()), 0) << command;

  auto violations = validate_dataset(tmp / "ds");
  for (const auto& v : violations) ADD_FAILURE() << v.describe();

  DatasetReader reader(tmp / "ds");
  const DatasetInfo& info = reader.info();
  EXPECT_EQ(info.name, "h5py-example");
  EXPECT_EQ(info.tasks, (std::vector<std::string>{"cls", "vqa"}));
  EXPECT_EQ(info.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(info.image_shape, (ImageShape{1, 4, 4}));
  EXPECT_EQ(info.partition.at("partition"), "manual");
  EXPECT_EQ(info.tokenizer_model, model);
  EXPECT_EQ(info.client_shard, (std::vector<std::int32_t>{0, 0, 1}));
  EXPECT_EQ(info.num_shards, 2);

  Samples first = reader.read_client(0);
  ASSERT_EQ(first.size(), 2);
  EXPECT_EQ(first.image(0)[15], 10);
  EXPECT_EQ(first.image(1)[0], 11);
  EXPECT_EQ(first.task, (std::vector<std::uint8_t>{0, 1}));
  EXPECT_EQ(first.prompt, (std::vector<std::int32_t>{4, 5, 7}));
  EXPECT_EQ(first.prompt_ptr, (std::vector<std::int64_t>{0, 2, 3}));
  EXPECT_EQ(first.answer, (std::vector<std::int32_t>{6, 8, 9, 10}));
  EXPECT_EQ(first.answer_ptr, (std::vector<std::int64_t>{0, 1, 4}));
  EXPECT_EQ(first.label, (std::vector<std::int32_t>{1, -1}));
  EXPECT_TRUE(std::isnan(first.box_of(0)[0]));
  EXPECT_EQ(first.box_of(1), (std::array<float, 4>{0.25f, 0.5f, 0.75f, 1.0f}));
  EXPECT_EQ(reader.read_client(1).size(), 0);
  Samples last = reader.read_client(2);
  ASSERT_EQ(last.size(), 1);
  EXPECT_EQ(last.image(0)[3], 20);
  EXPECT_TRUE(last.prompt.empty());
  EXPECT_EQ(last.answer, (std::vector<std::int32_t>{5}));
  EXPECT_EQ(reader.read_split("public").label, (std::vector<std::int32_t>{0, -1}));
  EXPECT_EQ(reader.split_size("test"), 0);

  // The ids the model uses: distinct specials inside the embedding, the script's ids among the pieces.
  const Tokenizer loaded = Tokenizer::from_serialized(info.tokenizer_model);
  const SpecialIds special = loaded.vocabulary().special;
  const SpecialIds expected = GetParam() ? SpecialIds{loaded.piece_count(), 1, 2, 0} : kFedvlmSpecialIds;
  EXPECT_EQ(special, expected);
  EXPECT_EQ(loaded.vocab_size(), loaded.piece_count() + (GetParam() ? 1 : 0));
  for (auto id : first.answer) EXPECT_FALSE(loaded.stored_id_problem(id)) << id;
}

}  // namespace
}  // namespace fedvlm::data
