#include "fashion/fashion_builder.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <numeric>
#include <optional>

#include "fashion/attributes.hpp"
#include "fashion/fashion_population.hpp"
#include "fashion/fashion_tasks.hpp"
#include "fashion/idx_reader.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"
#include "population/samples_per_client.hpp"
#include "population/source_sampler.hpp"
#include "progress.hpp"

namespace fedvlm::prep {
namespace {

enum SplitCode : std::int64_t { kTrainSplit = 0, kTestSplit = 1 };

struct LoadedSplit {
  IdxImages images;
  std::vector<std::uint8_t> labels;
  FashionSource source() const { return {&images, labels}; }
};

LoadedSplit load_split(const std::filesystem::path& dir, const std::string& prefix) {
  const auto images_file = find_idx_file(dir, prefix + "-images-idx3-ubyte");
  const auto labels_file = find_idx_file(dir, prefix + "-labels-idx1-ubyte");
  LoadedSplit split{read_idx_images(images_file), read_idx_labels(labels_file)};
  if (split.images.count != static_cast<std::int64_t>(split.labels.size()))
    throw InputError(fmt::format("{} holds {} images but {} holds {} labels", images_file.string(), split.images.count,
                                 labels_file.string(), split.labels.size()));
  log::info("read {} {}x{} images and labels from {}", split.images.count, split.images.rows, split.images.cols,
            images_file.string());
  return split;
}

// Source indices to use: all, or `limit` drawn without replacement (kept in file order).
std::vector<std::int64_t> select_items(std::int64_t count, std::int64_t limit, std::uint64_t seed, SplitCode split) {
  if (limit < 0) throw InputError(fmt::format("sample limits must be >= 0, got {}", limit));
  std::vector<std::int64_t> items;
  if (limit == 0 || limit >= count) {
    items.resize(static_cast<std::size_t>(count));
    std::iota(items.begin(), items.end(), std::int64_t{0});
    return items;
  }
  Rng rng(StreamKey{seed, "prep-select", split, 0});
  items = rng.sample_without_replacement(count, limit);
  std::sort(items.begin(), items.end());
  return items;
}

// Drops (or, with on_error=fail, reports) items whose label is not a Fashion-MNIST class.
std::int64_t drop_bad_labels(std::vector<std::int64_t>& items, const LoadedSplit& split, const std::string& name,
                             bool skip) {
  const auto bad = [&](std::int64_t item) { return split.labels[static_cast<std::size_t>(item)] >= kFashionClasses.size(); };
  const auto first_bad = std::find_if(items.begin(), items.end(), bad);
  if (first_bad == items.end()) return 0;
  if (!skip)
    throw InputError(fmt::format("{} label {} at index {} is not a class in [0, {}) (use --on-error skip to drop such items)",
                                 name, split.labels[static_cast<std::size_t>(*first_bad)], *first_bad, kFashionClasses.size()));
  const auto before = items.size();
  std::erase_if(items, bad);
  return static_cast<std::int64_t>(before - items.size());
}

struct RenderJob {
  const LoadedSplit* split;
  SplitCode code;
  std::span<const std::int64_t> items;  // also the pool ground draws its extra items from
  std::string label;
  bool vqa_context = false;
};

std::vector<TextSample> render(const RenderJob& job, const FashionOptions& options, const std::vector<std::string>& tasks,
                               std::int64_t& skipped) {
  const bool skip = options.on_error == "skip";
  std::vector<std::optional<TextSample>> rendered(job.items.size());
  Progress progress(job.label, static_cast<std::int64_t>(job.items.size()));
  const auto source = job.split->source();
  parallel_for(static_cast<std::int64_t>(job.items.size()), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t item = job.items[static_cast<std::size_t>(i)];
      Rng task_rng(StreamKey{options.partition.seed, "prep-task", job.code, item});
      const auto task = static_cast<std::uint8_t>(tasks.size() == 1 ? 0 : task_rng.below(tasks.size()));
      Rng rng(StreamKey{options.partition.seed, "prep-render", job.code, item});
      try {
        auto sample =
            render_fashion_sample(source, tasks[task], item, job.items, options.image_size, rng, options.ground, job.vqa_context);
        sample.task = task;
        rendered[static_cast<std::size_t>(i)] = std::move(sample);
      } catch (const Error& error) {
        if (!skip) throw;
      }
    }
    progress.advance(end - begin);
  }, options.threads);
  progress.finish();
  std::vector<TextSample> samples;
  samples.reserve(rendered.size());
  for (auto& sample : rendered) {
    if (sample) samples.push_back(std::move(*sample));
    else ++skipped;
  }
  return samples;
}

void check_options(const FashionOptions& options) {
  if (options.image_size < 16 || options.image_size > 1024)
    throw InputError(fmt::format("--image-size must be in [16, 1024], got {}", options.image_size));
  check_ground_layout(options.ground);
  if (!(options.public_fraction >= 0.0 && options.public_fraction < 1.0))
    throw InputError(fmt::format("--public-fraction must be in [0, 1), got {}", options.public_fraction));
  if (options.on_error != "fail" && options.on_error != "skip")
    throw InputError(fmt::format("unknown --on-error '{}': valid are fail, skip", options.on_error));
  if (options.clients <= 0) throw InputError(fmt::format("--clients must be positive, got {}", options.clients));
  if (options.shards < 0) throw InputError(fmt::format("--shards must be positive (or 0: automatic), got {}", options.shards));
  make_partitioner(options.partition.method);  // unknown names fail before the slow work
  if (!options.samples_per_client.empty()) {
    parse_samples_per_client(options.samples_per_client, options.partition.min_samples);
    check_population_partition(options.partition);
  }
}

