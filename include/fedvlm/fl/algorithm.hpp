// Algorithm: one federated optimization algorithm, client side and server side together.
// Everything works on FLAT float32 tensors: the model's trainable parameters as one contiguous
// 1-D tensor of length n (x: the global vector, y: a client's local vector).
//
// One round, as the simulation loop drives it (DESIGN.md §3):
//   every rank:  if (auto* states = algorithm.client_states()) states->begin_round(placement, comm);
//                Accumulator acc = algorithm.make_accumulator();
//                for each client placed on this rank (in increasing client id):
//                  auto update = algorithm.begin_client({client, round, x, local_lr});
//                  local steps: loss.backward(); update->adjust_gradient(grad, y);
//                               [clip]; optimizer step; update->adjust_params(y)   (τᵢ steps in all)
//                  update->finish({y, τᵢ, samplesᵢ, sᵢ}, acc);              (sᵢ < 1: DP clipping)
//                reduce_to_root(acc, comm);                        // the ONE collective
//   rank 0:      [fl.aggregator robust: aggregate_robustly(acc, ...): the rule on the clients' rows]
//                [DP-FedAvg: privatize(acc, ...): fixed denominator, Gaussian noise on Σ sᵢΔᵢ]
//                algorithm.server_update(x, acc, round);
//   every rank:  buffer = root ? algorithm.pack_global(x) : empty(algorithm.broadcast_size())
//                comm.broadcast(buffer, 0); algorithm.unpack_global(buffer, x);
//                if (auto* states = algorithm.client_states()) states->end_round(comm);
//
// Threads: ClientUpdate objects of different clients may run concurrently (begin_client and
// adjust_gradient are thread-safe); finish() folds into an Accumulator, which is not: call it
// serially, in a fixed order (increasing client id), so a rank's sum is reproducible.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <torch/types.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/config_registry.hpp"
#include "fedvlm/fl/accumulator.hpp"

namespace fedvlm::fl {

class ClientStateStore;

// Named tensors: the algorithm's state in a checkpoint (all on the CPU).
using TensorMap = std::map<std::string, torch::Tensor>;

struct ClientContext {
  std::int64_t client = 0;    // global client id
  std::int64_t round = 0;     // 0-based
  torch::Tensor global;       // x at the start of the round (flat float32, length n); not modified
  double local_lr = 0.0;      // ηₗ of this round (after the schedule, see lr_schedule.hpp)
};

struct ClientOutcome {
  torch::Tensor params;       // y: the client's final flat vector (same length, device as x)
  std::int64_t steps = 0;     // τᵢ: local optimizer steps taken
  std::int64_t samples = 0;   // nᵢ: the client's training samples (weight under fl.weighting=samples)
  // sᵢ ∈ (0, 1]: DP-FedAvg's clipping (fl.dp_clip) folds sᵢ·(yᵢ − x) instead of yᵢ − x. Only
  // algorithms with the standard accumulator layout take DP (differential_privacy.hpp), and their
  // client updates fold through PlainClientUpdate, which applies it.
  double scale = 1.0;
};

// One client's participation in one round.
class ClientUpdate {
 public:
  virtual ~ClientUpdate() = default;
  // Called after every backward, before gradient clipping and the optimizer step:
  // FedProx adds μ(y − x), SCAFFOLD adds c − cᵢ, in place. `params` is the current y. Default: nothing.
  virtual void adjust_gradient(torch::Tensor& flat_grad, const torch::Tensor& flat_params) {}
  // Whether adjust_gradient does anything: the local loop skips flattening gradients otherwise.
  virtual bool adjusts_gradient() const { return false; }
  // Called after every optimizer step with the flat parameters y, which it may change in place:
  // SCAFFOLD with fl.scaffold_control = "steps" moves y by −ηₗ(c − cᵢ). Default: nothing.
  virtual void adjust_params(torch::Tensor& flat_params) {}
  virtual bool adjusts_params() const { return false; }
  // Folds the client's contribution into `accumulator` and updates its persistent state.
  virtual void finish(const ClientOutcome& outcome, Accumulator& accumulator) = 0;
};

class Algorithm {
 public:
  virtual ~Algorithm() = default;

