// Reading a .safetensors file: the header is parsed and checked once, tensors are read with pread.
#include "fedvlm/model/hf/safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <set>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; big-endian hosts would need byte swapping");

namespace fedvlm::model::hf {

namespace {

struct DtypeInfo {
  SafetensorsDtype dtype;
  std::string_view name;
  std::size_t size;
};

constexpr std::array<DtypeInfo, 15> kDtypes = {{
    {SafetensorsDtype::BOOL, "BOOL", 1},    {SafetensorsDtype::U8, "U8", 1},
    {SafetensorsDtype::I8, "I8", 1},        {SafetensorsDtype::F8_E5M2, "F8_E5M2", 1},
    {SafetensorsDtype::F8_E4M3, "F8_E4M3", 1}, {SafetensorsDtype::I16, "I16", 2},
    {SafetensorsDtype::U16, "U16", 2},      {SafetensorsDtype::F16, "F16", 2},
    {SafetensorsDtype::BF16, "BF16", 2},    {SafetensorsDtype::I32, "I32", 4},
    {SafetensorsDtype::U32, "U32", 4},      {SafetensorsDtype::F32, "F32", 4},
    {SafetensorsDtype::F64, "F64", 8},      {SafetensorsDtype::I64, "I64", 8},
    {SafetensorsDtype::U64, "U64", 8},
}};

const DtypeInfo& info(SafetensorsDtype dtype) {
  const auto index = static_cast<std::size_t>(dtype);
  FEDVLM_CHECK(index < kDtypes.size() && kDtypes[index].dtype == dtype, "unknown SafetensorsDtype {}", index);
  return kDtypes[index];
}

using Json = nlohmann::json;

std::string type_word(const Json& value) {
  if (value.is_number_integer()) return "an integer";
  if (value.is_number()) return "a number";
  return fmt::format("a {}", value.type_name());
}

// Reads exactly out.size() bytes at `offset`, or throws InputError (a file that shrank since it
// was opened reads short).
void pread_exactly(int fd, const std::filesystem::path& path, std::uint64_t offset, std::span<std::byte> out,
                   std::string_view what) {
  std::size_t done = 0;
  while (done < out.size()) {
    // Linux transfers at most 0x7ffff000 bytes per call.
    const std::size_t chunk = std::min<std::size_t>(out.size() - done, std::size_t{1} << 30);
    const ssize_t got = ::pread(fd, out.data() + done, chunk, static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0)
      throw InputError(fmt::format("{}: cannot read {} ({} bytes at byte {}): {}", path.string(), what, out.size(),
                                   offset, std::strerror(errno)));
    if (got == 0)
      throw InputError(fmt::format("{}: file ends after {} of the {} bytes of {} at byte {} (was it truncated?)",
                                   path.string(), done, out.size(), what, offset));
    done += static_cast<std::size_t>(got);
  }
}

// Keys seen per open JSON object, to refuse duplicates (nlohmann keeps the last one silently).
class DuplicateKeyFinder {
 public:
  bool operator()(int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
        open_.emplace_back();
        break;
      case Json::parse_event_t::object_end:
        open_.pop_back();
        break;
      case Json::parse_event_t::key: {
        const std::string key = parsed.get<std::string>();
        if (depth == 1) tensor_ = key;
        if (!open_.back().insert(key).second && duplicate_.empty())
          duplicate_ = depth == 1 ? fmt::format("duplicate tensor name '{}'", key)
                                  : fmt::format("'{}': duplicate key '{}'", tensor_, key);
        break;
      }
      default:
        break;
    }
    return true;
  }
  const std::string& duplicate() const { return duplicate_; }

 private:
  std::vector<std::set<std::string>> open_;
  std::string tensor_;
  std::string duplicate_;
};

std::uint64_t checked_byte_size(const std::string& where, SafetensorsDtype dtype,
                                std::span<const std::int64_t> shape) {
  std::uint64_t count = 1;
  for (const std::int64_t dim : shape)
    if (__builtin_mul_overflow(count, static_cast<std::uint64_t>(dim), &count))
      throw InputError(fmt::format("{}: shape {} has more elements than 64 bits count", where, shape_string(shape)));
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(count, std::uint64_t{dtype_size(dtype)}, &bytes) ||
      count > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
    throw InputError(fmt::format("{}: shape {} of {} has more bytes than 64 bits count", where, shape_string(shape),
                                 dtype_name(dtype)));
  return bytes;
}

SafetensorsEntry parse_entry(const std::string& file, const std::string& name, const Json& value) {
  const std::string where = fmt::format("{}: tensor '{}'", file, name);
  if (!value.is_object())
    throw InputError(fmt::format("{}: is {}, not an object with dtype, shape and data_offsets", where,
                                 type_word(value)));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!value.contains(key)) throw InputError(fmt::format("{}: no '{}'", where, key));

