// Atomic file output: write to a temporary name in the same directory, fsync, rename.
// A reader never sees a half-written file, and a crash leaves the previous version intact.
#pragma once

#include <filesystem>
#include <functional>
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

}  // namespace fedvlm
