#include "federation.hpp"

#include <algorithm>
#include <future>
#include <numeric>
#include <sstream>
#include <unordered_map>

#include <fmt/ranges.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/data/chat_template.hpp"
#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "progress.hpp"

namespace fedvlm::prep {
namespace {

// Prompts and answers repeat a lot (a few hundred distinct captions): encode each text once,
// wrapped as the chat template wraps a prompt or an answer.
class CachedEncoder {
 public:
  CachedEncoder(const data::Tokenizer& tokenizer, data::ChatTemplate chat) : tokenizer_(tokenizer), chat_(std::move(chat)) {}
  const std::vector<std::int32_t>& prompt(const std::string& text) {
    return encode(prompts_, text, [&] { return chat_.stored_prompt(std::nullopt, text); });
  }
  const std::vector<std::int32_t>& answer(const std::string& text) {
    return encode(answers_, text, [&] { return chat_.stored_answer(text); });
  }

 private:
  using Cache = std::unordered_map<std::string, std::vector<std::int32_t>>;
  template <class Wrap>
  const std::vector<std::int32_t>& encode(Cache& cache, const std::string& text, Wrap wrap) {
    auto found = cache.find(text);
    if (found == cache.end()) found = cache.emplace(text, tokenizer_.encode(wrap())).first;
    return found->second;
  }
  const data::Tokenizer& tokenizer_;
  data::ChatTemplate chat_;
  Cache prompts_, answers_;
};

// The token text of `id`, or "" for an id the tokenizer lacks (one fedvlm added).
std::string token_text(const data::Tokenizer& tokenizer, std::int32_t id) {
  return id < tokenizer.piece_count() ? tokenizer.piece(id) : "";
}

data::ChatTemplate make_chat_template(const FederationSpec& spec, const data::Tokenizer& tokenizer) {
  const data::ChatTokens tokens{token_text(tokenizer, tokenizer.bos_id()), token_text(tokenizer, tokenizer.eos_id())};
  const auto& file = spec.tokenizer_file;
  const auto config = (std::filesystem::is_directory(file) ? file : file.parent_path()) / "tokenizer_config.json";
  const auto chat = spec.chat_template == "auto" ? data::ChatTemplate::recognize(tokenizer.chat_template(), tokens, config.string())
                                                 : data::ChatTemplate::named(spec.chat_template, tokens);
  // The model appends eos after every answer: it must be the token that ends the assistant's turn.
  if (!chat.end_of_turn().empty() && chat.end_of_turn() != tokens.eos)
    throw InputError(fmt::format("--chat-template {}: the template ends an answer with {} but the tokenizer's eos is '{}': "
                                 "fedvlm appends eos after every answer, so set eos_token to {} in tokenizer_config.json "
                                 "or choose another template", chat.name(), chat.end_of_turn(), tokens.eos, chat.end_of_turn()));
  if (chat.family() != data::ChatFamily::none) log::info("wrapping prompts and answers in the {} chat template", chat.name());
  return chat;
}

data::Tokenizer make_tokenizer(const FederationSpec& spec, const FederationSplits& splits) {
  if (!spec.tokenizer_file.empty()) {
    if (!std::filesystem::exists(spec.tokenizer_file))
      throw InputError(fmt::format("--tokenizer {}: no such file", spec.tokenizer_file.string()));
    if (std::filesystem::is_regular_file(spec.tokenizer_file / "meta.h5")) {  // a fedvlm dataset: share its vocabulary
      log::info("using the tokenizer of the dataset {}", spec.tokenizer_file.string());
      return data::Tokenizer::from_serialized(data::DatasetReader(spec.tokenizer_file).info().tokenizer_model);
    }
    return data::Tokenizer::from_file(spec.tokenizer_file);
  }
  if (splits.public_samples.empty())
    throw InputError("the tokenizer is trained on the public split, which is empty: use --public-fraction > 0 or --tokenizer "
                     "FILE.model|tokenizer.json|MODEL_DIR");
  std::vector<std::string> texts;
  texts.reserve(2 * splits.public_samples.size());
  for (const auto& sample : splits.public_samples) {
    texts.push_back(sample.prompt);
    texts.push_back(sample.answer);
  }
  log::info("training a {}-token SentencePiece model on {} public texts", spec.vocab_size, texts.size());
  return data::Tokenizer::train(texts, spec.vocab_size, spec.partition.seed);
}

data::Samples encode(const std::vector<TextSample>& source, std::span<const std::int64_t> rows,
                     const data::ImageShape& shape, CachedEncoder& encoder) {
  data::Samples samples;
  samples.image_shape = shape;
  for (const auto row : rows) {
    const auto& sample = source[static_cast<std::size_t>(row)];
    FEDVLM_CHECK(static_cast<std::int64_t>(sample.image.size()) == shape.numel(), "sample {} has {} pixel values, expected {}",
                 row, sample.image.size(), shape.numel());
    samples.add(sample.image, sample.task, encoder.prompt(sample.prompt), encoder.answer(sample.answer), sample.label, sample.box);
  }
  return samples;
}

std::vector<std::int64_t> all_rows(std::size_t n) {
  std::vector<std::int64_t> rows(n);
  for (std::size_t i = 0; i < n; ++i) rows[i] = static_cast<std::int64_t>(i);
  return rows;
}

std::string format_number(double value) { return fmt::format("{}", value); }

// What every build records: names, shape and the partition parameters shared by both modes.
data::DatasetInfo dataset_info(const FederationSpec& spec, const data::Tokenizer& tokenizer) {
  data::DatasetInfo info;
  info.name = spec.name;
  info.tasks = spec.tasks;
  info.class_names = spec.class_names;
  info.num_clients = spec.num_clients;
  info.image_shape = spec.image_shape;
  info.partition = spec.extra_attributes;
  info.partition["partition"] = spec.partition.method;
  info.partition["alpha"] = format_number(spec.partition.alpha);
  info.partition["min_samples"] = std::to_string(spec.partition.min_samples);
  info.partition["seed"] = std::to_string(spec.partition.seed);
  info.tokenizer_model = tokenizer.serialized();
  if (spec.chat_template != "auto" || !tokenizer.chat_template().empty()) info.partition["chat_template"] = spec.chat_template;
  return info;
}

void write_public_and_test(data::DatasetWriter& writer, const FederationSpec& spec, const FederationSplits& splits,
                           CachedEncoder& encoder) {
  writer.write_split("public", encode(splits.public_samples, all_rows(splits.public_samples.size()), spec.image_shape, encoder));
  writer.write_split("test", encode(splits.test, all_rows(splits.test.size()), spec.image_shape, encoder));
}

// What every builder reports besides the client sizes.
FederationSummary finish_summary(FederationSummary summary, const FederationSplits& splits,
                                 const data::Tokenizer& tokenizer) {
  summary.public_samples = static_cast<std::int64_t>(splits.public_samples.size());
  summary.test_samples = static_cast<std::int64_t>(splits.test.size());
  summary.vocab_size = tokenizer.vocab_size();
  return summary;
}

}  // namespace

void check_output_free(const std::filesystem::path& out, bool force) {
  if (out.empty()) throw InputError("--out is required");
  if (std::filesystem::exists(out) && !force)
    throw InputError(fmt::format("output {} already exists; use --force to replace it", out.string()));
}

std::vector<std::string> parse_task_list(const std::string& comma_separated) {
  std::vector<std::string> tasks;
  std::stringstream stream(comma_separated);
  for (std::string task; std::getline(stream, task, ',');) {
    task.erase(0, task.find_first_not_of(' '));
    task.erase(task.find_last_not_of(' ') + 1);
    if (task.empty()) continue;
    if (std::find(data::kTaskNames.begin(), data::kTaskNames.end(), task) == data::kTaskNames.end())
      throw InputError(fmt::format("unknown task '{}': valid are {}", task, fmt::join(data::kTaskNames, ", ")));
    if (std::find(tasks.begin(), tasks.end(), task) == tasks.end()) tasks.push_back(task);
  }
  if (tasks.empty()) throw InputError(fmt::format("no task given: choose from {}", fmt::join(data::kTaskNames, ", ")));
  return tasks;
}

FederationSummary write_federation(const FederationSpec& spec, const FederationSplits& splits) {
  check_output_free(spec.out, spec.force);
  if (splits.train.empty()) throw InputError("no training samples to partition");
  if (spec.shards <= 0) throw InputError(fmt::format("--shards must be positive, got {}", spec.shards));

  std::vector<std::int32_t> labels(splits.train.size());
  std::vector<std::uint8_t> tasks(splits.train.size());
  for (std::size_t i = 0; i < splits.train.size(); ++i) {
    labels[i] = splits.train[i].label;
    tasks[i] = splits.train[i].task;
  }
  PartitionInput input{labels, tasks, splits.natural_clients, spec.num_clients};
  const auto assignment = partition_samples(input, spec.partition);

  const auto tokenizer = make_tokenizer(spec, splits);
  CachedEncoder encoder(tokenizer, make_chat_template(spec, tokenizer));
  auto info = dataset_info(spec, tokenizer);
  info.partition["task_alpha"] = format_number(spec.partition.task_alpha);
  info.partition["quantity_dist"] = spec.partition.quantity_dist;
  info.partition["sigma"] = format_number(spec.partition.sigma);
  data::DatasetWriter writer(spec.out, std::move(info), std::min(spec.shards, spec.num_clients), spec.force);
  write_public_and_test(writer, spec, splits, encoder);

  // Rows of each client, in sample order (a counting sort keeps the output deterministic).
  FederationSummary summary;
  summary.client_sizes = client_sizes(assignment, spec.num_clients);
  std::vector<std::int64_t> start(summary.client_sizes.size() + 1, 0);
  for (std::size_t c = 0; c < summary.client_sizes.size(); ++c) start[c + 1] = start[c] + summary.client_sizes[c];
  std::vector<std::int64_t> rows(assignment.size());
  auto cursor = start;
  for (std::size_t i = 0; i < assignment.size(); ++i) rows[static_cast<std::size_t>(cursor[static_cast<std::size_t>(assignment[i])]++)] = static_cast<std::int64_t>(i);

  Progress progress("write clients", spec.num_clients);
  for (std::int64_t c = 0; c < spec.num_clients; ++c) {
    const std::span<const std::int64_t> client_rows(rows.data() + start[static_cast<std::size_t>(c)],
                                                    static_cast<std::size_t>(summary.client_sizes[static_cast<std::size_t>(c)]));
    writer.write_client(c, encode(splits.train, client_rows, spec.image_shape, encoder));
    progress.advance();
  }
  writer.commit();
  progress.finish();
  return finish_summary(std::move(summary), splits, tokenizer);
}

FederationSummary write_population(const FederationSpec& spec, const FederationSplits& splits,
                                   std::span<const std::int64_t> planned_sizes, const ClientBlockRenderer& render) {
  check_output_free(spec.out, spec.force);
  if (spec.shards <= 0) throw InputError(fmt::format("--shards must be positive, got {}", spec.shards));
  FEDVLM_CHECK(static_cast<std::int64_t>(planned_sizes.size()) == spec.num_clients, "{} planned sizes for {} clients",
               planned_sizes.size(), spec.num_clients);
  const auto tokenizer = make_tokenizer(spec, splits);
  CachedEncoder encoder(tokenizer, make_chat_template(spec, tokenizer));
  data::DatasetWriter writer(spec.out, dataset_info(spec, tokenizer), std::min(spec.shards, spec.num_clients), spec.force);
  write_public_and_test(writer, spec, splits, encoder);

  // Blocks of whole clients of about kPopulationBlockSamples samples: a block is rendered (in
  // parallel) while the previous one is encoded and written, then dropped.
  std::vector<std::int64_t> block_starts{0};
  for (std::int64_t c = 0, in_block = 0; c < spec.num_clients; ++c) {
    in_block += planned_sizes[static_cast<std::size_t>(c)];
    if (in_block >= kPopulationBlockSamples || c + 1 == spec.num_clients) {
      block_starts.push_back(c + 1);
      in_block = 0;
    }
  }
  FederationSummary summary;
  summary.client_sizes.reserve(static_cast<std::size_t>(spec.num_clients));
  Progress progress("render and write clients", spec.num_clients);
  auto write_block = [&](std::int64_t first, ClientBlock block) {
    FEDVLM_CHECK(block.samples.size() == static_cast<std::size_t>(std::accumulate(block.sizes.begin(), block.sizes.end(), std::int64_t{0})),
                 "a block of clients from {} has {} samples, its sizes sum differently", first, block.samples.size());
    writer.write_clients(first, block.sizes, encode(block.samples, all_rows(block.samples.size()), spec.image_shape, encoder));
    summary.client_sizes.insert(summary.client_sizes.end(), block.sizes.begin(), block.sizes.end());
    progress.advance(static_cast<std::int64_t>(block.sizes.size()));
  };
  std::future<void> writing;
  for (std::size_t b = 0; b + 1 < block_starts.size(); ++b) {
    auto block = render(block_starts[b], block_starts[b + 1]);
    FEDVLM_CHECK(static_cast<std::int64_t>(block.sizes.size()) == block_starts[b + 1] - block_starts[b],
                 "rendered {} clients for the block [{}, {})", block.sizes.size(), block_starts[b], block_starts[b + 1]);
    if (writing.valid()) writing.get();  // blocks are written in order, one at a time
    writing = std::async(std::launch::async, write_block, block_starts[b], std::move(block));
  }
  if (writing.valid()) writing.get();
  writer.commit();
  progress.finish();
  return finish_summary(std::move(summary), splits, tokenizer);
}

}  // namespace fedvlm::prep
