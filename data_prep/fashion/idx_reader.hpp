// Reader for the IDX files Fashion-MNIST (and MNIST) ship in: big-endian magic, dimensions,
// then raw uint8 data. Gzipped or plain files alike (zlib reads both). Every defect (missing
// file, wrong magic, bad dimensions, truncation) is an InputError naming the file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace fedvlm::prep {

inline constexpr std::uint32_t kIdxImagesMagic = 2051;  // uint8, 3 dimensions
inline constexpr std::uint32_t kIdxLabelsMagic = 2049;  // uint8, 1 dimension

struct IdxImages {
  std::int64_t count = 0;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  std::vector<std::uint8_t> pixels;  // [count, rows, cols]

  std::span<const std::uint8_t> image(std::int64_t i) const {
    return {pixels.data() + i * rows * cols, static_cast<std::size_t>(rows * cols)};
  }
};

IdxImages read_idx_images(const std::filesystem::path& file);
std::vector<std::uint8_t> read_idx_labels(const std::filesystem::path& file);

// `dir/stem.gz` when it exists, else `dir/stem`; InputError naming both when neither does.
std::filesystem::path find_idx_file(const std::filesystem::path& dir, const std::string& stem);

}  // namespace fedvlm::prep
