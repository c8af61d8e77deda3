// Internal: the declaration of every configuration parameter (config_schema.cpp) and the
// value type shared by the loader, the validator and the dumper.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "fedvlm/core/config.hpp"

namespace fedvlm::config_detail {

using Value = std::variant<std::int64_t, double, bool, std::string, std::vector<std::string>>;

enum class Type { Int, Float, Bool, String, StringList };

struct Param {
  std::string key;  // "section.name"
  Type type;
  std::string doc;
  std::function<Value(const Config&)> get;
  std::function<void(Config&, const Value&)> set;
  std::optional<double> min;          // inclusive bounds for numbers
  std::optional<double> max;
  std::vector<std::string> choices;   // allowed strings (or list items); empty: any

  std::string section() const { return key.substr(0, key.find('.')); }
  std::string name() const { return key.substr(key.find('.') + 1); }
};

// All parameters, in documentation order.
const std::vector<Param>& schema();
const Param* find_param(const std::string& key);

const char* type_name(Type type);
std::string format_value(const Value& value);  // as a TOML literal

// The model presets compiled into the binary from configs/model/*.toml (name -> TOML text).
const std::vector<std::pair<std::string, std::string>>& embedded_presets();

}  // namespace fedvlm::config_detail
