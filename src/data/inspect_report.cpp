// The text `fedvlm-prep inspect` prints.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iterator>

#include "fedvlm/data/inspect.hpp"

namespace fedvlm::data {
namespace {

std::string task_mix(const DatasetInfo& info, const SplitStatistics& split) {
  std::vector<std::string> parts;
  for (std::size_t t = 0; t < info.tasks.size() && t < split.per_task.size(); ++t)
    parts.push_back(fmt::format("{} {}", info.tasks[t], split.per_task[t]));
  return fmt::format("{}", fmt::join(parts, ", "));
}

class Lines {
 public:
  template <class... Args>
  void operator()(fmt::format_string<Args...> format, Args&&... args) {
    fmt::format_to(std::back_inserter(text_), format, std::forward<Args>(args)...);
    text_ += '\n';
  }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace

std::string format_statistics(const DatasetInfo& info, const DatasetStatistics& s, std::int64_t max_clients_listed) {
  Lines line;
  line("dataset      {}", info.name);
  line("images       {}x{}x{} (C x H x W, uint8)", info.image_shape.channels, info.image_shape.height,
       info.image_shape.width);
  line("tasks        {}", fmt::join(info.tasks, ", "));
  line("classes      {}", info.class_names.size());
  line("tokenizer    {} bytes", info.tokenizer_model.size());
  std::vector<std::string> partition;
  for (const auto& [key, value] : info.partition) partition.push_back(key + "=" + value);
  line("partition    {}", partition.empty() ? std::string("(none)") : fmt::format("{}", fmt::join(partition, " ")));
  line("");
  line("split        samples  per task");
  line("train        {:>7}  {}", s.train.samples, task_mix(info, s.train));
  line("public       {:>7}  {}", s.public_split.samples, task_mix(info, s.public_split));
  line("test         {:>7}  {}", s.test.samples, task_mix(info, s.test));
  line("");
  line("clients      {} in {} shards ({} without samples)", s.clients, info.num_shards, s.empty_clients);
  line("per client   min {}  median {}  max {}  mean {:.1f}  cv {:.3f}  (cv = std / mean; 0 = equal sizes)",
       s.min_client_samples, s.median_client_samples, s.max_client_samples, s.mean_client_samples, s.client_samples_cv);
  if (!info.class_names.empty()) {
    line("");
    line("label heterogeneity over {} clients with labels:", s.labeled_clients);
    line("  global label entropy          {:.3f} bits (uniform: {:.3f})", s.global_label_entropy_bits,
         std::log2(static_cast<double>(info.class_names.size())));
    line("  mean client label entropy     {:.3f} bits", s.mean_label_entropy_bits);
    line("  mean total variation to global {:.3f}  (0 = IID, 1 = disjoint)", s.mean_total_variation);
    line("  mean 1-D earth mover's        {:.3f}  (class-index units)", s.mean_earth_movers);
    const auto listed = std::min<std::int64_t>(max_clients_listed, s.clients);
    if (listed > 0) {
      line("");
      line("label histograms (first {} of {} clients):", listed, s.clients);
      for (std::int64_t k = 0; k < listed; ++k) line("  client {:>5}: {}", k, fmt::join(s.client_label_counts[k], " "));
    }
  }
  return line.take();
}

}  // namespace fedvlm::data
