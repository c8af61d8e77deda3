#include "fedvlm/data/samples.hpp"

#include "fedvlm/core/error.hpp"

namespace fedvlm::data {
namespace {

void check_pointers(std::string_view what, std::string_view name, const std::vector<std::int64_t>& ptr,
                    std::int64_t n, std::size_t tokens) {
  FEDVLM_CHECK(static_cast<std::int64_t>(ptr.size()) == n + 1, "{}: {} has {} entries for {} samples", what, name,
               ptr.size(), n);
  FEDVLM_CHECK(ptr.front() == 0, "{}: {}[0] = {}, must be 0", what, name, ptr.front());
  for (std::int64_t i = 0; i < n; ++i)
    FEDVLM_CHECK(ptr[i] <= ptr[i + 1], "{}: {} decreases at {}: {} > {}", what, name, i, ptr[i], ptr[i + 1]);
  FEDVLM_CHECK(ptr.back() == static_cast<std::int64_t>(tokens), "{}: {}[{}] = {}, the token array has {}", what,
               name, n, ptr.back(), tokens);
}

template <class T>
void append_tokens(std::vector<T>& tokens, std::vector<std::int64_t>& ptr, std::span<const T> more,
                   std::span<const std::int64_t> more_ptr) {
  std::int64_t base = ptr.back();
  tokens.insert(tokens.end(), more.begin(), more.end());
  for (std::size_t i = 1; i < more_ptr.size(); ++i) ptr.push_back(base + more_ptr[i]);
}

}  // namespace

void Samples::add(std::span<const std::uint8_t> image_pixels, std::uint8_t task_id,
                  std::span<const std::int32_t> prompt_ids, std::span<const std::int32_t> answer_ids,
                  std::int32_t label_id, std::array<float, 4> box_xyxy) {
  FEDVLM_CHECK(image_shape.numel() > 0, "Samples::add: image_shape {}x{}x{} is empty; set it first",
               image_shape.channels, image_shape.height, image_shape.width);
  FEDVLM_CHECK(static_cast<std::int64_t>(image_pixels.size()) == image_shape.numel(),
               "Samples::add: image has {} bytes, the shape {}x{}x{} needs {}", image_pixels.size(),
               image_shape.channels, image_shape.height, image_shape.width, image_shape.numel());
  images.insert(images.end(), image_pixels.begin(), image_pixels.end());
  task.push_back(task_id);
  prompt.insert(prompt.end(), prompt_ids.begin(), prompt_ids.end());
  prompt_ptr.push_back(static_cast<std::int64_t>(prompt.size()));
  answer.insert(answer.end(), answer_ids.begin(), answer_ids.end());
  answer_ptr.push_back(static_cast<std::int64_t>(answer.size()));
  label.push_back(label_id);
  box.insert(box.end(), box_xyxy.begin(), box_xyxy.end());
}

std::span<const std::uint8_t> Samples::image(std::int64_t i) const {
  FEDVLM_CHECK(i >= 0 && i < size(), "sample {} out of range [0, {})", i, size());
  return std::span(images).subspan(static_cast<std::size_t>(i * image_shape.numel()),
                                   static_cast<std::size_t>(image_shape.numel()));
}

std::span<const std::int32_t> Samples::prompt_of(std::int64_t i) const {
  FEDVLM_CHECK(i >= 0 && i < size(), "sample {} out of range [0, {})", i, size());
  return std::span(prompt).subspan(static_cast<std::size_t>(prompt_ptr[i]),
                                   static_cast<std::size_t>(prompt_ptr[i + 1] - prompt_ptr[i]));
}

std::span<const std::int32_t> Samples::answer_of(std::int64_t i) const {
  FEDVLM_CHECK(i >= 0 && i < size(), "sample {} out of range [0, {})", i, size());
  return std::span(answer).subspan(static_cast<std::size_t>(answer_ptr[i]),
                                   static_cast<std::size_t>(answer_ptr[i + 1] - answer_ptr[i]));
}

std::array<float, 4> Samples::box_of(std::int64_t i) const {
  FEDVLM_CHECK(i >= 0 && i < size(), "sample {} out of range [0, {})", i, size());
  return {box[4 * i], box[4 * i + 1], box[4 * i + 2], box[4 * i + 3]};
}

void Samples::check(std::string_view what) const {
  const std::int64_t n = size();
  FEDVLM_CHECK(static_cast<std::int64_t>(images.size()) == n * image_shape.numel(),
               "{}: {} image bytes for {} samples of {}x{}x{}", what, images.size(), n, image_shape.channels,
               image_shape.height, image_shape.width);
  FEDVLM_CHECK(static_cast<std::int64_t>(label.size()) == n, "{}: {} labels for {} samples", what, label.size(), n);
  FEDVLM_CHECK(static_cast<std::int64_t>(box.size()) == 4 * n, "{}: {} box values for {} samples (4 each)", what,
               box.size(), n);
  check_pointers(what, "prompt_ptr", prompt_ptr, n, prompt.size());
  check_pointers(what, "answer_ptr", answer_ptr, n, answer.size());
}

void Samples::append(const Samples& other) {
  if (other.empty()) return;
  if (empty() && images.empty()) image_shape = other.image_shape;  // appending to a default-constructed Samples
  FEDVLM_CHECK(image_shape == other.image_shape, "Samples::append: image shape {}x{}x{} differs from {}x{}x{}",
               other.image_shape.channels, other.image_shape.height, other.image_shape.width, image_shape.channels,
               image_shape.height, image_shape.width);
  other.check("Samples::append argument");
  images.insert(images.end(), other.images.begin(), other.images.end());
  task.insert(task.end(), other.task.begin(), other.task.end());
  append_tokens<std::int32_t>(prompt, prompt_ptr, other.prompt, other.prompt_ptr);
  append_tokens<std::int32_t>(answer, answer_ptr, other.answer, other.answer_ptr);
  label.insert(label.end(), other.label.begin(), other.label.end());
  box.insert(box.end(), other.box.begin(), other.box.end());
}

Samples Samples::select(std::span<const std::int64_t> indices) const {
  Samples out;
  out.image_shape = image_shape;
  for (std::int64_t i : indices) {
    FEDVLM_CHECK(i >= 0 && i < size(), "Samples::select: index {} out of range [0, {})", i, size());
    auto pixels = image(i);
    out.images.insert(out.images.end(), pixels.begin(), pixels.end());
    out.task.push_back(task[i]);
    auto p = prompt_of(i);
    out.prompt.insert(out.prompt.end(), p.begin(), p.end());
    out.prompt_ptr.push_back(static_cast<std::int64_t>(out.prompt.size()));
    auto a = answer_of(i);
    out.answer.insert(out.answer.end(), a.begin(), a.end());
    out.answer_ptr.push_back(static_cast<std::int64_t>(out.answer.size()));
    out.label.push_back(label[i]);
    auto b = box_of(i);
    out.box.insert(out.box.end(), b.begin(), b.end());
  }
  return out;
}

}  // namespace fedvlm::data
