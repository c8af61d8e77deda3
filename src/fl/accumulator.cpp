#include "fedvlm/fl/accumulator.hpp"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::fl {
namespace {

// The once-per-client loops over a whole update run in blocks of kLanes values: GCC vectorizes
// a fixed-length inner loop at -O2 (its cheap cost model refuses one of unknown length, which
// needs an epilogue; the plain loop ran scalar, 60 µs per 50K-value client), and a sum kept in
// kLanes lanes is not one chain of dependent additions.
constexpr std::int64_t kLanes = 8;

}  // namespace

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
  FEDVLM_CHECK(!empty(), "accumulator used before construction (segment '{}')", name);
  std::int64_t length = 0;
  const std::int64_t offset = offset_of(name, &length);
  FEDVLM_CHECK(length == 1, "accumulator segment '{}' has {} elements, not a scalar", name, length);
  if (buffer_.is_cpu()) {
    buffer_.data_ptr<double>()[offset] += value;  // once per client per segment: skip the dispatcher
  } else {
    buffer_.narrow(0, offset, 1).add_(value);
  }
}

namespace {

// target += weight·(y − x) for float32 vectors y and x of target's length.
void add_difference_into(torch::Tensor target, std::string_view name, const torch::Tensor& y, const torch::Tensor& x,
                         double weight) {
  FEDVLM_CHECK(y.dim() == 1 && x.dim() == 1 && y.numel() == target.numel() && x.numel() == target.numel() &&
                   y.scalar_type() == torch::kFloat32 && x.scalar_type() == torch::kFloat32,
               "accumulator segment '{}' ({} values) takes the difference of two float32 vectors of its length, "
               "got {} and {} values", name, target.numel(), y.numel(), x.numel());
  if (target.is_cpu() && y.is_cpu() && x.is_cpu() && y.is_contiguous() && x.is_contiguous()) {
    // Once per client: read y and x, update the segment in place, allocate nothing.
    double* __restrict out = target.data_ptr<double>();
    const float* __restrict a = y.data_ptr<float>();
    const float* __restrict b = x.data_ptr<float>();
    const std::int64_t n = target.numel();
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      for (std::int64_t lane = 0; lane < kLanes; ++lane)
        out[i + lane] += weight * (static_cast<double>(a[i + lane]) - static_cast<double>(b[i + lane]));
    }
    for (; i < n; ++i) out[i] += weight * (static_cast<double>(a[i]) - static_cast<double>(b[i]));
    return;
  }
  target.add_(y.to(target.device(), torch::kFloat64, false, /*copy=*/true).sub_(x.to(target.device())), weight);
}

}  // namespace

void Accumulator::add_difference(std::string_view name, const torch::Tensor& y, const torch::Tensor& x,
                                 double weight) {
  add_difference_into(segment(name), name, y, x, weight);
}

void Accumulator::add_difference_row(std::string_view name, std::int64_t row, const torch::Tensor& y,
                                     const torch::Tensor& x, double weight) {
  const torch::Tensor rows = segment(name);
  const std::int64_t n = y.numel();
  FEDVLM_CHECK(n > 0 && rows.numel() % n == 0 && row >= 0 && row < rows.numel() / n,
               "accumulator segment '{}' ({} values) has no row {} of {} values", name, rows.numel(), row, n);
  add_difference_into(rows.narrow(0, row * n, n), name, y, x, weight);
}

double squared_distance(const torch::Tensor& y, const torch::Tensor& x) {
  FEDVLM_CHECK(y.dim() == 1 && y.sizes() == x.sizes() && y.scalar_type() == torch::kFloat32 &&
                   x.scalar_type() == torch::kFloat32,
               "squared_distance needs two float32 vectors of one length, got {} and {} values", y.numel(), x.numel());
  if (y.is_cpu() && x.is_cpu() && y.is_contiguous() && x.is_contiguous()) {
    // kLanes running sums, not one: a single sum is a chain of dependent additions (no
    // reordering without -ffast-math) and took 80 µs for 50K values; the order is still fixed.
    const float* __restrict a = y.data_ptr<float>();
    const float* __restrict b = x.data_ptr<float>();
    const std::int64_t n = y.numel();
    double sums[kLanes] = {};
    std::int64_t i = 0;
    for (; i + kLanes <= n; i += kLanes) {
      for (std::int64_t lane = 0; lane < kLanes; ++lane) {
        const double d = static_cast<double>(a[i + lane]) - static_cast<double>(b[i + lane]);
        sums[lane] += d * d;
      }
    }
    for (; i < n; ++i) {
      const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
      sums[0] += d * d;
    }
    double sum = 0.0;
    for (const double part : sums) sum += part;
    return sum;
  }
  return (y.to(torch::kFloat64) - x.to(y.device(), torch::kFloat64)).square().sum().item<double>();
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
