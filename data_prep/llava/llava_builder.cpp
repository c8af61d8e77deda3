#include "llava/llava_builder.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <optional>
#include <regex>

#include <fmt/ranges.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"
#include "llava/image_loader.hpp"
#include "llava/llava_records.hpp"
#include "progress.hpp"

namespace fedvlm::prep {
namespace {

struct ClientFile {
  std::int64_t number;  // N of client_N.json
  std::filesystem::path path;
};

// client_N.json files under dir/clients/train, or directly in dir, by increasing N.
std::vector<ClientFile> find_client_files(const std::filesystem::path& dir) {
  const auto nested = dir / "clients" / "train";
  const auto folder = std::filesystem::is_directory(nested) ? nested : dir;
  static const std::regex kClientFile(R"(client_(\d+)\.json)");
  std::vector<ClientFile> files;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    std::smatch match;
    const auto name = entry.path().filename().string();
    if (entry.is_regular_file() && std::regex_match(name, match, kClientFile))
      files.push_back({std::stoll(match[1].str()), entry.path()});
  }
  if (files.empty())
    throw InputError(fmt::format("{}: no client_N.json files (looked in {})", dir.string(), folder.string()));
  std::sort(files.begin(), files.end(), [](const auto& a, const auto& b) { return a.number < b.number; });
  return files;
}

struct Conversion {
  std::optional<TextSample> sample;
  std::string problem;  // why the record was unusable
};

class RecordConverter {
 public:
  RecordConverter(const LlavaOptions& options, std::vector<std::string> tasks) : options_(options), tasks_(std::move(tasks)) {}
  const std::vector<std::string>& tasks() const { return tasks_; }

  Conversion convert(const LlavaRecord& record) const {
    if (!record.problem.empty()) return {std::nullopt, record.problem};
    const std::string task = record.task.empty() ? options_.task : record.task;
    const auto found = std::find(tasks_.begin(), tasks_.end(), task);
    if (found == tasks_.end())
      return {std::nullopt, fmt::format("has unknown task '{}': valid are {}", task, fmt::join(data::kTaskNames, ", "))};
    const auto path = options_.images / record.image;
    TextSample sample;
    try {
      auto image = load_square_image(path, options_.image_size, options_.channels);
      sample.image = std::move(image.pixels);
      if (task == "ground") {
        const auto box = parse_box_answer(record.answer);
        if (!box) return {std::nullopt, fmt::format("grounding answer '{}' holds no [x0, y0, x1, y1] box", record.answer)};
        const auto& b = *box;
        if (!(0 <= b[0] && b[0] <= b[2] && b[2] <= 1 && 0 <= b[1] && b[1] <= b[3] && b[3] <= 1))
          return {std::nullopt, fmt::format("box [{}] is not a normalized x0 <= x1, y0 <= y1 box in [0, 1]", fmt::join(b, ", "))};
        sample.box = options_.box_frame == "original" ? box_in_padded_frame(b, image.original_width, image.original_height) : b;
      }
    } catch (const InputError& error) {
      return {std::nullopt, error.what()};
    }
    sample.task = static_cast<std::uint8_t>(found - tasks_.begin());
    sample.prompt = record.prompt;
    sample.answer = record.answer;
    return {std::move(sample), {}};
  }

 private:
  const LlavaOptions& options_;
  std::vector<std::string> tasks_;
};

// Converts records in parallel; unusable ones fail the build (the first by position, so the
// message does not depend on threads) or, with skip, are dropped and counted.
std::vector<std::pair<std::size_t, TextSample>> convert_all(const std::vector<LlavaRecord>& records,
                                                            const RecordConverter& converter, bool skip,
                                                            const std::string& label, std::int64_t& skipped) {
  std::vector<Conversion> results(records.size());
  Progress progress(label, static_cast<std::int64_t>(records.size()));
  parallel_for(static_cast<std::int64_t>(records.size()), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) results[static_cast<std::size_t>(i)] = converter.convert(records[static_cast<std::size_t>(i)]);
    progress.advance(end - begin);
  });
  progress.finish();
  std::vector<std::pair<std::size_t, TextSample>> samples;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].sample) {
      samples.emplace_back(i, std::move(*results[i].sample));
      continue;
    }
    if (!skip) throw InputError(fmt::format("{} {} (use --on-error skip to drop such records)", records[i].where(), results[i].problem));
    if (skipped < 5) log::warn("skipping {} {}", records[i].where(), results[i].problem);
    ++skipped;
  }
  return samples;
}

// The tasks the records use (or the --task default), in kTaskNames order.
std::vector<std::string> tasks_in_use(const std::vector<LlavaRecord>& train, const std::vector<LlavaRecord>& test,
                                      const std::string& default_task) {
  std::vector<std::string> tasks;
  for (const auto name : data::kTaskNames) {
    const auto uses = [&](const LlavaRecord& record) { return (record.task.empty() ? default_task : record.task) == name; };
    if (std::any_of(train.begin(), train.end(), uses) || std::any_of(test.begin(), test.end(), uses)) tasks.emplace_back(name);
  }
  return tasks;
}