  SafetensorsEntry entry;
  entry.name = name;
  const Json& dtype = value.at("dtype");
  if (!dtype.is_string()) throw InputError(fmt::format("{}: dtype is {}, not a string", where, type_word(dtype)));
  const auto parsed = parse_dtype(dtype.get<std::string>());
  if (!parsed)
    throw InputError(fmt::format("{}: unknown dtype '{}' (known: BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, "
                                 "BF16, I32, U32, F32, F64, I64, U64)",
                                 where, dtype.get<std::string>()));
  entry.dtype = *parsed;

  const Json& shape = value.at("shape");
  if (!shape.is_array()) throw InputError(fmt::format("{}: shape is {}, not an array", where, type_word(shape)));
  for (const Json& dim : shape) {
    if (dim.is_number_integer() && !dim.is_number_unsigned())
      throw InputError(fmt::format("{}: negative dimension {} in shape {}", where, dim.get<std::int64_t>(),
                                   shape.dump()));
    if (!dim.is_number_unsigned())
      throw InputError(fmt::format("{}: shape {} holds {}, not a dimension", where, shape.dump(), type_word(dim)));
    const auto size = dim.get<std::uint64_t>();
    if (size > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      throw InputError(fmt::format("{}: dimension {} is too large", where, size));
    entry.shape.push_back(static_cast<std::int64_t>(size));
  }

  const Json& offsets = value.at("data_offsets");
  if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
      !offsets[1].is_number_unsigned())
    throw InputError(fmt::format("{}: data_offsets is {}, not [begin, end] with non-negative integers", where,
                                 offsets.dump()));
  entry.begin = offsets[0].get<std::uint64_t>();
  entry.end = offsets[1].get<std::uint64_t>();
  if (entry.end < entry.begin)
    throw InputError(fmt::format("{}: data_offsets [{}, {}] end before they begin", where, entry.begin, entry.end));
  const std::uint64_t expected = checked_byte_size(where, entry.dtype, entry.shape);
  if (entry.byte_size() != expected)
    throw InputError(fmt::format("{}: data_offsets [{}, {}] hold {} bytes, but {} {} needs {}", where, entry.begin,
                                 entry.end, entry.byte_size(), dtype_name(entry.dtype), shape_string(entry.shape),
                                 expected));
  return entry;
}

std::map<std::string, std::string> parse_metadata(const std::string& file, const Json& value) {
  if (!value.is_object())
    throw InputError(fmt::format("{}: __metadata__ is {}, not an object of strings", file, type_word(value)));
  std::map<std::string, std::string> metadata;
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string())
      throw InputError(fmt::format("{}: __metadata__ '{}' is {}; metadata values must be strings", file, key,
                                   type_word(item)));
    metadata.emplace(key, item.get<std::string>());
  }
  return metadata;
}

// Sorted by offset, the tensors must tile [0, data_size) exactly.
void check_layout(const std::string& file, const std::vector<SafetensorsEntry>& entries, std::uint64_t data_size) {
  std::uint64_t covered = 0;
  const SafetensorsEntry* previous = nullptr;
  for (const SafetensorsEntry& entry : entries) {
    if (entry.end > data_size)
      throw InputError(fmt::format("{}: tensor '{}': data_offsets [{}, {}] run past the data area, which holds {} "
                                   "bytes (was the file truncated?)",
                                   file, entry.name, entry.begin, entry.end, data_size));
    if (entry.begin < covered)
      throw InputError(fmt::format("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", file,
                                   entry.name, entry.begin, entry.end, previous->name, previous->begin,
                                   previous->end));
    if (entry.begin > covered)
      throw InputError(fmt::format("{}: tensor '{}': {} bytes before it at [{}, {}) belong to no tensor (the data "
                                   "area must be covered exactly)",
                                   file, entry.name, entry.begin - covered, covered, entry.begin));
    covered = entry.end;
    previous = &entry;
  }
  if (covered != data_size)
    throw InputError(fmt::format("{}: the last {} bytes of the data area belong to no tensor (the tensors end at {}, "
                                 "the data area at {})",
                                 file, data_size - covered, covered, data_size));
}

}  // namespace

std::string_view dtype_name(SafetensorsDtype dtype) { return info(dtype).name; }
std::size_t dtype_size(SafetensorsDtype dtype) { return info(dtype).size; }

std::optional<SafetensorsDtype> parse_dtype(std::string_view name) {
  for (const DtypeInfo& item : kDtypes)
    if (item.name == name) return item.dtype;
  return std::nullopt;
}

std::int64_t SafetensorsEntry::numel() const {
  std::int64_t count = 1;
  for (const std::int64_t dim : shape) count *= dim;
  return count;
}

