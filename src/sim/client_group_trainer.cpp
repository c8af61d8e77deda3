#include "fedvlm/sim/client_group_trainer.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <map>
#include <numeric>
#include <set>
#include <tuple>
#include <thread>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/fl/differential_privacy.hpp"
#include "fedvlm/model/vlm.hpp"
#include "fedvlm/sim/setup.hpp"

namespace fedvlm::sim {
namespace {

// The centralized baseline's union (data id -1) is the algorithm's one client, id 0.
fl::ClientContext client_context(std::int64_t client, const RoundContext& context) {
  return {std::max<std::int64_t>(client, 0), context.round, context.global, context.lr};
}

std::set<std::string> ever_trained(model::VisionLanguageModel& model, const Config& config) {
  auto names = model::ever_trainable_set(model, model::parse_strategy(config.finetune.strategy)).names;
  return {std::make_move_iterator(names.begin()), std::make_move_iterator(names.end())};
}

// Gives `replica` the values of `model`: parameters in `trained` and buffers are copied, every
// other parameter shares the model's tensor (it never changes during fine-tuning).
void mirror(model::VisionLanguageModel& model, model::VisionLanguageModel& replica, const std::set<std::string>& trained) {
  torch::NoGradGuard no_grad;
  const auto parameters = model.named_parameters();
  for (auto& item : replica.named_parameters()) {
    const torch::Tensor* value = parameters.find(item.key());
    FEDVLM_CHECK(value != nullptr && value->sizes() == item.value().sizes(),
                 "model replica: parameter {} does not match the rank's model", item.key());
    if (trained.count(item.key()) > 0) item.value().copy_(*value);
    else item.value().set_data(*value);
  }
  const auto buffers = model.named_buffers();
  for (auto& item : replica.named_buffers()) {
    const torch::Tensor* value = buffers.find(item.key());
    FEDVLM_CHECK(value != nullptr && value->sizes() == item.value().sizes(),
                 "model replica: buffer {} does not match the rank's model", item.key());
    item.value().copy_(*value);
  }
}

// The round's clients on one rank, in increasing id order, as the group trainers hold them.
struct RoundClients {
  const std::vector<std::int64_t>& ids;
  std::vector<std::int64_t> steps;
  std::vector<ClientData::Samples> samples;
  std::vector<std::unique_ptr<fl::ClientUpdate>> updates;
  std::vector<LocalResult> results;

  RoundClients(const std::vector<std::int64_t>& clients, ClientData& data, const LocalConfig& local)
      : ids(clients), samples(clients.size()), updates(clients.size()), results(clients.size()) {
    steps.reserve(clients.size());
    for (const auto id : clients) steps.push_back(local_steps(local, data.sample_count(id)));
  }
  // Reads member i's data unless read already (returning the seconds it took).
  double read(std::size_t i, ClientData& data) {
    if (samples[i]) return 0.0;
    const double read_before = data.read_seconds();
    samples[i] = data.samples(ids[i]);
    return data.read_seconds() - read_before;
  }
  // Reads member i's data (returning the seconds it took) and opens its update.
  double open(std::size_t i, ClientData& data, fl::Algorithm& algorithm, const RoundContext& context) {
    const double seconds = read(i, data);
    updates[i] = algorithm.begin_client(client_context(ids[i], context));
    return seconds;
  }
  // Folds member i into the accumulator (unless its update is bad) and lets go of what it held.
  void fold(std::size_t i, const RoundContext& context, const FlConfig& fl, fl::Accumulator& accumulator) {
    const fl::Robustness* robustness = context.robustness;
    std::int64_t row = -1;
    if (robustness && robustness->aggregator.robust()) {
      FEDVLM_CHECK(context.cohort, "a robust aggregator needs the round's cohort to place client {}", ids[i]);
      const auto found = std::lower_bound(context.cohort->begin(), context.cohort->end(), ids[i]);
      FEDVLM_CHECK(found != context.cohort->end() && *found == ids[i], "client {} is not in round {}'s cohort", ids[i],
                   context.round + 1);
      row = found - context.cohort->begin();
    }
    fold_client(*updates[i], results[i], samples[i]->size(),
                {ids[i], context.round, context.global, fl.max_update_norm, fl.dp_clip,
                 robustness && robustness->attack.enabled() ? &robustness->attack : nullptr, row},
                accumulator);
    samples[i].reset();
    updates[i].reset();
    results[i] = {};
  }
};

// The round's clients in groups of up to `group_size` (client_groups). Groups of several clients
// (every member read already) take clients of similar mean sequence length within each step
// count, so that a batched pass pads little: a stack pads every row to its longest.
std::vector<std::vector<std::size_t>> round_groups(const RoundClients& round, std::int64_t group_size) {
  if (group_size <= 1) return client_groups(round.steps, group_size);
  const std::size_t n = round.ids.size();
  std::vector<double> length(n, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    const auto& samples = *round.samples[i];
    if (!samples.empty())
      length[i] = static_cast<double>(samples.prompt.size() + samples.answer.size()) / static_cast<double>(samples.size());
  }
  std::vector<std::size_t> order(n);
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return std::tie(round.steps[a], length[a]) < std::tie(round.steps[b], length[b]);
  });
  std::vector<std::int64_t> sorted_steps;
  sorted_steps.reserve(n);
  for (const auto i : order) sorted_steps.push_back(round.steps[i]);
  auto groups = client_groups(sorted_steps, group_size);
  for (auto& group : groups)
    for (auto& member : group) member = order[member];  // back to the round's positions
  return groups;
}

