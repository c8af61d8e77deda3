// What the vision phase of `fedvlm pretrain` trains on besides the pooled class: label-preserving
// augmentations that move an image's box with it, and per-patch targets (which class each patch
// shows, where the item's edges are) that make the encoder's patch features say where an item is.
//
// Images are collated pixels in [-1, 1] ([B, C, H, W]); boxes are normalized x0, y0, x1, y1
// ([B, 4], a row of NaN where an image has none), as in the dataset's `box`.
#pragma once

#include <cstdint>

#include <torch/torch.h>

namespace fedvlm::model {

// The collated value of a black pixel, and the brightness from which a pixel counts as part of an
// item: raw 32 of 255 and up, as Fashion's renderer measures items (the threshold sits midway
// between raw 31 and 32, so float rounding of the collated values cannot move it).
inline constexpr double kBlackPixel = -1.0;
inline constexpr double kItemPixel = 2.0 * 31.5 / 255.0 - 1.0;

struct AugmentedImages {
  torch::Tensor images;  // [B, C, H, W]
  torch::Tensor boxes;   // [B, 4]
};

// Mirrors image b left-right where flip[b] (bool [B]); its box follows.
AugmentedImages flip_left_right(AugmentedImages batch, const torch::Tensor& flip);

// Moves image b by offsets[b] = (dx, dy) whole pixels (int64 [B, 2], positive: right and down);
// pixels moved in from outside are black, pixels moved out are lost. Boxes move alike and are
// clipped to the image; one left with no area becomes NaN.
AugmentedImages shift_images(AugmentedImages batch, const torch::Tensor& offsets);

// The tight normalized box of each image's item pixels (>= kItemPixel in any channel); NaN for an
// image without any. On an image holding one item (a classification image) this is that item's box.
torch::Tensor item_boxes(const torch::Tensor& images);

// Per-patch targets for patches of `patch_size` in row-major order (patchify's order).
struct DenseTargets {
  // int64 [B, N]: labels[b] where the patch overlaps box b; num_classes (background) where the
  // patch has no item pixel; -100 (ignored) elsewhere: another, unnamed item, or no box.
  torch::Tensor patch_class;
  // float [B, N, 4]: distances from the patch centre to the box's left, top, right and bottom
  // edges, in patches; meaningful where box_patch.
  torch::Tensor box_distances;
  torch::Tensor box_patch;  // bool [B, N]: the patch centre lies inside box b
};
DenseTargets dense_targets(const torch::Tensor& images, const torch::Tensor& boxes, const torch::Tensor& labels,
                           std::int64_t patch_size, std::int64_t num_classes);

// Normalized boxes [.., 4] from predicted distances [.., 4] (as in DenseTargets, negative ones
// read as 0) of the patches with row-major indices `patch` [..] on a grid `columns` patches wide.
torch::Tensor boxes_from_distances(const torch::Tensor& distances, const torch::Tensor& patch, std::int64_t columns,
                                   std::int64_t rows);

// Intersection over union of normalized boxes [.., 4], elementwise.
torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b);

}  // namespace fedvlm::model
