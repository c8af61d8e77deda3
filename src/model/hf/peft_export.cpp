#include "fedvlm/model/hf/peft_export.hpp"

#include <algorithm>
#include <map>
#include <regex>
#include <set>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/model/hf/safetensors_torch.hpp"
#include "fedvlm/model/vlm.hpp"
#include "directory_swap.hpp"

namespace fedvlm::model::hf {

namespace {

namespace fs = std::filesystem;
using NamedTensors = std::vector<std::pair<std::string, torch::Tensor>>;

// lora.targets names (decoder_layers.cpp) and the Llama / Qwen2 modules they are (decoder_mapping).
const std::map<std::string, std::string>& hf_projection_names() {
  static const std::map<std::string, std::string> names = {{"q", "q_proj"},       {"k", "k_proj"},   {"v", "v_proj"},
                                                           {"o", "o_proj"},       {"gate", "gate_proj"},
                                                           {"up", "up_proj"},     {"down", "down_proj"}};
  return names;
}

std::string strip_suffix(const std::string& text, std::string_view suffix) {
  return text.substr(0, text.size() - suffix.size());
}

std::string last_component(const std::string& path) { return path.substr(path.rfind('.') + 1); }

std::string parent_module(const std::string& tensor_name) {
  const auto dot = tensor_name.rfind('.');
  return dot == std::string::npos ? "" : tensor_name.substr(0, dot);
}

std::vector<std::int64_t> shape_of(const torch::Tensor& tensor) { return tensor.sizes().vec(); }

// PEFT's check_target_module_exists: a string is re.fullmatch'ed against the module path, a list
// entry matches the module itself or any module path ending in ".<entry>".
bool selects_exactly(const nlohmann::json& targets, const std::set<std::string>& adapted,
                     const std::vector<std::string>& all_modules) {
  const std::regex pattern(targets.is_string() ? targets.get<std::string>() : std::string());
  auto selected = [&](const std::string& module) {
    if (targets.is_string()) return std::regex_match(module, pattern);
    return std::any_of(targets.begin(), targets.end(), [&](const nlohmann::json& target) {
      const std::string name = target.get<std::string>();
      return module == name || module.ends_with("." + name);
    });
  };
  return std::all_of(all_modules.begin(), all_modules.end(),
                     [&](const std::string& module) { return selected(module) == (adapted.count(module) == 1); });
}

std::string escape_dots(const std::string& module) {
  std::string escaped;
  for (const char c : module) escaped += c == '.' ? std::string("\\.") : std::string(1, c);
  return escaped;
}

// transformers 4.52 and later load a LLaVA checkpoint of the older layout (language_model.model.*)
// as model.language_model.*, and PEFT matches target_modules against those live module paths (the
// adapter's keys it renames itself, by the model's _checkpoint_conversion_mapping): a pattern for
// the older layout accepts both.
std::string module_pattern(const std::string& module) {
  std::string pattern = escape_dots(module);
  const std::string old_layout = R"(language_model\.model\.)";
  if (pattern.starts_with(old_layout))
    pattern = R"((?:language_model\.model|model\.language_model)\.)" + pattern.substr(old_layout.size());
  return pattern;
}

// "model.layers.3.self_attn.q_proj" -> "model\.layers\.\d+\.self_attn\.q_proj"
std::string generalized_pattern(const std::string& module) {
  return std::regex_replace(module_pattern(module), std::regex(R"(\\\.\d+\\\.)"), R"(\.\d+\.)");
}

std::string alternation(const std::vector<std::string>& patterns) {
  std::string text;
  for (const std::string& pattern : patterns) text += (text.empty() ? "" : "|") + pattern;
  return text;
}

// The checks that need nothing but the tensors: one adapter's A and B against lora and the base.
void check_adapter(const std::string& module, const torch::Tensor& a, const torch::Tensor& b,
                   const std::vector<std::int64_t>& base_shape, const LoraConfig& lora, const std::string& checkpoint_name) {
  if (a.dim() != 2 || a.size(0) != lora.rank)
    throw InputError(fmt::format("{}.lora_a has shape {}, but lora.rank is {}", module, shape_string(shape_of(a)), lora.rank));
  const std::vector<std::int64_t> expected_a{lora.rank, base_shape.at(1)}, expected_b{base_shape.at(0), lora.rank};
  if (shape_of(a) != expected_a || shape_of(b) != expected_b)
    throw InputError(fmt::format("{}: lora_a {} and lora_b {} do not fit base tensor {} of shape {}", module,
                                 shape_string(shape_of(a)), shape_string(shape_of(b)), checkpoint_name,
                                 shape_string(base_shape)));
}

struct ExportPlan {
  PeftExport result;
  NamedTensors adapter_tensors;      // PEFT keys
  NamedTensors non_lora_trainables;  // checkpoint names
  NamedTensors mm_projector;         // options.connector_as_mm_projector: LLaVA training-script names
  nlohmann::json config;
};

nlohmann::json adapter_config(const LoraConfig& lora, const nlohmann::json& target_modules,
                              const std::vector<std::string>& modules_to_save, const std::string& base_model,
                              const std::string& task_type) {
  nlohmann::json config;  // nlohmann::json objects keep keys sorted, as PEFT's sort_keys=True writes them
  config["peft_type"] = "LORA";
  config["task_type"] = task_type;
  config["base_model_name_or_path"] = base_model;
  config["revision"] = nullptr;
  config["inference_mode"] = true;
  config["r"] = lora.rank;
  // PEFT declares lora_alpha an int; a whole number is written as one.
  if (lora.alpha == static_cast<double>(static_cast<std::int64_t>(lora.alpha)))
    config["lora_alpha"] = static_cast<std::int64_t>(lora.alpha);
  else
    config["lora_alpha"] = lora.alpha;
  config["lora_dropout"] = lora.dropout;
  config["use_rslora"] = false;  // fedvlm scales by alpha / rank (lora.hpp)
  config["target_modules"] = target_modules;
  config["modules_to_save"] = modules_to_save.empty() ? nlohmann::json(nullptr) : nlohmann::json(modules_to_save);
  config["bias"] = "none";
  config["fan_in_fan_out"] = false;  // weights are [out, in], as nn.Linear's
  config["init_lora_weights"] = true;
  config["use_dora"] = false;
  config["layers_to_transform"] = nullptr;
  config["layers_pattern"] = nullptr;
  config["rank_pattern"] = nlohmann::json::object();
  config["alpha_pattern"] = nlohmann::json::object();
  config["auto_mapping"] = nullptr;
  config["megatron_config"] = nullptr;
  config["megatron_core"] = "megatron.core";
  config["loftq_config"] = nlohmann::json::object();
  config["layer_replication"] = nullptr;
  return config;
}

ExportPlan plan_export(const torch::nn::Module& model, const std::vector<HfTensorMapping>& mapping,
                       const LoraConfig& lora, const std::vector<std::string>& trained, const fs::path& base_dir,
                       const PeftExportOptions& options) {
  std::set<std::string> wanted_names;
  for (const std::string& target : lora.targets) {
    const auto known = hf_projection_names().find(target);
    if (known == hf_projection_names().end())
      throw InputError(fmt::format("lora.targets: unknown projection \"{}\" (known: q, k, v, o, gate, up, down)", target));
    wanted_names.insert(known->second);
  }
  if (options.dtype != torch::kFloat32 && options.dtype != torch::kFloat16 && options.dtype != torch::kBFloat16)
    throw InputError(fmt::format("adapter export: dtype {} is not float32, float16 or bfloat16", c10::toString(options.dtype)));

  const SafetensorsCheckpoint base(base_dir);
  std::vector<std::string> all_modules;
  for (const std::string& name : base.names())
    if (name.ends_with(".weight")) all_modules.push_back(strip_suffix(name, ".weight"));
  std::map<std::string, std::string> checkpoint_name_of;
  for (const HfTensorMapping& m : mapping) checkpoint_name_of[m.parameter_name] = m.checkpoint_name;
  auto checkpoint_tensor = [&](const std::string& parameter, const torch::Tensor& value) {
    const auto found = checkpoint_name_of.find(parameter);
    if (found == checkpoint_name_of.end())
      throw InputError(fmt::format("parameter {} has no Hugging Face name in the mapping", parameter));
    const std::vector<std::int64_t> stored = base.entry(found->second).shape;  // InputError when absent
    if (stored != shape_of(value))
      throw InputError(fmt::format("parameter {} has shape {}, but {} in {} has {}", parameter, shape_string(shape_of(value)),
                                   found->second, base_dir.string(), shape_string(stored)));
    return found->second;
  };

  ExportPlan plan;
  const auto parameters = model.named_parameters(/*recurse=*/true);
  std::set<std::string> adapted, adapted_names;
  for (const auto& item : parameters) {
    if (!item.key().ends_with(".lora_a")) continue;
    const std::string module = strip_suffix(item.key(), ".lora_a");
    const torch::Tensor* b = parameters.find(module + ".lora_b");
    const torch::Tensor* weight = parameters.find(module + ".base.weight");
    if (b == nullptr || weight == nullptr)
      throw InputError(fmt::format("{} is not a LoraLinear's adapter (no lora_b or base.weight beside it)", item.key()));
    const std::string checkpoint_name = checkpoint_tensor(module + ".base.weight", *weight);
    check_adapter(module, item.value(), *b, shape_of(*weight), lora, checkpoint_name);
    const std::string hf_module = strip_suffix(checkpoint_name, ".weight");
    adapted.insert(hf_module);
    adapted_names.insert(last_component(hf_module));
    plan.result.adapted_modules.push_back(hf_module);
    const torch::NoGradGuard no_grad;
    plan.adapter_tensors.emplace_back("base_model.model." + hf_module + ".lora_A.weight", item.value().to(options.dtype));
    plan.adapter_tensors.emplace_back("base_model.model." + hf_module + ".lora_B.weight", b->to(options.dtype));
  }
  if (adapted.empty())
    throw InputError("the model has no LoRA adapters: there is nothing to export as a PEFT LoRA adapter");
  if (adapted_names != wanted_names)
    throw InputError(fmt::format("the model's adapters are on {}, but lora.targets names {}", fmt::join(adapted_names, ", "),
                                 fmt::join(wanted_names, ", ")));

  for (const std::string& name : trained) {
    if (name.ends_with(".lora_a") || name.ends_with(".lora_b")) continue;
    const torch::Tensor* value = parameters.find(name);
    if (value == nullptr) throw InputError(fmt::format("trained parameter {} is not a parameter of the model", name));
    if (options.connector_as_mm_projector && name.starts_with("connector.")) {
      const torch::NoGradGuard no_grad;
      plan.mm_projector.emplace_back("model.mm_projector." + name.substr(std::string("connector.").size()),
                                     value->to(options.dtype).contiguous());
      continue;
    }
    const std::string checkpoint_name = checkpoint_tensor(name, *value);
    const std::string hf_module = parent_module(checkpoint_name);
    if (adapted.count(hf_module))
      throw InputError(fmt::format("parameter {} ({}) trained in full belongs to a module that also has a LoRA adapter; "
                                   "one PEFT adapter cannot hold both (export the whole model instead)",
                                   name, checkpoint_name));
    if (std::find(plan.result.modules_to_save.begin(), plan.result.modules_to_save.end(), hf_module) ==
        plan.result.modules_to_save.end())
      plan.result.modules_to_save.push_back(hf_module);
    plan.result.non_lora_tensors.push_back(checkpoint_name);
    const torch::NoGradGuard no_grad;
    plan.adapter_tensors.emplace_back("base_model.model." + checkpoint_name, value->to(options.dtype));
    plan.non_lora_trainables.emplace_back(checkpoint_name, value->to(options.dtype));
  }

  const nlohmann::json targets = peft_target_modules(plan.result.adapted_modules, all_modules);
  const std::string base_model = options.base_model_name_or_path.empty() ? fs::absolute(base_dir).lexically_normal().string()
                                                                         : options.base_model_name_or_path;
  plan.config = adapter_config(lora, targets, plan.result.modules_to_save, base_model, options.task_type);
  return plan;
}

}  // namespace

nlohmann::json peft_target_modules(const std::vector<std::string>& adapted, const std::vector<std::string>& all_modules) {
  const std::set<std::string> adapted_set(adapted.begin(), adapted.end());
  std::set<std::string> short_names;
  for (const std::string& module : adapted) short_names.insert(last_component(module));
  const nlohmann::json names(std::vector<std::string>(short_names.begin(), short_names.end()));
  if (selects_exactly(names, adapted_set, all_modules)) return names;
  // Layer indices generalized (every layer has the same adapters), else every module spelled out.
  std::set<std::string> patterns;
  for (const std::string& module : adapted) patterns.insert(generalized_pattern(module));
  const nlohmann::json general = alternation({patterns.begin(), patterns.end()});
  if (selects_exactly(general, adapted_set, all_modules)) return general;
  std::vector<std::string> exact;
  for (const std::string& module : adapted_set) exact.push_back(module_pattern(module));
  const nlohmann::json spelled_out = alternation(exact);
  FEDVLM_CHECK(selects_exactly(spelled_out, adapted_set, all_modules), "no target_modules selects exactly {}",
               fmt::join(adapted, ", "));
  return spelled_out;
}

PeftExport export_peft_adapter(const torch::nn::Module& model, const std::vector<HfTensorMapping>& mapping,
                               const LoraConfig& lora, const std::vector<std::string>& trained, const fs::path& base_dir,
                               const fs::path& out_dir, const PeftExportOptions& options) {
  check_replaceable(out_dir, options.overwrite);
  ExportPlan plan = plan_export(model, mapping, lora, trained, base_dir, options);
  const std::map<std::string, std::string> metadata = {{"format", "pt"}};  // what transformers and PEFT write
  replace_directory(out_dir, options.overwrite, [&](const fs::path& directory) {
    write_text_atomically(directory / "adapter_config.json", plan.config.dump(2) + "\n");
    write_safetensors(directory / "adapter_model.safetensors", plan.adapter_tensors, metadata);
    if (!plan.non_lora_trainables.empty())
      write_safetensors(directory / "non_lora_trainables.safetensors", plan.non_lora_trainables, metadata);
    if (!plan.mm_projector.empty()) write_safetensors(directory / "mm_projector.safetensors", plan.mm_projector, metadata);
  });
  plan.result.directory = out_dir;
  return plan.result;
}

PeftExport export_hf_results(const VisionLanguageModel& model, const fs::path& base_dir,
                             const std::vector<HfTensorMapping>& mapping, const std::vector<std::string>& trained,
                             const fs::path& out_dir, const PeftExportOptions& options) {
  return export_peft_adapter(model, mapping, model.lora_config(), trained, base_dir, out_dir, options);
}

}  // namespace fedvlm::model::hf