// Trains one group on one model: alone for a single client (or without a batched trainer),
// in one pass otherwise. `fold_at_once`: the caller folds a lone client before the trainer's
// next client, so its y may stay a view of the trainer's buffer.
void train_group(const std::vector<std::size_t>& group, RoundClients& round, const RoundContext& context,
                 const model::TrainableSet& trainable, LocalTrainer& alone, BatchedTrainer* batched,
                 bool fold_at_once = false) {
  if (group.size() == 1 || batched == nullptr) {
    const auto params = fold_at_once && group.size() == 1 ? LocalTrainer::Params::kView : LocalTrainer::Params::kCopy;
    for (const auto i : group) {
      round.results[i] = alone.train(trainable, *round.samples[i], round.ids[i], context.round, context.global,
                                     context.lr, round.updates[i].get(), round.steps[i], params);
    }
    return;
  }
  std::vector<BatchedTrainer::Client> members;
  members.reserve(group.size());
  for (const auto i : group) members.push_back({round.samples[i].get(), round.ids[i], round.updates[i].get()});
  auto results = batched->train(trainable, members, context.round, context.global, context.lr, round.steps[group[0]]);
  for (std::size_t m = 0; m < group.size(); ++m) round.results[group[m]] = std::move(results[m]);
}

}  // namespace

std::vector<std::vector<std::size_t>> client_groups(const std::vector<std::int64_t>& steps, std::int64_t group_size) {
  std::vector<std::vector<std::size_t>> groups;
  std::map<std::int64_t, std::size_t> open;  // step count -> its group still taking members
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i] <= 0 || group_size <= 1) {
      groups.push_back({i});
      continue;
    }
    auto it = open.find(steps[i]);
    if (it == open.end()) it = open.emplace(steps[i], groups.size()).first, groups.emplace_back();
    auto& group = groups[it->second];
    group.push_back(i);
    if (static_cast<std::int64_t>(group.size()) == group_size) open.erase(it);
  }
  return groups;
}

bool batches_clients(const Config& config) {
  return config.run.batched_clients > 1 && model::parse_strategy(config.finetune.strategy) != model::Strategy::kFull;
}

fl::Accumulator round_accumulator(const fl::Algorithm& algorithm, torch::Device device, std::int64_t client_rows) {
  auto layout = algorithm.make_accumulator().layout();
  for (const auto segment : {kTrainLossSegment, kTrainStepsSegment, kTrainSamplesSegment, fl::kBadClientsSegment,
                             fl::kDpClippedSegment, fl::kAttackedSegment})
    layout.push_back({std::string(segment), 1});
  if (client_rows > 0)
    for (auto& segment : fl::client_row_layout(client_rows, algorithm.length())) layout.push_back(std::move(segment));
  return fl::Accumulator(layout, device);
}

