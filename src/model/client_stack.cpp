#include "fedvlm/model/client_stack.hpp"

#include <algorithm>
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
  const double keep = 1.0 - p;
  std::vector<torch::Tensor> masks;
  masks.reserve(rows_.size());
  for (std::size_t c = 0; c < rows_.size(); ++c) {
    FEDVLM_CHECK(lengths_[c] <= x.size(1), "client stack: client {}'s sequence of {} exceeds the batch's {}", c,
                 lengths_[c], x.size(1));
    auto mask = torch::empty({rows_[c], lengths_[c], x.size(2)}, x.options().requires_grad(false))
                    .bernoulli_(keep, generators_[c]);
    // Padding positions past the client's own length reach no real token (causal) and no loss.
    if (lengths_[c] < x.size(1)) mask = torch::constant_pad_nd(mask, {0, 0, 0, x.size(1) - lengths_[c]}, 1.0);
    masks.push_back(std::move(mask));
  }
  return x * torch::cat(masks, 0) / keep;
}

torch::Tensor ClientStack::client_means(const torch::Tensor& values, const torch::Tensor& rows) const {
  const auto client = row_client_.index_select(0, rows);
  const auto sums = torch::zeros({clients_}, values.options()).index_add(0, client, values);
  const auto counts = torch::zeros({clients_}, values.options()).index_add(0, client, torch::ones_like(values));
  return sums / counts;
}


torch::Tensor dropout_from(const torch::Tensor& x, double p, bool training, ForwardState& state) {
  if (!training || p <= 0.0) return x;
  if (state.clients != nullptr) return state.clients->dropout(x, p);
  const double keep = 1.0 - p;
  auto mask = torch::empty_like(x, x.options().requires_grad(false)).bernoulli_(keep, state.dropout);
  return x * mask / keep;
}

}  // namespace fedvlm::model
