// Shared by the libFuzzer harnesses: a scratch directory for the files the readers open, and the
// rule every harness checks: malformed input may only end in fedvlm's own errors (Error and its
// InputError), whose messages `main` prints. Any other exception escaping a reader is a finding,
// as are crashes, sanitizer reports, timeouts and runaway memory, which libFuzzer reports itself.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <typeinfo>

#include <cxxabi.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"

namespace fedvlm::fuzz {

// One directory per fuzzing process, removed when it exits (libFuzzer runs every input in the
// same process; a crash leaves the directory behind, with the input that caused it inside).
class ScratchDir {
 public:
  explicit ScratchDir(const char* name) {
    std::string pattern = (std::filesystem::temp_directory_path() / (std::string(name) + "-XXXXXX")).string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      std::perror("fedvlm fuzz: mkdtemp");
      std::abort();
    }
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    remove_tree(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Replaces `path` by a new file holding the input. Removing first gives the file a new inode:
// HDF5 recognizes a file it still has open by device and inode, and must not take this input
// for an earlier one that a failed open left behind.
inline void write_file(const std::filesystem::path& path, const std::uint8_t* data, std::size_t size) {
  std::error_code ignored;
  std::filesystem::remove(path, ignored);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) {
    std::fprintf(stderr, "fedvlm fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

// Runs `body`; fedvlm::Error is the expected outcome of malformed input, anything else aborts
// the process so that libFuzzer records the input as a crash.
template <class Body>
void expect_only_fedvlm_errors(const char* what, Body&& body) {
  try {
    body();
  } catch (const Error&) {
    // Refused with a message naming the file: what a user should see.
  } catch (const std::exception& e) {
    int status = 0;
    char* type = abi::__cxa_demangle(typeid(e).name(), nullptr, nullptr, &status);
    std::fprintf(stderr, "fedvlm fuzz: %s let a non-fedvlm exception escape: %s: %s\n", what,
                 status == 0 ? type : typeid(e).name(), e.what());
    std::free(type);
    std::abort();
  } catch (...) {
    std::fprintf(stderr, "fedvlm fuzz: %s let an exception of unknown type escape\n", what);
    std::abort();
  }
}

}  // namespace fedvlm::fuzz
