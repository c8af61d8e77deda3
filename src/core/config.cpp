// Configuration loading: defaults -> model preset -> files (with `base` inheritance) -> --set.
#include "fedvlm/core/config.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <sstream>

#include <toml++/toml.h>

#include "config_schema.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm {
namespace fs = std::filesystem;
using config_detail::find_param;
using config_detail::Param;
using config_detail::schema;
using config_detail::Type;
using config_detail::Value;

namespace {

struct Assignment {
  const Param* param;
  Value value;
  std::string origin;  // "file.toml:12", "--set", "preset tiny (...)"
};

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string suggestion_for(const std::string& key) {
  std::string best;
  std::size_t best_distance = SIZE_MAX;
  const std::string name = key.substr(key.find('.') + 1);
  for (const auto& p : schema()) {
    // A key under the wrong section is as close as a one-letter typo.
    const std::size_t d = std::min(edit_distance(key, p.key), edit_distance(name, p.name()) + 1);
    if (d < best_distance) best_distance = d, best = p.key;
  }
  if (best_distance <= std::max<std::size_t>(3, key.size() / 3)) return fmt::format(" (did you mean '{}'?)", best);
  return " (see docs/configuration.md or `fedvlm run --dump-config` for the known keys)";
}

const Param& require_param(const std::string& key, const std::string& origin) {
  if (const Param* p = find_param(key)) return *p;
  throw InputError(fmt::format("{}: unknown configuration key '{}'{}", origin, key, suggestion_for(key)));
}

[[noreturn]] void type_error(const Param& p, const std::string& origin, const std::string& got) {
  throw InputError(fmt::format("{}: {} must be of type {}, got {}", origin, p.key, type_name(p.type), got));
}

Value value_from_toml(const Param& p, const toml::node& node, const std::string& origin) {
  std::ostringstream shown;
  node.visit([&](const auto& n) { shown << n; });
  shown << " (" << node.type() << ")";
  switch (p.type) {
    case Type::Int:
      if (auto v = node.value_exact<std::int64_t>()) return *v;
      break;
    case Type::Float:
      if (auto v = node.value_exact<double>()) return *v;
      if (auto v = node.value_exact<std::int64_t>()) return static_cast<double>(*v);
      break;
    case Type::Bool:
      if (auto v = node.value_exact<bool>()) return *v;
      break;
    case Type::String:
      if (auto v = node.value_exact<std::string>()) return *v;
      break;
    case Type::StringList:
      if (const auto* array = node.as_array()) {
        std::vector<std::string> items;
        for (const auto& item : *array) {
          auto v = item.value_exact<std::string>();
          if (!v) type_error(p, origin, shown.str());
          items.push_back(*v);
        }
        return items;
      }
      break;
  }
  type_error(p, origin, shown.str());
}

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t");
  const auto last = text.find_last_not_of(" \t");
  return first == std::string::npos ? std::string() : text.substr(first, last - first + 1);
}

std::string unquote(std::string text) {
  text = trim(std::move(text));
  if (text.size() >= 2 && (text.front() == '"' || text.front() == '\'') && text.back() == text.front())
    return text.substr(1, text.size() - 2);
  return text;
}

Value value_from_text(const Param& p, const std::string& raw, const std::string& origin) {
  const std::string text = trim(raw);
  const std::string shown = fmt::format("'{}'", text);
  switch (p.type) {
    case Type::Int: {
      std::int64_t v = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec == std::errc() && end == text.data() + text.size() && !text.empty()) return v;
      type_error(p, origin, shown);
    }
    case Type::Float: {
      char* end = nullptr;
      const double v = std::strtod(text.c_str(), &end);
      if (!text.empty() && end == text.c_str() + text.size() && std::isfinite(v)) return v;
      type_error(p, origin, shown);
    }
    case Type::Bool:
      if (text == "true" || text == "1" || text == "yes" || text == "on") return true;
      if (text == "false" || text == "0" || text == "no" || text == "off") return false;
      type_error(p, origin, shown);
    case Type::String:
      return unquote(text);
    case Type::StringList: {
      std::string body = text;
      if (!body.empty() && body.front() == '[' && body.back() == ']') body = body.substr(1, body.size() - 2);
      std::vector<std::string> items;
      std::stringstream stream(body);
      for (std::string item; std::getline(stream, item, ',');)
        if (auto v = unquote(item); !v.empty()) items.push_back(v);
      return items;
    }
  }
  type_error(p, origin, shown);
}

