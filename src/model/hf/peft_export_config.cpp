#include "fedvlm/model/hf/peft_export_config.hpp"

#include <mutex>

#include "fedvlm/core/config_registry.hpp"

namespace fedvlm::model::hf {

void declare_peft_export_parameters() {
  static std::once_flag once;
  std::call_once(once, [] {
    const std::string owner = "model/hf/peft_export";
    declare_config_parameter(
        {"export.peft", false,
         "At the end of a run, rank 0 writes <run dir>/hf_adapter/: the LoRA adapters, and the connector when the "
         "strategy trained it, as a PEFT adapter of model.base, which must be a Hugging Face directory "
         "(docs/models.md, Exporting adapters). Not with finetune.strategy = full."},
        owner);
    declare_config_parameter({"export.dtype", std::string("fp32"), "Element type of the exported tensors.",
                              {.choices = {"fp32", "fp16", "bf16"}}},
                             owner);
    declare_config_parameter(
        {"export.base_name", std::string(),
         "base_model_name_or_path written into adapter_config.json, e.g. the base's Hub id "
         "(llava-hf/llava-1.5-7b-hf); empty: the absolute path of model.base."},
        owner);
  });
}

PeftExportOptions peft_export_options(const Config& config) {
  PeftExportOptions options;
  const std::string dtype = config.get<std::string>("export.dtype");
  options.dtype = dtype == "bf16" ? torch::kBFloat16 : dtype == "fp16" ? torch::kFloat16 : torch::kFloat32;
  options.base_model_name_or_path = config.get<std::string>("export.base_name");
  if (options.base_model_name_or_path.empty())
    options.base_model_name_or_path = std::filesystem::absolute(config.model.base).lexically_normal().string();
  options.overwrite = true;
  return options;
}

}  // namespace fedvlm::model::hf
