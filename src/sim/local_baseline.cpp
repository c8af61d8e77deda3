#include "fedvlm/sim/baselines.hpp"

#include <cmath>

#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/fl/lr_schedule.hpp"
#include "fedvlm/fl/placement.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "fedvlm/sim/evaluation.hpp"
#include "fedvlm/sim/local_trainer.hpp"
#include "fedvlm/sim/round_clock.hpp"
#include "fedvlm/sim/run_directory.hpp"
#include "fedvlm/sim/run_summary.hpp"

namespace fedvlm::sim {
namespace {

// The metrics each task reports (DESIGN.md section 7), in a fixed order every rank agrees on.
std::vector<std::pair<std::string, std::string>> metric_slots(const std::vector<std::string>& tasks) {
  std::vector<std::pair<std::string, std::string>> slots;
  for (const auto& task : tasks) {
    std::vector<std::string> metrics = {"loss"};
    if (task == "cls" || task == "vqa") metrics.push_back("accuracy");
    if (task == "cap") metrics.insert(metrics.end(), {"bleu4", "rouge_l", "cider"});
    if (task == "ground") metrics.insert(metrics.end(), {"iou", "acc_iou50"});
    for (const auto& metric : metrics) slots.emplace_back(task, metric);
  }
  return slots;
}

}  // namespace

RunOutcome run_local_only(RunContext& run) {
  const Config& config = run.config;
  Workbench& bench = run.bench;
  comm::Communicator& comm = run.comm;
  const std::filesystem::path& run_dir = run.run_dir;
  RoundClock& clock = run.clock;
  auto& model = *bench.model;
  const auto& info = bench.dataset.info();
  // Every client starts from these values of every parameter any stage trains (F-2stage's LoRA
  // included), never from what the previous client on this rank left in the model.
  const model::TrainableSet ever_trained =
      model::ever_trainable_set(model, model::parse_strategy(config.finetune.strategy));
  const torch::Tensor initial_values = model::flatten_values(ever_trained.parameters);
  model::TrainableSet trainable;
  if (comm.is_root()) write_resolved_config(run_dir, config);

  std::vector<std::int64_t> everyone(static_cast<std::size_t>(info.num_clients));
  std::iota(everyone.begin(), everyone.end(), 0);
  const auto mine = fl::place_clients(everyone, local_steps_of_clients(config.local, info.client_samples), comm.size())[static_cast<std::size_t>(comm.rank())];
  const auto slots = metric_slots(info.tasks);
  // Per slot: sum over clients and the number of clients that reported it.
  torch::Tensor sums = torch::zeros({2, static_cast<std::int64_t>(slots.size())}, torch::kFloat64);
  ClientData client_data(bench.dataset, 0);  // each client is read once: nothing to cache
  LocalTrainer trainer(model, config, bench.special, bench.device);
  std::int64_t trained = 0;
  double samples_seen = 0.0;
  for (const std::int64_t client : mine) {
    auto mark = RoundClock::Clock::now();
    const ClientData::Samples held = client_data.samples(client);
    const data::Samples& samples = *held;
    mark = clock.charge("data", mark);
    model::assign_values(ever_trained.parameters, initial_values);
    torch::Tensor x;
    for (std::int64_t round = 0; round < config.fl.rounds; ++round) {
      const model::TrainableSet round_set = model::apply_strategy(model, config.finetune, round);
      if (round_set.names != trainable.names || !x.defined()) x = model::flatten_values(round_set.parameters);
      trainable = round_set;
      const double lr = fl::local_lr_for_round(config.local, round, config.fl.rounds);
      LocalResult result = trainer.train(trainable, samples, client, round, x, lr, nullptr);
      x = std::move(result.params);
      samples_seen += static_cast<double>(result.samples_seen);
    }
    model::assign_values(trainable.parameters, x);
    mark = clock.charge("train", mark);
    model.eval();
    const eval::MetricsTable table = evaluate_on_test(config, bench, comm, /*local_only=*/true);
    clock.charge("eval", mark);
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const auto task = table.find(slots[i].first);
      if (task == table.end() || !task->second.count(slots[i].second)) continue;
      sums[0][static_cast<std::int64_t>(i)] += task->second.at(slots[i].second);
      sums[1][static_cast<std::int64_t>(i)] += 1.0;
    }
    log::info("local baseline: client {} done ({} of {} on this rank, {} elapsed)", client, ++trained, mine.size(),
              format_duration(clock.elapsed()));
  }
  const auto mark = RoundClock::Clock::now();
  comm::allreduce(comm, sums);
  torch::Tensor total_seen = torch::tensor({samples_seen}, torch::kFloat64);
  comm::allreduce(comm, total_seen);
  clock.charge("communication", mark);

  RunOutcome outcome;
  outcome.run_dir = run_dir;
  if (comm.is_root()) {
    eval::MetricsTable mean;
    for (std::size_t i = 0; i < slots.size(); ++i) {
      const double count = sums[1][static_cast<std::int64_t>(i)].item<double>();
      if (count > 0) mean[slots[i].first][slots[i].second] = sums[0][static_cast<std::int64_t>(i)].item<double>() / count;
    }
    MetricsLog metrics(run_dir / "metrics.jsonl");
    for (const auto& [task, values] : mean)
      for (const auto& [metric, value] : values)
        metrics.write({config.fl.rounds, "eval", task, metric, value, clock.elapsed()});
    RunSummary summary(config, comm.size(), info.num_clients);
    summary.add_evaluation(config.fl.rounds, mean);
    summary.add_trained_samples(static_cast<std::int64_t>(total_seen.item<double>()));
    summary.set_time(clock);
    outcome.summary = summary.to_json();
    outcome.summary["clients_averaged"] = info.num_clients;
    write_summary(run_dir, outcome.summary);
    log::info("local-only baseline, mean over {} clients:\n{}", info.num_clients, eval::format_metrics_table(mean));
  }
  return outcome;
}

}  // namespace fedvlm::sim
