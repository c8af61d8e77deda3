#include "fedvlm/model/hf/hf_vision.hpp"

#include <cmath>
#include <set>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/hf/safetensors.hpp"
#include "hf_tensor_loading.hpp"

namespace fedvlm::model::hf {

namespace {

torch::nn::LayerNorm layer_norm(const HfVisionConfig& config) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({config.hidden_size}).eps(config.layer_norm_eps));
}

}  // namespace

HfVisionAttentionImpl::HfVisionAttentionImpl(std::int64_t hidden, std::int64_t heads) : heads_(heads) {
  // Registered in transformers' declaration order (k, v, q, out), so state-dict orders agree.
  k_proj = register_module("k_proj", torch::nn::Linear(hidden, hidden));
  v_proj = register_module("v_proj", torch::nn::Linear(hidden, hidden));
  q_proj = register_module("q_proj", torch::nn::Linear(hidden, hidden));
  out_proj = register_module("out_proj", torch::nn::Linear(hidden, hidden));
}

torch::Tensor HfVisionAttentionImpl::forward(const torch::Tensor& x) {
  const auto batch = x.size(0), tokens = x.size(1), hidden = x.size(2), head_dim = hidden / heads_;
  auto split = [&](const torch::Tensor& t) { return t.view({batch, tokens, heads_, head_dim}).transpose(1, 2); };
  const auto q = split(q_proj->forward(x)), k = split(k_proj->forward(x)), v = split(v_proj->forward(x));
  const auto scores = torch::matmul(q, k.transpose(-2, -1)) * (1.0 / std::sqrt(static_cast<double>(head_dim)));
  const auto attended = torch::matmul(torch::softmax(scores, -1), v).transpose(1, 2).reshape({batch, tokens, hidden});
  return out_proj->forward(attended);
}

HfVisionMlpImpl::HfVisionMlpImpl(std::int64_t hidden, std::int64_t intermediate, std::string activation)
    : activation_(std::move(activation)) {
  fc1 = register_module("fc1", torch::nn::Linear(hidden, intermediate));
  fc2 = register_module("fc2", torch::nn::Linear(intermediate, hidden));
}

torch::Tensor HfVisionMlpImpl::forward(const torch::Tensor& x) {
  auto h = fc1->forward(x);
  if (activation_ == "quick_gelu") {  // OpenAI CLIP's sigmoid approximation
    h = h * torch::sigmoid(1.702 * h);
  } else if (activation_ == "gelu") {
    h = torch::gelu(h);
  } else {  // gelu_pytorch_tanh, gelu_new: the tanh approximation
    h = torch::gelu(h, "tanh");
  }
  return fc2->forward(h);
}

HfVisionLayerImpl::HfVisionLayerImpl(const HfVisionConfig& config) {
  self_attn = register_module("self_attn", HfVisionAttention(config.hidden_size, config.num_attention_heads));
  layer_norm1 = register_module("layer_norm1", layer_norm(config));
  mlp = register_module("mlp", HfVisionMlp(config.hidden_size, config.intermediate_size, config.hidden_act));
  layer_norm2 = register_module("layer_norm2", layer_norm(config));
}

torch::Tensor HfVisionLayerImpl::forward(const torch::Tensor& x) {
  const auto h = x + self_attn->forward(layer_norm1->forward(x));
  return h + mlp->forward(layer_norm2->forward(h));
}

HfVisionEmbeddingsImpl::HfVisionEmbeddingsImpl(const HfVisionConfig& config) {
  const auto tokens = config.num_patches() + (config.class_token() ? 1 : 0);
  if (config.class_token()) class_embedding = register_parameter("class_embedding", torch::zeros({config.hidden_size}));
  // CLIP's patch convolution has no bias, SigLIP's has one.
  patch_embedding = register_module(
      "patch_embedding", torch::nn::Conv2d(torch::nn::Conv2dOptions(config.num_channels, config.hidden_size, config.patch_size)
                                               .stride(config.patch_size)
                                               .bias(!config.class_token())));
  position_embedding = register_module("position_embedding", torch::nn::Embedding(tokens, config.hidden_size));
}

torch::Tensor HfVisionEmbeddingsImpl::forward(const torch::Tensor& pixel_values) {
  auto patches = patch_embedding->forward(pixel_values).flatten(2).transpose(1, 2);  // [B, N, hidden]
  if (class_embedding.defined()) {
    patches = torch::cat({class_embedding.view({1, 1, -1}).expand({patches.size(0), 1, -1}), patches}, 1);
  }
  return patches + position_embedding->weight.unsqueeze(0);
}

HfVisionEncoderImpl::HfVisionEncoderImpl(const HfVisionConfig& config, std::int64_t layers_count) {
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < layers_count; ++i) layers->push_back(HfVisionLayer(config));
}

HfVisionTowerImpl::HfVisionTowerImpl(const HfVisionConfig& config, std::int64_t layers_used)
    : config_(config), layers_used_(layers_used) {
  FEDVLM_CHECK(layers_used >= 0 && layers_used <= config.num_hidden_layers, "{}: a tower of {} layers cannot run {}",
               config.file.string(), config.num_hidden_layers, layers_used);
  embeddings = register_module("embeddings", HfVisionEmbeddings(config));
  if (config.clip()) pre_layrnorm = register_module("pre_layrnorm", layer_norm(config));
  encoder = register_module("encoder", HfVisionEncoder(config, layers_used));
}

