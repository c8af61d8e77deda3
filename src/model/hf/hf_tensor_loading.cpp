#include "hf_tensor_loading.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/hf/safetensors_torch.hpp"

namespace fedvlm::model::hf {

namespace {

bool is_lora(const std::string& name) { return name.ends_with(".lora_a") || name.ends_with(".lora_b"); }

}  // namespace

ParameterMap parameters_without_lora(torch::nn::Module& module, const std::string& prefix) {
  ParameterMap parameters;
  for (const auto& item : module.named_parameters()) {
    if (!is_lora(item.key())) parameters.emplace(prefix + item.key(), item.value());
  }
  return parameters;
}

void check_mapped_tensors(const SafetensorsCheckpoint& checkpoint, const std::vector<HfTensorMapping>& mapping,
                          const ParameterMap& parameters, const std::string& described_by) {
  const std::string where = checkpoint.path().string();
  std::set<std::string> mapped;
  for (const HfTensorMapping& m : mapping) {
    FEDVLM_CHECK(parameters.count(m.parameter_name) == 1, "{}: the model has no parameter {} for {}", where,
                 m.parameter_name, m.checkpoint_name);
    mapped.insert(m.parameter_name);
  }
  for (const auto& [name, tensor] : parameters) {
    FEDVLM_CHECK(mapped.count(name) == 1, "{}: parameter {} has no checkpoint tensor", where, name);
  }
  std::vector<std::string> missing;
  for (const HfTensorMapping& m : mapping) {
    if (!checkpoint.contains(m.checkpoint_name)) missing.push_back(m.checkpoint_name);
  }
  if (!missing.empty()) {
    throw InputError(fmt::format("{}: {} tensor(s) that {} needs are missing: {}", where, missing.size(), described_by,
                                 some_names(missing)));
  }
  for (const HfTensorMapping& m : mapping) {
    const SafetensorsEntry& entry = checkpoint.entry(m.checkpoint_name);
    const std::string file = checkpoint.file_of(m.checkpoint_name).path().string();
    const auto sizes = parameters.at(m.parameter_name).sizes();
    const std::vector<std::int64_t> wanted(sizes.begin(), sizes.end());
    if (entry.shape != wanted) {
      throw InputError(fmt::format("{}: tensor {} has shape {}, but {} needs {}", file, m.checkpoint_name,
                                   shape_string(entry.shape), described_by, shape_string(wanted)));
    }
    const SafetensorsDtype type = entry.dtype;
    if (type != SafetensorsDtype::F32 && type != SafetensorsDtype::F16 && type != SafetensorsDtype::BF16 &&
        type != SafetensorsDtype::F64) {
      throw InputError(fmt::format("{}: tensor {} is stored as {}; weights must be F32, F16, BF16 or F64", file,
                                   m.checkpoint_name, dtype_name(type)));
    }
  }
}

void check_no_unknown_tensors(const SafetensorsCheckpoint& checkpoint,
                              const std::function<bool(const std::string&)>& accounted, const std::string& what) {
  std::vector<std::string> unknown;
  for (const std::string& name : checkpoint.names()) {
    if (!accounted(name)) unknown.push_back(name);
  }
  if (!unknown.empty()) {
    throw InputError(fmt::format("{}: {} tensor(s) are not part of {}: {}", checkpoint.path().string(), unknown.size(),
                                 what, some_names(unknown)));
  }
}

void copy_mapped_tensors(const SafetensorsCheckpoint& checkpoint, const std::vector<HfTensorMapping>& mapping,
                         const ParameterMap& parameters) {
  torch::NoGradGuard no_grad;
  for (const HfTensorMapping& m : mapping) {
    const torch::Tensor& parameter = parameters.at(m.parameter_name);
    parameter.copy_(to_tensor(checkpoint, m.checkpoint_name).to(parameter.dtype()));
  }
}

std::string some_names(const std::vector<std::string>& names) {
  constexpr std::size_t kShown = 5;
  std::string text;
  for (std::size_t i = 0; i < std::min(names.size(), kShown); ++i) text += (i ? ", " : "") + names[i];
  if (names.size() > kShown) text += fmt::format(" (and {} more)", names.size() - kShown);
  return text;
}

}  // namespace fedvlm::model::hf
