#include "llava/llava_records.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"

namespace fedvlm::prep {
namespace {

std::string read_text(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open (no such file or not readable)", file.string()));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string trim(std::string text) {
  const auto begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return {};
  return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

std::string strip_image_tag(std::string text) {
  constexpr std::string_view kTag = "<image>";
  for (auto at = text.find(kTag); at != std::string::npos; at = text.find(kTag)) text.erase(at, kTag.size());
  return trim(std::move(text));
}

std::string id_text(const nlohmann::json& id) {
  if (id.is_string()) return id.get<std::string>();
  if (id.is_null()) return {};
  return id.dump();
}

LlavaRecord parse_record(const nlohmann::json& object, const std::filesystem::path& file, std::size_t index) {
  LlavaRecord record;
  record.file = file;
  record.index = index;
  if (!object.is_object()) {
    record.problem = "is not a JSON object";
    return record;
  }
  if (const auto id = object.find("id"); id != object.end()) record.id = id_text(*id);
  if (const auto task = object.find("task"); task != object.end() && task->is_string()) record.task = task->get<std::string>();
  const auto image = object.find("image");
  if (image == object.end() || !image->is_string() || image->get<std::string>().empty()) {
    record.problem = "has no \"image\" path";
    return record;
  }
  record.image = image->get<std::string>();
  const auto turns = object.find("conversations");
  if (turns == object.end() || !turns->is_array()) {
    record.problem = "has no \"conversations\" array";
    return record;
  }
  bool have_prompt = false, have_answer = false;
  for (const auto& turn : *turns) {
    // A turn without a string "from" and "value" is skipped like any other speaker's.
    if (!turn.is_object()) continue;
    const auto from = turn.find("from");
    const auto value = turn.find("value");
    if (from == turn.end() || !from->is_string() || value == turn.end() || !value->is_string()) continue;
    if (!have_prompt && *from == "human") {
      record.prompt = strip_image_tag(value->get<std::string>());
      have_prompt = true;
    } else if (have_prompt && !have_answer && *from == "gpt") {
      record.answer = trim(value->get<std::string>());
      have_answer = true;
    }
  }
  if (!have_prompt) record.problem = "has no \"human\" turn";
  else if (!have_answer) record.problem = "has no \"gpt\" turn after the first human turn";
  return record;
}

}  // namespace

std::string LlavaRecord::where() const {
  return id.empty() ? fmt::format("{} record {}", file.string(), index) : fmt::format("{} record {} (id {})", file.string(), index, id);
}

std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t byte_offset) {
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < std::min(byte_offset, text.size()); ++i) {
    if (text[i] == '\n') ++line, column = 1;
    else ++column;
  }
  return {line, column};
}

std::vector<LlavaRecord> read_llava_json(const std::filesystem::path& file) {
  const auto text = read_text(file);
  nlohmann::json document;
  try {
    document = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& error) {
    // nlohmann reports the byte just past the offending character.
    const auto [line, column] = line_and_column(text, error.byte > 0 ? error.byte - 1 : 0);
    std::string message = error.what();
    if (const auto cut = message.find("parse error"); cut != std::string::npos) message = message.substr(cut);
    throw InputError(fmt::format("{}:{}:{}: malformed JSON: {}", file.string(), line, column, message));
  } catch (const nlohmann::json::exception& error) {
    // The parser's other refusals carry no position: a number beyond double's range
    // ("out_of_range.406 number overflow parsing '1e400'") is one.
    std::string message = error.what();
    if (const auto cut = message.find("] "); cut != std::string::npos) message = message.substr(cut + 2);
    throw InputError(fmt::format("{}: malformed JSON: {}", file.string(), message));
  }
  if (!document.is_array())
    throw InputError(fmt::format("{}: expected a JSON array of LLaVA records, found a {}", file.string(), document.type_name()));
  std::vector<LlavaRecord> records;
  records.reserve(document.size());
  for (std::size_t i = 0; i < document.size(); ++i) records.push_back(parse_record(document[i], file, i));
  return records;
}

std::optional<std::array<float, 4>> parse_box_answer(std::string_view answer) {
  const auto open = answer.find('[');
  if (open == std::string_view::npos) return std::nullopt;
  const auto close = answer.find(']', open);
  if (close == std::string_view::npos) return std::nullopt;
  std::array<float, 4> box{};
  const char* cursor = answer.data() + open + 1;
  const char* end = answer.data() + close;
  for (std::size_t k = 0; k < 4; ++k) {
    while (cursor < end && (*cursor == ' ' || *cursor == ',')) ++cursor;
    const auto [next, status] = std::from_chars(cursor, end, box[k]);
    if (status != std::errc{}) return std::nullopt;
    cursor = next;
  }
  while (cursor < end && *cursor == ' ') ++cursor;
  if (cursor != end) return std::nullopt;  // more than four numbers
  return box;
}

}  // namespace fedvlm::prep
