#include "fedvlm/model/batch.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "fedvlm/core/error.hpp"

namespace fedvlm::model {

namespace {

void check_rows(const data::Samples& samples, std::span<const std::int64_t> rows) {
  if (rows.empty()) throw InputError("cannot make a batch of zero samples");
  const auto n = samples.size();
  for (const auto row : rows) {
    if (row < 0 || row >= n) throw InputError(fmt::format("sample row {} is out of range [0, {})", row, n));
  }
}

std::span<const std::int32_t> prompt_ids(const data::Samples& s, std::int64_t i) {
  return {s.prompt.data() + s.prompt_ptr[i], static_cast<std::size_t>(s.prompt_ptr[i + 1] - s.prompt_ptr[i])};
}

std::span<const std::int32_t> answer_ids(const data::Samples& s, std::int64_t i) {
  return {s.answer.data() + s.answer_ptr[i], static_cast<std::size_t>(s.answer_ptr[i + 1] - s.answer_ptr[i])};
}

}  // namespace

Batch Batch::to(const torch::Device& device) const {
  Batch out = *this;
  auto move = [&](const torch::Tensor& t) { return t.defined() ? t.to(device, /*non_blocking=*/true) : t; };
  out.images = move(images);
  out.tokens = move(tokens);
  out.labels = move(labels);
  out.attention_mask = move(attention_mask);
  return out;
}

torch::Tensor collate_images(const data::Samples& samples, std::span<const std::int64_t> rows) {
  check_rows(samples, rows);
  const auto& shape = samples.image_shape;
  const auto pixels = shape.numel();
  auto raw = torch::empty({static_cast<std::int64_t>(rows.size()), shape.channels, shape.height, shape.width},
                          torch::kUInt8);
  auto* out = raw.data_ptr<std::uint8_t>();
  for (std::size_t b = 0; b < rows.size(); ++b) {
    std::memcpy(out + b * pixels, samples.images.data() + rows[b] * pixels, pixels);
  }
  return raw.to(torch::kFloat32).div_(255.0).sub_(0.5).div_(0.5);
}

Batch collate_training(const data::Samples& samples, std::span<const std::int64_t> rows, const SpecialTokens& special) {
  check_rows(samples, rows);
  const auto batch = static_cast<std::int64_t>(rows.size());
  std::int64_t length = 0;
  for (const auto row : rows) {
    length = std::max<std::int64_t>(length, 2 + prompt_ids(samples, row).size() + answer_ids(samples, row).size());
  }
  Batch out;
  out.images = collate_images(samples, rows);
  out.tokens = torch::full({batch, length}, special.pad, torch::kInt64);
  out.labels = torch::full({batch, length}, kIgnoreIndex, torch::kInt64);
  out.attention_mask = torch::zeros({batch, length}, torch::kBool);
  auto tokens = out.tokens.accessor<std::int64_t, 2>();
  auto labels = out.labels.accessor<std::int64_t, 2>();
  auto mask = out.attention_mask.accessor<bool, 2>();
  for (std::int64_t b = 0; b < batch; ++b) {
    std::int64_t t = 0;
    auto put = [&](std::int32_t id, bool supervised) {
      tokens[b][t] = id;
      labels[b][t] = supervised ? id : kIgnoreIndex;
      mask[b][t] = true;
      ++t;
    };
    put(special.bos, false);
    for (const auto id : prompt_ids(samples, rows[b])) put(id, false);
    for (const auto id : answer_ids(samples, rows[b])) put(id, true);
    put(special.eos, true);
  }
  return out;
}

Batch concat_training(std::span<const Batch> batches, const SpecialTokens& special) {
  FEDVLM_CHECK(!batches.empty(), "concat_training needs at least one batch");
  std::int64_t length = 0;
  for (const auto& batch : batches) {
    FEDVLM_CHECK(batch.labels.defined() && !batch.left_padded, "concat_training takes training batches");
    length = std::max(length, batch.length());
  }
  std::vector<torch::Tensor> images, tokens, labels, masks;
  auto pad = [&](const torch::Tensor& t, double value) {
    return t.size(1) == length ? t : torch::constant_pad_nd(t, {0, length - t.size(1)}, value);
  };
  for (const auto& batch : batches) {
    images.push_back(batch.images);
    tokens.push_back(pad(batch.tokens, special.pad));
    labels.push_back(pad(batch.labels, static_cast<double>(kIgnoreIndex)));
    masks.push_back(pad(batch.attention_mask, 0.0));
  }
  Batch out;
  out.images = torch::cat(images, 0);
  out.tokens = torch::cat(tokens, 0);
  out.labels = torch::cat(labels, 0);
  out.attention_mask = torch::cat(masks, 0);
  return out;
}

Batch collate_prompts(const data::Samples& samples, std::span<const std::int64_t> rows, const SpecialTokens& special) {
  check_rows(samples, rows);
  const auto batch = static_cast<std::int64_t>(rows.size());
  std::int64_t length = 0;
  for (const auto row : rows) length = std::max<std::int64_t>(length, 1 + prompt_ids(samples, row).size());
  Batch out;
  out.left_padded = true;
  out.images = collate_images(samples, rows);
  out.tokens = torch::full({batch, length}, special.pad, torch::kInt64);
  out.attention_mask = torch::zeros({batch, length}, torch::kBool);
  auto tokens = out.tokens.accessor<std::int64_t, 2>();
  auto mask = out.attention_mask.accessor<bool, 2>();
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto prompt = prompt_ids(samples, rows[b]);
    std::int64_t t = length - 1 - static_cast<std::int64_t>(prompt.size());
    tokens[b][t] = special.bos;
    mask[b][t] = true;
    for (const auto id : prompt) {
      ++t;
      tokens[b][t] = id;
      mask[b][t] = true;
    }
  }
  return out;
}

}  // namespace fedvlm::model
