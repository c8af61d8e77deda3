// Safetensors entries as LibTorch tensors, and tensors as entries to write. Tensors keep the
// stored element type (a bf16 checkpoint gives kBFloat16 tensors); converting is the caller's choice.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/model/hf/safetensors.hpp"

namespace fedvlm::model::hf {

// LibTorch 1.13 has no unsigned 16/32/64-bit or 8-bit float types: those give nullopt.
std::optional<torch::Dtype> to_torch_dtype(SafetensorsDtype dtype);
SafetensorsDtype from_torch_dtype(torch::Dtype dtype);  // Error for a type safetensors cannot store

// A CPU tensor of the entry's shape and stored type, read straight into its storage. InputError
// naming the file and tensor for a type LibTorch cannot hold, or BOOL bytes other than 0 and 1.
torch::Tensor to_tensor(const SafetensorsFile& file, const SafetensorsEntry& entry);
torch::Tensor to_tensor(const SafetensorsCheckpoint& checkpoint, std::string_view name);

// A tensor ready for write_safetensors: a contiguous CPU copy (or the tensor itself when it
// already is one), kept alive beside the view of its bytes.
struct SafetensorsTensor {
  torch::Tensor data;
  SafetensorsTensorView view;
};
SafetensorsTensor from_tensor(std::string name, const torch::Tensor& tensor);

// write_safetensors of named tensors (any device, any layout).
void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace fedvlm::model::hf
