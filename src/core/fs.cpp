#include "fedvlm/core/fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "fedvlm/core/error.hpp"

namespace fedvlm {

void fsync_path(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_atomically(const std::filesystem::path& path,
                      const std::function<void(const std::filesystem::path& temporary)>& write) {
  namespace fs = std::filesystem;
  const fs::path parent = path.has_parent_path() ? path.parent_path() : fs::path(".");
  fs::create_directories(parent);
  // Unique per process and call: concurrent writers of different files never collide.
  const fs::path temporary =
      parent / fmt::format(".{}.tmp-{}-{:x}", path.filename().string(), ::getpid(), std::random_device{}());
  try {
    write(temporary);
    fsync_path(temporary);
    fs::rename(temporary, path);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(temporary, ignored);
    throw;
  }
  fsync_path(parent);
}

void write_text_atomically(const std::filesystem::path& path, std::string_view contents) {
  write_atomically(path, [&](const std::filesystem::path& temporary) {
    std::ofstream out(temporary, std::ios::binary);
    out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
    out.close();
    if (!out) throw Error(fmt::format("cannot write {}", temporary.string()));
  });
}

}  // namespace fedvlm

namespace fedvlm {
namespace {

constexpr std::uint64_t kPrime1 = 0x9E3779B185EBCA87ull;
constexpr std::uint64_t kPrime2 = 0xC2B2AE3D27D4EB4Full;

std::uint64_t rotate_left(std::uint64_t value, int bits) { return (value << bits) | (value >> (64 - bits)); }
std::uint64_t lane_step(std::uint64_t lane, std::uint64_t word) { return rotate_left(lane + word * kPrime2, 31) * kPrime1; }
std::uint64_t finish_mix(std::uint64_t h) {  // MurmurHash3's fmix64
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  return h ^ (h >> 33);
}

}  // namespace

std::string file_fingerprint(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("cannot read {} to fingerprint it", path.string()));
  // Four independent lanes over 32-byte blocks (in the manner of xxHash64): fast enough that a
  // dataset's meta.h5 costs far less than reading it for training.
  std::uint64_t lanes[4] = {kPrime1 + kPrime2, kPrime2, 0, 0 - kPrime1};
  std::uint64_t size = 0;
  std::vector<char> block(1 << 20);
  std::uint64_t tail = 0;  // bytes past the last whole 32-byte group, folded one by one
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0) break;
    std::size_t at = 0;
    for (; at + 32 <= got; at += 32) {
      for (int lane = 0; lane < 4; ++lane) {
        std::uint64_t word;
        std::memcpy(&word, block.data() + at + 8 * lane, 8);
        lanes[lane] = lane_step(lanes[lane], word);
      }
    }
    for (; at < got; ++at) tail = lane_step(tail, static_cast<unsigned char>(block[at]) + 1);
    size += got;
  }
  std::uint64_t h = rotate_left(lanes[0], 1) + rotate_left(lanes[1], 7) + rotate_left(lanes[2], 12) +
                    rotate_left(lanes[3], 18);
  h = finish_mix(h ^ finish_mix(tail) ^ finish_mix(size * kPrime2));
  return fmt::format("{:016x}", h);
}

}  // namespace fedvlm
