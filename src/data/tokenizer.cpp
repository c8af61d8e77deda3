// Tokenizer over the SentencePiece plugin (src/data/plugin/sentencepiece_plugin.cpp), which
// sentencepiece_plugin_loader.cpp loads in isolation: SentencePiece and LibTorch carry
// incompatible protobuf copies and cannot share one symbol scope. Byte-level BPE tokenizers are
// BpeTokenizer (bpe_tokenizer.cpp); hf_tokenizer_files.cpp reads their files.
#include "fedvlm/data/tokenizer.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>

#include "fedvlm/core/error.hpp"
#include "fedvlm/data/bpe_tokenizer.hpp"
#include "hf_tokenizer_files.hpp"
#include "sentencepiece_plugin.hpp"

namespace fedvlm::data {
namespace {

// Gives each of pad, bos, eos that `own` lacks the next id after `pieces` (see assign_vocabulary).
Vocabulary add_missing_special_ids(std::int32_t pieces, SpecialIds own) {
  Vocabulary vocabulary{pieces, pieces, own};
  SpecialIds& ids = vocabulary.special;
  // bos, then eos, then pad keep their own id unless it is missing or already taken.
  const bool add_bos = own.bos < 0 || own.bos == own.unk;
  const bool add_eos = own.eos < 0 || own.eos == own.unk || (!add_bos && own.eos == own.bos);
  const bool add_pad = own.pad < 0 || own.pad == own.unk || (!add_bos && own.pad == own.bos) ||
                       (!add_eos && own.pad == own.eos);
  if (add_pad) ids.pad = vocabulary.size++;
  if (add_bos) ids.bos = vocabulary.size++;
  if (add_eos) ids.eos = vocabulary.size++;
  return vocabulary;
}

}  // namespace

Vocabulary assign_vocabulary(std::int32_t pieces, SpecialIds own) {
  if (own.unk < 0 || own.unk >= pieces)
    throw InputError(fmt::format("the SentencePiece model has no <unk> piece among its {} pieces (unk id {})", pieces, own.unk));
  if (std::max({own.pad, own.bos, own.eos}) >= pieces)
    throw InputError(fmt::format("the SentencePiece model's special ids (pad {}, bos {}, eos {}) lie outside its {} pieces",
                                 own.pad, own.bos, own.eos, pieces));
  return add_missing_special_ids(pieces, own);
}

struct Tokenizer::State {
  void* processor = nullptr;           // SentencePiece, or
  std::unique_ptr<BpeTokenizer> bpe;   // byte-level BPE
  std::string chat_template;
  std::vector<std::uint8_t> serialized;
  Vocabulary vocabulary;
  ~State() {
    if (processor != nullptr) sentencepiece_plugin().destroy(processor);
  }
};

Tokenizer::Tokenizer() : state_(std::make_unique<State>()) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_serialized(std::span<const std::uint8_t> model_bytes) {
  Tokenizer tokenizer;
  tokenizer.state_->serialized.assign(model_bytes.begin(), model_bytes.end());
  if (!model_bytes.empty() && model_bytes[0] == '{')
    return from_hf(parse_serialized_hf_tokenizer(
        std::string_view(reinterpret_cast<const char*>(model_bytes.data()), model_bytes.size())));
  const SentencePiecePlugin& plugin = sentencepiece_plugin();
  char* error = nullptr;
  tokenizer.state_->processor =
      plugin.load(reinterpret_cast<const char*>(model_bytes.data()), model_bytes.size(), &error);
  if (tokenizer.state_->processor == nullptr)
    throw InputError(fmt::format("SentencePiece: loading a {}-byte model: {}", model_bytes.size(),
                                 plugin.take_string(error)));
  int info[5] = {0, -1, -1, -1, -1};  // pieces, pad, bos, eos, unk
  plugin.info(tokenizer.state_->processor, info);
  tokenizer.state_->vocabulary = assign_vocabulary(info[0], SpecialIds{info[1], info[2], info[3], info[4]});
  return tokenizer;
}

Tokenizer Tokenizer::from_file(const std::filesystem::path& path) {
  const std::filesystem::path model_file = resolve_tokenizer_file(path);
  if (model_file.extension() == ".json") return from_hf(read_hf_tokenizer(model_file));
  std::ifstream in(model_file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the tokenizer model", model_file.string()));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  try {
    return from_serialized(bytes);
  } catch (const InputError& e) {
    throw InputError(fmt::format("{}: {}", model_file.string(), e.what()));
  }
}

Tokenizer Tokenizer::from_hf(HfTokenizer&& hf) {
  Tokenizer tokenizer;
  tokenizer.state_->vocabulary = add_missing_special_ids(hf.bpe.size(), hf.special);
  tokenizer.state_->chat_template = std::move(hf.chat_template);
  tokenizer.state_->serialized = std::move(hf.serialized);
  tokenizer.state_->bpe = std::make_unique<BpeTokenizer>(std::move(hf.bpe));
  return tokenizer;
}

Tokenizer Tokenizer::train(const std::vector<std::string>& texts, int vocab_size, std::uint64_t seed, SpecialIds ids) {
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
  const int special[4] = {ids.pad, ids.bos, ids.eos, ids.unk};
  if (plugin.train(pointers.data(), lengths.data(), texts.size(), vocab_size, special,
                   static_cast<unsigned>(seed ^ (seed >> 32)), &model, &model_size, &error) != 0)
    throw InputError(fmt::format("SentencePiece: training on {} texts with vocab_size {}: {}", texts.size(), vocab_size,
                                 plugin.take_string(error)));
  std::vector<std::uint8_t> bytes(model, model + model_size);
  plugin.free(model);
  return from_serialized(bytes);
}

std::vector<std::int32_t> Tokenizer::encode(const std::string& text) const {
  if (state_->bpe) return state_->bpe->encode(text);
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
    if (id >= 0 && id < piece_count() && id != pad_id() && id != bos_id() && id != eos_id()) kept.push_back(id);
  if (state_->bpe) return state_->bpe->decode(kept);
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
  if (id >= piece_count()) return id == pad_id() ? "<pad>" : id == bos_id() ? "<s>" : "</s>";
  if (state_->bpe) return state_->bpe->token(id);
  const SentencePiecePlugin& plugin = sentencepiece_plugin();
  char* text = nullptr;
  std::size_t size = 0;
  plugin.piece(state_->processor, id, &text, &size);
  std::string out(text, size);
  plugin.free(text);
  return out;
}

std::optional<std::string> Tokenizer::stored_id_problem(std::int32_t id, Field field) const {
  if (id < 0 || id >= piece_count())
    return fmt::format("is outside the vocabulary [0, {}) of the tokenizer in meta.h5:/tokenizer/model: store the ids "
                       "{} gives (encode the text with it)", piece_count(),
                       state_->bpe ? "its tokenizer.json" : "its SentencePiece model");
  const bool eos = id == eos_id() && field == Field::answer;
  const char* name = id == pad_id() ? "<pad>" : id == bos_id() ? "<bos>" : eos ? "<eos>" : nullptr;
  if (name == nullptr) return std::nullopt;
  return fmt::format("is the tokenizer's {} id: store only the text's ids, without padding (the *_ptr arrays delimit "
                     "samples) and without <bos>/<eos> (the model adds them)", name);
}

std::int32_t Tokenizer::vocab_size() const { return state_->vocabulary.size; }
std::int32_t Tokenizer::piece_count() const { return state_->vocabulary.pieces; }
std::int32_t Tokenizer::pad_id() const { return state_->vocabulary.special.pad; }
std::int32_t Tokenizer::bos_id() const { return state_->vocabulary.special.bos; }
std::int32_t Tokenizer::eos_id() const { return state_->vocabulary.special.eos; }
std::int32_t Tokenizer::unk_id() const { return state_->vocabulary.special.unk; }
const Vocabulary& Tokenizer::vocabulary() const { return state_->vocabulary; }
std::vector<std::uint8_t> Tokenizer::serialized() const { return state_->serialized; }
bool Tokenizer::is_byte_level_bpe() const { return state_->bpe != nullptr; }
const std::string& Tokenizer::chat_template() const { return state_->chat_template; }

}  // namespace fedvlm::data
