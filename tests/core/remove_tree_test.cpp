// remove_tree: what fedvlm calls instead of std::filesystem::remove_all, which a PyTorch wheel's
// libtorch.so breaks.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"

namespace fedvlm {
namespace {

namespace fs = std::filesystem;

class RemoveTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("fedvlm-remove-tree-" + std::to_string(::getpid()) + "-" +
                                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(root_);
  }
  void TearDown() override {
    std::error_code ignored;
    remove_tree(root_, ignored);
  }
  static void write(const fs::path& path) {
    fs::create_directories(path.parent_path());
    std::ofstream(path) << "x";
  }
  fs::path root_;
};

TEST_F(RemoveTree, RemovesADirectoryTreeAndCountsItsEntriesLikeRemoveAll) {
  const fs::path tree = root_ / "tree";
  write(tree / "a.txt");
  write(tree / "sub" / "b.txt");
  write(tree / "sub" / "deeper" / "c.txt");
  fs::create_directories(tree / "empty");
  // tree, a.txt, sub, b.txt, deeper, c.txt, empty
  EXPECT_EQ(remove_tree(tree), 7u);
  EXPECT_FALSE(fs::exists(tree));
  EXPECT_TRUE(fs::exists(root_));
}

TEST_F(RemoveTree, RemovesALinkNotWhatItPointsTo) {
  write(root_ / "outside" / "kept.txt");
  write(root_ / "tree" / "own.txt");
  fs::create_directory_symlink(root_ / "outside", root_ / "tree" / "link");
  EXPECT_EQ(remove_tree(root_ / "tree"), 3u);
  EXPECT_FALSE(fs::exists(root_ / "tree"));
  EXPECT_TRUE(fs::exists(root_ / "outside" / "kept.txt"));
}

TEST_F(RemoveTree, RemovesAPlainFile) {
  write(root_ / "file.txt");
  EXPECT_EQ(remove_tree(root_ / "file.txt"), 1u);
  EXPECT_FALSE(fs::exists(root_ / "file.txt"));
}

TEST_F(RemoveTree, AMissingPathIsNoError) {
  std::error_code error = std::make_error_code(std::errc::io_error);
  EXPECT_EQ(remove_tree(root_ / "never-made", error), 0u);
  EXPECT_FALSE(error);
  EXPECT_EQ(remove_tree(root_ / "never-made"), 0u);
}

TEST_F(RemoveTree, AnEntryItCannotReachIsReportedAndNamed) {
  write(root_ / "file.txt");
  const fs::path below_a_file = root_ / "file.txt" / "child";  // lstat: ENOTDIR
  std::error_code error;
  EXPECT_EQ(remove_tree(below_a_file, error), 0u);
  EXPECT_EQ(error, std::make_error_code(std::errc::not_a_directory));
  try {
    remove_tree(below_a_file);
    FAIL() << "remove_tree did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(below_a_file.string()), std::string::npos) << e.what();
  }
  EXPECT_TRUE(fs::exists(root_ / "file.txt"));
}

}  // namespace
}  // namespace fedvlm
