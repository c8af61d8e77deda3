// The last steps every builder shares: partition the training samples over clients, train (or
// load) the tokenizer on the public split's text, tokenize, and write the dataset directory
// through data::DatasetWriter (atomic: a failure leaves nothing behind).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <map>
#include <string>
#include <vector>

#include "fedvlm/data/samples.hpp"
#include "partition/partitioner.hpp"
#include "text_sample.hpp"

namespace fedvlm::prep {

struct FederationSpec {
  std::filesystem::path out;
  std::string name;
  std::vector<std::string> tasks;        // TextSample::task indexes this
  std::vector<std::string> class_names;
  data::ImageShape image_shape;
  std::int64_t num_clients = 0;
  PartitionParams partition;
  int vocab_size = 256;
  std::filesystem::path tokenizer_file;  // empty: train on the public split's prompts and answers
  // "auto": the tokenizer's own chat template (tokenizer_config.json), none when it has none;
  // or a data::ChatTemplate family name. Prompts and answers are stored as the template wraps them.
  std::string chat_template = "auto";
  std::int64_t shards = 1;
  bool force = false;
  std::map<std::string, std::string> extra_attributes;  // stored with the partition parameters (e.g. "source")
};

struct FederationSplits {
  std::vector<TextSample> public_samples;
  std::vector<TextSample> train;
  std::vector<TextSample> test;
  std::vector<std::int64_t> natural_clients;  // client per train sample; only the natural partition reads it
};

struct FederationSummary {
  std::vector<std::int64_t> client_sizes;
  std::int64_t public_samples = 0;
  std::int64_t test_samples = 0;
  std::int32_t vocab_size = 0;
};

// InputError when `out` exists and `force` is false; builders call it before any slow work.
void check_output_free(const std::filesystem::path& out, bool force);

// Validates task names (InputError listing the valid ones) and removes duplicates, keeping order.
std::vector<std::string> parse_task_list(const std::string& comma_separated);

FederationSummary write_federation(const FederationSpec& spec, const FederationSplits& splits);

// Population mode (--samples-per-client): clients are generated, not partitioned from a list.
struct ClientBlock {
  std::vector<TextSample> samples;  // the block's samples, client after client
  std::vector<std::int64_t> sizes;  // samples per client of the block
};
// Renders clients [first, end) (deterministically: the same block whatever the call order).
using ClientBlockRenderer = std::function<ClientBlock(std::int64_t first, std::int64_t end)>;

// Clients are handled in blocks of about this many (planned) samples.
inline constexpr std::int64_t kPopulationBlockSamples = 32768;

// Writes the public and test splits as write_federation does (splits.train is not read), then
// streams the clients: blocks of whole clients whose planned sizes sum to about
// kPopulationBlockSamples are rendered, encoded, written with one DatasetWriter::write_clients
// call and dropped; rendering a block overlaps writing the previous one. Memory stays a few
// blocks whatever the population size. planned_sizes (one per client) only shape the blocks:
// the summary reports the sizes the renderer returned.
FederationSummary write_population(const FederationSpec& spec, const FederationSplits& splits,
                                   std::span<const std::int64_t> planned_sizes, const ClientBlockRenderer& render);

}  // namespace fedvlm::prep
