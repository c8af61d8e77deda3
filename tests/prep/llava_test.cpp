// LLaVA conversion on JSON and PNG files written here: natural clients, padding and resizing,
// grounding boxes, and every kind of bad input.
#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb_image_write.h>
#pragma GCC diagnostic pop

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/inspect.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "llava/image_loader.hpp"
#include "llava/llava_builder.hpp"
#include "llava/llava_records.hpp"
#include "prep/prep_test_support.hpp"

namespace fedvlm::prep {
namespace {

using testing::TempDir;
using testing::write_text;

void write_png(const std::filesystem::path& file, int width, int height, std::array<std::uint8_t, 3> colour) {
  std::filesystem::create_directories(file.parent_path());
  std::vector<std::uint8_t> pixels;
  for (int p = 0; p < width * height; ++p) pixels.insert(pixels.end(), colour.begin(), colour.end());
  ASSERT_NE(stbi_write_png(file.c_str(), width, height, 3, pixels.data(), width * 3), 0);
}

std::string record(const std::string& id, const std::string& image, const std::string& question, const std::string& answer,
                   const std::string& task = "") {
  return fmt::format(R"({{"id": "{}", "image": "{}",{} "conversations": [{{"from": "human", "value": "<image>\n{}"}}, {{"from": "gpt", "value": "{}"}}]}})",
                     id, image, task.empty() ? "" : fmt::format(R"( "task": "{}",)", task), question, answer);
}

std::string array_of(const std::vector<std::string>& records) { return "[\n" + fmt::format("{}", fmt::join(records, ",\n")) + "\n]\n"; }

// Three client files (vqa by default, cap, ground), a test file and two PNGs.
class LlavaConversion : public ::testing::Test {
 protected:
  void SetUp() override {
    write_png(temp_ / "images/wide.png", 40, 20, {200, 10, 10});
    write_png(temp_ / "images/tall.png", 10, 30, {10, 200, 10});
    const auto clients = temp_ / "fedvlm/clients/train";
    write_text(clients / "client_0.json", array_of({record("a0", "wide.png", "what colour is the image?", "red"),
                                                    record("a1", "tall.png", "what colour is the image?", "green"),
                                                    record("a2", "wide.png", "is it wide?", "yes"),
                                                    record("a3", "tall.png", "is it wide?", "no")}));
    write_text(clients / "client_1.json", array_of({record("b0", "wide.png", "describe it.", "a red wide image", "cap"),
                                                    record("b1", "tall.png", "describe it.", "a green tall image", "cap"),
                                                    record("b2", "wide.png", "describe it.", "a red wide picture", "cap")}));
    write_text(clients / "client_2.json", array_of({record("c0", "wide.png", "where is it?", "[0.1, 0.2, 0.5, 0.6]", "ground"),
                                                    record("c1", "tall.png", "where is it?", "[0.1, 0.2, 0.5, 0.6]", "ground"),
                                                    record("c2", "wide.png", "where is it?", "[0.1, 0.2, 0.5, 0.6]", "ground")}));
    write_text(temp_ / "test.json", array_of({record("t0", "wide.png", "what colour is the image?", "red"),
                                              record("t1", "tall.png", "describe it.", "a green tall image", "cap")}));
    options_.json = temp_ / "fedvlm";
    options_.images = temp_ / "images";
    options_.test_json = temp_ / "test.json";
    options_.out = temp_ / "out";
    options_.image_size = 16;
    options_.public_fraction = 0.2;
    options_.vocab_size = 64;
  }

  template <class Build>
  void expect_input_error(Build build, std::initializer_list<std::string> fragments) {
    try {
      build();
      FAIL() << "expected InputError";
    } catch (const InputError& error) {
      for (const auto& fragment : fragments)
        EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << "'" << fragment << "' not in: " << error.what();
    }
    EXPECT_FALSE(std::filesystem::exists(options_.out)) << "a failed conversion left output behind";
  }