std::string node_origin(const fs::path& file, const toml::node& node) {
  return fmt::format("{}:{}", file.string(), node.source().begin.line);
}

// Reads one TOML file (its `base` first) into assignments, in application order.
void read_file(const fs::path& file, std::vector<Assignment>& out, std::vector<fs::path>& stack,
               const std::string& label = {}) {
  const fs::path canonical = fs::weakly_canonical(file);
  if (std::find(stack.begin(), stack.end(), canonical) != stack.end())
    throw InputError(fmt::format("{}: `base` inheritance forms a cycle", file.string()));
  if (!fs::exists(file)) throw InputError(fmt::format("config file not found: {}", file.string()));
  toml::table table;
  try {
    table = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    throw InputError(fmt::format("{}:{}:{}: TOML syntax error: {}", file.string(), e.source().begin.line,
                                 e.source().begin.column, e.description()));
  }
  stack.push_back(canonical);
  if (const toml::node* base = table.get("base")) {
    auto base_path = base->value_exact<std::string>();
    if (!base_path)
      throw InputError(fmt::format("{}: `base` must be a string path to another config", node_origin(file, *base)));
    fs::path resolved = fs::path(*base_path).is_absolute() ? fs::path(*base_path) : file.parent_path() / *base_path;
    read_file(resolved, out, stack);
  }
  for (const auto& [section_key, section_node] : table) {
    const std::string section(section_key.str());
    if (section == "base") continue;
    const auto* section_table = section_node.as_table();
    if (!section_table) {
      throw InputError(fmt::format("{}: '{}' must be a [section] table; keys look like section.key{}",
                                   node_origin(file, section_node), section, suggestion_for(section)));
    }
    for (const auto& [name, node] : *section_table) {
      const std::string key = section + "." + std::string(name.str());
      const std::string origin = label.empty() ? node_origin(file, node) : label + " " + node_origin(file, node);
      const Param& p = require_param(key, origin);
      out.push_back({&p, value_from_toml(p, node, origin), origin});
    }
  }
  stack.pop_back();
}

void read_preset(const std::string& preset, const std::string& origin, std::vector<Assignment>& out) {
  if (preset.ends_with(".toml")) {
    std::vector<fs::path> stack;
    read_file(preset, out, stack, "preset");
    return;
  }
  for (const auto& [name, text] : config_detail::embedded_presets()) {
    if (name != preset) continue;
    toml::table table = toml::parse(text, "configs/model/" + name + ".toml");
    const fs::path file = "configs/model/" + name + ".toml";
    for (const auto& [section_key, section_node] : table) {
      for (const auto& [key_name, node] : *section_node.as_table()) {
        const std::string key = std::string(section_key.str()) + "." + std::string(key_name.str());
        const std::string where = "preset " + node_origin(file, node);
        const Param& p = require_param(key, where);
        out.push_back({&p, value_from_toml(p, node, where), where});
      }
    }
    return;
  }
  std::vector<std::string> names;
  for (const auto& [name, text] : config_detail::embedded_presets()) names.push_back(name);
  throw InputError(fmt::format("{}: model.preset = \"{}\" is not a preset ({}) nor a .toml file", origin, preset,
                               fmt::join(names, ", ")));
}

void check_limits(const Param& p, const Value& value, const std::string& origin) {
  auto out_of_range = [&](double v) {
    if ((p.min && v < *p.min) || (p.max && v > *p.max)) {
      const std::string range = p.min && p.max ? fmt::format("in [{}, {}]", *p.min, *p.max)
                                : p.min        ? fmt::format(">= {}", *p.min)
                                               : fmt::format("<= {}", *p.max);
      throw InputError(fmt::format("{}: {} = {} is out of range: must be {}", origin, p.key,
                                   config_detail::format_value(value), range));
    }
  };
  if (const auto* v = std::get_if<std::int64_t>(&value)) out_of_range(static_cast<double>(*v));
  if (const auto* v = std::get_if<double>(&value)) out_of_range(*v);
  if (p.choices.empty()) return;
  auto check_choice = [&](const std::string& choice) {
    if (std::find(p.choices.begin(), p.choices.end(), choice) == p.choices.end())
      throw InputError(fmt::format("{}: {} = \"{}\" is not one of: {}", origin, p.key, choice, fmt::join(p.choices, ", ")));
  };
  if (const auto* v = std::get_if<std::string>(&value)) check_choice(*v);
  if (const auto* v = std::get_if<std::vector<std::string>>(&value))
    for (const auto& item : *v) check_choice(item);
}

