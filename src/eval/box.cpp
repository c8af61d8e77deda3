#include "fedvlm/eval/box.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>
#include <system_error>
#include <utility>

namespace fedvlm::eval {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

struct Number {
  double value = 0;
  bool has_decimal_point = false;
};

// The next number at or after `position`: optional '-', digits with at most one '.' (".5" and
// "5." count). A leading '-' is kept so "-5" is rejected as out of range instead of read as 5.
std::optional<Number> next_number(std::string_view text, std::size_t& position) {
  while (position < text.size()) {
    const std::size_t start = position;
    std::size_t end = start;
    if (text[end] == '-') ++end;
    const std::size_t digits_start = end;
    bool decimal_point = false;
    bool any_digit = false;
    while (end < text.size() && (is_digit(text[end]) || (text[end] == '.' && !decimal_point))) {
      decimal_point = decimal_point || text[end] == '.';
      any_digit = any_digit || is_digit(text[end]);
      ++end;
    }
    if (!any_digit) {
      position = std::max(start + 1, digits_start);
      continue;
    }
    // A trailing '.' is sentence punctuation ("at 3 4 5 6."), not a decimal point.
    if (text[end - 1] == '.') {
      --end;
      decimal_point = std::find(text.begin() + digits_start, text.begin() + end, '.') != text.begin() + end;
    }
    position = end;
    Number number;
    number.has_decimal_point = decimal_point;
    const auto [last, error] = std::from_chars(text.data() + start, text.data() + end, number.value);
    // Too many digits for a double: out of every range, so the box is rejected.
    if (error != std::errc() || last != text.data() + end) number.value = std::numeric_limits<double>::infinity();
    return number;
  }
  return std::nullopt;
}

}  // namespace

std::optional<Box> parse_box(std::string_view text) {
  std::array<Number, 4> numbers;
  std::size_t position = 0;
  for (Number& number : numbers) {
    const auto found = next_number(text, position);
    if (!found) return std::nullopt;
    number = *found;
  }
  const bool normalized = std::any_of(numbers.begin(), numbers.end(), [](const Number& n) { return n.has_decimal_point; });
  const double scale = normalized ? 1.0 : kBoxGridSteps;
  std::array<double, 4> values{};
  for (int i = 0; i < 4; ++i) {
    if (numbers[i].value < 0 || numbers[i].value > scale) return std::nullopt;
    values[i] = numbers[i].value / scale;
  }
  return Box{std::min(values[0], values[2]), std::min(values[1], values[3]), std::max(values[0], values[2]),
             std::max(values[1], values[3])};
}

double box_iou(const Box& a, const Box& b) {
  const double width = std::min(a.x1, b.x1) - std::max(a.x0, b.x0);
  const double height = std::min(a.y1, b.y1) - std::max(a.y0, b.y0);
  const double intersection = (width > 0 && height > 0) ? width * height : 0.0;
  const double union_area = a.area() + b.area() - intersection;
  return union_area > 0 ? intersection / union_area : 0.0;
}

double prediction_iou(std::string_view prediction, const Box& reference) {
  const std::optional<Box> box = parse_box(prediction);
  return box ? box_iou(*box, reference) : 0.0;
}

}  // namespace fedvlm::eval
