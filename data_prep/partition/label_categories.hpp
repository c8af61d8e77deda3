// The label of every sample as a category for the label-skew partitioners (`dirichlet`,
// `dirichlet-mix`): class ids stay, samples without a label (-1) form one extra category so
// that they are still spread over the clients.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace fedvlm::prep {

struct LabelCategories {
  std::vector<std::int64_t> of_sample;  // in [0, count)
  std::int64_t count = 0;               // max label + 2 (the last one: unlabeled)
};

// Throws InputError naming `method` when alpha is not positive or no sample has a label.
LabelCategories label_categories(std::span<const std::int32_t> labels, double alpha, std::string_view method);

}  // namespace fedvlm::prep