std::int64_t shard_count(const FashionOptions& options, std::span<const std::int64_t> planned_sizes) {
  if (options.shards > 0) return options.shards;
  if (planned_sizes.empty()) return kDefaultShards;
  const std::int64_t samples = std::accumulate(planned_sizes.begin(), planned_sizes.end(), std::int64_t{0});
  return std::max(kDefaultShards, (samples + kSamplesPerShard - 1) / kSamplesPerShard);
}

// Population mode: the pool is sampled with replacement, client by client, while writing.
FederationSummary write_fashion_population(const FashionOptions& options, FederationSpec& spec,
                                           const FederationSplits& splits, const LoadedSplit& train,
                                           std::span<const std::int64_t> pool, const std::vector<std::string>& tasks,
                                           std::int64_t& skipped) {
  const auto samples_per_client = parse_samples_per_client(options.samples_per_client, options.partition.min_samples);
  const auto sizes = draw_client_sample_counts(samples_per_client, options.partition.seed, options.clients);
  spec.shards = shard_count(options, sizes);
  spec.extra_attributes["samples_per_client"] = samples_per_client.text();
  log::info("population: {} clients, {} samples drawn with replacement from {} pool images, {} shards", options.clients,
            std::accumulate(sizes.begin(), sizes.end(), std::int64_t{0}), pool.size(), std::min(spec.shards, options.clients));
  FashionPopulation population{train.source(), pool, sizes, tasks, options.partition, options.image_size, options.threads,
                               options.on_error == "skip", options.ground};
  FashionPopulationRenderer renderer(std::move(population));
  auto summary = write_population(spec, splits, sizes,
                                  [&](std::int64_t first, std::int64_t end) { return renderer.render(first, end); });
  skipped += renderer.skipped();
  return summary;
}

}  // namespace

FashionSummary build_fashion(const FashionOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  check_options(options);
  check_output_free(options.out, options.force);
  const auto tasks = parse_task_list(options.tasks);
  const bool skip = options.on_error == "skip";
  const std::uint64_t seed = options.partition.seed;

  const auto train = load_split(options.source, "train");
  const auto test = load_split(options.source, "t10k");
  if (train.images.rows != test.images.rows || train.images.cols != test.images.cols)
    throw InputError(fmt::format("train images are {}x{} but test images are {}x{}", train.images.rows, train.images.cols,
                                 test.images.rows, test.images.cols));

  FashionSummary summary;
  auto train_items = select_items(train.images.count, options.train_samples, seed, kTrainSplit);
  auto test_items = select_items(test.images.count, options.test_samples, seed, kTestSplit);
  summary.skipped += drop_bad_labels(train_items, train, "train", skip);
  summary.skipped += drop_bad_labels(test_items, test, "test", skip);

  // Public items are held out of the client pool: the two are disjoint.
  Rng public_rng(StreamKey{seed, "prep-public", 0, 0});
  auto shuffled = train_items;
  public_rng.shuffle(shuffled);
  const auto public_count = static_cast<std::size_t>(std::llround(options.public_fraction * static_cast<double>(shuffled.size())));
  std::vector<std::int64_t> public_items(shuffled.begin(), shuffled.begin() + static_cast<std::ptrdiff_t>(public_count));
  std::vector<std::int64_t> client_items(shuffled.begin() + static_cast<std::ptrdiff_t>(public_count), shuffled.end());
  std::sort(public_items.begin(), public_items.end());
  std::sort(client_items.begin(), client_items.end());

  const bool population = !options.samples_per_client.empty();
  FederationSplits splits;
  splits.public_samples = render({&train, kTrainSplit, public_items, "render public", options.public_context}, options, tasks,
                                 summary.skipped);
  if (!population) splits.train = render({&train, kTrainSplit, client_items, "render train"}, options, tasks, summary.skipped);
  splits.test = render({&test, kTestSplit, test_items, "render test"}, options, tasks, summary.skipped);

  FederationSpec spec;
  spec.out = options.out;
  spec.name = "fashion-mnist";
  spec.tasks = tasks;
  spec.class_names.assign(kFashionClasses.begin(), kFashionClasses.end());
  spec.image_shape = data::ImageShape{1, options.image_size, options.image_size};
  spec.num_clients = options.clients;
  spec.partition = options.partition;
  spec.vocab_size = options.vocab_size;
  spec.tokenizer_file = options.tokenizer;
  spec.chat_template = options.chat_template;
  spec.shards = shard_count(options, {});
  spec.force = options.force;
  spec.extra_attributes["source"] = options.source.string();
  spec.extra_attributes["public_fraction"] = fmt::format("{}", options.public_fraction);
  const auto& ground = options.ground;
  const auto items = ground.max_items == 2 ? std::string("2") : fmt::format("2-{}", ground.max_items);
  spec.extra_attributes["ground_layout"] =
      fmt::format("{} items, longer side {}-{} of the image", items, ground.min_side, ground.max_side);
  if (options.public_context) spec.extra_attributes["public_context"] = "public VQA questions follow the item's description";
  summary.federation = population ? write_fashion_population(options, spec, splits, train, client_items, tasks, summary.skipped)
                                  : write_federation(spec, splits);
  if (summary.skipped > 0) log::warn("skipped {} unusable Fashion-MNIST items (--on-error skip)", summary.skipped);
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace fedvlm::prep
