// Internal: the declaration of every configuration parameter (config_schema.cpp: core's own;
// config_registry.cpp: those of higher modules) and the value type shared by the loader, the
// validator and the dumper.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/config_registry.hpp"

namespace fedvlm::config_detail {

using Value = ConfigValue;

enum class Type { Int, Float, Bool, String, StringList };

struct DefaultRuleEntry {
  DefaultRule rule;
  std::function<std::string()> doc;
};

struct Param {
  std::string key;  // "section.name"
  Type type;
  std::string doc;
  std::function<Value(const Config&)> get;
  std::function<void(Config&, const Value&)> set;
  std::optional<double> min;          // lower bound, inclusive unless min_exclusive
  std::optional<double> max;          // inclusive upper bound
  bool min_exclusive = false;
  std::vector<std::string> choices;   // allowed strings (or list items); empty: any
  // Declared by higher modules (config_registry.hpp): documentation of the choices, who
  // declared the key, its default (or, for a core key, one a module declared), derived defaults.
  std::map<std::string, std::string> choice_docs;
  std::vector<std::string> declared_by;  // empty: a core key
  std::optional<Value> declared_default;
  std::vector<DefaultRuleEntry> default_rules;

  std::string section() const { return key.substr(0, key.find('.')); }
  std::string name() const { return key.substr(key.find('.') + 1); }
  bool is_core() const { return declared_by.empty(); }
};

// All parameters, in documentation order: core's, with each declared key after the last key of
// its section (new sections last). Declarations change it; nothing may hold a Param across one.
const std::vector<Param>& schema();
std::vector<Param>& mutable_schema();
const Param* find_param(const std::string& key);

Type type_of(const Value& value);
const char* type_name(Type type);
std::string format_value(const Value& value);  // as a TOML literal
std::string describe_limits(const Param& p);   // "[0, 1]", "> 0", "" (choices not included)

// The defaults: Config{} with the defaults modules declared for core keys (fl.algorithm).
Config default_config();

// The model presets compiled into the binary from configs/model/*.toml (name -> TOML text).
const std::vector<std::pair<std::string, std::string>>& embedded_presets();

}  // namespace fedvlm::config_detail
