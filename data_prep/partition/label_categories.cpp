#include "partition/label_categories.hpp"

#include <algorithm>

#include "fedvlm/core/error.hpp"

namespace fedvlm::prep {

LabelCategories label_categories(std::span<const std::int32_t> labels, double alpha, std::string_view method) {
  if (!(alpha > 0.0)) throw InputError(fmt::format("--alpha must be positive for the {} partition, got {}", method, alpha));
  std::int32_t max_label = -1;
  for (const auto label : labels) max_label = std::max(max_label, label);
  if (max_label < 0)
    throw InputError(fmt::format("the {} partition skews labels, but no sample has a class label; use iid, quantity or task", method));
  LabelCategories categories;
  const std::int64_t unlabeled = max_label + 1;
  categories.count = unlabeled + 1;
  categories.of_sample.resize(labels.size());
  for (std::size_t i = 0; i < labels.size(); ++i) categories.of_sample[i] = labels[i] < 0 ? unlabeled : labels[i];
  return categories;
}

}  // namespace fedvlm::prep
