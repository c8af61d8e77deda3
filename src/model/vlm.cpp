#include "fedvlm/model/vlm.hpp"

#include <cmath>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/torch_rng.hpp"
#include "fedvlm/model/client_stack.hpp"
#include "fedvlm/model/connector.hpp"
#include "fedvlm/model/encoder_vlm.hpp"
#include "fedvlm/model/vision_encoder.hpp"

namespace fedvlm::model {

namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
bool is_lora(const std::string& name) {
  return name.find(".lora_a") != std::string::npos || name.find(".lora_b") != std::string::npos;
}

void check_config(const ModelConfig& model, const data::ImageShape& shape, int vocab_size) {
  auto fail = [](const std::string& message) { throw InputError(message); };
  if (model.kind != "encoder" && model.kind != "encoder-free") {
    fail(fmt::format("model.kind=\"{}\" is unknown; choose encoder or encoder-free", model.kind));
  }
  if (vocab_size <= 0) fail(fmt::format("vocabulary size must be positive, got {}", vocab_size));
  if (model.dim <= 0 || model.heads <= 0 || model.dim % model.heads != 0 || (model.dim / model.heads) % 2 != 0) {
    fail(fmt::format("model.dim={} must be a positive multiple of model.heads={} with an even head size (rotary)",
                     model.dim, model.heads));
  }
  if (model.kv_heads <= 0 || model.heads % model.kv_heads != 0) {
    fail(fmt::format("model.kv_heads={} must divide model.heads={}", model.kv_heads, model.heads));
  }
  check_patchable(shape, model.patch_size);
  // The sequence must hold the image tokens plus at least BOS, one answer token and EOS.
  const auto image_tokens = patch_count(shape, model.patch_size);
  if (image_tokens + 3 > model.max_seq_len) {
    std::string fitting;
    const auto side = std::gcd(shape.height, shape.width);
    for (std::int64_t p = 1; p <= side; ++p) {
      if (side % p == 0 && patch_count(shape, p) + 3 <= model.max_seq_len) fitting += fmt::format(" {}", p);
    }
    fail(fmt::format("images of {}x{} with model.patch_size={} make {} image tokens, too many for "
                     "model.max_seq_len={} (image tokens + 3 must fit); patch sizes that fit:{}",
                     shape.height, shape.width, model.patch_size, image_tokens, model.max_seq_len,
                     fitting.empty() ? " none, raise model.max_seq_len" : fitting));
  }
}

}  // namespace

VisionLanguageModel::VisionLanguageModel(const ModelConfig& model, const LoraConfig& lora,
                                         const data::ImageShape& shape, std::int64_t vocab_size)
    : forward_state_(std::make_shared<ForwardState>(ForwardState{torch_generator({0, "dropout", 0, 0})})),
      model_(model),
      lora_(lora),
      shape_(shape),
      vocab_size_(vocab_size) {}

torch::Tensor VisionLanguageModel::sequence_hidden(const Batch& batch, KvCache* cache) {
  const auto image_tokens = num_image_tokens();
  const auto total = image_tokens + batch.length();
  if (total > model_.max_seq_len) {
    throw InputError(fmt::format("a sequence of {} image tokens + {} text tokens exceeds model.max_seq_len={}",
                                 image_tokens, batch.length(), model_.max_seq_len));
  }
  auto images = embed_images(batch.images);
  auto text = decoder->embed(batch.tokens);
  auto inputs = torch::cat({images.to(text.scalar_type()), text}, 1);
  const auto options = batch.tokens.options().dtype(torch::kInt64);
  torch::Tensor positions, key_mask;
  if (batch.left_padded) {
    key_mask = torch::cat({torch::ones({batch.size(), image_tokens}, options.dtype(torch::kBool)),
                           batch.attention_mask},
                          1);
    positions = (key_mask.to(torch::kInt64).cumsum(1) - 1).clamp_min(0);
  } else {  // right padding: causality alone keeps real tokens from seeing the padding
    positions = torch::arange(total, options).unsqueeze(0).expand({batch.size(), total});
  }
  return decoder->hidden(inputs, positions, key_mask, cache);
}

torch::Tensor VisionLanguageModel::logits(const Batch& batch) {
  return decoder->head(sequence_hidden(batch, nullptr).slice(1, num_image_tokens()));
}

namespace {

// The supervised tokens of a training batch: the head's scores where labels != -100, their
// targets, and the mask (over [B, T - 1]) that picked them.
struct Supervised {
  torch::Tensor scores, targets, mask;
};

Supervised supervised_tokens(Decoder& decoder, const torch::Tensor& sequence_hidden, const Batch& batch,
                             std::int64_t image_tokens) {
  FEDVLM_CHECK(batch.labels.defined() && !batch.left_padded, "loss needs a training batch (collate_training)");
  // Position image_tokens + t - 1 predicts text token t; only supervised tokens reach the head.
  const auto hidden = sequence_hidden.slice(1, image_tokens, image_tokens + batch.length() - 1);
  const auto targets = batch.labels.slice(1, 1);
  const auto mask = targets.ne(kIgnoreIndex);
  return {decoder->head(hidden.index({mask})), targets.index({mask}), mask};
}

}  // namespace

