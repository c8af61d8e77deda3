#include "fedvlm/model/hf/safetensors_torch.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"

namespace fedvlm::model::hf {

std::optional<torch::Dtype> to_torch_dtype(SafetensorsDtype dtype) {
  switch (dtype) {
    case SafetensorsDtype::BOOL: return torch::kBool;
    case SafetensorsDtype::U8: return torch::kUInt8;
    case SafetensorsDtype::I8: return torch::kInt8;
    case SafetensorsDtype::I16: return torch::kInt16;
    case SafetensorsDtype::F16: return torch::kFloat16;
    case SafetensorsDtype::BF16: return torch::kBFloat16;
    case SafetensorsDtype::I32: return torch::kInt32;
    case SafetensorsDtype::F32: return torch::kFloat32;
    case SafetensorsDtype::F64: return torch::kFloat64;
    case SafetensorsDtype::I64: return torch::kInt64;
    default: return std::nullopt;
  }
}

SafetensorsDtype from_torch_dtype(torch::Dtype dtype) {
  switch (dtype) {
    case torch::kBool: return SafetensorsDtype::BOOL;
    case torch::kUInt8: return SafetensorsDtype::U8;
    case torch::kInt8: return SafetensorsDtype::I8;
    case torch::kInt16: return SafetensorsDtype::I16;
    case torch::kFloat16: return SafetensorsDtype::F16;
    case torch::kBFloat16: return SafetensorsDtype::BF16;
    case torch::kInt32: return SafetensorsDtype::I32;
    case torch::kFloat32: return SafetensorsDtype::F32;
    case torch::kFloat64: return SafetensorsDtype::F64;
    case torch::kInt64: return SafetensorsDtype::I64;
    default: throw Error(fmt::format("safetensors cannot store tensors of type {}", c10::toString(dtype)));
  }
}

torch::Tensor to_tensor(const SafetensorsFile& file, const SafetensorsEntry& entry) {
  const auto dtype = to_torch_dtype(entry.dtype);
  if (!dtype)
    throw InputError(fmt::format("{}: tensor '{}' is {}, which LibTorch 1.13 has no type for", file.path().string(),
                                 entry.name, dtype_name(entry.dtype)));
  torch::Tensor tensor = torch::empty(entry.shape, torch::TensorOptions().dtype(*dtype));
  file.read(entry, {static_cast<std::byte*>(tensor.data_ptr()), entry.byte_size()});
  if (entry.dtype == SafetensorsDtype::BOOL) {
    // A bool other than 0 or 1 is undefined behaviour in C++ and in LibTorch's kernels.
    const auto* bytes = static_cast<const std::uint8_t*>(tensor.data_ptr());
    const auto bad = std::find_if(bytes, bytes + entry.byte_size(), [](std::uint8_t b) { return b > 1; });
    if (bad != bytes + entry.byte_size())
      throw InputError(fmt::format("{}: tensor '{}' (BOOL) holds byte {} at element {}; a bool must be 0 or 1",
                                   file.path().string(), entry.name, *bad, bad - bytes));
  }
  return tensor;
}

torch::Tensor to_tensor(const SafetensorsCheckpoint& checkpoint, std::string_view name) {
  return to_tensor(checkpoint.file_of(name), checkpoint.entry(name));
}

SafetensorsTensor from_tensor(std::string name, const torch::Tensor& tensor) {
  SafetensorsTensor result;
  result.data = tensor.detach().to(torch::kCPU).contiguous();
  result.view.name = std::move(name);
  result.view.dtype = from_torch_dtype(result.data.scalar_type());
  result.view.shape = result.data.sizes().vec();
  result.view.bytes = {static_cast<const std::byte*>(result.data.data_ptr()), result.data.nbytes()};
  return result;
}

void write_safetensors(const std::filesystem::path& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::vector<SafetensorsTensor> owned;
  owned.reserve(tensors.size());
  for (const auto& [name, tensor] : tensors) owned.push_back(from_tensor(name, tensor));
  std::vector<SafetensorsTensorView> views;
  views.reserve(owned.size());
  for (const SafetensorsTensor& item : owned) views.push_back(item.view);
  write_safetensors(path, views, metadata);
}

}  // namespace fedvlm::model::hf
