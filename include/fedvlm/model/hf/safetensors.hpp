// Safetensors, Hugging Face's weight format: reading, validating and writing (no LibTorch here;
// model/hf/safetensors_torch.hpp turns entries into tensors).
//
// A file is 8 bytes N (little-endian u64), N bytes of JSON header, then the data area. The header
// maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into the data
// area, row-major little-endian bytes), plus an optional "__metadata__" map of strings to strings.
// A valid file covers its data area exactly, as the reference implementation requires: sorted by
// offset, each tensor begins where the previous one ends (no gap, no overlap) and the last one
// ends at the end of the file. Opening a file reads and checks the header only (a 7B checkpoint
// is 14 GB); tensor bytes are read on demand with pread, so one open file serves many threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace fedvlm::model::hf {

// The element types this reader knows, in the reference implementation's order of alignment
// (the writer lays tensors out widest type first, then by name, as the reference does, so every
// tensor's bytes start at a multiple of its element size). Sub-byte types (F4, F6) and the rarer
// 8-bit floats are refused as unknown.
enum class SafetensorsDtype { BOOL, U8, I8, F8_E5M2, F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

std::string_view dtype_name(SafetensorsDtype dtype);                 // "F32", "BF16", ...
std::optional<SafetensorsDtype> parse_dtype(std::string_view name);  // nullopt for an unknown name
std::size_t dtype_size(SafetensorsDtype dtype);                      // bytes per element

struct SafetensorsEntry {
  std::string name;
  SafetensorsDtype dtype;
  std::vector<std::int64_t> shape;  // [] for a scalar; a 0 dimension makes an empty tensor
  std::uint64_t begin = 0, end = 0;  // byte range in the data area

  std::uint64_t byte_size() const { return end - begin; }
  std::int64_t numel() const;
};

// "[2, 3]"
std::string shape_string(std::span<const std::int64_t> shape);

// One open .safetensors file. Every defect of the file is an InputError naming it (and the
// tensor or key where there is one); nothing past the header is read until asked for.
class SafetensorsFile {
 public:
  static constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference's limit

  explicit SafetensorsFile(std::filesystem::path path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // In data-area order (ties between empty tensors broken by name).
  const std::vector<SafetensorsEntry>& entries() const { return entries_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::uint64_t data_offset() const { return data_offset_; }  // where the data area starts: 8 + N
  std::uint64_t file_size() const { return file_size_; }

  const SafetensorsEntry* find(std::string_view name) const;  // nullptr when absent
  const SafetensorsEntry& entry(std::string_view name) const;  // InputError when absent

  // Reads the tensor's bytes into `out`, which must be exactly entry.byte_size() long.
  void read(const SafetensorsEntry& entry, std::span<std::byte> out) const;
  std::vector<std::byte> read(const SafetensorsEntry& entry) const;

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t file_size_ = 0;
  std::uint64_t data_offset_ = 0;
  std::vector<SafetensorsEntry> entries_;
  std::unordered_map<std::string, std::size_t> index_;
  std::map<std::string, std::string> metadata_;
};

// The weights of a Hugging Face model directory: `model.safetensors`, or else the shards that
// `model.safetensors.index.json` lists (`weight_map`: tensor name -> shard file in the directory),
// as transformers resolves them. A path to a .safetensors file is taken as that one file. The
// index and the shards must agree exactly: a tensor the map names but its shard lacks, or a
// tensor a shard holds but the map does not put there, is an InputError.
class SafetensorsCheckpoint {
 public:
  static constexpr const char* kSingleFile = "model.safetensors";
  static constexpr const char* kIndexFile = "model.safetensors.index.json";

  explicit SafetensorsCheckpoint(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return path_; }
  const std::vector<SafetensorsFile>& files() const { return files_; }
  std::vector<std::string> names() const;  // sorted
  bool contains(std::string_view name) const { return find(name) != nullptr; }
  std::size_t size() const { return locations_.size(); }
  std::uint64_t total_bytes() const;  // sum of every tensor's bytes

  // The file holding `name` and its entry; InputError naming the checkpoint and the tensor.
  const SafetensorsFile& file_of(std::string_view name) const;
  const SafetensorsEntry& entry(std::string_view name) const;

 private:
  struct Location {
    std::size_t file;
    std::size_t entry;
  };
  const Location* find(std::string_view name) const;
  const Location& at(std::string_view name) const;
  void add_file(SafetensorsFile file);

  std::filesystem::path path_;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, Location, std::less<>> locations_;
};

// One tensor to write: its bytes are borrowed, and must be product(shape) * dtype_size long.
struct SafetensorsTensorView {
  std::string name;
  SafetensorsDtype dtype;
  std::vector<std::int64_t> shape;
  std::span<const std::byte> bytes;
};

// The header exactly as write_safetensors writes it: the 8-byte length, then compact JSON
// ("__metadata__" first when not empty, then the tensors in data order: widest dtype first,
// then by name) padded with spaces to a multiple of 8 bytes, as the reference does. `path` only
// names the file in errors: InputError for a duplicate or reserved name, a negative dimension,
// a byte count that does not match the shape, or a name or metadata string that is not UTF-8.
std::string safetensors_header(std::span<const SafetensorsTensorView> tensors,
                               const std::map<std::string, std::string>& metadata,
                               const std::filesystem::path& path);

// Writes `tensors` to `path` atomically (write_atomically: a reader sees the old file or the
// whole new one). The bytes equal the reference implementation's for the same tensors and at
// most one metadata key (it writes metadata in hash order, this writer sorted by key).
void write_safetensors(const std::filesystem::path& path, std::span<const SafetensorsTensorView> tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace fedvlm::model::hf
