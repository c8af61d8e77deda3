#include "split_io.hpp"

#include <algorithm>
#include <array>
#include <string_view>

namespace fedvlm::data {
namespace names = split_names;
namespace {

constexpr std::int64_t kVectorChunk = 16384;          // elements per chunk of a 1-D array
constexpr std::int64_t kImageChunkBytes = 1 << 20;    // an image chunk stays within the default chunk cache
constexpr std::int64_t kMaxImagesPerChunk = 64;

std::string shape_text(const std::vector<std::int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

void expect_shape(hid_t dataset, const std::vector<std::int64_t>& expected) {
  auto actual = h5::dims(dataset);
  if (actual != expected)
    throw InputError(fmt::format("{}: shape {}, expected {}", h5::describe(dataset), shape_text(actual),
                                 shape_text(expected)));
}

void expect_rank1(hid_t dataset) {
  if (h5::dims(dataset).size() != 1)
    throw InputError(fmt::format("{}: shape {}, expected one dimension", h5::describe(dataset),
                                 shape_text(h5::dims(dataset))));
}

// Reads ptr[begin..end] and the token slice it spans; returns pointers rebased to 0.
void read_csr(hid_t tokens, hid_t pointers, std::int64_t begin, std::int64_t end, const Tokenizer& tokenizer,
              const char* name, std::vector<std::int32_t>& out, std::vector<std::int64_t>& out_ptr) {
  out_ptr = h5::read_rows<std::int64_t>(pointers, begin, end + 1);
  const std::int64_t first = out_ptr.front(), total = h5::rows(tokens);
  for (std::size_t i = 0; i < out_ptr.size(); ++i) {
    bool ok = out_ptr[i] >= first && out_ptr[i] <= total && (i == 0 || out_ptr[i] >= out_ptr[i - 1]);
    if (!ok)
      throw InputError(fmt::format("{}[{}] = {}: pointers must not decrease and stay within [0, {}]",
                                   h5::describe(pointers), begin + static_cast<std::int64_t>(i), out_ptr[i], total));
  }
  out = h5::read_rows<std::int32_t>(tokens, first, out_ptr.back());
  // An id the model cannot embed would otherwise stop training with a bare "index out of range".
  for (std::size_t j = 0; j < out.size(); ++j)
    if (auto problem = tokenizer.stored_id_problem(
            out[j], std::string_view(name) == "prompt" ? Tokenizer::Field::prompt : Tokenizer::Field::answer))
      throw InputError(fmt::format("{}: {}[{}] = {} {} (fedvlm-prep inspect lists every such problem)", h5::describe(tokens),
                                   name, first + static_cast<std::int64_t>(j), out[j], *problem));
  for (auto& p : out_ptr) p -= first;
}

}  // namespace

std::string shard_file_name(std::int64_t index) { return fmt::format("shard-{:05d}.h5", index); }

SplitAppender::SplitAppender(hid_t file, const std::string& group, ImageShape image_shape)
    : image_shape_(image_shape), group_(h5::create_group(file, group)) {
  const hid_t g = group_.get();
  const std::array<std::int64_t, 3> image_dims{image_shape.channels, image_shape.height, image_shape.width};
  const std::int64_t image_rows = std::clamp<std::int64_t>(kImageChunkBytes / std::max<std::int64_t>(image_shape.numel(), 1),
                                                           1, kMaxImagesPerChunk);
  const std::array<std::int64_t, 1> box_dims{4};
  images_ = h5::create_extendible<std::uint8_t>(g, names::kImages, image_dims, image_rows, kDeflateLevel);
  task_ = h5::create_extendible<std::uint8_t>(g, names::kTask, {}, kVectorChunk, kDeflateLevel);
  prompt_ = h5::create_extendible<std::int32_t>(g, names::kPrompt, {}, kVectorChunk, kDeflateLevel);
  prompt_ptr_ = h5::create_extendible<std::int64_t>(g, names::kPromptPtr, {}, kVectorChunk, kDeflateLevel);
  answer_ = h5::create_extendible<std::int32_t>(g, names::kAnswer, {}, kVectorChunk, kDeflateLevel);
  answer_ptr_ = h5::create_extendible<std::int64_t>(g, names::kAnswerPtr, {}, kVectorChunk, kDeflateLevel);
  label_ = h5::create_extendible<std::int32_t>(g, names::kLabel, {}, kVectorChunk, kDeflateLevel);
  box_ = h5::create_extendible<float>(g, names::kBox, box_dims, kVectorChunk / 4, kDeflateLevel);
  const std::array<std::int64_t, 1> zero{0};
  h5::append_rows<std::int64_t>(prompt_ptr_.get(), zero);
  h5::append_rows<std::int64_t>(answer_ptr_.get(), zero);
}

void SplitAppender::append(const Samples& samples) {
  samples.check(h5::describe(group_.get()));
  FEDVLM_CHECK(samples.image_shape == image_shape_ || samples.empty(),
               "{}: samples have images {}x{}x{}, the dataset {}x{}x{}", h5::describe(group_.get()),
               samples.image_shape.channels, samples.image_shape.height, samples.image_shape.width,
               image_shape_.channels, image_shape_.height, image_shape_.width);
  append_rows(samples, 0, samples.size());
}

void SplitAppender::append_rows(const Samples& samples, std::int64_t begin, std::int64_t end) {
  FEDVLM_CHECK(0 <= begin && begin <= end && end <= samples.size(), "{}: rows [{}, {}) of {} samples",
               h5::describe(group_.get()), begin, end, samples.size());
  if (begin == end) return;
  const auto first = static_cast<std::size_t>(begin), count = static_cast<std::size_t>(end - begin);
  const auto pixels = static_cast<std::size_t>(image_shape_.numel());
  const std::int64_t prompt_begin = samples.prompt_ptr[first], prompt_end = samples.prompt_ptr[first + count];
  const std::int64_t answer_begin = samples.answer_ptr[first], answer_end = samples.answer_ptr[first + count];
  std::vector<std::int64_t> prompt_ptr(samples.prompt_ptr.begin() + begin + 1, samples.prompt_ptr.begin() + end + 1);
  for (auto& p : prompt_ptr) p += prompt_tokens_ - prompt_begin;
  std::vector<std::int64_t> answer_ptr(samples.answer_ptr.begin() + begin + 1, samples.answer_ptr.begin() + end + 1);
  for (auto& p : answer_ptr) p += answer_tokens_ - answer_begin;
  const auto rows = [](const auto& values, std::size_t offset, std::size_t length) {
    return std::span(values).subspan(offset, length);
  };
  h5::append_rows<std::uint8_t>(images_.get(), rows(samples.images, first * pixels, count * pixels));
  h5::append_rows<std::uint8_t>(task_.get(), rows(samples.task, first, count));
  h5::append_rows<std::int32_t>(prompt_.get(), rows(samples.prompt, static_cast<std::size_t>(prompt_begin),
                                                    static_cast<std::size_t>(prompt_end - prompt_begin)));
  h5::append_rows<std::int64_t>(prompt_ptr_.get(), prompt_ptr);
  h5::append_rows<std::int32_t>(answer_.get(), rows(samples.answer, static_cast<std::size_t>(answer_begin),
                                                    static_cast<std::size_t>(answer_end - answer_begin)));
  h5::append_rows<std::int64_t>(answer_ptr_.get(), answer_ptr);
  h5::append_rows<std::int32_t>(label_.get(), rows(samples.label, first, count));
  h5::append_rows<float>(box_.get(), rows(samples.box, 4 * first, 4 * count));
  rows_ += end - begin;
  prompt_tokens_ += prompt_end - prompt_begin;
  answer_tokens_ += answer_end - answer_begin;
}

SplitRows::SplitRows(hid_t file, const std::string& group, ImageShape image_shape, const Tokenizer& tokenizer)
    : image_shape_(image_shape), tokenizer_(&tokenizer), group_(h5::open_group(file, group)) {
  const hid_t g = group_.get();
  images_ = h5::open_dataset(g, names::kImages);
  task_ = h5::open_dataset(g, names::kTask);
  prompt_ = h5::open_dataset(g, names::kPrompt);
  prompt_ptr_ = h5::open_dataset(g, names::kPromptPtr);
  answer_ = h5::open_dataset(g, names::kAnswer);
  answer_ptr_ = h5::open_dataset(g, names::kAnswerPtr);
  label_ = h5::open_dataset(g, names::kLabel);
  box_ = h5::open_dataset(g, names::kBox);
  h5::check_type<std::uint8_t>(images_.get());
  h5::check_type<std::uint8_t>(task_.get());
  h5::check_type<std::int32_t>(prompt_.get());
  h5::check_type<std::int64_t>(prompt_ptr_.get());
  h5::check_type<std::int32_t>(answer_.get());
  h5::check_type<std::int64_t>(answer_ptr_.get());
  h5::check_type<std::int32_t>(label_.get());
  h5::check_type<float>(box_.get());
  for (hid_t dataset : {images_.get(), task_.get(), prompt_.get(), prompt_ptr_.get(), answer_.get(), answer_ptr_.get(),
                        label_.get(), box_.get()})
    h5::check_stored_size(dataset);
  expect_rank1(task_.get());
  rows_ = h5::rows(task_.get());
  expect_shape(images_.get(), {rows_, image_shape.channels, image_shape.height, image_shape.width});
  expect_shape(prompt_ptr_.get(), {rows_ + 1});
  expect_shape(answer_ptr_.get(), {rows_ + 1});
  expect_shape(label_.get(), {rows_});
  expect_shape(box_.get(), {rows_, 4});
  expect_rank1(prompt_.get());
  expect_rank1(answer_.get());
}

Samples SplitRows::read(std::int64_t begin, std::int64_t end) const {
  if (begin < 0 || end < begin || end > rows_)
    throw InputError(fmt::format("{}: rows [{}, {}) out of range [0, {})", h5::describe(group_.get()), begin, end, rows_));
  Samples out;
  out.image_shape = image_shape_;
  out.images = h5::read_rows<std::uint8_t>(images_.get(), begin, end);
  out.task = h5::read_rows<std::uint8_t>(task_.get(), begin, end);
  read_csr(prompt_.get(), prompt_ptr_.get(), begin, end, *tokenizer_, names::kPrompt, out.prompt, out.prompt_ptr);
  read_csr(answer_.get(), answer_ptr_.get(), begin, end, *tokenizer_, names::kAnswer, out.answer, out.answer_ptr);
  out.label = h5::read_rows<std::int32_t>(label_.get(), begin, end);
  out.box = h5::read_rows<float>(box_.get(), begin, end);
  return out;
}

}  // namespace fedvlm::data
