// Results back to the Hugging Face ecosystem: a trained model's LoRA adapters (and whatever else
// the strategy trained) as a directory PEFT loads onto the original base model:
//
//   from peft import PeftModel
//   model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), "<run>/hf_adapter")
//
// The directory (docs/models.md, "Exporting adapters"):
//   adapter_config.json        LoraConfig as PEFT's save_pretrained writes it (sorted keys, indent 2)
//   adapter_model.safetensors  base_model.model.<module>.lora_A.weight [r, in], .lora_B.weight [out, r],
//                              and base_model.model.<checkpoint name> of every trained non-LoRA
//                              parameter (PEFT's modules_to_save keys); metadata {"format": "pt"}
//   non_lora_trainables.safetensors  those non-LoRA parameters again, under the base checkpoint's
//                              own names (multi_modal_projector.linear_1.weight, ...): only when
//                              there are some
//   mm_projector.safetensors   a trained connector the base has no tensors for (options below)
// <module> is the base checkpoint's module path, the mapped checkpoint name without ".weight"
// (model.layers.0.self_attn.q_proj; LLaVA: language_model.model.layers.0... or
// model.language_model.layers... as the checkpoint lays it out), so the keys fit the very base
// the run started from.
//
// Scaling: fedvlm's LoraLinear adds (alpha / rank) B A x with dropout on x, exactly PEFT's
// default (use_rslora false, scaling lora_alpha / r, dropout on the input of lora_A): r and
// lora_alpha are written as they are, and PEFT's merge W + scaling B A equals fedvlm's merge.
//
// Trained non-LoRA parameters (the connector under F-C / F-CL / F-2stage) go into the adapter as
// modules_to_save (their parent modules, as checkpoint paths), so one from_pretrained call restores
// the whole fine-tuned model; non_lora_trainables.safetensors is for those not using PEFT
// (model.load_state_dict(load_file(...), strict=False), or merging into a full checkpoint), named
// after the non_lora_trainables.bin of LLaVA's training scripts. A trained parameter of a module
// that also carries an adapter (the `full` strategy) cannot be expressed in one PEFT adapter and
// is refused.
//
// target_modules is the list of HF short names (q_proj, v_proj, ...) when those select exactly the
// adapted modules among every module of the base checkpoint (a Llama or Qwen2 checkpoint), and
// otherwise a regular expression PEFT fullmatches against module paths (LLaVA: the CLIP tower has
// q_proj too, which PEFT would otherwise wrap as well). Either way the export checks, with PEFT's
// matching rules, that it selects exactly the modules that have adapters.
//
// Writing is all or nothing: every check runs first; the files go to a temporary directory beside
// `out_dir`, which is fsynced and renamed into place. An existing non-empty `out_dir` is an
// InputError unless `overwrite` is set, and is then swapped out only once the new one is complete.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/model/hf/hf_decoder.hpp"

namespace fedvlm::model {
class VisionLanguageModel;
}

namespace fedvlm::model::hf {

struct PeftExportOptions {
  // adapter_config.json's base_model_name_or_path: a Hub id ("llava-hf/llava-1.5-7b-hf");
  // empty: the absolute path of the base directory.
  std::string base_model_name_or_path;
  torch::Dtype dtype = torch::kFloat32;  // of the written tensors: kFloat32, kFloat16 or kBFloat16
  std::string task_type = "CAUSAL_LM";   // PEFT's TaskType (PeftModelForCausalLM also runs LLaVA)
  bool overwrite = false;                // replace a non-empty out_dir
  // The connector is in no base checkpoint (a tower + decoder composition, hf_vlm.hpp): its
  // trained parameters connector.<i>.<weight|bias> go to mm_projector.safetensors as
  // model.mm_projector.<i>.<weight|bias>, the names of LLaVA's training scripts (the
  // mm_projector.bin of their stage 1, which --pretrain_mm_mlp_adapter reads),
  // instead of into the adapter.
  bool connector_as_mm_projector = false;
};

// What was written (for logs and tests).
struct PeftExport {
  std::filesystem::path directory;
  std::vector<std::string> adapted_modules;  // checkpoint module paths with an adapter, in parameter order
  std::vector<std::string> modules_to_save;  // checkpoint module paths of the trained non-LoRA parameters
  std::vector<std::string> non_lora_tensors;  // their checkpoint names
};

// The adapter_config.json target_modules value PEFT needs to wrap exactly `adapted` (module paths)
// among `all_modules` (every module path of the base): ["q_proj", ...] or one regular expression.
// Error when neither selects exactly `adapted`.
nlohmann::json peft_target_modules(const std::vector<std::string>& adapted, const std::vector<std::string>& all_modules);

// Exports the adapters of `model` (parameters named "<module>.lora_a" / ".lora_b", whose base
// weight is "<module>.base.weight" in `mapping`) and the non-LoRA parameters listed in `trained`
// (LoRA names there are ignored: every adapter is exported). `mapping` maps parameter names to
// the tensors of the base checkpoint in `base_dir` (hf_decoder.hpp's decoder_mapping for a bare
// decoder, hf_vlm_mapping for a VLM). InputError, before anything is written, for: a lora.targets
// entry fedvlm does not know, an adapter whose rank differs from lora.rank, a parameter without
// a checkpoint name or whose shape differs from the base's, a model without adapters, a trained
// parameter of an adapted module, a non-empty out_dir without overwrite.
PeftExport export_peft_adapter(const torch::nn::Module& model, const std::vector<HfTensorMapping>& mapping,
                               const LoraConfig& lora, const std::vector<std::string>& trained,
                               const std::filesystem::path& base_dir, const std::filesystem::path& out_dir,
                               const PeftExportOptions& options = {});

// The end of a run: export_peft_adapter of a VisionLanguageModel built from the Hugging Face
// directory `base_dir`, with its own LoRA config. `trained` is what the strategy trained over the
// whole run: ever_trainable_set(model, strategy).names (strategy.hpp).
PeftExport export_hf_results(const VisionLanguageModel& model, const std::filesystem::path& base_dir,
                             const std::vector<HfTensorMapping>& mapping, const std::vector<std::string>& trained,
                             const std::filesystem::path& out_dir, const PeftExportOptions& options = {});

}  // namespace fedvlm::model::hf
