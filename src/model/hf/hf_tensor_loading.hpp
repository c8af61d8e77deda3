// All-or-nothing copies of checkpoint tensors into module parameters by a name mapping, shared by
// the vision tower and LLaVA loaders: first every check (the mapping covers the parameters, every
// mapped tensor exists with the parameter's shape and a floating type, every checkpoint tensor is
// accounted for), then the copies, so a failed load writes nothing.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/model/hf/hf_decoder.hpp"
#include "fedvlm/model/hf/safetensors.hpp"

namespace fedvlm::model::hf {

using ParameterMap = std::map<std::string, torch::Tensor>;

// "a, b, c, d, e (and N more)": the first five names, for messages.
std::string some_names(const std::vector<std::string>& names);

// The module's parameters by name, LoRA adapters left out.
ParameterMap parameters_without_lora(torch::nn::Module& module, const std::string& prefix = "");

// Throws InputError naming the checkpoint file and tensor for a mapped tensor that is missing,
// of another shape, or not F32/F16/BF16/F64; FEDVLM_CHECK when mapping and parameters disagree
// (a programming error). `described_by` names the config in messages.
void check_mapped_tensors(const SafetensorsCheckpoint& checkpoint, const std::vector<HfTensorMapping>& mapping,
                          const ParameterMap& parameters, const std::string& described_by);
// Throws InputError listing the checkpoint's tensors that `accounted` rejects.
void check_no_unknown_tensors(const SafetensorsCheckpoint& checkpoint,
                              const std::function<bool(const std::string&)>& accounted, const std::string& what);
// Copies (converting to each parameter's type) after the checks above passed.
void copy_mapped_tensors(const SafetensorsCheckpoint& checkpoint, const std::vector<HfTensorMapping>& mapping,
                         const ParameterMap& parameters);

}  // namespace fedvlm::model::hf
