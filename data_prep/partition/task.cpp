// task: task skew for multi-task federations. With task_alpha <= 0 every client holds exactly one
// task: the clients are shared among the tasks present in proportion to their sample counts (at
// least one each) and each task's samples are dealt evenly over its clients. With task_alpha > 0
// each client's task mix is drawn from Dir(task_alpha), client sizes equal.
#include "partition/methods.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fedvlm/core/error.hpp"
#include "partition/category_mix.hpp"

namespace fedvlm::prep {
namespace {

class TaskPartitioner final : public Partitioner {
 public:
  std::string_view name() const override { return "task"; }

  std::vector<std::int64_t> assign(const PartitionInput& input, const PartitionParams& params,
                                   Rng& rng) const override {
    std::vector<std::int64_t> tasks(input.tasks.begin(), input.tasks.end());
    const std::int64_t num_tasks = tasks.empty() ? 1 : *std::max_element(tasks.begin(), tasks.end()) + 1;
    if (params.task_alpha > 0.0) return assign_by_category_mix(tasks, num_tasks, input.num_clients, params.task_alpha, rng);
    return one_task_per_client(tasks, num_tasks, input.num_clients, rng);
  }

  // One task per client is structural: moving samples would break it, so --min-samples fails clearly.
  MinSamplesRepair repair() const override { return MinSamplesRepair::kNone; }

 private:
  static std::vector<std::int64_t> one_task_per_client(const std::vector<std::int64_t>& tasks, std::int64_t num_tasks,
                                                       std::int64_t num_clients, Rng& rng) {
    std::vector<std::vector<std::int64_t>> members(static_cast<std::size_t>(num_tasks));
    for (std::size_t i = 0; i < tasks.size(); ++i) members[static_cast<std::size_t>(tasks[i])].push_back(static_cast<std::int64_t>(i));
    std::vector<std::size_t> present;
    for (std::size_t t = 0; t < members.size(); ++t)
      if (!members[t].empty()) present.push_back(t);
    if (num_clients < static_cast<std::int64_t>(present.size()))
      throw InputError(fmt::format("the task partition gives each client one task, but {} tasks are present "
                                   "and only {} clients were asked for; use --clients >= {} or --task-alpha > 0",
                                   present.size(), num_clients, present.size()));

    // Clients per task: one each, the rest by largest remainder of the task's sample share.
    std::vector<std::int64_t> clients_of(present.size(), 1);
    const std::int64_t spare = num_clients - static_cast<std::int64_t>(present.size());
    const auto total = static_cast<double>(tasks.size());
    std::vector<std::pair<double, std::size_t>> remainders;
    std::int64_t given = 0;
    for (std::size_t j = 0; j < present.size(); ++j) {
      const double exact = static_cast<double>(spare) * static_cast<double>(members[present[j]].size()) / total;
      const auto whole = static_cast<std::int64_t>(std::floor(exact));
      clients_of[j] += whole;
      given += whole;
      remainders.emplace_back(exact - static_cast<double>(whole), j);
    }
    std::sort(remainders.begin(), remainders.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    for (std::int64_t r = 0; r < spare - given; ++r) ++clients_of[remainders[static_cast<std::size_t>(r)].second];

    std::vector<std::int64_t> assignment(tasks.size(), -1);
    std::int64_t first_client = 0;
    for (std::size_t j = 0; j < present.size(); ++j) {
      auto& samples = members[present[j]];
      rng.shuffle(samples);
      for (std::size_t k = 0; k < samples.size(); ++k)
        assignment[static_cast<std::size_t>(samples[k])] = first_client + static_cast<std::int64_t>(k) % clients_of[j];
      first_client += clients_of[j];
    }
    return assignment;
  }
};

}  // namespace

std::unique_ptr<Partitioner> make_task_partitioner() { return std::make_unique<TaskPartitioner>(); }

}  // namespace fedvlm::prep
