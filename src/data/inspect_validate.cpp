// validate_dataset: reads every array except the pixels and reports each broken invariant of
// docs/data-format.md, continuing past problems so one run lists everything.
#include <algorithm>
#include <cstdio>
#include <cmath>
#include <map>
#include <optional>

#include "fedvlm/data/inspect.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "split_io.hpp"

namespace fedvlm::data {
namespace fs = std::filesystem;
namespace {

class Collector {
 public:
  Collector(std::vector<Violation>& out, std::int64_t limit) : out_(out), limit_(limit) {}
  // `kind` groups messages of one check so a broken array reports at most `limit` of them.
  void add(const std::string& file, const std::string& path, const std::string& kind, std::string message) {
    std::int64_t& seen = counts_[file + path + "|" + kind];
    if (++seen <= limit_) out_.push_back({file, path, std::move(message)});
    if (seen == limit_ + 1) out_.push_back({file, path, fmt::format("further '{}' violations not listed", kind)});
  }

 private:
  std::vector<Violation>& out_;
  std::int64_t limit_;
  std::map<std::string, std::int64_t> counts_;
};

struct Context {
  Collector& report;
  const DatasetInfo& info;
  std::optional<Tokenizer> tokenizer;  // absent when the tokenizer does not load
};

// One split group of one file.
class SplitValidator {
 public:
  SplitValidator(Context& context, std::string file, hid_t location, std::string group)
      : c_(context), file_(std::move(file)), group_name_(std::move(group)) {
    if (!h5::exists(location, group_name_)) {
      add("/" + group_name_, "missing", "missing group");
      return;
    }
    group_ = h5::open_group(location, group_name_);
  }

  // Returns the number of rows when the split is readable enough to check its contents.
  std::optional<std::int64_t> run() {
    if (!group_) return std::nullopt;
    auto task = read<std::uint8_t>(split_names::kTask);
    auto label = read<std::int32_t>(split_names::kLabel);
    auto box = read<float>(split_names::kBox);
    if (!task) return std::nullopt;
    const std::int64_t n = static_cast<std::int64_t>(task->size());
    if (!expect_shape(split_names::kTask, dims_[split_names::kTask], {n})) return std::nullopt;
    const auto& shape = c_.info.image_shape;
    if (h5::exists(group_.get(), split_names::kImages)) {
      h5::Handle images = h5::open_dataset(group_.get(), split_names::kImages);
      expect_shape(split_names::kImages, h5::dims(images.get()), {n, shape.channels, shape.height, shape.width});
      check_type<std::uint8_t>(images.get(), split_names::kImages);
    } else {
      add(path(split_names::kImages), "missing", "missing dataset");
    }
    for (std::int64_t i = 0; i < n; ++i)
      if (static_cast<std::size_t>((*task)[i]) >= c_.info.tasks.size())
        add(path(split_names::kTask), "range", fmt::format("task[{}] = {} but meta.h5 lists {} tasks", i, (*task)[i], c_.info.tasks.size()));
    if (label && expect_shape(split_names::kLabel, dims_[split_names::kLabel], {n})) {
      const auto classes = static_cast<std::int32_t>(c_.info.class_names.size());
      for (std::int64_t i = 0; i < n; ++i)
        if ((*label)[i] < -1 || (*label)[i] >= classes)
          add(path(split_names::kLabel), "range", fmt::format("label[{}] = {} outside [-1, {})", i, (*label)[i], classes));
    }
    if (box && expect_shape(split_names::kBox, dims_[split_names::kBox], {n, 4})) check_boxes(*box, n);
    check_tokens(split_names::kPrompt, split_names::kPromptPtr, n);
    check_tokens(split_names::kAnswer, split_names::kAnswerPtr, n);
    return n;
  }

  hid_t group() const { return group_.get(); }
  std::string path(const std::string& name) const { return "/" + group_name_ + "/" + name; }
  void add(const std::string& where, const std::string& kind, std::string message) {
    c_.report.add(file_, where, kind, std::move(message));
  }

  template <class T>
  std::optional<std::vector<T>> read(const std::string& name) {
    if (!h5::exists(group_.get(), name)) {
      add(path(name), "missing", "missing dataset");
      return std::nullopt;
    }
    h5::Handle dataset = h5::open_dataset(group_.get(), name);
    dims_[name] = h5::dims(dataset.get());
    if (!check_type<T>(dataset.get(), name)) return std::nullopt;
    return h5::read_all<T>(dataset.get());
  }

  bool expect_shape(const std::string& name, const std::vector<std::int64_t>& actual,
                    const std::vector<std::int64_t>& expected) {
    if (actual == expected) return true;
    add(path(name), "shape", fmt::format("shape [{}], expected [{}]", fmt::join(actual, ", "), fmt::join(expected, ", ")));
    return false;
  }

