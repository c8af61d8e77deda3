#include <algorithm>
#include <array>
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

TEST(Tokenizer, FedvlmLayoutKeepsItsIdsAndAddsNone) {
  const Tokenizer& t = small_tokenizer();
  EXPECT_EQ(t.pad_id(), 0);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.unk_id(), 3);
  EXPECT_GT(t.vocab_size(), 20);
  EXPECT_EQ(t.vocab_size(), t.piece_count());
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

TEST(AssignVocabulary, KeepsOwnSpecialIdsAndAddsTheMissingOnesAfterThePieces) {
  const auto check = [](SpecialIds own, std::int32_t size, SpecialIds special) {
    const Vocabulary v = assign_vocabulary(100, own);
    EXPECT_EQ(v.pieces, 100);
    EXPECT_EQ(v.size, size) << own.pad << " " << own.bos << " " << own.eos << " " << own.unk;
    EXPECT_EQ(v.special, special) << "got pad " << v.special.pad << " bos " << v.special.bos << " eos " << v.special.eos
                                  << " unk " << v.special.unk;
  };
  check(kFedvlmSpecialIds, 100, {0, 1, 2, 3});                // fedvlm's own layout: nothing added
  check(kSentencePieceDefaultIds, 101, {100, 1, 2, 0});       // spm_train defaults, Llama: <pad> added
  check({0, -1, 2, 1}, 101, {0, 100, 2, 1});                  // pad present, no bos: <bos> added
  check({-1, -1, 5, 0}, 102, {100, 101, 5, 0});               // only eos: pad then bos added, in that order
  check({-1, -1, -1, 0}, 103, {100, 101, 102, 0});            // unk only
  check({2, 1, 2, 0}, 101, {100, 1, 2, 0});                   // pad sharing eos's id gets its own
  check({7, 7, 7, 0}, 102, {100, 7, 101, 0});                 // bos keeps a shared id; pad, eos get new ones
  EXPECT_THROW(assign_vocabulary(100, {0, 1, 2, -1}), InputError);   // SentencePiece always has <unk>
  EXPECT_THROW(assign_vocabulary(100, {0, 1, 100, 3}), InputError);  // an own id beyond the pieces
}

TEST(Tokenizer, SentencePieceDefaultLayoutGetsAnAddedPadAndRoundTrips) {
  const Tokenizer& t = small_spm_default_tokenizer();
  EXPECT_EQ(t.unk_id(), 0);
  EXPECT_EQ(t.bos_id(), 1);
  EXPECT_EQ(t.eos_id(), 2);
  EXPECT_EQ(t.pad_id(), t.piece_count());  // the one added id
  EXPECT_EQ(t.vocab_size(), t.piece_count() + 1);
  EXPECT_GT(t.piece_count(), 20);
  EXPECT_EQ(t.piece(t.pad_id()), "<pad>");
  EXPECT_EQ(t.piece(t.bos_id()), "<s>");

  const std::string text = "where is the red shoe 42";
  const auto ids = t.encode(text);
  ASSERT_FALSE(ids.empty());
  for (auto id : ids) {
    EXPECT_GT(id, t.eos_id()) << "text ids are ordinary pieces";
    EXPECT_LT(id, t.piece_count());
    EXPECT_FALSE(t.stored_id_problem(id)) << id;
  }
  EXPECT_EQ(t.decode(ids), text);
  std::vector<std::int32_t> generated{t.pad_id(), t.bos_id()};  // as a left-padded generation looks
  generated.insert(generated.end(), ids.begin(), ids.end());
  generated.insert(generated.end(), {t.eos_id(), t.pad_id(), t.vocab_size(), -1});
  EXPECT_EQ(t.decode(generated), text);

  for (auto id : {t.pad_id(), t.bos_id(), t.eos_id(), -1}) EXPECT_TRUE(t.stored_id_problem(id)) << id;
  EXPECT_FALSE(t.stored_id_problem(t.unk_id()));  // text SentencePiece cannot cover encodes to <unk>

  const Tokenizer reloaded = Tokenizer::from_serialized(t.serialized());
  EXPECT_EQ(reloaded.vocabulary().special, t.vocabulary().special);
  EXPECT_EQ(reloaded.vocab_size(), t.vocab_size());
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

// Found by tests/fuzz/fuzz_dataset_fields: a model whose one-character piece became a NUL byte
// made SentencePiece throw (darts_clone: "zero-length key") through the plugin's C ABI.
TEST(Tokenizer, AModelSentencePieceThrowsOnIsAnInputError) {
  std::vector<std::uint8_t> model = small_tokenizer().serialized();
  // A one-character piece with a score: ModelProto.pieces (0a 08), piece (0a 01 X), score (15 ....).
  const std::array<std::uint8_t, 4> piece_start = {0x0a, 0x08, 0x0a, 0x01};
  auto at = std::search(model.begin(), model.end(), piece_start.begin(), piece_start.end());
  ASSERT_NE(at, model.end());
  at[4] = 0;
  try {
    Tokenizer::from_serialized(model);
    FAIL() << "a model with an empty piece was loaded";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("zero-length key"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace fedvlm::data
