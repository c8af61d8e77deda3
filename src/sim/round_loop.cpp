#include "fedvlm/sim/round_loop.hpp"

#include <cmath>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fault_injection.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/eval/metrics_table.hpp"
#include "fedvlm/fl/client_state.hpp"
#include "fedvlm/fl/lr_schedule.hpp"
#include "fedvlm/fl/round_protocol.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/model/hf/hf_vlm.hpp"
#include "fedvlm/model/hf/peft_export_config.hpp"
#include "fedvlm/sim/client_group_trainer.hpp"
#include "fedvlm/sim/evaluation.hpp"

namespace fedvlm::sim {
namespace {

bool due(std::int64_t every, std::int64_t rounds_done, std::int64_t total) {
  return rounds_done == total || (every > 0 && rounds_done % every == 0);
}

// Returns the heap's free pages to the OS. A round frees many state-sized blocks (client states
// coming and going through the bounded store, visiting states, per-client tensors); glibc keeps
// such freed blocks mapped, so without this a rank's RSS would creep above what it holds.
void release_free_heap() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

bool any_rank_stopping(comm::Communicator& comm) {
  torch::Tensor flag = torch::tensor({stop_signal_received() ? 1 : 0}, torch::kInt32);
  comm::allreduce(comm, flag, comm::ReduceOp::Max);
  return flag.item<int>() != 0;
}

// export.peft asks for what only a model loaded from a Hugging Face directory, trained by a
// strategy PEFT can express, can give: refused before the first round, not after the last.
void check_peft_export(const Config& config) {
  if (!config.get<bool>("export.peft")) return;
  if (!model::hf::is_hf_model_directory(config.model.base))
    throw InputError(fmt::format("export.peft = true needs model.base to be a Hugging Face model directory "
                                 "(config.json + safetensors); model.base = \"{}\" is not",
                                 config.model.base));
  if (config.finetune.strategy == "full")
    throw InputError("export.peft = true: finetune.strategy = \"full\" trains the base weights themselves, which a "
                     "PEFT adapter cannot hold; use F-L, F-CL, F-C or F-2stage");
}

}  // namespace

RoundLoop::RoundLoop(RunContext& run, std::unique_ptr<fl::Algorithm> algorithm)
    : run_(run),
      config_(run.config),
      model_(*run.bench.model),
      algorithm_(std::move(algorithm)),
      strategy_(model::parse_strategy(config_.finetune.strategy)),
      fingerprint_(run_fingerprint(config_, model_)),
      summary_(config_, run.comm.size(), run.bench.dataset.info().num_clients) {
  model::check_strategy(model_, strategy_);
  check_peft_export(config_);
  if (run_.options.resume) resume_from_checkpoint();
  else enter_stage(0);
  dp_ = fl::dp_settings(config_, *algorithm_, run.bench.dataset.info().num_clients);
  if (dp_.accounted()) accountant_.step(dp_.sampling_rate, dp_.noise_multiplier, start_round_);
  robustness_ = fl::robustness_settings(config_, *algorithm_, run.bench.dataset.info().num_clients);
  if (run_.comm.is_root()) {
    log::info("{}", model::describe_parameters(model_, trainable_));
    log_robustness();
    write_resolved_config(run_.run_dir, config_);
    metrics_.emplace(run_.run_dir / "metrics.jsonl", run_.options.resume ? start_round_ : -1);
  }
}

RunOutcome RoundLoop::run(const TrainRound& train_round) {
  RoundClock& clock = run_.clock;
  for (std::int64_t round = start_round_; round < config_.fl.rounds; ++round) {
    const double round_start = clock.elapsed();
    const auto train_start = RoundClock::Clock::now();
    enter_stage(round);
    fl::Accumulator accumulator = new_accumulator();
    const double lr = fl::local_lr_for_round(config_.local, round, config_.fl.rounds);
    const double data_seconds = train_round({round, x_, lr, trainable_, *algorithm_, accumulator, robustness_});
    clock.charge("train", train_start);
    clock.add("train", -data_seconds), clock.add("data", data_seconds);

    const fl::RoundProtocolReport protocol =
        fl::complete_round(*algorithm_, accumulator, run_.comm, x_, round,
                           {.max_bad_fraction = config_.fl.max_bad_fraction, .dp = dp_, .aggregator = robustness_.aggregator});
    model::assign_values(trainable_.parameters, x_);
    clock.add("communication", protocol.reduce_seconds + protocol.broadcast_seconds);
    clock.add("server", protocol.server_seconds);

    report_training(round + 1, accumulator, round_start);
    if (finish_round(round + 1)) return {.interrupted = true, .run_dir = run_.run_dir};
    release_free_heap();
  }
  RunOutcome outcome{.run_dir = run_.run_dir};
  const fl::ClientStateStore* states = algorithm_->client_states();
  const torch::Tensor memory = comm::allgather(
      run_.comm, torch::tensor({peak_rss_bytes(), states ? states->size() : 0, states ? states->spilled() : 0,
                                states ? states->memory_bytes() : 0},
                               torch::kInt64));
  if (run_.comm.is_root()) {
    export_peft();  // before summary.json: a run that reads as finished has its export
    summary_.set_time(clock);
    std::vector<std::array<std::int64_t, 4>> per_rank(static_cast<std::size_t>(memory.size(0)));
    const auto values = memory.accessor<std::int64_t, 2>();
    for (std::size_t rank = 0; rank < per_rank.size(); ++rank)
      for (std::size_t k = 0; k < 4; ++k) per_rank[rank][k] = values[static_cast<std::int64_t>(rank)][static_cast<std::int64_t>(k)];
    summary_.set_memory(std::move(per_rank));
    outcome.summary = summary_.to_json();
    write_summary(run_.run_dir, outcome.summary);
    log::info("final metrics after {} rounds:\n{}", config_.fl.rounds, eval::format_metrics_table(summary_.final_table()));
  }
  return outcome;
}

void RoundLoop::export_peft() {
  if (!config_.get<bool>("export.peft")) return;
  const std::filesystem::path base(config_.model.base);
  const auto out = model::hf::peft_export_directory(run_.run_dir);
  auto options = model::hf::peft_export_options(config_);
  // A tower + decoder composition: the adapter is the language model's; the connector, which
  // neither directory has, goes beside it as mm_projector.safetensors.
  const bool composed = !config_.model.vision_tower.empty();
  options.connector_as_mm_projector = composed;
  model::hf::export_hf_results(model_, base, composed ? model::hf::hf_decoder_model_mapping(base) : model::hf::hf_vlm_mapping(base),
                               model::ever_trainable_set(model_, strategy_).names, out, options);
  log::info("PEFT adapter of {} written to {}", base.string(), out.string());
}

void RoundLoop::resume_from_checkpoint() {
  // The newest checkpoint that is whole: one whose file or shards a crash or a disk damaged is
  // passed over, with a warning, for the one before it.
  std::filesystem::path path;
  RunState state;
  std::vector<std::string> unusable;
  for (const auto& candidate : checkpoints_newest_first(run_.run_dir)) {
    try {
      state = restore_run_state(candidate, model_, config_, fingerprint_);
      if (state.client_state_shards > 0) client_state_shard_paths(candidate, state.client_state_shards);
      path = candidate;
      break;
    } catch (const UnusableCheckpoint& e) {
      if (run_.comm.is_root()) log::warn("{}; resuming from the checkpoint before it", e.what());
      unusable.push_back(e.what());
    }
  }
  if (path.empty())
    throw InputError(fmt::format("{} holds no usable checkpoint to resume from:\n  {}", run_.run_dir.string(),
                                 fmt::join(unusable, "\n  ")));
  start_round_ = state.rounds_done;
  // The algorithm state belongs to the stage of the last round trained; should the next round
  // start another stage, enter_stage resets it as the uninterrupted run did.
  enter_stage(std::max<std::int64_t>(start_round_ - 1, 0));
  algorithm_->load_state_dict(state.algorithm_state);
  if (auto* states = algorithm_->client_states()) {
    if (state.client_state_shards < 0)
      throw InputError(fmt::format("{} was written by an older fedvlm that kept client states inside the checkpoint; "
                                   "resume it with that version, or start again",
                                   path.string()));
    states->load_shards(client_state_shard_paths(path, state.client_state_shards));
  }
  summary_.restore(state.extra);
  if (run_.comm.is_root()) log::info("resumed {} after round {}", path.string(), start_round_);
}

void RoundLoop::enter_stage(std::int64_t round) {
  const int stage = strategy_ == model::Strategy::kTwoStage && round >= config_.finetune.stage1_rounds ? 1 : 0;
  if (stage == stage_) return;
  const bool switching = stage_ >= 0;
  stage_ = stage;
  trainable_ = model::apply_strategy(model_, strategy_, round, config_.finetune.stage1_rounds);
  x_ = model::flatten_values(trainable_.parameters);
  algorithm_->reset(x_.numel(), run_.bench.device);
  if (switching && run_.comm.is_root())
    log::info("F-2stage: round {} switches to LoRA ({} values)", round + 1, x_.numel());
}

fl::Accumulator RoundLoop::new_accumulator() const {
  return round_accumulator(*algorithm_, run_.bench.device,
                           robustness_.aggregator.robust() ? robustness_.aggregator.cohort : 0);
}

void RoundLoop::log_robustness() const {
  const fl::AttackSettings& attack = robustness_.attack;
  if (attack.enabled()) {
    constexpr std::size_t kShown = 20;
    const std::vector<std::int64_t> shown(attack.attackers.begin(),
                                          attack.attackers.begin() + std::min(attack.attackers.size(), kShown));
    log::info("fl.attack = {}: {} of {} clients attack (clients {}{})", config_.get<std::string>("fl.attack"),
              attack.attackers.size(), run_.bench.dataset.info().num_clients, fmt::join(shown, ", "),
              attack.attackers.size() > kShown ? ", ..." : "");
  }
  if (robustness_.aggregator.robust()) {
    const double megabytes = 8.0 * static_cast<double>(robustness_.aggregator.cohort) *
                             static_cast<double>(x_.numel()) / (1024.0 * 1024.0);
    log::info("fl.aggregator = {}: every update of a cohort of {} goes to rank 0 (a {:.1f} MB accumulator per rank)",
              config_.get<std::string>("fl.aggregator"), robustness_.aggregator.cohort, megabytes);
  }
}

void RoundLoop::report_training(std::int64_t done, const fl::Accumulator& reduced, double round_start) {
  if (!run_.comm.is_root()) return;
  const double steps = reduced.scalar(kTrainStepsSegment);
  const double train_loss = steps > 0 ? reduced.scalar(kTrainLossSegment) / steps : std::nan("");
  record(done, "train", "all", "loss", train_loss);
  summary_.add_trained_samples(static_cast<std::int64_t>(reduced.scalar(kTrainSamplesSegment)));
  const double bad = reduced.scalar(fl::kBadClientsSegment);
  if (bad > 0) record(done, "train", "all", "left_out_clients", bad);
  const double attacked = reduced.scalar(fl::kAttackedSegment);
  if (attacked > 0) record(done, "train", "all", "attacked_clients", attacked);
  const std::string privacy = report_privacy(done, reduced);
  const double elapsed = run_.clock.elapsed();
  log::info("round {}/{} | train loss {:.4f}{}{} | {:.1f} s | ETA {}", done, config_.fl.rounds, train_loss,
            bad > 0 ? fmt::format(" | {} update(s) left out", bad) : std::string(), privacy, elapsed - round_start,
            format_duration(RoundClock::eta(elapsed, done - start_round_, config_.fl.rounds - done)));
}

std::string RoundLoop::report_privacy(std::int64_t done, const fl::Accumulator& reduced) {
  if (!dp_.enabled()) return {};
  const double clipped = reduced.scalar(fl::kDpClippedSegment);
  record(done, "train", "all", "dp_clipped_clients", clipped);
  nlohmann::json privacy = {{"mechanism", "DP-FedAvg (McMahan et al. 2018): clipped updates, fixed denominator"},
                            {"clip", dp_.clip},
                            {"noise_multiplier", dp_.noise_multiplier},
                            {"expected_cohort", dp_.expected_cohort},
                            {"sampling_rate", dp_.sampling_rate},
                            {"delta", dp_.delta},
                            {"rounds", done}};
  std::string line = fmt::format(" | {} clipped", clipped);
  if (dp_.accounted()) {
    accountant_.step(dp_.sampling_rate, dp_.noise_multiplier);
    const double epsilon = accountant_.epsilon(dp_.delta);
    record(done, "privacy", "all", "epsilon", epsilon);
    privacy["epsilon"] = epsilon;
    privacy["accountant"] = "RDP of the sampled Gaussian mechanism, Poisson sampling at rate q assumed (docs/privacy.md)";
    line += fmt::format(" | epsilon {:.3g} at delta {:g}", epsilon, dp_.delta);
  } else {
    privacy["epsilon"] = nullptr;  // clipping without noise promises nothing
    privacy["accountant"] = "none: fl.dp_noise_multiplier = 0 adds no noise, so no epsilon holds";
  }
  summary_.set_privacy(std::move(privacy));
  return line;
}

bool RoundLoop::finish_round(std::int64_t done) {
  const std::int64_t total = config_.fl.rounds;
  if (due(config_.eval.every, done, total)) evaluate(done);
  const bool stopping = any_rank_stopping(run_.comm);
  if (stopping || due(config_.checkpoint.every, done, total)) checkpoint(done);
  if (!stopping || done == total) return false;
  if (run_.comm.is_root())
    log::warn("stop signal: checkpointed after round {}; continue with `fedvlm run --resume {}`", done,
              run_.run_dir.string());
  return true;
}

void RoundLoop::evaluate(std::int64_t done) {
  const auto mark = RoundClock::Clock::now();
  model_.eval();
  const eval::MetricsTable table = evaluate_on_test(config_, run_.bench, run_.comm);
  run_.clock.charge("eval", mark);
  if (!run_.comm.is_root()) return;
  for (const auto& [task, values] : table)
    for (const auto& [metric, value] : values) record(done, "eval", task, metric, value);
  summary_.add_evaluation(done, table);
  log::info("evaluation after round {}:\n{}", done, eval::format_metrics_table(table));
}

void RoundLoop::checkpoint(std::int64_t done) {
  const auto mark = RoundClock::Clock::now();
  std::int64_t shards = 0;
  if (auto* states = algorithm_->client_states()) {
    states->save_shard(client_state_shard_path(checkpoint_path(run_.run_dir, done), run_.comm.rank()));
    fault_point("shard-saved");
    shards = run_.comm.size();
    run_.comm.barrier();  // the checkpoint file appears only once every shard is complete
  }
  if (run_.comm.is_root()) {
    summary_.set_time(run_.clock);
    RunState state = capture_run_state(done, model_, config_, algorithm_->state_dict(), summary_.checkpoint_extra(),
                                       fingerprint_);
    state.client_state_shards = shards;
    save_run_state(run_.run_dir, state, config_.checkpoint.keep);
  }
  run_.clock.charge("checkpoint", mark);
}

void RoundLoop::record(std::int64_t round, std::string phase, std::string task, std::string metric, double value) {
  if (metrics_)
    metrics_->write({round, std::move(phase), std::move(task), std::move(metric), value,
                     run_.clock.elapsed() + summary_.prior_seconds()});
}

}  // namespace fedvlm::sim
