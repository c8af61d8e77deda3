// Accumulator: the one flat buffer a round reduces across ranks. Each rank folds the results of
// the clients it trained into it (Σ wᵢ·Δᵢ, Σ wᵢ, the client count and the algorithm's extras);
// one sum-collective over the whole buffer then gives rank 0 the cohort's totals.
//
// The buffer is float64: client contributions are float32 differences, summed in double so the
// totals depend on how clients are split over ranks only at the 1e-16 level, and sample-count
// weights stay exact. The layout is a list of named segments chosen by the algorithm; every
// layout starts with the standard ones below.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <torch/types.h>

#include "fedvlm/comm/communicator.hpp"

namespace fedvlm::fl {

// Standard segment names (present in every algorithm's layout).
inline constexpr std::string_view kWeightSegment = "weight";    // [1] Σ wᵢ
inline constexpr std::string_view kClientsSegment = "clients";  // [1] number of clients folded in
inline constexpr std::string_view kDeltaSegment = "delta";      // [n] Σ wᵢ·(yᵢ − x)
// Optional: clients whose update was left out (non-finite or too large; sim::fold_client).
inline constexpr std::string_view kBadClientsSegment = "bad_clients";  // [1]
// Optional: clients whose update DP-FedAvg clipping scaled down (fl.dp_clip; sim::fold_client).
inline constexpr std::string_view kDpClippedSegment = "dp_clipped";    // [1]

struct AccumulatorSegment {
  std::string name;
  std::int64_t length = 0;
};

// The standard segments for a trainable vector of length n: weight, clients, delta.
std::vector<AccumulatorSegment> standard_layout(std::int64_t n);

class Accumulator {
 public:
  Accumulator() = default;
  // A zeroed float64 buffer on `device` holding the segments back to back, in order.
  Accumulator(std::vector<AccumulatorSegment> layout, torch::Device device);

  const std::vector<AccumulatorSegment>& layout() const { return layout_; }
  std::int64_t size() const;  // total elements
  bool empty() const { return !buffer_.defined(); }

  // The whole flat buffer (float64, contiguous): what the collective sums.
  torch::Tensor& buffer() { return buffer_; }
  const torch::Tensor& buffer() const { return buffer_; }
  // A view of one segment; throws naming the layout if `name` is not in it.
  torch::Tensor segment(std::string_view name) const;
  bool has_segment(std::string_view name) const;

  double scalar(std::string_view name) const;  // a length-1 segment's value
  void add_scalar(std::string_view name, double value);
  // Adds weight·(y − x) to segment `name`, for float32 vectors y and x of its length: the
  // difference is taken in float64, where it is exact. One pass over memory on the CPU.
  void add_difference(std::string_view name, const torch::Tensor& y, const torch::Tensor& x, double weight);
  // The same into row `row` of segment `name` read as rows of y's length (a robust aggregator's
  // per-client rows, robustness.hpp).
  void add_difference_row(std::string_view name, std::int64_t row, const torch::Tensor& y, const torch::Tensor& x,
                          double weight);

  double total_weight() const { return scalar(kWeightSegment); }
  std::int64_t clients() const;

  void zero();

  // The buffer as a communicator view (host or device memory, as the buffer lives).
  comm::Buffer comm_buffer();

 private:
  std::int64_t offset_of(std::string_view name, std::int64_t* length) const;

  std::vector<AccumulatorSegment> layout_;
  torch::Tensor buffer_;
};

// ‖y − x‖² of two float32 vectors, summed in float64: +inf or NaN when an element of either is
// not finite (a float32 square cannot overflow a double). One pass on the CPU.
double squared_distance(const torch::Tensor& y, const torch::Tensor& x);

// The round's one collective: sums every rank's accumulator into rank `root`'s.
// Other ranks' buffers are left unspecified afterwards.
void reduce_to_root(Accumulator& accumulator, comm::Communicator& comm, int root = 0);

}  // namespace fedvlm::fl
