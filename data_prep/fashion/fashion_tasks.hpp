// The four Fashion-MNIST tasks. Each sample is one canvas and one question whose answer is
// measured from that canvas's pixels (fashion/canvas.hpp, thresholds in fashion/attributes.hpp):
//   cls     "what item is shown?"        -> class name
//   cap     "describe the image."        -> "a large bright sneaker in the top left"
//   vqa     one question about brightness, position, size or class -> yes/no or the word
//   ground  2-3 items of distinct classes, "where is the bag?" -> "x0 y0 x1 y1" on a 0..99 grid
//           (GroundLayout: how many items, how large)
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "fashion/idx_reader.hpp"
#include "fedvlm/core/rng.hpp"
#include "text_sample.hpp"

namespace fedvlm::prep {

struct FashionSource {
  const IdxImages* images = nullptr;
  std::span<const std::uint8_t> labels;
};

// The grounding canvases: 2..max_items items of distinct classes, each drawn with its longer side
// a uniform fraction in [min_side, max_side] of the canvas side (shrunk until they all fit). The
// default makes 8-14 pixel items on 32 pixels, about one 8-pixel patch each; a 1-pixel error on
// every edge of such a box already costs 40% of its IoU.
struct GroundLayout {
  double min_side = 0.25;
  double max_side = 0.45;
  int max_items = 3;
};

// Throws InputError naming the fedvlm-prep option (--ground-side, --ground-items) that is out of range.
void check_ground_layout(const GroundLayout& layout);

// Renders source item `item` as a sample of `task` ("cls", "cap", "vqa", "ground") on a
// canvas_size x canvas_size canvas. Ground draws its extra items from `extra_pool` (source
// indices). All randomness from `rng`. The returned sample's `task` field is left 0.
// With `vqa_context`, a VQA question follows the item's description, as text: "a small dark coat
// in the center. is the item bright?" (the public split's text with --public-context; the image,
// answer and random draws are those of the plain question).
TextSample render_fashion_sample(const FashionSource& source, std::string_view task, std::int64_t item,
                                 std::span<const std::int64_t> extra_pool, int canvas_size, Rng& rng,
                                 const GroundLayout& ground = {}, bool vqa_context = false);

}  // namespace fedvlm::prep
