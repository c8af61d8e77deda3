// hf_directory_fingerprint: what a resumed run compares against model.base when it is a Hugging
// Face directory. Stable for the same files; changed by config.json, by a tensor's bytes at the
// start or the end of a file's data (a 3 MiB file: both sampled ends and the unsampled middle),
// by a shard added; blind, as documented, to a change in the middle of a file past 2 MiB of data.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fedvlm/core/fs.hpp"
#include "fedvlm/model/hf/hf_fingerprint.hpp"
#include "fedvlm/model/hf/safetensors.hpp"

namespace fedvlm::model::hf {
namespace {

namespace fs = std::filesystem;

class HfFingerprint : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("fedvlm-hf-fingerprint-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    write_config(R"({"model_type": "llama"})");
    write_weights("model.safetensors", -1);
  }
  void TearDown() override { remove_tree(dir_); }

  void write_config(const std::string& text) { std::ofstream(dir_ / "config.json") << text; }
  // 3 MiB of F32 data, every byte 1 except `changed_at` (if >= 0), which is 2.
  void write_weights(const std::string& name, std::int64_t changed_at) {
    std::vector<std::byte> bytes(3 << 20, std::byte{1});
    if (changed_at >= 0) bytes[static_cast<std::size_t>(changed_at)] = std::byte{2};
    const SafetensorsTensorView tensor{"w", SafetensorsDtype::F32, {static_cast<std::int64_t>(bytes.size() / 4)}, bytes};
    write_safetensors(dir_ / name, std::span(&tensor, 1));
  }

  fs::path dir_;
};

TEST_F(HfFingerprint, SameFilesSameFingerprint) {
  EXPECT_EQ(hf_directory_fingerprint(dir_), hf_directory_fingerprint(dir_));
}

TEST_F(HfFingerprint, ConfigStartEndOfDataAndNewShardsChangeIt) {
  const std::string original = hf_directory_fingerprint(dir_);
  write_config(R"({"model_type": "qwen2"})");
  EXPECT_NE(hf_directory_fingerprint(dir_), original) << "config.json";
  write_config(R"({"model_type": "llama"})");
  EXPECT_EQ(hf_directory_fingerprint(dir_), original);
  write_weights("model.safetensors", 10);
  EXPECT_NE(hf_directory_fingerprint(dir_), original) << "a byte in the first MiB of data";
  write_weights("model.safetensors", (3 << 20) - 10);
  EXPECT_NE(hf_directory_fingerprint(dir_), original) << "a byte in the last MiB of data";
  write_weights("model.safetensors", -1);
  write_weights("model-00002-of-00002.safetensors", -1);
  EXPECT_NE(hf_directory_fingerprint(dir_), original) << "another shard";
}

TEST_F(HfFingerprint, TheUnsampledMiddleIsNotRead) {
  const std::string original = hf_directory_fingerprint(dir_);
  write_weights("model.safetensors", (3 << 20) / 2);  // between the sampled first and last MiB
  EXPECT_EQ(hf_directory_fingerprint(dir_), original);
}

}  // namespace
}  // namespace fedvlm::model::hf
