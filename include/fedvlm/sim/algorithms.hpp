// The values of fl.algorithm: fl's server algorithms, and the baselines the simulation runs
// itself without one: "centralized" (the union of client data as one client)
// and "local" (each client alone); their runners are in sim/baselines.hpp.
#pragma once

#include <string_view>

namespace fedvlm::sim {

bool is_baseline(std::string_view algorithm);

// Registers every value of fl.algorithm and the keys they declare: fl::register_algorithms()
// and the baselines. Run it before loading a config (the app does); idempotent, thread-safe.
void register_algorithms();

}  // namespace fedvlm::sim
