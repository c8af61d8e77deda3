// Tiny Hugging Face tokenizer directories (Llama 3 and Qwen2 layouts) written by
// tools/hf_tokenizer.py once per test process, with the reference encoder's ids beside them.
#pragma once

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "data_test_support.hpp"

namespace fedvlm::data::testing {

inline std::string read_text_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

inline void write_text_file(const std::filesystem::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary) << text;
}

// The directory of `layout` ("llama3" or "qwen2"): tokenizer.json, tokenizer_config.json,
// reference.json. Fails the test when the script fails.
inline std::filesystem::path hf_tokenizer_dir(const std::string& layout) {
  static TempDir root;
  static std::map<std::string, std::filesystem::path> written;
  if (auto it = written.find(layout); it != written.end()) return it->second;
  const auto out = root / layout;
  const std::string command = fmt::format("/usr/bin/python3 '{}/tools/hf_tokenizer.py' write --layout {} --out '{}' --reference",
                                          FEDVLM_SOURCE_DIR, layout, out.string());
  EXPECT_EQ(std::system(command.c_str()), 0) << command;
  return written[layout] = out;
}

inline nlohmann::json hf_reference(const std::string& layout) {
  return nlohmann::json::parse(read_text_file(hf_tokenizer_dir(layout) / "reference.json"));
}

}  // namespace fedvlm::data::testing
