#include "fedvlm/model/flat_view.hpp"

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::model {

namespace {

std::string human(std::int64_t n) {
  if (n >= 1'000'000'000) return fmt::format("{:.2f}G", n / 1e9);
  if (n >= 1'000'000) return fmt::format("{:.2f}M", n / 1e6);
  if (n >= 1'000) return fmt::format("{:.1f}K", n / 1e3);
  return std::to_string(n);
}

std::int64_t count(const NamedParameters& group) {
  std::int64_t total = 0;
  for (const auto& item : group) total += item.second.numel();
  return total;
}

void check_size(const std::vector<torch::Tensor>& parameters, const torch::Tensor& flat) {
  const auto expected = flat_numel(parameters);
  FEDVLM_CHECK(flat.dim() == 1 && flat.numel() == expected,
               "flat vector has shape {} but the trainable set holds {} values", c10::str(flat.sizes()), expected);
}

}  // namespace

std::int64_t flat_numel(const std::vector<torch::Tensor>& parameters) {
  std::int64_t total = 0;
  for (const auto& p : parameters) total += p.numel();
  return total;
}

torch::Tensor flatten_values(const std::vector<torch::Tensor>& parameters) {
  if (parameters.empty()) return torch::empty({0});
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> pieces;
  pieces.reserve(parameters.size());
  for (const auto& p : parameters) pieces.push_back(p.detach().reshape({-1}));
  return torch::cat(pieces);
}

void assign_values(const std::vector<torch::Tensor>& parameters, const torch::Tensor& flat) {
  check_size(parameters, flat);
  torch::NoGradGuard no_grad;
  std::int64_t offset = 0;
  for (const auto& p : parameters) {
    p.copy_(flat.slice(0, offset, offset + p.numel()).view_as(p));
    offset += p.numel();
  }
}

torch::Tensor flatten_grads(const std::vector<torch::Tensor>& parameters) {
  if (parameters.empty()) return torch::empty({0});
  std::vector<torch::Tensor> pieces;
  pieces.reserve(parameters.size());
  for (const auto& p : parameters) {
    pieces.push_back(p.grad().defined() ? p.grad().detach().reshape({-1}) : torch::zeros({p.numel()}, p.options()));
  }
  return torch::cat(pieces);
}

void assign_grads(const std::vector<torch::Tensor>& parameters, const torch::Tensor& flat) {
  check_size(parameters, flat);
  std::int64_t offset = 0;
  for (auto p : parameters) {
    auto piece = flat.slice(0, offset, offset + p.numel()).view_as(p);
    if (p.grad().defined()) {
      p.mutable_grad().detach_().copy_(piece);
    } else {
      p.mutable_grad() = piece.detach().clone();
    }
    offset += p.numel();
  }
}

std::string describe_parameters(VisionLanguageModel& model, const TrainableSet& trainable) {
  const auto groups = model.parameter_groups();
  const auto vision = count(groups.vision), connector = count(groups.connector);
  const auto decoder = count(groups.decoder), lora = count(groups.lora);
  const auto total = vision + connector + decoder + lora;
  const auto communicated = trainable.numel();
  const auto bytes = communicated * 4;
  return fmt::format(
      "parameters: total {}, trainable {} ({:.2f}%), communicated per round {} ({} B fp32)\n"
      "  vision encoder {}, {} {}, decoder {}, LoRA {}",
      human(total), human(communicated), total > 0 ? 100.0 * communicated / total : 0.0, human(communicated),
      human(bytes), human(vision), model.encoder_free() ? "patch embedding" : "connector", human(connector),
      human(decoder), human(lora));
}

}  // namespace fedvlm::model
