// The two VLM kinds (see vlm.hpp): LLaVA-style encoder-based and Fuyu-style encoder-free.
#pragma once

#include <torch/torch.h>

#include "fedvlm/model/vision_encoder.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::model {

class EncoderVlm : public VisionLanguageModel {
 public:
  EncoderVlm(const ModelConfig& model, const LoraConfig& lora, const data::ImageShape& shape, std::int64_t vocab_size);
  torch::Tensor embed_images(const torch::Tensor& images) override;
  std::int64_t num_image_tokens() const override { return vision->num_patches(); }

  VisionEncoder vision{nullptr};
  torch::nn::Sequential connector{nullptr};
};

class EncoderFreeVlm : public VisionLanguageModel {
 public:
  EncoderFreeVlm(const ModelConfig& model, const LoraConfig& lora, const data::ImageShape& shape,
                 std::int64_t vocab_size);
  torch::Tensor embed_images(const torch::Tensor& images) override;
  std::int64_t num_image_tokens() const override { return num_patches_; }

  torch::nn::Linear patch_embedding{nullptr};  // C p p -> dim, straight into the decoder

 private:
  std::int64_t num_patches_;
};

}  // namespace fedvlm::model
