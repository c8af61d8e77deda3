#include <fstream>

#include "data_test_support.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::data {
namespace {
using namespace testing;

std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i)
    texts.push_back(fmt::format("the {} at {} {} is a {} item number {}", i % 2 ? "shirt" : "shoe", i % 100,
                                (i * 7) % 100, i % 3 ? "small" : "large", i));
  return texts;
}

TEST(Tokenizer, SpecialIdsAreFixed) {
  const Tokenizer& t = small_tokenizer();
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.unk_id(), 3);
  EXPECT_GT(t.vocab_size(), 20);
}

TEST(Tokenizer, EncodeDecodeRoundTripsText) {
  Tokenizer t = Tokenizer::train(corpus(), 80, 1);
  for (std::string text : {"the shirt at 12 34 is a small item", "item number 299", "a large shoe"}) {
    auto ids = t.encode(text);
    EXPECT_FALSE(ids.empty());
    for (auto id : ids) EXPECT_GT(id, t.unk_id()) << text;  // every character is covered
    EXPECT_EQ(t.decode(ids), text);
  }
}

TEST(Tokenizer, DigitsAreSeparatePieces) {
  Tokenizer t = Tokenizer::train(corpus(), 80, 1);
  std::vector<std::string> pieces;
  for (auto id : t.encode("x 123")) pieces.push_back(t.piece(id));
  ASSERT_GE(pieces.size(), 3u);
  std::vector<std::string> last(pieces.end() - 3, pieces.end());
  EXPECT_EQ(last, (std::vector<std::string>{"1", "2", "3"})) << fmt::format("{}", fmt::join(pieces, "|"));
}

TEST(Tokenizer, DecodeSkipsControlAndOutOfRangeIds) {
  const Tokenizer& t = small_tokenizer();
  auto ids = t.encode("what is the class");
  std::vector<std::int32_t> noisy{t.bos_id()};
  noisy.insert(noisy.end(), ids.begin(), ids.end());
  noisy.insert(noisy.end(), {t.eos_id(), t.pad_id(), t.vocab_size() + 5, -1});
  EXPECT_EQ(t.decode(noisy), "what is the class");
}

TEST(Tokenizer, TrainingTwiceGivesByteIdenticalModels) {
  EXPECT_EQ(Tokenizer::train(corpus(), 80, 5).serialized(), Tokenizer::train(corpus(), 80, 5).serialized());
}

TEST(Tokenizer, SerializedAndFileModelsEncodeIdentically) {
  Tokenizer trained = Tokenizer::train(corpus(), 80, 2);
  auto bytes = trained.serialized();
  Tokenizer reloaded = Tokenizer::from_serialized(bytes);
  TempDir tmp;
  {
    std::ofstream out(tmp / "m.model", std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
  Tokenizer from_file = Tokenizer::from_file(tmp / "m.model");
  const std::string text = "the shoe at 7 is a large item number 42";
  EXPECT_EQ(reloaded.encode(text), trained.encode(text));
  EXPECT_EQ(from_file.encode(text), trained.encode(text));
  EXPECT_EQ(from_file.vocab_size(), trained.vocab_size());
  EXPECT_THROW(Tokenizer::from_file(tmp / "missing.model"), InputError);
  std::vector<std::uint8_t> garbage{1, 2, 3};
  EXPECT_THROW(Tokenizer::from_serialized(garbage), InputError);
}

}  // namespace
}  // namespace fedvlm::data
