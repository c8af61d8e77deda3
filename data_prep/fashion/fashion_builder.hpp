// `fedvlm-prep fashion`: a multimodal federation rendered from the real Fashion-MNIST IDX files.
// Train images are split into a public part (pretraining, tokenizer) and the client pool, which a
// partitioner spreads over the clients; the t10k images form the test split. Each image becomes
// one sample of one task (drawn from stream {seed, "prep-task", split, index}); rendering draws
// from {seed, "prep-render", split, index}, so the output does not depend on thread count.
// Population mode (samples_per_client set): the client pool is not partitioned; each client's
// samples are drawn from it with replacement and rendered afresh (fashion/fashion_population.hpp),
// streamed to disk block by block, so millions of clients fit in bounded memory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "fashion/fashion_tasks.hpp"
#include "federation.hpp"
#include "partition/partitioner.hpp"

namespace fedvlm::prep {

struct FashionOptions {
  std::filesystem::path source = "/usr/share/datasets/fashion-mnist";
  std::filesystem::path out;
  std::string tasks = "cls,cap,vqa,ground";
  std::int64_t clients = 100;
  PartitionParams partition;
  double public_fraction = 0.2;  // 12,000 of the 60,000: the ViT pretraining needs thousands (docs/performance.md)
  std::int64_t train_samples = 0;  // 0: all 60,000
  std::int64_t test_samples = 0;   // 0: all 10,000
  int image_size = 32;
  GroundLayout ground;             // grounding canvases: item count and sizes
  bool public_context = false;     // public split: VQA questions follow the item's description (text)
  int vocab_size = 256;
  std::filesystem::path tokenizer;
  std::string chat_template = "auto";
  std::string samples_per_client;  // empty: partition the pool; else population mode (population/samples_per_client.hpp)
  std::int64_t shards = 0;         // 0: 4, or in population mode one per kSamplesPerShard planned samples (at least 4)
  bool force = false;
  std::string on_error = "fail";  // "skip": drop items with a bad label or no visible pixel, and count them
  int threads = 0;                // 0: all cores
};

// Population mode's automatic --shards: about this many samples (32 MiB of 32x32 images) per shard.
inline constexpr std::int64_t kSamplesPerShard = 32768;
inline constexpr std::int64_t kDefaultShards = 4;

struct FashionSummary {
  FederationSummary federation;
  std::int64_t skipped = 0;
  double seconds = 0.0;
};

FashionSummary build_fashion(const FashionOptions& options);

}  // namespace fedvlm::prep
