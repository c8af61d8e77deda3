#include "fedvlm/app/commands.hpp"

#include <iostream>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/data/inspect.hpp"
#include "fedvlm/eval/metrics_table.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/model/checkpoint.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/model/pretrain.hpp"
#include "fedvlm/sim/algorithms.hpp"
#include "fedvlm/sim/checkpoint.hpp"
#include "fedvlm/sim/evaluation.hpp"
#include "fedvlm/sim/federation.hpp"
#include "fedvlm/sim/run_directory.hpp"
#include "fedvlm/sim/setup.hpp"

namespace fedvlm::app {

int command_config(const CommonOptions& options, bool reference) {
  sim::register_algorithms();  // every fl.algorithm and its keys, before the reference or a config
  if (reference) {
    std::cout << config_reference_markdown();
    return 0;
  }
  std::cout << dump_config(load_config({.files = options.configs, .overrides = options.overrides}));
  return 0;
}

int command_run(CommonOptions options, const std::filesystem::path& resume, bool overwrite, bool dump_only) {
  if (!resume.empty()) {
    // The run directory decides where results go, whatever run.dir/run.name the config says.
    if (options.configs.empty()) options.configs.push_back(resume / "config.toml");
    auto dir = std::filesystem::absolute(resume).lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();  // "runs/x/"
    options.overrides.push_back("run.dir=" + dir.parent_path().string());
    options.overrides.push_back("run.name=" + dir.filename().string());
  }
  if (dump_only) return command_config(options, false);
  Session session = open_session(options);
  const Config& config = session.config;
  const auto outcome = sim::run_federation(config, *session.comm, {.resume = !resume.empty(), .overwrite = overwrite});
  if (session.comm->is_root() && !outcome.interrupted)
    log::info("results in {} (summary.json, metrics.jsonl)", outcome.run_dir.string());
  session.comm->barrier();
  return 0;
}

int command_pretrain(const CommonOptions& options, const std::string& out_dir) {
  Session session = open_session(options);
  const Config& config = session.config;
  const std::filesystem::path out = out_dir.empty() ? sim::run_directory(config) : std::filesystem::path(out_dir);
  // Pretraining runs on rank 0: it is a one-off, small job; other ranks only wait.
  if (session.comm->is_root()) {
    sim::configure_threads(config.run.threads);
    data::DatasetReader dataset(config.data.path);
    // A pretraining that fails leaves no directory it created (an existing one keeps its base.pt).
    const bool created = !std::filesystem::exists(out);
    try {
      std::filesystem::create_directories(out);
      sim::write_resolved_config(out, config);
      model::pretrain(config, dataset, out);
    } catch (...) {
      if (created) remove_tree(out);
      throw;
    }
    log::info("base checkpoint: {} (use model.base = \"{}\")", (out / "base.pt").string(), out.string());
  }
  session.comm->barrier();
  return 0;
}

int command_eval(const CommonOptions& options, const std::filesystem::path& checkpoint,
                 const std::filesystem::path& predictions) {
  Session session = open_session(options);
  const Config& config = session.config;
  sim::Workbench bench = sim::open_workbench(config);
  auto& model = *bench.model;
  if (!checkpoint.empty()) {
    // The same restore as `fedvlm run --resume`: every trained parameter, checked against this
    // config's base, dataset and model shape.
    const sim::RunState state = sim::restore_run_state(checkpoint, model, config, sim::run_fingerprint(config, model));
    log::info("evaluating {} (after round {})", checkpoint.string(), state.rounds_done);
  }
  model.eval();
  const auto table = sim::evaluate_on_test(config, bench, *session.comm, false, predictions);
  if (session.comm->is_root()) {
    std::cout << eval::format_metrics_table(table);
    if (!predictions.empty()) log::info("answers of {} test samples in {}", sim::test_samples_evaluated(config, bench),
                                        predictions.string());
  }
  return 0;
}

int command_inspect(const CommonOptions& options) {
  Session session = open_session(options);
  if (!session.comm->is_root()) return 0;
  const Config& config = session.config;
  std::cout << dump_config(config) << "\n";
  sim::Workbench bench = sim::open_workbench(config);
  std::cout << data::format_statistics(bench.dataset.info(), data::dataset_statistics(bench.dataset)) << "\n";
  const auto trainable = model::apply_strategy(*bench.model, config.finetune, 0);
  std::cout << model::describe_parameters(*bench.model, trainable) << "\n";
  return 0;
}

}  // namespace fedvlm::app
