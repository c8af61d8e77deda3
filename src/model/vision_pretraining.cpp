#include "fedvlm/model/vision_pretraining.hpp"

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/vision_encoder.hpp"

namespace fedvlm::model {

namespace {

torch::Tensor nan_like(const torch::Tensor& boxes) { return torch::full_like(boxes, std::nan("")); }

// Rows whose box has no area become NaN.
torch::Tensor drop_empty_boxes(const torch::Tensor& boxes) {
  const auto empty = (boxes.select(1, 2) <= boxes.select(1, 0)) | (boxes.select(1, 3) <= boxes.select(1, 1));
  return torch::where(empty.unsqueeze(1), nan_like(boxes), boxes);
}

// First and one-past-last index of a true entry along dimension 1 of `present` [B, L] (0, 0 where none).
std::pair<torch::Tensor, torch::Tensor> extent(const torch::Tensor& present) {
  const auto length = present.size(1);
  const auto as_int = present.to(torch::kInt32);
  const auto first = as_int.argmax(1);                   // argmax returns the first maximum
  const auto last = length - as_int.flip({1}).argmax(1);  // one past the last true entry
  return {first, last};
}

}  // namespace

AugmentedImages flip_left_right(AugmentedImages batch, const torch::Tensor& flip) {
  const auto& b = batch.boxes;
  const auto mirrored = torch::stack({1 - b.select(1, 2), b.select(1, 1), 1 - b.select(1, 0), b.select(1, 3)}, 1);
  batch.images = torch::where(flip.view({-1, 1, 1, 1}), batch.images.flip({3}), batch.images);
  batch.boxes = torch::where(flip.view({-1, 1}), mirrored, b);
  return batch;
}

AugmentedImages shift_images(AugmentedImages batch, const torch::Tensor& offsets) {
  const auto height = batch.images.size(2), width = batch.images.size(3);
  const auto margin = offsets.numel() == 0 ? 0 : offsets.abs().max().item<std::int64_t>();
  if (margin == 0) return batch;
  const auto padded = torch::constant_pad_nd(batch.images, {margin, margin, margin, margin}, kBlackPixel);
  auto moved = torch::empty_like(batch.images);
  const auto offset = offsets.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < moved.size(0); ++b) {
    // moved[y][x] = image[y - dy][x - dx]: rows and columns start margin - d into the padded image.
    const auto top = margin - offset[b][1], left = margin - offset[b][0];
    moved[b].copy_(padded[b].slice(1, top, top + height).slice(2, left, left + width));
  }
  const auto step = torch::stack({offsets.select(1, 0).to(torch::kFloat32) / static_cast<double>(width),
                                  offsets.select(1, 1).to(torch::kFloat32) / static_cast<double>(height)}, 1)
                        .repeat({1, 2});
  batch.images = moved;
  batch.boxes = drop_empty_boxes((batch.boxes + step.to(batch.boxes.scalar_type())).clamp(0.0, 1.0));
  return batch;
}

torch::Tensor item_boxes(const torch::Tensor& images) {
  const auto height = images.size(2), width = images.size(3);
  const auto item = (images >= kItemPixel).any(1);  // [B, H, W]
  const auto [x0, x1] = extent(item.any(1));
  const auto [y0, y1] = extent(item.any(2));
  auto boxes = torch::stack({x0.to(torch::kFloat32) / static_cast<double>(width),
                             y0.to(torch::kFloat32) / static_cast<double>(height),
                             x1.to(torch::kFloat32) / static_cast<double>(width),
                             y1.to(torch::kFloat32) / static_cast<double>(height)}, 1);
  const auto none = item.flatten(1).any(1).logical_not();
  return torch::where(none.unsqueeze(1), nan_like(boxes), boxes);
}

