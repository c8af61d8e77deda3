// Pretraining: the starting point FedVLMBench assumes — a pretrained vision encoder and a
// pretrained language model with a freshly initialized connector — from the `public` split.
//   vision phase (encoder kind): supervised classification of `label` through a throwaway
//     LayerNorm + linear head on mean-pooled features, when the split has labels (images
//     mirrored at random with pretrain.flip), then the head's accuracy on the public images
//     and on held-out ones (logged and in pretrain.jsonl as phase "vision-eval"); otherwise
//     masked-patch reconstruction (half the patches zeroed, their pixels regressed by a
//     throwaway linear head, MSE on the masked patches);
//   LM phase: the decoder alone as a causal LM on "BOS prompt answer EOS" (loss on every token
//     after BOS), no image tokens;
//   caption phase (pretrain.caption_steps): the model's fine-tuning loss on the public caption
//     samples (task "cap"), training the patch embedding and the decoder of an encoder-free model
//     (Fuyu) or the connector alone of an encoder-based one (LLaVA's stage 1); the base then
//     holds that trained patch embedding or connector.
// AdamW at pretrain.lr with cosine decay, global grad-norm clip 1, pretrain.batch_size,
// batch order and masks from streams keyed by run.seed. Writes <out_dir>/base.pt and
// <out_dir>/pretrain.jsonl ({"phase","step","loss","seconds"} every 10 steps and the last).
// pretrain() holds out the dataset's first 2,000 test images.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "fedvlm/core/config.hpp"
#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/samples.hpp"
#include "fedvlm/model/batch.hpp"

namespace fedvlm::model {

void pretrain(const Config& config, data::DatasetReader& dataset, const std::filesystem::path& out_dir);

// What pretraining needs besides the samples (pretrain() takes these from the dataset).
struct PretrainVocabulary {
  int vocab_size = 0;
  SpecialTokens special;
  std::span<const std::uint8_t> tokenizer_model;  // stored in base.pt
  std::vector<std::string> tasks;                 // meta.h5's tasks: the names the samples' task ids index
};

// `held_out` (optional): labeled images the vision phase reports its classification accuracy on.
void pretrain_on_samples(const Config& config, const data::Samples& public_split, const PretrainVocabulary& vocabulary,
                         const std::filesystem::path& out_dir, const data::Samples* held_out = nullptr);

}  // namespace fedvlm::model
