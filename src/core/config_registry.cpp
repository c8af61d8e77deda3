// Declarations of configuration keys by the modules above core: they join the schema, after
// core's keys of the same section, and are stored in Config::declared.
#include "fedvlm/core/config_registry.hpp"

#include <algorithm>
#include <mutex>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config_schema.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm {
using config_detail::find_param;
using config_detail::mutable_schema;
using config_detail::Param;
using config_detail::Type;
using config_detail::Value;

namespace {

std::mutex& declaration_mutex() {
  static std::mutex mutex;
  return mutex;
}

Param& require_declared(const std::string& key, const char* what) {
  for (auto& p : mutable_schema())
    if (p.key == key) return p;
  throw Error(fmt::format("{}: configuration key '{}' is not declared", what, key));
}

bool has_own_derived_default(const Param& p) {
  return std::any_of(p.default_rules.begin(), p.default_rules.end(), [](const auto& r) { return !r.doc; });
}

// Functions cannot be compared: a redeclared derived default keeps the first declaration's.
// Choices declared later (declare_config_choice) are appended to the declared ones.
bool same_declaration(const Param& p, const ConfigParameter& parameter) {
  const auto& choices = parameter.limits.choices;
  return p.type == config_detail::type_of(parameter.default_value) && p.doc == parameter.doc &&
         p.declared_default == parameter.default_value && p.min == parameter.limits.min &&
         p.max == parameter.limits.max && p.min_exclusive == parameter.limits.min_exclusive &&
         p.choices.size() >= choices.size() && std::equal(choices.begin(), choices.end(), p.choices.begin()) &&
         static_cast<bool>(parameter.derived_default) == has_own_derived_default(p);
}

Param make_param(const ConfigParameter& parameter, const std::string& declared_by) {
  const std::string key = parameter.key;
  Param p{
      .key = key,
      .type = config_detail::type_of(parameter.default_value),
      .doc = parameter.doc,
      .get = [key](const Config& c) {
        const auto found = c.declared.find(key);
        return found == c.declared.end() ? *find_param(key)->declared_default : found->second;
      },
      .set = [key](Config& c, const Value& v) { c.declared[key] = v; },
      .min = parameter.limits.min,
      .max = parameter.limits.max,
      .min_exclusive = parameter.limits.min_exclusive,
      .choices = parameter.limits.choices,
      .declared_by = {declared_by},
      .declared_default = parameter.default_value,
  };
  if (parameter.derived_default) p.default_rules.push_back({parameter.derived_default, nullptr});
  return p;
}

}  // namespace

void declare_config_parameter(const ConfigParameter& parameter, const std::string& declared_by) {
  const std::scoped_lock lock(declaration_mutex());
  const auto dot = parameter.key.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == parameter.key.size() ||
      parameter.key.find('.', dot + 1) != std::string::npos)
    throw Error(fmt::format("{} declares '{}': keys look like section.name", declared_by, parameter.key));
  if (declared_by.empty()) throw Error(fmt::format("'{}' is declared by nobody", parameter.key));
  auto& params = mutable_schema();
  for (auto& p : params) {
    if (p.key != parameter.key) continue;
    if (p.is_core()) throw Error(fmt::format("{} declares '{}', a key core declares itself", declared_by, p.key));
    if (!same_declaration(p, parameter))
      throw Error(fmt::format("{} declares '{}' differently from {}: a shared key needs one declaration", declared_by,
                              p.key, fmt::join(p.declared_by, ", ")));
    if (std::find(p.declared_by.begin(), p.declared_by.end(), declared_by) == p.declared_by.end())
      p.declared_by.push_back(declared_by);
    return;
  }
  Param p = make_param(parameter, declared_by);
  // After the last key of its section, or at the end for a new section.
  auto last_of_section = std::find_if(params.rbegin(), params.rend(), [&](const Param& q) {
    return q.section() == p.section();
  });
  params.insert(last_of_section.base(), std::move(p));
}

void declare_config_choice(const std::string& key, const std::string& value, const std::string& doc,
                           bool is_default) {
  const std::scoped_lock lock(declaration_mutex());
  Param& p = require_declared(key, "declare_config_choice");
  if (p.type != Type::String && p.type != Type::StringList)
    throw Error(fmt::format("declare_config_choice: '{}' is a {}, not a string", key, type_name(p.type)));
  if (std::find(p.choices.begin(), p.choices.end(), value) == p.choices.end()) p.choices.push_back(value);
  if (!doc.empty()) p.choice_docs[value] = doc;
  if (is_default) {
    const Value chosen = p.type == Type::String ? Value(value) : Value(std::vector<std::string>{value});
    if (p.declared_default && *p.declared_default != chosen)
      throw Error(fmt::format("'{}' already has the default {}", key, config_detail::format_value(*p.declared_default)));
    p.declared_default = chosen;
  }
}

void declare_config_default(const std::string& key, DefaultRule rule, std::function<std::string()> doc) {
  const std::scoped_lock lock(declaration_mutex());
  if (!rule) throw Error(fmt::format("declare_config_default: no rule for '{}'", key));
  require_declared(key, "declare_config_default").default_rules.push_back({std::move(rule), std::move(doc)});
}

}  // namespace fedvlm
