// dataset_statistics: sizes, task mix and label heterogeneity of a partition, from the
// task/label columns only.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "fedvlm/data/inspect.hpp"
#include "split_io.hpp"

namespace fedvlm::data {
namespace {

std::vector<double> normalized(std::span<const std::int64_t> counts) {
  const double total = static_cast<double>(std::accumulate(counts.begin(), counts.end(), std::int64_t{0}));
  std::vector<double> p(counts.size(), 0.0);
  if (total > 0)
    for (std::size_t c = 0; c < counts.size(); ++c) p[c] = static_cast<double>(counts[c]) / total;
  return p;
}

void count_tasks(SplitStatistics& split, const std::vector<std::uint8_t>& task, std::size_t num_tasks) {
  split.per_task.resize(num_tasks, 0);
  split.samples += static_cast<std::int64_t>(task.size());
  for (std::uint8_t t : task)
    if (static_cast<std::size_t>(t) < num_tasks) ++split.per_task[t];
}

}  // namespace

double entropy_bits(std::span<const std::int64_t> counts) {
  double h = 0;
  for (double p : normalized(counts))
    if (p > 0) h -= p * std::log2(p);
  return h;
}

double total_variation(std::span<const std::int64_t> counts, std::span<const std::int64_t> reference) {
  FEDVLM_CHECK(counts.size() == reference.size(), "histograms of {} and {} classes", counts.size(), reference.size());
  auto p = normalized(counts), q = normalized(reference);
  double sum = 0;
  for (std::size_t c = 0; c < p.size(); ++c) sum += std::abs(p[c] - q[c]);
  return 0.5 * sum;
}

double earth_movers_1d(std::span<const std::int64_t> counts, std::span<const std::int64_t> reference) {
  FEDVLM_CHECK(counts.size() == reference.size(), "histograms of {} and {} classes", counts.size(), reference.size());
  auto p = normalized(counts), q = normalized(reference);
  double cdf_difference = 0, sum = 0;
  for (std::size_t c = 0; c + 1 < p.size(); ++c) {  // the last CDF difference is always 0
    cdf_difference += p[c] - q[c];
    sum += std::abs(cdf_difference);
  }
  return sum;
}

DatasetStatistics dataset_statistics(DatasetReader& reader) {
  std::lock_guard lock(h5::library_mutex());
  const DatasetInfo& info = reader.info();
  const std::size_t num_tasks = info.tasks.size(), num_classes = info.class_names.size();
  DatasetStatistics s;
  s.clients = info.num_clients;
  s.client_label_counts.assign(static_cast<std::size_t>(info.num_clients), std::vector<std::int64_t>(num_classes, 0));
  s.global_label_counts.assign(num_classes, 0);
  s.train.per_task.assign(num_tasks, 0);

  h5::Handle meta = h5::open_file(reader.dir() / "meta.h5");
  for (auto [name, split] : {std::pair{"public", &s.public_split}, std::pair{"test", &s.test}}) {
    h5::Handle group = h5::open_group(meta.get(), name);
    count_tasks(*split, h5::read_all<std::uint8_t>(h5::open_dataset(group.get(), split_names::kTask).get()), num_tasks);
  }
  for (std::int64_t shard = 0; shard < info.num_shards; ++shard) {
    h5::Handle file = h5::open_file(reader.dir() / shard_file_name(shard));
    h5::Handle train = h5::open_group(file.get(), "train");
    auto read64 = [&](const char* name) { return h5::read_all<std::int64_t>(h5::open_dataset(train.get(), name).get()); };
    auto client_ptr = read64(split_names::kClientPtr), client_id = read64(split_names::kClientId);
    auto label = h5::read_all<std::int32_t>(h5::open_dataset(train.get(), split_names::kLabel).get());
    count_tasks(s.train, h5::read_all<std::uint8_t>(h5::open_dataset(train.get(), split_names::kTask).get()), num_tasks);
    // Pointers from 0 to the label count, never decreasing, index only labels that exist.
    if (client_ptr.size() != client_id.size() + 1 || client_ptr.front() != 0 ||
        client_ptr.back() != static_cast<std::int64_t>(label.size()) || !std::is_sorted(client_ptr.begin(), client_ptr.end()))
      throw InputError(fmt::format("{}: inconsistent /train/client_ptr; run `fedvlm-prep inspect` for details",
                                   shard_file_name(shard)));
    for (std::size_t k = 0; k < client_id.size(); ++k) {
      FEDVLM_CHECK(client_id[k] >= 0 && client_id[k] < info.num_clients, "{}: client id {} out of range",
                   shard_file_name(shard), client_id[k]);
      auto& histogram = s.client_label_counts[client_id[k]];
      for (std::int64_t i = client_ptr[k]; i < client_ptr[k + 1]; ++i)
        if (label[i] >= 0 && label[i] < static_cast<std::int32_t>(num_classes)) ++histogram[label[i]];
    }
  }
  s.train_samples = s.train.samples;

  std::vector<std::int64_t> sizes = info.client_samples;
  std::sort(sizes.begin(), sizes.end());
  if (!sizes.empty()) {
    s.min_client_samples = sizes.front();
    s.max_client_samples = sizes.back();
    const std::size_t m = sizes.size() / 2;
    // In double: sums of stored sizes must not overflow, whatever a damaged meta.h5 holds.
    s.median_client_samples = sizes.size() % 2 ? sizes[m] : 0.5 * (static_cast<double>(sizes[m - 1]) + static_cast<double>(sizes[m]));
    s.empty_clients = std::count(sizes.begin(), sizes.end(), 0);
    const auto n = static_cast<double>(sizes.size());
    s.mean_client_samples = std::accumulate(sizes.begin(), sizes.end(), 0.0) / n;
    double squares = 0;
    for (const auto size : sizes) squares += std::pow(static_cast<double>(size) - s.mean_client_samples, 2);
    if (s.mean_client_samples > 0) s.client_samples_cv = std::sqrt(squares / n) / s.mean_client_samples;
  }
  for (const auto& histogram : s.client_label_counts)
    for (std::size_t c = 0; c < num_classes; ++c) s.global_label_counts[c] += histogram[c];
  for (const auto& histogram : s.client_label_counts) {
    if (std::accumulate(histogram.begin(), histogram.end(), std::int64_t{0}) == 0) continue;
    ++s.labeled_clients;
    s.mean_label_entropy_bits += entropy_bits(histogram);
    s.mean_total_variation += total_variation(histogram, s.global_label_counts);
    s.mean_earth_movers += earth_movers_1d(histogram, s.global_label_counts);
  }
  if (s.labeled_clients > 0) {
    const auto n = static_cast<double>(s.labeled_clients);
    s.mean_label_entropy_bits /= n;
    s.mean_total_variation /= n;
    s.mean_earth_movers /= n;
  }
  s.global_label_entropy_bits = entropy_bits(s.global_label_counts);
  return s;
}

}  // namespace fedvlm::data
