#include "fedvlm/sim/local_trainer.hpp"

#include <chrono>
#include <numeric>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fault_injection.hpp"
#include "fedvlm/core/rng.hpp"
#include "fedvlm/core/torch_rng.hpp"
#include "fedvlm/model/autocast_scope.hpp"
#include "fedvlm/model/client_stack.hpp"
#include "fedvlm/model/flat_view.hpp"

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

// A client's batches: passes over its samples, each over a fresh shuffle from its stream, the
// last batch of a pass holding what is left.
class BatchOrder {
 public:
  BatchOrder(std::int64_t samples, const StreamKey& key)
      : order_(static_cast<std::size_t>(samples)), cursor_(order_.size()), rng_(key) {}
  const std::vector<std::int64_t>& next(std::size_t batch_size) {
    if (cursor_ >= order_.size()) {  // a new pass over the client's data
      std::iota(order_.begin(), order_.end(), 0);
      rng_.shuffle(order_);
      cursor_ = 0;
    }
    const std::size_t end = std::min(order_.size(), cursor_ + batch_size);
    rows_.assign(order_.begin() + static_cast<std::ptrdiff_t>(cursor_), order_.begin() + static_cast<std::ptrdiff_t>(end));
    cursor_ = end;
    return rows_;
  }

 private:
  std::vector<std::int64_t> order_, rows_;
  std::size_t cursor_;  // starts at the end: the first batch comes from a fresh shuffle
  Rng rng_;
};

// The centralized baseline's one client (id < 0) draws as client 0 does, so a one-client
// federation and centralized training see the same batches.
std::int64_t stream_client(std::int64_t client) { return std::max<std::int64_t>(client, 0); }

void check_bf16(bool bf16, const torch::Device& device, const Config& config) {
  // The config refuses bf16 with run.device = cpu; run.device = auto lands here on the CPU.
  if (bf16 && !device.is_cuda())
    throw InputError(fmt::format("run.precision = \"bf16\" is CUDA autocast, but this rank computes on {} "
                                 "(run.device = \"{}\"): use run.precision = \"fp32\" here",
                                 device.str(), config.run.device));
}

}  // namespace

