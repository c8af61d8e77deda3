// Writing a torch archive (checkpoints, base models, tensor maps) so that a failed write is an
// error the run reports, not a crash: LibTorch's file writer finishes the zip in its destructor
// and throws from there when the disk is full, which ends the process (std::terminate).
#pragma once

#include <filesystem>

namespace torch::serialize {
class OutputArchive;
}

namespace fedvlm {

// Serializes `archive` in memory, then writes the bytes atomically to `path` (write_atomically):
// a full disk or any other write error throws Error naming the file, and leaves the previous
// version of `path`, if any, as it was.
void save_archive(const std::filesystem::path& path, torch::serialize::OutputArchive& archive);

}  // namespace fedvlm