// Defaults that depend on another key. fl.server_lr: 1 makes FedAvg and its kin take the mean
// client delta as is, but the adaptive server optimizers take steps of about server_lr per
// coordinate, so they default to 0.01 (within the range Reddi et al. 2021 tune over). A value
// set anywhere (preset, file, --set) is kept, so a sweep over fl.algorithm gets each default.
// fl.scaffold_control: option II's (x − y)/(τ·ηₗ) is a gradient only for plain SGD; with AdamW
// it is a normalized step that swamps the gradients it corrects, so AdamW applies the correction
// in step space ("steps"), where it has the same units as the controls.
void apply_algorithm_defaults(Config& config) {
  static constexpr std::string_view kAdaptive[] = {"fedadagrad", "fedadam", "fedyogi"};
  const bool adaptive =
      std::find(std::begin(kAdaptive), std::end(kAdaptive), config.fl.algorithm) != std::end(kAdaptive);
  if (config.origins.at("fl.server_lr") == "default" && adaptive) {
    config.fl.server_lr = 0.01;
    config.origins["fl.server_lr"] = fmt::format("default for fl.algorithm = \"{}\"", config.fl.algorithm);
  }
  if (config.origins.at("fl.scaffold_control") == "default" && config.local.optimizer != "sgd") {
    config.fl.scaffold_control = "steps";
    config.origins["fl.scaffold_control"] = fmt::format("default for local.optimizer = \"{}\"", config.local.optimizer);
  }
}

}  // namespace

Config load_config(const ConfigSources& sources) {
  std::vector<Assignment> assignments;
  for (const auto& file : sources.files) {
    std::vector<fs::path> stack;
    read_file(file, assignments, stack);
  }
  for (const auto& text : sources.overrides) {
    const auto equals = text.find('=');
    if (equals == std::string::npos)
      throw InputError(fmt::format("--set {}: expected section.key=value", text));
    const std::string key = trim(text.substr(0, equals));
    const std::string origin = fmt::format("--set {}", text);
    const Param& p = require_param(key, origin);
    assignments.push_back({&p, value_from_text(p, text.substr(equals + 1), origin), origin});
  }

  Config config;
  config.source = sources.files.empty() ? fs::path() : sources.files.front();
  for (const auto& p : schema()) config.origins[p.key] = "default";

  // The preset sits under the files: find the preset they ask for, apply it first.
  std::string preset = config.model.preset;
  std::string preset_origin = "default";
  for (const auto& a : assignments)
    if (a.param->key == "model.preset") preset = std::get<std::string>(a.value), preset_origin = a.origin;
  std::vector<Assignment> layered;
  read_preset(preset, preset_origin, layered);
  layered.insert(layered.end(), assignments.begin(), assignments.end());

  for (const auto& a : layered) {
    check_limits(*a.param, a.value, a.origin);
    a.param->set(config, a.value);
    config.origins[a.param->key] = a.origin;
  }
  apply_algorithm_defaults(config);
  validate(config);
  return config;
}

