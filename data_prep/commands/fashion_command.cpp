#include <memory>
#include <vector>

#include "commands/commands.hpp"
#include "fashion/fashion_builder.hpp"
#include "fedvlm/core/log.hpp"

namespace fedvlm::prep {

void add_fashion_command(CLI::App& app) {
  auto options = std::make_shared<FashionOptions>();
  auto ground_side = std::make_shared<std::vector<double>>(
      std::vector<double>{options->ground.min_side, options->ground.max_side});
  auto* command = app.add_subcommand(
      "fashion",
      "Build a multimodal federation (cls, cap, vqa, ground) from the Fashion-MNIST IDX files. "
      "Answers are measured from the rendered pixels; see docs/datasets.md.");
  command->add_option("--out", options->out, "Output dataset directory (must not exist unless --force)")->required();
  command->add_option("--source", options->source, "Folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]")
      ->capture_default_str();
  command->add_option("--tasks", options->tasks, "Comma-separated tasks from cls,cap,vqa,ground; several = multi-task")
      ->capture_default_str();
  command->add_option("--clients", options->clients, "Number of clients")->capture_default_str();
  command->add_option("--samples-per-client", options->samples_per_client,
                      "Population mode: clients draw their samples from the client pool WITH replacement, each rendered "
                      "afresh, so --clients may exceed the pool (millions). SPEC: N (every client N samples) or "
                      "lognormal:MEAN,SIGMA[,MAX] (n = round(exp(N(mu, SIGMA))), mu = ln MEAN - SIGMA^2/2, so MEAN is the "
                      "mean client size before rounding and clipping to [max(1, --min-samples), MAX]; MAX defaults to "
                      "ceil(100 MEAN)). --partition: iid (default here) or dirichlet-mix --alpha A (a Dir(A) class mix per "
                      "client). Clients are streamed to disk in blocks; see docs/datasets.md");
  command->add_option("--public-fraction", options->public_fraction,
                      "Fraction of the train images held out as the public split (pretraining, tokenizer)")
      ->capture_default_str();
  command->add_option("--train-samples", options->train_samples, "Train images to use (0 = all 60,000)")->capture_default_str();
  command->add_option("--test-samples", options->test_samples, "Test images to use (0 = all 10,000)")->capture_default_str();
  command->add_option("--image-size", options->image_size, "Side of the square grayscale canvas")->capture_default_str();
  command->add_option("--ground-side", *ground_side,
                      "Grounding images: each item's longer side is a uniform fraction in [MIN, MAX] of the image side "
                      "(MIN,MAX; the default gives 8-14 pixel items on 32-pixel images)")
      ->delimiter(',')
      ->expected(2)
      ->capture_default_str();
  command->add_option("--ground-items", options->ground.max_items,
                      "Grounding images hold 2 to this many items of distinct classes")
      ->capture_default_str();
  command->add_flag("--public-context", options->public_context,
                    "Public split only: each VQA question follows the item's description as text (\"a small dark coat in "
                    "the center. is the item bright?\"), so the base's language phase learns to answer from what a "
                    "context says; the private and test splits are unchanged (docs/datasets.md)");
  command->add_option("--vocab-size", options->vocab_size, "SentencePiece vocabulary size (an upper bound)")->capture_default_str();
  add_tokenizer_options(*command, options->tokenizer, options->chat_template);
  command->add_option("--shards", options->shards,
                      "Number of shard files (contiguous client ranges; the simulator gives each MPI rank whole shards, so "
                      "use at least as many as ranks). 0 = 4, or with --samples-per-client one per 32,768 samples (at "
                      "least 4)")
      ->capture_default_str();
  command->add_option("--on-error", options->on_error, "fail, or skip unusable items and count them")->capture_default_str();
  command->add_option("--threads", options->threads, "Rendering threads (0 = all cores; output does not depend on it)")
      ->capture_default_str();
  command->add_flag("--force", options->force, "Replace an existing output directory");
  options->partition.method = "dirichlet";
  add_partition_options(*command, options->partition);
  command->callback([options, command, ground_side] {
    options->ground.min_side = ground_side->at(0);
    options->ground.max_side = ground_side->at(1);
    // Population mode samples with replacement: the per-class `dirichlet` default does not apply.
    if (!options->samples_per_client.empty() && command->count("--partition") == 0) options->partition.method = "iid";
    const auto summary = build_fashion(*options);
    log_federation_summary(options->out.string(), summary.federation);
    if (summary.skipped > 0) log::warn("{} items skipped", summary.skipped);
    log::info("fashion build took {:.1f} s", summary.seconds);
  });
}

}  // namespace fedvlm::prep
