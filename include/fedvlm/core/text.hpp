// Small text helpers shared by the checkpoint formats (lists of names stored as one string).
#pragma once

#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace fedvlm {

// items[0] + separator + items[1] + ...
inline std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += separator;
    out += items[i];
  }
  return out;
}

// The lines of `text`, without their newlines; a final newline adds no empty line.
inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

}  // namespace fedvlm
