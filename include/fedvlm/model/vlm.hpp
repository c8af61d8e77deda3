// The vision-language model interface the simulator trains and evaluates, and its factory.
//
// Sequence layout: [image tokens (N)] [text tokens (T)]. Image tokens are
//   encoder-based: connector(vision_encoder(image))   (LLaVA)
//   encoder-free:  patch_embedding(patches(image))     (Fuyu)
// Positions count real tokens only, so a left-padded prompt row computes exactly what it would
// unpadded. Parameter names (named_parameters) start with the group's module:
//   vision.* (encoder)  connector.* / patch_embedding.*  decoder.* (base)  decoder.*.lora_{a,b} (LoRA)
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "fedvlm/core/config.hpp"
#include "fedvlm/core/rng.hpp"
#include "fedvlm/data/samples.hpp"
#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/decoder.hpp"
#include "fedvlm/model/forward_state.hpp"

namespace fedvlm::model {

using NamedParameters = std::vector<std::pair<std::string, torch::Tensor>>;

// Every parameter is in exactly one group, each in registration order.
struct ParameterGroups {
  NamedParameters vision;     // vision encoder (empty for encoder-free)
  NamedParameters connector;  // connector, or the patch embedding of an encoder-free model
  NamedParameters decoder;    // decoder base weights
  NamedParameters lora;       // LoRA adapters (lora_a, lora_b)
};

class VisionLanguageModel : public torch::nn::Module {
 public:
  VisionLanguageModel(const ModelConfig& model, const LoraConfig& lora, const data::ImageShape& shape,
                      std::int64_t vocab_size);
  ~VisionLanguageModel() override = default;

  // Image tokens in the decoder's input space, [B, N, dim]. Runs the parts with no trainable
  // parameter under NoGradGuard.
  virtual torch::Tensor embed_images(const torch::Tensor& images) = 0;
  virtual std::int64_t num_image_tokens() const = 0;
  bool encoder_free() const { return model_.kind == "encoder-free"; }

  // Next-token logits of the text positions: [B, T, vocab]; logits[:, t] scores token t + 1.
  torch::Tensor logits(const Batch& batch);
  // Mean cross-entropy over the supervised tokens (labels != -100) of the batch.
  torch::Tensor loss(const Batch& batch);
  // With a client stack set: each client's mean cross-entropy over its own rows' supervised
  // tokens, [K] (their sum is the loss that trains every client's slice at once).
  torch::Tensor client_losses(const Batch& batch);
  // Batched greedy decoding with a KV cache from a prompt batch (collate_prompts). Row b gets at
  // most max_new_tokens tokens, stops at eos_id (not included), and at model.max_seq_len.
  std::vector<std::vector<std::int32_t>> generate(const Batch& prompts, std::int64_t max_new_tokens,
                                                  std::int32_t eos_id);

  ParameterGroups parameter_groups();

  // Reseeds the generator behind LoRA and decoder dropout (one stream per client and round).
  void seed_dropout(const StreamKey& key);
  // Batched multi-client training (client_stack.hpp): while `stack` is set, the tensors it stacks
  // are read from it, per client, and dropout draws from each client's stream; nullptr ends it.
  // The stack must outlive its use; a model trains one stack at a time (replicas have their own).
  void set_client_stack(const ClientStack* stack) { forward_state_->clients = stack; }
  const ClientStack* client_stack() const { return forward_state_->clients; }
  void merge_lora();    // fold every adapter into its base weight (faster generation)
  void unmerge_lora();  // and back

  const ModelConfig& model_config() const { return model_; }
  const LoraConfig& lora_config() const { return lora_; }
  const data::ImageShape& image_shape() const { return shape_; }
  std::int64_t vocab_size() const { return vocab_size_; }

  Decoder decoder{nullptr};

 protected:
  // Final-normed hidden states of the whole sequence [B, N + T, dim].
  torch::Tensor sequence_hidden(const Batch& batch, KvCache* cache);
  std::shared_ptr<ForwardState> forward_state_;  // shared with every module that draws dropout

 private:
  ModelConfig model_;
  LoraConfig lora_;
  data::ImageShape shape_;
  std::int64_t vocab_size_;
};

// Builds a model for images of `shape` and a tokenizer of `vocab_size` ids, every parameter
// drawn from streams keyed by `seed` (one per group, so e.g. the LoRA rank does not change the
// base initialization). Throws InputError for a configuration or image shape it cannot take.
std::shared_ptr<VisionLanguageModel> build_model(const ModelConfig& model, const LoraConfig& lora,
                                                 data::ImageShape shape, int vocab_size, std::uint64_t seed = 1);

// Re-draws the parameters of one group ("vision", "connector", "decoder", "lora") from the
// stream (seed, "init-<group>"): normal(0, 0.02) weights, zero biases, unit norm gains,
// LoRA A normal(0, 1/sqrt(in)), LoRA B zero.
void initialize_group(VisionLanguageModel& model, const std::string& group, std::uint64_t seed);

}  // namespace fedvlm::model
