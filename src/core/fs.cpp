#include "fedvlm/core/fs.hpp"

#include <fcntl.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <random>
#include <vector>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fault_injection.hpp"

namespace fedvlm {

void fsync_path(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

namespace {

// nftw's callback takes no context: the walk's state lives here, one walk per thread at a time.
struct TreeRemoval {
  std::uintmax_t removed = 0;
  int error = 0;
  std::string failed;
};
thread_local TreeRemoval* current_removal = nullptr;

int remove_entry(const char* entry, const struct stat*, int, struct FTW*) {
  if (::remove(entry) == 0) {
    ++current_removal->removed;
    return 0;
  }
  if (errno == ENOENT) return 0;  // gone meanwhile: what we wanted
  current_removal->error = errno;
  current_removal->failed = entry;
  return 1;  // stops the walk
}

// Walks `path` children first, removing each entry; fills `removal` (error: an errno value).
void remove_walk(const std::filesystem::path& path, TreeRemoval& removal) noexcept {
  struct stat status {};
  if (::lstat(path.c_str(), &status) != 0) {
    if (errno != ENOENT) removal = {0, errno, path.string()};
    return;
  }
  TreeRemoval* const outer = current_removal;
  current_removal = &removal;
  // Children before their directory (FTW_DEPTH), links themselves rather than their targets
  // (FTW_PHYS), as std::filesystem::remove_all does.
  const int walked = ::nftw(path.c_str(), remove_entry, 32, FTW_DEPTH | FTW_PHYS);
  const int walk_error = errno;
  current_removal = outer;
  if (walked != 0 && removal.error == 0 && walk_error != ENOENT) {
    removal.error = walk_error;
    removal.failed = path.string();
  }
}

}  // namespace

std::uintmax_t remove_tree(const std::filesystem::path& path, std::error_code& error) noexcept {
  TreeRemoval removal;
  remove_walk(path, removal);
  error.clear();
  if (removal.error != 0) error.assign(removal.error, std::generic_category());
  return removal.removed;
}

std::uintmax_t remove_tree(const std::filesystem::path& path) {
  TreeRemoval removal;
  remove_walk(path, removal);
  if (removal.error != 0) {
    throw Error(fmt::format("cannot remove {} (while removing {}): {}", removal.failed, path.string(),
                            std::generic_category().message(removal.error)));
  }
  return removal.removed;
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
    fault_point("atomic-write");
    fs::rename(temporary, path);
  } catch (...) {
    std::error_code ignored;
    remove_tree(temporary, ignored);
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

constexpr std::uint64_t kPrime1 = Fingerprint::kPrime1;
constexpr std::uint64_t kPrime2 = Fingerprint::kPrime2;

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

void Fingerprint::update(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  size_ += size;
  while (size > 0) {  // whole 32-byte groups go through the lanes; what is left waits for more
    const std::size_t take = std::min(size, pending_.size() - pending_size_);
    std::memcpy(pending_.data() + pending_size_, bytes, take);
    pending_size_ += take, bytes += take, size -= take;
    if (pending_size_ < pending_.size()) break;
    for (int lane = 0; lane < 4; ++lane) {
      std::uint64_t word;
      std::memcpy(&word, pending_.data() + 8 * lane, 8);
      lanes_[lane] = lane_step(lanes_[lane], word);
    }
    pending_size_ = 0;
  }
}

std::string Fingerprint::hex() const {
  std::uint64_t tail = 0;  // the bytes past the last whole group, folded one by one
  for (std::size_t at = 0; at < pending_size_; ++at) tail = lane_step(tail, pending_[at] + 1u);
  std::uint64_t h = rotate_left(lanes_[0], 1) + rotate_left(lanes_[1], 7) + rotate_left(lanes_[2], 12) +
                    rotate_left(lanes_[3], 18);
  h = finish_mix(h ^ finish_mix(tail) ^ finish_mix(size_ * kPrime2));
  return fmt::format("{:016x}", h);
}

std::string file_fingerprint(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("cannot read {} to fingerprint it", path.string()));
  Fingerprint fingerprint;
  std::vector<char> block(1 << 20);
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const auto got = static_cast<std::size_t>(in.gcount());
    if (got == 0) break;
    fingerprint.update(block.data(), got);
  }
  return fingerprint.hex();
}

}  // namespace fedvlm
