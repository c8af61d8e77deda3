#include "fedvlm/eval/gather_strings.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "fedvlm/core/error.hpp"

namespace fedvlm::eval {
namespace {

template <typename T>
comm::Buffer buffer_of(std::vector<T>& values, comm::DType dtype) {
  return comm::Buffer{values.data(), values.size(), dtype, false};
}

}  // namespace

std::vector<std::string> gather_strings(comm::Communicator& communicator, const std::vector<std::string>& strings,
                                        int root) {
  const int world = communicator.size();
  FEDVLM_CHECK(root >= 0 && root < world, "gather_strings: root {} is not a rank of a world of {}", root, world);

  // Step 1: how many strings and bytes each rank holds.
  std::int64_t my_bytes = 0;
  for (const std::string& text : strings) my_bytes += static_cast<std::int64_t>(text.size());
  std::vector<std::int64_t> my_shape = {static_cast<std::int64_t>(strings.size()), my_bytes};
  std::vector<std::int64_t> shapes(2 * static_cast<std::size_t>(world));
  communicator.allgather(buffer_of(my_shape, comm::DType::Int64), buffer_of(shapes, comm::DType::Int64));
  std::int64_t max_count = 0;
  std::int64_t max_bytes = 0;
  for (int rank = 0; rank < world; ++rank) {
    max_count = std::max(max_count, shapes[2 * rank]);
    max_bytes = std::max(max_bytes, shapes[2 * rank + 1]);
  }
  // Every rank knows both maxima, so all skip the same empty collectives.
  if (max_count == 0) return {};

  // Step 2: the string lengths, padded to the largest count.
  std::vector<std::int64_t> my_lengths(static_cast<std::size_t>(max_count), 0);
  for (std::size_t i = 0; i < strings.size(); ++i) my_lengths[i] = static_cast<std::int64_t>(strings[i].size());
  std::vector<std::int64_t> lengths(static_cast<std::size_t>(max_count * world));
  communicator.allgather(buffer_of(my_lengths, comm::DType::Int64), buffer_of(lengths, comm::DType::Int64));

  // Step 3: the bytes, concatenated per rank and padded to the largest total.
  std::vector<std::uint8_t> bytes;
  if (max_bytes > 0) {
    std::vector<std::uint8_t> my_concatenated(static_cast<std::size_t>(max_bytes), 0);
    std::size_t offset = 0;
    for (const std::string& text : strings) {
      std::memcpy(my_concatenated.data() + offset, text.data(), text.size());
      offset += text.size();
    }
    bytes.resize(static_cast<std::size_t>(max_bytes * world));
    communicator.allgather(buffer_of(my_concatenated, comm::DType::UInt8), buffer_of(bytes, comm::DType::UInt8));
  }

  if (communicator.rank() != root) return {};
  std::vector<std::string> gathered;
  for (int rank = 0; rank < world; ++rank) {
    const auto* begin = reinterpret_cast<const char*>(bytes.data()) + static_cast<std::size_t>(rank * max_bytes);
    std::size_t offset = 0;
    for (std::int64_t i = 0; i < shapes[2 * rank]; ++i) {
      const auto length = static_cast<std::size_t>(lengths[static_cast<std::size_t>(rank * max_count + i)]);
      gathered.push_back(length == 0 ? std::string() : std::string(begin + offset, length));
      offset += length;
    }
  }
  return gathered;
}

}  // namespace fedvlm::eval
