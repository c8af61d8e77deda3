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
  // error_code overloads: a path the file system refuses (a name too long, a loop of links) is
  // bad input like a missing file, not a filesystem_error.
  std::error_code error;
  const fs::file_status status = fs::status(file, error);
  if (error && error != std::errc::no_such_file_or_directory && error != std::errc::not_a_directory)
    throw InputError(fmt::format("config file {}: {}", file.string(), error.message()));
  if (!fs::exists(status)) throw InputError(fmt::format("config file not found: {}", file.string()));
  // toml++ reads a directory as an empty document: `base = "."` would quietly add nothing.
  if (fs::is_directory(status)) throw InputError(fmt::format("config file {} is a directory", file.string()));
  const fs::path canonical = fs::weakly_canonical(file, error);
  if (error) throw InputError(fmt::format("config file {}: {}", file.string(), error.message()));
  if (std::find(stack.begin(), stack.end(), canonical) != stack.end())
    throw InputError(fmt::format("{}: `base` inheritance forms a cycle", file.string()));
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
    const bool below = p.min && (p.min_exclusive ? v <= *p.min : v < *p.min);
    if (below || (p.max && v > *p.max))
      throw InputError(fmt::format("{}: {} = {} is out of range: must be {}{}", origin, p.key,
                                   config_detail::format_value(value), p.min && p.max ? "in " : "",
                                   config_detail::describe_limits(p)));
  };
  if (const auto* v = std::get_if<std::int64_t>(&value)) out_of_range(static_cast<double>(*v));
  if (const auto* v = std::get_if<double>(&value)) {
    if (!std::isfinite(*v))
      throw InputError(fmt::format("{}: {} = {} must be a finite number", origin, p.key, config_detail::format_value(value)));
    out_of_range(*v);
  }
  if (p.choices.empty()) return;
  auto check_choice = [&](const std::string& choice) {
    if (std::find(p.choices.begin(), p.choices.end(), choice) == p.choices.end())
      throw InputError(fmt::format("{}: {} = \"{}\" is not one of: {}", origin, p.key, choice, fmt::join(p.choices, ", ")));
  };
  if (const auto* v = std::get_if<std::string>(&value)) check_choice(*v);
  if (const auto* v = std::get_if<std::vector<std::string>>(&value))
    for (const auto& item : *v) check_choice(item);
}

// Defaults that depend on other keys, declared by the modules that own them (an algorithm's
// fl.server_lr, SCAFFOLD's fl.scaffold_control): applied to the keys set nowhere (preset, file,
// --set), so a sweep over fl.algorithm gets each algorithm's default; the origin says why.
void apply_derived_defaults(Config& config) {
  for (const auto& p : schema()) {
    if (config.origins.at(p.key) != "default") continue;
    for (const auto& entry : p.default_rules) {
      if (auto derived = entry.rule(config)) {
        if (config_detail::type_of(derived->value) != p.type)
          throw Error(fmt::format("the derived default of {} is a {}, not a {}", p.key,
                                  type_name(config_detail::type_of(derived->value)), type_name(p.type)));
        p.set(config, derived->value);
        config.origins[p.key] = derived->origin;
        break;
      }
    }
  }
}

std::string origin_of(const Config& c, const std::string& key) {
  const auto it = c.origins.find(key);
  return it == c.origins.end() ? "config" : it->second;
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

  Config config = config_detail::default_config();
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
  apply_derived_defaults(config);
  validate(config);
  return config;
}

