#include "fedvlm/fl/client_state.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>

#include <fmt/format.h>

#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/archive_io.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"

namespace fedvlm::fl {
namespace {

constexpr std::string_view kShardMagic = "fedvlm-client-states-1\n";

// pread/pwrite of a whole range, or an Error naming the spill file.
void transfer_all(bool writing, int fd, char* data, std::int64_t bytes, std::int64_t offset,
                  const std::filesystem::path& path) {
  while (bytes > 0) {
    const ssize_t done = writing ? ::pwrite(fd, data, static_cast<std::size_t>(bytes), offset)
                                 : ::pread(fd, data, static_cast<std::size_t>(bytes), offset);
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0)
      throw Error(fmt::format("client state spill file {}: {} failed at byte {} ({})", path.string(),
                              writing ? "write" : "read", offset, done < 0 ? std::strerror(errno) : "end of file"));
    data += done, bytes -= done, offset += done;
  }
}

std::vector<std::int64_t> row_counts(const std::vector<std::vector<std::int64_t>>& clients_per_rank) {
  std::vector<std::int64_t> counts;
  for (const auto& clients : clients_per_rank) counts.push_back(static_cast<std::int64_t>(clients.size()));
  return counts;
}

// One alltoallv of client states, a row per client: a flag (1: the state follows, 0: no state)
// and the state. Rank p gets the states of outgoing[p] (state_of: undefined for none); the rows
// from rank p are handed, in order, to receive(client, state) for the clients of incoming[p].
void exchange_states(comm::Communicator& comm, std::int64_t length,
                     const std::vector<std::vector<std::int64_t>>& outgoing,
                     const std::vector<std::vector<std::int64_t>>& incoming,
                     const std::function<torch::Tensor(std::int64_t)>& state_of,
                     const std::function<void(std::int64_t, torch::Tensor)>& receive) {
  std::int64_t rows = 0;
  for (const auto& clients : outgoing) rows += static_cast<std::int64_t>(clients.size());
  torch::Tensor send = torch::zeros({rows, length + 1});
  std::int64_t row = 0;
  for (const auto& clients : outgoing)
    for (const std::int64_t client : clients) {
      const torch::Tensor state = state_of(client);
      if (state.defined()) {
        send[row][0] = 1.0f;
        send[row].narrow(0, 1, length).copy_(state);
      }
      ++row;
    }
  const torch::Tensor received = comm::alltoallv(comm, send, row_counts(outgoing), row_counts(incoming));
  row = 0;
  for (const auto& clients : incoming)
    for (const std::int64_t client : clients) {
      const torch::Tensor moved = received[row++];
      receive(client, moved[0].item<float>() != 0.0f ? moved.narrow(0, 1, length).clone() : torch::Tensor());
    }
}

}  // namespace

ClientStateStore::ClientStateStore(ClientStateOptions options) { configure(std::move(options)); }

ClientStateStore::~ClientStateStore() {
  std::lock_guard lock(mutex_);
  close_spill_locked();
}

void ClientStateStore::configure(ClientStateOptions options) {
  FEDVLM_CHECK(options.rank >= 0 && options.rank < options.ownership.ranks(),
               "client states: rank {} is not one of the ownership's {} ranks", options.rank, options.ownership.ranks());
  FEDVLM_CHECK(options.memory_budget_bytes < 0 || !options.spill_file.empty(),
               "client states: a memory budget needs a spill file");
  std::lock_guard lock(mutex_);
  close_spill_locked();
  options_ = std::move(options);
  home_.clear(), lru_.clear(), visitors_.clear(), lent_.clear(), borrowed_.clear();
  resident_bytes_ = 0;
}

void ClientStateStore::reset(std::int64_t state_length) {
  FEDVLM_CHECK(state_length >= 0, "client state length must not be negative, got {}", state_length);
  std::lock_guard lock(mutex_);
  close_spill_locked();
  state_length_ = state_length;
  home_.clear(), lru_.clear(), visitors_.clear(), lent_.clear(), borrowed_.clear();
  resident_bytes_ = 0;
}

bool ClientStateStore::home_here(std::int64_t client) const {
  return client >= 0 && client < options_.ownership.num_clients() && options_.ownership.owns(options_.rank, client);
}

void ClientStateStore::begin_round(const std::vector<std::vector<std::int64_t>>& placement, comm::Communicator& comm) {
  const auto ranks = static_cast<std::size_t>(comm.size());
  FEDVLM_CHECK(placement.size() == ranks, "client states: a placement over {} ranks in a world of {}",
               placement.size(), ranks);
  FEDVLM_CHECK(options_.ownership.ranks() == comm.size() && options_.rank == comm.rank(),
               "client states are configured for rank {} of {}, but this is rank {} of {}", options_.rank,
               options_.ownership.ranks(), comm.rank(), comm.size());
  std::lock_guard lock(mutex_);
  visitors_.clear();
  lent_.assign(ranks, {});
  borrowed_.assign(ranks, {});
  const auto me = static_cast<std::size_t>(comm.rank());
  bool moves = false;  // the same on every rank: no exchange when every client trains at home
  for (std::size_t trainer = 0; trainer < ranks; ++trainer)
    for (const std::int64_t client : placement[trainer]) {
      const auto home = static_cast<std::size_t>(options_.ownership.home(client));
      if (home == trainer) continue;
      moves = true;
      if (home == me) lent_[trainer].push_back(client);
      if (trainer == me) borrowed_[home].push_back(client);
    }
  if (!moves) {
    lent_.clear(), borrowed_.clear();
    return;
  }
  exchange_states(
      comm, state_length_, lent_, borrowed_,
      [&](std::int64_t client) { return home_.contains(client) ? read_locked(client) : torch::Tensor(); },
      [&](std::int64_t client, torch::Tensor state) { visitors_[client].state = std::move(state); });
}

