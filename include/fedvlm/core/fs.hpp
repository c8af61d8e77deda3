// Atomic file output: write to a temporary name in the same directory, fsync, rename.
// A reader never sees a half-written file, and a crash leaves the previous version intact.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace fedvlm {

// Calls `write(temporary_path)`, fsyncs the result and renames it to `path` (and fsyncs the
// directory). If `write` throws, the temporary is removed and the exception propagates.
void write_atomically(const std::filesystem::path& path,
                      const std::function<void(const std::filesystem::path& temporary)>& write);

// Convenience: atomically replaces `path` with `contents`.
void write_text_atomically(const std::filesystem::path& path, std::string_view contents);

// fsync a file or directory by path (no-op where the filesystem refuses).
void fsync_path(const std::filesystem::path& path);

// A 64-bit digest of a file's bytes and size, as 16 hex digits: equal files give equal
// fingerprints, and any change gives another one with overwhelming probability (not a
// cryptographic hash). Reads the file once, in large blocks. Throws InputError when unreadable.
std::string file_fingerprint(const std::filesystem::path& path);

}  // namespace fedvlm
