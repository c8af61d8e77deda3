// Grayscale square canvases: Fashion-MNIST items cropped to their pixels, scaled (bilinear),
// dimmed and pasted onto black; and the measurements the task answers are made from.
// Measurements read only canvas pixels, so an answer can always be re-derived from the image.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace fedvlm::prep {

// A pixel counts as part of an item when its value is at least this (faint bilinear fringes don't).
inline constexpr std::uint8_t kItemPixelThreshold = 32;

struct PixelBox {  // inclusive pixel coordinates
  int x0 = 0, y0 = 0, x1 = -1, y1 = -1;
  int width() const { return x1 - x0 + 1; }
  int height() const { return y1 - y0 + 1; }
};

struct Sprite {  // an item ready to paste: width x height pixels, row-major
  int width = 0;
  int height = 0;
  std::vector<std::uint8_t> pixels;
};

struct Canvas {
  int size = 0;
  std::vector<std::uint8_t> pixels;  // size x size, row-major
  explicit Canvas(int side) : size(side), pixels(static_cast<std::size_t>(side * side), 0) {}
  // Maximum compositing: overlapping items keep the brighter pixel.
  void paste(const Sprite& sprite, int x, int y);
};

// Crops the rows x cols item to its non-zero pixels, scales it so its longer side is `long_side`
// (aspect kept, bilinear) and multiplies intensities by `gain` (0..1].
Sprite make_sprite(std::span<const std::uint8_t> item, int rows, int cols, int long_side, double gain);

struct ItemMeasure {
  PixelBox box;             // tight box of item pixels
  double area_fraction;     // box area / region area of the whole canvas
  double mean_intensity;    // mean value of item pixels
  double center_x;          // intensity-weighted centre of mass, in pixels
  double center_y;
};

// Measures the item pixels of `pixels` (side x side) inside `region`; nullopt when there are none.
std::optional<ItemMeasure> measure_item(std::span<const std::uint8_t> pixels, int side, const PixelBox& region);
inline std::optional<ItemMeasure> measure_item(std::span<const std::uint8_t> pixels, int side) {
  return measure_item(pixels, side, PixelBox{0, 0, side - 1, side - 1});
}

}  // namespace fedvlm::prep
