// The federated dataset directory (DESIGN.md section 4, docs/data-format.md):
//   meta.h5        attributes, tokenizer, client -> shard map, /public and /test splits
//   shard-NNNNN.h5 /train samples of a contiguous client range, sorted by client
// DatasetWriter builds one atomically; DatasetReader opens meta.h5 and only the shards asked for.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fedvlm/data/samples.hpp"

namespace fedvlm::data {

inline constexpr int kFormatVersion = 1;

struct DatasetInfo {
  std::string name;
  std::vector<std::string> tasks;        // names from kTaskNames; the stored task byte indexes this
  std::vector<std::string> class_names;
  std::int64_t num_clients = 0;
  ImageShape image_shape;
  std::map<std::string, std::string> partition;  // partition parameters ("partition", "alpha", "seed", ...)
  std::vector<std::uint8_t> tokenizer_model;     // serialized SentencePiece model
  // Filled by the writer (ignored on input) / read from meta.h5's /clients group:
  std::vector<std::int32_t> client_shard;        // [num_clients]
  std::vector<std::int64_t> client_samples;      // [num_clients]
  std::int64_t num_shards = 0;

  // Index of `task` in `tasks`, or -1.
  int task_index(std::string_view task) const;
};

class DatasetWriter {
 public:
  // Writes into a temporary directory beside `dir`; commit() renames it into place. Without
  // commit (an exception, say), the destructor removes the temporary: a failed write leaves
  // nothing. An existing `dir` is an error unless `overwrite`.
  DatasetWriter(std::filesystem::path dir, DatasetInfo info, std::int64_t num_shards, bool overwrite);
  ~DatasetWriter();
  DatasetWriter(const DatasetWriter&) = delete;
  DatasetWriter& operator=(const DatasetWriter&) = delete;

  // Appends to split "public" or "test" (call it repeatedly to stream a large split; a split
  // never written is stored empty). Content is checked: task ids, labels, boxes, token ids.
  void write_split(const std::string& split, const Samples& samples);
  // Every client 0..num_clients-1 exactly once, in increasing order (empty Samples allowed).
  // Shard k holds clients [k*K/S, (k+1)*K/S), S = min(num_shards, K); one shard is open at a time.
  void write_client(std::int64_t client_id, const Samples& samples);
  // Clients first_client, first_client + 1, ... with sizes[i] samples each, concatenated in
  // client order in `samples` (the sizes sum to samples.size()). The same as write_client for
  // each, with one HDF5 append per array and shard touched: large populations write fast.
  void write_clients(std::int64_t first_client, std::span<const std::int64_t> sizes, const Samples& samples);
  void commit();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

class DatasetReader {
 public:
  explicit DatasetReader(std::filesystem::path dir);  // reads meta.h5's attributes only
  ~DatasetReader();
  DatasetReader(DatasetReader&&) noexcept;
  DatasetReader& operator=(DatasetReader&&) noexcept;

  const DatasetInfo& info() const;
  const std::filesystem::path& dir() const;
  std::int64_t client_samples(std::int64_t client) const;

  // One client's training samples: one hyperslab per array in its shard (opened on first use
  // and kept open). Every method takes the process-wide HDF5 lock: safe from several threads.
  Samples read_client(std::int64_t client);
  // A split of meta.h5 ("public", "test"), whole or rows [begin, end).
  Samples read_split(const std::string& split);
  Samples read_split(const std::string& split, std::int64_t begin, std::int64_t end);
  std::int64_t split_size(const std::string& split);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace fedvlm::data
