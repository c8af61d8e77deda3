// SCAFFOLD (Karimireddy et al. 2020). fl.scaffold_control chooses where the correction c − cᵢ
// acts and how a client's new control cᵢ⁺ is computed:
//   "update":    gradient + (c − cᵢ) at every local step; cᵢ⁺ = cᵢ − c + (x − yᵢ)/(τᵢ·ηₗ)
//                (the paper's option II).
//   "gradients": gradient + (c − cᵢ) at every local step; cᵢ⁺ = (1/τᵢ) Σₖ gₖ, the mean raw
//                minibatch gradient of the round.
//   "steps":     y ← y − ηₗ(c − cᵢ) after every optimizer step; cᵢ⁺ by option II, which is then
//                the client's mean optimizer step per unit of learning rate.
// Under plain local SGD all three are the same algorithm (x − yᵢ = ηₗ Σₖ (gₖ + c − cᵢ)). Under
// AdamW, (x − yᵢ)/(τᵢ·ηₗ) is a normalized step of size ~1 per coordinate: "update" adds it to
// gradients orders smaller and swamps them; "gradients" stays in gradient units but AdamW then
// rescales the correction coordinate by coordinate; "steps" keeps controls and correction in
// the units of the optimizer's own steps. Either way the client contributes Δcᵢ = cᵢ⁺ − cᵢ.
//   server: x ← x + η_g·Δ;  c ← c + (|S|/N)·mean_S Δcᵢ = c + Σ_S Δcᵢ / N
// c is replicated on every rank through the round's broadcast ([x, c]); each cᵢ lives in the
// ClientStateStore of client i's home rank (checkpointed as that rank's shard, not in the
// algorithm state). A client that took no step keeps its cᵢ and contributes Δcᵢ = 0.
#include <fmt/format.h>

#include "base.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/client_state.hpp"

namespace fedvlm::fl {
namespace {

constexpr std::string_view kControlDeltaSegment = "control_delta";  // [n] Σ Δcᵢ (unweighted)

class ScaffoldClientUpdate final : public detail::PlainClientUpdate {
 public:
  ScaffoldClientUpdate(const FlConfig& config, const ClientContext& context, std::int64_t length,
                       const std::string& control, const torch::Tensor& server_control, ClientStateStore& store)
      : PlainClientUpdate(config, context, length),
        server_control_(server_control),
        store_(store),
        from_gradients_(control == "gradients"),
        in_step_space_(control == "steps") {
    FEDVLM_CHECK(context.local_lr > 0.0, "scaffold client {} round {}: the local learning rate must be positive, got {}",
                 context.client, context.round, context.local_lr);
    client_control_ = store.get(context.client).to(server_control.device());
    correction_ = server_control - client_control_;
    if (from_gradients_) gradient_sum_ = torch::zeros({length}, server_control.options().dtype(torch::kFloat64));
  }

  bool adjusts_gradient() const override { return !in_step_space_; }
  void adjust_gradient(torch::Tensor& flat_grad, const torch::Tensor&) override {
    if (from_gradients_) {
      gradient_sum_.add_(flat_grad.to(gradient_sum_.device(), torch::kFloat64));
      ++gradient_steps_;
    }
    flat_grad.add_(correction_);
  }

  bool adjusts_params() const override { return in_step_space_; }
  void adjust_params(torch::Tensor& flat_params) override { flat_params.sub_(correction_, context_.local_lr); }

  void finish(const ClientOutcome& outcome, Accumulator& accumulator) override {
    fold_delta(outcome, accumulator);
    if (outcome.steps == 0) return;
    torch::Tensor updated;  // cᵢ⁺, kept in float32 like every stored state
    if (from_gradients_) {
      FEDVLM_CHECK(gradient_steps_ == outcome.steps,
                   "scaffold client {} round {}: {} local steps but {} gradients seen", context_.client,
                   context_.round, outcome.steps, gradient_steps_);
      updated = (gradient_sum_ / static_cast<double>(gradient_steps_)).to(torch::kFloat32);
    } else {  // option II: cᵢ − c + (x − y)/(τ·ηₗ)
      const double scale = -1.0 / (static_cast<double>(outcome.steps) * context_.local_lr);
      const torch::Tensor step = difference(outcome, client_control_.device()).to(torch::kFloat32);  // y − x
      updated = (client_control_ - server_control_).add_(step, scale);
    }
    accumulator.segment(kControlDeltaSegment)
        .add_(updated.to(accumulator.buffer().device(), torch::kFloat64) -
              client_control_.to(accumulator.buffer().device(), torch::kFloat64));
    store_.put(context_.client, updated);
  }

