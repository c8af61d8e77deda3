// The registry of server algorithms, and the defaults every algorithm shares.
#include "fedvlm/fl/algorithm.hpp"

#include <algorithm>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/robustness.hpp"

// The registration line: one X(NAME) per algorithm. Each NAME is implemented in
// src/fl/algorithms/NAME.cpp, which ends with `AlgorithmSpec NAME_spec();`.
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

#define FEDVLM_DECLARE_SPEC(NAME) AlgorithmSpec NAME##_spec();
FEDVLM_FL_ALGORITHMS(FEDVLM_DECLARE_SPEC)
#undef FEDVLM_DECLARE_SPEC

namespace {

constexpr std::string_view kDefaultAlgorithm = "fedavg";  // fl.algorithm when set nowhere

struct Registry {
  std::mutex registration;  // one register_algorithm at a time
  std::mutex mutex;         // guards specs
  std::vector<AlgorithmSpec> specs;
  std::set<std::string> keys_with_shared_defaults;
};

Registry& registry() {
  static Registry instance;
  return instance;
}

const AlgorithmSpec* find_spec(const Registry& r, std::string_view name) {
  for (const auto& spec : r.specs)
    if (spec.name == name) return &spec;
  return nullptr;
}

// One derived default per shared key, for every algorithm that declares one: the value of the
// chosen algorithm's spec.
void declare_shared_default(const std::string& key) {
  declare_config_default(
      key,
      [key](const Config& config) -> std::optional<DerivedDefault> {
        Registry& r = registry();
        const std::scoped_lock lock(r.mutex);
        const AlgorithmSpec* spec = find_spec(r, config.fl.algorithm);
        if (!spec) return std::nullopt;
        const auto found = spec->shared_defaults.find(key);
        if (found == spec->shared_defaults.end()) return std::nullopt;
        return DerivedDefault{found->second, fmt::format("default for fl.algorithm = \"{}\"", spec->name)};
      },
      [key] {
        // "0.01 with fl.algorithm = fedadagrad, fedadam or fedyogi", one clause per value.
        Registry& r = registry();
        const std::scoped_lock lock(r.mutex);
        std::vector<std::pair<std::string, std::vector<std::string>>> by_value;
        for (const auto& spec : r.specs) {
          const auto found = spec.shared_defaults.find(key);
          if (found == spec.shared_defaults.end()) continue;
          const std::string value = fmt::format("{}", std::visit([](const auto& v) { return fmt::format("{}", v); },
                                                                  found->second));
          auto group = std::find_if(by_value.begin(), by_value.end(), [&](const auto& g) { return g.first == value; });
          if (group == by_value.end()) group = by_value.emplace(by_value.end(), value, std::vector<std::string>{});
          group->second.push_back(spec.name);
        }
        std::vector<std::string> clauses;
        for (auto& [value, names] : by_value) {
          const std::string last = names.back();
          names.pop_back();
          clauses.push_back(fmt::format("{} with fl.algorithm = {}{}{}", value, fmt::join(names, ", "),
                                        names.empty() ? "" : " or ", last));
        }
        return fmt::format("{}", fmt::join(clauses, "; "));
      });
}

}  // namespace

void register_algorithm(const AlgorithmSpec& spec) {
  FEDVLM_CHECK(!spec.name.empty() && spec.make, "an algorithm spec needs a name and a factory");
  Registry& r = registry();
  const std::scoped_lock registering(r.registration);
  if (is_server_algorithm(spec.name)) return;
  // Declarations first: one that conflicts with an earlier algorithm's throws before the
  // algorithm becomes visible.
  for (const auto& parameter : spec.parameters) declare_config_parameter(parameter, spec.name);
  declare_config_choice("fl.algorithm", spec.name, spec.doc, spec.name == kDefaultAlgorithm);
  std::vector<std::string> new_shared_keys;
  {
    const std::scoped_lock lock(r.mutex);
    r.specs.push_back(spec);
    for (const auto& [key, value] : spec.shared_defaults)
      if (r.keys_with_shared_defaults.insert(key).second) new_shared_keys.push_back(key);
  }
  for (const auto& key : new_shared_keys) declare_shared_default(key);
}

void register_algorithms() {
  static std::once_flag once;
  std::call_once(once, [] {
#define FEDVLM_REGISTER(NAME) register_algorithm(NAME##_spec());
    FEDVLM_FL_ALGORITHMS(FEDVLM_REGISTER)
#undef FEDVLM_REGISTER
    declare_robustness_parameters();  // fl.attack, fl.aggregator: every algorithm's clients and server
  });
}

std::vector<std::string> algorithm_names() {
  Registry& r = registry();
  const std::scoped_lock lock(r.mutex);
  std::vector<std::string> names;
  for (const auto& spec : r.specs) names.push_back(spec.name);
  return names;
}

bool is_server_algorithm(std::string_view name) {
  Registry& r = registry();
  const std::scoped_lock lock(r.mutex);
  return find_spec(r, name) != nullptr;
}

std::unique_ptr<Algorithm> make_algorithm(const Config& config, std::int64_t num_clients) {
  const std::string& name = config.fl.algorithm;
  AlgorithmSpec spec;
  {
    Registry& r = registry();
    const std::scoped_lock lock(r.mutex);
    const AlgorithmSpec* found = find_spec(r, name);
    if (!found) {
      std::vector<std::string> names;
      for (const auto& s : r.specs) names.push_back(s.name);
      throw InputError(fmt::format("fl.algorithm = \"{}\" is not a server algorithm (server algorithms: {})", name,
                                   fmt::join(names, ", ")));
    }
    spec = *found;
  }
  if (num_clients <= 0)
    throw InputError(fmt::format("fl.algorithm = \"{}\": the federation must have clients, got {}", name, num_clients));
  std::vector<std::string> keys = {"fl.server_lr", "fl.weighting"};
  for (const auto& parameter : spec.parameters) keys.push_back(parameter.key);
  validate_keys(config, keys);
  return spec.make(config, num_clients);
}

double client_weight(const FlConfig& config, std::int64_t samples) {
  if (config.weighting == "samples") return static_cast<double>(samples);
  // A client without samples took no step and has nothing to report: counting it under uniform
  // weights would shrink the cohort's mean update toward zero.
  if (config.weighting == "uniform") return samples > 0 ? 1.0 : 0.0;
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
