// `fedvlm bench`: throughput numbers to size runs by (medians over repeats; never asserted).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <list>
#include <numeric>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/app/commands.hpp"
#include "fedvlm/comm/tensor_ops.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/data/read_benchmark.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/fl/algorithm.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "fedvlm/sim/client_group_trainer.hpp"
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

// ---- clients: many small clients, one at a time, on threads, and batched ----

struct ClientsMode {
  std::string name;      // plain | one | threads | batched
  std::int64_t batched;  // run.batched_clients
  std::int64_t threads;  // run.parallel_clients
};

// A dataset of `clients` clients of `size` samples each, drawn in turn from `pool`, in `dir`.
void write_clients_dataset(const std::filesystem::path& dir, data::DatasetInfo info, const data::Samples& pool,
                           std::int64_t clients, std::int64_t size) {
  info.num_clients = clients;
  info.client_shard.clear();
  info.client_samples.clear();
  data::DatasetWriter writer(dir, info, 1, /*overwrite=*/true);
  std::vector<std::int64_t> rows(static_cast<std::size_t>(size));
  for (std::int64_t c = 0; c < clients; ++c) {
    for (std::int64_t i = 0; i < size; ++i) rows[static_cast<std::size_t>(i)] = (c * size + i) % pool.size();
    writer.write_client(c, pool.select(rows));
  }
  writer.commit();
}

