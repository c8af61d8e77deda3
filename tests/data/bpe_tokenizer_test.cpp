// Byte-level BPE from tokenizer.json against tools/hf_tokenizer.py's reference encoder, which
// interprets the same files by other means (a backtracking regex matcher, GPT-2's merge loop).
#include "fedvlm/data/bpe_tokenizer.hpp"

#include <gmock/gmock.h>

#include "hf_tokenizer_fixture.hpp"

namespace fedvlm::data {
namespace {
using namespace fedvlm::data::testing;
using namespace ::testing;
using nlohmann::json;

class BpeTokenizerLayoutTest : public TestWithParam<std::string> {
 protected:
  std::filesystem::path dir() const { return hf_tokenizer_dir(GetParam()); }
  BpeTokenizer load_tokenizer() const { return BpeTokenizer::from_file(dir() / "tokenizer.json"); }
  // The decoded text of each token of `text`, in order.
  std::vector<std::string> token_texts(const BpeTokenizer& t, const std::string& text) const {
    std::vector<std::string> out;
    for (const auto id : t.encode(text)) out.push_back(t.decode(std::vector<std::int32_t>{id}));
    return out;
  }
};

TEST_P(BpeTokenizerLayoutTest, EncodeAndDecodeMatchTheReference) {
  const BpeTokenizer t = load_tokenizer();
  const json cases = hf_reference(GetParam())["cases"];
  ASSERT_GE(cases.size(), 20u);
  for (const auto& c : cases) {
    const auto text = c["text"].get<std::string>();
    const auto expected = c["ids"].get<std::vector<std::int32_t>>();
    EXPECT_EQ(t.encode(text), expected) << text;
    EXPECT_EQ(t.decode(expected), c["decoded"].get<std::string>()) << text;
  }
}

TEST_P(BpeTokenizerLayoutTest, DecodeOfEncodeGivesTheTextBack) {
  const BpeTokenizer t = load_tokenizer();
  for (const auto& c : hf_reference(GetParam())["cases"]) {
    const auto text = c["text"].get<std::string>();
    EXPECT_EQ(t.decode(t.encode(text)), text);
  }
}

TEST_P(BpeTokenizerLayoutTest, PostProcessorBosIsLlama3sBeginOfText) {
  const BpeTokenizer t = load_tokenizer();
  if (GetParam() == "llama3") {
    EXPECT_EQ(t.post_processor_bos(), t.id("<|begin_of_text|>"));
    ASSERT_TRUE(t.post_processor_bos().has_value());
  } else {
    EXPECT_EQ(t.post_processor_bos(), std::nullopt);
  }
  for (const auto& c : hf_reference(GetParam())["cases"]) {
    auto with_bos = c["ids"].get<std::vector<std::int32_t>>();
    if (t.post_processor_bos()) with_bos.insert(with_bos.begin(), *t.post_processor_bos());
    EXPECT_EQ(with_bos, c["ids_with_bos"].get<std::vector<std::int32_t>>());
  }
}

TEST_P(BpeTokenizerLayoutTest, AddedTokensAreCutOutOfTheText) {
  const BpeTokenizer t = load_tokenizer();
  const std::string special = GetParam() == "llama3" ? "<|eot_id|>" : "<|im_end|>";
  const auto ids = t.encode("a" + special + "b");
  ASSERT_EQ(ids.size(), 3u);
  EXPECT_EQ(ids[1], t.id(special));
  EXPECT_EQ(t.decode(ids), "a" + special + "b");
}

TEST(BpeTokenizerTest, Llama3CutsNumbersIntoThreesAndQwen2IntoDigits) {
  const auto pieces = [](const std::string& layout) {
    const BpeTokenizer t = BpeTokenizer::from_file(hf_tokenizer_dir(layout) / "tokenizer.json");
    // Where token boundaries fall in "1234567": tokens never cross a pre-token.
    std::vector<std::size_t> cuts;
    std::size_t at = 0;
    for (const auto id : t.encode("1234567")) cuts.push_back(at += t.decode(std::vector<std::int32_t>{id}).size());
    return cuts;
  };
  // The corpus holds "123456", so the Llama 3 fixture has learned "123" and "456"; Qwen2's
  // pre-tokenizer never lets two digits meet.
  EXPECT_THAT(pieces("llama3"), ElementsAre(3u, 6u, 7u));
  EXPECT_THAT(pieces("qwen2"), ElementsAre(1u, 2u, 3u, 4u, 5u, 6u, 7u));
}

TEST(BpeTokenizerTest, IgnoreMergesTakesAWholeVocabularyWord) {
  const auto dir = hf_tokenizer_dir("llama3");
  json document = json::parse(read_text_file(dir / "tokenizer.json"));
  const BpeTokenizer t = BpeTokenizer::parse(document.dump(), "llama3");
  EXPECT_EQ(t.encode(" fedvlm"), std::vector<std::int32_t>{*t.id("Ġfedvlm")});
  document["model"]["ignore_merges"] = false;  // merges alone never build "Ġfedvlm"
  const BpeTokenizer merged = BpeTokenizer::parse(document.dump(), "llama3");
  EXPECT_GT(merged.encode(" fedvlm").size(), 1u);
  EXPECT_EQ(merged.decode(merged.encode(" fedvlm")), " fedvlm");
}

TEST(BpeTokenizerTest, LongestAddedTokenWins) {
  json document = json::parse(read_text_file(hf_tokenizer_dir("qwen2") / "tokenizer.json"));
  const BpeTokenizer base = BpeTokenizer::parse(document.dump(), "qwen2");
  const int first = base.size();
  for (const auto& [offset, content] : {std::pair{0, "<a>"}, std::pair{1, "<a><b>"}})
    document["added_tokens"].push_back({{"id", first + offset}, {"content", content}, {"special", true}});
  const BpeTokenizer t = BpeTokenizer::parse(document.dump(), "qwen2");
  const auto ids = t.encode("<a><b><a>");
  EXPECT_EQ(ids, (std::vector<std::int32_t>{first + 1, first}));
}

TEST(BpeTokenizerTest, InvalidUtf8IsAnInputErrorAndDecodeReplacesBrokenBytes) {
  const BpeTokenizer t = BpeTokenizer::from_file(hf_tokenizer_dir("qwen2") / "tokenizer.json");
  EXPECT_THROW(t.encode("bad \xC3( byte"), InputError);
  EXPECT_THROW(t.encode("overlong \xC0\xAF"), InputError);
  const std::vector<std::int32_t> lone = {*t.id("Ã")};  // the symbol of byte 0xC3, the first of "é"
  EXPECT_EQ(t.decode(lone), "\xEF\xBF\xBD");
  const std::vector<std::int32_t> lone_then_a = {*t.id("Ã"), *t.id("a")};
  EXPECT_EQ(t.decode(lone_then_a), "\xEF\xBF\xBD" "a");
}

INSTANTIATE_TEST_SUITE_P(Layouts, BpeTokenizerLayoutTest, Values("llama3", "qwen2"));

// Every bad input is an InputError that names the file and the key at fault.
struct BadInput {
  std::string what;
  std::function<void(json&)> edit;
  std::string key;
};

TEST(BpeTokenizerTest, BadInputsNameTheFileAndTheKey) {
  const json good = json::parse(read_text_file(hf_tokenizer_dir("llama3") / "tokenizer.json"));
  const std::vector<BadInput> cases = {
      {"no model", [](json& d) { d.erase("model"); }, "model is missing"},
      {"unknown model type", [](json& d) { d["model"]["type"] = "WordPiece"; }, "model.type"},
      {"merge names an unknown token", [](json& d) { d["model"]["merges"][0] = "Ġ zzqq"; }, "model.merges[0]"},
      {"merge result not in vocab", [](json& d) { d["model"]["merges"][1] = "q z"; }, "model.merges[1]"},
      {"id out of range", [](json& d) { d["added_tokens"][0]["id"] = 999999; }, "token id 999999"},
      {"id taken twice", [](json& d) { d["added_tokens"][1]["id"] = d["added_tokens"][0]["id"]; }, "added_tokens[1].id"},
      {"other regex", [](json& d) { d["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\s+"; },
       "pre_tokenizer.pretokenizers[0].pattern.Regex"},
      {"GPT-2 byte-level regex", [](json& d) { d["pre_tokenizer"]["pretokenizers"][1]["use_regex"] = true; },
       "pre_tokenizer.pretokenizers[1].use_regex"},
      {"missing byte symbol",
       [](json& d) {
         d["model"]["vocab"]["Āx"] = d["model"]["vocab"]["Ā"];  // same id, other name: no hole
         d["model"]["vocab"].erase("Ā");
       },
       "byte 0x00"},
      {"other normalizer", [](json& d) { d["normalizer"] = {{"type", "Lowercase"}}; }, "normalizer"},
      {"stripped added token", [](json& d) { d["added_tokens"][0]["lstrip"] = true; }, "added_tokens[0].lstrip"},
      {"other decoder", [](json& d) { d["decoder"] = {{"type", "WordPiece"}}; }, "decoder.type"},
      {"other post_processor", [](json& d) { d["post_processor"] = {{"type", "BertProcessing"}}; }, "post_processor.type"},
  };
  for (const auto& c : cases) {
    json document = good;
    c.edit(document);
    try {
      BpeTokenizer::parse(document.dump(), "dir/tokenizer.json");
      ADD_FAILURE() << c.what << ": accepted";
    } catch (const InputError& e) {
      EXPECT_THAT(e.what(), HasSubstr("dir/tokenizer.json")) << c.what;
      EXPECT_THAT(e.what(), HasSubstr(c.key)) << c.what << ": " << e.what();
    }
  }
  EXPECT_THROW(BpeTokenizer::parse("not json", "x.json"), InputError);
  EXPECT_NO_THROW(BpeTokenizer::parse(good.dump(), "dir/tokenizer.json"));
}

}  // namespace
}  // namespace fedvlm::data
