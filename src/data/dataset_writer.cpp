#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <optional>
#include <tuple>

#include "fedvlm/core/fs.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "split_io.hpp"

namespace fedvlm::data {
namespace fs = std::filesystem;

struct DatasetWriter::State {
  fs::path target, temporary;
  DatasetInfo info;
  bool overwrite = false;
  bool committed = false;
  std::optional<Tokenizer> tokenizer;  // checks the stored token ids
  h5::Handle meta;
  std::optional<SplitAppender> public_split, test_split;
  // The shard being written: clients arrive in order, so one shard is open at a time.
  std::int64_t shard_index = -1;
  h5::Handle shard_file;
  std::optional<SplitAppender> shard_train;
  std::vector<std::int64_t> client_ptr, client_id;
  std::int64_t next_client = 0;

  void check_content(const Samples& samples, const std::string& where) const;
  void finish_shard();
  void close_all();
};

namespace {

fs::path normalized(fs::path dir) {
  dir = fs::absolute(dir).lexically_normal();
  return dir.has_filename() ? dir : dir.parent_path();
}

bool valid_box(const float* b) {
  if (std::isnan(b[0]) && std::isnan(b[1]) && std::isnan(b[2]) && std::isnan(b[3])) return true;
  for (int k = 0; k < 4; ++k)
    if (!(b[k] >= 0.0f && b[k] <= 1.0f)) return false;
  return b[0] <= b[2] && b[1] <= b[3];
}

}  // namespace

void DatasetWriter::State::check_content(const Samples& samples, const std::string& where) const {
  samples.check(where);
  const auto num_classes = static_cast<std::int32_t>(info.class_names.size());
  for (std::int64_t i = 0; i < samples.size(); ++i) {
    FEDVLM_CHECK(static_cast<std::size_t>(samples.task[i]) < info.tasks.size(), "{}: sample {} has task id {}, the dataset has {} tasks", where,
                 i, samples.task[i], info.tasks.size());
    FEDVLM_CHECK(samples.label[i] >= -1 && samples.label[i] < num_classes,
                 "{}: sample {} has label {}, outside [-1, {})", where, i, samples.label[i], num_classes);
    const float* b = samples.box.data() + 4 * i;
    FEDVLM_CHECK(valid_box(b), "{}: sample {} has box ({}, {}, {}, {}): must be in [0, 1] with x0 <= x1, y0 <= y1, or all NaN",
                 where, i, b[0], b[1], b[2], b[3]);
  }
  using Field = Tokenizer::Field;
  for (const auto& [name, tokens, field] : {std::tuple{"prompt", &samples.prompt, Field::prompt},
                                            std::tuple{"answer", &samples.answer, Field::answer}})
    for (std::size_t j = 0; j < tokens->size(); ++j)
      if (auto problem = tokenizer->stored_id_problem((*tokens)[j], field))
        throw InputError(fmt::format("{}: {}[{}] = {} {}", where, name, j, (*tokens)[j], *problem));
}

void DatasetWriter::State::finish_shard() {
  if (shard_index < 0) return;
  const hid_t group = shard_train->group();
  h5::write_all<std::int64_t>(group, split_names::kClientPtr, client_ptr, {static_cast<std::int64_t>(client_ptr.size())});
  h5::write_all<std::int64_t>(group, split_names::kClientId, client_id, {static_cast<std::int64_t>(client_id.size())});
  shard_train.reset();
  shard_file.reset();
  shard_index = -1;
}

void DatasetWriter::State::close_all() {
  shard_train.reset();
  shard_file.reset();
  public_split.reset();
  test_split.reset();
  meta.reset();
}

DatasetWriter::DatasetWriter(fs::path dir, DatasetInfo info, std::int64_t num_shards, bool overwrite)
    : state_(std::make_unique<State>()) {
  std::lock_guard lock(h5::library_mutex());
  State& s = *state_;
  s.target = normalized(dir);
  s.temporary = s.target.parent_path() / fmt::format(".{}.tmp-{}", s.target.filename().string(), ::getpid());
  s.overwrite = overwrite;
  if (fs::exists(s.target) && !overwrite)
    throw InputError(fmt::format("{}: already exists (pass overwrite to replace it)", s.target.string()));
  if (num_shards < 1) throw InputError(fmt::format("dataset {}: num_shards = {}, must be >= 1", s.target.string(), num_shards));
  if (info.num_clients < 0) throw InputError(fmt::format("dataset {}: num_clients = {}", s.target.string(), info.num_clients));
  if (info.image_shape.channels <= 0 || info.image_shape.height <= 0 || info.image_shape.width <= 0)
    throw InputError(fmt::format("dataset {}: image shape {}x{}x{} must be positive", s.target.string(),
                                 info.image_shape.channels, info.image_shape.height, info.image_shape.width));
  if (info.tasks.empty() || info.tasks.size() > 255)
    throw InputError(fmt::format("dataset {}: {} tasks, need 1 to 255", s.target.string(), info.tasks.size()));
  for (const auto& task : info.tasks)
    if (std::find(kTaskNames.begin(), kTaskNames.end(), task) == kTaskNames.end())
      throw InputError(fmt::format("dataset {}: unknown task '{}' (known: {})", s.target.string(), task,
                                   fmt::join(kTaskNames, ", ")));
  if (info.tokenizer_model.empty())
    throw InputError(fmt::format("dataset {}: no tokenizer model", s.target.string()));
  s.tokenizer.emplace(Tokenizer::from_serialized(info.tokenizer_model));

  // Contiguous client ranges, balanced by count: shard k holds [k*K/S, (k+1)*K/S).
  const std::int64_t shards = std::min(num_shards, info.num_clients);
  info.num_shards = shards;
  info.client_shard.assign(static_cast<std::size_t>(info.num_clients), 0);
  info.client_samples.assign(static_cast<std::size_t>(info.num_clients), 0);
  for (std::int64_t k = 0; k < shards; ++k)
    for (std::int64_t c = k * info.num_clients / shards; c < (k + 1) * info.num_clients / shards; ++c)
      info.client_shard[c] = static_cast<std::int32_t>(k);
  s.info = std::move(info);

  fs::create_directories(s.target.parent_path());
  remove_tree(s.temporary);  // a leftover of a crashed process that had our pid
  fs::create_directory(s.temporary);
  s.meta = h5::create_file(s.temporary / "meta.h5");
}

DatasetWriter::~DatasetWriter() {
  if (!state_ || state_->committed) return;
  std::lock_guard lock(h5::library_mutex());
  state_->close_all();
  std::error_code ignored;
  remove_tree(state_->temporary, ignored);
}

void DatasetWriter::write_split(const std::string& split, const Samples& samples) {
  std::lock_guard lock(h5::library_mutex());
  State& s = *state_;
  FEDVLM_CHECK(!s.committed, "dataset {}: write_split after commit", s.target.string());
  if (split != "public" && split != "test")
    throw InputError(fmt::format("dataset {}: unknown split '{}' (public or test)", s.target.string(), split));
  auto& appender = split == "public" ? s.public_split : s.test_split;
  if (!appender) appender.emplace(s.meta.get(), split, s.info.image_shape);
  s.check_content(samples, fmt::format("dataset {} split {}", s.target.string(), split));
  appender->append(samples);
}

void DatasetWriter::write_client(std::int64_t client_id, const Samples& samples) {
  const std::array<std::int64_t, 1> size{samples.size()};
  write_clients(client_id, size, samples);
}

void DatasetWriter::write_clients(std::int64_t first_client, std::span<const std::int64_t> sizes, const Samples& samples) {
  std::lock_guard lock(h5::library_mutex());
  State& s = *state_;
  const auto count = static_cast<std::int64_t>(sizes.size());
  FEDVLM_CHECK(!s.committed, "dataset {}: write_client after commit", s.target.string());
  FEDVLM_CHECK(first_client == s.next_client && first_client + count <= s.info.num_clients,
               "dataset {}: write_client({}) but the next client must be {} of {} (in increasing order, each once)",
               s.target.string(), first_client, s.next_client, s.info.num_clients);
  FEDVLM_CHECK(samples.empty() || samples.image_shape == s.info.image_shape,
               "dataset {}: client images are {}x{}x{}, the dataset's {}x{}x{}", s.target.string(),
               samples.image_shape.channels, samples.image_shape.height, samples.image_shape.width,
               s.info.image_shape.channels, s.info.image_shape.height, s.info.image_shape.width);
  std::int64_t total = 0;
  for (const auto size : sizes) {
    FEDVLM_CHECK(size >= 0, "dataset {}: a client of {} samples", s.target.string(), size);
    total += size;
  }
  FEDVLM_CHECK(total == samples.size(), "dataset {}: client sizes sum to {} but {} samples were given", s.target.string(),
               total, samples.size());
  s.check_content(samples, count == 1 ? fmt::format("dataset {} client {}", s.target.string(), first_client)
                                      : fmt::format("dataset {} clients {}..{}", s.target.string(), first_client,
                                                    first_client + count - 1));
  // One append per run of clients that share a shard.
  std::int64_t row = 0;
  for (std::int64_t i = 0; i < count;) {
    const std::int64_t shard = s.info.client_shard[first_client + i];
    if (shard != s.shard_index) {
      s.finish_shard();
      s.shard_file = h5::create_file(s.temporary / shard_file_name(shard));
      s.shard_train.emplace(s.shard_file.get(), "train", s.info.image_shape);
      s.shard_index = shard;
      s.client_ptr = {0};
      s.client_id.clear();
    }
    const std::int64_t run_begin = row;
    for (; i < count && s.info.client_shard[first_client + i] == shard; ++i) {
      const std::int64_t client = first_client + i;
      row += sizes[static_cast<std::size_t>(i)];
      s.client_ptr.push_back(s.shard_train->size() + row - run_begin);
      s.client_id.push_back(client);
      s.info.client_samples[client] = sizes[static_cast<std::size_t>(i)];
    }
    s.shard_train->append_rows(samples, run_begin, row);
  }
  s.next_client += count;
}

void DatasetWriter::commit() {
  std::lock_guard lock(h5::library_mutex());
  State& s = *state_;
  FEDVLM_CHECK(!s.committed, "dataset {}: commit twice", s.target.string());
  if (s.next_client != s.info.num_clients)
    throw InputError(fmt::format("dataset {}: commit after {} of {} clients", s.target.string(), s.next_client,
                                 s.info.num_clients));
  s.finish_shard();
  if (!s.public_split) s.public_split.emplace(s.meta.get(), "public", s.info.image_shape);  // empty splits are valid
  if (!s.test_split) s.test_split.emplace(s.meta.get(), "test", s.info.image_shape);
  write_meta(s.meta.get(), s.info);
  s.close_all();
  for (const auto& entry : fs::directory_iterator(s.temporary)) fsync_path(entry.path());
  fsync_path(s.temporary);

  // Replace an old dataset by moving it aside first: at every instant one complete version exists.
  fs::path old;
  if (fs::exists(s.target)) {
    if (!s.overwrite) throw InputError(fmt::format("{}: appeared while writing; not replaced", s.target.string()));
    old = s.target.parent_path() / fmt::format(".{}.old-{}", s.target.filename().string(), ::getpid());
    remove_tree(old);
    fs::rename(s.target, old);
  }
  fs::rename(s.temporary, s.target);
  s.committed = true;
  fsync_path(s.target.parent_path());
  if (!old.empty()) remove_tree(old);
}

}  // namespace fedvlm::data
