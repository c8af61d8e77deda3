#include "fedvlm/model/hf/hf_image_processor.hpp"

#include <algorithm>
#include <cmath>
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

constexpr std::array<double, 3> kClipMean{0.48145466, 0.4578275, 0.40821073};  // OPENAI_CLIP_MEAN
constexpr std::array<double, 3> kClipStd{0.26862954, 0.26130258, 0.27577711};   // OPENAI_CLIP_STD
constexpr std::array<double, 3> kHalf{0.5, 0.5, 0.5};                            // IMAGENET_STANDARD_*
constexpr int kPilBilinear = 2, kPilBicubic = 3;

// PIL's resampling filters (Resample.c): bicubic with a = -0.5 (support 2), bilinear (support 1).
double pil_filter(double x, bool bicubic) {
  x = std::abs(x);
  if (!bicubic) return x < 1.0 ? 1.0 - x : 0.0;
  constexpr double a = -0.5;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// The [out, in] matrix of one axis' resampling as PIL computes it for 8-bit images
// (precompute_coeffs, then normalize_coeffs_8bpc): the filter widened by the downscaling factor,
// each row normalized, then rounded to PIL's fixed point (22 fractional bits, half away from zero).
torch::Tensor pil_weights(std::int64_t in, std::int64_t out, bool bicubic) {
  constexpr double kFixedPoint = 1 << 22;
  const double scale = static_cast<double>(in) / static_cast<double>(out);
  const double widen = std::max(scale, 1.0);
  const double support = (bicubic ? 2.0 : 1.0) * widen;
  auto weights = torch::zeros({out, in}, torch::kFloat64);
  auto w = weights.accessor<double, 2>();
  for (std::int64_t i = 0; i < out; ++i) {
    const double center = (static_cast<double>(i) + 0.5) * scale;
    const auto first = std::max<std::int64_t>(static_cast<std::int64_t>(center - support + 0.5), 0);
    const auto last = std::min<std::int64_t>(static_cast<std::int64_t>(center + support + 0.5), in);
    double total = 0.0;
    for (std::int64_t j = first; j < last; ++j) total += w[i][j] = pil_filter((j - center + 0.5) / widen, bicubic);
    for (std::int64_t j = first; j < last; ++j) {
      const double k = total != 0.0 ? w[i][j] / total : w[i][j];
      w[i][j] = std::trunc(k * kFixedPoint + (k < 0 ? -0.5 : 0.5)) / kFixedPoint;
    }
  }
  return weights;
}

// PIL's Image.resize of an 8-bit image: the horizontal pass, rounded and clipped to 0..255, then
// the vertical one. In float64, where these fixed-point sums are exact, so the result is PIL's.
torch::Tensor pil_resize(const torch::Tensor& levels, std::int64_t height, std::int64_t width, bool bicubic) {
  auto x = levels.to(torch::kFloat64).round();  // the 8-bit image PIL is given
  const auto options = x.options();
  if (width != x.size(3)) {
    x = (x.matmul(pil_weights(x.size(3), width, bicubic).to(options.device()).t()) + 0.5).floor().clamp(0.0, 255.0);
  }
  if (height != x.size(2)) {
    x = (pil_weights(x.size(2), height, bicubic).to(options.device()).matmul(x) + 0.5).floor().clamp(0.0, 255.0);
  }
  return x.to(levels.scalar_type());
}

// The defaults of the processor class for `vision`'s tower at its image_size.
HfImageProcessor defaults_for(const std::string& type, const HfVisionConfig& vision) {
  HfImageProcessor p;
  p.type = type;
  p.resize_height = p.resize_width = p.crop_height = p.crop_width = vision.image_size;
  const bool clip = type.starts_with("CLIP");
  p.shortest_edge = clip;
  p.do_center_crop = clip;
  p.image_mean = clip ? kClipMean : kHalf;
  p.image_std = clip ? kClipStd : kHalf;
  return p;
}

// {"height": h, "width": w}, {"shortest_edge": s} or an integer; sets (height, width) and
// whether it is a shortest edge.
void read_size(const Fields& fields, const std::string& key, bool integer_is_shortest_edge, std::int64_t& height,
               std::int64_t& width, bool* shortest_edge) {
  const json* value = fields.find(key, true);
  if (value == nullptr) return;
  auto positive = [&](const json& v) {
    if (!v.is_number_integer() || v.get<std::int64_t>() <= 0) fields.fail(key, *value, "expected positive integer sizes");
    return v.get<std::int64_t>();
  };
  if (value->is_number()) {
    height = width = positive(*value);
    if (shortest_edge != nullptr) *shortest_edge = integer_is_shortest_edge;
  } else if (value->is_object() && value->contains("shortest_edge") && shortest_edge != nullptr) {
    height = width = positive((*value)["shortest_edge"]);
    *shortest_edge = true;
  } else if (value->is_object() && value->contains("height") && value->contains("width")) {
    height = positive((*value)["height"]);
    width = positive((*value)["width"]);
    if (shortest_edge != nullptr) *shortest_edge = false;
  } else {
    fields.fail(key, *value, shortest_edge ? "expected {\"shortest_edge\": n}, {\"height\": h, \"width\": w} or an integer"
                                           : "expected {\"height\": h, \"width\": w} or an integer");
  }
}

void read_triple(const Fields& fields, const std::string& key, std::array<double, 3>& out) {
  const json* value = fields.find(key, true);
  if (value == nullptr) return;
  if (value->is_number()) {
    out.fill(value->get<double>());
  } else if (value->is_array() && value->size() == 3 && (*value)[0].is_number() && (*value)[1].is_number() &&
             (*value)[2].is_number()) {
    for (std::size_t i = 0; i < 3; ++i) out[i] = (*value)[i].get<double>();
  } else {
    fields.fail(key, *value, "expected three numbers (one per RGB channel) or one");
  }
  if (key == "image_std" && (out[0] <= 0 || out[1] <= 0 || out[2] <= 0)) fields.fail(key, *value, "must be positive");
}

}  // namespace