torch::Tensor HfVisionTowerImpl::forward(const torch::Tensor& pixel_values) {
  auto h = embeddings->forward(pixel_values);
  if (pre_layrnorm) h = pre_layrnorm->forward(h);
  for (const auto& layer : *encoder->layers) h = layer->as<HfVisionLayer>()->forward(h);
  return h;
}

std::vector<HfTensorMapping> vision_tower_mapping(const HfVisionConfig& config, std::int64_t layers_used,
                                                  const std::string& checkpoint_prefix) {
  std::vector<std::string> names;
  if (config.class_token()) names.push_back("embeddings.class_embedding");
  names.push_back("embeddings.patch_embedding.weight");
  if (!config.class_token()) names.push_back("embeddings.patch_embedding.bias");
  names.push_back("embeddings.position_embedding.weight");
  if (config.clip()) names.insert(names.end(), {"pre_layrnorm.weight", "pre_layrnorm.bias"});
  for (std::int64_t i = 0; i < layers_used; ++i) {
    const std::string layer = fmt::format("encoder.layers.{}.", i);
    for (const char* projection : {"k_proj", "v_proj", "q_proj", "out_proj"}) {
      for (const char* part : {"weight", "bias"}) names.push_back(fmt::format("{}self_attn.{}.{}", layer, projection, part));
    }
    for (const char* module : {"layer_norm1", "mlp.fc1", "mlp.fc2", "layer_norm2"}) {
      for (const char* part : {"weight", "bias"}) names.push_back(fmt::format("{}{}.{}", layer, module, part));
    }
  }
  std::vector<HfTensorMapping> mapping;
  for (const std::string& name : names) mapping.push_back({checkpoint_prefix + name, name});
  return mapping;
}

bool is_unused_vision_tensor(const std::string& name, std::int64_t layers_used, const std::string& checkpoint_prefix) {
  if (!name.starts_with(checkpoint_prefix)) return false;
  const std::string_view rest = std::string_view(name).substr(checkpoint_prefix.size());
  if (rest.starts_with("post_layernorm.") || rest.starts_with("head.") || rest == "embeddings.position_ids") return true;
  constexpr std::string_view kLayers = "encoder.layers.";
  if (!rest.starts_with(kLayers)) return false;
  const std::string_view index = rest.substr(kLayers.size(), rest.find('.', kLayers.size()) - kLayers.size());
  if (index.empty() || index.find_first_not_of("0123456789") != std::string_view::npos) return false;
  return std::stoll(std::string(index)) >= layers_used;
}

namespace {

// A dual encoder's tensors that are not its vision tower's (CLIPModel, SiglipModel).
bool is_dual_encoder_tensor(const std::string& name) {
  return name.starts_with("text_model.") || name == "logit_scale" || name == "logit_bias" ||
         name == "visual_projection.weight" || name == "text_projection.weight";
}

}  // namespace

void load_hf_vision_tower_weights(HfVisionTower& tower, const std::filesystem::path& directory) {
  const HfVisionConfig& config = tower->config();
  const bool dual_encoder = config.directory_type == "clip" || config.directory_type == "siglip";
  const std::int64_t layers = tower->layers_used();
  const SafetensorsCheckpoint checkpoint(directory);
  const std::string prefix = "vision_model.";
  const auto mapping = vision_tower_mapping(config, layers, prefix);
  const ParameterMap parameters = parameters_without_lora(*tower);
  const std::string described_by = fmt::format("the {} tower {} describes", config.model_type, config.file.string());
  check_mapped_tensors(checkpoint, mapping, parameters, described_by);
  std::set<std::string> wanted;
  for (const HfTensorMapping& m : mapping) wanted.insert(m.checkpoint_name);
  check_no_unknown_tensors(
      checkpoint,
      [&](const std::string& name) {
        return wanted.count(name) || is_unused_vision_tensor(name, layers, prefix) ||
               (dual_encoder && is_dual_encoder_tensor(name));
      },
      described_by);
  copy_mapped_tensors(checkpoint, mapping, parameters);
}

HfVisionTower load_hf_vision_tower(const std::filesystem::path& directory, std::int64_t layers_used) {
  const HfVisionConfig config = read_hf_vision_config(directory);
  if (config.directory_type == "llava") {
    throw InputError(fmt::format("{}: a LLaVA directory; load it with load_hf_vlm (hf_vlm.hpp)", config.file.string()));
  }
  if (layers_used > config.num_hidden_layers) {
    throw InputError(fmt::format("{}: the tower has {} layers, {} asked for", config.file.string(), config.num_hidden_layers,
                                 layers_used));
  }
  HfVisionTower tower(config, layers_used < 0 ? config.num_hidden_layers : layers_used);
  load_hf_vision_tower_weights(tower, directory);
  tower->eval();
  return tower;
}

}  // namespace fedvlm::model::hf
