// `fedvlm bench`: throughput numbers to size runs by (medians over repeats; never asserted).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <numeric>

#include <fmt/format.h>

#include "fedvlm/app/commands.hpp"
#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/data/read_benchmark.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "fedvlm/sim/local_trainer.hpp"
#include "fedvlm/sim/setup.hpp"

namespace fedvlm::app {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

// Local-training throughput per strategy on client 0's data, and the share of a step spent in
// the frozen vision encoder's forward pass.
void bench_train(const Config& base_config, int repeats) {
  Config config = base_config;
  const std::vector<std::string> strategies = config.model.kind == "encoder-free"
                                                  ? std::vector<std::string>{"F-L", "full"}
                                                  : std::vector<std::string>{"F-C", "F-L", "F-CL", "full"};
  sim::Workbench bench = sim::open_workbench(config);
  sim::ClientData data(bench.dataset);
  const sim::ClientData::Samples held = data.samples(0);
  const data::Samples& samples = *held;
  const std::int64_t steps = 8;
  config.local.steps = steps;
  std::cout << fmt::format("train: client 0 ({} samples), batch {}, {} steps per repeat, {} torch threads\n",
                           samples.size(), config.local.batch_size, steps, torch::get_num_threads());
  std::cout << fmt::format("{:<9} {:>12} {:>14} {:>16}\n", "strategy", "trainable", "samples/s", "frozen-encoder %");
  for (const auto& strategy : strategies) {
    config.finetune.strategy = strategy;
    auto trainable = model::apply_strategy(*bench.model, config.finetune, 1'000'000);
    const torch::Tensor x = model::flatten_values(trainable.parameters);
    sim::LocalTrainer trainer(*bench.model, config, bench.special, bench.device);
    std::vector<double> rates;
    for (int r = 0; r < repeats + 1; ++r) {  // the first repeat warms up
      const auto start = Clock::now();
      trainer.train(trainable, samples, 0, r, x, config.local.lr, nullptr);
      if (r > 0) rates.push_back(static_cast<double>(steps * config.local.batch_size) / seconds_since(start));
    }
    double encoder_share = 0.0;
    if (config.model.kind != "encoder-free") {
      std::vector<std::int64_t> rows(static_cast<std::size_t>(std::min(config.local.batch_size, samples.size())));
      std::iota(rows.begin(), rows.end(), 0);
      const auto images = model::collate_images(samples, rows).to(bench.device);
      torch::NoGradGuard no_grad;
      std::vector<double> times;
      for (int r = 0; r < repeats; ++r) {
        const auto start = Clock::now();
        bench.model->embed_images(images);
        times.push_back(seconds_since(start));
      }
      const double step_seconds = static_cast<double>(config.local.batch_size) / median(rates);
      encoder_share = 100.0 * median(times) / step_seconds;
    }
    std::cout << fmt::format("{:<9} {:>12} {:>14.1f} {:>15.1f}%\n", strategy, x.numel(), median(rates), encoder_share);
  }
}

// Allreduce bandwidth over this job's ranks for flat float32 buffers of growing size.
void bench_comm(comm::Communicator& comm, int repeats) {
  if (comm.is_root())
    std::cout << fmt::format("comm: allreduce (sum, float32) over {} rank(s), backend {}\n{:>12} {:>12} {:>12}\n",
                             comm.size(), comm.backend(), "floats", "median ms", "algbw GB/s");
  for (std::int64_t n = 1024; n <= (std::int64_t{1} << 24); n *= 8) {
    torch::Tensor buffer = torch::ones({n});
    std::vector<double> times;
    for (int r = 0; r < repeats + 1; ++r) {
      comm.barrier();
      const auto start = Clock::now();
      comm::allreduce(comm, buffer);
      if (r > 0) times.push_back(seconds_since(start));
    }
    const double t = median(times);
    if (comm.is_root())
      std::cout << fmt::format("{:>12} {:>12.3f} {:>12.2f}\n", n, t * 1e3, static_cast<double>(n) * 4 / t / 1e9);
  }
}

void bench_data(const Config& config, int repeats) {
  std::vector<double> rates;
  data::ReadBenchmark last;
  for (int r = 0; r < repeats; ++r) {
    last = data::bench_read(config.data.path, 50, static_cast<std::uint64_t>(r));
    rates.push_back(last.samples_per_second());
  }
  std::cout << fmt::format("data: {} random clients per repeat from {}: median {:.0f} samples/s ({:.1f} MB/s images)\n",
                           last.clients_read, config.data.path, median(rates), last.megabytes_per_second());
}

}  // namespace

int command_bench(const CommonOptions& options, const std::string& what, int repeats) {
  Session session = open_session(options);
  const bool all = what == "all";
  if (all || what == "comm") bench_comm(*session.comm, repeats);
  if (session.comm->is_root()) {
    if (all || what == "data") bench_data(session.config, repeats);
    if (all || what == "train") bench_train(session.config, repeats);
  }
  session.comm->barrier();
  return 0;
}

}  // namespace fedvlm::app
