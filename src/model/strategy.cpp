#include "fedvlm/model/strategy.hpp"

#include <set>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::model {

namespace {

struct NamedStrategy {
  std::string_view name;
  Strategy strategy;
};
constexpr NamedStrategy kStrategies[] = {{"F-C", Strategy::kConnector},
                                         {"F-L", Strategy::kLora},
                                         {"F-CL", Strategy::kConnectorLora},
                                         {"F-2stage", Strategy::kTwoStage},
                                         {"full", Strategy::kFull}};

}  // namespace

Strategy parse_strategy(std::string_view name) {
  for (const auto& item : kStrategies) {
    if (item.name == name) return item.strategy;
  }
  throw InputError(fmt::format("finetune.strategy=\"{}\" is unknown; choose one of F-C, F-L, F-CL, F-2stage, full", name));
}

std::string strategy_name(Strategy strategy) {
  for (const auto& item : kStrategies) {
    if (item.strategy == strategy) return std::string(item.name);
  }
  return "?";
}

std::int64_t TrainableSet::numel() const {
  std::int64_t total = 0;
  for (const auto& p : parameters) total += p.numel();
  return total;
}

void check_strategy(const VisionLanguageModel& model, Strategy strategy) {
  if (model.encoder_free() && strategy != Strategy::kFull && strategy != Strategy::kLora) {
    throw InputError(fmt::format("finetune.strategy=\"{}\" needs a connector, which an encoder-free model "
                                 "(model.kind=encoder-free) does not have; use full or F-L",
                                 strategy_name(strategy)));
  }
  const bool uses_lora = strategy == Strategy::kLora || strategy == Strategy::kConnectorLora ||
                         strategy == Strategy::kTwoStage;
  const auto& lora = model.lora_config();
  if (uses_lora && (lora.rank <= 0 || lora.targets.empty())) {
    throw InputError(fmt::format("finetune.strategy=\"{}\" trains LoRA adapters, but lora.rank={} and lora.targets "
                                 "has {} entries; set lora.rank > 0 and at least one target",
                                 strategy_name(strategy), lora.rank, lora.targets.size()));
  }
}

TrainableSet trainable_set(VisionLanguageModel& model, Strategy strategy, std::int64_t round,
                           std::int64_t stage1_rounds) {
  check_strategy(model, strategy);
  if (strategy == Strategy::kTwoStage) strategy = round < stage1_rounds ? Strategy::kConnector : Strategy::kLora;
  const auto groups = model.parameter_groups();
  std::set<std::string> chosen;
  auto take = [&](const NamedParameters& group) {
    for (const auto& item : group) chosen.insert(item.first);
  };
  switch (strategy) {
    case Strategy::kConnector: take(groups.connector); break;
    case Strategy::kLora: take(groups.lora); break;
    case Strategy::kConnectorLora: take(groups.connector); take(groups.lora); break;
    case Strategy::kFull: take(groups.connector); take(groups.decoder); break;  // LoRA (B = 0) stays a no-op
    case Strategy::kTwoStage: break;  // resolved above
  }
  TrainableSet set;
  for (const auto& item : model.named_parameters()) {  // one fixed order for every strategy
    if (chosen.count(item.key()) != 0) {
      set.names.push_back(item.key());
      set.parameters.push_back(item.value());
    }
  }
  return set;
}

TrainableSet ever_trainable_set(VisionLanguageModel& model, Strategy strategy) {
  // F-2stage's first stage is F-C and its second F-L: together, what F-CL trains.
  return trainable_set(model, strategy == Strategy::kTwoStage ? Strategy::kConnectorLora : strategy, 0, 0);
}

TrainableSet apply_strategy(VisionLanguageModel& model, Strategy strategy, std::int64_t round,
                            std::int64_t stage1_rounds) {
  auto set = trainable_set(model, strategy, round, stage1_rounds);
  const std::set<std::string> chosen(set.names.begin(), set.names.end());
  for (auto& item : model.named_parameters()) item.value().set_requires_grad(chosen.count(item.key()) != 0);
  return set;
}

TrainableSet apply_strategy(VisionLanguageModel& model, const FinetuneConfig& finetune, std::int64_t round) {
  return apply_strategy(model, parse_strategy(finetune.strategy), round, finetune.stage1_rounds);
}

}  // namespace fedvlm::model
