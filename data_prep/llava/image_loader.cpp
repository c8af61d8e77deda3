// The one translation unit of fedvlm_prep that instantiates stb_image; STB_IMAGE_STATIC keeps its
// symbols private, so another library instantiating it too cannot clash at link time.
#define STB_IMAGE_STATIC
#define STB_IMAGE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb_image.h>
#pragma GCC diagnostic pop

#include "llava/image_loader.hpp"

#include <algorithm>
#include <cmath>
#include <memory>

#include "fedvlm/core/error.hpp"

namespace fedvlm::prep {
namespace {

// stb_image's own RGB -> grey weights, so a padded grey image matches a grey-decoded one.
std::uint8_t grey(const std::array<std::uint8_t, 3>& rgb) {
  return static_cast<std::uint8_t>((rgb[0] * 77 + rgb[1] * 150 + rgb[2] * 29) >> 8);
}

}  // namespace

SquareImage load_square_image(const std::filesystem::path& file, int size, int channels) {
  if (channels != 1 && channels != 3) throw InputError(fmt::format("--channels must be 1 or 3, got {}", channels));
  if (!std::filesystem::exists(file)) throw InputError(fmt::format("image {} does not exist", file.string()));
  int width = 0, height = 0, found_channels = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> decoded(stbi_load(file.c_str(), &width, &height, &found_channels, channels),
                                                     stbi_image_free);
  if (!decoded) throw InputError(fmt::format("cannot decode image {}: {}", file.string(), stbi_failure_reason()));

  // Pad to a square: LLaVA's expand2square pastes the original centred on the mean colour.
  const int side = std::max(width, height);
  const int offset_x = (side - width) / 2;
  const int offset_y = (side - height) / 2;
  std::vector<std::uint8_t> square(static_cast<std::size_t>(side) * side * channels);
  for (std::size_t p = 0; p < square.size(); ++p)
    square[p] = channels == 1 ? grey(kPadColour) : kPadColour[p % 3];
  for (int y = 0; y < height; ++y)
    std::copy_n(decoded.get() + static_cast<std::size_t>(y) * width * channels, static_cast<std::size_t>(width) * channels,
                square.data() + (static_cast<std::size_t>(y + offset_y) * side + offset_x) * channels);

  // Bilinear resize at pixel centres, HWC -> CHW.
  SquareImage image{std::vector<std::uint8_t>(static_cast<std::size_t>(channels) * size * size), width, height};
  const double step = static_cast<double>(side) / size;
  for (int y = 0; y < size; ++y) {
    const double sy = std::clamp((y + 0.5) * step - 0.5, 0.0, side - 1.0);
    const int y0 = static_cast<int>(sy), y1 = std::min(y0 + 1, side - 1);
    const double fy = sy - y0;
    for (int x = 0; x < size; ++x) {
      const double sx = std::clamp((x + 0.5) * step - 0.5, 0.0, side - 1.0);
      const int x0 = static_cast<int>(sx), x1 = std::min(x0 + 1, side - 1);
      const double fx = sx - x0;
      for (int c = 0; c < channels; ++c) {
        auto at = [&](int r, int q) { return static_cast<double>(square[(static_cast<std::size_t>(r) * side + q) * channels + c]); };
        const double value = (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
        image.pixels[(static_cast<std::size_t>(c) * size + y) * size + x] =
            static_cast<std::uint8_t>(std::clamp(std::lround(value), 0L, 255L));
      }
    }
  }
  return image;
}

std::array<float, 4> box_in_padded_frame(const std::array<float, 4>& box, int width, int height) {
  const float side = static_cast<float>(std::max(width, height));
  const float offset_x = static_cast<float>((std::max(width, height) - width) / 2);
  const float offset_y = static_cast<float>((std::max(width, height) - height) / 2);
  return {(box[0] * width + offset_x) / side, (box[1] * height + offset_y) / side, (box[2] * width + offset_x) / side,
          (box[3] * height + offset_y) / side};
}

}  // namespace fedvlm::prep
