// Fingerprint: the digest behind dataset fingerprints (stored in every checkpoint, so its values
// must never change) and checkpoint checksums.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fedvlm/core/fs.hpp"

namespace fedvlm {
namespace {

// (i·7 + 3) mod 256 for i < n: 1 MiB + 45 bytes crosses the reader's block and leaves a tail.
std::vector<unsigned char> pattern(std::size_t n) {
  std::vector<unsigned char> bytes(n);
  for (std::size_t i = 0; i < n; ++i) bytes[i] = static_cast<unsigned char>((i * 7 + 3) % 256);
  return bytes;
}

std::string fingerprint_of(const std::vector<unsigned char>& bytes) {
  Fingerprint fingerprint;
  fingerprint.update(bytes.data(), bytes.size());
  return fingerprint.hex();
}

TEST(Fingerprint, KeepsTheValuesEarlierCheckpointsRecorded) {
  // Computed with the implementation of fedvlm 0597c94 (before Fingerprint was split out of
  // file_fingerprint): a checkpoint's dataset fingerprint must still match its meta.h5.
  EXPECT_EQ(fingerprint_of(pattern((1u << 20) + 45)), "32e30509ab786eb0");
  EXPECT_EQ(fingerprint_of({'f', 'e', 'd', 'v', 'l', 'm'}), "e982d6df42c5989b");
  EXPECT_EQ(fingerprint_of({}), "2684ee2f46d8b5ec");

  const auto path = std::filesystem::temp_directory_path() / ("fedvlm-fingerprint-" + std::to_string(::getpid()));
  const auto bytes = pattern((1u << 20) + 45);
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                               static_cast<std::streamsize>(bytes.size()));
  EXPECT_EQ(file_fingerprint(path), "32e30509ab786eb0");
  std::filesystem::remove(path);
}

TEST(Fingerprint, DoesNotDependOnHowTheStreamIsCut) {
  const auto bytes = pattern(1000);
  const std::string whole = fingerprint_of(bytes);
  for (const std::size_t piece : {1u, 5u, 31u, 32u, 33u, 999u}) {
    Fingerprint cut;
    for (std::size_t at = 0; at < bytes.size(); at += piece)
      cut.update(bytes.data() + at, std::min(piece, bytes.size() - at));
    EXPECT_EQ(cut.hex(), whole) << "pieces of " << piece;
  }
}

TEST(Fingerprint, AnyChangedByteOrLengthChangesIt) {
  const auto bytes = pattern(100);
  const std::string original = fingerprint_of(bytes);
  for (const std::size_t at : {0u, 31u, 32u, 99u}) {
    auto changed = bytes;
    changed[at] ^= 1;
    EXPECT_NE(fingerprint_of(changed), original) << "byte " << at;
  }
  auto longer = bytes;
  longer.push_back(0);
  EXPECT_NE(fingerprint_of(longer), original);
}

}  // namespace
}  // namespace fedvlm
