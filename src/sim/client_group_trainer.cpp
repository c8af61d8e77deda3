#include "fedvlm/sim/client_group_trainer.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <set>
#include <thread>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"
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

}  // namespace

void fold_client(fl::ClientUpdate& update, const LocalResult& result, std::int64_t samples,
                 fl::Accumulator& accumulator) {
  update.finish({result.params, result.steps, samples}, accumulator);
  accumulator.add_scalar(kTrainLossSegment, result.loss_sum);
  accumulator.add_scalar(kTrainStepsSegment, static_cast<double>(result.steps));
  accumulator.add_scalar(kTrainSamplesSegment, static_cast<double>(result.samples_seen));
}

double SequentialGroupTrainer::train(const std::vector<std::int64_t>& clients, const RoundContext& context,
                                     fl::Algorithm& algorithm, const model::TrainableSet& trainable,
                                     fl::Accumulator& accumulator) {
  double data_seconds = 0.0;
  for (const std::int64_t client : clients) {
    const double read_before = data_.read_seconds();
    const ClientData::Samples held = data_.samples(client);
    const data::Samples& samples = *held;
    data_seconds += data_.read_seconds() - read_before;
    auto update = algorithm.begin_client(client_context(client, context));
    const LocalResult result =
        trainer_.train(trainable, samples, client, context.round, context.global, context.lr, update.get());
    fold_client(*update, result, samples.size(), accumulator);
  }
  return data_seconds;
}

struct ParallelGroupTrainer::Worker {
  std::shared_ptr<model::VisionLanguageModel> model;
  LocalTrainer trainer;
};

ParallelGroupTrainer::ParallelGroupTrainer(ClientData& data, model::VisionLanguageModel& model,
                                           const ModelFactory& make_model, const Config& config,
                                           model::SpecialTokens special, torch::Device device, int workers)
    : data_(data), model_(model), config_(config), ever_trained_(ever_trained(model, config)) {
  FEDVLM_CHECK(workers >= 1, "ParallelGroupTrainer needs at least one worker, got {}", workers);
  for (int w = 0; w < workers; ++w) {
    auto replica = make_model();
    replica->to(device);
    mirror(model, *replica, ever_trained_);
    auto& replica_ref = *replica;
    workers_.push_back(std::make_unique<Worker>(Worker{std::move(replica), LocalTrainer(replica_ref, config, special, device)}));
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
  const std::size_t n = clients.size();
  double data_seconds = 0.0;
  std::vector<ClientData::Samples> samples(n);
  std::vector<std::unique_ptr<fl::ClientUpdate>> updates(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double read_before = data_.read_seconds();
    samples[i] = data_.samples(clients[i]);
    data_seconds += data_.read_seconds() - read_before;
    updates[i] = algorithm.begin_client(client_context(clients[i], context));
  }

  // On the workers: the local steps. Each takes the next untrained client until none is left.
  const std::size_t active = std::min(workers_.size(), n);
  std::vector<model::TrainableSet> trainable(active);
  for (std::size_t w = 0; w < active; ++w) {
    trainable[w] = model::apply_strategy(*workers_[w]->model, config_.finetune, context.round);
    refresh_frozen_copies(*workers_[w]->model, trainable[w]);
  }
  std::vector<LocalResult> results(n);
  std::vector<std::exception_ptr> errors(active);
  std::atomic<std::size_t> next{0};
  auto work = [&](std::size_t w) {
    try {
      at::init_num_threads();  // this thread's share of the intra-op threads (set_num_threads)
      for (std::size_t i = next++; i < n; i = next++) {
        results[i] = workers_[w]->trainer.train(trainable[w], *samples[i], clients[i], context.round, context.global,
                                                context.lr, updates[i].get());
      }
    } catch (...) {
      errors[w] = std::current_exception();
      next = n;  // the others stop after their current client
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t w = 1; w < active; ++w) threads.emplace_back(work, w);
  if (active > 0) work(0);
  for (auto& thread : threads) thread.join();
  for (const auto& error : errors)
    if (error) std::rethrow_exception(error);

  // Back on this thread, in id order: fold each client into the accumulator.
  for (std::size_t i = 0; i < n; ++i) fold_client(*updates[i], results[i], samples[i]->size(), accumulator);
  return data_seconds;
}

std::unique_ptr<ClientGroupTrainer> make_group_trainer(ClientData& data, LocalTrainer& trainer,
                                                       model::VisionLanguageModel& model,
                                                       const ParallelGroupTrainer::ModelFactory& make_model,
                                                       const Config& config, model::SpecialTokens special,
                                                       torch::Device device) {
  const auto workers = static_cast<int>(config.run.parallel_clients);
  if (workers <= 1) return std::make_unique<SequentialGroupTrainer>(data, trainer);
  // The clients share the rank's threads: each gets its part of the intra-op pool.
  const int threads = std::max(1, choose_threads(config.run.threads) / workers);
  torch::set_num_threads(threads);
  log::debug("training up to {} clients at once per rank, {} torch thread(s) each", workers, threads);
  return std::make_unique<ParallelGroupTrainer>(data, model, make_model, config, special, device, workers);
}

}  // namespace fedvlm::sim
