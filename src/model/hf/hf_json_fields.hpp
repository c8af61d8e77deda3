// Typed reads of the keys of one config.json object (hf_config.cpp, hf_vision_config.cpp): each
// failure an InputError naming the file, the key (with its prefix, e.g. "text_config.") and the
// value; a key the file leaves out takes the given default and is recorded in `defaulted`.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"

namespace fedvlm::model::hf {

// The JSON object `json_text` holds; InputError naming `file` when it is not valid JSON or not an object.
inline nlohmann::json parse_json_object(std::string_view json_text, const std::filesystem::path& file) {
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", file.string(), e.what()));
  }
  if (!root.is_object()) throw InputError(fmt::format("{}: expected a JSON object", file.string()));
  return root;
}

class Fields {
 public:
  Fields(const nlohmann::json& object, const std::filesystem::path& file, std::string prefix, std::vector<std::string>* defaulted)
      : object_(object), file_(file), prefix_(std::move(prefix)), defaulted_(defaulted) {}

  // nullptr when the key is absent (or null, where null means "not given").
  const nlohmann::json* find(const std::string& key, bool null_is_absent) const {
    const auto it = object_.find(key);
    if (it == object_.end() || (null_is_absent && it->is_null())) return nullptr;
    return &*it;
  }

  [[noreturn]] void fail(const std::string& key, const nlohmann::json& value, std::string_view why) const {
    throw InputError(fmt::format("{}: {}{} = {}: {}", file_.string(), prefix_, key, value.dump(), why));
  }
  [[noreturn]] void missing(const std::string& key, std::string_view why) const {
    throw InputError(fmt::format("{}: {}{} is missing: {}", file_.string(), prefix_, key, why));
  }

  std::int64_t positive_integer(const std::string& key, std::int64_t fallback, bool null_is_absent = false) const {
    const nlohmann::json* value = find(key, null_is_absent);
    if (value == nullptr) return defaulted(key, fallback);
    if (!value->is_number_integer() || value->get<std::int64_t>() <= 0) fail(key, *value, "expected a positive integer");
    return value->get<std::int64_t>();
  }
  std::int64_t integer(const std::string& key, std::int64_t fallback) const {
    const nlohmann::json* value = find(key, false);
    if (value == nullptr) return defaulted(key, fallback);
    if (!value->is_number_integer()) fail(key, *value, "expected an integer");
    return value->get<std::int64_t>();
  }
  double positive_number(const std::string& key, double fallback) const {
    const nlohmann::json* value = find(key, false);
    if (value == nullptr) return defaulted(key, fallback);
    if (!value->is_number() || !(value->get<double>() > 0.0)) fail(key, *value, "expected a positive number");
    return value->get<double>();
  }
  bool boolean(const std::string& key, bool fallback) const {
    const nlohmann::json* value = find(key, false);
    if (value == nullptr) return defaulted(key, fallback);
    if (!value->is_boolean()) fail(key, *value, "expected true or false");
    return value->get<bool>();
  }
  std::string string(const std::string& key, const std::string& fallback, bool null_is_absent = false) const {
    const nlohmann::json* value = find(key, null_is_absent);
    if (value == nullptr) return defaulted(key, fallback);
    if (!value->is_string()) fail(key, *value, "expected a string");
    return value->get<std::string>();
  }
  const std::string& prefix() const { return prefix_; }

 private:
  template <class T>
  T defaulted(const std::string& key, T fallback) const {
    if (defaulted_ != nullptr) defaulted_->push_back(prefix_ + key);
    return fallback;
  }

  const nlohmann::json& object_;
  const std::filesystem::path& file_;
  std::string prefix_;
  std::vector<std::string>* defaulted_;
};

}  // namespace fedvlm::model::hf
