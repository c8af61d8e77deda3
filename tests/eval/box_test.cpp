#include <gtest/gtest.h>

#include "fedvlm/eval/box.hpp"

namespace fedvlm::eval {
namespace {

void expect_box(const std::optional<Box>& box, double x0, double y0, double x1, double y1) {
  ASSERT_TRUE(box.has_value());
  EXPECT_NEAR(box->x0, x0, 1e-12);
  EXPECT_NEAR(box->y0, y0, 1e-12);
  EXPECT_NEAR(box->x1, x1, 1e-12);
  EXPECT_NEAR(box->y1, y1, 1e-12);
}

TEST(ParseBox, IntegersAreOnTheGrid) {
  expect_box(parse_box("12 30 50 61"), 12 / 99.0, 30 / 99.0, 50 / 99.0, 61 / 99.0);
  expect_box(parse_box("[12, 30, 50, 61]"), 12 / 99.0, 30 / 99.0, 50 / 99.0, 61 / 99.0);
  expect_box(parse_box("0 0 99 99"), 0, 0, 1, 1);
  expect_box(parse_box("the box is 3 4 5 6."), 3 / 99.0, 4 / 99.0, 5 / 99.0, 6 / 99.0);  // final '.' is punctuation
  expect_box(parse_box("1 2 3 4 5 6"), 1 / 99.0, 2 / 99.0, 3 / 99.0, 4 / 99.0);           // first four numbers
}

TEST(ParseBox, DecimalsAreNormalizedCoordinates) {
  expect_box(parse_box("[0.12, 0.3, 0.5, 0.61]"), 0.12, 0.3, 0.5, 0.61);
  expect_box(parse_box("[0, 0.5, 1, .75]"), 0, 0.5, 1, 0.75);  // one decimal makes all four normalized
}

TEST(ParseBox, SwapsCornersGivenInTheWrongOrder) {
  expect_box(parse_box("50 60 10 20"), 10 / 99.0, 20 / 99.0, 50 / 99.0, 60 / 99.0);
}

TEST(ParseBox, RejectsTooFewNumbersAndOutOfRangeValues) {
  EXPECT_FALSE(parse_box("").has_value());
  EXPECT_FALSE(parse_box("a shirt").has_value());
  EXPECT_FALSE(parse_box("1 2 3").has_value());
  EXPECT_FALSE(parse_box("100 0 5 5").has_value());            // beyond the 0..99 grid
  EXPECT_FALSE(parse_box("[0.1, 0.2, 1.5, 0.3]").has_value());  // beyond [0, 1]
  EXPECT_FALSE(parse_box("-5 0 10 10").has_value());
  std::string huge(400, '9');  // too large for a double
  huge += " 1 2 3";
  EXPECT_FALSE(parse_box(huge).has_value());
}

TEST(BoxIou, HandComputedOverlap) {
  // (0,0)-(0.5,0.5) and (0.25,0.25)-(0.75,0.75): intersection 0.25^2 = 0.0625,
  // union 0.25 + 0.25 - 0.0625 = 0.4375, IoU = 1/7.
  EXPECT_NEAR(box_iou({0, 0, 0.5, 0.5}, {0.25, 0.25, 0.75, 0.75}), 1.0 / 7.0, 1e-12);
  EXPECT_DOUBLE_EQ(box_iou({0.1, 0.2, 0.3, 0.4}, {0.1, 0.2, 0.3, 0.4}), 1.0);
  EXPECT_EQ(box_iou({0, 0, 0.2, 0.2}, {0.5, 0.5, 0.9, 0.9}), 0.0);
  EXPECT_EQ(box_iou({0, 0, 0.5, 0.5}, {0.5, 0, 1, 0.5}), 0.0);  // touching edges
  EXPECT_EQ(box_iou({0.3, 0.3, 0.3, 0.3}, {0.3, 0.3, 0.3, 0.3}), 0.0);  // empty union
}

TEST(PredictionIou, UnparsableTextScoresZero) {
  EXPECT_EQ(prediction_iou("no idea", {0, 0, 1, 1}), 0.0);
  EXPECT_NEAR(prediction_iou("0 0 99 99", {0, 0, 1, 1}), 1.0, 1e-12);
}

}  // namespace
}  // namespace fedvlm::eval
