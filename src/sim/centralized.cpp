#include "fedvlm/core/log.hpp"
#include "fedvlm/fl/client_sampler.hpp"
#include "fedvlm/sim/baselines.hpp"
#include "fedvlm/sim/client_data.hpp"
#include "fedvlm/sim/client_group_trainer.hpp"
#include "fedvlm/sim/local_trainer.hpp"

namespace fedvlm::sim {

RunOutcome run_centralized(RunContext& run) {
  const Config& config = run.config;
  const auto& info = run.bench.dataset.info();
  ClientData client_data(run.bench.dataset);
  LocalTrainer trainer(*run.bench.model, config, run.bench.special, run.bench.device);
  // The federation this baseline stands beside: its cohort decides each round's sample budget.
  const fl::ClientSampler sampler(info.num_clients, config.fl.clients_per_round, static_cast<std::uint64_t>(config.run.seed));
  const auto cohort_samples = [&](std::int64_t round) {
    std::int64_t total = 0;
    for (const std::int64_t client : sampler.cohort(round)) {
      const std::int64_t samples = info.client_samples[static_cast<std::size_t>(client)];
      total += samples_in_steps(samples, config.local.batch_size, local_steps(config.local, samples));
    }
    return total;
  };

  Config as_fedavg = config;  // x <- y of the one client
  as_fedavg.fl.algorithm = "fedavg";
  as_fedavg.fl.server_lr = 1.0;
  RoundLoop loop(run, fl::make_algorithm(as_fedavg, 1));
  return loop.run([&](const RoundInputs& in) {
    if (!run.comm.is_root()) return 0.0;
    const double read_before = client_data.read_seconds();
    const ClientData::Samples held = client_data.samples(ClientData::kCentralizedClient);
    const data::Samples& samples = *held;
    const double data_seconds = client_data.read_seconds() - read_before;
    const std::int64_t steps = steps_covering(samples.size(), config.local.batch_size, cohort_samples(in.round));
    // The union is the algorithm's one client, id 0, and draws its batches as client 0 would.
    auto update = in.algorithm.begin_client({0, in.round, in.global, in.lr});
    const LocalResult result = trainer.train(in.trainable, samples, ClientData::kCentralizedClient, in.round,
                                             in.global, in.lr, update.get(), steps);
    fold_client(*update, result, samples.size(), {0, in.round, in.global, config.fl.max_update_norm},
                in.accumulator);
    return data_seconds;
  });
}

}  // namespace fedvlm::sim