void check_options(const LlavaOptions& options) {
  if (options.json.empty()) throw InputError("--json is required");
  if (!std::filesystem::exists(options.json)) throw InputError(fmt::format("--json {}: no such file or directory", options.json.string()));
  if (options.test_json.empty()) throw InputError("--test-json is required (the test split)");
  if (!std::filesystem::is_directory(options.images)) throw InputError(fmt::format("--images {}: not a directory", options.images.string()));
  if (options.image_size < 8 || options.image_size > 1024)
    throw InputError(fmt::format("--image-size must be in [8, 1024], got {}", options.image_size));
  if (options.channels != 1 && options.channels != 3) throw InputError(fmt::format("--channels must be 1 or 3, got {}", options.channels));
  if (std::find(data::kTaskNames.begin(), data::kTaskNames.end(), options.task) == data::kTaskNames.end())
    throw InputError(fmt::format("unknown --task '{}': valid are {}", options.task, fmt::join(data::kTaskNames, ", ")));
  if (options.on_error != "fail" && options.on_error != "skip")
    throw InputError(fmt::format("unknown --on-error '{}': valid are fail, skip", options.on_error));
  if (options.box_frame != "padded" && options.box_frame != "original")
    throw InputError(fmt::format("unknown --box-frame '{}': valid are padded, original", options.box_frame));
  if (!(options.public_fraction >= 0.0 && options.public_fraction < 1.0))
    throw InputError(fmt::format("--public-fraction must be in [0, 1), got {}", options.public_fraction));
}

}  // namespace

LlavaSummary build_llava(const LlavaOptions& options) {
  check_options(options);
  check_output_free(options.out, options.force);
  const bool from_client_files = std::filesystem::is_directory(options.json);
  PartitionParams partition = options.partition;
  if (partition.method.empty()) partition.method = from_client_files ? "natural" : "iid";
  make_partitioner(partition.method);  // unknown names fail before the slow work

  // Train records, with the client each came from when the source names it.
  std::vector<LlavaRecord> train;
  std::vector<std::int64_t> record_client;
  std::int64_t clients = options.clients;
  if (from_client_files) {
    const auto files = find_client_files(options.json);
    for (std::size_t c = 0; c < files.size(); ++c) {
      auto records = read_llava_json(files[c].path);
      record_client.insert(record_client.end(), records.size(), static_cast<std::int64_t>(c));
      std::move(records.begin(), records.end(), std::back_inserter(train));
    }
    if (partition.method == "natural") {
      if (clients != 0 && clients != static_cast<std::int64_t>(files.size()))
        throw InputError(fmt::format("--clients {} disagrees with the {} client files of the natural partition", clients, files.size()));
      clients = static_cast<std::int64_t>(files.size());
    }
    log::info("read {} records from {} client files", train.size(), files.size());
  } else {
    if (partition.method == "natural")
      throw InputError("--partition natural needs --json DIR holding clients/train/client_N.json files");
    train = read_llava_json(options.json);
  }
  if (clients <= 0) throw InputError("--clients is required with a single --json file (or give a directory of client files)");
  const auto test = read_llava_json(options.test_json);

  const RecordConverter converter(options, tasks_in_use(train, test, options.task));
  LlavaSummary summary;
  summary.records = static_cast<std::int64_t>(train.size() + test.size());
  const bool skip = options.on_error == "skip";
  auto train_samples = convert_all(train, converter, skip, "decode train images", summary.skipped);
  auto test_samples = convert_all(test, converter, skip, "decode test images", summary.skipped);

  // Public samples are held out of the clients' data at random.
  std::vector<std::size_t> order(train_samples.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng public_rng(StreamKey{partition.seed, "prep-public", 0, 0});
  public_rng.shuffle(order);
  const auto public_count = static_cast<std::size_t>(std::llround(options.public_fraction * static_cast<double>(order.size())));
  std::vector<bool> is_public(order.size(), false);
  for (std::size_t k = 0; k < public_count; ++k) is_public[order[k]] = true;

  FederationSplits splits;
  for (std::size_t i = 0; i < train_samples.size(); ++i) {
    auto& [record, sample] = train_samples[i];
    if (is_public[i]) {
      splits.public_samples.push_back(std::move(sample));
    } else {
      if (from_client_files) splits.natural_clients.push_back(record_client[record]);
      splits.train.push_back(std::move(sample));
    }
  }
  for (auto& entry : test_samples) splits.test.push_back(std::move(entry.second));
  if (summary.skipped > 0) log::warn("skipped {} unusable records (--on-error skip)", summary.skipped);

  FederationSpec spec;
  spec.out = options.out;
  spec.name = "llava";
  spec.tasks = converter.tasks();
  spec.image_shape = data::ImageShape{options.channels, options.image_size, options.image_size};
  spec.num_clients = clients;
  spec.partition = partition;
  spec.vocab_size = options.vocab_size;
  spec.tokenizer_file = options.tokenizer;
  spec.chat_template = options.chat_template;
  spec.shards = options.shards;
  spec.force = options.force;
  spec.extra_attributes["source"] = options.json.string();
  spec.extra_attributes["public_fraction"] = fmt::format("{}", options.public_fraction);
  spec.extra_attributes["skipped_records"] = std::to_string(summary.skipped);
  summary.federation = write_federation(spec, splits);
  return summary;
}

}  // namespace fedvlm::prep
