// The image processor of a Hugging Face vision model (preprocessor_config.json), in torch ops so
// it runs on the model's device inside embed_images:
//
//   CLIPImageProcessor    RGB, resize the shortest edge to size.shortest_edge (bicubic), center
//                         crop to crop_size, rescale 1/255, normalize by image_mean / image_std
//   SiglipImageProcessor  RGB, resize to size.height x size.width (bicubic), rescale, normalize
//
// Without preprocessor_config.json: the class defaults for the tower (CLIP: OpenAI's mean and
// std; SigLIP: 0.5, 0.5), with the tower's image_size as size and crop. Keys read: do_resize,
// size (an object or, as older files write it, an integer), resample (2 bilinear, 3 bicubic),
// do_center_crop, crop_size, do_rescale, rescale_factor, do_normalize, image_mean, image_std.
//
// Input: fedvlm's images, float [B, C, H, W] in [-1, 1] (collate_images: pixel / 255 * 2 - 1),
// C = 1 (repeated to RGB, as PIL's convert("RGB") does) or 3. They are mapped back to 0..255.
//
// Resizing is PIL's Image.resize of an 8-bit image, which is what transformers calls: PIL's
// filters (bicubic a = -0.5; bilinear), widened when downsampling, its coefficients rounded to its
// fixed point, the horizontal pass rounded and clipped to 0..255 before the vertical one. Done as
// two float64 matrix products (where those fixed-point sums are exact), it gives PIL's pixels
// (HfVisionTest.ProcessorsMatchPil). Where it can still differ from transformers: images that
// are not whole 8-bit levels (fedvlm's datasets are uint8, so only float rounding) are rounded to
// levels before a resize, and the rescale / normalize arithmetic is float32 (~1e-7).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include <torch/torch.h>

#include "fedvlm/data/samples.hpp"
#include "fedvlm/model/hf/hf_vision_config.hpp"

namespace fedvlm::model::hf {

struct HfImageProcessor {
  std::filesystem::path file;  // preprocessor_config.json, or empty when the defaults were taken
  std::string type;            // "CLIPImageProcessor" or "SiglipImageProcessor"
  bool do_resize = true;
  bool shortest_edge = true;         // CLIP: resize the shortest edge to resize_height; SigLIP: to height x width
  std::int64_t resize_height = 0, resize_width = 0;
  bool bicubic = true;               // else bilinear
  bool do_center_crop = true;
  std::int64_t crop_height = 0, crop_width = 0;
  bool do_rescale = true;
  double rescale_factor = 1.0 / 255.0;
  bool do_normalize = true;
  std::array<double, 3> image_mean{}, image_std{};

  // [B, C, H, W] in [-1, 1] -> pixel values [B, 3, h, w] as the tower takes them.
  torch::Tensor operator()(const torch::Tensor& images) const;
  // The (height, width) operator() gives for images of `shape`.
  std::pair<std::int64_t, std::int64_t> output_size(const data::ImageShape& shape) const;
};

// The processor of `directory` (its preprocessor_config.json, or the defaults for `vision`).
// InputError naming the file, key and value for a value it cannot use.
HfImageProcessor read_hf_image_processor(const std::filesystem::path& directory, const HfVisionConfig& vision);

// Throws InputError unless images of `shape` come out of `processor` at the tower's
// image_size x image_size with 1 or 3 channels.
void check_processable(const HfImageProcessor& processor, const data::ImageShape& shape, const HfVisionConfig& vision);

}  // namespace fedvlm::model::hf
