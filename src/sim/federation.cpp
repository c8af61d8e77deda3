// run_federation: prepares the run directory and the workbench, then hands the run to its
// runner: a federated algorithm (here), the centralized baseline (centralized.cpp) or the
// local-only baseline (local_baseline.cpp).
#include "fedvlm/core/fs.hpp"
#include "fedvlm/sim/federation.hpp"

#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/fl/client_sampler.hpp"
#include "fedvlm/fl/client_state.hpp"
#include "fedvlm/fl/placement.hpp"
#include "fedvlm/sim/baselines.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "fedvlm/sim/client_group_trainer.hpp"
#include "fedvlm/sim/local_trainer.hpp"
#include "fedvlm/sim/round_loop.hpp"

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
  remove_tree(run_dir / "checkpoints");
  remove_tree(run_dir / "client-states");
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

std::int64_t megabytes(double mb) { return static_cast<std::int64_t>(mb * 1024.0 * 1024.0); }

// Federated training with a server algorithm: each round, the seed's cohort is placed on the
// ranks (at home where that keeps the round balanced), client states trained away from home move
// to their trainers, each rank trains its clients (run.parallel_clients at a time), and the loop
// aggregates.
RunOutcome run_federated(RunContext& run) {
  const Config& config = run.config;
  const auto& info = run.bench.dataset.info();
  auto& model = *run.bench.model;
  const int rank = run.comm.rank();
  const auto ownership = fl::ClientOwnership::aligned_with_shards(info.client_shard, run.comm.size());
  ClientData client_data(run.bench.dataset, megabytes(config.run.client_cache_mb),
                         [&ownership, rank](std::int64_t client) { return ownership.owns(rank, client); });
  LocalTrainer trainer(model, config, run.bench.special, run.bench.device);
  const auto make_model = [&] {
    return model::build_model(config.model, config.lora, info.image_shape, run.bench.tokenizer.vocab_size(),
                              static_cast<std::uint64_t>(config.run.seed));
  };
  const auto group_trainer =
      make_group_trainer(client_data, trainer, model, make_model, config, run.bench.special, run.bench.device);
  const fl::ClientSampler sampler(info.num_clients, config.fl.clients_per_round, static_cast<std::uint64_t>(config.run.seed));
  // Placement balances local steps: local.steps fixes them whatever a client's size.
  const std::vector<std::int64_t> work = local_steps_of_clients(config.local, info.client_samples);

  auto algorithm = fl::make_algorithm(config, info.num_clients);
  if (auto* states = algorithm->client_states())
    states->configure({.ownership = ownership,
                       .rank = rank,
                       .memory_budget_bytes = megabytes(config.run.client_state_mb),
                       .spill_file = client_state_spill_file(run.run_dir, rank)});
  RoundLoop loop(run, std::move(algorithm));
  return loop.run([&](const RoundInputs& in) {
    const std::vector<std::int64_t> cohort = sampler.cohort(in.round);  // sorted
    const auto placement = fl::place_clients(cohort, work, run.comm.size(), &ownership);
    if (auto* states = in.algorithm.client_states()) {
      const auto mark = RoundClock::Clock::now();
      states->begin_round(placement, run.comm);
      const double seconds = std::chrono::duration<double>(RoundClock::Clock::now() - mark).count();
      run.clock.add("communication", seconds);
      run.clock.add("train", -seconds);  // the loop charges the whole callback to training
    }
    return group_trainer->train(placement[static_cast<std::size_t>(rank)],
                                {in.round, in.global, in.lr, &in.robustness, &cohort}, in.algorithm, in.trainable,
                                in.accumulator);
  });
}

}  // namespace

RunOutcome run_federation(const Config& config, comm::Communicator& comm, const RunOptions& options) {
  const fs::path run_dir = run_directory(config);
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

  RunContext run{config, comm, options, run_dir, open_workbench(config), {}};
  const std::int64_t clients = run.bench.dataset.info().num_clients;
  if (config.fl.clients_per_round > clients)  // the centralized baseline sizes its rounds by this cohort too
    throw InputError(fmt::format("{}: fl.clients_per_round = {} but {} has {} clients",
                                 config.origins.at("fl.clients_per_round"), config.fl.clients_per_round,
                                 config.data.path, clients));
  const bool baseline = config.fl.algorithm == "local" || config.fl.algorithm == "centralized";
  if (baseline && config.fl.dp_clip > 0)
    throw InputError(fmt::format("{}: fl.dp_clip = {}, but DP-FedAvg protects the clients of a federation and "
                                 "fl.algorithm = \"{}\" aggregates no client updates: set fl.dp_clip = 0",
                                 config.origins.count("fl.dp_clip") ? config.origins.at("fl.dp_clip") : "config",
                                 config.fl.dp_clip, config.fl.algorithm));
  if (baseline)
    for (const auto& [key, off] : {std::pair<std::string, std::string>{"fl.attack", "none"}, {"fl.aggregator", "mean"}}) {
      const auto value = config.get<std::string>(key);
      if (value != off)
        throw InputError(fmt::format("{}: {} = \"{}\", but fl.algorithm = \"{}\" aggregates no client updates: set "
                                     "{} = \"{}\"",
                                     config.origins.count(key) ? config.origins.at(key) : "config", key, value,
                                     config.fl.algorithm, key, off));
    }
  if (config.fl.algorithm == "local") return run_local_only(run);
  if (config.fl.algorithm == "centralized") return run_centralized(run);
  return run_federated(run);
}

}  // namespace fedvlm::sim
