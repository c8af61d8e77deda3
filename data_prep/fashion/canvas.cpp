#include "fashion/canvas.hpp"

#include <algorithm>
#include <cmath>

#include "fedvlm/core/error.hpp"

namespace fedvlm::prep {

void Canvas::paste(const Sprite& sprite, int x, int y) {
  FEDVLM_CHECK(x >= 0 && y >= 0 && x + sprite.width <= size && y + sprite.height <= size,
               "sprite {}x{} at ({}, {}) leaves the {}x{} canvas", sprite.width, sprite.height, x, y, size, size);
  for (int r = 0; r < sprite.height; ++r) {
    auto* row = pixels.data() + static_cast<std::size_t>((y + r) * size + x);
    const auto* source = sprite.pixels.data() + static_cast<std::size_t>(r * sprite.width);
    for (int c = 0; c < sprite.width; ++c) row[c] = std::max(row[c], source[c]);
  }
}

Sprite make_sprite(std::span<const std::uint8_t> item, int rows, int cols, int long_side, double gain) {
  PixelBox crop{cols, rows, -1, -1};
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      if (item[static_cast<std::size_t>(r * cols + c)] > 0) {
        crop.x0 = std::min(crop.x0, c), crop.x1 = std::max(crop.x1, c);
        crop.y0 = std::min(crop.y0, r), crop.y1 = std::max(crop.y1, r);
      }
  if (crop.x1 < 0) crop = PixelBox{0, 0, cols - 1, rows - 1};  // a blank item: keep the frame

  const int source_w = crop.width();
  const int source_h = crop.height();
  const double scale = static_cast<double>(long_side) / std::max(source_w, source_h);
  Sprite sprite;
  sprite.width = std::max(1, static_cast<int>(std::lround(source_w * scale)));
  sprite.height = std::max(1, static_cast<int>(std::lround(source_h * scale)));
  sprite.pixels.resize(static_cast<std::size_t>(sprite.width * sprite.height));
  auto at = [&](int r, int c) {
    return static_cast<double>(item[static_cast<std::size_t>((crop.y0 + r) * cols + crop.x0 + c)]);
  };
  // Bilinear sampling at pixel centres (the convention of OpenCV/PIL resize).
  const double step_x = static_cast<double>(source_w) / sprite.width;
  const double step_y = static_cast<double>(source_h) / sprite.height;
  for (int y = 0; y < sprite.height; ++y) {
    const double sy = std::clamp((y + 0.5) * step_y - 0.5, 0.0, source_h - 1.0);
    const int y0 = static_cast<int>(sy);
    const int y1 = std::min(y0 + 1, source_h - 1);
    const double fy = sy - y0;
    for (int x = 0; x < sprite.width; ++x) {
      const double sx = std::clamp((x + 0.5) * step_x - 0.5, 0.0, source_w - 1.0);
      const int x0 = static_cast<int>(sx);
      const int x1 = std::min(x0 + 1, source_w - 1);
      const double fx = sx - x0;
      const double value = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
      sprite.pixels[static_cast<std::size_t>(y * sprite.width + x)] =
          static_cast<std::uint8_t>(std::clamp(std::lround(value * gain), 0L, 255L));
    }
  }
  return sprite;
}

std::optional<ItemMeasure> measure_item(std::span<const std::uint8_t> pixels, int side, const PixelBox& region) {
  PixelBox box{side, side, -1, -1};
  double weight = 0.0, weighted_x = 0.0, weighted_y = 0.0;
  std::int64_t count = 0;
  for (int y = std::max(0, region.y0); y <= std::min(side - 1, region.y1); ++y)
    for (int x = std::max(0, region.x0); x <= std::min(side - 1, region.x1); ++x) {
      const std::uint8_t value = pixels[static_cast<std::size_t>(y * side + x)];
      if (value < kItemPixelThreshold) continue;
      box.x0 = std::min(box.x0, x), box.x1 = std::max(box.x1, x);
      box.y0 = std::min(box.y0, y), box.y1 = std::max(box.y1, y);
      weight += value, weighted_x += value * x, weighted_y += value * y;
      ++count;
    }
  if (count == 0) return std::nullopt;
  ItemMeasure measure;
  measure.box = box;
  measure.area_fraction = static_cast<double>(box.width()) * box.height() / (static_cast<double>(side) * side);
  measure.mean_intensity = weight / static_cast<double>(count);
  measure.center_x = weighted_x / weight;
  measure.center_y = weighted_y / weight;
  return measure;
}

}  // namespace fedvlm::prep
