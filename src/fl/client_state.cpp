#include "fedvlm/fl/client_state.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"

namespace fedvlm::fl {
namespace {

constexpr std::string_view kClientPrefix = "client_";

std::int64_t parse_client_name(const std::string& name) {
  std::int64_t client = -1;
  const char* first = name.data() + kClientPrefix.size();
  const char* last = name.data() + name.size();
  const auto [end, error] = std::from_chars(first, last, client);
  FEDVLM_CHECK(name.starts_with(kClientPrefix) && error == std::errc() && end == last && client >= 0,
               "client state entry '{}' is not named client_<id>", name);
  return client;
}

}  // namespace

ClientStateStore::ClientStateStore(std::int64_t state_length) { reset(state_length); }

void ClientStateStore::reset(std::int64_t state_length) {
  FEDVLM_CHECK(state_length >= 0, "client state length must not be negative, got {}", state_length);
  std::lock_guard lock(mutex_);
  state_length_ = state_length;
  states_.clear();
  pending_.clear();
}

bool ClientStateStore::contains(std::int64_t client) const {
  std::lock_guard lock(mutex_);
  return states_.contains(client);
}

torch::Tensor ClientStateStore::get(std::int64_t client) const {
  std::lock_guard lock(mutex_);
  const auto found = states_.find(client);
  if (found == states_.end()) return torch::zeros({state_length_});
  return found->second.clone();
}

void ClientStateStore::put(std::int64_t client, const torch::Tensor& state) {
  FEDVLM_CHECK(client >= 0, "client state: bad client id {}", client);
  FEDVLM_CHECK(state.dim() == 1 && state.numel() == state_length_,
               "client {} state must be a flat vector of length {}, got {} elements", client, state_length_,
               state.numel());
  torch::Tensor copy = state.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone();
  std::lock_guard lock(mutex_);
  states_[client] = std::move(copy);
  if (std::find(pending_.begin(), pending_.end(), client) == pending_.end()) pending_.push_back(client);
}

std::int64_t ClientStateStore::size() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::int64_t>(states_.size());
}

std::int64_t ClientStateStore::memory_bytes() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::int64_t>(states_.size()) * state_length_ * static_cast<std::int64_t>(sizeof(float));
}

std::vector<std::int64_t> ClientStateStore::pending() const {
  std::lock_guard lock(mutex_);
  std::vector<std::int64_t> sorted = pending_;
  std::sort(sorted.begin(), sorted.end());
  return sorted;
}

void ClientStateStore::sync(comm::Communicator& comm) {
  const std::vector<std::int64_t> mine = pending();
  const auto ranks = static_cast<std::int64_t>(comm.size());

  // 1. How many states each rank contributes.
  const torch::Tensor counts =
      comm::allgather(comm, torch::tensor({static_cast<std::int64_t>(mine.size())}, torch::kInt64)).flatten();
  const std::int64_t block = counts.max().item<std::int64_t>();
  if (block == 0) return;

  // 2. Fixed-size blocks of `block` ids (padded with -1) and `block` states (padded with zeros).
  torch::Tensor ids = torch::full({block}, -1, torch::kInt64);
  torch::Tensor states = torch::zeros({block, state_length_});
  {
    std::lock_guard lock(mutex_);
    for (std::size_t i = 0; i < mine.size(); ++i) {
      ids[static_cast<std::int64_t>(i)] = mine[i];
      states[static_cast<std::int64_t>(i)].copy_(states_.at(mine[i]));
    }
  }
  const torch::Tensor all_ids = comm::allgather(comm, ids).reshape({ranks * block});
  const torch::Tensor all_states = comm::allgather(comm, states).reshape({ranks * block, state_length_});

  std::lock_guard lock(mutex_);
  std::vector<std::int64_t> received;
  for (std::int64_t rank = 0; rank < ranks; ++rank) {
    const std::int64_t contributed = counts[rank].item<std::int64_t>();
    for (std::int64_t i = 0; i < contributed; ++i) {
      const std::int64_t row = rank * block + i;
      const std::int64_t client = all_ids[row].item<std::int64_t>();
      received.push_back(client);
      if (rank != comm.rank()) states_[client] = all_states[row].clone();
    }
  }
  std::sort(received.begin(), received.end());
  const auto repeated = std::adjacent_find(received.begin(), received.end());
  FEDVLM_CHECK(repeated == received.end(), "client state sync: client {} was updated on more than one rank",
               repeated == received.end() ? -1 : *repeated);
  pending_.clear();
}

std::map<std::string, torch::Tensor> ClientStateStore::state_dict() const {
  std::lock_guard lock(mutex_);
  std::map<std::string, torch::Tensor> state;
  for (const auto& [client, tensor] : states_) state[fmt::format("{}{}", kClientPrefix, client)] = tensor.clone();
  return state;
}

void ClientStateStore::load_state_dict(const std::map<std::string, torch::Tensor>& state) {
  std::map<std::int64_t, torch::Tensor> loaded;
  for (const auto& [name, tensor] : state) {
    const std::int64_t client = parse_client_name(name);
    FEDVLM_CHECK(tensor.dim() == 1 && tensor.numel() == state_length_ && tensor.scalar_type() == torch::kFloat32,
                 "client state '{}' must be float32 of length {}, got {} elements", name, state_length_,
                 tensor.numel());
    loaded[client] = tensor.to(torch::kCPU).contiguous().clone();
  }
  std::lock_guard lock(mutex_);
  states_ = std::move(loaded);
  pending_.clear();
}

void ClientStateStore::save(const std::filesystem::path& path, const comm::Communicator& comm) const {
  if (!comm.is_root()) return;
  auto state = state_dict();
  state["length"] = torch::tensor({state_length_}, torch::kInt64);
  save_tensor_map(path, state);
}

void ClientStateStore::load(const std::filesystem::path& path) {
  auto state = load_tensor_map(path);
  const auto length = state.find("length");
  FEDVLM_CHECK(length != state.end(), "{}: not a client state file (no 'length' entry)", path.string());
  const std::int64_t saved_length = length->second.item<std::int64_t>();
  state.erase(length);
  reset(saved_length);
  load_state_dict(state);
}

void save_tensor_map(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors) {
  write_atomically(path, [&](const std::filesystem::path& temporary) {
    torch::serialize::OutputArchive archive;
    for (const auto& [name, tensor] : tensors) archive.write(name, tensor.detach().to(torch::kCPU));
    archive.save_to(temporary.string());
  });
}

std::map<std::string, torch::Tensor> load_tensor_map(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) throw InputError(fmt::format("{}: no such file", path.string()));
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string());
  } catch (const c10::Error& error) {
    throw InputError(fmt::format("{}: not a readable tensor archive ({})", path.string(), error.what_without_backtrace()));
  }
  std::map<std::string, torch::Tensor> tensors;
  for (const std::string& name : archive.keys()) {
    torch::Tensor tensor;
    if (archive.try_read(name, tensor)) tensors[name] = tensor;  // skips non-tensor attributes ("training")
  }
  return tensors;
}

}  // namespace fedvlm::fl
