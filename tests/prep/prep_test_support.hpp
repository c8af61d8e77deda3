// Helpers shared by the prep tests: a self-removing temporary directory and small file writers.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fedvlm/core/fs.hpp"

namespace fedvlm::prep::testing {

class TempDir {
 public:
  TempDir() {
    std::random_device device;
    path_ = std::filesystem::temp_directory_path() / ("fedvlm-prep-test-" + std::to_string(device()) + std::to_string(device()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fedvlm::remove_tree(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::filesystem::path& file, const std::vector<std::uint8_t>& bytes, bool gzip) {
  if (gzip) {
    gzFile out = gzopen(file.c_str(), "wb");
    gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(out);
  } else {
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }
}

inline void write_text(const std::filesystem::path& file, const std::string& text) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << text;
}

inline void append_u32(std::vector<std::uint8_t>& bytes, std::uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<std::uint8_t>(value >> shift));
}

// An IDX image file of `count` rows x cols images (pixel = (i + r + c) % 256), header as given.
inline std::vector<std::uint8_t> idx_images(std::uint32_t magic, std::uint32_t count, std::uint32_t rows, std::uint32_t cols,
                                            std::uint32_t images_written) {
  std::vector<std::uint8_t> bytes;
  append_u32(bytes, magic);
  append_u32(bytes, count);
  append_u32(bytes, rows);
  append_u32(bytes, cols);
  for (std::uint32_t i = 0; i < images_written; ++i)
    for (std::uint32_t p = 0; p < rows * cols; ++p) bytes.push_back(static_cast<std::uint8_t>((i + p) % 256));
  return bytes;
}

inline std::vector<std::uint8_t> idx_labels(std::uint32_t magic, std::uint32_t count, std::uint32_t labels_written) {
  std::vector<std::uint8_t> bytes;
  append_u32(bytes, magic);
  append_u32(bytes, count);
  for (std::uint32_t i = 0; i < labels_written; ++i) bytes.push_back(static_cast<std::uint8_t>(i % 10));
  return bytes;
}

}  // namespace fedvlm::prep::testing
