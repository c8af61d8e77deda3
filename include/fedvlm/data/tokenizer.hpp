// Tokenizer: SentencePiece, trained at prep time on the public split's text (digits split, so
// coordinates tokenize uniformly) or loaded from a .model file; stored in meta.h5.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace fedvlm::data {

class Tokenizer {
 public:
  static Tokenizer from_serialized(std::span<const std::uint8_t> model_bytes);
  static Tokenizer from_file(const std::filesystem::path& model_file);
  // Trains a unigram model with byte fallback off, digits split, <pad>=0 <bos>=1 <eos>=2 <unk>=3,
  // character coverage 1 and a soft vocabulary limit (a small corpus yields fewer pieces than
  // asked). One training thread and a fixed seed: the same texts give byte-identical models.
  static Tokenizer train(const std::vector<std::string>& texts, int vocab_size, std::uint64_t seed);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<std::int32_t> encode(const std::string& text) const;
  // Skips <pad>, <bos>, <eos> and ids outside the vocabulary (a model may emit any id); <unk> shows as " \u2047 ".
  std::string decode(std::span<const std::int32_t> ids) const;
  std::string piece(std::int32_t id) const;  // the vocabulary entry, "\u2581" marking a leading space
  std::int32_t vocab_size() const;
  std::int32_t pad_id() const;
  std::int32_t bos_id() const;
  std::int32_t eos_id() const;
  std::int32_t unk_id() const;
  std::vector<std::uint8_t> serialized() const;

 private:
  Tokenizer();
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fedvlm::data
