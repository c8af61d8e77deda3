// Image files (JPEG, PNG, ... via stb_image) to the dataset's square C x H x W uint8 layout, the
// way LLaVA's image_aspect_ratio="pad" prepares them: pad to a square with the CLIP mean colour
// (122, 116, 104), the original centred, then resize (bilinear) to the target size.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <vector>

namespace fedvlm::prep {

inline constexpr std::array<std::uint8_t, 3> kPadColour = {122, 116, 104};  // round(255 * CLIP image_mean)

struct SquareImage {
  std::vector<std::uint8_t> pixels;  // channels x size x size
  int original_width = 0;
  int original_height = 0;
};

// InputError naming the path and stb's reason when the file is missing or undecodable.
SquareImage load_square_image(const std::filesystem::path& file, int size, int channels);

// A box normalized to the original image, re-expressed in the padded square's frame.
std::array<float, 4> box_in_padded_frame(const std::array<float, 4>& box, int width, int height);

}  // namespace fedvlm::prep
