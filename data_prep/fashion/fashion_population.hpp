// Population mode of `fedvlm-prep fashion` (--samples-per-client): clients are generated rather
// than cut from the pool, so a population can be far larger than the 48,000 pool images. Client
// c holds sizes[c] samples; sample i picks a pool item with replacement (SourceSampler: iid or a
// Dir(alpha) class mix) and renders it afresh, with its own size, position and brightness, as a
// task drawn from {seed, "prep-pop-task", c, i}; rendering draws from {seed, "prep-pop-render",
// c, i}. Any block of clients renders the same on any thread count.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "fashion/fashion_tasks.hpp"
#include "federation.hpp"
#include "population/source_sampler.hpp"

namespace fedvlm::prep {

struct FashionPopulation {
  FashionSource source;
  std::span<const std::int64_t> pool;   // client pool (source indices); also ground's extra items
  std::span<const std::int64_t> sizes;  // samples of each client
  std::vector<std::string> tasks;
  PartitionParams partition;            // iid or dirichlet-mix, alpha, seed
  int image_size = 32;
  int threads = 0;
  bool skip_errors = false;             // --on-error skip: drop a sample that fails to render, count it
  GroundLayout ground;
};

class FashionPopulationRenderer {
 public:
  explicit FashionPopulationRenderer(FashionPopulation population);
  // Clients [first, end): rendered in parallel over clients.
  ClientBlock render(std::int64_t first, std::int64_t end);
  std::int64_t skipped() const { return skipped_.load(); }

 private:
  std::vector<TextSample> render_client(std::int64_t client);

  FashionPopulation population_;
  std::vector<std::int32_t> pool_labels_;
  SourceSampler sampler_;
  std::atomic<std::int64_t> skipped_{0};
};

}  // namespace fedvlm::prep
