#include "fedvlm/model/hf/hf_fingerprint.hpp"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <vector>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"

namespace fedvlm::model::hf {
namespace fs = std::filesystem;

namespace {

constexpr std::uint64_t kSampledBytes = 1 << 20;

// Feeds `size` bytes of `in` from `offset` to `fingerprint`.
void update_from(Fingerprint& fingerprint, std::ifstream& in, const fs::path& file, std::uint64_t offset,
                 std::uint64_t size) {
  std::vector<char> block(static_cast<std::size_t>(size));
  in.seekg(static_cast<std::streamoff>(offset));
  if (!in.read(block.data(), static_cast<std::streamsize>(size)))
    throw InputError(fmt::format("cannot read {} bytes at offset {} of {} to fingerprint it", size, offset, file.string()));
  fingerprint.update(block.data(), block.size());
}

void update_from_safetensors(Fingerprint& fingerprint, const fs::path& file) {
  const std::uint64_t size = fs::file_size(file);
  const std::string name = file.filename().string() + "\n" + std::to_string(size) + "\n";
  fingerprint.update(name.data(), name.size());
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("cannot read {} to fingerprint it", file.string()));
  // The header (its 8-byte length, then the JSON) names every tensor, its type, shape and place.
  std::uint64_t header_size = 0;
  if (size >= 8) {
    unsigned char length[8];
    in.read(reinterpret_cast<char*>(length), 8);
    for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | length[i];
  }
  const std::uint64_t data_begin = std::min<std::uint64_t>(size, 8 + std::min<std::uint64_t>(header_size, size));
  update_from(fingerprint, in, file, 0, data_begin);
  const std::uint64_t data_size = size - data_begin;
  const std::uint64_t head = std::min(data_size, kSampledBytes);
  update_from(fingerprint, in, file, data_begin, head);
  const std::uint64_t tail = std::min(data_size - head, kSampledBytes);
  update_from(fingerprint, in, file, size - tail, tail);
}

}  // namespace

std::string hf_directory_fingerprint(const fs::path& directory) {
  Fingerprint fingerprint;
  const std::string config = file_fingerprint(directory / "config.json");
  fingerprint.update(config.data(), config.size());
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(directory))
    if (entry.is_regular_file() && entry.path().extension() == ".safetensors") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) update_from_safetensors(fingerprint, file);
  return fingerprint.hex();
}

}  // namespace fedvlm::model::hf