void validate(const Config& c) {
  auto fail = [&](const std::string& key, const std::string& message) {
    const auto it = c.origins.find(key);
    const std::string origin = it == c.origins.end() ? "config" : it->second;
    throw InputError(fmt::format("{}: {}", origin, message));
  };
  for (const auto& p : schema()) check_limits(p, p.get(c), c.origins.count(p.key) ? c.origins.at(p.key) : "config");

  const auto& m = c.model;
  if (m.dim % m.heads != 0) fail("model.heads", fmt::format("model.dim = {} is not divisible by model.heads = {}", m.dim, m.heads));
  if ((m.dim / m.heads) % 2 != 0)
    fail("model.heads", fmt::format("rotary positions need an even head size; model.dim / model.heads = {}", m.dim / m.heads));
  if (m.heads % m.kv_heads != 0)
    fail("model.kv_heads", fmt::format("model.heads = {} is not divisible by model.kv_heads = {}", m.heads, m.kv_heads));
  if (m.vision_dim % m.vision_heads != 0)
    fail("model.vision_heads", fmt::format("model.vision_dim = {} is not divisible by model.vision_heads = {}",
                                           m.vision_dim, m.vision_heads));
  if (-m.vision_select_layer > m.vision_layers)
    fail("model.vision_select_layer", fmt::format("model.vision_select_layer = {} but the encoder has {} layers",
                                                  m.vision_select_layer, m.vision_layers));
  const std::string& strategy = c.finetune.strategy;
  if (m.kind == "encoder-free" && strategy != "full" && strategy != "F-L")
    fail("finetune.strategy", fmt::format("finetune.strategy = \"{}\" needs a connector; encoder-free models train "
                                          "with \"full\" or \"F-L\"", strategy));
  const bool uses_lora = strategy == "F-L" || strategy == "F-CL" || strategy == "F-2stage";
  if (uses_lora && c.lora.targets.empty())
    fail("lora.targets", fmt::format("finetune.strategy = \"{}\" trains LoRA but lora.targets is empty", strategy));
  if (strategy == "F-2stage" && c.fl.algorithm != "centralized" && c.finetune.stage1_rounds >= c.fl.rounds)
    fail("finetune.stage1_rounds", fmt::format("F-2stage with finetune.stage1_rounds = {} >= fl.rounds = {} never "
                                               "trains LoRA", c.finetune.stage1_rounds, c.fl.rounds));
  if (c.local.steps == 0 && c.local.epochs == 0)
    fail("local.epochs", "local.epochs and local.steps are both 0: clients would not train");
}

std::string dump_config(const Config& config) {
  std::string out = "# fedvlm configuration, fully resolved: every key, with its origin.\n";
  std::string section;
  for (const auto& p : schema()) {
    if (p.section() != section) {
      section = p.section();
      out += fmt::format("\n[{}]\n", section);
    }
    out += fmt::format("{} = {}  # {}\n", p.name(), config_detail::format_value(p.get(config)),
                       config.origins.count(p.key) ? config.origins.at(p.key) : "default");
  }
  return out;
}

std::string config_reference_markdown() {
  std::string out;
  std::string section;
  const Config defaults;
  for (const auto& p : schema()) {
    if (p.section() != section) {
      section = p.section();
      out += fmt::format("\n### [{}]\n\n| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n", section);
    }
    std::string allowed;
    if (!p.choices.empty()) allowed = fmt::format("{}", fmt::join(p.choices, ", "));
    else if (p.min && p.max) allowed = fmt::format("[{}, {}]", *p.min, *p.max);
    else if (p.min) allowed = fmt::format(">= {}", *p.min);
    else if (p.max) allowed = fmt::format("<= {}", *p.max);
    out += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", p.key, type_name(p.type),
                       config_detail::format_value(p.get(defaults)), allowed, p.doc);
  }
  return out;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& p : schema()) keys.push_back(p.key);
  return keys;
}

namespace config_detail {
std::string format_value(const Value& value) {
  struct Formatter {
    std::string operator()(std::int64_t v) const { return std::to_string(v); }
    std::string operator()(double v) const {
      std::string text = fmt::format("{}", v);
      if (text.find_first_of(".eEn") == std::string::npos) text += ".0";  // TOML floats need a point
      return text;
    }
    std::string operator()(bool v) const { return v ? "true" : "false"; }
    std::string operator()(const std::string& v) const {
      std::ostringstream s;
      s << toml::value<std::string>(v);
      return s.str();
    }
    std::string operator()(const std::vector<std::string>& v) const {
      std::vector<std::string> items;
      for (const auto& item : v) items.push_back((*this)(item));
      return fmt::format("[{}]", fmt::join(items, ", "));
    }
  };
  return std::visit(Formatter{}, value);
}
}  // namespace config_detail

}  // namespace fedvlm
