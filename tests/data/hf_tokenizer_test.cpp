// data::Tokenizer over Hugging Face tokenizer directories: special ids from
// tokenizer_config.json, the serialized form, and the SentencePiece path left as it was.
#include <gmock/gmock.h>

#include "fedvlm/data/bpe_tokenizer.hpp"
#include "hf_tokenizer_fixture.hpp"

namespace fedvlm::data {
namespace {
using namespace fedvlm::data::testing;
using namespace ::testing;

TEST(HfTokenizerTest, Llama3TakesSpecialIdsFromTheConfigAndPadsWithAReservedToken) {
  const Tokenizer t = Tokenizer::from_file(hf_tokenizer_dir("llama3"));
  const BpeTokenizer bpe = BpeTokenizer::from_file(hf_tokenizer_dir("llama3") / "tokenizer.json");
  EXPECT_TRUE(t.is_byte_level_bpe());
  EXPECT_EQ(t.piece_count(), bpe.size());
  EXPECT_EQ(t.bos_id(), bpe.id("<|begin_of_text|>"));
  EXPECT_EQ(t.eos_id(), bpe.id("<|eot_id|>"));
  EXPECT_EQ(t.pad_id(), bpe.id("<|reserved_special_token_0|>"));  // Llama 3 names no pad
  EXPECT_EQ(t.vocab_size(), bpe.size());  // nothing added: the checkpoint's embedding rows suffice
  EXPECT_EQ(t.unk_id(), -1);
  EXPECT_THAT(t.chat_template(), HasSubstr("<|start_header_id|>"));
}

TEST(HfTokenizerTest, Qwen2AddsBosAndKeepsItsPad) {
  const Tokenizer t = Tokenizer::from_file(hf_tokenizer_dir("qwen2") / "tokenizer.json");
  const BpeTokenizer bpe = BpeTokenizer::from_file(hf_tokenizer_dir("qwen2") / "tokenizer.json");
  EXPECT_EQ(t.pad_id(), bpe.id("<|endoftext|>"));
  EXPECT_EQ(t.eos_id(), bpe.id("<|im_end|>"));
  EXPECT_EQ(t.bos_id(), bpe.size());  // bos_token null and no BOS in the post_processor
  EXPECT_EQ(t.vocab_size(), bpe.size() + 1);
}

TEST(HfTokenizerTest, EncodeMatchesTheReferenceAndDecodeSkipsSpecialIds) {
  const Tokenizer t = Tokenizer::from_file(hf_tokenizer_dir("llama3"));
  for (const auto& c : hf_reference("llama3")["cases"])
    EXPECT_EQ(t.encode(c["text"].get<std::string>()), c["ids"].get<std::vector<std::int32_t>>());
  auto ids = t.encode("Hello world");
  ids.insert(ids.begin(), t.bos_id());
  ids.push_back(t.eos_id());
  ids.push_back(t.pad_id());
  EXPECT_EQ(t.decode(ids), "Hello world");
  EXPECT_TRUE(t.stored_id_problem(t.bos_id()));
  EXPECT_TRUE(t.stored_id_problem(t.pad_id()));
  // <|eot_id|> (eos) closes the user turn inside Llama 3's prompts; an answer must not hold it.
  EXPECT_FALSE(t.stored_id_problem(t.eos_id(), Tokenizer::Field::prompt));
  EXPECT_TRUE(t.stored_id_problem(t.eos_id(), Tokenizer::Field::answer));
  EXPECT_TRUE(t.stored_id_problem(t.bos_id(), Tokenizer::Field::prompt));
  EXPECT_FALSE(t.stored_id_problem(*BpeTokenizer::from_file(hf_tokenizer_dir("llama3") / "tokenizer.json")
                                         .id("<|start_header_id|>")));  // chat-template tokens may be stored
}

TEST(HfTokenizerTest, SerializedFormIsSelfContained) {
  const auto dir = hf_tokenizer_dir("llama3");
  const Tokenizer original = Tokenizer::from_file(dir / "tokenizer.json");
  const auto bytes = original.serialized();
  ASSERT_FALSE(bytes.empty());
  EXPECT_EQ(bytes[0], '{');
  // A copy of tokenizer.json alone, without tokenizer_config.json beside it.
  TempDir copy;
  const auto moved = copy / "tokenizer.json";
  std::filesystem::copy_file(dir / "tokenizer.json", moved);
  const Tokenizer reloaded = Tokenizer::from_serialized(bytes);
  EXPECT_EQ(reloaded.vocabulary().special, original.vocabulary().special);
  EXPECT_EQ(reloaded.vocab_size(), original.vocab_size());
  EXPECT_EQ(reloaded.chat_template(), original.chat_template());
  EXPECT_EQ(reloaded.encode("I'm 12345 😀"), original.encode("I'm 12345 😀"));
  EXPECT_EQ(reloaded.serialized(), bytes);
  // Without tokenizer_config.json: bos from the post_processor, pad reserved, eos added.
  const Tokenizer bare = Tokenizer::from_file(moved);
  EXPECT_EQ(bare.bos_id(), original.bos_id());
  EXPECT_EQ(bare.pad_id(), original.pad_id());
  EXPECT_EQ(bare.eos_id(), bare.piece_count());
  // A bare tokenizer.json document is accepted as stored bytes too.
  const std::string text = read_text_file(moved);
  EXPECT_EQ(Tokenizer::from_serialized(std::vector<std::uint8_t>(text.begin(), text.end())).bos_id(), original.bos_id());
}

TEST(HfTokenizerTest, DirectoryPrefersTokenizerJsonAndFallsBackToTheModel) {
  TempDir dir;
  EXPECT_THROW(Tokenizer::from_file(dir.path()), InputError);  // neither file
  const auto spm = small_tokenizer().serialized();
  std::ofstream(dir / "tokenizer.model", std::ios::binary).write(reinterpret_cast<const char*>(spm.data()), spm.size());
  EXPECT_FALSE(Tokenizer::from_file(dir.path()).is_byte_level_bpe());
  std::filesystem::copy_file(hf_tokenizer_dir("qwen2") / "tokenizer.json", dir / "tokenizer.json");
  EXPECT_TRUE(Tokenizer::from_file(dir.path()).is_byte_level_bpe());
  // Beside a tokenizer.model, a tokenizer.json with byte fallback is its conversion: the model wins.
  auto converted = nlohmann::json::parse(read_text_file(dir / "tokenizer.json"));
  converted["model"]["byte_fallback"] = true;
  write_text_file(dir / "tokenizer.json", converted.dump());
  EXPECT_FALSE(Tokenizer::from_file(dir.path()).is_byte_level_bpe());
}

TEST(HfTokenizerTest, ConfigNamingAnUnknownTokenIsAnInputError) {
  TempDir dir;
  std::filesystem::copy_file(hf_tokenizer_dir("qwen2") / "tokenizer.json", dir / "tokenizer.json");
  write_text_file(dir / "tokenizer_config.json", R"({"eos_token": "<|nope|>"})");
  EXPECT_THAT([&] { Tokenizer::from_file(dir.path()); },
              ThrowsMessage<InputError>(AllOf(HasSubstr("tokenizer_config.json"), HasSubstr("eos_token"))));
  write_text_file(dir / "tokenizer_config.json", "{not json");
  EXPECT_THROW(Tokenizer::from_file(dir.path()), InputError);
  write_text_file(dir / "tokenizer_config.json", R"({"eos_token": {"content": "<|im_end|>", "special": true}})");
  EXPECT_EQ(Tokenizer::from_file(dir.path()).eos_id(), BpeTokenizer::from_file(dir / "tokenizer.json").id("<|im_end|>"));
}

TEST(HfTokenizerTest, SentencePieceBytesStillLoadAsSentencePiece) {
  const Tokenizer& spm = small_tokenizer();
  const Tokenizer reloaded = Tokenizer::from_serialized(spm.serialized());
  EXPECT_FALSE(reloaded.is_byte_level_bpe());
  EXPECT_EQ(reloaded.encode("what is the class"), spm.encode("what is the class"));
  EXPECT_TRUE(reloaded.chat_template().empty());
}

}  // namespace
}  // namespace fedvlm::data
