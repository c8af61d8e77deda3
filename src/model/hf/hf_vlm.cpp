#include "fedvlm/model/hf/hf_vlm.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/connector.hpp"
#include "fedvlm/model/hf/hf_image_processor.hpp"
#include "fedvlm/model/hf/hf_vision.hpp"
#include "fedvlm/model/hf/hf_vision_config.hpp"
#include "fedvlm/model/hf/safetensors_torch.hpp"
#include "hf_tensor_loading.hpp"

namespace fedvlm::model::hf {

namespace {

namespace fs = std::filesystem;

// LlavaForConditionalGeneration: tower, projector and language model as EncoderVlm's vision,
// connector and decoder (same module names, so parameter groups and client stacks treat it alike).
class HfLlavaVlm : public VisionLanguageModel {
 public:
  // model.connector names the connector: LLaVA's projector is mlp2x_gelu; a tower + decoder
  // composition may take any.
  HfLlavaVlm(const HfLlavaConfig& config, HfImageProcessor processor, const HfDecoderShape& text,
             const ModelConfig& model, const LoraConfig& lora, const data::ImageShape& shape)
      : VisionLanguageModel(model, lora, shape, text.vocab_size), config_(config), processor_(std::move(processor)) {
    vision = register_module("vision", HfVisionTower(config.vision, config.vision_layers_used()));
    connector = register_module("connector", make_connector(model.connector, config.vision.hidden_size, model.dim));
    decoder = register_module("decoder", Decoder(model, lora, text.vocab_size, forward_state_, text.variant));
  }

  torch::Tensor embed_images(const torch::Tensor& images) override {
    torch::Tensor features;
    {
      // The tower never trains under a fine-tuning strategy: no autograd graph for it.
      std::optional<torch::NoGradGuard> no_grad;
      if (!any_trainable(*vision)) no_grad.emplace();
      const auto& weight = vision->embeddings->patch_embedding->weight;
      features = vision->forward(processor_(images.to(weight.device())).to(weight.scalar_type()));
    }
    // transformers' "default" drops the first token (CLIP's class token).
    if (config_.vision_feature_select_strategy == "default") features = features.slice(1, 1);
    return run_connector(connector, features, client_stack());
  }
  std::int64_t num_image_tokens() const override { return config_.num_image_tokens(); }

  HfVisionTower vision{nullptr};
  torch::nn::Sequential connector{nullptr};

 private:
  static bool any_trainable(torch::nn::Module& module) {
    const auto parameters = module.parameters();
    return std::any_of(parameters.begin(), parameters.end(), [](const torch::Tensor& p) { return p.requires_grad(); });
  }

