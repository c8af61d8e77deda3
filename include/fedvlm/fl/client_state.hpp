// ClientStateStore: per-client flat tensors kept across rounds (SCAFFOLD's control variates cᵢ),
// sharded by home rank (fl/placement.hpp) and bounded in memory.
//
// Each rank keeps the states of the clients it is home to, and only those. A round:
//   begin_round(placement)  one alltoallv: each client trained away from home gets its state
//                           from its home rank (a flag row marks "no state yet");
//   get / put               during training, for the clients this rank trains;
//   end_round()             one alltoallv: the states put for visiting clients go home.
// When every client of the cohort trains at home, neither exchange sends anything. No rank ever
// holds the whole population's states, and nothing is all-gathered.
//
// Memory: at most `memory_budget_bytes` of home states stay resident (least recently used
// first out); the rest live in fixed-size slots of a per-rank spill file, read back on demand.
// A cohort's states are read once per round; the visiting states of a round are extra.
//
// Checkpoints: save_shard writes this rank's home states (all of them, resident or spilled) as
// one file; load_shards reads any number of shard files, written by any number of ranks, and
// keeps the clients this rank owns, so a run may resume on another number of ranks.
// Only clients that have trained hold a state; an absent client's state reads as zeros.
#pragma once

#include <cstdint>
#include <filesystem>
#include <list>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/types.h>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/fl/placement.hpp"

namespace fedvlm::fl {

struct ClientStateOptions {
  ClientOwnership ownership;                // which clients each rank keeps between rounds
  int rank = 0;                             // this rank
  std::int64_t memory_budget_bytes = -1;    // resident home states at most; < 0: unbounded
  std::filesystem::path spill_file;         // required with a budget; created on the first spill
};

class ClientStateStore {
 public:
  explicit ClientStateStore(ClientStateOptions options = {});
  ~ClientStateStore();
  ClientStateStore(const ClientStateStore&) = delete;
  ClientStateStore& operator=(const ClientStateStore&) = delete;

  // Replaces the options; drops every state (call it before the run's first reset).
  void configure(ClientStateOptions options);
  const ClientStateOptions& options() const { return options_; }
  // Drops every state; states now have `state_length` elements.
  void reset(std::int64_t state_length);
  std::int64_t state_length() const { return state_length_; }

  // Collective (every rank passes the same placement, one client list per rank): moves the
  // states of clients trained away from home to the ranks that train them.
  void begin_round(const std::vector<std::vector<std::int64_t>>& placement, comm::Communicator& comm);
  // Thread-safe. For a client this rank is home to, or trains this round. get() returns a CPU
  // float32 copy (zeros for a client without state); put() stores a copy of `state` (any device).
  torch::Tensor get(std::int64_t client) const;
  void put(std::int64_t client, const torch::Tensor& state);
  // Collective: the states put for visiting clients go home. Without begin_round (a single
  // rank, every client at home) it has nothing to do.
  void end_round(comm::Communicator& comm);

  bool contains(std::int64_t client) const;  // a home client with a stored state
  std::int64_t size() const;                 // home clients with a state
  std::int64_t memory_bytes() const;         // of the resident home states
  std::int64_t spilled() const;              // home states whose only copy is in the spill file
  std::int64_t spill_file_bytes() const;

  // This rank's home states, sorted by client, in one file written atomically:
  //   "fedvlm-client-states-1\n", int64 state length, int64 count, count × (int64 id, float32[n]).
  void save_shard(const std::filesystem::path& path) const;
  // Replaces every state by those in `shards` that this rank owns (InputError for a missing,
  // truncated or foreign file, or states of another length).
  void load_shards(std::span<const std::filesystem::path> shards);

 private:
  struct Entry {
    torch::Tensor resident;  // undefined while only the spill file holds it
    std::int64_t slot = -1;  // its slot in the spill file, once it has one
    bool dirty = false;      // resident and newer than its slot
    std::list<std::int64_t>::iterator lru;
  };
  struct Visitor {
    torch::Tensor state;     // undefined: the client has no state yet
    bool updated = false;    // put() this round
  };
  // With the lock held.
  torch::Tensor read_locked(std::int64_t client) const;
  void store_home_locked(std::int64_t client, torch::Tensor state);
  void touch_locked(Entry& entry, std::int64_t client) const;
  void evict_locked() const;
  void write_slot_locked(Entry& entry) const;
  torch::Tensor read_slot_locked(std::int64_t slot) const;
  void close_spill_locked();
  bool home_here(std::int64_t client) const;
  std::int64_t state_bytes() const { return state_length_ * static_cast<std::int64_t>(sizeof(float)); }

  ClientStateOptions options_;
  std::int64_t state_length_ = 0;
  mutable std::mutex mutex_;
  // The cache (resident tensors, LRU order, slots) changes on reads too: mutable.
  mutable std::unordered_map<std::int64_t, Entry> home_;
  mutable std::list<std::int64_t> lru_;  // resident home clients, most recently used first
  mutable std::int64_t resident_bytes_ = 0;
  mutable int spill_fd_ = -1;
  mutable std::int64_t next_slot_ = 0;
  std::map<std::int64_t, Visitor> visitors_;
  // This round's moves, set by begin_round: per peer rank, the clients sent there (home here,
  // trained there) and the clients received from there (trained here, home there), by id.
  std::vector<std::vector<std::int64_t>> lent_, borrowed_;
};

// Named-tensor archives (torch serialization), shared by checkpoint code in this module.
void save_tensor_map(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors);
std::map<std::string, torch::Tensor> load_tensor_map(const std::filesystem::path& path);

}  // namespace fedvlm::fl
