#include "fedvlm/core/archive_io.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <torch/serialize/output-archive.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"

namespace fedvlm {

void save_archive(const std::filesystem::path& path, torch::serialize::OutputArchive& archive) {
  std::ostringstream buffer;  // a memory stream cannot fail the way a file can
  archive.save_to(buffer);
  const std::string bytes = std::move(buffer).str();
  write_atomically(path, [&](const std::filesystem::path& temporary) {
    std::ofstream out(temporary, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out)
      throw Error(fmt::format("cannot write {} ({} bytes): {} (is the disk full?)", path.string(), bytes.size(),
                              std::strerror(errno)));
  });
}

}  // namespace fedvlm
