// Grounding answers: a box parsed from generated text, compared with the stored box by IoU.
// Accepted forms (the first four numbers in the text are the box x0 y0 x1 y1; any other text,
// brackets and commas around them are ignored):
//   "12 30 50 61", "[12, 30, 50, 61]"  integers on the 0..kBoxGridSteps grid: value / kBoxGridSteps
//   "[0.12, 0.3, 0.5, 0.61]"          when any of the four has a decimal point: normalized [0, 1]
// Fewer than four numbers, or a value outside its range, is unparsable (IoU 0). Corners given in
// the wrong order are swapped (the box is the same set of points).
#pragma once

#include <optional>
#include <string_view>

namespace fedvlm::eval {

// The Fashion builder writes coordinates as round(v * kBoxGridSteps), v normalized to [0, 1].
inline constexpr int kBoxGridSteps = 99;

struct Box {
  double x0 = 0, y0 = 0, x1 = 0, y1 = 0;  // normalized, x0 <= x1, y0 <= y1
  double area() const { return (x1 - x0) * (y1 - y0); }
};

std::optional<Box> parse_box(std::string_view text);
// Intersection over union; 0 when the union is empty.
double box_iou(const Box& a, const Box& b);
// The IoU of the box parsed from `prediction` with `reference`; 0 when unparsable.
double prediction_iou(std::string_view prediction, const Box& reference);

}  // namespace fedvlm::eval
