// Byte-level BPE from tokenizer.json. Encoding follows the `tokenizers` pipeline: added tokens
// are cut out first, the rest is pre-tokenized by the split pattern (bpe_pretokenize.cpp),
// each piece's bytes become GPT-2's byte symbols and are merged by rank.
#include "fedvlm/data/bpe_tokenizer.hpp"

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bpe_pretokenize.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::data {
namespace {

using nlohmann::json;

// GPT-2's byte symbols: printable Latin-1 bytes stand for themselves, the other 68 bytes take
// U+0100.. in byte order, so every byte is one visible non-space character.
std::array<char32_t, 256> byte_symbols_table() {
  std::array<char32_t, 256> symbols{};
  char32_t next = 0x100;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    symbols[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return symbols;
}

// Bytes to UTF-8 as Rust's from_utf8_lossy and Python's errors="replace" do: each maximal
// invalid subpart becomes one U+FFFD.
std::string lossy_utf8(std::string_view bytes) {
  std::string out;
  for (std::size_t i = 0; i < bytes.size();) {
    const auto lead = static_cast<unsigned char>(bytes[i]);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // the allowed range of the second byte
    if (lead < 0x80) length = 1;
    else if (lead >= 0xC2 && lead <= 0xDF) length = 2;
    else if (lead >= 0xE0 && lead <= 0xEF) length = 3, low = lead == 0xE0 ? 0xA0 : 0x80, high = lead == 0xED ? 0x9F : 0xBF;
    else if (lead >= 0xF0 && lead <= 0xF4) length = 4, low = lead == 0xF0 ? 0x90 : 0x80, high = lead == 0xF4 ? 0x8F : 0xBF;
    std::size_t valid = length == 0 ? 0 : 1;
    while (valid > 0 && valid < length && i + valid < bytes.size()) {
      const auto next = static_cast<unsigned char>(bytes[i + valid]);
      if (next < (valid == 1 ? low : 0x80) || next > (valid == 1 ? high : 0xBF)) break;
      ++valid;
    }
    if (valid == length && length > 0) {
      out.append(bytes.substr(i, length));
      i += length;
    } else {
      out += "\xEF\xBF\xBD";
      i += std::max<std::size_t>(valid, 1);
    }
  }
  return out;
}

// InputErrors naming the file and the key, worded as the other readers of Hugging Face files.
struct Where {
  const std::string& source;
  [[noreturn]] void fail(const std::string& key, const json& value, std::string_view why) const {
    throw InputError(fmt::format("{}: {} = {}: {}", source, key, value.dump(-1, ' ', false, json::error_handler_t::replace), why));
  }
  [[noreturn]] void missing(const std::string& key, std::string_view why) const {
    throw InputError(fmt::format("{}: {} is missing: {}", source, key, why));
  }
  const json& get(const json& object, const std::string& path, const char* key, json::value_t type) const {
    const auto it = object.find(key);
    const std::string full = path.empty() ? key : path + "." + key;
    if (it == object.end()) missing(full, fmt::format("expected a {}", json(type).type_name()));
    if (it->type() != type && !(type == json::value_t::number_integer && it->is_number_unsigned()))
      fail(full, *it, fmt::format("expected a {}", json(type).type_name()));
    return *it;
  }
  // A flag that must be false (or absent) in the layouts fedvlm reads.
  void require_false(const json& object, const std::string& path, const char* key, std::string_view why) const {
    const auto it = object.find(key);
    if (it != object.end() && !it->is_null() && *it != false) fail(path + "." + key, *it, why);
  }
};

std::string type_of(const json& object) {
  const auto it = object.find("type");
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

struct BpeTokenizer::State {
  struct Merge {
    std::int32_t rank, merged;
  };
  std::vector<std::string> tokens;                     // by id: vocab entry or added token content
  std::unordered_map<std::string, std::int32_t> vocab;  // model.vocab
  std::vector<std::pair<std::string, std::int32_t>> added_tokens;  // longest first
  std::array<bool, 256> added_first_byte{};            // whether an added token starts with this byte
  std::unordered_map<std::uint64_t, Merge> merges;     // (left id, right id)
  std::array<std::int32_t, 256> byte_ids{};            // the vocab id of each byte's symbol
  std::array<std::string, 256> byte_symbols;           // UTF-8 of each byte's symbol
  std::unordered_map<char32_t, char> symbol_bytes;
  bool ignore_merges = false;
  bpe::SplitPattern pattern = bpe::SplitPattern::llama3;
  std::optional<std::int32_t> bos;

  static std::uint64_t pair(std::int32_t left, std::int32_t right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
  }
  void encode_piece(std::string_view piece, std::vector<std::int32_t>& out) const;

  // The steps of parse(), in order: merges name vocabulary entries, so they come last.
  void read_model_options(const json& model, const Where& where);
  void read_ids(const json& root, const json& model, const Where& where);
  void read_byte_symbols(const Where& where);
  void read_merges(const json& model, const Where& where);
};

BpeTokenizer::BpeTokenizer() : state_(std::make_unique<State>()) {}
BpeTokenizer::BpeTokenizer(BpeTokenizer&&) noexcept = default;
BpeTokenizer& BpeTokenizer::operator=(BpeTokenizer&&) noexcept = default;
BpeTokenizer::~BpeTokenizer() = default;

namespace {

void read_pre_tokenizer(const json& root, const Where& where, bpe::SplitPattern& pattern) {
  constexpr std::string_view kExpected =
      "fedvlm reads the Llama 3 / Qwen2 layout: a Sequence of a Split (their regex, behavior Isolated) and a ByteLevel "
      "(add_prefix_space false, use_regex false)";
  const json& pre = where.get(root, "", "pre_tokenizer", json::value_t::object);
  if (type_of(pre) != "Sequence") where.fail("pre_tokenizer.type", pre.value("type", json()), kExpected);
  const json& steps = where.get(pre, "pre_tokenizer", "pretokenizers", json::value_t::array);
  if (steps.size() != 2 || type_of(steps[0]) != "Split" || type_of(steps[1]) != "ByteLevel")
    where.fail("pre_tokenizer.pretokenizers", steps, kExpected);
  const std::string split_key = "pre_tokenizer.pretokenizers[0]";
  const json& regex = where.get(where.get(steps[0], split_key, "pattern", json::value_t::object), split_key + ".pattern",
                                "Regex", json::value_t::string);
  const auto recognized = bpe::recognize_split_pattern(regex.get<std::string>());
  if (!recognized)
    where.fail(split_key + ".pattern.Regex", regex,
               fmt::format("not a pattern fedvlm implements; it knows Llama 3's {} and Qwen2's (the same with \\p{{N}} "
                           "for \\p{{N}}{{1,3}})", json(bpe::split_pattern_regex(bpe::SplitPattern::llama3)).dump()));
  pattern = *recognized;
  if (steps[0].value("behavior", std::string()) != "Isolated")
    where.fail(split_key + ".behavior", steps[0].value("behavior", json()), "expected \"Isolated\"");
  where.require_false(steps[0], split_key, "invert", "an inverted split is not supported");
  const std::string byte_key = "pre_tokenizer.pretokenizers[1]";
  where.require_false(steps[1], byte_key, "add_prefix_space", "a prefix space is not supported");
  where.require_false(steps[1], byte_key, "use_regex", "ByteLevel's own GPT-2 regex is not supported (the Split does the cutting)");
}

std::optional<std::int32_t> read_post_processor_bos(const json& processor, const std::string& key, const Where& where,
                                                    std::int32_t size) {
  if (processor.is_null() || type_of(processor) == "ByteLevel") return std::nullopt;
  if (type_of(processor) == "Sequence") {
    const json& steps = where.get(processor, key, "processors", json::value_t::array);
    for (std::size_t i = 0; i < steps.size(); ++i)
      if (auto bos = read_post_processor_bos(steps[i], fmt::format("{}.processors[{}]", key, i), where, size)) return bos;
    return std::nullopt;
  }
  if (type_of(processor) != "TemplateProcessing")
    where.fail(key + ".type", processor.value("type", json()), "expected null, ByteLevel, TemplateProcessing or Sequence");
  const json& single = where.get(processor, key, "single", json::value_t::array);
  if (single.empty() || !single[0].contains("SpecialToken")) return std::nullopt;
  const json& name = where.get(single[0]["SpecialToken"], key + ".single[0].SpecialToken", "id", json::value_t::string);
  const std::string tokens_key = key + ".special_tokens";
  const json& entry = where.get(where.get(processor, key, "special_tokens", json::value_t::object), tokens_key,
                                name.get<std::string>().c_str(), json::value_t::object);
  const std::string entry_key = fmt::format("{}[{}]", tokens_key, name.dump());
  const json& ids = where.get(entry, entry_key, "ids", json::value_t::array);
  if (ids.size() != 1 || !ids[0].is_number_integer() || ids[0].get<std::int64_t>() < 0 || ids[0].get<std::int64_t>() >= size)
    where.fail(entry_key + ".ids", ids, fmt::format("expected one token id in [0, {})", size));
  return ids[0].get<std::int32_t>();
}

}  // namespace

void BpeTokenizer::State::read_model_options(const json& model, const Where& where) {
  if (type_of(model) != "BPE")
    where.fail("model.type", model.value("type", json()), "fedvlm reads byte-level BPE tokenizers only (type \"BPE\")");
  where.require_false(model, "model", "byte_fallback", "byte fallback is not supported (byte-level BPE needs none)");
  if (model.contains("dropout") && !model["dropout"].is_null()) where.fail("model.dropout", model["dropout"], "expected null");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (model.contains(key) && !model[key].is_null() && model[key] != "")
      where.fail(fmt::format("model.{}", key), model[key], "expected null (byte-level BPE has no subword markers)");
  if (const auto it = model.find("ignore_merges"); it != model.end()) {
    if (!it->is_boolean()) where.fail("model.ignore_merges", *it, "expected true or false");
    ignore_merges = it->get<bool>();
  }
}

// model.vocab and added_tokens together: one token per id, the ids filling [0, size).
void BpeTokenizer::State::read_ids(const json& root, const json& model, const Where& where) {
  std::unordered_map<std::int32_t, std::string> by_id;
  auto claim = [&](const json& id, const std::string& token, auto key) {
    if (!id.is_number_integer() || id.get<std::int64_t>() < 0 || id.get<std::int64_t>() > INT32_MAX)
      where.fail(key(), id, "expected a token id >= 0");
    const auto [it, fresh] = by_id.emplace(id.get<std::int32_t>(), token);
    if (!fresh && it->second != token) where.fail(key(), id, fmt::format("the id already belongs to {}", json(it->second).dump()));
    return id.get<std::int32_t>();
  };
  for (const auto& entry : where.get(model, "model", "vocab", json::value_t::object).items()) {
    const std::string& token = entry.key();  // not a structured binding: clang 14 cannot capture those
    vocab.emplace(token, claim(entry.value(), token, [&] { return fmt::format("model.vocab[{}]", json(token).dump()); }));
  }
  const json* added = root.contains("added_tokens") && !root["added_tokens"].is_null() ? &root["added_tokens"] : nullptr;
  if (added != nullptr && !added->is_array()) where.fail("added_tokens", *added, "expected an array");
  for (std::size_t i = 0; added != nullptr && i < added->size(); ++i) {
    const std::string key = fmt::format("added_tokens[{}]", i);
    const json& entry = (*added)[i];
    if (!entry.is_object()) where.fail(key, entry, "expected an object");
    const std::string content = where.get(entry, key, "content", json::value_t::string).get<std::string>();
    if (content.empty()) where.fail(key + ".content", entry["content"], "an added token cannot be empty");
    for (const char* flag : {"lstrip", "rstrip", "single_word"})
      where.require_false(entry, key, flag, "fedvlm matches added tokens exactly, without stripping or word boundaries");
    const json& id = where.get(entry, key, "id", json::value_t::number_integer);
    added_tokens.emplace_back(content, claim(id, content, [&] { return key + ".id"; }));
    added_first_byte[static_cast<unsigned char>(content[0])] = true;
  }
  std::stable_sort(added_tokens.begin(), added_tokens.end(), [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  // A hole would be an id no text encodes to and no model row can name.
  const auto size = static_cast<std::int32_t>(by_id.size());
  tokens.resize(static_cast<std::size_t>(size));
  for (const auto& [id, token] : by_id) {
    if (id >= size)
      throw InputError(fmt::format("{}: token id {} ({}) is out of range: the {} ids of model.vocab and added_tokens "
                                   "must be exactly 0..{}", where.source, id, json(token).dump(), size, size - 1));
    tokens[static_cast<std::size_t>(id)] = token;
  }
}

void BpeTokenizer::State::read_byte_symbols(const Where& where) {
  const auto symbols = byte_symbols_table();
  for (int b = 0; b < 256; ++b) {
    bpe::append_utf8(byte_symbols[b], symbols[b]);
    symbol_bytes[symbols[b]] = static_cast<char>(b);
    const auto it = vocab.find(byte_symbols[b]);
    if (it == vocab.end())
      throw InputError(fmt::format("{}: model.vocab lacks {} (the symbol of byte 0x{:02X}): a byte-level BPE vocabulary "
                                   "holds all 256 byte symbols", where.source, json(byte_symbols[b]).dump(), b));
    byte_ids[b] = it->second;
  }
}

void BpeTokenizer::State::read_merges(const json& model, const Where& where) {
  const json& list = where.get(model, "model", "merges", json::value_t::array);
  for (std::size_t rank = 0; rank < list.size(); ++rank) {
    const json& merge = list[rank];
    const auto key = [&] { return fmt::format("model.merges[{}]", rank); };
    std::string left, right;
    if (merge.is_string() && std::count(merge.get_ref<const std::string&>().begin(), merge.get_ref<const std::string&>().end(), ' ') == 1) {
      const auto& text = merge.get_ref<const std::string&>();
      left = text.substr(0, text.find(' '));
      right = text.substr(text.find(' ') + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      where.fail(key(), merge, "expected \"left right\" or [left, right]");
    }
    std::int32_t ids[3];
    const std::string parts[3] = {left, right, left + right};
    for (int k = 0; k < 3; ++k) {
      const auto it = vocab.find(parts[k]);
      if (it == vocab.end()) where.fail(key(), merge, fmt::format("{} is not in model.vocab", json(parts[k]).dump()));
      ids[k] = it->second;
    }
    merges.emplace(pair(ids[0], ids[1]), Merge{static_cast<std::int32_t>(rank), ids[2]});
  }
}

BpeTokenizer BpeTokenizer::parse(std::string_view json_text, const std::string& source) {
  const Where where{source};
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: not a JSON document: {}", source, e.what()));
  }
  if (!root.is_object()) throw InputError(fmt::format("{}: expected a JSON object (a tokenizer.json)", source));
  BpeTokenizer tokenizer;
  State& s = *tokenizer.state_;
  const json& model = where.get(root, "", "model", json::value_t::object);
  s.read_model_options(model, where);
  s.read_ids(root, model, where);
  s.read_byte_symbols(where);
  s.read_merges(model, where);
  if (root.contains("normalizer") && !root["normalizer"].is_null() && type_of(root["normalizer"]) != "NFC")
    where.fail("normalizer", root["normalizer"], "expected null or NFC");
  read_pre_tokenizer(root, where, s.pattern);
  const json& decoder = where.get(root, "", "decoder", json::value_t::object);
  if (type_of(decoder) != "ByteLevel") where.fail("decoder.type", decoder.value("type", json()), "expected \"ByteLevel\"");
  s.bos = read_post_processor_bos(root.value("post_processor", json()), "post_processor", where, tokenizer.size());
  return tokenizer;
}

BpeTokenizer BpeTokenizer::from_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the tokenizer", file.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return parse(text.str(), file.string());
}

void BpeTokenizer::State::encode_piece(std::string_view piece, std::vector<std::int32_t>& out) const {
  if (ignore_merges) {
    std::string symbols;
    for (const char byte : piece) symbols += byte_symbols[static_cast<unsigned char>(byte)];
    if (const auto it = vocab.find(symbols); it != vocab.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<std::int32_t> word;
  for (const char byte : piece) word.push_back(byte_ids[static_cast<unsigned char>(byte)]);
  // Merge the lowest-ranked adjacent pair (the leftmost of equal ones) until none is left.
  while (word.size() > 1) {
    std::size_t best = word.size();
    Merge best_merge{INT32_MAX, -1};
    for (std::size_t k = 0; k + 1 < word.size(); ++k) {
      const auto it = merges.find(pair(word[k], word[k + 1]));
      if (it != merges.end() && it->second.rank < best_merge.rank) best = k, best_merge = it->second;
    }
    if (best == word.size()) break;
    word[best] = best_merge.merged;
    word.erase(word.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  out.insert(out.end(), word.begin(), word.end());
}

std::vector<std::int32_t> BpeTokenizer::encode(std::string_view text) const {
  const State& s = *state_;
  std::vector<std::int32_t> out;
  auto encode_plain = [&](std::string_view plain) {
    for (const auto piece : bpe::split(plain, s.pattern)) s.encode_piece(piece, out);
  };
  std::size_t plain_start = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto found = !s.added_first_byte[static_cast<unsigned char>(text[i])]
                           ? s.added_tokens.end()
                           : std::find_if(s.added_tokens.begin(), s.added_tokens.end(),
                                          [&](const auto& token) { return text.substr(i).starts_with(token.first); });
    if (found == s.added_tokens.end()) {
      ++i;
      continue;
    }
    encode_plain(text.substr(plain_start, i - plain_start));
    out.push_back(found->second);
    i += found->first.size();
    plain_start = i;
  }
  encode_plain(text.substr(plain_start));
  return out;
}

std::string BpeTokenizer::decode(std::span<const std::int32_t> ids) const {
  const State& s = *state_;
  std::string bytes;
  for (const std::int32_t id : ids) {
    FEDVLM_CHECK(id >= 0 && id < size(), "token id {} outside the vocabulary [0, {})", id, size());
    // As the ByteLevel decoder: a token whose characters are all byte symbols gives those
    // bytes; any other (an added token with a space, say) gives its own UTF-8.
    const std::string& token = s.tokens[static_cast<std::size_t>(id)];
    std::string mapped;
    const auto points = bpe::decode_utf8(token);
    bool all_symbols = points.has_value();
    for (std::size_t k = 0; all_symbols && k < points->chars.size(); ++k) {
      const auto it = s.symbol_bytes.find(points->chars[k]);
      if (it == s.symbol_bytes.end()) all_symbols = false;
      else mapped += it->second;
    }
    bytes += all_symbols ? mapped : token;
  }
  return lossy_utf8(bytes);
}

std::int32_t BpeTokenizer::size() const { return static_cast<std::int32_t>(state_->tokens.size()); }

std::optional<std::int32_t> BpeTokenizer::id(std::string_view token) const {
  for (const auto& [content, id] : state_->added_tokens)
    if (content == token) return id;
  if (const auto it = state_->vocab.find(std::string(token)); it != state_->vocab.end()) return it->second;
  return std::nullopt;
}

const std::string& BpeTokenizer::token(std::int32_t id) const {
  FEDVLM_CHECK(id >= 0 && id < size(), "token id {} outside the vocabulary [0, {})", id, size());
  return state_->tokens[static_cast<std::size_t>(id)];
}

std::optional<std::int32_t> BpeTokenizer::post_processor_bos() const { return state_->bos; }

}  // namespace fedvlm::data