void ClientStateStore::end_round(comm::Communicator& comm) {
  std::lock_guard lock(mutex_);
  if (lent_.empty() && borrowed_.empty()) {  // nothing moved this round, on any rank
    visitors_.clear();
    return;
  }
  exchange_states(
      comm, state_length_, borrowed_, lent_,
      [&](std::int64_t client) {
        const Visitor& visitor = visitors_.at(client);
        return visitor.updated ? visitor.state : torch::Tensor();
      },
      [&](std::int64_t client, torch::Tensor state) {
        if (state.defined()) store_home_locked(client, std::move(state));
      });
  visitors_.clear(), lent_.clear(), borrowed_.clear();
}

torch::Tensor ClientStateStore::get(std::int64_t client) const {
  std::lock_guard lock(mutex_);
  if (const auto visitor = visitors_.find(client); visitor != visitors_.end())
    return visitor->second.state.defined() ? visitor->second.state.clone() : torch::zeros({state_length_});
  FEDVLM_CHECK(home_here(client), "client state: client {} is neither at home on rank {} nor trained there this round",
               client, options_.rank);
  if (!home_.contains(client)) return torch::zeros({state_length_});
  return read_locked(client).clone();
}

void ClientStateStore::put(std::int64_t client, const torch::Tensor& state) {
  FEDVLM_CHECK(state.dim() == 1 && state.numel() == state_length_,
               "client {} state must be a flat vector of length {}, got {} elements", client, state_length_,
               state.numel());
  torch::Tensor copy = state.detach().to(torch::kCPU, torch::kFloat32).contiguous().clone();
  std::lock_guard lock(mutex_);
  if (const auto visitor = visitors_.find(client); visitor != visitors_.end()) {
    visitor->second = {std::move(copy), true};
    return;
  }
  FEDVLM_CHECK(home_here(client), "client state: client {} is neither at home on rank {} nor trained there this round",
               client, options_.rank);
  store_home_locked(client, std::move(copy));
}

bool ClientStateStore::contains(std::int64_t client) const {
  std::lock_guard lock(mutex_);
  return home_.contains(client);
}

std::int64_t ClientStateStore::size() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::int64_t>(home_.size());
}

std::int64_t ClientStateStore::memory_bytes() const {
  std::lock_guard lock(mutex_);
  return resident_bytes_;
}

std::int64_t ClientStateStore::spilled() const {
  std::lock_guard lock(mutex_);
  return static_cast<std::int64_t>(home_.size() - lru_.size());
}

std::int64_t ClientStateStore::spill_file_bytes() const {
  std::lock_guard lock(mutex_);
  return next_slot_ * state_bytes();
}

// The resident tensor of a home client with a state (read from its slot if need be). The
// returned tensor stays valid while the lock is held, though eviction may drop it from the cache.
torch::Tensor ClientStateStore::read_locked(std::int64_t client) const {
  Entry& entry = home_.at(client);
  if (entry.resident.defined()) {
    touch_locked(entry, client);
    return entry.resident;
  }
  torch::Tensor state = read_slot_locked(entry.slot);
  entry.resident = state;
  entry.dirty = false;
  lru_.push_front(client);
  entry.lru = lru_.begin();
  resident_bytes_ += state_bytes();
  evict_locked();
  return state;
}

void ClientStateStore::store_home_locked(std::int64_t client, torch::Tensor state) {
  Entry& entry = home_[client];
  if (entry.resident.defined()) {
    touch_locked(entry, client);
  } else {
    lru_.push_front(client);
    entry.lru = lru_.begin();
    resident_bytes_ += state_bytes();
  }
  entry.resident = std::move(state);
  entry.dirty = true;
  evict_locked();
}

void ClientStateStore::touch_locked(Entry& entry, std::int64_t client) const {
  lru_.erase(entry.lru);
  lru_.push_front(client);
  entry.lru = lru_.begin();
}

void ClientStateStore::evict_locked() const {
  if (options_.memory_budget_bytes < 0) return;
  while (resident_bytes_ > options_.memory_budget_bytes && !lru_.empty()) {
    const std::int64_t client = lru_.back();
    Entry& entry = home_.at(client);
    if (entry.dirty || entry.slot < 0) write_slot_locked(entry);
    entry.resident = torch::Tensor();
    entry.dirty = false;
    lru_.pop_back();
    resident_bytes_ -= state_bytes();
  }
}

