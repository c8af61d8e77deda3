// Atomic file output: write to a temporary name in the same directory, fsync, rename.
// A reader never sees a half-written file, and a crash leaves the previous version intact.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <system_error>

namespace fedvlm {

// Calls `write(temporary_path)`, fsyncs the result and renames it to `path` (and fsyncs the
// directory). If `write` throws, the temporary is removed and the exception propagates.
void write_atomically(const std::filesystem::path& path,
                      const std::function<void(const std::filesystem::path& temporary)>& write);

// Convenience: atomically replaces `path` with `contents`.
void write_text_atomically(const std::filesystem::path& path, std::string_view contents);

// fsync a file or directory by path (no-op where the filesystem refuses).
void fsync_path(const std::filesystem::path& path);

// Removes `path` and, if it is a directory, everything below it, without following symbolic
// links; a path that does not exist is no error. Returns the number of entries removed. Use it
// instead of std::filesystem::remove_all, which fedvlm never calls: a PyTorch wheel's
// libtorch.so (seen: 2.11, CUDA 13) exports its own copy of that function, compiled against
// another libstdc++, and a program linked with it can bind there and jump to address 0.
// The first overload throws Error naming the entry it could not remove; the second reports it
// in `error` (and returns what it removed until then).
std::uintmax_t remove_tree(const std::filesystem::path& path);
std::uintmax_t remove_tree(const std::filesystem::path& path, std::error_code& error) noexcept;

// A 64-bit digest of a byte stream and its length, as 16 hex digits: equal streams give equal
// fingerprints, and any change gives another one with overwhelming probability (not a
// cryptographic hash). Four independent lanes over 32-byte groups, in the manner of xxHash64;
// the result does not depend on how the stream is cut into update() calls.
class Fingerprint {
 public:
  static constexpr std::uint64_t kPrime1 = 0x9E3779B185EBCA87ull;
  static constexpr std::uint64_t kPrime2 = 0xC2B2AE3D27D4EB4Full;

  void update(const void* data, std::size_t size);
  std::string hex() const;

 private:
  std::uint64_t lanes_[4] = {kPrime1 + kPrime2, kPrime2, 0, 0 - kPrime1};
  std::array<unsigned char, 32> pending_{};
  std::size_t pending_size_ = 0;
  std::uint64_t size_ = 0;
};

// The Fingerprint of a file's bytes. Reads the file once, in large blocks. Throws InputError
// when unreadable.
std::string file_fingerprint(const std::filesystem::path& path);

}  // namespace fedvlm
