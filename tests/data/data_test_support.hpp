// Shared fixtures of the data tests: temporary directories, one small trained tokenizer,
// deterministic synthetic samples and a field-by-field Samples comparison.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <string>
#include <unistd.h>
#include <vector>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/tokenizer.hpp"

namespace fedvlm::data::testing {

class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "fedvlm-data-XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ignored;
    fedvlm::remove_tree(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline Tokenizer train_small_tokenizer(SpecialIds ids) {
  std::vector<std::string> texts;
  const char* words[] = {"what", "is", "the", "class", "of", "this", "image", "a", "shirt", "shoe", "bag", "dress",
                         "where", "box", "describe", "photo", "small", "large", "red", "blue"};
  for (int i = 0; i < 400; ++i)
    texts.push_back(std::string(words[i % 20]) + " " + words[(i * 7) % 20] + " " + words[(i * 13) % 20] + " " +
                    std::to_string(i * 37 % 1000));
  return Tokenizer::train(texts, 64, 7, ids);
}

// fedvlm's own special ids: pad 0, bos 1, eos 2, unk 3.
inline const Tokenizer& small_tokenizer() {
  static const Tokenizer tokenizer = train_small_tokenizer(kFedvlmSpecialIds);
  return tokenizer;
}

// spm_train's default special ids (Llama's layout): unk 0, bos 1, eos 2, no pad.
inline const Tokenizer& small_spm_default_tokenizer() {
  static const Tokenizer tokenizer = train_small_tokenizer(kSentencePieceDefaultIds);
  return tokenizer;
}

inline constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// n samples whose every field depends on (tag, i), so rows from different places differ.
// Token lists vary in length, including empty ones; ids lie in [4, vocab), past the special ids
// 0..3 of small_tokenizer(); every 3rd sample has no box.
inline Samples make_samples(std::int64_t n, int tag, ImageShape shape = {1, 6, 5}, std::int32_t vocab = 20,
                            std::int32_t classes = 3, std::uint8_t tasks = 2) {
  Samples s;
  s.image_shape = shape;
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<std::uint8_t> image(static_cast<std::size_t>(shape.numel()));
    for (std::size_t p = 0; p < image.size(); ++p) image[p] = static_cast<std::uint8_t>((tag * 31 + i * 7 + p) % 251);
    std::vector<std::int32_t> prompt, answer;
    for (std::int64_t k = 0; k < (i + tag) % 4; ++k) prompt.push_back(static_cast<std::int32_t>(4 + (tag + i + k) % (vocab - 4)));
    for (std::int64_t k = 0; k < 1 + (i % 3); ++k)
      answer.push_back(static_cast<std::int32_t>(4 + (tag * 3 + i * 5 + k) % (vocab - 4)));
    std::array<float, 4> box{kNaN, kNaN, kNaN, kNaN};
    if (i % 3 != 0) box = {0.1f, 0.2f, 0.1f + 0.01f * static_cast<float>(i % 50), 0.9f};
    s.add(image, static_cast<std::uint8_t>((tag + i) % tasks), prompt, answer,
          static_cast<std::int32_t>((tag + i) % (classes + 1)) - 1, box);
  }
  return s;
}

inline DatasetInfo make_info(std::int64_t num_clients, ImageShape shape = {1, 6, 5}) {
  DatasetInfo info;
  info.name = "synthetic";
  info.tasks = {"cls", "cap"};
  info.class_names = {"zero", "one", "two"};
  info.num_clients = num_clients;
  info.image_shape = shape;
  info.partition = {{"partition", "dirichlet"}, {"alpha", "0.5"}, {"seed", "3"}};
  info.tokenizer_model = small_tokenizer().serialized();
  return info;
}

inline void expect_same_samples(const Samples& actual, const Samples& expected) {
  EXPECT_EQ(actual.image_shape, expected.image_shape);
  EXPECT_EQ(actual.images, expected.images);
  EXPECT_EQ(actual.task, expected.task);
  EXPECT_EQ(actual.prompt, expected.prompt);
  EXPECT_EQ(actual.prompt_ptr, expected.prompt_ptr);
  EXPECT_EQ(actual.answer, expected.answer);
  EXPECT_EQ(actual.answer_ptr, expected.answer_ptr);
  EXPECT_EQ(actual.label, expected.label);
  ASSERT_EQ(actual.box.size(), expected.box.size());  // NaN != NaN: compare the bits
  EXPECT_EQ(std::memcmp(actual.box.data(), expected.box.data(), actual.box.size() * sizeof(float)), 0);
}

// A dataset with `clients[k]` as client k's samples.
inline void write_dataset(const std::filesystem::path& dir, const std::vector<Samples>& clients, std::int64_t shards,
                          const Samples& public_split, const Samples& test_split, bool overwrite = false) {
  DatasetWriter writer(dir, make_info(static_cast<std::int64_t>(clients.size())), shards, overwrite);
  writer.write_split("public", public_split);
  writer.write_split("test", test_split);
  for (std::size_t k = 0; k < clients.size(); ++k) writer.write_client(static_cast<std::int64_t>(k), clients[k]);
  writer.commit();
}

}  // namespace fedvlm::data::testing
