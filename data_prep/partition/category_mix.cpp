#include "partition/category_mix.hpp"

#include <algorithm>
#include <numeric>

#include "fedvlm/core/error.hpp"

namespace fedvlm::prep {

std::vector<std::int64_t> equal_sizes(std::int64_t total, std::int64_t num_clients) {
  FEDVLM_CHECK(num_clients > 0, "need at least one client, got {}", num_clients);
  std::vector<std::int64_t> sizes(static_cast<std::size_t>(num_clients), total / num_clients);
  for (std::int64_t c = 0; c < total % num_clients; ++c) ++sizes[static_cast<std::size_t>(c)];
  return sizes;
}

namespace {

// Draws a category from `prior` restricted to categories with samples left. When the client's
// prior has no mass on any remaining category, falls back to the remaining counts.
std::int64_t draw_category(std::span<const double> prior, std::span<const std::int64_t> remaining, Rng& rng) {
  double mass = 0.0;
  for (std::size_t k = 0; k < prior.size(); ++k) mass += remaining[k] > 0 ? prior[k] : 0.0;
  if (mass > 0.0) {
    double u = rng.uniform() * mass;
    std::int64_t last = -1;
    for (std::size_t k = 0; k < prior.size(); ++k) {
      if (remaining[k] <= 0 || prior[k] <= 0.0) continue;
      last = static_cast<std::int64_t>(k);
      if ((u -= prior[k]) < 0.0) return last;
    }
    return last;  // rounding left u a hair above zero
  }
  const std::int64_t left = std::accumulate(remaining.begin(), remaining.end(), std::int64_t{0});
  std::int64_t pick = static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(left)));
  for (std::size_t k = 0; k < remaining.size(); ++k) {
    if ((pick -= remaining[k]) < 0) return static_cast<std::int64_t>(k);
  }
  FEDVLM_CHECK(false, "no category left to draw from");
  return -1;
}

}  // namespace

std::vector<std::int64_t> assign_by_category_mix(std::span<const std::int64_t> categories,
                                                 std::int64_t num_categories, std::int64_t num_clients,
                                                 double alpha, Rng& rng) {
  FEDVLM_CHECK(alpha > 0.0, "Dirichlet concentration must be positive, got {}", alpha);
  if (categories.empty()) return {};
  const auto k_count = static_cast<std::size_t>(num_categories);
  std::vector<std::vector<std::int64_t>> pools(k_count);
  for (std::size_t i = 0; i < categories.size(); ++i) {
    FEDVLM_CHECK(categories[i] >= 0 && categories[i] < num_categories, "sample {} has category {} outside [0, {})",
                 i, categories[i], num_categories);
    pools[static_cast<std::size_t>(categories[i])].push_back(static_cast<std::int64_t>(i));
  }
  std::vector<std::int64_t> remaining(k_count);
  std::vector<double> present_alpha(k_count, 0.0);
  for (std::size_t k = 0; k < k_count; ++k) {
    rng.shuffle(pools[k]);
    remaining[k] = static_cast<std::int64_t>(pools[k].size());
  }

  // Priors over the categories present only: an absent class must not soak up a client's mass.
  std::vector<std::size_t> present;
  for (std::size_t k = 0; k < k_count; ++k)
    if (remaining[k] > 0) present.push_back(k);
  std::vector<std::vector<double>> priors(static_cast<std::size_t>(num_clients), std::vector<double>(k_count, 0.0));
  for (auto& prior : priors) {
    const auto draw = rng.dirichlet(alpha, present.size());
    for (std::size_t j = 0; j < present.size(); ++j) prior[present[j]] = draw[j];
  }

  auto room = equal_sizes(static_cast<std::int64_t>(categories.size()), num_clients);
  std::vector<std::int64_t> open;  // clients with room left
  for (std::int64_t c = 0; c < num_clients; ++c)
    if (room[static_cast<std::size_t>(c)] > 0) open.push_back(c);

  std::vector<std::int64_t> assignment(categories.size(), -1);
  while (!open.empty()) {
    const auto slot = static_cast<std::size_t>(rng.below(open.size()));
    const std::int64_t client = open[slot];
    const auto k = static_cast<std::size_t>(draw_category(priors[static_cast<std::size_t>(client)], remaining, rng));
    const std::int64_t sample = pools[k][static_cast<std::size_t>(--remaining[k])];
    assignment[static_cast<std::size_t>(sample)] = client;
    if (--room[static_cast<std::size_t>(client)] == 0) {
      open[slot] = open.back();
      open.pop_back();
    }
  }
  return assignment;
}

}  // namespace fedvlm::prep