  HfLlavaConfig config_;
  HfImageProcessor processor_;
};

// Where a LLaVA checkpoint keeps the tower and projector: beside the language model's layout.
struct LlavaLayout {
  HfDecoderLayout decoder;
  std::string vision_prefix;     // "vision_tower.vision_model." | "model.vision_tower.vision_model."
  std::string projector_prefix;  // "multi_modal_projector." | "model.multi_modal_projector."
};

LlavaLayout llava_layout(const HfLlavaConfig& config, const SafetensorsCheckpoint& checkpoint) {
  LlavaLayout layout{decoder_layout(config.text, checkpoint), "vision_tower.vision_model.", "multi_modal_projector."};
  if (layout.decoder.model_prefix == "model.language_model.") {  // transformers >= 4.52
    layout.vision_prefix = "model." + layout.vision_prefix;
    layout.projector_prefix = "model." + layout.projector_prefix;
  }
  return layout;
}

// Tower and projector (the decoder's part is decoder_mapping's), parameter names as the VLM's.
std::vector<HfTensorMapping> vision_and_projector_mapping(const HfLlavaConfig& config, const LlavaLayout& layout) {
  std::vector<HfTensorMapping> mapping;
  for (HfTensorMapping m : vision_tower_mapping(config.vision, config.vision_layers_used(), layout.vision_prefix)) {
    mapping.push_back({m.checkpoint_name, "vision." + m.parameter_name});
  }
  // mlp2x_gelu is Sequential(Linear, GELU, Linear): children 0 and 2.
  for (const auto& [linear, child] : {std::pair{"linear_1", "0"}, std::pair{"linear_2", "2"}}) {
    for (const char* part : {"weight", "bias"}) {
      mapping.push_back({fmt::format("{}{}.{}", layout.projector_prefix, linear, part), fmt::format("connector.{}.{}", child, part)});
    }
  }
  return mapping;
}

ModelConfig model_config_of(const HfLlavaConfig& config, const HfDecoderShape& text, const fs::path& directory,
                            const std::string& connector = "mlp2x_gelu", const fs::path& vision_tower = {}) {
  ModelConfig model = text.model;
  model.preset = "hf";
  model.base = directory.string();
  model.vision_tower = vision_tower.string();
  model.kind = "encoder";
  model.connector = connector;
  model.vision_stem = config.vision.model_type;
  model.patch_size = config.vision.patch_size;
  model.vision_dim = config.vision.hidden_size;
  model.vision_layers = config.vision.num_hidden_layers;
  model.vision_heads = config.vision.num_attention_heads;
  model.vision_mlp_ratio = config.vision.intermediate_size / config.vision.hidden_size;
  model.vision_select_layer = config.vision_layers_used() - config.vision.num_hidden_layers - 1;
  return model;
}

// The checks both kinds of model share: the tokenizer's ids fit the embedding, the dataset's
// images fit the tower, image tokens + BOS + two more fit the positions.
HfImageProcessor check_composable(const HfLlavaConfig& config, const fs::path& processor_directory,
                                  const ModelConfig& model, const data::ImageShape& shape, std::int64_t vocab_size) {
  const std::string config_name = config.text.file.string();
  // Checkpoints often pad the embedding past the tokenizer (LLaVA-1.5: 32064 rows for 32002 ids;
  // Qwen2: 151936 for 151665): the rows beyond are never an input, and decoding skips them.
  if (vocab_size > config.text.vocab_size) {
    throw InputError(fmt::format("{}: {}vocab_size = {}, but the dataset's tokenizer has {} ids; fine-tune a "
                                 "Hugging Face model on a dataset tokenized with its own tokenizer",
                                 config_name, config.text.key_prefix, config.text.vocab_size, vocab_size));
  }
  HfImageProcessor processor = read_hf_image_processor(processor_directory, config.vision);
  check_processable(processor, shape, config.vision);
  if (config.num_image_tokens() + 3 > model.max_seq_len) {
    throw InputError(fmt::format("{}: {} image tokens + 3 do not fit max_position_embeddings = {}", config_name,
                                 config.num_image_tokens(), model.max_seq_len));
  }
  return processor;
}

}  // namespace

bool is_hf_model_directory(const std::filesystem::path& path) {
  std::error_code error;
  return fs::is_directory(path, error) && fs::is_regular_file(path / "config.json", error);
}

std::shared_ptr<VisionLanguageModel> load_hf_vlm(const std::filesystem::path& directory, const LoraConfig& lora,
                                                 const data::ImageShape& shape, std::int64_t vocab_size,
                                                 std::uint64_t seed) {
  const HfLlavaConfig config = read_hf_llava_config(directory);
  const HfDecoderShape text = decoder_shape(config.text);
  const ModelConfig model = model_config_of(config, text, directory);
  HfImageProcessor processor = check_composable(config, directory, model, shape, vocab_size);
  auto vlm = std::make_shared<HfLlavaVlm>(config, std::move(processor), text, model, lora, shape);
  initialize_group(*vlm, "lora", seed);  // the stream build_model draws adapters from

  const SafetensorsCheckpoint checkpoint(directory);
  const std::string config_name = config.text.file.string();
  const LlavaLayout layout = llava_layout(config, checkpoint);
  const auto mapping = vision_and_projector_mapping(config, layout);
  ParameterMap parameters = parameters_without_lora(*vlm->vision, "vision.");
  parameters.merge(parameters_without_lora(*vlm->connector, "connector."));
  const std::string described_by = fmt::format("the LLaVA model {} describes", config_name);
  check_mapped_tensors(checkpoint, mapping, parameters, described_by);
  std::set<std::string> wanted;
  for (const HfTensorMapping& m : mapping) wanted.insert(m.checkpoint_name);
  const auto layers_used = config.vision_layers_used();
  check_no_unknown_tensors(
      checkpoint,
      [&](const std::string& name) {
        const auto& owned = layout.decoder.owned_prefixes;  // checked by load_hf_decoder_weights
        return wanted.count(name) > 0 || is_unused_vision_tensor(name, layers_used, layout.vision_prefix) ||
               std::any_of(owned.begin(), owned.end(), [&](const std::string& p) { return name.starts_with(p); });
      },
      described_by);
  load_hf_decoder_weights(vlm->decoder, config.text, checkpoint);  // checks its tensors, then copies
  copy_mapped_tensors(checkpoint, mapping, parameters);
  vlm->eval();
  return vlm;
}

std::vector<HfTensorMapping> hf_vlm_mapping(const std::filesystem::path& directory) {
  const HfLlavaConfig config = read_hf_llava_config(directory);
  const SafetensorsCheckpoint checkpoint(directory);
  const LlavaLayout layout = llava_layout(config, checkpoint);
  std::vector<HfTensorMapping> mapping = vision_and_projector_mapping(config, layout);
  for (const HfTensorMapping& m : decoder_mapping(config.text, layout.decoder)) {
    mapping.push_back({m.checkpoint_name, "decoder." + m.parameter_name});
  }
  return mapping;
}

HfLlavaConfig read_hf_tower_and_decoder_config(const std::filesystem::path& vision_tower,
                                              const std::filesystem::path& decoder, std::int64_t vision_select_layer) {
  HfLlavaConfig config;
  config.text = read_hf_text_config(decoder);
  if (config.text.model_type == "llava") {
    throw InputError(fmt::format("model.base = \"{}\" is a LLaVA model, which has its own vision tower; leave "
                                 "model.vision_tower empty, or set model.base to a language model directory",
                                 decoder.string()));
  }
  config.vision = read_hf_vision_config(vision_tower);
  if (config.vision.directory_type == "llava") {
    throw InputError(fmt::format("model.vision_tower = \"{}\" is a LLaVA model; name a CLIP or SigLIP directory, or set "
                                 "model.base to the LLaVA directory alone",
                                 vision_tower.string()));
  }
  const std::int64_t layers = config.vision.num_hidden_layers;
  if (vision_select_layer >= 0 || -vision_select_layer > layers) {
    throw InputError(fmt::format("model.vision_select_layer = {}: the tower of {} has {} layers (-1 .. -{})",
                                 vision_select_layer, config.vision.file.string(), layers, layers));
  }
  config.vision_feature_layer = vision_select_layer;  // hidden_states[-k] is layer k's from the end, as LLaVA counts
  // LLaVA drops CLIP's class token; SigLIP has none, so every patch is an image token (as
  // LLaVA-OneVision and PaliGemma feed SigLIP: "full").
  config.vision_feature_select_strategy = config.vision.clip() ? "default" : "full";
  return config;
}

void load_mm_projector(torch::nn::Module& connector, const std::filesystem::path& file) {
  const SafetensorsFile reader(file);
  const std::string prefix = "model.mm_projector.";
  ParameterMap parameters = parameters_without_lora(connector);
  std::vector<std::string> expected;
  for (const auto& [name, parameter] : parameters) expected.push_back(prefix + name);
  std::map<std::string, torch::Tensor> values;
  for (const SafetensorsEntry& entry : reader.entries()) {
    const auto parameter = parameters.find(entry.name.starts_with(prefix) ? entry.name.substr(prefix.size()) : "");
    if (parameter == parameters.end()) {
      throw InputError(fmt::format("model.projector = \"{}\": tensor {} is not a parameter of the model.connector's "
                                   "kind (it has {})",
                                   file.string(), entry.name, some_names(expected)));
    }
    const torch::Tensor value = to_tensor(reader, entry);
    if (value.sizes() != parameter->second.sizes()) {
      throw InputError(fmt::format("model.projector = \"{}\": {} has shape [{}], the connector's {} has [{}]", file.string(),
                                   entry.name, fmt::join(value.sizes(), ", "), parameter->first,
                                   fmt::join(parameter->second.sizes(), ", ")));
    }
    values.emplace(parameter->first, value);
  }
  for (const auto& [name, parameter] : parameters) {
    if (!values.count(name)) {
      throw InputError(fmt::format("model.projector = \"{}\" lacks {}{}: not a connector of model.connector's kind",
                                   file.string(), prefix, name));
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, parameter] : parameters) parameter.copy_(values.at(name).to(parameter.scalar_type()));
}

std::shared_ptr<VisionLanguageModel> load_hf_tower_and_decoder(const std::filesystem::path& vision_tower,
                                                               const std::filesystem::path& decoder,
                                                               const std::string& connector,
                                                               std::int64_t vision_select_layer, const LoraConfig& lora,
                                                               const data::ImageShape& shape, std::int64_t vocab_size,
                                                               std::uint64_t seed, const std::filesystem::path& projector) {
  const HfLlavaConfig config = read_hf_tower_and_decoder_config(vision_tower, decoder, vision_select_layer);
  make_connector(connector, 1, 1);  // an unknown name fails here, before any weight is read
  const HfDecoderShape text = decoder_shape(config.text);
  const ModelConfig model = model_config_of(config, text, decoder, connector, vision_tower);
  HfImageProcessor processor = check_composable(config, vision_tower, model, shape, vocab_size);
  auto vlm = std::make_shared<HfLlavaVlm>(config, std::move(processor), text, model, lora, shape);
  // The connector and adapters as build_model draws them: the same seed, the same start.
  for (const char* group : {"connector", "lora"}) initialize_group(*vlm, group, seed);
  if (!projector.empty()) load_mm_projector(*vlm->connector, projector);
  load_hf_vision_tower_weights(vlm->vision, vision_tower);
  load_hf_decoder_weights(vlm->decoder, config.text, SafetensorsCheckpoint(decoder));
  vlm->eval();
  return vlm;
}

std::vector<HfTensorMapping> hf_decoder_model_mapping(const std::filesystem::path& decoder) {
  const HfTextConfig config = read_hf_text_config(decoder);
  const SafetensorsCheckpoint checkpoint(decoder);
  std::vector<HfTensorMapping> mapping;
  for (const HfTensorMapping& m : decoder_mapping(config, decoder_layout(config, checkpoint))) {
    mapping.push_back({m.checkpoint_name, "decoder." + m.parameter_name});
  }
  return mapping;
}

}  // namespace fedvlm::model::hf
