#include "fedvlm/sim/local_trainer.hpp"

#include <numeric>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/rng.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "autocast_scope.hpp"

namespace fedvlm::sim {
namespace {

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const LocalConfig& local, std::vector<torch::Tensor> params,
                                                        double lr) {
  if (local.optimizer == "sgd") {
    return std::make_unique<torch::optim::SGD>(
        params, torch::optim::SGDOptions(lr).momentum(local.momentum).weight_decay(local.weight_decay));
  }
  return std::make_unique<torch::optim::AdamW>(params, torch::optim::AdamWOptions(lr).weight_decay(local.weight_decay));
}

}  // namespace

LocalTrainer::LocalTrainer(model::VisionLanguageModel& model, const Config& config, model::SpecialTokens special,
                           torch::Device device)
    : model_(model), config_(config), special_(special), device_(device), bf16_(config.run.precision == "bf16") {
  // The config refuses bf16 with run.device = cpu; run.device = auto lands here on the CPU.
  if (bf16_ && !device_.is_cuda())
    throw InputError(fmt::format("run.precision = \"bf16\" is CUDA autocast, but this rank computes on {} "
                                 "(run.device = \"{}\"): use run.precision = \"fp32\" here",
                                 device_.str(), config.run.device));
}

std::int64_t local_steps(const LocalConfig& local, std::int64_t samples) {
  if (local.steps > 0) return samples > 0 ? local.steps : 0;
  return local.epochs * ((samples + local.batch_size - 1) / local.batch_size);
}

std::vector<std::int64_t> local_steps_of_clients(const LocalConfig& local,
                                                 const std::vector<std::int64_t>& client_samples) {
  std::vector<std::int64_t> steps;
  steps.reserve(client_samples.size());
  for (const std::int64_t samples : client_samples) steps.push_back(local_steps(local, samples));
  return steps;
}

std::int64_t samples_in_steps(std::int64_t samples, std::int64_t batch, std::int64_t steps) {
  if (samples <= 0) return 0;
  const std::int64_t steps_per_pass = (samples + batch - 1) / batch;
  // Steps short of a whole pass never reach its short last batch.
  return steps / steps_per_pass * samples + steps % steps_per_pass * batch;
}

std::int64_t steps_covering(std::int64_t samples, std::int64_t batch, std::int64_t budget) {
  if (samples <= 0 || budget <= 0) return 0;
  const std::int64_t steps_per_pass = (samples + batch - 1) / batch;
  return budget / samples * steps_per_pass + (budget % samples + batch - 1) / batch;
}

LocalResult LocalTrainer::train(const model::TrainableSet& trainable, const data::Samples& samples,
                                std::int64_t client, std::int64_t round, const torch::Tensor& x, double lr,
                                fl::ClientUpdate* update, std::int64_t steps) {
  const auto& params = trainable.parameters;
  model::assign_values(params, x);
  LocalResult result;
  const std::int64_t n = samples.size();
  const std::int64_t total_steps = steps >= 0 ? (n > 0 ? steps : 0) : local_steps(config_.local, n);
  if (total_steps == 0) {
    result.params = x.clone();
    return result;
  }
  model_.train();
  // The centralized baseline's one client (id < 0) draws as client 0 does, so a one-client
  // federation and centralized training see the same batches.
  const std::int64_t stream_client = std::max<std::int64_t>(client, 0);
  const auto seed = static_cast<std::uint64_t>(config_.run.seed);
  model_.seed_dropout({seed, "dropout", round, stream_client});
  auto optimizer = make_optimizer(config_.local, params, lr);
  Rng order_rng({seed, "local-shuffle", round, stream_client});

  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::size_t cursor = order.size();  // start with a shuffle
  const auto batch_size = static_cast<std::size_t>(config_.local.batch_size);
  std::vector<std::int64_t> rows;
  for (std::int64_t step = 0; step < total_steps; ++step) {
    if (cursor >= order.size()) {  // a new pass over the client's data
      std::iota(order.begin(), order.end(), 0);
      order_rng.shuffle(order);
      cursor = 0;
    }
    const std::size_t end = std::min(order.size(), cursor + batch_size);
    rows.assign(order.begin() + static_cast<std::ptrdiff_t>(cursor), order.begin() + static_cast<std::ptrdiff_t>(end));
    cursor = end;

    const model::Batch batch = model::collate_training(samples, rows, special_).to(device_);
    optimizer->zero_grad();
    torch::Tensor loss;
    {
      const AutocastScope autocast(bf16_);  // the forward pass only; backward follows its casts
      loss = model_.loss(batch);
    }
    loss.backward();
    if (update && update->adjusts_gradient()) {
      // The algorithm's term (FedProx, SCAFFOLD) acts on the flat gradient of the trainable vector.
      torch::Tensor grad = model::flatten_grads(params);
      const torch::Tensor y = model::flatten_values(params);
      update->adjust_gradient(grad, y);
      model::assign_grads(params, grad);
    }
    if (config_.local.grad_clip > 0) torch::nn::utils::clip_grad_norm_(params, config_.local.grad_clip);
    optimizer->step();
    if (update && update->adjusts_params()) {
      // A term on the parameters themselves (SCAFFOLD's correction in step space).
      torch::Tensor y = model::flatten_values(params);
      update->adjust_params(y);
      model::assign_values(params, y);
    }
    result.loss_sum += loss.item<double>();
    result.samples_seen += static_cast<std::int64_t>(rows.size());
    ++result.steps;
  }
  result.params = model::flatten_values(params);
  return result;
}

}  // namespace fedvlm::sim