 private:
  torch::Tensor server_control_;  // c (shared with the algorithm; unchanged during a round)
  ClientStateStore& store_;
  torch::Tensor client_control_;  // cᵢ at the start of the round
  torch::Tensor correction_;      // c − cᵢ
  const bool from_gradients_;     // fl.scaffold_control = "gradients"
  const bool in_step_space_;      // fl.scaffold_control = "steps"
  torch::Tensor gradient_sum_;    // Σ raw gradients (float64), for "gradients"
  std::int64_t gradient_steps_ = 0;
};

class Scaffold final : public detail::AlgorithmBase {
 public:
  Scaffold(const Config& config, std::int64_t num_clients)
      : AlgorithmBase(config),
        control_(config.get<std::string>("fl.scaffold_control")),
        num_clients_(num_clients),
        client_controls_(ClientStateOptions{.ownership = ClientOwnership(num_clients)}) {}
  std::string name() const override { return "scaffold"; }

  std::unique_ptr<ClientUpdate> begin_client(const ClientContext& context) override {
    check_context(context);
    FEDVLM_CHECK(context.client < num_clients_, "scaffold: client {} is outside the federation of {} clients",
                 context.client, num_clients_);
    return std::make_unique<ScaffoldClientUpdate>(config_, context, length_, control_, server_control_,
                                                  client_controls_);
  }

  Accumulator make_accumulator() const override {
    FEDVLM_CHECK(length_ > 0, "scaffold: reset(n) must run before make_accumulator()");
    auto layout = standard_layout(length_);
    layout.push_back({std::string(kControlDeltaSegment), length_});
    return Accumulator(std::move(layout), device_);
  }

  ClientStateStore* client_states() override { return &client_controls_; }

  void server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) override {
    check_global(x, "server_update");
    x.add_(mean_delta(reduced, round), config_.server_lr);
    server_control_.add_(
        (reduced.segment(kControlDeltaSegment) / static_cast<double>(num_clients_)).to(device_, torch::kFloat32));
  }

  std::int64_t broadcast_size() const override { return 2 * length_; }

  torch::Tensor pack_global(const torch::Tensor& x) const override {
    check_global(x, "pack_global");
    return torch::cat({x, server_control_.to(x.device())});
  }

  void unpack_global(const torch::Tensor& buffer, torch::Tensor& x) override {
    Algorithm::unpack_global(buffer, x);
    server_control_.copy_(buffer.narrow(0, length_, length_));
  }

 private:
  void reset_state() override {
    server_control_ = torch::zeros({length_}, torch::TensorOptions().device(device_));
    client_controls_.reset(length_);
  }
  void save_state(TensorMap& state) const override {
    detail::put_state(state, "server_control", server_control_);
    state["num_clients"] = torch::tensor({num_clients_}, torch::kInt64);
  }
  void load_state(const TensorMap& state) override {
    const auto saved = state.find("num_clients");
    FEDVLM_CHECK(saved != state.end() && saved->second.item<std::int64_t>() == num_clients_,
                 "scaffold checkpoint state is for a different number of clients (this run has {})", num_clients_);
    detail::take_state(state, "server_control", server_control_);
  }

  std::string control_;  // fl.scaffold_control
  std::int64_t num_clients_;
  torch::Tensor server_control_;        // c, replicated on every rank
  ClientStateStore client_controls_;    // cᵢ of the clients at home on this rank
};

}  // namespace

AlgorithmSpec scaffold_spec() {
  return {
      .name = "scaffold",
      .doc = "SCAFFOLD (Karimireddy et al. 2020): control variates correct the client drift.",
      .parameters = {{
          .key = "fl.scaffold_control",
          .default_value = std::string("update"),
          .doc = "Control variates. update = option II, c_i - c + (x - y_i)/(steps * local lr), correction c - c_i "
                 "added to every gradient; gradients = the mean raw minibatch gradient of the round, correction added "
                 "to every gradient; steps = option II with the correction applied to the parameters after every "
                 "optimizer step, -local lr * (c - c_i), so controls and correction are in the optimizer's step "
                 "units. All three are equal under plain SGD. Unset, it is update with local.optimizer = sgd and "
                 "steps otherwise.",
          .limits = {.choices = {"update", "gradients", "steps"}},
          // Option II's (x − y)/(τ·ηₗ) is a gradient only for plain SGD; with AdamW it is a
          // normalized step that swamps the gradients it corrects, so AdamW applies the correction
          // in step space, where it has the same units as the controls.
          .derived_default = [](const Config& config) -> std::optional<DerivedDefault> {
            if (config.local.optimizer == "sgd") return std::nullopt;
            return DerivedDefault{std::string("steps"),
                                  fmt::format("default for local.optimizer = \"{}\"", config.local.optimizer)};
          },
      }},
      .make = [](const Config& config, std::int64_t num_clients) {
        return std::make_unique<Scaffold>(config, num_clients);
      },
  };
}

}  // namespace fedvlm::fl
