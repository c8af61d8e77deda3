#include "fedvlm/model/hf/hf_vision_config.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "hf_json_fields.hpp"

namespace fedvlm::model::hf {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Class defaults of transformers' CLIPVisionConfig and SiglipVisionConfig.
struct VisionDefaults {
  std::int64_t hidden_size, intermediate_size, num_hidden_layers, num_attention_heads, image_size, patch_size;
  double layer_norm_eps;
  const char* hidden_act;
};
constexpr VisionDefaults kClip{768, 3072, 12, 12, 224, 32, 1e-5, "quick_gelu"};
constexpr VisionDefaults kSiglip{768, 3072, 12, 12, 224, 16, 1e-6, "gelu_pytorch_tanh"};
// LlavaConfig without vision_config: CLIP ViT-L/14 at 336 pixels (LLaVA 1.5's tower).
constexpr VisionDefaults kLlavaClip{1024, 4096, 24, 16, 336, 14, 1e-5, "quick_gelu"};

std::string read_text(const fs::path& path) {
  const fs::path file = path.extension() == ".json" ? path : path / "config.json";
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read the model's config.json", file.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

fs::path config_file(const fs::path& path) { return path.extension() == ".json" ? path : path / "config.json"; }

void read_vision_fields(const json& object, const VisionDefaults& defaults, HfVisionConfig& config) {
  const Fields fields(object, config.file, config.key_prefix, &config.defaulted);
  config.hidden_size = fields.positive_integer("hidden_size", defaults.hidden_size);
  config.intermediate_size = fields.positive_integer("intermediate_size", defaults.intermediate_size);
  config.num_hidden_layers = fields.positive_integer("num_hidden_layers", defaults.num_hidden_layers);
  config.num_attention_heads = fields.positive_integer("num_attention_heads", defaults.num_attention_heads);
  config.num_channels = fields.positive_integer("num_channels", 3);
  config.image_size = fields.positive_integer("image_size", defaults.image_size);
  config.patch_size = fields.positive_integer("patch_size", defaults.patch_size);
  config.layer_norm_eps = fields.positive_number("layer_norm_eps", defaults.layer_norm_eps);
  config.hidden_act = fields.string("hidden_act", defaults.hidden_act);
  if (config.hidden_size % config.num_attention_heads != 0) {
    fields.fail("hidden_size", config.hidden_size,
                fmt::format("is not a multiple of num_attention_heads ({})", config.num_attention_heads));
  }
  if (config.image_size % config.patch_size != 0) {
    fields.fail("image_size", config.image_size, fmt::format("is not a multiple of patch_size ({})", config.patch_size));
  }
  if (config.num_channels != 3) fields.fail("num_channels", config.num_channels, "fedvlm feeds RGB towers (3 channels) only");
  const std::string& act = config.hidden_act;
  if (act != "quick_gelu" && act != "gelu" && act != "gelu_pytorch_tanh" && act != "gelu_new") {
    fields.fail("hidden_act", act, "fedvlm's towers implement quick_gelu, gelu, gelu_pytorch_tanh and gelu_new");
  }
}

HfVisionConfig vision_from(const json& object, const fs::path& file, const std::string& prefix,
                           const VisionDefaults* clip_defaults, const char* default_model_type = "clip_vision_model") {
  HfVisionConfig config;
  config.file = file;
  config.key_prefix = prefix;
  const Fields fields(object, config.file, prefix, &config.defaulted);
  config.model_type = fields.string("model_type", default_model_type);
  if (config.model_type != "clip_vision_model" && config.model_type != "siglip_vision_model") {
    fields.fail("model_type", config.model_type, "fedvlm loads clip_vision_model and siglip_vision_model towers");
  }
  read_vision_fields(object, config.clip() ? *clip_defaults : kSiglip, config);
  return config;
}

}  // namespace

std::int64_t HfLlavaConfig::vision_layers_used() const {
  const std::int64_t layers = vision.num_hidden_layers;
  return vision_feature_layer < 0 ? layers + 1 + vision_feature_layer : vision_feature_layer;
}

std::int64_t HfLlavaConfig::num_image_tokens() const {
  const std::int64_t tokens = vision.num_patches() + (vision.class_token() ? 1 : 0);
  // transformers' "default" drops the first token whatever the tower (on SigLIP, a patch).
  return vision_feature_select_strategy == "default" ? tokens - 1 : tokens;
}

HfVisionConfig parse_hf_vision_config(std::string_view json_text, const std::filesystem::path& file) {
  const json root = parse_json_object(json_text, file);
  const Fields top(root, file, "", nullptr);
  const std::string model_type = top.string("model_type", "");
  HfVisionConfig config;
  if (model_type == "llava") {
    config = parse_hf_llava_config(json_text, file).vision;
  } else if (model_type == "clip" || model_type == "siglip") {
    // CLIPConfig / SiglipConfig: the tower is vision_config (transformers' defaults when absent).
    const json* vision = top.find("vision_config", true);
    if (vision != nullptr && !vision->is_object()) top.fail("vision_config", *vision, "expected an object or null");
    const bool clip = model_type == "clip";
    config = vision_from(vision != nullptr ? *vision : json::object(), file, "vision_config.", &kClip,
                         clip ? "clip_vision_model" : "siglip_vision_model");
    if (config.clip() != clip) {
      top.fail("vision_config.model_type", config.model_type, fmt::format("a {} model's tower is {}_vision_model", model_type, model_type));
    }
  } else if (model_type == "clip_vision_model" || model_type == "siglip_vision_model") {
    config = vision_from(root, file, "", &kClip);
  } else {
    const char* known = "clip_vision_model, siglip_vision_model, clip, siglip or llava";
    if (model_type.empty()) top.missing("model_type", fmt::format("it names the architecture ({})", known));
    top.fail("model_type", model_type, fmt::format("fedvlm loads vision towers of {}", known));
  }
  config.directory_type = model_type;
  return config;
}

HfLlavaConfig parse_hf_llava_config(std::string_view json_text, const std::filesystem::path& file) {
  const json root = parse_json_object(json_text, file);
  HfLlavaConfig config;
  config.text = parse_hf_text_config(json_text, file);
  const Fields top(root, config.text.file, "", &config.text.defaulted);
  if (config.text.model_type != "llava") {
    top.fail("model_type", config.text.model_type, "a LLaVA model directory (LlavaForConditionalGeneration) is expected");
  }
  if (const json* vision = top.find("vision_config", true)) {
    if (!vision->is_object()) top.fail("vision_config", *vision, "expected an object or null");
    config.vision = vision_from(*vision, file, "vision_config.", &kClip);
  } else {
    config.vision = vision_from(json::object(), file, "vision_config.", &kLlavaClip);
    config.vision.defaulted = {"vision_config"};
  }
  config.vision.directory_type = "llava";
  if (const json* layer = top.find("vision_feature_layer", false); layer != nullptr && layer->is_array()) {
    top.fail("vision_feature_layer", *layer, "fedvlm takes the features of one layer (an integer), not several concatenated");
  }
  config.vision_feature_layer = top.integer("vision_feature_layer", -2);
  const std::int64_t layers = config.vision.num_hidden_layers;
  if (config.vision_feature_layer < -(layers + 1) || config.vision_feature_layer > layers) {
    top.fail("vision_feature_layer", config.vision_feature_layer,
             fmt::format("must index the tower's {} hidden states (from -{} to {})", layers + 1, layers + 1, layers));
  }
  config.vision_feature_select_strategy = top.string("vision_feature_select_strategy", "default");
  if (config.vision_feature_select_strategy != "default" && config.vision_feature_select_strategy != "full") {
    top.fail("vision_feature_select_strategy", config.vision_feature_select_strategy, "expected \"default\" or \"full\"");
  }
  config.projector_hidden_act = top.string("projector_hidden_act", "gelu");
  if (config.projector_hidden_act != "gelu") {
    top.fail("projector_hidden_act", config.projector_hidden_act,
             "fedvlm's mlp2x_gelu connector uses the exact \"gelu\" only");
  }
  config.image_token_index = top.integer("image_token_index", 32000);
  config.multimodal_projector_bias = top.boolean("multimodal_projector_bias", true);
  if (!config.multimodal_projector_bias) {
    top.fail("multimodal_projector_bias", false, "fedvlm's mlp2x_gelu connector has biases");
  }
  if (config.num_image_tokens() <= 0) {
    top.fail("vision_feature_select_strategy", config.vision_feature_select_strategy, "leaves no image token");
  }
  return config;
}

HfVisionConfig read_hf_vision_config(const std::filesystem::path& path) {
  return parse_hf_vision_config(read_text(path), config_file(path));
}

HfLlavaConfig read_hf_llava_config(const std::filesystem::path& path) {
  return parse_hf_llava_config(read_text(path), config_file(path));
}

}  // namespace fedvlm::model::hf