void validate(const Config& c) {
  auto fail = [&](const std::string& key, const std::string& message) {
    const auto it = c.origins.find(key);
    const std::string origin = it == c.origins.end() ? "config" : it->second;
    throw InputError(fmt::format("{}: {}", origin, message));
  };
  for (const auto& p : schema()) check_limits(p, p.get(c), origin_of(c, p.key));

  const auto& m = c.model;
  if (m.dim % m.heads != 0) fail("model.heads", fmt::format("model.dim = {} is not divisible by model.heads = {}", m.dim, m.heads));
  if ((m.dim / m.heads) % 2 != 0)
    fail("model.heads", fmt::format("rotary positions need an even head size; model.dim / model.heads = {}", m.dim / m.heads));
  if (m.heads % m.kv_heads != 0)
    fail("model.kv_heads", fmt::format("model.heads = {} is not divisible by model.kv_heads = {}", m.heads, m.kv_heads));
  if (m.vision_dim % m.vision_heads != 0)
    fail("model.vision_heads", fmt::format("model.vision_dim = {} is not divisible by model.vision_heads = {}",
                                           m.vision_dim, m.vision_heads));
  if (m.vision_tower.empty() && -m.vision_select_layer > m.vision_layers)  // a tower's own depth: checked as it loads
    fail("model.vision_select_layer", fmt::format("model.vision_select_layer = {} but the encoder has {} layers",
                                                  m.vision_select_layer, m.vision_layers));
  if (m.kind == "encoder" && m.vision_stem == "conv" && (m.patch_size < 2 || (m.patch_size & (m.patch_size - 1)) != 0))
    fail("model.vision_stem", fmt::format("model.vision_stem = \"conv\" halves the image per convolution, so "
                                          "model.patch_size must be a power of 2 and at least 2; got {}", m.patch_size));
  if (!m.vision_tower.empty() && m.kind != "encoder")
    fail("model.vision_tower", fmt::format("model.vision_tower = \"{}\" gives the model a vision encoder, but model.kind = \"{}\"",
                                           m.vision_tower, m.kind));
  if (!m.vision_tower.empty() && m.base.empty())
    fail("model.vision_tower", fmt::format("model.vision_tower = \"{}\" pairs with a Hugging Face language model: set "
                                           "model.base to its directory", m.vision_tower));
  if (!m.projector.empty() && m.vision_tower.empty())
    fail("model.projector", fmt::format("model.projector = \"{}\" is the connector of a model.vision_tower + model.base "
                                        "composition; model.vision_tower is not set", m.projector));
  const std::string& strategy = c.finetune.strategy;
  if (m.kind == "encoder-free" && strategy != "full" && strategy != "F-L")
    fail("finetune.strategy", fmt::format("finetune.strategy = \"{}\" needs a connector; encoder-free models train "
                                          "with \"full\" or \"F-L\"", strategy));
  const bool uses_lora = strategy == "F-L" || strategy == "F-CL" || strategy == "F-2stage";
  if (uses_lora && c.lora.targets.empty())
    fail("lora.targets", fmt::format("finetune.strategy = \"{}\" trains LoRA but lora.targets is empty", strategy));
  if (strategy == "F-2stage" && c.finetune.stage1_rounds >= c.fl.rounds)
    fail("finetune.stage1_rounds", fmt::format("F-2stage with finetune.stage1_rounds = {} >= fl.rounds = {} never "
                                               "trains LoRA", c.finetune.stage1_rounds, c.fl.rounds));
  if (c.local.steps == 0 && c.local.epochs == 0)
    fail("local.epochs", "local.epochs and local.steps are both 0: clients would not train");
  if (c.fl.dp_noise_multiplier > 0 && c.fl.dp_clip <= 0)
    fail("fl.dp_noise_multiplier", fmt::format("fl.dp_noise_multiplier = {} needs fl.dp_clip > 0: the noise is scaled "
                                               "to the clip norm", c.fl.dp_noise_multiplier));
  if (c.fl.dp_delta >= 1)
    fail("fl.dp_delta", fmt::format("fl.dp_delta = {} must be below 1 (a delta of 1 promises nothing)", c.fl.dp_delta));
  if (c.fl.dp_clip > 0 && c.fl.weighting != "uniform")
    fail("fl.weighting", fmt::format("fl.dp_clip = {} (DP-FedAvg) bounds each client's share of the sum, which "
                                     "fl.weighting = \"{}\" would scale by its sample count: set fl.weighting = "
                                     "\"uniform\"", c.fl.dp_clip, c.fl.weighting));
  // run.device = auto is resolved when the model is placed (sim::LocalTrainer refuses bf16 there).
  if (c.run.precision == "bf16" && c.run.device == "cpu")
    fail("run.precision", "run.precision = \"bf16\" is CUDA autocast, but run.device = \"cpu\": use "
                          "run.precision = \"fp32\" on the CPU, or run.device = \"cuda\"");
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

void validate_keys(const Config& config, const std::vector<std::string>& keys) {
  for (const auto& key : keys) {
    const Param* p = find_param(key);
    if (!p) throw Error(fmt::format("validate_keys: unknown configuration key '{}'", key));
    const Value value = p->get(config);
    if (config_detail::type_of(value) != p->type)
      throw InputError(fmt::format("{}: {} must be of type {}, got {}", origin_of(config, key), key,
                                   type_name(p->type), config_detail::format_value(value)));
    check_limits(*p, value, origin_of(config, key));
  }
}

std::string config_reference_markdown() {
  std::string out;
  std::string section;
  const Config defaults = config_detail::default_config();
  std::vector<const Param*> documented_choices;
  auto flush_choices = [&] {
    for (const Param* p : documented_choices) {
      out += fmt::format("\n`{}`:\n\n| value | meaning |\n|---|---|\n", p->key);
      for (const auto& choice : p->choices) {
        const auto doc = p->choice_docs.find(choice);
        out += fmt::format("| `{}` | {} |\n", choice, doc == p->choice_docs.end() ? "" : doc->second);
      }
    }
    documented_choices.clear();
  };
  for (const auto& p : schema()) {
    if (p.section() != section) {
      flush_choices();
      section = p.section();
      out += fmt::format("\n### [{}]\n\n| key | type | default | allowed | meaning |\n|---|---|---|---|---|\n", section);
    }
    std::string allowed = p.choices.empty() ? config_detail::describe_limits(p) : fmt::format("{}", fmt::join(p.choices, ", "));
    std::string meaning = p.is_core() ? p.doc : fmt::format("*{}*: {}", fmt::join(p.declared_by, ", "), p.doc);
    std::vector<std::string> unset;
    for (const auto& entry : p.default_rules)
      if (entry.doc) unset.push_back(entry.doc());
    if (!unset.empty())
      meaning += fmt::format(" Unset: {}; {} otherwise.", fmt::join(unset, "; "), config_detail::format_value(p.get(defaults)));
    if (!p.choice_docs.empty()) {
      meaning += fmt::format(" See the table of `{}` below.", p.key);
      documented_choices.push_back(&p);
    }
    out += fmt::format("| `{}` | {} | `{}` | {} | {} |\n", p.key, type_name(p.type),
                       config_detail::format_value(p.get(defaults)), allowed, meaning);
  }
  flush_choices();
  return out;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& p : schema()) keys.push_back(p.key);
  return keys;
}