HfImageProcessor read_hf_image_processor(const std::filesystem::path& directory, const HfVisionConfig& vision) {
  const std::string default_type = vision.clip() ? "CLIPImageProcessor" : "SiglipImageProcessor";
  const fs::path file = directory / "preprocessor_config.json";
  if (!fs::exists(file)) return defaults_for(default_type, vision);
  std::ifstream in(file, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  json root;
  try {
    root = json::parse(text.str());
  } catch (const json::parse_error& e) {
    throw InputError(fmt::format("{}: not valid JSON: {}", file.string(), e.what()));
  }
  if (!root.is_object()) throw InputError(fmt::format("{}: expected a JSON object", file.string()));
  const Fields fields(root, file, "", nullptr);
  std::string type = fields.string("image_processor_type", default_type);
  if (type.ends_with("Fast")) type.resize(type.size() - 4);  // the torchvision variants: same steps
  if (type != "CLIPImageProcessor" && type != "SiglipImageProcessor") {
    fields.fail("image_processor_type", type, "fedvlm implements CLIPImageProcessor and SiglipImageProcessor");
  }
  HfImageProcessor p = defaults_for(type, vision);
  p.file = file;
  const bool clip = type == "CLIPImageProcessor";
  p.do_resize = fields.boolean("do_resize", true);
  read_size(fields, "size", clip, p.resize_height, p.resize_width, &p.shortest_edge);
  const std::int64_t resample = fields.positive_integer("resample", kPilBicubic);
  if (resample != kPilBilinear && resample != kPilBicubic) {
    fields.fail("resample", resample, "fedvlm resizes with PIL's bilinear (2) or bicubic (3) filter only");
  }
  p.bicubic = resample == kPilBicubic;
  p.do_center_crop = clip && fields.boolean("do_center_crop", true);
  if (clip) read_size(fields, "crop_size", false, p.crop_height, p.crop_width, nullptr);
  p.do_rescale = fields.boolean("do_rescale", true);
  p.rescale_factor = fields.positive_number("rescale_factor", 1.0 / 255.0);
  p.do_normalize = fields.boolean("do_normalize", true);
  read_triple(fields, "image_mean", p.image_mean);
  read_triple(fields, "image_std", p.image_std);
  return p;
}

std::pair<std::int64_t, std::int64_t> HfImageProcessor::output_size(const data::ImageShape& shape) const {
  std::int64_t height = shape.height, width = shape.width;
  if (do_resize && shortest_edge) {  // transformers' get_resize_output_image_size, default_to_square=False
    const std::int64_t short_side = std::min(height, width), long_side = std::max(height, width);
    const auto new_long = static_cast<std::int64_t>(static_cast<double>(resize_height) * long_side / short_side);
    std::tie(height, width) = height <= width ? std::pair{resize_height, new_long} : std::pair{new_long, resize_height};
  } else if (do_resize) {
    height = resize_height;
    width = resize_width;
  }
  if (do_center_crop) return {crop_height, crop_width};
  return {height, width};
}

torch::Tensor HfImageProcessor::operator()(const torch::Tensor& images) const {
  auto x = (images.to(torch::kFloat32) + 1.0) * 127.5;  // back to 0..255
  if (x.size(1) == 1) x = x.expand({x.size(0), 3, x.size(2), x.size(3)});
  const data::ImageShape shape{x.size(1), x.size(2), x.size(3)};
  if (do_resize) {
    auto uncropped = *this;
    uncropped.do_center_crop = false;
    const auto [height, width] = uncropped.output_size(shape);
    if (height != shape.height || width != shape.width) x = pil_resize(x, height, width, bicubic);
  }
  if (do_center_crop) {  // transformers' center_crop: the top-left offset rounds down
    const auto top = (x.size(2) - crop_height) / 2, left = (x.size(3) - crop_width) / 2;
    x = x.slice(2, top, top + crop_height).slice(3, left, left + crop_width);
  }
  if (do_rescale) x = x * rescale_factor;
  if (do_normalize) {
    const auto options = x.options();
    const auto mean = torch::tensor(std::vector<double>(image_mean.begin(), image_mean.end()), options).view({1, 3, 1, 1});
    const auto std = torch::tensor(std::vector<double>(image_std.begin(), image_std.end()), options).view({1, 3, 1, 1});
    x = (x - mean) / std;
  }
  return x.contiguous();
}

void check_processable(const HfImageProcessor& processor, const data::ImageShape& shape, const HfVisionConfig& vision) {
  const std::string source = processor.file.empty() ? fmt::format("{}'s defaults", processor.type) : processor.file.string();
  if (shape.channels != 1 && shape.channels != 3) {
    throw InputError(fmt::format("images of {} channels: the {} tower of {} takes RGB (3) or grayscale (1) images",
                                 shape.channels, vision.model_type, vision.file.string()));
  }
  if (processor.do_resize && processor.shortest_edge && std::min(shape.height, shape.width) <= 0) {
    throw InputError(fmt::format("images of {}x{} cannot be resized", shape.height, shape.width));
  }
  const data::ImageShape rgb{3, shape.height, shape.width};
  auto uncropped = processor;
  uncropped.do_center_crop = false;
  const auto [resized_height, resized_width] = uncropped.output_size(rgb);
  if (processor.do_center_crop && (processor.crop_height > resized_height || processor.crop_width > resized_width)) {
    throw InputError(fmt::format("{}: images of {}x{} resize to {}x{}, smaller than crop_size {}x{}", source, shape.height,
                                 shape.width, resized_height, resized_width, processor.crop_height, processor.crop_width));
  }
  const auto [height, width] = processor.output_size(rgb);
  if (height != vision.image_size || width != vision.image_size) {
    throw InputError(fmt::format("{}: images of {}x{} come out {}x{}, but the tower of {} takes {}x{} (image_size)", source,
                                 shape.height, shape.width, height, width, vision.file.string(), vision.image_size,
                                 vision.image_size));
  }
}

}  // namespace fedvlm::model::hf