 private:
  template <class T>
  bool check_type(hid_t dataset, const std::string& name) {
    try {
      h5::check_type<T>(dataset);
      return true;
    } catch (const InputError&) {
      add(path(name), "type", fmt::format("stored as {}, expected {}", h5::type_name(dataset),
                                          std::is_same_v<T, float> ? "float32" : std::is_same_v<T, std::uint8_t> ? "uint8"
                                          : std::is_same_v<T, std::int32_t> ? "int32" : "int64"));
      return false;
    }
  }

  void check_boxes(const std::vector<float>& box, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      const float* b = box.data() + 4 * i;
      const int nans = std::isnan(b[0]) + std::isnan(b[1]) + std::isnan(b[2]) + std::isnan(b[3]);
      bool ok = nans == 4 || (nans == 0 && b[0] >= 0 && b[1] >= 0 && b[2] <= 1 && b[3] <= 1 && b[0] <= b[2] && b[1] <= b[3]);
      if (!ok)
        add(path(split_names::kBox), "value",
            fmt::format("box[{}] = ({}, {}, {}, {}): need 0 <= x0 <= x1 <= 1, 0 <= y0 <= y1 <= 1, or all NaN", i, b[0],
                        b[1], b[2], b[3]));
    }
  }

  void check_tokens(const std::string& tokens_name, const std::string& ptr_name, std::int64_t n) {
    auto tokens = read<std::int32_t>(tokens_name);
    auto ptr = read<std::int64_t>(ptr_name);
    if (tokens && dims_[tokens_name].size() != 1) add(path(tokens_name), "shape", "must have one dimension");
    if (tokens && c_.tokenizer)
      for (std::size_t j = 0; j < tokens->size(); ++j)
        if (auto problem = c_.tokenizer->stored_id_problem(
                (*tokens)[j], tokens_name == "prompt" ? Tokenizer::Field::prompt : Tokenizer::Field::answer))
          add(path(tokens_name), "range", fmt::format("{}[{}] = {} {}", tokens_name, j, (*tokens)[j], *problem));
    if (!ptr || !expect_shape(ptr_name, dims_[ptr_name], {n + 1})) return;
    const auto& p = *ptr;
    if (p[0] != 0) add(path(ptr_name), "start", fmt::format("{}[0] = {}, must be 0", ptr_name, p[0]));
    for (std::int64_t i = 0; i < n; ++i)
      if (p[i + 1] < p[i])
        add(path(ptr_name), "order", fmt::format("{}[{}] = {} < {}[{}] = {}: pointers must not decrease", ptr_name,
                                                 i + 1, p[i + 1], ptr_name, i, p[i]));
    if (tokens && p[n] != static_cast<std::int64_t>(tokens->size()))
      add(path(ptr_name), "end", fmt::format("{}[{}] = {}, but {} has {} entries", ptr_name, n, p[n], tokens_name,
                                             tokens->size()));
  }