bool fold_client(fl::ClientUpdate& update, const LocalResult& result, std::int64_t samples, const UpdateScreen& screen,
                 fl::Accumulator& accumulator) {
  torch::Tensor params = result.params;
  if (screen.attack && screen.attack->attacks(screen.client)) {
    params = fl::attacked_params(*screen.attack, params, screen.global, screen.client, screen.round);
    accumulator.add_scalar(fl::kAttackedSegment, 1.0);
  }
  const double norm = std::sqrt(fl::squared_distance(params, screen.global));
  const bool too_large = screen.max_norm > 0.0 && norm > screen.max_norm;
  if (!std::isfinite(norm) || too_large || !std::isfinite(result.loss_sum)) {
    log::warn("round {}: client {}'s update is left out of aggregation: {}", screen.round + 1, screen.client,
              too_large ? fmt::format("its norm ||y - x|| = {:.4g} exceeds fl.max_update_norm = {:.4g}", norm,
                                      screen.max_norm)
                        : std::string("it is not finite (NaN or infinity)"));
    accumulator.add_scalar(fl::kBadClientsSegment, 1.0);
    return false;
  }
  const double scale = fl::dp_clip_scale(norm, screen.dp_clip);
  if (scale < 1.0) accumulator.add_scalar(fl::kDpClippedSegment, 1.0);
  update.finish({params, result.steps, samples, scale}, accumulator);
  if (screen.row >= 0 && samples > 0) {  // a client without samples took no step: no update to weigh
    accumulator.add_difference_row(fl::kClientRowsSegment, screen.row, params, screen.global, 1.0);
    accumulator.segment(fl::kClientRowUsedSegment)[screen.row].add_(1.0);
  }
  accumulator.add_scalar(kTrainLossSegment, result.loss_sum);
  accumulator.add_scalar(kTrainStepsSegment, static_cast<double>(result.steps));
  accumulator.add_scalar(kTrainSamplesSegment, static_cast<double>(result.samples_seen));
  return true;
}

SequentialGroupTrainer::SequentialGroupTrainer(ClientData& data, LocalTrainer& trainer, const Config& config,
                                               std::unique_ptr<BatchedTrainer> batched)
    : data_(data), trainer_(trainer), config_(config), batched_(std::move(batched)) {}

double SequentialGroupTrainer::train(const std::vector<std::int64_t>& clients, const RoundContext& context,
                                     fl::Algorithm& algorithm, const model::TrainableSet& trainable,
                                     fl::Accumulator& accumulator) {
  RoundClients round(clients, data_, config_.local);
  const std::int64_t group_size = batched_ ? config_.run.batched_clients : 1;
  double data_seconds = 0.0;
  if (group_size > 1) {  // grouping by sequence length reads every client first
    for (std::size_t i = 0; i < clients.size(); ++i) data_seconds += round.read(i, data_);
  }
  const auto groups = round_groups(round, group_size);
  std::vector<bool> trained(clients.size(), false);
  std::size_t next_fold = 0;  // clients fold in id order, as soon as every smaller id has trained
  for (const auto& group : groups) {
    for (const auto i : group) data_seconds += round.open(i, data_, algorithm, context);
    // A lone client whose smaller ids have all trained folds right after training.
    const bool fold_at_once = group.size() == 1 && group[0] == next_fold;
    train_group(group, round, context, trainable, trainer_, batched_.get(), fold_at_once);
    for (const auto i : group) trained[i] = true;
    for (; next_fold < clients.size() && trained[next_fold]; ++next_fold)
      round.fold(next_fold, context, config_.fl, accumulator);
  }
  return data_seconds;
}

struct ParallelGroupTrainer::Worker {
  std::shared_ptr<model::VisionLanguageModel> model;
  LocalTrainer trainer;
  std::unique_ptr<BatchedTrainer> batched;  // when groups hold several clients
};

ParallelGroupTrainer::ParallelGroupTrainer(ClientData& data, model::VisionLanguageModel& model,
                                           const ModelFactory& make_model, const Config& config,
                                           model::SpecialTokens special, torch::Device device, int workers)
    : data_(data),
      model_(model),
      config_(config),
      ever_trained_(ever_trained(model, config)),
      group_size_(batches_clients(config) ? config.run.batched_clients : 1) {
  FEDVLM_CHECK(workers >= 1, "ParallelGroupTrainer needs at least one worker, got {}", workers);
  for (int w = 0; w < workers; ++w) {
    auto replica = make_model();
    replica->to(device);
    mirror(model, *replica, ever_trained_);
    auto& replica_ref = *replica;
    auto batched = group_size_ > 1 ? std::make_unique<BatchedTrainer>(replica_ref, config, special, device) : nullptr;
    workers_.push_back(std::make_unique<Worker>(
        Worker{std::move(replica), LocalTrainer(replica_ref, config, special, device), std::move(batched)}));
  }
}