std::string shape_string(std::span<const std::int64_t> shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

SafetensorsFile::SafetensorsFile(std::filesystem::path path) : path_(std::move(path)) {
  const std::string file = path_.string();
  fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw InputError(fmt::format("{}: cannot open: {}", file, std::strerror(errno)));
  try {
    struct stat status {};
    if (::fstat(fd_, &status) != 0) throw InputError(fmt::format("{}: cannot stat: {}", file, std::strerror(errno)));
    if (!S_ISREG(status.st_mode)) throw InputError(fmt::format("{}: not a regular file", file));
    file_size_ = static_cast<std::uint64_t>(status.st_size);
    if (file_size_ < 8)
      throw InputError(fmt::format("{}: {} bytes, too short for the 8-byte header length of a safetensors file", file,
                                   file_size_));

    std::array<std::byte, 8> length_bytes{};
    pread_exactly(fd_, path_, 0, length_bytes, "the header length");
    std::uint64_t header_size = 0;
    std::memcpy(&header_size, length_bytes.data(), sizeof header_size);
    if (header_size > kMaxHeaderBytes)
      throw InputError(fmt::format("{}: header length {} is over the {}-byte limit (not a safetensors file?)", file,
                                   header_size, kMaxHeaderBytes));
    if (header_size > file_size_ - 8)
      throw InputError(fmt::format("{}: header length {} runs past the end of the file ({} bytes)", file, header_size,
                                   file_size_));
    data_offset_ = 8 + header_size;

    std::string header(header_size, '\0');
    pread_exactly(fd_, path_, 8, std::as_writable_bytes(std::span(header)), "the header");
    if (header.empty() || header.front() != '{')
      throw InputError(fmt::format("{}: header does not start with '{{' (not a safetensors file?)", file));
    DuplicateKeyFinder duplicates;
    Json root;
    try {
      root = Json::parse(header, std::ref(duplicates));
    } catch (const Json::exception& e) {
      throw InputError(fmt::format("{}: header is not valid JSON: {}", file, e.what()));
    }
    if (!duplicates.duplicate().empty()) throw InputError(fmt::format("{}: header: {}", file, duplicates.duplicate()));
    if (!root.is_object()) throw InputError(fmt::format("{}: header is {}, not a JSON object", file, type_word(root)));

    for (const auto& [name, value] : root.items()) {
      if (name == "__metadata__")
        metadata_ = parse_metadata(file, value);
      else
        entries_.push_back(parse_entry(file, name, value));
    }
    std::sort(entries_.begin(), entries_.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
      return std::tie(a.begin, a.end, a.name) < std::tie(b.begin, b.end, b.name);
    });
    check_layout(file, entries_, file_size_ - data_offset_);
    index_.reserve(entries_.size());
    for (std::size_t i = 0; i < entries_.size(); ++i) index_.emplace(entries_[i].name, i);
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

SafetensorsFile::~SafetensorsFile() {
  if (fd_ >= 0) ::close(fd_);
}

SafetensorsFile::SafetensorsFile(SafetensorsFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      file_size_(other.file_size_),
      data_offset_(other.data_offset_),
      entries_(std::move(other.entries_)),
      index_(std::move(other.index_)),
      metadata_(std::move(other.metadata_)) {}

SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    file_size_ = other.file_size_;
    data_offset_ = other.data_offset_;
    entries_ = std::move(other.entries_);
    index_ = std::move(other.index_);
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

const SafetensorsEntry* SafetensorsFile::find(std::string_view name) const {
  const auto found = index_.find(std::string(name));
  return found == index_.end() ? nullptr : &entries_[found->second];
}

const SafetensorsEntry& SafetensorsFile::entry(std::string_view name) const {
  if (const SafetensorsEntry* found = find(name)) return *found;
  throw InputError(fmt::format("{}: no tensor '{}'", path_.string(), name));
}

void SafetensorsFile::read(const SafetensorsEntry& entry, std::span<std::byte> out) const {
  FEDVLM_CHECK(out.size() == entry.byte_size(), "{}: tensor '{}' has {} bytes, the buffer {}", path_.string(),
               entry.name, entry.byte_size(), out.size());
  FEDVLM_CHECK(fd_ >= 0, "{}: read from a moved-from SafetensorsFile", path_.string());
  pread_exactly(fd_, path_, data_offset_ + entry.begin, out, fmt::format("tensor '{}'", entry.name));
}

std::vector<std::byte> SafetensorsFile::read(const SafetensorsEntry& entry) const {
  std::vector<std::byte> bytes(entry.byte_size());
  read(entry, bytes);
  return bytes;
}

}  // namespace fedvlm::model::hf
