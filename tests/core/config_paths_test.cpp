// Config file paths the file system refuses or that are not files (found while fuzzing the config
// loader, tests/fuzz/fuzz_config.cpp): each is an InputError naming the path, never a
// std::filesystem::filesystem_error or a quietly empty config.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"

namespace fs = std::filesystem;

namespace {

class ConfigPaths : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fedvlm-config-paths-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fedvlm::remove_tree(dir_); }

  fs::path write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }

  // The message of the InputError thrown by loading `file`; fails the test on any other outcome.
  static std::string input_error_of(const fs::path& file) {
    try {
      fedvlm::load_config({.files = {file}, .overrides = {}});
    } catch (const fedvlm::InputError& e) {
      return e.what();
    } catch (const std::exception& e) {
      ADD_FAILURE() << "not an InputError: " << e.what();
      return "";
    }
    ADD_FAILURE() << file << " was accepted";
    return "";
  }

  fs::path dir_;
};

TEST_F(ConfigPaths, ABaseNameTooLongForTheFileSystemIsAnInputError) {
  const std::string name(300, 'a');  // NAME_MAX is 255
  const fs::path file = write("long.toml", "base = \"" + name + "\"\n");
  const std::string message = input_error_of(file);
  EXPECT_NE(message.find("config file " + (dir_ / name).string() + ": File name too long"), std::string::npos) << message;
}

TEST_F(ConfigPaths, ABaseThatIsADirectoryIsRefused) {
  const fs::path file = write("dot.toml", "base = \".\"\n[fl]\nrounds = 3\n");
  const std::string message = input_error_of(file);
  EXPECT_NE(message.find("is a directory"), std::string::npos) << message;
  EXPECT_NE(input_error_of(dir_).find("config file " + dir_.string() + " is a directory"), std::string::npos);
}

TEST_F(ConfigPaths, ABaseBelowARegularFileIsNotFound) {
  write("plain.toml", "[fl]\nrounds = 3\n");
  const fs::path file = write("below.toml", "base = \"plain.toml/other.toml\"\n");
  EXPECT_NE(input_error_of(file).find("config file not found: "), std::string::npos);
}

}  // namespace
