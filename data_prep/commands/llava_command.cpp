#include <memory>

#include "commands/commands.hpp"
#include "fedvlm/core/log.hpp"
#include "llava/llava_builder.hpp"

namespace fedvlm::prep {

void add_llava_command(CLI::App& app) {
  auto options = std::make_shared<LlavaOptions>();
  auto* command = app.add_subcommand(
      "llava",
      "Convert LLaVA conversation JSON (FedVLMBench layout) and its images into a federation. "
      "--json DIR with clients/train/client_N.json keeps the natural clients.");
  command->add_option("--json", options->json, "A LLaVA JSON file, or a folder with clients/train/client_N.json")->required();
  command->add_option("--images", options->images, "Folder the records' \"image\" paths are relative to")->required();
  command->add_option("--test-json", options->test_json, "LLaVA JSON of the test split")->required();
  command->add_option("--out", options->out, "Output dataset directory (must not exist unless --force)")->required();
  command->add_option("--task", options->task, "Task of records without a \"task\" field: cls, cap, vqa, ground")
      ->capture_default_str();
  command->add_option("--clients", options->clients, "Number of clients (default: the number of client files)");
  command->add_option("--public-fraction", options->public_fraction, "Fraction of train records held out as the public split")
      ->capture_default_str();
  command->add_option("--image-size", options->image_size, "Side of the square images after padding and resizing")
      ->capture_default_str();
  command->add_option("--channels", options->channels, "1 (grayscale) or 3 (RGB)")->capture_default_str();
  command->add_option("--box-frame", options->box_frame,
                      "Grounding boxes are normalized to the 'padded' square (LLaVA-1.5) or the 'original' image")
      ->capture_default_str();
  command->add_option("--vocab-size", options->vocab_size, "SentencePiece vocabulary size (an upper bound)")->capture_default_str();
  add_tokenizer_options(*command, options->tokenizer, options->chat_template);
  command->add_option("--shards", options->shards, "Number of shard files (contiguous client ranges)")->capture_default_str();
  command->add_option("--on-error", options->on_error, "fail, or skip unusable records and count them")->capture_default_str();
  command->add_flag("--force", options->force, "Replace an existing output directory");
  options->partition.method = "";
  add_partition_options(*command, options->partition);
  command->callback([options] {
    const auto summary = build_llava(*options);
    log_federation_summary(options->out.string(), summary.federation);
    log::info("{} records read, {} skipped", summary.records, summary.skipped);
  });
}

}  // namespace fedvlm::prep
