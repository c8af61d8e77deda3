// The four Fashion-MNIST tasks. Each sample is one canvas and one question whose answer is
// measured from that canvas's pixels (fashion/canvas.hpp, thresholds in fashion/attributes.hpp):
//   cls     "what item is shown?"        -> class name
//   cap     "describe the image."        -> "a large bright sneaker in the top left"
//   vqa     one question about brightness, position, size or class -> yes/no or the word
//   ground  2-3 items of distinct classes, "where is the bag?" -> "x0 y0 x1 y1" on a 0..99 grid
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

// Renders source item `item` as a sample of `task` ("cls", "cap", "vqa", "ground") on a
// canvas_size x canvas_size canvas. Ground draws its extra items from `extra_pool` (source
// indices). All randomness from `rng`. The returned sample's `task` field is left 0.
TextSample render_fashion_sample(const FashionSource& source, std::string_view task, std::int64_t item,
                                 std::span<const std::int64_t> extra_pool, int canvas_size, Rng& rng);

}  // namespace fedvlm::prep
