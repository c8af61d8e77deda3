#include "directory_swap.hpp"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"

namespace fedvlm::model::hf {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void throw_errno(const std::string& what) {
  throw Error(fmt::format("{}: {}", what, std::strerror(errno)));
}

void fsync_tree(const fs::path& directory) {
  for (const auto& entry : fs::recursive_directory_iterator(directory)) fsync_path(entry.path());
  fsync_path(directory);
}

}  // namespace

void check_replaceable(const fs::path& directory, bool overwrite) {
  std::error_code error;
  const fs::file_status status = fs::symlink_status(directory, error);
  if (!fs::exists(status)) return;
  if (!fs::is_directory(status))
    throw InputError(fmt::format("{} exists and is not a directory", directory.string()));
  if (!overwrite && !fs::is_empty(directory))
    throw InputError(fmt::format("{} exists and is not empty (ask to overwrite it, or choose another directory)",
                                 directory.string()));
}

void replace_directory(const fs::path& directory, bool overwrite,
                       const std::function<void(const fs::path& temporary)>& write) {
  check_replaceable(directory, overwrite);
  const fs::path parent = directory.has_parent_path() ? directory.parent_path() : fs::path(".");
  fs::create_directories(parent);
  std::string pattern = (parent / ("." + directory.filename().string() + ".tmp-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw_errno(fmt::format("cannot create a directory beside {}", directory.string()));
  const fs::path temporary = pattern;
  try {
    write(temporary);
    fsync_tree(temporary);
    const bool in_the_way = fs::exists(fs::symlink_status(directory)) && !fs::is_empty(directory);
    if (!in_the_way) {
      if (::rename(temporary.c_str(), directory.c_str()) != 0)
        throw_errno(fmt::format("cannot rename {} to {}", temporary.string(), directory.string()));
    } else if (::renameat2(AT_FDCWD, temporary.c_str(), AT_FDCWD, directory.c_str(), RENAME_EXCHANGE) == 0) {
      remove_tree(temporary);  // now the old directory
    } else {
      // A filesystem without the exchange: the old one moves aside for the moment of two renames.
      const fs::path old = temporary.string() + ".old";
      if (::rename(directory.c_str(), old.c_str()) != 0) throw_errno(fmt::format("cannot move {} aside", directory.string()));
      if (::rename(temporary.c_str(), directory.c_str()) != 0) {
        const int saved = errno;
        ::rename(old.c_str(), directory.c_str());
        errno = saved;
        throw_errno(fmt::format("cannot rename {} to {}", temporary.string(), directory.string()));
      }
      remove_tree(old);
    }
  } catch (...) {
    std::error_code ignored;
    remove_tree(temporary, ignored);
    throw;
  }
  fsync_path(parent);
}

}  // namespace fedvlm::model::hf