// Client-trainings per second of populations of 1-, 4- and 16-sample clients (one local epoch,
// batch = min(size, 8), FedAvg), trained through the group trainers a run uses: one at a time,
// on threads (run.parallel_clients), and K at a time in one pass (run.batched_clients); and
// the per-client overhead of one-at-a-time training over plain training of the same batches.
void bench_clients(const Config& base_config, int repeats, const std::string& json_path) {
  Config config = base_config;
  config.fl.algorithm = "fedavg";
  config.local.epochs = 1;
  config.local.steps = 0;
  sim::Workbench bench = sim::open_workbench(config);
  const data::Samples pool = bench.dataset.read_split("public");
  if (pool.empty()) throw InputError(fmt::format("bench --what clients draws its clients from the public split of {}, "
                                                 "which is empty", config.data.path));
  const int torch_threads = torch::get_num_threads();
  const auto workers = std::max<std::int64_t>(2, torch_threads);
  std::vector<ClientsMode> modes = {{"one", 1, 1}, {"threads", 1, workers}};
  for (const std::int64_t k : {1, 2, 4, 8, 16, 32}) modes.push_back({"batched", k, 1});
  const auto make_model = [&] {
    return model::build_model(config.model, config.lora, bench.dataset.info().image_shape,
                              static_cast<int>(bench.tokenizer.vocab_size()), static_cast<std::uint64_t>(config.run.seed));
  };
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / fmt::format("fedvlm-bench-clients-{}", ::getpid());
  nlohmann::json rows = nlohmann::json::array();
  nlohmann::json overhead = nlohmann::json::object();
  std::cout << fmt::format("clients: strategy {}, FedAvg, one local epoch, {} torch thread(s) per rank, {}; medians "
                           "of {} repeats\n",
                           config.finetune.strategy, torch_threads, bench.device.str(), repeats);
  std::cout << fmt::format("{:>5} {:>5} {:>7} {:<8} {:>3} {:>7} {:>11} {:>11} {:>8} {:>10}\n", "size", "batch",
                           "clients", "mode", "K", "threads", "clients/s", "samples/s", "vs one", "ms/client");
  for (const std::int64_t size : {1, 4, 16}) {
    const std::int64_t clients = size == 16 ? 32 : 64;
    write_clients_dataset(dir, bench.dataset.info(), pool, clients, size);
    std::list<Config> mode_configs;  // the trainers keep references to their configs
    data::DatasetReader reader(dir);
    sim::ClientData data(reader);
    Config c = config;
    c.local.batch_size = std::min<std::int64_t>(size, 8);
    const auto trainable = model::apply_strategy(*bench.model, c.finetune, 1'000'000);
    const torch::Tensor x = model::flatten_values(trainable.parameters).clone();
    std::vector<std::int64_t> ids(static_cast<std::size_t>(clients));
    std::iota(ids.begin(), ids.end(), 0);
    auto report = [&](const std::string& mode, std::int64_t k, std::int64_t threads, double seconds, double one) {
      const double per_second = static_cast<double>(clients) / seconds;
      std::cout << fmt::format("{:>5} {:>5} {:>7} {:<8} {:>3} {:>7} {:>11.1f} {:>11.1f} {:>7.2f}x {:>10.3f}\n", size,
                               c.local.batch_size, clients, mode, k, threads, per_second, per_second * size,
                               one > 0 ? one / seconds : 1.0, 1e3 * seconds / clients)
                << std::flush;
      rows.push_back({{"client_size", size}, {"batch", c.local.batch_size}, {"clients", clients}, {"mode", mode},
                      {"batched_clients", k}, {"threads", threads}, {"seconds", seconds},
                      {"client_trainings_per_s", per_second}, {"samples_per_s", per_second * size},
                      {"speedup_vs_one", one > 0 ? one / seconds : 1.0}});
    };

    // Plain training: the same local steps on the union of the clients' samples as one long
    // run, no client machinery (the floor the per-client overhead is measured over).
    data::Samples all;
    for (const auto id : ids) all.append(*data.samples(id));
    const std::int64_t plain_steps = clients * sim::local_steps(c.local, size);
    sim::LocalTrainer plain_trainer(*bench.model, c, bench.special, bench.device);
    // One trainer per mode, built up front; the repeats then cycle through the modes, so that a
    // slow spell of a shared machine falls on every mode alike.
    struct Timed {
      ClientsMode mode;
      std::unique_ptr<sim::LocalTrainer> trainer;
      std::unique_ptr<sim::ClientGroupTrainer> group;
      std::unique_ptr<fl::Algorithm> algorithm;
      std::vector<double> times;
      std::vector<double> outside_steps;  // seconds outside the trainer's local steps (one at a time)
    };
    std::vector<Timed> timed;
    for (const auto& mode : modes) {
      Config& mc = mode_configs.emplace_back(c);
      mc.run.parallel_clients = mode.threads;
      mc.run.batched_clients = mode.batched;
      Timed t{mode, std::make_unique<sim::LocalTrainer>(*bench.model, mc, bench.special, bench.device), nullptr,
              fl::make_algorithm(mc, clients), {}};
      t.group = sim::make_group_trainer(data, *t.trainer, *bench.model, make_model, mc, bench.special, bench.device);
      torch::set_num_threads(torch_threads);  // the threads mode splits them while it trains
      t.algorithm->reset(x.numel(), bench.device);
      timed.push_back(std::move(t));
    }
    std::vector<double> plain_times;
    for (int r = 0; r < repeats + 1; ++r) {  // the first repeat warms up
      auto start = Clock::now();
      plain_trainer.train(trainable, all, 0, 1'000'000 + r, x, c.local.lr, nullptr, plain_steps);
      if (r > 0) plain_times.push_back(seconds_since(start));
      for (auto& t : timed) {
        if (t.mode.threads > 1) torch::set_num_threads(std::max<int>(1, torch_threads / static_cast<int>(t.mode.threads)));
        fl::Accumulator accumulator = sim::round_accumulator(*t.algorithm, bench.device);
        const double steps_before = t.trainer->step_seconds();
        start = Clock::now();
        t.group->train(ids, {1'000'000 + r, x, c.local.lr}, *t.algorithm, trainable, accumulator);
        const double seconds = seconds_since(start);
        if (r > 0) {
          t.times.push_back(seconds);
          t.outside_steps.push_back(seconds - (t.trainer->step_seconds() - steps_before));
        }
        torch::set_num_threads(torch_threads);
      }
    }
    const double plain = median(plain_times);
    report("plain", 0, 1, plain, 0.0);
    const double one = median(timed.front().times);
    overhead[std::to_string(size)] = {
        {"outside_steps", 1e3 * median(timed.front().outside_steps) / static_cast<double>(clients)},
        {"vs_plain", 1e3 * (one - plain) / static_cast<double>(clients)}};
    for (const auto& t : timed) report(t.mode.name, t.mode.batched, t.mode.threads, median(t.times), one);
    remove_tree(dir);
  }
  // Timed directly, the work a client adds outside its local steps (data lookup, begin_client,
  // loading x, the optimizer reset, reading y, the fold); the difference of two medians, the
  // same over plain training, carries the machine's noise on every step.
  std::cout << "per-client overhead of one-at-a-time training, ms per client (outside the local steps | vs plain):";
  for (const char* size : {"1", "4", "16"})
    std::cout << fmt::format(" size {}: {:.3f} | {:.3f}", size, overhead[size]["outside_steps"].get<double>(),
                             overhead[size]["vs_plain"].get<double>());
  std::cout << "\n";
  if (!json_path.empty()) {
    const nlohmann::json out = {{"what", "clients"},
                                {"strategy", config.finetune.strategy},
                                {"model_kind", config.model.kind},
                                {"device", bench.device.str()},
                                {"torch_threads", torch_threads},
                                {"repeats", repeats},
                                {"rows", rows},
                                {"overhead_ms_per_client", overhead}};
    std::ofstream file(json_path);
    file << out.dump(2) << "\n";
    if (!file) throw InputError(fmt::format("bench: cannot write {}", json_path));
    std::cout << "wrote " << json_path << "\n";
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

int command_bench(const CommonOptions& options, const std::string& what, int repeats, const std::string& json_path) {
  Session session = open_session(options);
  const bool all = what == "all";
  if (all || what == "comm") bench_comm(*session.comm, repeats);
  if (session.comm->is_root()) {
    if (all || what == "data") bench_data(session.config, repeats);
    if (all || what == "train") bench_train(session.config, repeats);
    if (what == "clients") bench_clients(session.config, repeats, json_path);
  }
  session.comm->barrier();
  return 0;
}

}  // namespace fedvlm::app