  virtual std::string name() const = 0;

  // (Re)initializes server state, replicated global state and client states for a trainable
  // vector of length n on `device` (F-2stage calls it again when the trainable set changes).
  virtual void reset(std::int64_t n, torch::Device device = torch::kCPU) = 0;
  std::int64_t length() const { return length_; }
  torch::Device device() const { return device_; }

  // ---- client side (every rank) ----
  virtual std::unique_ptr<ClientUpdate> begin_client(const ClientContext& context) = 0;
  // A zeroed accumulator with this algorithm's layout, on device().
  virtual Accumulator make_accumulator() const = 0;
  // Per-client state kept across rounds (SCAFFOLD's cᵢ), or nullptr when the algorithm has none.
  // It is not part of state_dict(): each rank checkpoints its own shard (ClientStateStore).
  virtual ClientStateStore* client_states() { return nullptr; }

  // ---- server side (rank 0) ----
  // x ← the new global vector, from the cohort totals summed over all ranks. Throws when the
  // accumulator holds no clients or zero total weight.
  virtual void server_update(torch::Tensor& x, const Accumulator& reduced, std::int64_t round) = 0;

  // ---- the round's broadcast: x and any global state clients need (SCAFFOLD's c) ----
  virtual std::int64_t broadcast_size() const { return length_; }  // float32 elements
  virtual torch::Tensor pack_global(const torch::Tensor& x) const;   // rank 0
  virtual void unpack_global(const torch::Tensor& buffer, torch::Tensor& x);  // every rank

  // ---- checkpoints: server state, replicated global state and client states ----
  // Saved by rank 0; loaded on every rank. save → load → continue is bit-identical.
  virtual TensorMap state_dict() const = 0;
  virtual void load_state_dict(const TensorMap& state) = 0;

 protected:
  std::int64_t length_ = 0;
  torch::Device device_ = torch::kCPU;
};

// ---- the registry ----
// An algorithm is one file, src/fl/algorithms/NAME.cpp, ending with its spec function
//   AlgorithmSpec NAME_spec();
// plus one line X(NAME) in src/fl/algorithm.cpp (docs/algorithms.md, "How to add an algorithm").
struct AlgorithmSpec {
  std::string name;  // its fl.algorithm value
  std::string doc;   // one line for docs/configuration.md
  // Its own keys, declared next to its code (config_registry.hpp). A key several algorithms
  // share is declared identically by each (build it in one function, as adaptive.cpp does).
  std::vector<ConfigParameter> parameters;
  // Defaults it gives keys every algorithm shares, when set nowhere (the adaptive ones:
  // {"fl.server_lr", 0.01}); `--dump-config` names fl.algorithm as their origin.
  std::map<std::string, ConfigValue> shared_defaults;
  // Builds it from a config validated against the declarations; num_clients is the federation's N.
  std::function<std::unique_ptr<Algorithm>(const Config& config, std::int64_t num_clients)> make;
};

// Registers `spec`: its name as a choice of fl.algorithm, its parameters and defaults in the
// configuration schema, its factory for make_algorithm. Run before loading a config. A name
// registered already is left as it is (idempotent).
void register_algorithm(const AlgorithmSpec& spec);
// Registers every algorithm of src/fl/algorithm.cpp's list (fedavg is fl.algorithm's default).
// Idempotent and thread-safe; the app calls it (through sim::register_algorithms) before any config.
void register_algorithms();

// The registered server algorithms, in registration order.
std::vector<std::string> algorithm_names();
bool is_server_algorithm(std::string_view name);

// Builds config.fl.algorithm after checking num_clients and the keys it reads (fl.server_lr,
// fl.weighting, its own) against their declarations: an InputError names the key, its value and
// origin. Baselines (sim) and unknown names are refused, naming the server algorithms.
// Call reset(n) before use.
std::unique_ptr<Algorithm> make_algorithm(const Config& config, std::int64_t num_clients);

// The weight wᵢ of a client under fl.weighting ("samples": nᵢ, "uniform": 1); a client without
// samples weighs 0 under both.
double client_weight(const FlConfig& config, std::int64_t samples);

}  // namespace fedvlm::fl