  TempDir temp_;
  LlavaOptions options_;
};

TEST_F(LlavaConversion, ClientFilesBecomeNaturalClients) {
  const auto summary = build_llava(options_);
  EXPECT_EQ(summary.skipped, 0);
  EXPECT_TRUE(data::validate_dataset(options_.out).empty());
  data::DatasetReader reader(options_.out);
  EXPECT_EQ(reader.info().num_clients, 3);
  EXPECT_EQ(reader.info().tasks, (std::vector<std::string>{"cap", "vqa", "ground"}));
  EXPECT_EQ(reader.info().image_shape, (data::ImageShape{3, 16, 16}));
  EXPECT_EQ(reader.split_size("public"), 2);  // 20% of 10 records, held out of the clients
  EXPECT_EQ(reader.split_size("test"), 2);
  EXPECT_EQ(reader.client_samples(0) + reader.client_samples(1) + reader.client_samples(2), 8);
  // Natural partition: every sample of client 1 came from client_1.json, a captioning file.
  const auto client = reader.read_client(1);
  for (const auto task : client.task) EXPECT_EQ(reader.info().tasks[task], "cap");
}

TEST_F(LlavaConversion, PromptDropsTheImageTagAndGroundingBoxesAreParsed) {
  build_llava(options_);
  data::DatasetReader reader(options_.out);
  const auto tokenizer = data::Tokenizer::from_serialized(reader.info().tokenizer_model);
  const auto test = reader.read_split("test");
  EXPECT_EQ(tokenizer.decode(test.prompt_of(0)), "what colour is the image?");
  EXPECT_EQ(tokenizer.decode(test.answer_of(0)), "red");
  int grounding = 0;
  for (std::int64_t c = 0; c < 3; ++c) {
    const auto samples = reader.read_client(c);
    for (std::int64_t i = 0; i < samples.size(); ++i) {
      const auto box = samples.box_of(i);
      if (reader.info().tasks[samples.task[static_cast<std::size_t>(i)]] != "ground") {
        EXPECT_TRUE(std::isnan(box[0]));
        continue;
      }
      ++grounding;
      EXPECT_EQ(box, (std::array<float, 4>{0.1f, 0.2f, 0.5f, 0.6f}));
      EXPECT_EQ(samples.label[static_cast<std::size_t>(i)], -1);
    }
  }
  EXPECT_GT(grounding, 0);
}

TEST_F(LlavaConversion, ImagesArePaddedWithTheMeanColourAndResized) {
  // 40x20 red: padded to 40x40 with 10 rows of pad colour above and below, then 16x16.
  const auto rgb = load_square_image(temp_ / "images/wide.png", 16, 3);
  auto at = [&](int c, int y, int x) { return rgb.pixels[static_cast<std::size_t>((c * 16 + y) * 16 + x)]; };
  EXPECT_EQ(rgb.original_width, 40);
  EXPECT_EQ(rgb.original_height, 20);
  for (int c = 0; c < 3; ++c) {
    EXPECT_EQ(at(c, 0, 8), kPadColour[static_cast<std::size_t>(c)]);
    EXPECT_EQ(at(c, 15, 8), kPadColour[static_cast<std::size_t>(c)]);
  }
  EXPECT_EQ(at(0, 8, 8), 200);
  EXPECT_EQ(at(1, 8, 8), 10);
  const auto grey = load_square_image(temp_ / "images/tall.png", 12, 1);
  EXPECT_EQ(grey.pixels.size(), 144u);
  EXPECT_EQ(grey.pixels[6 * 12 + 6], (10 * 77 + 200 * 150 + 10 * 29) >> 8);  // stb's luma of the green
  // A box on the original 40x20 image, moved into the padded square's frame.
  const auto box = box_in_padded_frame({0.0f, 0.0f, 1.0f, 1.0f}, 40, 20);
  EXPECT_EQ(box, (std::array<float, 4>{0.0f, 0.25f, 1.0f, 0.75f}));
}

TEST_F(LlavaConversion, OneFileWithAPartitioner) {
  options_.json = temp_ / "fedvlm/clients/train/client_0.json";
  options_.clients = 2;
  options_.public_fraction = 0.25;
  options_.channels = 1;
  options_.partition.method = "iid";
  build_llava(options_);
  data::DatasetReader reader(options_.out);
  EXPECT_EQ(reader.info().num_clients, 2);
  EXPECT_EQ(reader.info().image_shape.channels, 1);
  EXPECT_EQ(reader.client_samples(0) + reader.client_samples(1), 3);
}

TEST_F(LlavaConversion, MalformedJsonGivesLineAndColumn) {
  write_text(options_.test_json, "[\n  {\"id\": 1,\n   \"image\": \"wide.png\" \"conversations\": []}\n]\n");
  expect_input_error([&] { build_llava(options_); }, {options_.test_json.string() + ":3:38: malformed JSON"});
}

TEST_F(LlavaConversion, MissingImageNamesRecordAndPath) {
  write_text(options_.test_json, array_of({record("t0", "wide.png", "q?", "red"), record("t9", "missing.png", "q?", "red")}));
  expect_input_error([&] { build_llava(options_); }, {"record 1 (id t9)", (temp_ / "images/missing.png").string(), "does not exist"});
}

TEST_F(LlavaConversion, UndecodableImageAndUnknownTaskAreNamed) {
  write_text(temp_ / "images/broken.png", "this is not a png");
  write_text(options_.test_json, array_of({record("t0", "broken.png", "q?", "red")}));
  expect_input_error([&] { build_llava(options_); }, {"id t0", "cannot decode image", "broken.png"});
  write_text(options_.test_json, array_of({record("t0", "wide.png", "q?", "red", "detect")}));
  expect_input_error([&] { build_llava(options_); }, {"unknown task 'detect': valid are cls, cap, vqa, ground"});
}

TEST_F(LlavaConversion, SkipModeCountsDroppedRecords) {
  write_text(options_.test_json, array_of({record("t0", "wide.png", "q?", "red"), record("t9", "missing.png", "q?", "red"),
                                           R"({"id": "t10", "image": "wide.png"})"}));
  options_.on_error = "skip";
  const auto summary = build_llava(options_);
  EXPECT_EQ(summary.skipped, 2);
  EXPECT_EQ(data::DatasetReader(options_.out).split_size("test"), 1);
}

TEST(LlavaRecords, LineAndColumnOfAByteOffset) {
  EXPECT_EQ(line_and_column("ab\ncd\nef", 0), std::make_pair(std::size_t{1}, std::size_t{1}));
  EXPECT_EQ(line_and_column("ab\ncd\nef", 4), std::make_pair(std::size_t{2}, std::size_t{2}));
  EXPECT_EQ(line_and_column("ab\ncd\nef", 6), std::make_pair(std::size_t{3}, std::size_t{1}));
}

TEST(LlavaRecords, BoxAnswersParseOnlyWithFourNumbers) {
  EXPECT_EQ(parse_box_answer("[0.12, 0.3, 0.5, 0.9]"), (std::array<float, 4>{0.12f, 0.3f, 0.5f, 0.9f}));
  EXPECT_EQ(parse_box_answer("the cup is at [0,0.5,1,1]."), (std::array<float, 4>{0.0f, 0.5f, 1.0f, 1.0f}));
  EXPECT_FALSE(parse_box_answer("[0.1, 0.2, 0.3]"));
  EXPECT_FALSE(parse_box_answer("[0.1, 0.2, 0.3, 0.4, 0.5]"));
  EXPECT_FALSE(parse_box_answer("no box here"));
}

// Found by tests/fuzz/fuzz_llava_json: nlohmann refuses a number beyond double's range with
// out_of_range, not parse_error, and it escaped as a non-fedvlm exception.
TEST(LlavaRecords, NumberBeyondDoubleRangeIsMalformedJson) {
  TempDir temp;
  write_text(temp / "big.json", R"([{"id": 1.5e999, "image": "a.png", "conversations": []}])");
  try {
    read_llava_json(temp / "big.json");
    FAIL() << "a number beyond double's range was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("big.json: malformed JSON: number overflow parsing '1.5e999'"), std::string::npos)
        << e.what();
  }
}

// Found by tests/fuzz/fuzz_llava_json: a "from" that is not a string threw nlohmann's type_error.
TEST(LlavaRecords, TurnsWithoutAStringSpeakerAreSkipped) {
  TempDir temp;
  write_text(temp / "turns.json", R"([
    {"image": "a.png", "conversations": [{"from": 5, "value": "x"}, {"from": "human", "value": "q"},
                                         {"from": null, "value": "y"}, {"from": "gpt", "value": "a"}]},
    {"image": "b.png", "conversations": [{"from": ["human"], "value": "q"}, {"from": "gpt", "value": "a"}]}])");
  const auto records = read_llava_json(temp / "turns.json");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].problem, "");
  EXPECT_EQ(records[0].prompt, "q");
  EXPECT_EQ(records[0].answer, "a");
  EXPECT_EQ(records[1].problem, "has no \"human\" turn");
}

