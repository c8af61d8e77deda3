// ViT vision encoder: one token per p x p patch, learned position embeddings, pre-norm transformer
// blocks. Its output is the patch features of the layer that model.vision_select_layer names
// (-2: second to last, as LLaVA takes from CLIP), without a class token. Patches are embedded
// (model.vision_stem) either linearly (a stride-p convolution written as patchify + Linear) or by
// a convolutional stem: log2(p) 3x3 stride-2 convolutions over the whole image (Xiao et al. 2021,
// "Early convolutions help transformers see better"): the same token grid, but features that
// shift with the item inside a patch and see across patch borders.
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
// The inverse of patchify for images of `shape`.
torch::Tensor unpatchify(const torch::Tensor& patches, const data::ImageShape& shape, std::int64_t patch_size);

// model.vision_stem = "conv": convolutions of kernel 3, stride 2, padding 1, widths doubling up to
// `dim` (dim / 2^(k-1), ..., dim / 2, dim for k = log2(patch_size)), GELU between them.
torch::nn::Sequential make_conv_stem(std::int64_t channels, std::int64_t dim, std::int64_t patch_size);

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

  torch::nn::Linear patch_embedding{nullptr};  // vision_stem = "linear"
  torch::nn::Sequential stem{nullptr};         // vision_stem = "conv"
  torch::Tensor positions;  // [1, N, vision_dim]
  torch::nn::ModuleList blocks{nullptr};

 private:
  torch::Tensor encode(torch::Tensor tokens);  // + positions, then the blocks up to the selected one

  data::ImageShape shape_;
  std::int64_t patch_size_, num_patches_, patch_dim_, layers_used_;
};
TORCH_MODULE(VisionEncoder);

}  // namespace fedvlm::model
