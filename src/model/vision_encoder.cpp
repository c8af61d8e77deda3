#include "fedvlm/model/vision_encoder.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include "fedvlm/core/error.hpp"

namespace fedvlm::model {

namespace {

std::string divisors_of(std::int64_t n) {
  std::string out;
  for (std::int64_t d = 1; d <= n; ++d) {
    if (n % d == 0) out += (out.empty() ? "" : ", ") + std::to_string(d);
  }
  return out;
}

}  // namespace

void check_patchable(const data::ImageShape& shape, std::int64_t patch_size) {
  if (patch_size <= 0) throw InputError(fmt::format("model.patch_size must be positive, got {}", patch_size));
  if (shape.channels <= 0 || shape.height <= 0 || shape.width <= 0) {
    throw InputError(fmt::format("image shape {}x{}x{} (CxHxW) is empty", shape.channels, shape.height, shape.width));
  }
  if (shape.height % patch_size != 0 || shape.width % patch_size != 0) {
    throw InputError(fmt::format(
        "images of {}x{} pixels (HxW) cannot be cut into model.patch_size={} patches: patch_size must divide "
        "both the height and the width; sizes that work: {}",
        shape.height, shape.width, patch_size, divisors_of(std::gcd(shape.height, shape.width))));
  }
}

std::int64_t patch_count(const data::ImageShape& shape, std::int64_t patch_size) {
  return (shape.height / patch_size) * (shape.width / patch_size);
}

torch::Tensor patchify(const torch::Tensor& images, std::int64_t patch_size) {
  const auto batch = images.size(0), channels = images.size(1);
  const auto rows = images.size(2) / patch_size, columns = images.size(3) / patch_size;
  return images.reshape({batch, channels, rows, patch_size, columns, patch_size})
      .permute({0, 2, 4, 1, 3, 5})
      .reshape({batch, rows * columns, channels * patch_size * patch_size});
}

torch::Tensor unpatchify(const torch::Tensor& patches, const data::ImageShape& shape, std::int64_t patch_size) {
  const auto rows = shape.height / patch_size, columns = shape.width / patch_size;
  return patches.reshape({patches.size(0), rows, columns, shape.channels, patch_size, patch_size})
      .permute({0, 3, 1, 4, 2, 5})
      .reshape({patches.size(0), shape.channels, shape.height, shape.width});
}

torch::nn::Sequential make_conv_stem(std::int64_t channels, std::int64_t dim, std::int64_t patch_size) {
  std::int64_t convolutions = 0;
  while ((std::int64_t{1} << convolutions) < patch_size) ++convolutions;
  FEDVLM_CHECK(patch_size >= 2 && (std::int64_t{1} << convolutions) == patch_size,
               "a convolutional stem needs a power-of-2 patch size >= 2, got {}", patch_size);
  torch::nn::Sequential stem;
  std::int64_t in = channels;
  for (std::int64_t i = convolutions - 1; i >= 0; --i) {
    const std::int64_t out = std::max<std::int64_t>(dim >> i, 8);
    stem->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).stride(2).padding(1)));
    if (i > 0) stem->push_back(torch::nn::GELU());
    in = out;
  }
  return stem;
}

VisionBlockImpl::VisionBlockImpl(std::int64_t dim, std::int64_t heads, std::int64_t mlp_ratio) : heads_(heads) {
  attention_norm = register_module("attention_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  qkv = register_module("qkv", torch::nn::Linear(dim, 3 * dim));
  projection = register_module("projection", torch::nn::Linear(dim, dim));
  mlp_norm = register_module("mlp_norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})));
  fc1 = register_module("fc1", torch::nn::Linear(dim, mlp_ratio * dim));
  fc2 = register_module("fc2", torch::nn::Linear(mlp_ratio * dim, dim));
}

torch::Tensor VisionBlockImpl::forward(const torch::Tensor& x) {
  const auto batch = x.size(0), length = x.size(1), dim = x.size(2), head_dim = dim / heads_;
  auto qkv_heads = qkv->forward(attention_norm->forward(x))
                       .view({batch, length, 3, heads_, head_dim})
                       .permute({2, 0, 3, 1, 4});  // [3, B, H, N, head_dim]
  auto scores = torch::matmul(qkv_heads[0], qkv_heads[1].transpose(-2, -1)) / std::sqrt(double(head_dim));
  auto attended = torch::matmul(torch::softmax(scores, -1), qkv_heads[2]).transpose(1, 2).reshape({batch, length, dim});
  auto h = x + projection->forward(attended);
  return h + fc2->forward(torch::gelu(fc1->forward(mlp_norm->forward(h))));
}

VisionEncoderImpl::VisionEncoderImpl(const ModelConfig& model, const data::ImageShape& shape)
    : shape_(shape), patch_size_(model.patch_size) {
  check_patchable(shape, model.patch_size);
  FEDVLM_CHECK(model.vision_dim % model.vision_heads == 0, "model.vision_dim={} must be a multiple of model.vision_heads={}",
               model.vision_dim, model.vision_heads);
  const auto select = model.vision_select_layer;
  if (select >= 0 || -select > model.vision_layers) {
    throw InputError(fmt::format("model.vision_select_layer={} must be in [-{}, -1] (counted from the last of {} layers)",
                                 select, model.vision_layers, model.vision_layers));
  }
  num_patches_ = patch_count(shape, model.patch_size);
  patch_dim_ = shape.channels * model.patch_size * model.patch_size;
  layers_used_ = model.vision_layers + 1 + select;  // layers after the selected one are never run
  if (model.vision_stem == "conv") {
    stem = register_module("stem", make_conv_stem(shape.channels, model.vision_dim, model.patch_size));
  } else {
    FEDVLM_CHECK(model.vision_stem == "linear", "model.vision_stem must be linear or conv, got \"{}\"", model.vision_stem);
    patch_embedding = register_module("patch_embedding", torch::nn::Linear(patch_dim_, model.vision_dim));
  }
  positions = register_parameter("positions", torch::zeros({1, num_patches_, model.vision_dim}));
  blocks = register_module("blocks", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < model.vision_layers; ++i) {
    blocks->push_back(VisionBlock(model.vision_dim, model.vision_heads, model.vision_mlp_ratio));
  }
}

torch::Tensor VisionEncoderImpl::forward(const torch::Tensor& images) {
  if (stem) return encode(stem->forward(images).flatten(2).transpose(1, 2));  // [B, D, H/p, W/p] -> [B, N, D]
  return encode(patch_embedding->forward(patchify(images, patch_size_)));
}

torch::Tensor VisionEncoderImpl::forward_patches(const torch::Tensor& patches) {
  if (stem) return forward(unpatchify(patches, shape_, patch_size_));
  return encode(patch_embedding->forward(patches));
}

torch::Tensor VisionEncoderImpl::encode(torch::Tensor tokens) {
  auto x = tokens + positions;
  for (std::int64_t i = 0; i < layers_used_; ++i) x = blocks[i]->as<VisionBlock>()->forward(x);
  return x;
}

}  // namespace fedvlm::model