ConfigValue Config::value(const std::string& key) const {
  const Param* p = find_param(key);
  if (!p) throw Error(fmt::format("unknown configuration key '{}' (is its module's registration missing?)", key));
  return p->get(*this);
}

void Config::set(const std::string& key, ConfigValue value) {
  const Param* p = find_param(key);
  if (!p) throw Error(fmt::format("unknown configuration key '{}' (is its module's registration missing?)", key));
  if (p->type == Type::Float && std::holds_alternative<std::int64_t>(value))
    value = static_cast<double>(std::get<std::int64_t>(value));
  if (config_detail::type_of(value) != p->type)
    throw Error(fmt::format("{} is of type {}, not {}", key, type_name(p->type),
                            type_name(config_detail::type_of(value))));
  p->set(*this, value);
}

namespace config_detail {

void throw_wrong_type(const std::string& key, const ConfigValue& value, const char* requested) {
  throw Error(fmt::format("{} is of type {}, read as {}", key, type_name(type_of(value)), requested));
}

Config default_config() {
  Config config;
  for (const auto& p : schema())
    if (p.declared_default) p.set(config, *p.declared_default);
  return config;
}

std::string describe_limits(const Param& p) {
  const char* open = p.min_exclusive ? "(" : "[";
  const char* above = p.min_exclusive ? ">" : ">=";
  if (p.min && p.max) return fmt::format("{}{}, {}]", open, *p.min, *p.max);
  if (p.min) return fmt::format("{} {}", above, *p.min);
  if (p.max) return fmt::format("<= {}", *p.max);
  return "";
}

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