ParallelGroupTrainer::~ParallelGroupTrainer() = default;

// A parameter that trained in an earlier stage (F-2stage's connector) and is frozen now holds, on
// a replica, the last client's value: give it the rank's (global) value again. Parameters this
// round trains are overwritten with x by every client anyway.
void ParallelGroupTrainer::refresh_frozen_copies(model::VisionLanguageModel& replica,
                                                 const model::TrainableSet& trainable) const {
  const std::set<std::string> training(trainable.names.begin(), trainable.names.end());
  torch::NoGradGuard no_grad;
  const auto source = model_.named_parameters();
  auto target = replica.named_parameters();
  for (const auto& name : ever_trained_)
    if (training.count(name) == 0) target[name].copy_(source[name]);
}

const model::VisionLanguageModel& ParallelGroupTrainer::replica(int worker) const {
  return *workers_.at(static_cast<std::size_t>(worker))->model;
}

double ParallelGroupTrainer::train(const std::vector<std::int64_t>& clients, const RoundContext& context,
                                   fl::Algorithm& algorithm, const model::TrainableSet& /*trainable: replicas have their own*/,
                                   fl::Accumulator& accumulator) {
  // On this thread, in id order: read the data, open each client's update.
  RoundClients round(clients, data_, config_.local);
  double data_seconds = 0.0;
  for (std::size_t i = 0; i < clients.size(); ++i) data_seconds += round.open(i, data_, algorithm, context);
  const auto groups = round_groups(round, group_size_);

  // On the workers: the local steps. Each takes the next untrained group until none is left.
  const std::size_t active = std::min(workers_.size(), groups.size());
  std::vector<model::TrainableSet> trainable(active);
  for (std::size_t w = 0; w < active; ++w) {
    trainable[w] = model::apply_strategy(*workers_[w]->model, config_.finetune, context.round);
    refresh_frozen_copies(*workers_[w]->model, trainable[w]);
  }
  std::vector<std::exception_ptr> errors(active);
  std::atomic<std::size_t> next{0};
  auto work = [&](std::size_t w) {
    try {
      at::init_num_threads();  // this thread's share of the intra-op threads (set_num_threads)
      for (std::size_t g = next++; g < groups.size(); g = next++) {
        train_group(groups[g], round, context, trainable[w], workers_[w]->trainer, workers_[w]->batched.get());
      }
    } catch (...) {
      errors[w] = std::current_exception();
      next = groups.size();  // the others stop after their current group
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t w = 1; w < active; ++w) threads.emplace_back(work, w);
  if (active > 0) work(0);
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors)
    if (error) std::rethrow_exception(error);

  // Back on this thread, in id order: fold each client into the accumulator.
  for (std::size_t i = 0; i < clients.size(); ++i) round.fold(i, context, config_.fl, accumulator);
  return data_seconds;
}

std::unique_ptr<ClientGroupTrainer> make_group_trainer(ClientData& data, LocalTrainer& trainer,
                                                       model::VisionLanguageModel& model,
                                                       const ParallelGroupTrainer::ModelFactory& make_model,
                                                       const Config& config, model::SpecialTokens special,
                                                       torch::Device device) {
  const auto workers = static_cast<int>(config.run.parallel_clients);
  if (config.run.batched_clients > 1) {
    if (batches_clients(config))
      log::debug("training up to {} clients with the same number of local steps in one pass", config.run.batched_clients);
    else
      log::info("run.batched_clients = {}: finetune.strategy = full trains the decoder's base weights, which every "
                "client's rows share, so clients train one at a time", config.run.batched_clients);
  }
  if (workers <= 1) {
    auto batched =
        batches_clients(config) ? std::make_unique<BatchedTrainer>(model, config, special, device) : nullptr;
    return std::make_unique<SequentialGroupTrainer>(data, trainer, config, std::move(batched));
  }
  // The clients share the rank's threads: each gets its part of the intra-op pool.
  const int threads = std::max(1, choose_threads(config.run.threads) / workers);
  torch::set_num_threads(threads);
  log::debug("training up to {} groups of clients at once per rank, {} torch thread(s) each", workers, threads);
  return std::make_unique<ParallelGroupTrainer>(data, model, make_model, config, special, device, workers);
}

}  // namespace fedvlm::sim
