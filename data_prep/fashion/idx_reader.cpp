#include "fashion/idx_reader.hpp"

#include <zlib.h>

#include <algorithm>
#include <array>
#include <memory>

#include "fedvlm/core/error.hpp"

namespace fedvlm::prep {
namespace {

// A gzFile that closes itself; reads exactly `size` bytes or reports how many it got.
class GzInput {
 public:
  explicit GzInput(const std::filesystem::path& file) : file_(file), handle_(gzopen(file.c_str(), "rb")) {
    if (!std::filesystem::exists(file)) throw InputError(fmt::format("{}: no such file", file.string()));
    if (handle_ == nullptr) throw InputError(fmt::format("{}: cannot open for reading", file.string()));
    gzbuffer(handle_, 1 << 20);
  }
  ~GzInput() { gzclose(handle_); }
  GzInput(const GzInput&) = delete;
  GzInput& operator=(const GzInput&) = delete;

  void read(void* data, std::size_t size, const char* what) {
    std::size_t got = 0;
    auto* bytes = static_cast<std::uint8_t*>(data);
    while (got < size) {
      const auto chunk = static_cast<unsigned>(std::min<std::size_t>(size - got, 1u << 30));
      const int n = gzread(handle_, bytes + got, chunk);
      if (n < 0) {
        int code = 0;
        throw InputError(fmt::format("{}: corrupt data while reading {}: {}", file_.string(), what, gzerror(handle_, &code)));
      }
      if (n == 0) break;
      got += static_cast<std::size_t>(n);
    }
    if (got != size)
      throw InputError(fmt::format("{}: truncated: expected {} bytes of {}, found {}", file_.string(), size, what, got));
  }

  std::uint32_t read_u32(const char* what) {
    std::array<std::uint8_t, 4> b{};
    read(b.data(), b.size(), what);
    return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
  }

  // True when nothing follows: trailing bytes mean the header undercounts the data.
  bool at_end() {
    std::uint8_t extra = 0;
    return gzread(handle_, &extra, 1) == 0;
  }

 private:
  std::filesystem::path file_;
  gzFile handle_;
};

void check_magic(const std::filesystem::path& file, std::uint32_t magic, std::uint32_t expected, const char* kind) {
  if (magic != expected)
    throw InputError(fmt::format("{}: wrong magic number {} (0x{:08x}); an IDX {} file starts with {}", file.string(), magic,
                                 magic, kind, expected));
}

}  // namespace

IdxImages read_idx_images(const std::filesystem::path& file) {
  GzInput in(file);
  check_magic(file, in.read_u32("the magic number"), kIdxImagesMagic, "image");
  IdxImages images;
  images.count = in.read_u32("the image count");
  images.rows = in.read_u32("the row count");
  images.cols = in.read_u32("the column count");
  if (images.rows <= 0 || images.cols <= 0 || images.rows > 4096 || images.cols > 4096)
    throw InputError(fmt::format("{}: implausible image size {}x{}", file.string(), images.rows, images.cols));
  images.pixels.resize(static_cast<std::size_t>(images.count * images.rows * images.cols));
  in.read(images.pixels.data(), images.pixels.size(), fmt::format("pixels ({} images of {}x{})", images.count, images.rows, images.cols).c_str());
  if (!in.at_end())
    throw InputError(fmt::format("{}: data continues after the {} images the header announces", file.string(), images.count));
  return images;
}

std::vector<std::uint8_t> read_idx_labels(const std::filesystem::path& file) {
  GzInput in(file);
  check_magic(file, in.read_u32("the magic number"), kIdxLabelsMagic, "label");
  const std::uint32_t count = in.read_u32("the label count");
  std::vector<std::uint8_t> labels(count);
  in.read(labels.data(), labels.size(), fmt::format("labels ({} announced)", count).c_str());
  if (!in.at_end())
    throw InputError(fmt::format("{}: data continues after the {} labels the header announces", file.string(), count));
  return labels;
}

std::filesystem::path find_idx_file(const std::filesystem::path& dir, const std::string& stem) {
  const auto gz = dir / (stem + ".gz");
  if (std::filesystem::exists(gz)) return gz;
  const auto plain = dir / stem;
  if (std::filesystem::exists(plain)) return plain;
  throw InputError(fmt::format("Fashion-MNIST file not found: neither {} nor {} exists (use --source DIR)", gz.string(),
                               plain.string()));
}

}  // namespace fedvlm::prep
