// Tokenizer over the SentencePiece plugin (src/data/plugin/sentencepiece_plugin.cpp), which
// sentencepiece_plugin_loader.cpp loads in isolation: SentencePiece and LibTorch carry
// incompatible protobuf copies and cannot share one symbol scope.
#include "fedvlm/data/tokenizer.hpp"

#include <fstream>
#include <iterator>

#include "fedvlm/core/error.hpp"
#include "sentencepiece_plugin.hpp"

namespace fedvlm::data {

struct Tokenizer::State {
  void* processor = nullptr;
  std::vector<std::uint8_t> serialized;
  int info[5] = {0, 0, 0, 0, 0};  // vocab, pad, bos, eos, unk
  ~State() {
    if (processor != nullptr) sentencepiece_plugin().destroy(processor);
  }
};

Tokenizer::Tokenizer() : state_(std::make_unique<State>()) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_serialized(std::span<const std::uint8_t> model_bytes) {
  const SentencePiecePlugin& plugin = sentencepiece_plugin();
  Tokenizer tokenizer;
  tokenizer.state_->serialized.assign(model_bytes.begin(), model_bytes.end());
  char* error = nullptr;
  tokenizer.state_->processor =
      plugin.load(reinterpret_cast<const char*>(model_bytes.data()), model_bytes.size(), &error);
  if (tokenizer.state_->processor == nullptr)
    throw InputError(fmt::format("SentencePiece: loading a {}-byte model: {}", model_bytes.size(),
                                 plugin.take_string(error)));
  plugin.info(tokenizer.state_->processor, tokenizer.state_->info);
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
  const SentencePiecePlugin& plugin = sentencepiece_plugin();
  std::vector<const char*> pointers;
  std::vector<std::size_t> lengths;
  for (const auto& text : texts) {
    pointers.push_back(text.data());
    lengths.push_back(text.size());
  }
  char *model = nullptr, *error = nullptr;
  std::size_t model_size = 0;
  if (plugin.train(pointers.data(), lengths.data(), texts.size(), vocab_size, static_cast<unsigned>(seed ^ (seed >> 32)),
                   &model, &model_size, &error) != 0)
    throw InputError(fmt::format("SentencePiece: training on {} texts with vocab_size {}: {}", texts.size(), vocab_size,
                                 plugin.take_string(error)));
  std::vector<std::uint8_t> bytes(model, model + model_size);
  plugin.free(model);
  return from_serialized(bytes);
}

std::vector<std::int32_t> Tokenizer::encode(const std::string& text) const {
  const SentencePiecePlugin& plugin = sentencepiece_plugin();
  int* ids = nullptr;
  std::size_t count = 0;
  char* error = nullptr;
  if (plugin.encode(state_->processor, text.data(), text.size(), &ids, &count, &error) != 0)
    throw Error(fmt::format("SentencePiece: encode: {}", plugin.take_string(error)));
  std::vector<std::int32_t> out(ids, ids + count);
  plugin.free(ids);
  return out;
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids) const {
  std::vector<int> kept;
  for (std::int32_t id : ids)
    if (id >= 0 && id < vocab_size() && id != pad_id() && id != bos_id() && id != eos_id()) kept.push_back(id);
  const SentencePiecePlugin& plugin = sentencepiece_plugin();
  char *text = nullptr, *error = nullptr;
  std::size_t size = 0;
  if (plugin.decode(state_->processor, kept.data(), kept.size(), &text, &size, &error) != 0)
    throw Error(fmt::format("SentencePiece: decode: {}", plugin.take_string(error)));
  std::string out(text, size);
  plugin.free(text);
  return out;
}

std::string Tokenizer::piece(std::int32_t id) const {
  FEDVLM_CHECK(id >= 0 && id < vocab_size(), "token id {} outside the vocabulary [0, {})", id, vocab_size());
  const SentencePiecePlugin& plugin = sentencepiece_plugin();
  char* text = nullptr;
  std::size_t size = 0;
  plugin.piece(state_->processor, id, &text, &size);
  std::string out(text, size);
  plugin.free(text);
  return out;
}

std::int32_t Tokenizer::vocab_size() const { return state_->info[0]; }
std::int32_t Tokenizer::pad_id() const { return state_->info[1]; }
std::int32_t Tokenizer::bos_id() const { return state_->info[2]; }
std::int32_t Tokenizer::eos_id() const { return state_->info[3]; }
std::int32_t Tokenizer::unk_id() const { return state_->info[4]; }
std::vector<std::uint8_t> Tokenizer::serialized() const { return state_->serialized; }

}  // namespace fedvlm::data