LocalTrainer::LocalTrainer(model::VisionLanguageModel& model, const Config& config, model::SpecialTokens special,
                           torch::Device device)
    : model_(model), config_(config), special_(special), device_(device), bf16_(config.run.precision == "bf16") {
  check_bf16(bf16_, device_, config_);
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

torch::optim::Optimizer& LocalTrainer::fresh_optimizer(const std::vector<torch::Tensor>& params, double lr) {
  if (flat_.bind(params) || !optimizer_) {
    optimizer_ = make_optimizer(config_.local, {flat_.values()}, lr);
    return *optimizer_;
  }
  for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
  if (config_.local.optimizer == "sgd") {
    optimizer_->state().clear();  // a momentum buffer starts as the first gradient
  } else {  // AdamW's moments start at zero and its step count at 0, as a new optimizer's
    for (auto& item : optimizer_->state()) {
      auto& state = static_cast<torch::optim::AdamWParamState&>(*item.second);
      state.step(0);
      state.exp_avg().zero_();
      state.exp_avg_sq().zero_();
    }
  }
  return *optimizer_;
}

LocalResult LocalTrainer::train(const model::TrainableSet& trainable, const data::Samples& samples,
                                std::int64_t client, std::int64_t round, const torch::Tensor& x, double lr,
                                fl::ClientUpdate* update, std::int64_t steps, Params params) {
  LocalResult result;
  const std::int64_t n = samples.size();
  const std::int64_t total_steps = steps >= 0 ? (n > 0 ? steps : 0) : local_steps(config_.local, n);
  if (total_steps == 0) {
    model::assign_values(trainable.parameters, x);
    result.params = x.clone();
    return result;
  }
  auto& optimizer = fresh_optimizer(trainable.parameters, lr);
  // The model's trainable tensors are views of these two (model/flat_parameters.hpp).
  const torch::Tensor y = flat_.values().detach();
  torch::Tensor grad = flat_.grads();
  {
    torch::NoGradGuard no_grad;
    FEDVLM_CHECK(x.numel() == y.numel(), "local training: x has {} values, the trainable set {}", x.numel(), y.numel());
    y.copy_(x);
  }
  if (!model_.is_training()) model_.train();  // evaluation switches the whole model to eval
  const auto seed = static_cast<std::uint64_t>(config_.run.seed);
  model_.seed_dropout({seed, "dropout", round, stream_client(client)});
  BatchOrder order(n, {seed, "local-shuffle", round, stream_client(client)});
  const auto batch_size = static_cast<std::size_t>(config_.local.batch_size);
  torch::Tensor loss_sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t step = 0; step < total_steps; ++step) {
    const auto& rows = order.next(batch_size);
    const model::Batch batch = model::collate_training(samples, rows, special_).to(device_);
    grad.zero_();
    torch::Tensor loss;
    {
      const model::AutocastScope autocast(bf16_);  // the forward pass only; backward follows its casts
      loss = model_.loss(batch);
    }
    loss.backward();  // accumulates into grad, through the parameters' gradient views
    torch::NoGradGuard no_grad;
    // The algorithm's term (FedProx, SCAFFOLD) acts on the flat gradient, in place.
    if (update && update->adjusts_gradient()) update->adjust_gradient(grad, y);
    if (config_.local.grad_clip > 0) {  // clip_grad_norm_'s rule, on the device
      grad.mul_((config_.local.grad_clip / (grad.norm() + 1e-6)).clamp_max(1.0));
    }
    optimizer.step();
    if (update && update->adjusts_params()) {
      // A term on the parameters themselves (SCAFFOLD's correction in step space), in place.
      torch::Tensor values = y;
      update->adjust_params(values);
    }
    fault_point("local-step");
    loss_sum += loss.detach().to(torch::kFloat64);
    result.samples_seen += static_cast<std::int64_t>(rows.size());
    ++result.steps;
  }
  result.loss_sum = loss_sum.item<double>();
  step_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.params = params == Params::kView ? y : y.clone();
  return result;
}

BatchedTrainer::BatchedTrainer(model::VisionLanguageModel& model, const Config& config, model::SpecialTokens special,
                               torch::Device device)
    : model_(model), config_(config), special_(special), device_(device), bf16_(config.run.precision == "bf16") {
  check_bf16(bf16_, device_, config_);
}

namespace {

// Sets the model's client stack for a scope.
class StackScope {
 public:
  StackScope(model::VisionLanguageModel& model, const model::ClientStack& stack) : model_(model) {
    model_.set_client_stack(&stack);
  }
  ~StackScope() { model_.set_client_stack(nullptr); }
  StackScope(const StackScope&) = delete;
  StackScope& operator=(const StackScope&) = delete;

 private:
  model::VisionLanguageModel& model_;
};

}  // namespace

