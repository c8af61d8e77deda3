// Batched greedy decoding with a KV cache (VisionLanguageModel::generate).
#include <algorithm>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::model {

namespace {

// Generation runs in eval mode (no dropout); the caller's mode is restored on every exit.
class EvalModeScope {
 public:
  explicit EvalModeScope(torch::nn::Module& module) : module_(module), was_training_(module.is_training()) {
    module_.eval();
  }
  ~EvalModeScope() { module_.train(was_training_); }

 private:
  torch::nn::Module& module_;
  bool was_training_;
};

}  // namespace

std::vector<std::vector<std::int32_t>> VisionLanguageModel::generate(const Batch& prompts, std::int64_t max_new_tokens,
                                                                     std::int32_t eos_id) {
  FEDVLM_CHECK(prompts.left_padded, "generate needs a left-padded prompt batch (collate_prompts)");
  torch::NoGradGuard no_grad;
  EvalModeScope eval_mode(*this);
  const auto rows = prompts.size();
  const auto image_tokens = num_image_tokens();
  const auto budget = std::min(max_new_tokens, model_config().max_seq_len - image_tokens - prompts.length());

  KvCache cache;
  auto hidden = sequence_hidden(prompts, &cache);
  auto scores = decoder->head(hidden.select(1, hidden.size(1) - 1));  // [B, vocab]
  auto key_mask = torch::cat(
      {torch::ones({rows, image_tokens}, prompts.attention_mask.options()), prompts.attention_mask}, 1);
  auto next_position = key_mask.to(torch::kInt64).sum(1, /*keepdim=*/true);  // [B, 1]: real tokens so far

  std::vector<std::vector<std::int32_t>> outputs(rows);
  std::vector<bool> finished(rows, false);
  std::int64_t active = rows;
  for (std::int64_t step = 0; step < budget && active > 0; ++step) {
    const auto next = scores.argmax(-1);  // [B]
    const auto next_cpu = next.to(torch::kCPU);
    const auto* ids = next_cpu.data_ptr<std::int64_t>();
    for (std::int64_t b = 0; b < rows; ++b) {
      if (finished[b]) continue;
      if (ids[b] == eos_id) {
        finished[b] = true;
        --active;
      } else {
        outputs[b].push_back(static_cast<std::int32_t>(ids[b]));
      }
    }
    if (active == 0 || step + 1 == budget) break;
    // Finished rows keep decoding in lockstep; their tokens are discarded.
    key_mask = torch::cat({key_mask, torch::ones({rows, 1}, key_mask.options())}, 1);
    hidden = decoder->hidden(decoder->embed(next.unsqueeze(1)), next_position, key_mask, &cache);
    next_position = next_position + 1;
    scores = decoder->head(hidden.select(1, 0));
  }
  return outputs;
}

}  // namespace fedvlm::model
