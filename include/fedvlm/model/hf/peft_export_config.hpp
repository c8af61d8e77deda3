// The configuration keys of the end-of-run PEFT export (peft_export.hpp), declared by the model
// module through config_registry.hpp, and the export options they give:
//   export.peft       write <run dir>/hf_adapter/ at the end of a run (model.base a Hugging Face directory)
//   export.dtype      fp32 | fp16 | bf16, of the written tensors
//   export.base_name  adapter_config.json's base_model_name_or_path (a Hub id); empty: model.base
#pragma once

#include <filesystem>

#include "fedvlm/core/config.hpp"
#include "fedvlm/model/hf/peft_export.hpp"

namespace fedvlm::model::hf {

// Declares the export.* keys; call once at startup, before any config is loaded (a second call
// does nothing).
void declare_peft_export_parameters();

// export.dtype and export.base_name (empty: the absolute path of model.base) as options;
// overwrite is set, so a resumed run replaces the export it may have written before.
PeftExportOptions peft_export_options(const Config& config);

// Where a run's export goes: <run dir>/hf_adapter.
inline std::filesystem::path peft_export_directory(const std::filesystem::path& run_dir) { return run_dir / "hf_adapter"; }

}  // namespace fedvlm::model::hf
