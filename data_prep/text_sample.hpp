// A sample before tokenization: what every builder produces and the federation writer consumes.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace fedvlm::prep {

inline constexpr std::array<float, 4> kNoBox = {std::numeric_limits<float>::quiet_NaN(),
                                                std::numeric_limits<float>::quiet_NaN(),
                                                std::numeric_limits<float>::quiet_NaN(),
                                                std::numeric_limits<float>::quiet_NaN()};

struct TextSample {
  std::vector<std::uint8_t> image;  // C x H x W, the dataset's one shape
  std::uint8_t task = 0;            // index into the federation's task list
  std::string prompt;
  std::string answer;
  std::int32_t label = -1;
  std::array<float, 4> box = kNoBox;  // normalized x0 y0 x1 y1, NaN when none
};

}  // namespace fedvlm::prep
