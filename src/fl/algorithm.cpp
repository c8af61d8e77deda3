// The registry of server algorithms, and the defaults every algorithm shares.
#include "fedvlm/fl/algorithm.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fedvlm/core/error.hpp"

// One line per algorithm. Each NAME is implemented in src/fl/algorithms/NAME.cpp, which defines
//   std::unique_ptr<Algorithm> make_NAME(const FlConfig& config, std::int64_t num_clients);
#define FEDVLM_FL_ALGORITHMS(X) \
  X(fedavg)                     \
  X(fedprox)                    \
  X(fedavgm)                    \
  X(fedadagrad)                 \
  X(fedadam)                    \
  X(fedyogi)                    \
  X(scaffold)                   \
  X(fednova)

namespace fedvlm::fl {

#define FEDVLM_DECLARE_FACTORY(NAME) \
  std::unique_ptr<Algorithm> make_##NAME(const FlConfig& config, std::int64_t num_clients);
FEDVLM_FL_ALGORITHMS(FEDVLM_DECLARE_FACTORY)
#undef FEDVLM_DECLARE_FACTORY

namespace {

struct RegistryEntry {
  const char* name;
  std::unique_ptr<Algorithm> (*make)(const FlConfig&, std::int64_t);
};

#define FEDVLM_REGISTRY_ENTRY(NAME) RegistryEntry{#NAME, &make_##NAME},
constexpr RegistryEntry kRegistry[] = {FEDVLM_FL_ALGORITHMS(FEDVLM_REGISTRY_ENTRY)};
#undef FEDVLM_REGISTRY_ENTRY

constexpr const char* kBaselines[] = {"centralized", "local"};

}  // namespace

std::vector<std::string> algorithm_names() {
  std::vector<std::string> names;
  for (const auto& entry : kRegistry) names.emplace_back(entry.name);
  return names;
}

bool is_server_algorithm(std::string_view name) {
  for (const auto& entry : kRegistry)
    if (name == entry.name) return true;
  return false;
}

bool is_baseline(std::string_view name) {
  for (const char* baseline : kBaselines)
    if (name == baseline) return true;
  return false;
}

std::unique_ptr<Algorithm> make_algorithm(const FlConfig& config, std::int64_t num_clients) {
  if (is_baseline(config.algorithm))
    throw InputError(fmt::format("fl.algorithm = \"{}\" is a baseline the simulation runs itself, not a server "
                                 "algorithm (server algorithms: {})",
                                 config.algorithm, fmt::join(algorithm_names(), ", ")));
  if (num_clients <= 0)
    throw InputError(fmt::format("fl.algorithm = \"{}\": the federation must have clients, got {}", config.algorithm,
                                 num_clients));
  for (const auto& entry : kRegistry)
    if (config.algorithm == entry.name) return entry.make(config, num_clients);
  throw InputError(fmt::format("fl.algorithm = \"{}\" is unknown; choose one of {} (or the baselines centralized, local)",
                               config.algorithm, fmt::join(algorithm_names(), ", ")));
}

double client_weight(const FlConfig& config, std::int64_t samples) {
  if (config.weighting == "samples") return static_cast<double>(samples);
  if (config.weighting == "uniform") return 1.0;
  throw InputError(fmt::format("fl.weighting = \"{}\" is unknown; choose samples or uniform", config.weighting));
}

torch::Tensor Algorithm::pack_global(const torch::Tensor& x) const {
  FEDVLM_CHECK(x.dim() == 1 && x.numel() == length_, "{}: pack_global needs x of length {}, got {}", name(), length_,
               x.numel());
  return x.to(torch::kFloat32).contiguous().clone();
}

void Algorithm::unpack_global(const torch::Tensor& buffer, torch::Tensor& x) {
  FEDVLM_CHECK(buffer.dim() == 1 && buffer.numel() == broadcast_size(),
               "{}: the broadcast buffer has {} elements, expected {}", name(), buffer.numel(), broadcast_size());
  FEDVLM_CHECK(x.defined() && x.numel() == length_, "{}: unpack_global needs x of length {}", name(), length_);
  if (buffer.data_ptr() != x.data_ptr()) x.copy_(buffer.narrow(0, 0, length_));
}

}  // namespace fedvlm::fl
