#include <algorithm>

#include <fmt/ranges.h>

#include "commands/commands.hpp"
#include "fedvlm/data/chat_template.hpp"
#include "federation.hpp"
#include "fedvlm/core/log.hpp"

namespace fedvlm::prep {

void add_partition_options(CLI::App& command, PartitionParams& params) {
  const auto methods = partition_methods();
  command.add_option("--partition", params.method,
                     fmt::format("How training samples are spread over clients: {}", fmt::join(methods, ", ")))
      ->capture_default_str();
  command.add_option("--alpha", params.alpha,
                     "Dirichlet concentration: label skew for 'dirichlet' and 'dirichlet-mix', size skew for 'quantity' "
                     "(smaller = more skewed)")
      ->capture_default_str();
  command.add_option("--task-alpha", params.task_alpha,
                     "'task' partition: <= 0 gives one task per client, > 0 a Dir(task-alpha) task mix per client")
      ->capture_default_str();
  command.add_option("--quantity-dist", params.quantity_dist, "'quantity' client sizes: dirichlet (--alpha) or lognormal (--sigma)")
      ->capture_default_str();
  command.add_option("--sigma", params.sigma, "'quantity' with lognormal: sigma of the log client size")->capture_default_str();
  command.add_option("--min-samples", params.min_samples,
                     "Every client holds at least this many samples (redraw, then rebalance; else fail)")
      ->capture_default_str();
  command.add_option("--seed", params.seed, "Seed of every random draw (tasks, rendering, split, partition)")->capture_default_str();
}

void add_tokenizer_options(CLI::App& command, std::filesystem::path& tokenizer, std::string& chat_template) {
  command.add_option("--tokenizer", tokenizer,
                     "Use this tokenizer instead of training one: a SentencePiece .model, a Hugging Face tokenizer.json "
                     "(byte-level BPE, as Llama 3 and Qwen2 ship; tokenizer_config.json beside it gives the special tokens "
                     "and chat template), a model directory holding either, or a fedvlm dataset directory (its tokenizer: "
                     "the two datasets share token ids, so one base model serves both; give --chat-template as that "
                     "dataset was built)");
  command.add_option("--chat-template", chat_template,
                     fmt::format("Wrap prompts and answers in a chat template: auto (the tokenizer's own, recognized from "
                                 "tokenizer_config.json; none if it has none) or one of {}",
                                 fmt::join(data::ChatTemplate::family_names(), ", ")))
      ->capture_default_str();
}

void log_federation_summary(const std::string& out, const FederationSummary& summary) {
  auto sizes = summary.client_sizes;
  std::sort(sizes.begin(), sizes.end());
  std::int64_t total = 0;
  for (const auto size : sizes) total += size;
  log::info("wrote {}: {} clients, {} train samples (per client min {}, median {}, max {}), {} public, {} test, vocabulary {}",
            out, sizes.size(), total, sizes.front(), sizes[sizes.size() / 2], sizes.back(), summary.public_samples,
            summary.test_samples, summary.vocab_size);
}

}  // namespace fedvlm::prep
