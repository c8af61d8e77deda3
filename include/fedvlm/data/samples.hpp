// Samples: one split of a federated dataset in the columnar layout it has on disk
// (docs/data-format.md): images, task ids, CSR token arrays, labels and boxes.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fedvlm::data {

// Task categories of FedVLMBench; the stored `task` byte indexes meta.h5's `tasks` attribute,
// whose entries are these names.
inline constexpr std::array<std::string_view, 4> kTaskNames = {"cls", "cap", "vqa", "ground"};

struct ImageShape {
  std::int64_t channels = 1;
  std::int64_t height = 0;
  std::int64_t width = 0;
  std::int64_t numel() const { return channels * height * width; }
  bool operator==(const ImageShape&) const = default;
};

struct Samples {
  ImageShape image_shape;
  std::vector<std::uint8_t> images;       // [N, C, H, W]
  std::vector<std::uint8_t> task;         // [N]
  std::vector<std::int32_t> prompt;       // [P]
  std::vector<std::int64_t> prompt_ptr{0};  // [N + 1]
  std::vector<std::int32_t> answer;       // [A]
  std::vector<std::int64_t> answer_ptr{0};  // [N + 1]
  std::vector<std::int32_t> label;        // [N], -1 when none
  std::vector<float> box;                 // [N, 4], NaN when none

  std::int64_t size() const { return static_cast<std::int64_t>(task.size()); }
  bool empty() const { return task.empty(); }

  void add(std::span<const std::uint8_t> image, std::uint8_t task_id, std::span<const std::int32_t> prompt_ids,
           std::span<const std::int32_t> answer_ids, std::int32_t label_id, std::array<float, 4> box_xyxy);

  std::span<const std::uint8_t> image(std::int64_t i) const;
  std::span<const std::int32_t> prompt_of(std::int64_t i) const;
  std::span<const std::int32_t> answer_of(std::int64_t i) const;
  std::array<float, 4> box_of(std::int64_t i) const;

  // Throws fedvlm::Error unless every array has the size N implies, the pointers start at 0,
  // never decrease and end at the token counts. `what` names the samples in the message.
  void check(std::string_view what = "samples") const;

  void append(const Samples& other);                             // concatenation (same image shape)
  Samples select(std::span<const std::int64_t> indices) const;  // rows in the given order
};

}  // namespace fedvlm::data
