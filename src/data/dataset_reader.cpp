#include <algorithm>
#include <map>
#include <optional>

#include "fedvlm/data/tokenizer.hpp"
#include "split_io.hpp"

namespace fedvlm::data {
namespace fs = std::filesystem;

namespace {

// An open shard: its /train datasets and the client index read once.
struct OpenShard {
  h5::Handle file;
  std::optional<SplitRows> train;
  std::vector<std::int64_t> client_ptr, client_id;
  std::uint64_t last_used = 0;
};

// Open shards kept at once (least recently used closed first): a rank reads mostly the shards
// of its home clients, and each open file holds HDF5 caches.
constexpr std::size_t kMaxOpenShards = 8;
// A client is read as one hyperslab, mostly once a round: a small chunk cache per dataset (an
// image chunk larger than it is read without caching) keeps an open shard at ~2 MB, not ~10.
constexpr std::size_t kShardChunkCacheBytes = 256 * 1024;

}  // namespace

struct DatasetReader::State {
  fs::path dir;
  DatasetInfo info;
  h5::Handle meta;
  std::map<std::string, SplitRows> splits;      // opened on first use
  std::map<std::int64_t, OpenShard> shards;     // opened on first use, kept open (at most kMaxOpenShards)
  std::uint64_t shard_uses = 0;
  std::optional<Tokenizer> tokenizer;           // checks token ids as they are read; loaded on first use

  const Tokenizer& token_checker();
  SplitRows& split(const std::string& name);
  OpenShard& shard(std::int64_t index);
};

const Tokenizer& DatasetReader::State::token_checker() {
  if (!tokenizer) {
    try {
      tokenizer.emplace(Tokenizer::from_serialized(info.tokenizer_model));
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}:/tokenizer/model: {}", (dir / "meta.h5").string(), e.what()));
    }
  }
  return *tokenizer;
}

SplitRows& DatasetReader::State::split(const std::string& name) {
  if (name != "public" && name != "test")
    throw InputError(fmt::format("{}: unknown split '{}' (public or test; train is per client)", dir.string(), name));
  auto it = splits.find(name);
  if (it == splits.end()) it = splits.emplace(name, SplitRows(meta.get(), name, info.image_shape, token_checker())).first;
  return it->second;
}

OpenShard& DatasetReader::State::shard(std::int64_t index) {
  auto it = shards.find(index);
  if (it != shards.end()) {
    it->second.last_used = ++shard_uses;
    return it->second;
  }
  if (shards.size() >= kMaxOpenShards) {
    const auto oldest = std::min_element(shards.begin(), shards.end(), [](const auto& a, const auto& b) {
      return a.second.last_used < b.second.last_used;
    });
    shards.erase(oldest);
  }
  OpenShard open;
  open.last_used = ++shard_uses;
  open.file = h5::open_file(dir / shard_file_name(index), false, kShardChunkCacheBytes);
  open.train.emplace(open.file.get(), "train", info.image_shape, token_checker());
  h5::Handle ptr = h5::open_dataset(open.train->group(), split_names::kClientPtr);
  h5::Handle ids = h5::open_dataset(open.train->group(), split_names::kClientId);
  open.client_ptr = h5::read_all<std::int64_t>(ptr.get());
  open.client_id = h5::read_all<std::int64_t>(ids.get());
  if (open.client_ptr.size() != open.client_id.size() + 1 || open.client_ptr.front() != 0 ||
      open.client_ptr.back() != open.train->size())
    throw InputError(fmt::format("{}: {} entries for {} clients, must start at 0 and end at {} samples",
                                 h5::describe(ptr.get()), open.client_ptr.size(), open.client_id.size(),
                                 open.train->size()));
  if (!std::is_sorted(open.client_id.begin(), open.client_id.end()))
    throw InputError(fmt::format("{}: client ids must increase", h5::describe(ids.get())));
  return shards.emplace(index, std::move(open)).first->second;
}

DatasetReader::DatasetReader(fs::path dir) : state_(std::make_unique<State>()) {
  std::lock_guard lock(h5::library_mutex());
  state_->dir = std::move(dir);
  const fs::path meta_path = state_->dir / "meta.h5";
  if (!fs::is_directory(state_->dir))
    throw InputError(fmt::format("{}: dataset directory does not exist", state_->dir.string()));
  if (!fs::exists(meta_path))
    throw InputError(fmt::format("{}: missing meta.h5 (not a fedvlm dataset directory)", state_->dir.string()));
  state_->meta = h5::open_file(meta_path);
  state_->info = read_meta(state_->meta.get());
}

DatasetReader::~DatasetReader() {
  if (!state_) return;
  std::lock_guard lock(h5::library_mutex());
  state_.reset();
}

DatasetReader::DatasetReader(DatasetReader&&) noexcept = default;
DatasetReader& DatasetReader::operator=(DatasetReader&&) noexcept = default;

const DatasetInfo& DatasetReader::info() const { return state_->info; }
const fs::path& DatasetReader::dir() const { return state_->dir; }

std::int64_t DatasetReader::client_samples(std::int64_t client) const {
  const auto& info = state_->info;
  if (client < 0 || client >= info.num_clients)
    throw InputError(fmt::format("{}: client {} out of range [0, {})", state_->dir.string(), client, info.num_clients));
  return info.client_samples[client];
}

Samples DatasetReader::read_client(std::int64_t client) {
  std::lock_guard lock(h5::library_mutex());
  client_samples(client);  // range check
  const std::int64_t index = state_->info.client_shard[client];
  OpenShard& shard = state_->shard(index);
  auto it = std::lower_bound(shard.client_id.begin(), shard.client_id.end(), client);
  if (it == shard.client_id.end() || *it != client)
    throw InputError(fmt::format("{}: client {} is not in {} although meta.h5:/clients/shard says so",
                                 state_->dir.string(), client, shard_file_name(index)));
  const auto k = it - shard.client_id.begin();
  return shard.train->read(shard.client_ptr[k], shard.client_ptr[k + 1]);
}

Samples DatasetReader::read_split(const std::string& split) {
  std::lock_guard lock(h5::library_mutex());
  SplitRows& rows = state_->split(split);
  return rows.read(0, rows.size());
}

Samples DatasetReader::read_split(const std::string& split, std::int64_t begin, std::int64_t end) {
  std::lock_guard lock(h5::library_mutex());
  return state_->split(split).read(begin, end);
}

std::int64_t DatasetReader::split_size(const std::string& split) {
  std::lock_guard lock(h5::library_mutex());
  return state_->split(split).size();
}

}  // namespace fedvlm::data
