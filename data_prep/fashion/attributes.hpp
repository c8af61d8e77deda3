// The words the fashion tasks use, and the fixed thresholds that turn canvas measurements into
// them (docs/datasets.md lists the same numbers).
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "fashion/canvas.hpp"

namespace fedvlm::prep {

// Fashion-MNIST classes 0..9, as lowercase words.
inline constexpr std::array<std::string_view, 10> kFashionClasses = {
    "t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"};

// Size from the item's bounding-box area as a fraction of the canvas area.
inline constexpr double kSmallBelow = 0.20;   // area fraction < 0.20: small
inline constexpr double kLargeFrom = 0.45;    // area fraction >= 0.45: large; between: medium
// Brightness from the mean value of the item's pixels (those >= kItemPixelThreshold).
inline constexpr double kBrightFrom = 110.0;  // mean >= 110: bright; below: dark

inline constexpr std::array<std::string_view, 3> kSizeWords = {"small", "medium", "large"};
inline constexpr std::array<std::string_view, 2> kBrightnessWords = {"dark", "bright"};
// 3x3 grid cells of the centre of mass, row-major from the top left.
inline constexpr std::array<std::string_view, 9> kPositionWords = {
    "top left", "top center", "top right", "middle left", "center", "middle right",
    "bottom left", "bottom center", "bottom right"};

std::string_view size_word(double area_fraction);
std::string_view brightness_word(double mean_intensity);
// Cell of the point (x, y) given in pixel indices on a side x side canvas.
std::string_view position_word(double x, double y, int side);

// Box corners on the 0..99 grid of ground answers: round(v * 99) of each normalized coordinate.
std::string grid_box_text(const std::array<float, 4>& normalized_box);
// Normalized box of an inclusive pixel box: x0 / side ... (x1 + 1) / side.
std::array<float, 4> normalized_box(const PixelBox& box, int side);

}  // namespace fedvlm::prep
