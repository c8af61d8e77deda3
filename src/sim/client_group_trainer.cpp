#include "fedvlm/sim/client_group_trainer.hpp"

namespace fedvlm::sim {

double SequentialGroupTrainer::train(const std::vector<std::int64_t>& clients, const RoundContext& context,
                                     fl::Algorithm& algorithm, const model::TrainableSet& trainable,
                                     fl::Accumulator& accumulator) {
  double data_seconds = 0.0;
  for (const std::int64_t client : clients) {
    const double read_before = data_.read_seconds();
    const data::Samples& samples = data_.samples(client);
    data_seconds += data_.read_seconds() - read_before;
    // The centralized baseline's union (data id -1) is the algorithm's one client, id 0.
    auto update = algorithm.begin_client({std::max<std::int64_t>(client, 0), context.round, context.global, context.lr});
    const LocalResult result =
        trainer_.train(trainable, samples, client, context.round, context.global, context.lr, update.get());
    update->finish({result.params, result.steps, samples.size()}, accumulator);
    accumulator.add_scalar(kTrainLossSegment, result.loss_sum);
    accumulator.add_scalar(kTrainStepsSegment, static_cast<double>(result.steps));
    accumulator.add_scalar(kTrainSamplesSegment, static_cast<double>(result.samples_seen));
  }
  return data_seconds;
}

}  // namespace fedvlm::sim
