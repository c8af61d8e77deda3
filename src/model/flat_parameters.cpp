#include "fedvlm/model/flat_parameters.hpp"

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/flat_view.hpp"

namespace fedvlm::model {

bool FlatParameters::bound_to(const std::vector<torch::Tensor>& parameters) const {
  if (!values_.defined() || parameters.size() != parameters_.size()) return false;
  const auto element = static_cast<std::int64_t>(values_.element_size());
  const auto* values = static_cast<const char*>(values_.data_ptr());
  const auto* grads = static_cast<const char*>(grads_.data_ptr());
  std::int64_t offset = 0;
  for (std::size_t i = 0; i < parameters.size(); ++i) {
    const auto& p = parameters[i];
    if (!p.is_same(parameters_[i]) || p.data_ptr() != values + offset * element) return false;
    const auto& grad = p.grad();
    if (!grad.defined() || grad.data_ptr() != grads + offset * element) return false;
    offset += p.numel();
  }
  return true;
}

bool FlatParameters::bind(const std::vector<torch::Tensor>& parameters) {
  if (bound_to(parameters)) return false;
  FEDVLM_CHECK(!parameters.empty(), "FlatParameters: no parameters to bind");
  for (const auto& p : parameters) {
    FEDVLM_CHECK(p.scalar_type() == parameters.front().scalar_type() && p.device() == parameters.front().device(),
                 "FlatParameters: parameters of one flat buffer must share dtype and device ({} {} vs {} {})",
                 c10::toString(p.scalar_type()), p.device().str(), c10::toString(parameters.front().scalar_type()),
                 parameters.front().device().str());
  }
  torch::NoGradGuard no_grad;
  values_ = flatten_values(parameters).set_requires_grad(true);
  grads_ = torch::zeros_like(values_);
  values_.mutable_grad() = grads_;
  std::int64_t offset = 0;
  for (const auto& p : parameters) {
    const auto n = p.numel();
    auto parameter = p;  // a handle on the same tensor: set_data changes the parameter itself
    parameter.set_data(values_.detach().narrow(0, offset, n).view(p.sizes()));
    parameter.mutable_grad() = grads_.narrow(0, offset, n).view(p.sizes());
    offset += n;
  }
  parameters_ = parameters;
  return true;
}

}  // namespace fedvlm::model
