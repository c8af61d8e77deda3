// Configuration keys declared by the modules above core. core declares the keys every part
// shares (config_schema.cpp); a higher module (fl: each algorithm's hyperparameters and the
// choices of fl.algorithm; sim: its baselines) declares its own here, next to its code, before
// any config is loaded. The loader, the validator, `--dump-config` and docs/configuration.md then
// treat them exactly like core's: same types, ranges, file:line errors and key suggestions.
// Values live in Config::declared; read them with Config::get<T>("section.key").
//
// Declarations are made once at startup (fl::register_algorithms(), sim::register_algorithms());
// they are not thread-safe against a concurrent load_config.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fedvlm/core/config.hpp"

namespace fedvlm {

// Allowed values: numbers in [min, max] (or (min, max] with min_exclusive), strings (and list
// items) among `choices`; an empty `choices` allows any string.
struct ConfigLimits {
  std::optional<double> min;
  std::optional<double> max;
  bool min_exclusive = false;  // value > min instead of value >= min
  std::vector<std::string> choices;
};

// A default that depends on other keys. Applied after every preset, file and --set, only when the
// key was set nowhere: returns the value and its origin for `--dump-config`
// ("default for local.optimizer = \"adamw\""), or nullopt to keep the plain default.
struct DerivedDefault {
  ConfigValue value;
  std::string origin;
};
using DefaultRule = std::function<std::optional<DerivedDefault>(const Config&)>;

struct ConfigParameter {
  std::string key;            // "section.name"; a new section is appended after core's
  ConfigValue default_value;  // also fixes the type: std::int64_t, double, bool, std::string, list
  std::string doc;            // one or two sentences for docs/configuration.md
  ConfigLimits limits = {};
  DefaultRule derived_default = nullptr;  // optional; say what it does in `doc`
};

// Declares a key owned by a module above core; `declared_by` (an algorithm's name) is shown
// with it in docs/configuration.md. Declaring the same key again with the same type, default,
// doc and limits adds `declared_by` (a key several algorithms share); any other redeclaration,
// or a key core declares itself, throws Error.
void declare_config_parameter(const ConfigParameter& parameter, const std::string& declared_by);

// Adds `value` (documented by `doc`) to the choices of the string key `key`, e.g. an algorithm
// to fl.algorithm; `is_default` makes it the key's default. Declaring a choice again is a no-op.
void declare_config_choice(const std::string& key, const std::string& value, const std::string& doc,
                           bool is_default = false);

// A default of an already declared key (core's or not) that depends on other keys: see
// DefaultRule. `doc()` says when it applies ("0.01 with fl.algorithm = fedadam"); the reference
// shows it as "Unset: ...". Rules are tried in declaration order; the first value wins.
void declare_config_default(const std::string& key, DefaultRule rule, std::function<std::string()> doc);

// Checks `keys` of `config` against their declared type, range and choices: the InputError
// names the key's origin (file:line, --set) as load_config's do.
void validate_keys(const Config& config, const std::vector<std::string>& keys);

}  // namespace fedvlm
