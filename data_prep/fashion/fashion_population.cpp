#include "fashion/fashion_population.hpp"

#include "fedvlm/core/error.hpp"
#include "progress.hpp"

namespace fedvlm::prep {
namespace {

std::vector<std::int32_t> labels_of(const FashionSource& source, std::span<const std::int64_t> pool) {
  std::vector<std::int32_t> labels(pool.size());
  for (std::size_t i = 0; i < pool.size(); ++i) labels[i] = source.labels[static_cast<std::size_t>(pool[i])];
  return labels;
}

}  // namespace

FashionPopulationRenderer::FashionPopulationRenderer(FashionPopulation population)
    : population_(std::move(population)),
      pool_labels_(labels_of(population_.source, population_.pool)),
      sampler_(population_.pool, pool_labels_, population_.partition) {}

std::vector<TextSample> FashionPopulationRenderer::render_client(std::int64_t client) {
  const auto& p = population_;
  const std::uint64_t seed = p.partition.seed;
  const auto items = sampler_.client_items(client, p.sizes[static_cast<std::size_t>(client)]);
  std::vector<TextSample> samples;
  samples.reserve(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const auto index = static_cast<std::int64_t>(i);
    Rng task_rng(StreamKey{seed, "prep-pop-task", client, index});
    const auto task = static_cast<std::uint8_t>(p.tasks.size() == 1 ? 0 : task_rng.below(p.tasks.size()));
    Rng rng(StreamKey{seed, "prep-pop-render", client, index});
    try {
      samples.push_back(render_fashion_sample(p.source, p.tasks[task], items[i], p.pool, p.image_size, rng, p.ground));
      samples.back().task = task;
    } catch (const Error&) {
      if (!p.skip_errors) throw;
      ++skipped_;
    }
  }
  return samples;
}

ClientBlock FashionPopulationRenderer::render(std::int64_t first, std::int64_t end) {
  std::vector<std::vector<TextSample>> clients(static_cast<std::size_t>(end - first));
  parallel_for(end - first, [&](std::int64_t begin, std::int64_t stop) {
    for (std::int64_t i = begin; i < stop; ++i) clients[static_cast<std::size_t>(i)] = render_client(first + i);
  }, population_.threads);
  ClientBlock block;
  std::size_t total = 0;
  for (const auto& client : clients) total += client.size();
  block.samples.reserve(total);
  block.sizes.reserve(clients.size());
  for (auto& client : clients) {
    block.sizes.push_back(static_cast<std::int64_t>(client.size()));
    for (auto& sample : client) block.samples.push_back(std::move(sample));
  }
  return block;
}

}  // namespace fedvlm::prep
