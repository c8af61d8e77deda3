#include "fedvlm/fl/accumulator.hpp"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::fl {

std::vector<AccumulatorSegment> standard_layout(std::int64_t n) {
  FEDVLM_CHECK(n >= 0, "accumulator length must not be negative, got {}", n);
  return {{std::string(kWeightSegment), 1}, {std::string(kClientsSegment), 1}, {std::string(kDeltaSegment), n}};
}

Accumulator::Accumulator(std::vector<AccumulatorSegment> layout, torch::Device device) : layout_(std::move(layout)) {
  std::int64_t total = 0;
  for (std::size_t i = 0; i < layout_.size(); ++i) {
    FEDVLM_CHECK(layout_[i].length >= 0, "accumulator segment '{}' has negative length {}", layout_[i].name,
                 layout_[i].length);
    for (std::size_t j = 0; j < i; ++j)
      FEDVLM_CHECK(layout_[j].name != layout_[i].name, "accumulator segment '{}' appears twice", layout_[i].name);
    total += layout_[i].length;
  }
  buffer_ = torch::zeros({total}, torch::TensorOptions().dtype(torch::kFloat64).device(device));
}

std::int64_t Accumulator::size() const { return empty() ? 0 : buffer_.numel(); }

std::int64_t Accumulator::offset_of(std::string_view name, std::int64_t* length) const {
  std::int64_t offset = 0;
  for (const auto& segment : layout_) {
    if (segment.name == name) {
      *length = segment.length;
      return offset;
    }
    offset += segment.length;
  }
  std::vector<std::string> names;
  for (const auto& segment : layout_) names.push_back(segment.name);
  throw Error(fmt::format("accumulator has no segment '{}' (layout: {})", name, fmt::join(names, ", ")));
}

bool Accumulator::has_segment(std::string_view name) const {
  for (const auto& segment : layout_)
    if (segment.name == name) return true;
  return false;
}

torch::Tensor Accumulator::segment(std::string_view name) const {
  FEDVLM_CHECK(!empty(), "accumulator used before construction (segment '{}')", name);
  std::int64_t length = 0;
  const std::int64_t offset = offset_of(name, &length);
  return buffer_.narrow(0, offset, length);
}

double Accumulator::scalar(std::string_view name) const {
  const torch::Tensor value = segment(name);
  FEDVLM_CHECK(value.numel() == 1, "accumulator segment '{}' has {} elements, not a scalar", name, value.numel());
  return value.item<double>();
}

void Accumulator::add_scalar(std::string_view name, double value) {
  torch::Tensor target = segment(name);
  FEDVLM_CHECK(target.numel() == 1, "accumulator segment '{}' has {} elements, not a scalar", name, target.numel());
  target.add_(value);
}

std::int64_t Accumulator::clients() const { return static_cast<std::int64_t>(std::llround(scalar(kClientsSegment))); }

void Accumulator::zero() {
  if (!empty()) buffer_.zero_();
}

comm::Buffer Accumulator::comm_buffer() {
  FEDVLM_CHECK(!empty() && buffer_.is_contiguous(), "accumulator buffer must exist and be contiguous");
  return comm::Buffer{buffer_.data_ptr(), static_cast<std::size_t>(buffer_.numel()), comm::DType::Float64,
                      buffer_.is_cuda()};
}

void reduce_to_root(Accumulator& accumulator, comm::Communicator& comm, int root) {
  FEDVLM_CHECK(!accumulator.empty(), "reduce_to_root: the accumulator was never constructed");
  comm::reduce(comm, accumulator.buffer(), comm::ReduceOp::Sum, root);
}

}  // namespace fedvlm::fl
