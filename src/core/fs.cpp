#include "fedvlm/core/fs.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <random>

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