std::vector<LocalResult> BatchedTrainer::train(const model::TrainableSet& trainable, std::span<const Client> clients,
                                               std::int64_t round, const torch::Tensor& x, double lr,
                                               std::int64_t steps) {
  const auto k = static_cast<std::int64_t>(clients.size());
  FEDVLM_CHECK(k >= 1 && steps >= 1, "batched training of {} clients for {} steps", k, steps);
  FEDVLM_CHECK(x.numel() == trainable.numel(), "batched training: x has {} values, the trainable set {}", x.numel(),
               trainable.numel());
  for (const auto& name : trainable.names) {  // what the stack stands for in the model's forward pass
    const bool stackable = name.rfind("connector.", 0) == 0 || name.find(".lora_") != std::string::npos;
    FEDVLM_CHECK(stackable, "batched training cannot stack {} (only connector and LoRA tensors)", name);
  }
  const auto seed = static_cast<std::uint64_t>(config_.run.seed);
  std::vector<at::Generator> generators;
  std::vector<BatchOrder> orders;
  for (const auto& client : clients) {
    FEDVLM_CHECK(client.samples != nullptr && client.samples->size() > 0,
                 "batched training: client {} has no samples", client.id);
    generators.push_back(torch_generator({seed, "dropout", round, stream_client(client.id)}));
    orders.emplace_back(client.samples->size(), StreamKey{seed, "local-shuffle", round, stream_client(client.id)});
  }
  bool adjusts_gradient = false, adjusts_params = false;
  for (const auto& client : clients) {
    adjusts_gradient = adjusts_gradient || (client.update && client.update->adjusts_gradient());
    adjusts_params = adjusts_params || (client.update && client.update->adjusts_params());
  }

  // Row c of `values` is client c's flat vector y; the stack reads the model's trained tensors
  // from it, so the model's own values stay as they are.
  torch::Tensor values = x.detach().to(device_).unsqueeze(0).repeat({k, 1}).set_requires_grad(true);
  torch::Tensor grad = torch::zeros_like(values);  // [K, n]: row c is client c's gradient alone
  values.mutable_grad() = grad;
  auto optimizer = make_optimizer(config_.local, {values}, lr);
  model::ClientStack stack(trainable, k);
  stack.bind(values);
  const StackScope scope(model_, stack);
  model_.train();

  const auto batch_size = static_cast<std::size_t>(config_.local.batch_size);
  const auto image_tokens = model_.num_image_tokens();
  std::vector<model::Batch> batches(static_cast<std::size_t>(k));
  std::vector<std::int64_t> rows(static_cast<std::size_t>(k)), lengths(static_cast<std::size_t>(k));
  std::vector<LocalResult> results(static_cast<std::size_t>(k));
  torch::Tensor loss_sums = torch::zeros({k}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  for (std::int64_t step = 0; step < steps; ++step) {
    for (std::size_t c = 0; c < clients.size(); ++c) {
      const auto& picked = orders[c].next(batch_size);
      batches[c] = model::collate_training(*clients[c].samples, picked, special_);
      rows[c] = static_cast<std::int64_t>(picked.size());
      lengths[c] = image_tokens + batches[c].length();
      results[c].samples_seen += rows[c];
    }
    const model::Batch batch = model::concat_training(batches, special_).to(device_);
    stack.set_layout(rows, lengths, generators, device_);
    stack.zero_grads();
    torch::Tensor losses;
    {
      const model::AutocastScope autocast(bf16_);
      losses = model_.client_losses(batch);
    }
    losses.sum().backward();
    stack.gather_grads(grad);
    torch::NoGradGuard no_grad;
    const torch::Tensor y = values.detach();
    if (adjusts_gradient) {
      for (std::size_t c = 0; c < clients.size(); ++c) {
        auto* update = clients[c].update;
        if (update == nullptr || !update->adjusts_gradient()) continue;
        torch::Tensor row = grad[static_cast<std::int64_t>(c)];
        update->adjust_gradient(row, y[static_cast<std::int64_t>(c)]);
      }
    }
    if (config_.local.grad_clip > 0) {  // each client's norm, as clip_grad_norm_ computes it alone
      const auto norms = grad.norm(2, {1}, /*keepdim=*/true);
      grad.mul_((config_.local.grad_clip / (norms + 1e-6)).clamp_max(1.0));
    }
    optimizer->step();
    if (adjusts_params) {
      for (std::size_t c = 0; c < clients.size(); ++c) {
        auto* update = clients[c].update;
        if (update == nullptr || !update->adjusts_params()) continue;
        torch::Tensor row = y[static_cast<std::int64_t>(c)];
        update->adjust_params(row);
      }
    }
    fault_point("local-step");
    loss_sums += losses.detach().to(torch::kFloat64);
  }
  const torch::Tensor sums = loss_sums.cpu();
  for (std::int64_t c = 0; c < k; ++c) {
    auto& result = results[static_cast<std::size_t>(c)];
    result.params = values.detach()[c];  // a row view: it keeps the [K, n] tensor alive, not a copy
    result.steps = steps;
    result.loss_sum = sums[c].item<double>();
  }
  return results;
}

}  // namespace fedvlm::sim
