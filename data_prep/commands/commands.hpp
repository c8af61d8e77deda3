// The subcommands of fedvlm-prep, each registering its options and its action on the CLI11 app.
// Actions throw fedvlm::Error on failure; main turns that into one message and exit code 1.
#pragma once

#include <CLI/CLI.hpp>

#include "federation.hpp"
#include "partition/partitioner.hpp"

namespace fedvlm::prep {

void add_fashion_command(CLI::App& app);
void add_llava_command(CLI::App& app);
void add_inspect_command(CLI::App& app);

// --partition, --alpha, --task-alpha, --quantity-dist, --sigma, --min-samples, --seed.
void add_partition_options(CLI::App& command, PartitionParams& params);
// --tokenizer (a SentencePiece .model, a tokenizer.json or a model directory) and --chat-template.
void add_tokenizer_options(CLI::App& command, std::filesystem::path& tokenizer, std::string& chat_template);

// One summary line per build: where, how many clients and samples, client size spread.
void log_federation_summary(const std::string& out, const FederationSummary& summary);

}  // namespace fedvlm::prep
