// Dataset inspection: a validator that lists every violation of docs/data-format.md (each
// naming the file, the dataset path and the offending index/value), and statistics of the
// federated partition (sizes, tasks, per-client label histograms, heterogeneity measures).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "fedvlm/data/dataset.hpp"

namespace fedvlm::data {

struct Violation {
  std::string file;     // "meta.h5", "shard-00003.h5"
  std::string path;     // "/train/prompt_ptr", "/" for root attributes
  std::string message;  // what is wrong, with the index and value
  std::string describe() const { return file + ":" + path + ": " + message; }
};

// Checks the whole directory without stopping at the first problem (at most `max_per_check`
// messages per kind of check and file, so a broken array does not print a million lines).
// An empty result means the dataset is valid.
std::vector<Violation> validate_dataset(const std::filesystem::path& dir, std::int64_t max_per_check = 20);

struct SplitStatistics {
  std::int64_t samples = 0;
  std::vector<std::int64_t> per_task;  // [tasks]
};

struct DatasetStatistics {
  std::int64_t clients = 0;
  std::int64_t train_samples = 0;
  // Client sizes (samples per client, over all clients, empty ones included):
  std::int64_t min_client_samples = 0, max_client_samples = 0;
  double median_client_samples = 0;
  double mean_client_samples = 0;
  double client_samples_cv = 0;  // coefficient of variation: population std / mean (0 = equal sizes)
  std::int64_t empty_clients = 0;
  SplitStatistics train, public_split, test;
  // Label histograms over class ids [0, num_classes); samples with label -1 are not counted.
  std::vector<std::vector<std::int64_t>> client_label_counts;  // [clients][classes]
  std::vector<std::int64_t> global_label_counts;               // [classes], train split
  // Heterogeneity of the label partition, averaged over clients with at least one label
  // (`labeled_clients` of them); all zero when the dataset has no labels:
  std::int64_t labeled_clients = 0;
  double global_label_entropy_bits = 0;   // H(q) of the pooled train label distribution q
  double mean_label_entropy_bits = 0;     // mean over clients of H(p_k), in bits
  double mean_total_variation = 0;        // mean of TV(p_k, q) = 1/2 sum_c |p_k(c) - q(c)|, in [0, 1]
  double mean_earth_movers = 0;           // mean of the 1-D EMD over class index: sum_c |P_k(c) - Q(c)| (CDFs)
};

// Reads only the task/label columns (never the images) of every shard and split.
DatasetStatistics dataset_statistics(DatasetReader& reader);

// A human-readable report: header, splits, client sizes, tasks, heterogeneity, and the label
// histograms of the first `max_clients_listed` clients.
std::string format_statistics(const DatasetInfo& info, const DatasetStatistics& statistics,
                              std::int64_t max_clients_listed = 10);

// Label-distribution measures, exposed for tests and for partitioners.
double entropy_bits(std::span<const std::int64_t> counts);
double total_variation(std::span<const std::int64_t> counts, std::span<const std::int64_t> reference);
double earth_movers_1d(std::span<const std::int64_t> counts, std::span<const std::int64_t> reference);

}  // namespace fedvlm::data
