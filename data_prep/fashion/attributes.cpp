#include "fashion/attributes.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace fedvlm::prep {

std::string_view size_word(double area_fraction) {
  if (area_fraction < kSmallBelow) return kSizeWords[0];
  return area_fraction < kLargeFrom ? kSizeWords[1] : kSizeWords[2];
}

std::string_view brightness_word(double mean_intensity) {
  return mean_intensity >= kBrightFrom ? kBrightnessWords[1] : kBrightnessWords[0];
}

std::string_view position_word(double x, double y, int side) {
  auto cell = [side](double v) { return std::clamp(static_cast<int>(std::floor(3.0 * (v + 0.5) / side)), 0, 2); };
  return kPositionWords[static_cast<std::size_t>(cell(y) * 3 + cell(x))];
}

std::string grid_box_text(const std::array<float, 4>& box) {
  auto grid = [](float v) { return static_cast<int>(std::lround(std::clamp(v, 0.0f, 1.0f) * 99.0f)); };
  return fmt::format("{} {} {} {}", grid(box[0]), grid(box[1]), grid(box[2]), grid(box[3]));
}

std::array<float, 4> normalized_box(const PixelBox& box, int side) {
  const auto s = static_cast<float>(side);
  return {static_cast<float>(box.x0) / s, static_cast<float>(box.y0) / s, static_cast<float>(box.x1 + 1) / s,
          static_cast<float>(box.y1 + 1) / s};
}

}  // namespace fedvlm::prep
