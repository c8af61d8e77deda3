// Client ownership and placement.
//
// Ownership: each rank is home to a contiguous block of clients aligned with the dataset's shards
// (rank r holds shards [r·S/R, (r+1)·S/R); with fewer shards than ranks, clients [r·K/R, (r+1)·K/R)).
// A rank caches the data and keeps the per-client state of its own clients only.
//
// Placement: which rank trains which cohort client. Clients stay at home unless that unbalances
// the round: the makespan (the most work any rank gets) is capped at what plain longest-
// processing-time greedy (LPT) achieves, so a home-first placement is never slower than LPT.
//   1. LPT: clients by decreasing work (ties: smaller id first), each to the least loaded rank
//      (ties: lower rank); its makespan is the cap, ≤ (4/3 − 1/(3·ranks))·optimal.
//   2. Home first: in the same order, each client goes home if that keeps its home within the
//      cap; the rest go, in order, to the least loaded rank.
//   3. Should step 2 exceed the cap, the LPT placement is used.
// Placement changes only the speed of a round (and which states move), never its result.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace fedvlm::fl {

class ClientOwnership {
 public:
  ClientOwnership() : ClientOwnership(0) {}
  // One rank home to every client.
  explicit ClientOwnership(std::int64_t num_clients);
  // Blocks of whole shards; `client_shard[c]` is client c's shard (non-decreasing, as written).
  static ClientOwnership aligned_with_shards(std::span<const std::int32_t> client_shard, int ranks);

  int ranks() const { return static_cast<int>(first_.size()) - 1; }
  std::int64_t num_clients() const { return first_.back(); }
  std::int64_t first(int rank) const { return first_[static_cast<std::size_t>(rank)]; }
  std::int64_t end(int rank) const { return first_[static_cast<std::size_t>(rank) + 1]; }
  int home(std::int64_t client) const;  // throws for an id outside [0, num_clients)
  bool owns(int rank, std::int64_t client) const { return first(rank) <= client && client < end(rank); }

 private:
  std::vector<std::int64_t> first_;  // [ranks + 1]: rank r is home to [first_[r], first_[r + 1])
};

// `work_of_client` is indexed by global client id (sample counts, or local step counts when
// local.steps fixes the work). Returns, per rank, its clients in increasing id order. Without
// `ownership` (or with one of another number of ranks) it is plain LPT.
// Throws when a cohort id is out of range or repeated, or world_size < 1.
std::vector<std::vector<std::int64_t>> place_clients(std::span<const std::int64_t> cohort,
                                                     std::span<const std::int64_t> work_of_client,
                                                     int world_size, const ClientOwnership* ownership = nullptr);

}  // namespace fedvlm::fl
