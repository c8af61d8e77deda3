// LLaVA conversation JSON as FedVLMBench distributes it: an array of
//   {"id": ..., "image": "path", "conversations": [{"from": "human", "value": "<image>\n..."},
//                                                  {"from": "gpt", "value": "..."}], "task": "vqa"?}
// The first human turn (the <image> tag removed) is the prompt, the first gpt turn the answer.
#pragma once

#include <array>
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace fedvlm::prep {

struct LlavaRecord {
  std::string id;
  std::string image;   // relative to --images
  std::string prompt;
  std::string answer;
  std::string task;    // empty: the --task default
  std::filesystem::path file;
  std::size_t index = 0;  // position in its file
  std::string problem;    // non-empty: why the record is unusable (missing field, no gpt turn, ...)

  std::string where() const;  // "FILE record INDEX (id ID)"
};

// Parses `file`. Malformed JSON is an InputError with "FILE:LINE:COLUMN: message"; records with
// a structural problem come back with `problem` set so the caller can fail or skip them.
std::vector<LlavaRecord> read_llava_json(const std::filesystem::path& file);

// 1-based line and column of a byte offset in `text` (nlohmann::json reports offsets).
std::pair<std::size_t, std::size_t> line_and_column(std::string_view text, std::size_t byte_offset);

// The first "[x0, y0, x1, y1]" in a grounding answer (LLaVA/RefCOCO style), if any.
std::optional<std::array<float, 4>> parse_box_answer(std::string_view answer);

}  // namespace fedvlm::prep
