#include "fedvlm/model/client_stack.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <mutex>
#include <numeric>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/forward_state.hpp"

namespace fedvlm::model {

ClientStack::ClientStack(const TrainableSet& trainable, std::int64_t clients) : clients_(clients) {
  FEDVLM_CHECK(clients >= 1, "a client stack needs at least one client, got {}", clients);
  for (const auto& parameter : trainable.parameters) {
    Slot slot{length_, parameter.numel(), {clients}};
    for (const auto size : parameter.sizes()) slot.shape.push_back(size);
    slots_.emplace(parameter.unsafeGetTensorImpl(), std::move(slot));
    length_ += parameter.numel();
  }
}

void ClientStack::set_layout(std::span<const std::int64_t> rows, std::span<const std::int64_t> lengths,
                             std::span<at::Generator> generators, torch::Device device) {
  const auto k = static_cast<std::size_t>(clients_);
  FEDVLM_CHECK(rows.size() == k && lengths.size() == k && generators.size() == k,
               "client stack of {} clients: layout of {} row counts, {} lengths, {} generators", clients_, rows.size(),
               lengths.size(), generators.size());
  FEDVLM_CHECK(std::all_of(rows.begin(), rows.end(), [](std::int64_t r) { return r > 0; }),
               "client stack: every client needs at least one row in the batch");
  rows_.assign(rows.begin(), rows.end());
  lengths_.assign(lengths.begin(), lengths.end());
  generators_ = generators.data();
  const bool equal = std::all_of(rows.begin(), rows.end(), [&](std::int64_t r) { return r == rows[0]; });
  equal_rows_ = equal ? rows[0] : 0;
  std::vector<std::int64_t> row_client;
  row_client.reserve(static_cast<std::size_t>(std::accumulate(rows.begin(), rows.end(), std::int64_t{0})));
  for (std::size_t c = 0; c < k; ++c) row_client.insert(row_client.end(), static_cast<std::size_t>(rows[c]), static_cast<std::int64_t>(c));
  row_client_ = torch::tensor(row_client, torch::kInt64).to(device);
}

void ClientStack::bind(const torch::Tensor& values) {
  FEDVLM_CHECK(values.dim() == 2 && values.size(0) == clients_ && values.size(1) == length_,
               "client stack of {} clients x {} values: got a tensor of [{}]", clients_, length_,
               fmt::join(values.sizes(), ", "));
  views_.clear();
  const torch::Tensor base = values.detach();
  for (const auto& [key, slot] : slots_) {
    views_[key] = base.narrow(1, slot.offset, slot.numel).view(slot.shape).detach().requires_grad_(true);
  }
}

void ClientStack::zero_grads() {
  for (auto& [key, view] : views_) view.mutable_grad().reset();
}

void ClientStack::gather_grads(torch::Tensor& grads) const {
  FEDVLM_CHECK(grads.dim() == 2 && grads.size(0) == clients_ && grads.size(1) == length_,
               "client stack of {} clients x {} values: gradients of [{}]", clients_, length_,
               fmt::join(grads.sizes(), ", "));
  torch::NoGradGuard no_grad;
  for (const auto& [key, slot] : slots_) {
    auto target = grads.narrow(1, slot.offset, slot.numel);
    const auto& grad = views_.at(key).grad();
    if (grad.defined()) target.copy_(grad.reshape({clients_, slot.numel}));
    else target.zero_();
  }
}

torch::Tensor ClientStack::find(const torch::Tensor& parameter) const {
  const auto it = views_.find(parameter.unsafeGetTensorImpl());
  return it == views_.end() ? torch::Tensor() : it->second;
}

torch::Tensor ClientStack::linear(const torch::Tensor& x, const torch::Tensor& weight, const torch::Tensor& bias) const {
  const auto batch = x.size(0), in = x.size(-1), out = weight.size(1);
  FEDVLM_CHECK(batch == row_client_.size(0), "client stack: a batch of {} rows, the layout has {}", batch,
               row_client_.size(0));
  std::vector<std::int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = out;
  torch::Tensor y;
  if (equal_rows_ > 0) {  // client k's rows are one [rows * ..., in] block: one product per client
    y = torch::bmm(x.reshape({clients_, -1, in}), weight.transpose(1, 2));
    if (bias.defined()) y = y + bias.unsqueeze(1);
  } else {  // uneven rows: each row takes its client's weight
    y = torch::bmm(x.reshape({batch, -1, in}), weight.index_select(0, row_client_).transpose(1, 2));
    if (bias.defined()) y = y + bias.index_select(0, row_client_).unsqueeze(1);
  }
  return y.reshape(out_shape);
}

torch::Tensor ClientStack::dropout(const torch::Tensor& x, double p) const {
  FEDVLM_CHECK(x.dim() == 3 && x.size(0) == row_client_.size(0),
               "client stack: dropout takes [rows, positions, features] of {} rows, got [{}]", row_client_.size(0),
               fmt::join(x.sizes(), ", "));
  std::vector<std::uint64_t> keys(rows_.size());
  for (std::size_t c = 0; c < rows_.size(); ++c) {
    FEDVLM_CHECK(lengths_[c] <= x.size(1), "client stack: client {}'s sequence of {} exceeds the batch's {}", c,
                 lengths_[c], x.size(1));
    keys[c] = next_dropout_key(generators_[c]);
  }
  // Padding positions past a client's own length reach no real token (causal) and no loss.
  return x * dropout_mask(keys, rows_, lengths_, x.size(1), x.size(2), 1.0 - p, x.options().requires_grad(false));
}

torch::Tensor ClientStack::client_means(const torch::Tensor& values, const torch::Tensor& rows) const {
  const auto client = row_client_.index_select(0, rows);
  const auto sums = torch::zeros({clients_}, values.options()).index_add(0, client, values);
  const auto counts = torch::zeros({clients_}, values.options()).index_add(0, client, torch::ones_like(values));
  return sums / counts;
}


namespace {

constexpr std::uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
constexpr std::uint64_t kMix1 = 0xBF58476D1CE4E5B9ULL;
constexpr std::uint64_t kMix2 = 0x94D049BB133111EBULL;

std::uint64_t splitmix64(std::uint64_t z) {
  z = (z ^ (z >> 30)) * kMix1;
  z = (z ^ (z >> 27)) * kMix2;
  return z ^ (z >> 31);
}

// keep * 2^24: an element is kept when its hash's top 24 bits fall below it.
std::int64_t keep_threshold(double keep) { return static_cast<std::int64_t>(keep * 16777216.0); }

// The loop the CPU runs.
template <class T>
void fill_mask(T* mask, std::span<const std::uint64_t> keys, std::span<const std::int64_t> rows,
               std::span<const std::int64_t> lengths, std::int64_t length, std::int64_t features, double keep) {
  const auto threshold = static_cast<std::uint64_t>(keep_threshold(keep));
  const T kept = static_cast<T>(1.0 / keep), dropped = static_cast<T>(0.0), padding = static_cast<T>(1.0);
  for (std::size_t c = 0; c < keys.size(); ++c) {
    for (std::int64_t r = 0; r < rows[c]; ++r) {
      for (std::int64_t t = 0; t < length; ++t, mask += features) {
        if (t >= lengths[c]) {
          std::fill(mask, mask + features, padding);
          continue;
        }
        const auto first = static_cast<std::uint64_t>((r * lengths[c] + t) * features);
        for (std::int64_t f = 0; f < features; ++f) {
          const std::uint64_t z = splitmix64(keys[c] + (first + static_cast<std::uint64_t>(f) + 1) * kGolden);
          mask[f] = (z >> 40) < threshold ? kept : dropped;
        }
      }
    }
  }
}

// x >> s as unsigned, on int64 tensors (whose >> keeps the sign).
torch::Tensor shift_right(const torch::Tensor& x, int s) {
  return torch::bitwise_and(torch::bitwise_right_shift(x, s), static_cast<std::int64_t>((~0ULL) >> s));
}

// The same values with tensor operations (any device; int64 arithmetic wraps as uint64 does).
torch::Tensor tensor_mask(std::span<const std::uint64_t> keys, std::span<const std::int64_t> rows,
                          std::span<const std::int64_t> lengths, std::int64_t length, std::int64_t features,
                          double keep, const torch::TensorOptions& options) {
  const auto device = options.device();
  const auto ints = torch::TensorOptions().dtype(torch::kInt64);
  std::vector<std::int64_t> row_key, row_local, row_length;
  for (std::size_t c = 0; c < keys.size(); ++c) {
    for (std::int64_t r = 0; r < rows[c]; ++r) {
      row_key.push_back(static_cast<std::int64_t>(keys[c]));
      row_local.push_back(r);
      row_length.push_back(lengths[c]);
    }
  }
  const auto key = torch::tensor(row_key, ints).to(device).view({-1, 1, 1});
  const auto local = torch::tensor(row_local, ints).to(device).view({-1, 1, 1});
  const auto own_length = torch::tensor(row_length, ints).to(device).view({-1, 1, 1});
  const auto t = torch::arange(length, ints.device(device)).view({1, -1, 1});
  const auto f = torch::arange(features, ints.device(device)).view({1, 1, -1});
  const auto index = (local * own_length + t) * features + f + 1;
  auto z = key + index * static_cast<std::int64_t>(kGolden);
  z = torch::bitwise_xor(z, shift_right(z, 30)) * static_cast<std::int64_t>(kMix1);
  z = torch::bitwise_xor(z, shift_right(z, 27)) * static_cast<std::int64_t>(kMix2);
  z = torch::bitwise_xor(z, shift_right(z, 31));
  const auto kept = shift_right(z, 40).lt(keep_threshold(keep));
  auto mask = kept.to(options.dtype()) * (1.0 / keep);
  return torch::where(t.lt(own_length), mask, torch::ones({1}, options));
}

}  // namespace

torch::Tensor dropout_mask(std::span<const std::uint64_t> keys, std::span<const std::int64_t> rows,
                           std::span<const std::int64_t> lengths, std::int64_t length, std::int64_t features,
                           double keep, const torch::TensorOptions& options, bool tensor_ops) {
  FEDVLM_CHECK(keys.size() == rows.size() && keys.size() == lengths.size(),
               "dropout_mask: {} keys, {} row counts, {} lengths", keys.size(), rows.size(), lengths.size());
  FEDVLM_CHECK(keep > 0.0 && keep <= 1.0, "dropout_mask: keep probability {} outside (0, 1]", keep);
  if (tensor_ops || !options.device().is_cpu()) {
    return tensor_mask(keys, rows, lengths, length, features, keep, options);
  }
  const std::int64_t total_rows = std::accumulate(rows.begin(), rows.end(), std::int64_t{0});
  auto mask = torch::empty({total_rows, length, features}, options);
  if (mask.scalar_type() == torch::kFloat32) {
    fill_mask(mask.data_ptr<float>(), keys, rows, lengths, length, features, keep);
  } else {  // bf16, fp16, double: the float mask converted (1 / keep rounded as the dtype does)
    auto single = torch::empty({total_rows, length, features}, options.dtype(torch::kFloat32));
    fill_mask(single.data_ptr<float>(), keys, rows, lengths, length, features, keep);
    mask.copy_(single);
  }
  return mask;
}

std::uint64_t next_dropout_key(at::Generator& generator) {
  auto* cpu = at::check_generator<at::CPUGeneratorImpl>(generator);
  std::lock_guard<std::mutex> lock(generator.mutex());
  return cpu->random64();
}

torch::Tensor dropout_from(const torch::Tensor& x, double p, bool training, ForwardState& state) {
  if (!training || p <= 0.0) return x;
  if (state.clients != nullptr) return state.clients->dropout(x, p);
  FEDVLM_CHECK(x.dim() == 3, "dropout takes [rows, positions, features], got [{}]", fmt::join(x.sizes(), ", "));
  const std::uint64_t key = next_dropout_key(state.dropout);
  const std::int64_t rows = x.size(0), length = x.size(1);
  return x * dropout_mask({&key, 1}, {&rows, 1}, {&length, 1}, length, x.size(2), 1.0 - p,
                          x.options().requires_grad(false));
}

}  // namespace fedvlm::model
