// ClientStateStore: per-client flat tensors kept across rounds (SCAFFOLD's control variates cᵢ).
//
// Clients move between ranks from round to round, so the store is replicated: every rank holds
// every client's state in memory, and after each round sync() all-gathers the states updated on
// each rank. Memory: N·n float32 per rank for N clients of a length-n vector (e.g. 1000 clients
// × 1M LoRA parameters = 4 GB per rank); a disk-backed (or owner-sharded) store is the next step
// for populations where that does not fit. Only clients that have trained hold an entry; an
// absent client's state reads as zeros.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <torch/types.h>

#include "fedvlm/comm/communicator.hpp"

namespace fedvlm::fl {

class ClientStateStore {
 public:
  explicit ClientStateStore(std::int64_t state_length = 0);

  // Drops every state; states now have `state_length` elements.
  void reset(std::int64_t state_length);
  std::int64_t state_length() const { return state_length_; }

  // Thread-safe. get() returns a CPU float32 copy (zeros for a client without state).
  bool contains(std::int64_t client) const;
  torch::Tensor get(std::int64_t client) const;
  // Stores a copy of `state` (any device, length state_length) and marks it for the next sync.
  void put(std::int64_t client, const torch::Tensor& state);

  std::int64_t size() const;          // clients with a state
  std::int64_t memory_bytes() const;  // of the stored states
  std::vector<std::int64_t> pending() const;  // clients put() since the last sync, sorted

  // Collective: every rank ends with the states every rank put() since the last sync.
  // Ranks may contribute different numbers of clients (counts are gathered first, then
  // fixed-size padded blocks). A client put on two ranks in one round is an error.
  void sync(comm::Communicator& comm);

  // Checkpoints: named tensors "client_<id>" (CPU float32). load replaces the whole store.
  std::map<std::string, torch::Tensor> state_dict() const;
  void load_state_dict(const std::map<std::string, torch::Tensor>& state);
  // A file (torch archive) written atomically by rank 0 only; load() reads it on any rank.
  void save(const std::filesystem::path& path, const comm::Communicator& comm) const;
  void load(const std::filesystem::path& path);

 private:
  std::int64_t state_length_ = 0;
  mutable std::mutex mutex_;
  std::map<std::int64_t, torch::Tensor> states_;
  std::vector<std::int64_t> pending_;
};

// Named-tensor archives (torch serialization), shared by checkpoint code in this module.
void save_tensor_map(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors);
std::map<std::string, torch::Tensor> load_tensor_map(const std::filesystem::path& path);

}  // namespace fedvlm::fl
