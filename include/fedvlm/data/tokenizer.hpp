// Tokenizer: SentencePiece, trained at prep time on the public split's text (digits split, so
// coordinates tokenize uniformly) or loaded from a .model file; or a Hugging Face byte-level BPE
// tokenizer.json (Llama 3, Qwen2: bpe_tokenizer.hpp). Stored in meta.h5 either way.
//
// The model's vocabulary is the tokenizer's own ids [0, piece_count()) plus one added id for each
// of <pad>, <bos>, <eos> it lacks (assign_vocabulary below), so any special-id layout works:
// fedvlm's own (pad 0, bos 1, eos 2, unk 3), spm_train's defaults and Llama's (unk 0, bos 1,
// eos 2, no pad), or any other.
//
// A byte-level BPE tokenizer takes bos, eos and pad from the tokenizer_config.json beside its
// tokenizer.json (bos_token, eos_token, pad_token; bos falls back to the token the
// post_processor prepends, pad to <|finetune_right_pad_id|> or <|reserved_special_token_0|>,
// so Llama 3's ids stay within its embedding rows); each one still missing gets an added id as
// above. Llama 3 Instruct: bos <|begin_of_text|>, eos <|eot_id|>, pad
// <|reserved_special_token_0|> (3.1: <|finetune_right_pad_id|>). Qwen2 Instruct: bos added, eos
// <|im_end|>, pad <|endoftext|>. It has no <unk> (every byte is a symbol): unk_id() is -1.
//
// Serialized form (meta.h5:/tokenizer/model): a SentencePiece ModelProto, or for byte-level BPE
// the JSON document {"format": "fedvlm-hf-tokenizer", "tokenizer": <tokenizer.json>,
// "config": {"bos_token", "eos_token", "pad_token", "chat_template"}}. A ModelProto never starts
// with '{', so from_serialized tells them apart by the first byte (a bare tokenizer.json is
// accepted too).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace fedvlm::data {

struct HfTokenizer;  // src/data/hf_tokenizer_files.hpp

// Special ids; -1 where the tokenizer has none (a SentencePiece model always has <unk>; a
// byte-level BPE tokenizer never has one).
struct SpecialIds {
  std::int32_t pad = 0;
  std::int32_t bos = 1;
  std::int32_t eos = 2;
  std::int32_t unk = 3;
  bool operator==(const SpecialIds&) const = default;
};

inline constexpr SpecialIds kFedvlmSpecialIds{0, 1, 2, 3};
inline constexpr SpecialIds kSentencePieceDefaultIds{-1, 1, 2, 0};  // spm_train's defaults, Llama's layout

// The ids the model embeds: [0, size). Pieces [0, pieces) are the SentencePiece model's; ids
// [pieces, size) are added. pad, bos, eos are >= 0 and distinct; unk is >= 0 for SentencePiece.
struct Vocabulary {
  std::int32_t pieces = 0;
  std::int32_t size = 0;
  SpecialIds special;
};

// Keeps the SentencePiece model's own <pad>, <bos>, <eos> and <unk>; each of pad, bos, eos that
// it lacks (or whose id <unk> or another of them already holds, which only a hand-edited model
// can do) gets the next added id, in the order pad, bos, eos. fedvlm's layout adds nothing (size == pieces);
// spm_train's defaults add <pad> = pieces. Throws InputError when `own.unk` is missing or an own
// id lies outside [0, pieces).
Vocabulary assign_vocabulary(std::int32_t pieces, SpecialIds own);

class Tokenizer {
 public:
  static Tokenizer from_serialized(std::span<const std::uint8_t> model_bytes);
  // A SentencePiece .model, a tokenizer.json (with the tokenizer_config.json beside it, when
  // there is one), or a model directory holding tokenizer.json (preferred) or tokenizer.model
  // (read instead of a tokenizer.json with byte fallback, which is a converted SentencePiece
  // model: Llama 2 and LLaVA-1.5 directories ship both).
  static Tokenizer from_file(const std::filesystem::path& model_file);
  // Trains a unigram model with byte fallback off, digits split, the special ids `ids` (fedvlm's
  // own by default; -1 leaves a piece out), character coverage 1 and a soft vocabulary limit (a
  // small corpus yields fewer pieces than asked). One training thread and a fixed seed: the same
  // texts give byte-identical models.
  static Tokenizer train(const std::vector<std::string>& texts, int vocab_size, std::uint64_t seed,
                         SpecialIds ids = kFedvlmSpecialIds);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<std::int32_t> encode(const std::string& text) const;
  // Skips <pad>, <bos>, <eos>, added ids and ids outside the vocabulary (a model may emit any id);
  // <unk> shows as " \u2047 ".
  std::string decode(std::span<const std::int32_t> ids) const;
  // The vocabulary entry, "\u2581" marking a leading space; added ids show as <pad>, <s>, </s>.
  std::string piece(std::int32_t id) const;
  // True for a Hugging Face byte-level BPE tokenizer, false for SentencePiece.
  bool is_byte_level_bpe() const;
  // tokenizer_config.json's chat_template (Jinja text), empty when there is none.
  const std::string& chat_template() const;
  std::int32_t vocab_size() const;   // the model's vocabulary: pieces plus added ids
  std::int32_t piece_count() const;  // the tokenizer's own ids (SentencePiece pieces, BPE vocab + added tokens)
  std::int32_t pad_id() const;
  std::int32_t bos_id() const;
  std::int32_t eos_id() const;
  std::int32_t unk_id() const;
  const Vocabulary& vocabulary() const;
  // Why `id` may not be stored in a dataset's prompt or answer arrays, or nullopt when it may:
  // stored ids are the tokenizer's own ids other than its <pad>, <bos>, <eos> (the model
  // adds those itself), except that a prompt may hold <eos>: chat templates end earlier turns
  // with it (Llama 3 Instruct's <|eot_id|> closes the user turn). The text completes
  // "prompt[7] = 1 ...".
  enum class Field { prompt, answer };
  std::optional<std::string> stored_id_problem(std::int32_t id, Field field = Field::answer) const;
  std::vector<std::uint8_t> serialized() const;

 private:
  Tokenizer();
  static Tokenizer from_hf(HfTokenizer&& hf);
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fedvlm::data
