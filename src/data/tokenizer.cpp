#include "fedvlm/data/tokenizer.hpp"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <iterator>
#include <unordered_map>

#include "fedvlm/core/error.hpp"

namespace fedvlm::data {
namespace {

// Feeds in-memory texts to the trainer (no temporary corpus file).
class TextIterator : public sentencepiece::SentenceIterator {
 public:
  explicit TextIterator(const std::vector<std::string>& texts) : texts_(texts) {}
  bool done() const override { return index_ >= texts_.size(); }
  void Next() override { ++index_; }
  const std::string& value() const override { return texts_[index_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  const std::vector<std::string>& texts_;
  std::size_t index_ = 0;
};

void check_status(const sentencepiece::util::Status& status, const std::string& what) {
  if (!status.ok()) throw InputError(fmt::format("SentencePiece: {}: {}", what, status.ToString()));
}

}  // namespace

struct Tokenizer::State {
  sentencepiece::SentencePieceProcessor processor;
  std::string serialized;
};

Tokenizer::Tokenizer() : state_(std::make_unique<State>()) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_serialized(std::span<const std::uint8_t> model_bytes) {
  Tokenizer tokenizer;
  tokenizer.state_->serialized.assign(model_bytes.begin(), model_bytes.end());
  check_status(tokenizer.state_->processor.LoadFromSerializedProto(tokenizer.state_->serialized),
               fmt::format("loading a {}-byte serialized model", model_bytes.size()));
  return tokenizer;
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& model_file) {
  std::ifstream in(model_file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the tokenizer model", model_file.string()));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return from_serialized(bytes);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", model_file.string(), e.what()));
  }
}

Tokenizer Tokenizer::train(const std::vector<std::string>& texts, int vocab_size, std::uint64_t seed) {
  if (texts.empty()) throw InputError("Tokenizer::train: no texts");
  if (vocab_size < 8) throw InputError(fmt::format("Tokenizer::train: vocab_size {} is too small", vocab_size));
  const std::unordered_map<std::string, std::string> options = {
      {"model_type", "unigram"},        {"vocab_size", std::to_string(vocab_size)},
      {"split_digits", "true"},         {"byte_fallback", "false"},
      {"character_coverage", "1.0"},    {"hard_vocab_limit", "false"},
      {"pad_id", "0"},                  {"bos_id", "1"},
      {"eos_id", "2"},                  {"unk_id", "3"},
      {"num_threads", "1"},             {"minloglevel", "2"},  // quiet; one thread keeps training deterministic
      {"max_sentence_length", "65536"}, {"model_prefix", ""}};
  sentencepiece::SetRandomGeneratorSeed(static_cast<unsigned>(seed ^ (seed >> 32)));
  TextIterator iterator(texts);
  std::string serialized;
  check_status(sentencepiece::SentencePieceTrainer::Train(options, &iterator, &serialized),
               fmt::format("training on {} texts with vocab_size {}", texts.size(), vocab_size));
  std::vector<std::uint8_t> bytes(serialized.begin(), serialized.end());
  return from_serialized(bytes);
}

std::vector<std::int32_t> Tokenizer::encode(const std::string& text) const {
  std::vector<int> ids;
  check_status(state_->processor.Encode(text, &ids), "encode");
  return {ids.begin(), ids.end()};
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::vector<int> kept;
  for (std::int32_t id : ids)
    if (id >= 0 && id < vocab_size() && id != pad_id() && id != bos_id() && id != eos_id()) kept.push_back(id);
  std::string text;
  check_status(state_->processor.Decode(kept, &text), "decode");
  return text;
}

std::string Tokenizer::piece(std::int32_t id) const {
  FEDVLM_CHECK(id >= 0 && id < vocab_size(), "token id {} outside the vocabulary [0, {})", id, vocab_size());
  return state_->processor.IdToPiece(id);
}

std::int32_t Tokenizer::vocab_size() const { return state_->processor.GetPieceSize(); }
std::int32_t Tokenizer::pad_id() const { return state_->processor.pad_id(); }
std::int32_t Tokenizer::bos_id() const { return state_->processor.bos_id(); }
std::int32_t Tokenizer::eos_id() const { return state_->processor.eos_id(); }
std::int32_t Tokenizer::unk_id() const { return state_->processor.unk_id(); }

std::vector<std::uint8_t> Tokenizer::serialized() const {
  return {state_->serialized.begin(), state_->serialized.end()};
}

}  // namespace fedvlm::data
