// Writing a .safetensors file in the reference implementation's layout, atomically.
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/model/hf/safetensors.hpp"

namespace fedvlm::model::hf {

namespace {

std::uint64_t expected_bytes(const std::string& where, const SafetensorsTensorView& tensor) {
  std::uint64_t bytes = dtype_size(tensor.dtype);
  for (const std::int64_t dim : tensor.shape) {
    if (dim < 0) throw InputError(fmt::format("{}: negative dimension in shape {}", where, shape_string(tensor.shape)));
    if (__builtin_mul_overflow(bytes, static_cast<std::uint64_t>(dim), &bytes))
      throw InputError(fmt::format("{}: shape {} overflows 64 bits", where, shape_string(tensor.shape)));
  }
  return bytes;
}

// Widest element type first, then by name (byte order): the reference's layout, which keeps every
// tensor aligned to its element size.
std::vector<const SafetensorsTensorView*> data_order(std::span<const SafetensorsTensorView> tensors) {
  std::vector<const SafetensorsTensorView*> order;
  order.reserve(tensors.size());
  for (const SafetensorsTensorView& tensor : tensors) order.push_back(&tensor);
  std::sort(order.begin(), order.end(), [](const SafetensorsTensorView* a, const SafetensorsTensorView* b) {
    if (a->dtype != b->dtype) return a->dtype > b->dtype;
    return a->name < b->name;
  });
  return order;
}

}  // namespace

std::string safetensors_header(std::span<const SafetensorsTensorView> tensors,
                               const std::map<std::string, std::string>& metadata, const std::filesystem::path& path) {
  const std::string file = path.string();
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    auto& stored = header["__metadata__"] = nlohmann::ordered_json::object();
    for (const auto& [key, value] : metadata) stored[key] = value;
  }
  std::set<std::string_view> names;
  std::uint64_t offset = 0;
  for (const SafetensorsTensorView* tensor : data_order(tensors)) {
    const std::string where = fmt::format("{}: tensor '{}'", file, tensor->name);
    if (tensor->name == "__metadata__")
      throw InputError(fmt::format("{}: '__metadata__' is reserved for the metadata map, not a tensor name", file));
    if (!names.insert(tensor->name).second)
      throw InputError(fmt::format("{}: tensor name '{}' given twice", file, tensor->name));
    const std::uint64_t bytes = expected_bytes(where, *tensor);
    if (tensor->bytes.size() != bytes)
      throw InputError(fmt::format("{}: {} bytes given, but {} {} needs {}", where, tensor->bytes.size(),
                                   dtype_name(tensor->dtype), shape_string(tensor->shape), bytes));
    header[tensor->name] = {{"dtype", std::string(dtype_name(tensor->dtype))},
                            {"shape", tensor->shape},
                            {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text;
  try {
    text = header.dump();  // compact, UTF-8 kept as is: what serde_json writes
  } catch (const nlohmann::json::exception& e) {
    throw InputError(fmt::format("{}: a tensor name or metadata string is not valid UTF-8: {}", file, e.what()));
  }
  text.resize((text.size() + 7) / 8 * 8, ' ');
  if (text.size() > SafetensorsFile::kMaxHeaderBytes)
    throw InputError(fmt::format("{}: header of {} bytes is over the {}-byte limit readers accept", file, text.size(),
                                 SafetensorsFile::kMaxHeaderBytes));
  const std::uint64_t length = text.size();
  std::string result(8, '\0');
  std::memcpy(result.data(), &length, sizeof length);  // little-endian: safetensors.cpp asserts the host is
  return result + text;
}

void write_safetensors(const std::filesystem::path& path, std::span<const SafetensorsTensorView> tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string header = safetensors_header(tensors, metadata, path);
  const auto order = data_order(tensors);
  write_atomically(path, [&](const std::filesystem::path& temporary) {
    std::ofstream out(temporary, std::ios::binary);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const SafetensorsTensorView* tensor : order)
      out.write(reinterpret_cast<const char*>(tensor->bytes.data()),
                static_cast<std::streamsize>(tensor->bytes.size()));
    out.close();
    if (!out)
      throw Error(fmt::format("cannot write {}: {} (is the disk full?)", path.string(), std::strerror(errno)));
  });
}

}  // namespace fedvlm::model::hf
