#include "fedvlm/model/encoder_vlm.hpp"

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/connector.hpp"

namespace fedvlm::model {

namespace {

bool any_trainable(torch::nn::Module& module) {
  for (const auto& p : module.parameters()) {
    if (p.requires_grad()) return true;
  }
  return false;
}

}  // namespace

EncoderVlm::EncoderVlm(const ModelConfig& model, const LoraConfig& lora, const data::ImageShape& shape,
                       std::int64_t vocab_size)
    : VisionLanguageModel(model, lora, shape, vocab_size) {
  vision = register_module("vision", VisionEncoder(model, shape));
  connector = register_module("connector", make_connector(model.connector, model.vision_dim, model.dim));
  decoder = register_module("decoder", Decoder(model, lora, vocab_size, forward_state_));
}

torch::Tensor EncoderVlm::embed_images(const torch::Tensor& images) {
  const auto pixels = images.to(vision->positions.scalar_type());
  torch::Tensor features;
  if (any_trainable(*vision)) {
    features = vision->forward(pixels);
  } else {  // frozen encoder (every strategy but pretraining): no autograd graph at all
    torch::NoGradGuard no_grad;
    features = vision->forward(pixels);
  }
  return run_connector(connector, features, client_stack());
}

EncoderFreeVlm::EncoderFreeVlm(const ModelConfig& model, const LoraConfig& lora, const data::ImageShape& shape,
                               std::int64_t vocab_size)
    : VisionLanguageModel(model, lora, shape, vocab_size) {
  check_patchable(shape, model.patch_size);
  num_patches_ = patch_count(shape, model.patch_size);
  const auto patch_dim = shape.channels * model.patch_size * model.patch_size;
  patch_embedding = register_module("patch_embedding", torch::nn::Linear(patch_dim, model.dim));
  decoder = register_module("decoder", Decoder(model, lora, vocab_size, forward_state_));
}

torch::Tensor EncoderFreeVlm::embed_images(const torch::Tensor& images) {
  const auto pixels = images.to(patch_embedding->weight.scalar_type());
  return patch_embedding->forward(patchify(pixels, model_config().patch_size));
}

}  // namespace fedvlm::model
