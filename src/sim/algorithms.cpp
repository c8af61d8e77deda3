#include "fedvlm/sim/algorithms.hpp"

#include <mutex>

#include "fedvlm/core/config_registry.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/model/hf/peft_export_config.hpp"

namespace fedvlm::sim {
namespace {

struct Baseline {
  std::string_view name;
  const char* doc;
};

constexpr Baseline kBaselines[] = {
    {"centralized",
     "Baseline: the union of every client's data as one client on rank 0, as many samples per round as the "
     "cohort, taken as the new global vector (FedAvg with server lr 1)."},
    {"local", "Baseline: every client trains alone from the same start; per-client test metrics are averaged."},
};

}  // namespace

bool is_baseline(std::string_view algorithm) {
  for (const auto& baseline : kBaselines)
    if (baseline.name == algorithm) return true;
  return false;
}

void register_algorithms() {
  static std::once_flag once;
  std::call_once(once, [] {
    fl::register_algorithms();
    model::hf::declare_peft_export_parameters();  // export.*: the end of a run, whatever its algorithm
    for (const auto& baseline : kBaselines)
      declare_config_choice("fl.algorithm", std::string(baseline.name), baseline.doc);
  });
}

}  // namespace fedvlm::sim
