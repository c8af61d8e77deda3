// libFuzzer harness: the input is a config file (TOML), loaded and validated as `fedvlm run -c`
// does, then dumped as `--dump-config` does. Only fedvlm::Error may come out.
//
// The keys the FL algorithms declare live in fl/, which needs LibTorch; a few stand-ins declared
// here the same way (a choice list with a default, a bounded number, a derived default) keep
// the registry paths of core/config_registry.hpp under the fuzzer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/config_registry.hpp"
#include "fuzz_support.hpp"

namespace {

void declare_algorithm_keys() {
  using fedvlm::ConfigParameter;
  fedvlm::declare_config_choice("fl.algorithm", "fedavg", "Federated averaging", true);
  fedvlm::declare_config_choice("fl.algorithm", "fedprox", "FedAvg with a proximal term");
  fedvlm::declare_config_choice("fl.algorithm", "fedadam", "Adam on the server");
  fedvlm::declare_config_parameter(
      ConfigParameter{.key = "fl.prox_mu", .default_value = 0.01, .doc = "proximal weight",
                      .limits = {.min = 0.0}},
      "fedprox");
  fedvlm::declare_config_parameter(
      ConfigParameter{.key = "fl.beta1", .default_value = 0.9, .doc = "first moment decay",
                      .limits = {.min = 0.0, .max = 1.0, .min_exclusive = true}},
      "fedadam");
  fedvlm::declare_config_default(
      "fl.server_lr",
      [](const fedvlm::Config& config) -> std::optional<fedvlm::DerivedDefault> {
        if (config.fl.algorithm != "fedadam") return std::nullopt;
        return fedvlm::DerivedDefault{0.01, "default for fl.algorithm = \"fedadam\""};
      },
      [] { return std::string("0.01 with fl.algorithm = fedadam"); });
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  declare_algorithm_keys();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const fedvlm::fuzz::ScratchDir scratch("fedvlm-fuzz-config");
  const auto file = scratch.path() / "config.toml";
  fedvlm::fuzz::write_file(file, data, size);
  std::optional<fedvlm::Config> config;
  std::string dumped;
  fedvlm::fuzz::expect_only_fedvlm_errors("load_config", [&] {
    fedvlm::Config loaded = fedvlm::load_config({.files = {file}, .overrides = {}});
    dumped = fedvlm::dump_config(loaded);
    config = std::move(loaded);
  });
  if (!config) return 0;
  // An accepted config's --dump-config is a config that loads to the same values: runs are
  // reproduced from the config.toml saved in their directory.
  const auto dumped_file = scratch.path() / "dumped.toml";
  fedvlm::fuzz::write_file(dumped_file, reinterpret_cast<const std::uint8_t*>(dumped.data()), dumped.size());
  try {
    const fedvlm::Config again = fedvlm::load_config({.files = {dumped_file}, .overrides = {}});
    for (const auto& key : fedvlm::config_keys()) {
      if (again.value(key) == config->value(key)) continue;
      std::fprintf(stderr, "fedvlm fuzz: %s changed through --dump-config; the dump:\n%s\n", key.c_str(), dumped.c_str());
      std::abort();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fedvlm fuzz: the --dump-config of an accepted config does not load: %s\nthe dump:\n%s\n",
                 e.what(), dumped.c_str());
    std::abort();
  }
  return 0;
}
