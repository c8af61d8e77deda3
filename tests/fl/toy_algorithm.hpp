// "toy-avg": an FL algorithm defined outside src/fl, registered by the tests that use it, to show
// that adding an algorithm needs nothing but its file and one registration call. It is FedAvg
// with the server step scaled by its own hyperparameter fl.toy_scale, x ← x + s·η_g·Δ, it gives
// the shared key fl.server_lr its own default (2 when set nowhere), and it counts its rounds as
// checkpointed server state ("toy_rounds").
#pragma once

#include <memory>

#include <torch/torch.h>

#include "fedvlm/core/config_registry.hpp"
#include "fedvlm/fl/algorithm.hpp"

namespace fedvlm::fl::testing {

class ToyClientUpdate final : public ClientUpdate {
 public:
  ToyClientUpdate(FlConfig config, ClientContext context) : config_(std::move(config)), context_(std::move(context)) {}

  void finish(const ClientOutcome& outcome, Accumulator& accumulator) override {
    const double weight = client_weight(config_, outcome.samples);
    const auto device = accumulator.buffer().device();
    accumulator.segment(kDeltaSegment)
        .add_(outcome.params.to(device, torch::kFloat64) - context_.global.to(device, torch::kFloat64), weight);
    accumulator.add_scalar(kWeightSegment, weight);
    accumulator.add_scalar(kClientsSegment, 1.0);
  }

 private:
  FlConfig config_;
  ClientContext context_;
};

class ToyAvg final : public Algorithm {
 public:
  explicit ToyAvg(const Config& config) : config_(config.fl), scale_(config.get<double>("fl.toy_scale")) {}

  std::string name() const override { return "toy-avg"; }
  void reset(std::int64_t n, torch::Device device) override {
    length_ = n;
    device_ = device;
    rounds_ = 0;
  }
  std::unique_ptr<ClientUpdate> begin_client(const ClientContext& context) override {
    return std::make_unique<ToyClientUpdate>(config_, context);
  }
  Accumulator make_accumulator() const override { return Accumulator(standard_layout(length_), device_); }
  void server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t) override {
    const torch::Tensor mean = (reduced.segment(kDeltaSegment) / reduced.total_weight()).to(x.device(), torch::kFloat32);
    x.add_(mean, scale_ * config_.server_lr);
    ++rounds_;
  }
  TensorMap state_dict() const override { return {{"toy_rounds", torch::tensor({rounds_}, torch::kInt64)}}; }
  void load_state_dict(const TensorMap& state) override { rounds_ = state.at("toy_rounds").item<std::int64_t>(); }

 private:
  FlConfig config_;
  double scale_;
  std::int64_t rounds_ = 0;
};

inline AlgorithmSpec toy_spec() {
  return {
      .name = "toy-avg",
      .doc = "Test only: FedAvg with the server step scaled by fl.toy_scale.",
      .parameters = {{.key = "fl.toy_scale",
                      .default_value = 1.0,
                      .doc = "Factor on the server step.",
                      .limits = {.min = 0, .max = 10, .min_exclusive = true}}},
      .shared_defaults = {{"fl.server_lr", 2.0}},
      .make = [](const Config& config, std::int64_t) { return std::make_unique<ToyAvg>(config); },
  };
}

}  // namespace fedvlm::fl::testing
