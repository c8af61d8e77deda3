// Pieces shared by the algorithm implementations (private to src/fl/algorithms).
#pragma once

#include <string>

#include "fedvlm/fl/algorithm.hpp"

namespace fedvlm::fl::detail {

// Client side of an algorithm whose clients run plain local steps (FedAvg, FedAvgM, the
// adaptive family): folds wᵢ, 1 and wᵢ·sᵢ·(yᵢ − x) into the standard segments (sᵢ: the DP
// clipping scale of ClientOutcome, 1 without DP).
class PlainClientUpdate : public ClientUpdate {
 public:
  PlainClientUpdate(const FlConfig& config, ClientContext context, std::int64_t length);
  void finish(const ClientOutcome& outcome, Accumulator& accumulator) override;

 protected:
  // Checks the outcome, adds the standard segments (wᵢ, 1, wᵢ·sᵢ·(yᵢ − x)) and returns wᵢ.
  double fold_delta(const ClientOutcome& outcome, Accumulator& accumulator) const;
  // yᵢ − x in float64 (exact: both are float32), for algorithms that need more than the fold.
  torch::Tensor difference(const ClientOutcome& outcome, torch::Device device) const;

  FlConfig config_;
  ClientContext context_;
  std::int64_t length_;
};

// Base of every algorithm: keeps the shared keys (config.fl, validated by make_algorithm), checks
// lengths and forms Δ = Σ pᵢΔᵢ. An algorithm reads its own keys in its constructor (Config::get).
class AlgorithmBase : public Algorithm {
 public:
  explicit AlgorithmBase(const Config& config);
  void reset(std::int64_t n, torch::Device device) override;
  Accumulator make_accumulator() const override;
  TensorMap state_dict() const override;
  void load_state_dict(const TensorMap& state) override;

 protected:
  // The algorithm's own state tensors (besides the length) for checkpoints, and their reset.
  virtual void reset_state() {}
  virtual void save_state(TensorMap& state) const {}
  virtual void load_state(const TensorMap& state) {}

  // Checks that reset() has run and that x (and a client context) has the current length.
  void check_global(const torch::Tensor& x, const char* where) const;
  void check_context(const ClientContext& context) const;
  // Throws when the reduced accumulator holds no client or zero total weight.
  void check_cohort(const Accumulator& reduced, std::int64_t round) const;
  // Δ = Σ wᵢΔᵢ / Σ wᵢ as float32 on device() (after check_cohort).
  torch::Tensor mean_delta(const Accumulator& reduced, std::int64_t round) const;

  FlConfig config_;
};

// Checkpoint helpers: save a CPU clone; load into `target` in place after checking name and shape.
void put_state(TensorMap& state, const std::string& name, const torch::Tensor& tensor);
void take_state(const TensorMap& state, const std::string& name, torch::Tensor& target);

// "float32 [4]" or "an undefined tensor", for error messages.
std::string describe(const torch::Tensor& tensor);

}  // namespace fedvlm::fl::detail
