#include <gtest/gtest.h>

#include <cmath>

#include "fedvlm/model/vision_encoder.hpp"
#include "fedvlm/model/vision_pretraining.hpp"
#include "model_test_support.hpp"

namespace fedvlm::model {
namespace {

using namespace testing;
using torch::indexing::Slice;

// A black 1 x size x size image with a white rectangle on pixels [x0, x1) x [y0, y1).
torch::Tensor image_with_item(std::int64_t size, std::int64_t x0, std::int64_t y0, std::int64_t x1, std::int64_t y1) {
  auto image = torch::full({1, 1, size, size}, kBlackPixel);
  image.index_put_({0, 0, Slice(y0, y1), Slice(x0, x1)}, 1.0);
  return image;
}

torch::Tensor box(double x0, double y0, double x1, double y1) { return torch::tensor({{x0, y0, x1, y1}}, torch::kFloat32); }

void expect_box(const torch::Tensor& actual, const torch::Tensor& expected) {
  EXPECT_TRUE(torch::allclose(actual, expected, 1e-6, 1e-6)) << actual << " vs " << expected;
}

TEST(VisionPretraining, FlipMirrorsTheImageAndItsBoxOnlyWhereAsked) {
  const auto image = image_with_item(16, 2, 3, 6, 9);
  const auto boxed = box(2 / 16.0, 3 / 16.0, 6 / 16.0, 9 / 16.0);
  const auto flipped = flip_left_right({torch::cat({image, image}), torch::cat({boxed, boxed})}, torch::tensor({true, false}));
  EXPECT_TRUE(torch::equal(flipped.images[0], image_with_item(16, 10, 3, 14, 9)[0]));
  EXPECT_TRUE(torch::equal(flipped.images[1], image[0]));
  expect_box(flipped.boxes.slice(0, 0, 1), box(10 / 16.0, 3 / 16.0, 14 / 16.0, 9 / 16.0));
  expect_box(flipped.boxes.slice(0, 1, 2), boxed);
  expect_box(flipped.boxes.slice(0, 0, 1), item_boxes(flipped.images.slice(0, 0, 1)));
}

TEST(VisionPretraining, ShiftMovesTheContentAndItsBoxAndFillsWithBlack) {
  const auto image = image_with_item(16, 4, 5, 8, 9);
  const auto shifted = shift_images({image, box(4 / 16.0, 5 / 16.0, 8 / 16.0, 9 / 16.0)}, torch::tensor({{3L, -2L}}));
  EXPECT_EQ(shifted.images.sizes(), image.sizes());
  EXPECT_TRUE(torch::equal(shifted.images, image_with_item(16, 7, 3, 11, 7)));
  expect_box(shifted.boxes, box(7 / 16.0, 3 / 16.0, 11 / 16.0, 7 / 16.0));
  expect_box(shifted.boxes, item_boxes(shifted.images));
}

TEST(VisionPretraining, ShiftKeepsEveryPixelThatStaysInsideAndClipsTheBox) {
  torch::manual_seed(5);
  const auto images = torch::rand({8, 1, 16, 16}) * 2 - 1;
  const auto offsets = torch::randint(-4, 5, {8, 2}, torch::kInt64);
  const auto boxes = torch::tensor({0.0, 0.0, 1.0, 1.0}).repeat({8, 1});
  const auto shifted = shift_images({images, boxes}, offsets);
  for (std::int64_t b = 0; b < 8; ++b) {
    const auto dx = offsets[b][0].item<std::int64_t>(), dy = offsets[b][1].item<std::int64_t>();
    // Pixels that stay on the image are the original ones, moved; the rest are black.
    const auto kept = images[b].index({Slice(), Slice(std::max<std::int64_t>(0, -dy), 16 - std::max<std::int64_t>(0, dy)),
                                       Slice(std::max<std::int64_t>(0, -dx), 16 - std::max<std::int64_t>(0, dx))});
    const auto moved = shifted.images[b].index({Slice(), Slice(std::max<std::int64_t>(0, dy), 16 + std::min<std::int64_t>(0, dy)),
                                                Slice(std::max<std::int64_t>(0, dx), 16 + std::min<std::int64_t>(0, dx))});
    EXPECT_TRUE(torch::equal(kept, moved)) << "offset " << dx << "," << dy;
    EXPECT_NEAR(shifted.images[b].sum().item<double>() - moved.sum().item<double>(),
                kBlackPixel * static_cast<double>(256 - moved.numel()), 1e-3);
    // The whole-image box keeps the part still on the image.
    expect_box(shifted.boxes[b].unsqueeze(0), box(std::max<std::int64_t>(0, dx) / 16.0, std::max<std::int64_t>(0, dy) / 16.0,
                                                  (16 + std::min<std::int64_t>(0, dx)) / 16.0,
                                                  (16 + std::min<std::int64_t>(0, dy)) / 16.0));
  }
  // An item moved off the image leaves no box.
  const auto gone = shift_images({image_with_item(16, 0, 0, 3, 3), box(0, 0, 3 / 16.0, 3 / 16.0)}, torch::tensor({{-4L, 0L}}));
  EXPECT_TRUE(gone.boxes.isnan().all().item<bool>());
  EXPECT_EQ(gone.images.max().item<double>(), kBlackPixel);
}

TEST(VisionPretraining, ItemBoxIsTheTightExtentOfItemPixelsAndNanOnABlackImage) {
  auto image = image_with_item(16, 3, 1, 12, 5);
  image.index_put_({0, 0, 10, 0}, kItemPixel - 0.01);  // a faint fringe pixel is not item
  expect_box(item_boxes(image), box(3 / 16.0, 1 / 16.0, 12 / 16.0, 5 / 16.0));
  EXPECT_TRUE(item_boxes(torch::full({1, 1, 16, 16}, kBlackPixel)).isnan().all().item<bool>());
  // Raw value 32 (the renderer's item threshold) counts, raw 31 does not.
  const auto raw = [](double value) { return torch::full({1, 1, 4, 4}, kBlackPixel).index_put_({0, 0, 1, 2}, (value / 255 - 0.5) / 0.5); };
  expect_box(item_boxes(raw(32)), box(0.5, 0.25, 0.75, 0.5));
  EXPECT_TRUE(item_boxes(raw(31)).isnan().all().item<bool>());
}

TEST(VisionPretraining, DenseTargetsNameBoxPatchesMarkEmptyOnesBackgroundAndIgnoreOtherItems) {
  // 16 x 16 with 8-pixel patches (row-major: 0 1 / 2 3). Image 0: the named item (class 3) on
  // x [2, 10), y [1, 6), another item in patch 3. Image 1: no box, an item in patch 1.
  auto first = image_with_item(16, 2, 1, 10, 6);
  first.index_put_({0, 0, Slice(12, 14), Slice(12, 14)}, 1.0);
  const auto second = image_with_item(16, 9, 2, 12, 5);
  const auto images = torch::cat({first, second});
  const auto boxes = torch::cat({box(2 / 16.0, 1 / 16.0, 10 / 16.0, 6 / 16.0), torch::full({1, 4}, std::nan(""))});
  const auto targets = dense_targets(images, boxes, torch::tensor({3L, 7L}), 8, 10);
  EXPECT_TRUE(torch::equal(targets.patch_class, torch::tensor({{3L, 3L, 10L, -100L}, {10L, -100L, 10L, 10L}})))
      << targets.patch_class;
  // Patch centres are at 4 and 12: only patch 0's lies in the box.
  EXPECT_TRUE(torch::equal(targets.box_patch, torch::tensor({{true, false, false, false}, {false, false, false, false}})));
  const auto distances = targets.box_distances[0][0];
  EXPECT_TRUE(torch::allclose(distances, torch::tensor({2 / 8.0, 3 / 8.0, 6 / 8.0, 2 / 8.0}, torch::kFloat32)));
  // Those distances give the box back.
  expect_box(boxes_from_distances(distances.unsqueeze(0), torch::tensor({0L}), 2, 2), boxes.slice(0, 0, 1));
}

TEST(VisionPretraining, ABoxWithoutAPatchCentreIsAnsweredByThePatchUnderItsCentre) {
  // x [9, 11), y [13, 16): no patch centre (4 or 12 on each axis) inside; its centre lies in patch 3.
  const auto targets = dense_targets(image_with_item(16, 9, 13, 11, 16), box(9 / 16.0, 13 / 16.0, 11 / 16.0, 1.0),
                                     torch::tensor({1L}), 8, 10);
  EXPECT_TRUE(torch::equal(targets.box_patch, torch::tensor({{false, false, false, true}})));
  EXPECT_TRUE(torch::equal(targets.patch_class, torch::tensor({{10L, 10L, 10L, 1L}})));
}

TEST(VisionPretraining, BoxIouIsOneForEqualZeroForDisjointAndExactInBetween) {
  const auto a = box(0.0, 0.0, 0.5, 0.5);
  EXPECT_NEAR(box_iou(a, a).item<double>(), 1.0, 1e-6);
  EXPECT_NEAR(box_iou(a, box(0.5, 0.5, 1.0, 1.0)).item<double>(), 0.0, 1e-6);
  EXPECT_NEAR(box_iou(a, box(0.25, 0.0, 0.75, 0.5)).item<double>(), 1.0 / 3.0, 1e-6);
}

TEST(VisionEncoderStem, ConvStemGivesOneTokenPerPatchAndReadsPatchesLikeImages) {
  auto config = tiny_model();  // 8 x 8 images, patch 4: 4 tokens of width 16
  config.vision_stem = "conv";
  VisionEncoder encoder(config, kShape);
  EXPECT_FALSE(encoder->patch_embedding);
  EXPECT_EQ(encoder->stem->size(), 3u);  // conv, GELU, conv: log2(4) stride-2 convolutions
  const auto images = torch::rand({3, 1, 8, 8});
  EXPECT_TRUE(torch::equal(unpatchify(patchify(images, 4), kShape, 4), images));
  const auto features = encoder->forward(images);
  EXPECT_EQ(features.sizes(), (std::vector<std::int64_t>{3, 4, 16}));
  EXPECT_TRUE(torch::allclose(encoder->forward_patches(patchify(images, 4)), features));
  // Token t sees its own patch: changing the last patch's pixels leaves the first token's input alone.
  auto changed = images.clone();
  changed.index_put_({Slice(), Slice(), Slice(5, 8), Slice(5, 8)}, 0.0);
  const auto stem_out = [&](const torch::Tensor& x) { return encoder->stem->forward(x).flatten(2).transpose(1, 2); };
  EXPECT_TRUE(torch::equal(stem_out(images).select(1, 0), stem_out(changed).select(1, 0)));
  EXPECT_FALSE(torch::equal(stem_out(images).select(1, 3), stem_out(changed).select(1, 3)));
}

}  // namespace
}  // namespace fedvlm::model
