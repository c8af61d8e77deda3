// Rank log files: a second add_rank_file replaces the first (one copy of each line, in the new
// file), and the file takes info lines even on a rank whose console shows warnings only.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <unistd.h>

#include "fedvlm/core/fs.hpp"
#include "fedvlm/core/log.hpp"

namespace fs = std::filesystem;

namespace fedvlm {
namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST(RankLogFile, ASecondFileReplacesTheFirst) {
  const fs::path root = fs::temp_directory_path() / ("fedvlm-log-" + std::to_string(::getpid()));
  log::setup({.rank = 1, .world_size = 2});  // a non-root rank: console at warn
  log::add_rank_file(root / "a", 1);
  log::info("first line");
  log::add_rank_file(root / "b", 1);
  log::add_rank_file(root / "b", 1);
  log::info("second line");
  spdlog::default_logger()->flush();
  const std::string a = read_text(root / "a" / "logs" / "rank-1.log");
  const std::string b = read_text(root / "b" / "logs" / "rank-1.log");
  log::setup({});
  EXPECT_EQ(count(a, "first line"), 1u) << a;
  EXPECT_EQ(count(a, "second line"), 0u) << a;
  EXPECT_EQ(count(b, "second line"), 1u) << b;
  EXPECT_NE(b.find("[rank 1/2]"), std::string::npos) << b;
  fedvlm::remove_tree(root);
}

}  // namespace
}  // namespace fedvlm