void ClientStateStore::write_slot_locked(Entry& entry) const {
  const auto& path = options_.spill_file;
  if (spill_fd_ < 0) {
    std::filesystem::create_directories(path.parent_path());
    spill_fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (spill_fd_ < 0)
      throw Error(fmt::format("client state spill file {}: cannot create it ({})", path.string(), std::strerror(errno)));
  }
  if (entry.slot < 0) entry.slot = next_slot_++;
  transfer_all(true, spill_fd_, static_cast<char*>(entry.resident.data_ptr()), state_bytes(), entry.slot * state_bytes(),
               path);
}

torch::Tensor ClientStateStore::read_slot_locked(std::int64_t slot) const {
  FEDVLM_CHECK(slot >= 0 && spill_fd_ >= 0, "client state: a spilled state without a slot");
  torch::Tensor state = torch::empty({state_length_});
  transfer_all(false, spill_fd_, static_cast<char*>(state.data_ptr()), state_bytes(), slot * state_bytes(),
               options_.spill_file);
  return state;
}

void ClientStateStore::close_spill_locked() {
  if (spill_fd_ >= 0) {
    ::close(spill_fd_);
    std::error_code ignored;
    std::filesystem::remove(options_.spill_file, ignored);
  }
  spill_fd_ = -1;
  next_slot_ = 0;
}

void ClientStateStore::save_shard(const std::filesystem::path& path) const {
  std::lock_guard lock(mutex_);
  std::vector<std::int64_t> clients;
  clients.reserve(home_.size());
  for (const auto& [client, entry] : home_) clients.push_back(client);
  std::sort(clients.begin(), clients.end());
  write_atomically(path, [&](const std::filesystem::path& temporary) {
    std::ofstream out(temporary, std::ios::binary);
    const std::int64_t header[2] = {state_length_, static_cast<std::int64_t>(clients.size())};
    out.write(kShardMagic.data(), static_cast<std::streamsize>(kShardMagic.size()));
    out.write(reinterpret_cast<const char*>(header), sizeof(header));
    for (const std::int64_t client : clients) {
      const Entry& entry = home_.at(client);
      // Spilled states are copied from their slot without entering the cache.
      const torch::Tensor state = entry.resident.defined() ? entry.resident : read_slot_locked(entry.slot);
      out.write(reinterpret_cast<const char*>(&client), sizeof(client));
      out.write(static_cast<const char*>(state.data_ptr()), state_bytes());
    }
    out.flush();
    if (!out)
      throw Error(fmt::format("cannot write the client states to {}: {} (is the disk full?)", path.string(),
                              std::strerror(errno)));
  });
}

void ClientStateStore::load_shards(std::span<const std::filesystem::path> shards) {
  std::lock_guard lock(mutex_);
  close_spill_locked();
  home_.clear(), lru_.clear(), visitors_.clear(), lent_.clear(), borrowed_.clear();
  resident_bytes_ = 0;
  for (const auto& path : shards) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: client state shard missing or unreadable", path.string()));
    std::string magic(kShardMagic.size(), '\0');
    std::int64_t header[2] = {0, 0};
    in.read(magic.data(), static_cast<std::streamsize>(magic.size()));
    in.read(reinterpret_cast<char*>(header), sizeof(header));
    if (!in || magic != kShardMagic)
      throw InputError(fmt::format("{}: not a fedvlm client state shard", path.string()));
    if (header[0] != state_length_)
      throw InputError(fmt::format("{}: states of length {}, this run's are {}", path.string(), header[0], state_length_));
    const auto expected = static_cast<std::uintmax_t>(kShardMagic.size() + sizeof(header) +
                                                      header[1] * (sizeof(std::int64_t) + state_bytes()));
    if (header[1] < 0 || std::filesystem::file_size(path) != expected)
      throw InputError(fmt::format("{}: {} bytes, but {} client states of length {} take {} (truncated or damaged)",
                                   path.string(), std::filesystem::file_size(path), header[1], state_length_, expected));
    for (std::int64_t i = 0; i < header[1]; ++i) {
      std::int64_t client = -1;
      in.read(reinterpret_cast<char*>(&client), sizeof(client));
      if (in && home_here(client)) {
        torch::Tensor state = torch::empty({state_length_});
        in.read(static_cast<char*>(state.data_ptr()), state_bytes());
        if (in) store_home_locked(client, std::move(state));
      } else if (in) {
        in.seekg(state_bytes(), std::ios::cur);
      }
      if (!in) throw InputError(fmt::format("{}: reading client state {} of {} failed", path.string(), i, header[1]));
    }
  }
}

void save_tensor_map(const std::filesystem::path& path, const std::map<std::string, torch::Tensor>& tensors) {
  torch::serialize::OutputArchive archive;
  for (const auto& [name, tensor] : tensors) archive.write(name, tensor.detach().to(torch::kCPU));
  save_archive(path, archive);
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
