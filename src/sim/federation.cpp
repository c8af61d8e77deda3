#include "fedvlm/sim/federation.hpp"

#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/eval/metrics_table.hpp"
#include "fedvlm/fl/accumulator.hpp"
#include "fedvlm/fl/client_sampler.hpp"
#include "fedvlm/fl/client_state.hpp"
#include "fedvlm/fl/lr_schedule.hpp"
#include "fedvlm/fl/placement.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/sim/checkpoint.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "fedvlm/sim/client_group_trainer.hpp"
#include "fedvlm/sim/evaluation.hpp"
#include "fedvlm/sim/local_baseline.hpp"
#include "fedvlm/sim/local_trainer.hpp"
#include "fedvlm/sim/round_clock.hpp"
#include "fedvlm/sim/run_directory.hpp"
#include "fedvlm/sim/run_summary.hpp"

namespace fedvlm::sim {
namespace fs = std::filesystem;
namespace {


// Checks the run directory against the options; rank 0 only. A directory without a
// checkpoint or summary (a run killed before its first checkpoint) simply starts again.
void prepare_run_directory(const fs::path& run_dir, const RunOptions& options) {
  if (options.resume) {
    if (!latest_checkpoint(run_dir))
      throw InputError(fmt::format("--resume: {} holds no checkpoint (checkpoints/round-*.pt)", run_dir.string()));
    return;
  }
  const bool has_results = fs::exists(run_dir / "summary.json") || latest_checkpoint(run_dir).has_value();
  if (has_results && !options.overwrite)
    throw InputError(fmt::format("run directory {} already holds results: pass --resume {} to continue it, "
                                 "--overwrite to start again, or set run.name",
                                 run_dir.string(), run_dir.string()));
  fs::remove_all(run_dir / "checkpoints");
  fs::remove(run_dir / "metrics.jsonl");
  fs::remove(run_dir / "summary.json");
  if (fs::is_directory(run_dir / "logs"))  // the old run's rank logs; anything else there is kept
    for (const auto& entry : fs::directory_iterator(run_dir / "logs")) {
      const std::string name = entry.path().filename().string();
      if (name.starts_with("rank-") && name.ends_with(".log")) fs::remove(entry.path());
    }
  fs::create_directories(run_dir);
}

// Every rank learns whether rank 0 failed to prepare the directory, so none hangs on a collective.
void agree_or_throw(comm::Communicator& comm, const std::string& root_error) {
  torch::Tensor failed = torch::tensor({root_error.empty() ? 0 : 1}, torch::kInt32);
  comm::allreduce(comm, failed, comm::ReduceOp::Max);
  if (failed.item<int>() != 0) {
    if (!root_error.empty()) throw InputError(root_error);
    throw Error("rank 0 failed to prepare the run (see its message)");
  }
}

bool any_rank_stopping(comm::Communicator& comm) {
  torch::Tensor flag = torch::tensor({stop_signal_received() ? 1 : 0}, torch::kInt32);
  comm::allreduce(comm, flag, comm::ReduceOp::Max);
  return flag.item<int>() != 0;
}

bool due(std::int64_t every, std::int64_t rounds_done, std::int64_t total) {
  return rounds_done == total || (every > 0 && rounds_done % every == 0);
}

}  // namespace

RunOutcome run_federation(const Config& config, comm::Communicator& comm, const RunOptions& options) {
  RoundClock clock;
  RunOutcome outcome;
  outcome.run_dir = run_directory(config);
  const fs::path& run_dir = outcome.run_dir;
  {
    std::string error;
    if (comm.is_root()) {
      try {
        prepare_run_directory(run_dir, options);
      } catch (const InputError& e) {
        error = e.what();
      }
    }
    agree_or_throw(comm, error);
  }
  if (options.rank_log_files) log::add_rank_file(run_dir, comm.rank());
  if (comm.is_root())  // after the log file is attached, so logs/rank-0.log opens with it
    log::info("fedvlm run: {} on {} rank(s) ({}), data {}, strategy {}, {} rounds", config.fl.algorithm,
              comm.size(), comm.backend(), config.data.path, config.finetune.strategy, config.fl.rounds);
  install_stop_signal_handlers();

  Workbench bench = open_workbench(config);
  auto& model = *bench.model;
  const auto& info = bench.dataset.info();
  if (config.fl.algorithm == "local") return run_local_baseline(config, bench, comm, run_dir);

  const bool centralized = config.fl.algorithm == "centralized";
  Config algorithm_config = config;
  if (centralized) algorithm_config.fl.algorithm = "fedavg", algorithm_config.fl.server_lr = 1.0;  // x <- y of the one client
  if (!centralized && config.fl.clients_per_round > info.num_clients)
    throw InputError(fmt::format("{}: fl.clients_per_round = {} but {} has {} clients",
                                 config.origins.at("fl.clients_per_round"), config.fl.clients_per_round,
                                 config.data.path, info.num_clients));

  const model::Strategy strategy = model::parse_strategy(config.finetune.strategy);
  model::check_strategy(model, strategy);
  model::TrainableSet trainable = model::apply_strategy(model, config.finetune, 0);
  torch::Tensor x = model::flatten_values(trainable.parameters);
  auto algorithm = fl::make_algorithm(algorithm_config, centralized ? 1 : info.num_clients);
  algorithm->reset(x.numel(), bench.device);
  if (comm.is_root()) log::info("{}", model::describe_parameters(model, trainable));

  std::int64_t start_round = 0;
  RunSummary summary(config, comm.size(), info.num_clients);
  if (options.resume) {
    const fs::path path = *latest_checkpoint(run_dir);
    RunState state = load_run_state(path);
    start_round = state.rounds_done;
    trainable = model::apply_strategy(model, config.finetune, std::min(start_round, config.fl.rounds - 1));
    algorithm->reset(state.global.numel(), bench.device);
    FEDVLM_CHECK(state.global.numel() == model::flat_numel(trainable.parameters),
                 "{} holds a trainable vector of {} values, the configured model trains {}", path.string(),
                 state.global.numel(), model::flat_numel(trainable.parameters));
    x = state.global.to(bench.device);
    algorithm->load_state_dict(state.algorithm_state);
    summary.restore(state.extra);
    model::assign_values(trainable.parameters, x);
    if (comm.is_root()) log::info("resumed {} after round {}", path.string(), start_round);
  }
  std::optional<MetricsLog> metrics;
  if (comm.is_root()) {
    write_resolved_config(run_dir, config);
    metrics.emplace(run_dir / "metrics.jsonl", options.resume ? start_round : -1);
  }
  auto record = [&](std::int64_t round, std::string phase, std::string task, std::string metric, double value) {
    if (metrics) metrics->write({round, std::move(phase), std::move(task), std::move(metric), value, clock.elapsed() + summary.prior_seconds()});
  };

  ClientData client_data(bench.dataset);
  // Centralized training sees as many samples per round as the federation's cohort: with
  // local.steps, that is steps x cohort size (with local.epochs, an epoch over the union already is).
  Config training_config = config;
  if (centralized && config.local.steps > 0)
    training_config.local.steps *= config.fl.clients_per_round > 0 ? config.fl.clients_per_round : info.num_clients;
  LocalTrainer trainer(model, training_config, bench.special, bench.device);
  const auto make_model = [&] {
    return model::build_model(config.model, config.lora, info.image_shape, bench.tokenizer.vocab_size(),
                              static_cast<std::uint64_t>(config.run.seed));
  };
  const auto group_trainer =
      make_group_trainer(client_data, trainer, model, make_model, training_config, bench.special, bench.device);
  const fl::ClientSampler sampler(info.num_clients, config.fl.clients_per_round, static_cast<std::uint64_t>(config.run.seed));
  const std::int64_t total_rounds = config.fl.rounds;

  for (std::int64_t round = start_round; round < total_rounds; ++round) {
    auto mark = RoundClock::Clock::now();
    const double round_start = clock.elapsed();
    if (strategy == model::Strategy::kTwoStage && round == config.finetune.stage1_rounds && round > 0) {
      // F-2stage: the connector is done; LoRA trains from here with fresh algorithm state.
      trainable = model::apply_strategy(model, config.finetune, round);
      x = model::flatten_values(trainable.parameters);
      algorithm->reset(x.numel(), bench.device);
      if (comm.is_root()) log::info("F-2stage: round {} switches to LoRA ({} values)", round + 1, x.numel());
    }
    std::vector<std::int64_t> my_clients;
    if (centralized) {
      if (comm.is_root()) my_clients.push_back(ClientData::kCentralizedClient);
    } else {
      const auto cohort = sampler.cohort(round);
      my_clients = fl::place_clients(cohort, info.client_samples, comm.size())[static_cast<std::size_t>(comm.rank())];
    }
    const double lr = fl::local_lr_for_round(config.local, round, total_rounds);
    auto layout = algorithm->make_accumulator().layout();
    for (const auto segment : {kTrainLossSegment, kTrainStepsSegment, kTrainSamplesSegment})
      layout.push_back({std::string(segment), 1});
    fl::Accumulator accumulator(layout, bench.device);

    const double data_seconds = group_trainer->train(my_clients, {round, x, lr}, *algorithm, trainable, accumulator);
    clock.add("data", data_seconds);
    mark = clock.charge("train", mark);
    clock.add("train", -data_seconds);

    fl::reduce_to_root(accumulator, comm);
    mark = clock.charge("communication", mark);
    if (comm.is_root()) algorithm->server_update(x, accumulator, round);
    mark = clock.charge("server", mark);
    torch::Tensor global = comm.is_root() ? algorithm->pack_global(x)
                                          : torch::empty({algorithm->broadcast_size()}, x.options());
    comm::broadcast(comm, global, 0);
    algorithm->unpack_global(global, x);
    if (auto* states = algorithm->client_states()) states->sync(comm);
    model::assign_values(trainable.parameters, x);
    mark = clock.charge("communication", mark);

    const std::int64_t done = round + 1;
    if (comm.is_root()) {
      const double steps = accumulator.scalar(kTrainStepsSegment);
      const double train_loss = steps > 0 ? accumulator.scalar(kTrainLossSegment) / steps : std::nan("");
      record(done, "train", "all", "loss", train_loss);
      summary.add_trained_samples(static_cast<std::int64_t>(accumulator.scalar(kTrainSamplesSegment)));
      const double seconds = clock.elapsed() - round_start;
      log::info("round {}/{} | train loss {:.4f} | {:.1f} s | ETA {}", done, total_rounds, train_loss, seconds,
                format_duration(RoundClock::eta(clock.elapsed(), done - start_round, total_rounds - done)));
    }
    if (due(config.eval.every, done, total_rounds)) {
      model.eval();
      const eval::MetricsTable table = evaluate_on_test(config, bench, comm);
      mark = clock.charge("eval", mark);
      if (comm.is_root()) {
        for (const auto& [task, values] : table)
          for (const auto& [metric, value] : values) record(done, "eval", task, metric, value);
        summary.add_evaluation(done, table);
        log::info("evaluation after round {}:\n{}", done, eval::format_metrics_table(table));
      }
    }
    const bool stopping = any_rank_stopping(comm);
    if (comm.is_root() && (stopping || done == total_rounds || due(config.checkpoint.every, done, total_rounds))) {
      summary.set_time(clock);
      save_run_state(run_dir, {done, x.to(torch::kCPU), algorithm->state_dict(), summary.checkpoint_extra()},
                     config.checkpoint.keep);
      mark = clock.charge("checkpoint", mark);
    }
    if (stopping && done < total_rounds) {
      if (comm.is_root())
        log::warn("stop signal: checkpointed after round {}; continue with `fedvlm run --resume` on {}", done,
                  run_dir.string());
      outcome.interrupted = true;
      return outcome;
    }
  }
  if (comm.is_root()) {
    summary.set_time(clock);
    outcome.summary = summary.to_json();
    write_summary(run_dir, outcome.summary);
    log::info("final metrics after {} rounds:\n{}", total_rounds, eval::format_metrics_table(summary.final_table()));
  }
  return outcome;
}

}  // namespace fedvlm::sim
