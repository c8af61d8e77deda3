// What the Hugging Face tests share: a scratch directory per test, and tiny checkpoints written by
// tools/hf_checkpoint.py (Debian's python3 with numpy; tests skip without it).
#pragma once

#include <stdlib.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "fedvlm/core/fs.hpp"

namespace fedvlm::model::testing {

class HfScratchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/fedvlm-hf-test-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    if (!dir_.empty()) remove_tree(dir_);
  }

  static bool have_numpy() { return std::system("/usr/bin/python3 -c 'import numpy' >/dev/null 2>&1") == 0; }

  // `tools/hf_checkpoint.py ARGUMENTS --out <scratch>/NAME`, as written (random N(0, 0.02) weights).
  std::filesystem::path write_hf_checkpoint(const std::string& name, const std::string& arguments) {
    const std::filesystem::path out = dir_ / name;
    const std::string command =
        fmt::format("/usr/bin/python3 '{}/tools/hf_checkpoint.py' {} --out '{}'", FEDVLM_SOURCE_DIR, arguments, out.string());
    EXPECT_EQ(std::system(command.c_str()), 0) << command;
    return out;
  }

  std::filesystem::path dir_;
};

}  // namespace fedvlm::model::testing