  Context& c_;
  std::string file_, group_name_;
  h5::Handle group_;
  std::map<std::string, std::vector<std::int64_t>> dims_;
};

void validate_meta_fields(Context& c, hid_t meta) {
  const auto& info = c.info;
  for (std::size_t t = 0; t < info.tasks.size(); ++t) {
    if (std::find(kTaskNames.begin(), kTaskNames.end(), info.tasks[t]) == kTaskNames.end())
      c.report.add("meta.h5", "/", "tasks", fmt::format("tasks[{}] = '{}' is not one of {}", t, info.tasks[t], fmt::join(kTaskNames, ", ")));
    if (std::count(info.tasks.begin(), info.tasks.end(), info.tasks[t]) > 1)
      c.report.add("meta.h5", "/", "tasks", fmt::format("tasks[{}] = '{}' is listed twice", t, info.tasks[t]));
  }
  if (info.tasks.empty()) c.report.add("meta.h5", "/", "tasks", "attribute tasks is empty");
  try {
    c.tokenizer.emplace(Tokenizer::from_serialized(info.tokenizer_model));
  } catch (const Error& e) {
    c.report.add("meta.h5", "/tokenizer/model", "tokenizer", fmt::format("not a usable tokenizer: {}", e.what()));
  }
  for (std::int64_t k = 1; k < info.num_clients; ++k)
    if (info.client_shard[k] < info.client_shard[k - 1])
      c.report.add("meta.h5", "/clients/shard", "order",
                   fmt::format("shard[{}] = {} < shard[{}] = {}: shards hold contiguous, increasing client ranges", k,
                               info.client_shard[k], k - 1, info.client_shard[k - 1]));
  for (std::int64_t k = 0; k < info.num_clients; ++k)
    if (info.client_samples[k] < 0)
      c.report.add("meta.h5", "/clients/num_samples", "range", fmt::format("num_samples[{}] = {} is negative", k, info.client_samples[k]));
}

void validate_shard(Context& c, const fs::path& dir, std::int64_t index, std::vector<std::int64_t>& seen) {
  const std::string name = shard_file_name(index);
  if (!fs::exists(dir / name)) {
    c.report.add(name, "/", "missing", "missing shard file (meta.h5:/clients/shard refers to it)");
    return;
  }
  h5::Handle file = h5::open_file(dir / name);
  SplitValidator split(c, name, file.get(), "train");
  auto n = split.run();
  if (!split.group()) return;
  auto ptr = split.read<std::int64_t>(split_names::kClientPtr);
  auto ids = split.read<std::int64_t>(split_names::kClientId);
  if (!ptr || !ids) return;
  const auto k = static_cast<std::int64_t>(ids->size());
  const std::string ptr_path = split.path(split_names::kClientPtr), id_path = split.path(split_names::kClientId);
  if (!split.expect_shape(split_names::kClientPtr, {static_cast<std::int64_t>(ptr->size())}, {k + 1})) return;
  if ((*ptr)[0] != 0) split.add(ptr_path, "start", fmt::format("client_ptr[0] = {}, must be 0", (*ptr)[0]));
  if (n && (*ptr)[k] != *n) split.add(ptr_path, "end", fmt::format("client_ptr[{}] = {}, the split has {} samples", k, (*ptr)[k], *n));
  for (std::int64_t j = 0; j < k; ++j) {
    const std::int64_t id = (*ids)[j];
    if ((*ptr)[j + 1] < (*ptr)[j])
      split.add(ptr_path, "order", fmt::format("client_ptr[{}] = {} < client_ptr[{}] = {}", j + 1, (*ptr)[j + 1], j, (*ptr)[j]));
    if (j > 0 && id <= (*ids)[j - 1])
      split.add(id_path, "order", fmt::format("client_id[{}] = {} after {}: ids must increase", j, id, (*ids)[j - 1]));
    if (id < 0 || id >= c.info.num_clients) {
      split.add(id_path, "range", fmt::format("client_id[{}] = {} outside [0, {})", j, id, c.info.num_clients));
      continue;
    }
    ++seen[id];
    if (c.info.client_shard[id] != index)
      split.add(id_path, "placement", fmt::format("client_id[{}] = {} but meta.h5:/clients/shard[{}] = {}", j, id, id, c.info.client_shard[id]));
    // Pointers near int64's limits have no difference (found by tests/fuzz/fuzz_dataset_fields):
    // what is wrong with them is reported as "order", "start" or "end".
    std::int64_t count = 0;
    if (!__builtin_sub_overflow((*ptr)[j + 1], (*ptr)[j], &count) && count != c.info.client_samples[id])
      split.add(ptr_path, "count", fmt::format("client {} has {} samples here, meta.h5:/clients/num_samples[{}] = {}", id,
                                               count, id, c.info.client_samples[id]));
  }
}

}  // namespace

std::vector<Violation> validate_dataset(const fs::path& dir, std::int64_t max_per_check) {
  std::lock_guard lock(h5::library_mutex());
  std::vector<Violation> violations;
  Collector report(violations, max_per_check);
  if (!fs::is_directory(dir)) {
    report.add(dir.string(), "", "missing", "not a directory");
    return violations;
  }
  DatasetInfo info;
  h5::Handle meta;
  try {
    meta = h5::open_file(dir / "meta.h5");
    info = read_meta(meta.get());
  } catch (const Error& e) {  // nothing else can be checked without meta.h5's description
    report.add("meta.h5", "/", "meta", e.what());
    return violations;
  }
  Context context{report, info, std::nullopt};
  validate_meta_fields(context, meta.get());
  for (const char* split : {"public", "test"}) {
    try {
      SplitValidator(context, "meta.h5", meta.get(), split).run();
    } catch (const Error& e) {
      report.add("meta.h5", std::string("/") + split, "read", e.what());
    }
  }
  std::vector<std::int64_t> seen(static_cast<std::size_t>(info.num_clients), 0);
  // The shards the clients name, not 0 .. num_shards - 1: a damaged /clients/shard holding
  // 2147483647 would have this count (and look for) two billion files.
  std::vector<std::int64_t> shards(info.client_shard.begin(), info.client_shard.end());
  std::sort(shards.begin(), shards.end());
  shards.erase(std::unique(shards.begin(), shards.end()), shards.end());
  for (const std::int64_t s : shards) {
    try {
      validate_shard(context, dir, s, seen);
    } catch (const Error& e) {
      report.add(shard_file_name(s), "/", "read", e.what());
    }
  }
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    long index = -1;
    if (std::sscanf(name.c_str(), "shard-%ld.h5", &index) == 1 &&
        (!std::binary_search(shards.begin(), shards.end(), index) || name != shard_file_name(index)))
      report.add(name, "/", "extra", fmt::format("no client of meta.h5:/clients/shard is in this file ({} shards)", shards.size()));
  }
  for (std::int64_t id = 0; id < info.num_clients; ++id)
    if (seen[id] != 1)
      report.add("meta.h5", "/clients", "coverage",
                 fmt::format("client {} appears in {} shards' client_id, must be exactly 1", id, seen[id]));
  return violations;
}

}  // namespace fedvlm::data
