#include "fedvlm/app/cli.hpp"

#include <CLI/CLI.hpp>

#include "fedvlm/app/commands.hpp"

namespace fedvlm::app {
namespace {

void add_config_options(CLI::App& command, CommonOptions& options) {
  command.add_option("-c,--config", options.configs, "TOML config file(s), applied in order (each may name a `base`)")
      ->check(CLI::ExistingFile);
  command.add_option("--set", options.overrides, "Override a key: --set section.key=value (repeatable)")
      ->type_name("KEY=VALUE");
  command.add_flag("--log-all-ranks", options.log_all_ranks, "Log at info level on every rank, not just rank 0");
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"fedvlm: federated fine-tuning of vision-language models, simulated over MPI ranks.\n"
               "Run under mpirun/srun for several ranks; every rank hosts a group of simulated clients."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "fedvlm 0.1.0");
  CommonOptions options;

  auto* run = app.add_subcommand("run", "Run a federation (or the centralized / local-only baseline) from a config");
  add_config_options(*run, options);
  bool overwrite = false, dump = false;
  std::filesystem::path resume;
  run->add_option("--resume", resume,
                  "Continue this run directory from its latest checkpoint (its config.toml when no -c is given)")
      ->check(CLI::ExistingDirectory);
  run->add_flag("--overwrite", overwrite, "Clear an existing run directory and start again");
  run->add_flag("--dump-config", dump, "Print the fully resolved config and exit");

  auto* pretrain = app.add_subcommand("pretrain", "Pretrain the base model (vision encoder + LM) on the public split");
  add_config_options(*pretrain, options);
  std::string pretrain_out;
  pretrain->add_option("--out", pretrain_out, "Output directory (default: run.dir/run.name)");

  auto* evaluate = app.add_subcommand("eval", "Evaluate a run checkpoint (or the base model) on the test split");
  add_config_options(*evaluate, options);
  std::filesystem::path checkpoint;
  evaluate->add_option("--checkpoint", checkpoint, "checkpoints/round-N.pt of a run; empty: the base model")
      ->check(CLI::ExistingFile);
  std::filesystem::path predictions;
  evaluate->add_option("--predictions", predictions,
                       "Also write every test sample's answer as JSON lines: row, task, prediction, reference, score "
                       "(1/0 exact match for cls and vqa, IoU for ground, null for cap)");

  auto* bench = app.add_subcommand(
      "bench", "Measure throughput: local training per strategy, many small clients, collectives, data reads");
  add_config_options(*bench, options);
  std::string what = "all";
  int repeats = 5;
  std::string bench_json;
  bench->add_option("--what", what,
                    "train (local training per strategy), clients (1-, 4- and 16-sample clients: one at a time, on "
                    "threads, batched K = 1..32; takes minutes), comm, data, or all (all but clients)")
      ->check(CLI::IsMember({"train", "clients", "comm", "data", "all"}));
  bench->add_option("--json", bench_json, "--what clients: also write the results as JSON to this file");
  bench->add_option("--repeats", repeats, "Repetitions (the median is reported)")->check(CLI::PositiveNumber);

  auto* inspect = app.add_subcommand("inspect", "Show the resolved config, the dataset and the model's parameter counts");
  add_config_options(*inspect, options);

  auto* config = app.add_subcommand("config", "Print the resolved config, or the reference of every key");
  add_config_options(*config, options);
  bool reference = false;
  config->add_flag("--reference", reference, "Markdown reference of every key (docs/configuration.md)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (*run) return command_run(options, resume, overwrite, dump);
  if (*pretrain) return command_pretrain(options, pretrain_out);
  if (*evaluate) return command_eval(options, checkpoint, predictions);
  if (*bench) return command_bench(options, what, repeats, bench_json);
  if (*inspect) return command_inspect(options);
  return command_config(options, reference);
}

}  // namespace fedvlm::app