DenseTargets dense_targets(const torch::Tensor& images, const torch::Tensor& boxes, const torch::Tensor& labels,
                           std::int64_t patch_size, std::int64_t num_classes) {
  const auto batch = images.size(0), height = images.size(2), width = images.size(3);
  const auto rows = height / patch_size, columns = width / patch_size;
  const auto p = static_cast<double>(patch_size);
  // Box edges in pixels; NaN compares false, so an image without a box overlaps nothing.
  const auto pixels = boxes.to(torch::kFloat32) *
                      torch::tensor({static_cast<float>(width), static_cast<float>(height), static_cast<float>(width),
                                     static_cast<float>(height)});
  const auto x0 = pixels.select(1, 0).unsqueeze(1), y0 = pixels.select(1, 1).unsqueeze(1);
  const auto x1 = pixels.select(1, 2).unsqueeze(1), y1 = pixels.select(1, 3).unsqueeze(1);
  const auto column_start = torch::arange(columns, torch::kFloat32).unsqueeze(0) * p;  // [1, Q]
  const auto row_start = torch::arange(rows, torch::kFloat32).unsqueeze(0) * p;        // [1, R]
  const auto overlap = ((y0 < row_start + p) & (y1 > row_start)).unsqueeze(2) &
                       ((x0 < column_start + p) & (x1 > column_start)).unsqueeze(1);  // [B, R, Q]
  const auto column_centre = column_start + p / 2, row_centre = row_start + p / 2;
  auto inside = ((y0 <= row_centre) & (row_centre < y1)).unsqueeze(2) &
                ((x0 <= column_centre) & (column_centre < x1)).unsqueeze(1);  // [B, R, Q]
  // A box narrower than a patch may hold no patch centre: the patch under its centre answers for it.
  const auto has_box = pixels.isnan().any(1).logical_not();
  const auto centre_column = ((x0 + x1) / 2 / p).floor().clamp(0, columns - 1).nan_to_num(0).to(torch::kInt64);
  const auto centre_row = ((y0 + y1) / 2 / p).floor().clamp(0, rows - 1).nan_to_num(0).to(torch::kInt64);
  const auto centre_patch = torch::one_hot((centre_row * columns + centre_column).squeeze(1), rows * columns)
                                .to(torch::kBool).view({batch, rows, columns});
  inside = inside | (centre_patch & has_box.view({batch, 1, 1}));

  DenseTargets targets;
  const auto empty = std::get<0>(patchify(images, patch_size).max(2)) < kItemPixel;  // [B, N]
  targets.patch_class = torch::full({batch, rows * columns}, -100, torch::kInt64);
  targets.patch_class.masked_fill_(empty, num_classes);
  const auto named = overlap.view({batch, rows * columns}) & (labels.view({batch, 1}) >= 0);
  targets.patch_class = torch::where(named, labels.to(torch::kInt64).view({batch, 1}).expand({batch, rows * columns}),
                                     targets.patch_class);
  const auto left = (column_centre - x0).unsqueeze(1).expand({batch, rows, columns});
  const auto right = (x1 - column_centre).unsqueeze(1).expand({batch, rows, columns});
  const auto top = (row_centre - y0).unsqueeze(2).expand({batch, rows, columns});
  const auto bottom = (y1 - row_centre).unsqueeze(2).expand({batch, rows, columns});
  targets.box_distances = (torch::stack({left, top, right, bottom}, 3) / p).nan_to_num(0).view({batch, rows * columns, 4});
  targets.box_patch = inside.view({batch, rows * columns});
  return targets;
}

torch::Tensor boxes_from_distances(const torch::Tensor& distances, const torch::Tensor& patch, std::int64_t columns,
                                   std::int64_t rows) {
  const auto width = static_cast<double>(columns), height = static_cast<double>(rows);
  const auto cx = ((patch % columns).to(torch::kFloat32) + 0.5) / width;
  const auto cy = (torch::div(patch, columns, "floor").to(torch::kFloat32) + 0.5) / height;
  const auto d = distances.to(torch::kFloat32).clamp_min(0.0);
  return torch::stack({cx - d.select(-1, 0) / width, cy - d.select(-1, 1) / height, cx + d.select(-1, 2) / width,
                       cy + d.select(-1, 3) / height},
                      -1);
}

torch::Tensor box_iou(const torch::Tensor& a, const torch::Tensor& b) {
  const auto overlap = [&](std::int64_t low, std::int64_t high) {
    return (torch::minimum(a.select(-1, high), b.select(-1, high)) - torch::maximum(a.select(-1, low), b.select(-1, low)))
        .clamp_min(0);
  };
  const auto area = [](const torch::Tensor& box) {
    return (box.select(-1, 2) - box.select(-1, 0)).clamp_min(0) * (box.select(-1, 3) - box.select(-1, 1)).clamp_min(0);
  };
  const auto intersection = overlap(0, 2) * overlap(1, 3);
  return intersection / (area(a) + area(b) - intersection).clamp_min(1e-12);
}

}  // namespace fedvlm::model
