#include "hf_tokenizer_files.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"

namespace fedvlm::data {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kFormat = "fedvlm-hf-tokenizer";

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the tokenizer file", file.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A special token as tokenizer_config.json writes it: a string, an AddedToken object with
// "content", or null (none).
std::optional<std::string> token_name(const json& config, const char* key, const std::string& source) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) return (*it)["content"].get<std::string>();
  throw InputError(fmt::format("{}: {} = {}: expected a token (a string or an object with \"content\")", source, key, it->dump()));
}

// The subset of tokenizer_config.json fedvlm uses, normalized: names as strings, the template
// as text (of a list of named templates, the one named "default").
json config_subset(const json& config, const std::string& source) {
  if (!config.is_object()) throw InputError(fmt::format("{}: expected a JSON object", source));
  json subset = json::object();
  for (const char* key : {"bos_token", "eos_token", "pad_token"})
    subset[key] = token_name(config, key, source) ? json(*token_name(config, key, source)) : json();
  const json templates = config.value("chat_template", json());
  subset["chat_template"] = "";
  if (templates.is_string()) subset["chat_template"] = templates;
  for (const json& entry : templates.is_array() ? templates : json::array())
    if (entry.is_object() && entry.value("name", "") == "default" && entry.contains("template")) subset["chat_template"] = entry["template"];
  if (!subset["chat_template"].is_string())
    throw InputError(fmt::format("{}: chat_template: expected a string or a list of {{name, template}}", source));
  return subset;
}

HfTokenizer assemble(BpeTokenizer bpe, const json& config, const std::string& config_source) {
  HfTokenizer out{std::move(bpe), SpecialIds{-1, -1, -1, -1}, config["chat_template"].get<std::string>(), {}};
  auto id_of = [&](const char* key) -> std::int32_t {
    if (config[key].is_null()) return -1;
    const auto id = out.bpe.id(config[key].get<std::string>());
    if (!id) throw InputError(fmt::format("{}: {} = {}: not a token of tokenizer.json", config_source, key, config[key].dump()));
    return *id;
  };
  out.special.pad = id_of("pad_token");
  out.special.bos = id_of("bos_token");
  out.special.eos = id_of("eos_token");
  if (out.special.bos < 0) out.special.bos = out.bpe.post_processor_bos().value_or(-1);
  // Llama 3 names no pad: a reserved token keeps the vocabulary equal to the checkpoint's
  // embedding rows (an added id would lie past them).
  for (const char* reserved : {"<|finetune_right_pad_id|>", "<|reserved_special_token_0|>"})
    if (out.special.pad < 0) out.special.pad = out.bpe.id(reserved).value_or(-1);
  return out;
}

std::vector<std::uint8_t> serialize(std::string_view tokenizer_json, const json& config) {
  // The tokenizer.json text goes in verbatim: no re-encoding of a multi-megabyte vocabulary.
  const std::string text = fmt::format(R"({{"format": "{}", "config": {}, "tokenizer": {}}})", kFormat, config.dump(), tokenizer_json);
  return {text.begin(), text.end()};
}

// A tokenizer.json with byte fallback is a converted SentencePiece model (Llama 2, LLaVA-1.5
// ship both files); the original tokenizer.model is the one fedvlm reads.
bool is_converted_sentencepiece(const fs::path& tokenizer_json) {
  const json document = json::parse(read_text(tokenizer_json), nullptr, false);
  return document.is_object() && document.contains("model") && document["model"].is_object() &&
         document["model"].value("byte_fallback", false) == true;
}

}  // namespace

fs::path resolve_tokenizer_file(const fs::path& path) {
  if (!fs::is_directory(path)) return path;
  const bool has_model = fs::exists(path / "tokenizer.model");
  if (fs::exists(path / "tokenizer.json") && !(has_model && is_converted_sentencepiece(path / "tokenizer.json")))
    return path / "tokenizer.json";
  if (has_model) return path / "tokenizer.model";
  throw InputError(fmt::format("{}: the directory holds neither tokenizer.json nor tokenizer.model", path.string()));
}

HfTokenizer read_hf_tokenizer(const fs::path& tokenizer_json) {
  const std::string text = read_text(tokenizer_json);
  BpeTokenizer bpe = BpeTokenizer::parse(text, tokenizer_json.string());
  const fs::path config_file = tokenizer_json.parent_path() / "tokenizer_config.json";
  json config = config_subset(json::object(), config_file.string());
  if (fs::exists(config_file)) {
    try {
      config = config_subset(json::parse(read_text(config_file)), config_file.string());
    } catch (const json::exception& e) {
      throw InputError(fmt::format("{}: not a JSON document: {}", config_file.string(), e.what()));
    }
  }
  HfTokenizer out = assemble(std::move(bpe), config, config_file.string());
  out.serialized = serialize(text, config);
  return out;
}

HfTokenizer parse_serialized_hf_tokenizer(std::string_view text) {
  constexpr const char* kSource = "the stored tokenizer";
  json document;
  try {
    document = json::parse(text);
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: starts with '{{' but is not a JSON document: {}", kSource, e.what()));
  }
  const bool wrapped = document.is_object() && document.value("format", "") == kFormat;
  const json config = wrapped ? config_subset(document.value("config", json::object()), kSource) : config_subset(json::object(), kSource);
  if (wrapped && !document.contains("tokenizer")) throw InputError(fmt::format("{}: tokenizer is missing", kSource));
  const std::string tokenizer_json = wrapped ? document["tokenizer"].dump() : std::string(text);
  HfTokenizer out = assemble(BpeTokenizer::parse(tokenizer_json, fmt::format("{} (tokenizer.json)", kSource)), config, kSource);
  out.serialized.assign(text.begin(), text.end());
  return out;
}

}  // namespace fedvlm::data
