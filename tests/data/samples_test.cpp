#include "data_test_support.hpp"
#include "fedvlm/core/error.hpp"

namespace fedvlm::data {
namespace {
using namespace testing;

TEST(Samples, AddStoresRowsAndViewsReturnThem) {
  Samples s;
  s.image_shape = {1, 2, 2};
  std::vector<std::uint8_t> a{1, 2, 3, 4}, b{5, 6, 7, 8};
  std::vector<std::int32_t> p1{10, 11}, a1{12}, a2{13, 14, 15};
  s.add(a, 0, p1, a1, 2, {0.1f, 0.2f, 0.3f, 0.4f});
  s.add(b, 1, {}, a2, -1, {kNaN, kNaN, kNaN, kNaN});
  ASSERT_EQ(s.size(), 2);
  EXPECT_EQ(std::vector<std::uint8_t>(s.image(1).begin(), s.image(1).end()), b);
  EXPECT_EQ(std::vector<std::int32_t>(s.prompt_of(0).begin(), s.prompt_of(0).end()), p1);
  EXPECT_TRUE(s.prompt_of(1).empty());
  EXPECT_EQ(std::vector<std::int32_t>(s.answer_of(1).begin(), s.answer_of(1).end()), a2);
  EXPECT_EQ(s.prompt_ptr, (std::vector<std::int64_t>{0, 2, 2}));
  EXPECT_EQ(s.box_of(0)[2], 0.3f);
  EXPECT_TRUE(std::isnan(s.box_of(1)[0]));
  EXPECT_EQ(s.label[1], -1);
  EXPECT_NO_THROW(s.check());
  EXPECT_THROW(s.image(2), Error);
}

TEST(Samples, AddRejectsAnImageOfTheWrongSize) {
  Samples s;
  s.image_shape = {1, 2, 2};
  std::vector<std::uint8_t> three{1, 2, 3};
  EXPECT_THROW(s.add(three, 0, {}, {}, 0, {}), Error);
  EXPECT_TRUE(s.empty());
}

TEST(Samples, AppendConcatenatesAndRebasesPointers) {
  Samples a = make_samples(3, 1), b = make_samples(4, 2);
  Samples joined = a;
  joined.append(b);
  ASSERT_EQ(joined.size(), 7);
  joined.check();
  for (std::int64_t i = 0; i < 4; ++i) {
    auto expected = b.prompt_of(i), actual = joined.prompt_of(3 + i);
    EXPECT_EQ(std::vector<std::int32_t>(actual.begin(), actual.end()), std::vector<std::int32_t>(expected.begin(), expected.end()));
    auto expected_answer = b.answer_of(i), actual_answer = joined.answer_of(3 + i);
    EXPECT_EQ(std::vector<std::int32_t>(actual_answer.begin(), actual_answer.end()),
              std::vector<std::int32_t>(expected_answer.begin(), expected_answer.end()));
  }
  Samples other_shape = make_samples(1, 3, {3, 2, 2});
  EXPECT_THROW(joined.append(other_shape), Error);
  Samples empty_start;
  empty_start.append(b);
  expect_same_samples(empty_start, b);
}

TEST(Samples, SelectTakesRowsInTheGivenOrder) {
  Samples s = make_samples(6, 4);
  std::vector<std::int64_t> rows{5, 0, 5};
  Samples picked = s.select(rows);
  ASSERT_EQ(picked.size(), 3);
  picked.check();
  Samples expected = s.select(std::vector<std::int64_t>{5});
  expected.append(s.select(std::vector<std::int64_t>{0}));
  expected.append(s.select(std::vector<std::int64_t>{5}));
  expect_same_samples(picked, expected);
  EXPECT_EQ(picked.label[1], s.label[0]);
  std::vector<std::int64_t> out_of_range{6};
  EXPECT_THROW(s.select(out_of_range), Error);
}

TEST(Samples, CheckDetectsDecreasingPointersBoxSizeAndLengthMismatch) {
  Samples s = make_samples(4, 1);
  s.check();
  Samples decreasing = s;
  decreasing.answer_ptr[2] = decreasing.answer_ptr[1] - 1;
  EXPECT_THROW(decreasing.check(), Error);
  Samples short_box = s;
  short_box.box.pop_back();
  EXPECT_THROW(short_box.check(), Error);
  Samples wrong_end = s;
  wrong_end.prompt.push_back(1);
  EXPECT_THROW(wrong_end.check(), Error);
  Samples missing_label = s;
  missing_label.label.pop_back();
  EXPECT_THROW(missing_label.check(), Error);
  EXPECT_THROW(Samples(s).append(decreasing), Error);
}

}  // namespace
}  // namespace fedvlm::data