// --tokenizer with a Hugging Face tokenizer directory (tools/hf_tokenizer.py): prompts and
// answers are stored as its chat template wraps them, without bos and end-of-turn.
std::filesystem::path write_hf_tokenizer(const std::filesystem::path& out, const std::string& layout) {
  const std::string command = fmt::format("/usr/bin/python3 '{}/tools/hf_tokenizer.py' write --layout {} --out '{}'",
                                          FEDVLM_SOURCE_DIR, layout, out.string());
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return out;
}

TEST_F(LlavaConversion, HfTokenizerDirectoryAppliesItsChatTemplate) {
  options_.tokenizer = write_hf_tokenizer(temp_ / "llama3", "llama3");
  build_llava(options_);
  EXPECT_TRUE(data::validate_dataset(options_.out).empty());
  data::DatasetReader reader(options_.out);
  const auto tokenizer = data::Tokenizer::from_serialized(reader.info().tokenizer_model);
  EXPECT_TRUE(tokenizer.is_byte_level_bpe());
  const auto test = reader.read_split("test");
  // The ids, not the decoded text: decode drops <|eot_id|>, the eos that closes the user turn.
  const auto expected = tokenizer.encode(
      "<|start_header_id|>user<|end_header_id|>\n\nwhat colour is the image?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(std::vector<std::int32_t>(test.prompt_of(0).begin(), test.prompt_of(0).end()), expected);
  EXPECT_EQ(std::count(expected.begin(), expected.end(), tokenizer.eos_id()), 1);
  EXPECT_EQ(tokenizer.decode(test.answer_of(0)), "red");
  EXPECT_EQ(reader.info().partition.at("chat_template"), "auto");
}

TEST_F(LlavaConversion, ChatTemplateNoneStoresPlainText) {
  options_.tokenizer = write_hf_tokenizer(temp_ / "qwen2", "qwen2") / "tokenizer.json";
  options_.chat_template = "none";
  build_llava(options_);
  data::DatasetReader reader(options_.out);
  const auto tokenizer = data::Tokenizer::from_serialized(reader.info().tokenizer_model);
  const auto test = reader.read_split("test");
  EXPECT_EQ(tokenizer.decode(test.prompt_of(0)), "what colour is the image?");
  EXPECT_EQ(tokenizer.encode("what colour is the image?"), std::vector<std::int32_t>(test.prompt_of(0).begin(), test.prompt_of(0).end()));
}

TEST_F(LlavaConversion, ChatTemplateThatDoesNotEndWithEosIsRefused) {
  options_.tokenizer = write_hf_tokenizer(temp_ / "qwen2", "qwen2");
  options_.chat_template = "llama3";  // ends answers with <|eot_id|>; Qwen2's eos is <|im_end|>
  expect_input_error([&] { build_llava(options_); }, {"--chat-template llama3", "<|eot_id|>", "<|im_end|>"});
  options_.chat_template = "alpaca";
  expect_input_error([&] { build_llava(options_); }, {"alpaca", "llama3, chatml, vicuna, llama2, none"});
}

}  // namespace
}  // namespace fedvlm::prep
