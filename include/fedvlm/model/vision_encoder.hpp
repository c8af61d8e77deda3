// ViT vision encoder: non-overlapping patches linearly embedded (a stride-p convolution written
// as patchify + Linear), learned position embeddings, pre-norm transformer blocks. Its output
// is the patch features of the layer that model.vision_select_layer names (-2: second to last,
// as LLaVA takes from CLIP), without a class token.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/data/samples.hpp"

namespace fedvlm::model {

// Throws InputError when `shape` cannot be cut into patch_size x patch_size patches, naming
// the sizes that work.
void check_patchable(const data::ImageShape& shape, std::int64_t patch_size);
std::int64_t patch_count(const data::ImageShape& shape, std::int64_t patch_size);

// [B, C, H, W] -> [B, (H/p)(W/p), C p p], patches in row-major order.
torch::Tensor patchify(const torch::Tensor& images, std::int64_t patch_size);

class VisionBlockImpl : public torch::nn::Module {
 public:
  VisionBlockImpl(std::int64_t dim, std::int64_t heads, std::int64_t mlp_ratio);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::LayerNorm attention_norm{nullptr}, mlp_norm{nullptr};
  torch::nn::Linear qkv{nullptr}, projection{nullptr}, fc1{nullptr}, fc2{nullptr};

 private:
  std::int64_t heads_;
};
TORCH_MODULE(VisionBlock);

class VisionEncoderImpl : public torch::nn::Module {
 public:
  VisionEncoderImpl(const ModelConfig& model, const data::ImageShape& shape);

  torch::Tensor forward(const torch::Tensor& images);          // [B, C, H, W] -> [B, N, vision_dim]
  torch::Tensor forward_patches(const torch::Tensor& patches);  // [B, N, C p p] -> [B, N, vision_dim]

  std::int64_t num_patches() const { return num_patches_; }
  std::int64_t patch_dim() const { return patch_dim_; }
  std::int64_t layers_used() const { return layers_used_; }

  torch::nn::Linear patch_embedding{nullptr};
  torch::Tensor positions;  // [1, N, vision_dim]
  torch::nn::ModuleList blocks{nullptr};

 private:
  std::int64_t patch_size_, num_patches_, patch_dim_, layers_used_;
};
TORCH_MODULE(VisionEncoder);

}  // namespace fedvlm::model