torch::Tensor VisionLanguageModel::loss(const Batch& batch) {
  const auto tokens = supervised_tokens(decoder, sequence_hidden(batch, nullptr), batch, num_image_tokens());
  return torch::nn::functional::cross_entropy(tokens.scores, tokens.targets);
}

torch::Tensor VisionLanguageModel::client_losses(const Batch& batch) {
  const ClientStack* clients = client_stack();
  FEDVLM_CHECK(clients != nullptr, "client_losses needs a client stack (set_client_stack)");
  const auto tokens = supervised_tokens(decoder, sequence_hidden(batch, nullptr), batch, num_image_tokens());
  const auto token_losses = torch::nn::functional::cross_entropy(
      tokens.scores, tokens.targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  // The row of each supervised token (index() walks rows in order, as nonzero does).
  return clients->client_means(token_losses, tokens.mask.nonzero().select(1, 0));
}

ParameterGroups VisionLanguageModel::parameter_groups() {
  ParameterGroups groups;
  for (const auto& item : named_parameters()) {
    const auto& name = item.key();
    if (starts_with(name, "vision.")) {
      groups.vision.emplace_back(name, item.value());
    } else if (starts_with(name, "connector.") || starts_with(name, "patch_embedding.")) {
      groups.connector.emplace_back(name, item.value());
    } else if (is_lora(name)) {
      groups.lora.emplace_back(name, item.value());
    } else {
      groups.decoder.emplace_back(name, item.value());
    }
  }
  return groups;
}

void VisionLanguageModel::seed_dropout(const StreamKey& key) { reseed(forward_state_->dropout, key); }

void VisionLanguageModel::merge_lora() {
  for (auto& module : modules()) {
    if (auto* lora = module->as<LoraLinear>()) lora->merge();
  }
}

void VisionLanguageModel::unmerge_lora() {
  for (auto& module : modules()) {
    if (auto* lora = module->as<LoraLinear>()) lora->unmerge();
  }
}

void initialize_group(VisionLanguageModel& model, const std::string& group, std::uint64_t seed) {
  const auto groups = model.parameter_groups();
  const NamedParameters* members = nullptr;
  if (group == "vision") members = &groups.vision;
  if (group == "connector") members = &groups.connector;
  if (group == "decoder") members = &groups.decoder;
  if (group == "lora") members = &groups.lora;
  FEDVLM_CHECK(members != nullptr, "unknown parameter group \"{}\"", group);
  const std::string purpose = "init-" + group;
  auto generator = torch_generator({seed, purpose, 0, 0});
  torch::NoGradGuard no_grad;
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (const auto& [name, parameter] : *members) {
    // Drawn on the CPU (the generator's device), then copied: the same values on any device.
    auto values = torch::empty(parameter.sizes(), torch::TensorOptions().dtype(parameter.scalar_type()));
    if (ends_with(name, ".bias") || ends_with(name, ".lora_b")) {
      values.zero_();
    } else if (name.find("norm.") != std::string::npos) {
      values.fill_(1.0);
    } else if (parameter.dim() == 4) {  // convolution kernels [out, in, k, k]: He init, the stem's GELUs keep the scale
      values.normal_(0.0, std::sqrt(2.0 / static_cast<double>(parameter[0].numel())), generator);
    } else if (ends_with(name, ".lora_a")) {
      values.normal_(0.0, 1.0 / std::sqrt(static_cast<double>(parameter.size(1))), generator);
    } else {
      values.normal_(0.0, 0.02, generator);
    }
    parameter.copy_(values);
  }
}

std::shared_ptr<VisionLanguageModel> build_model(const ModelConfig& model, const LoraConfig& lora,
                                                 data::ImageShape shape, int vocab_size, std::uint64_t seed) {
  check_config(model, shape, vocab_size);
  if (model.kind == "encoder") make_connector(model.connector, 1, 1);  // validates the name early
  std::shared_ptr<VisionLanguageModel> vlm;
  if (model.kind == "encoder") {
    vlm = std::make_shared<EncoderVlm>(model, lora, shape, vocab_size);
  } else {
    vlm = std::make_shared<EncoderFreeVlm>(model, lora, shape, vocab_size);
  }
  for (const char* group : {"vision", "connector", "decoder", "lora"}) initialize_group(*vlm, group, seed);
  return vlm;
}

}  // namespace fedvlm::model
