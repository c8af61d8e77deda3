#include "fedvlm/model/pretrain.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/core/text.hpp"
#include "fedvlm/core/torch_rng.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "fedvlm/model/checkpoint.hpp"
#include "fedvlm/model/encoder_vlm.hpp"
#include "fedvlm/model/hf/hf_vlm.hpp"
#include "fedvlm/model/vision_encoder.hpp"
#include "fedvlm/model/vision_pretraining.hpp"
#include "pretrain_progress.hpp"

namespace fedvlm::model {

namespace {

// Row indices of successive batches: a fresh permutation of `rows` per epoch, keyed by
// (seed, purpose, epoch).
class BatchOrder {
 public:
  BatchOrder(std::vector<std::int64_t> rows, std::int64_t batch_size, std::uint64_t seed, std::string purpose)
      : rows_(std::move(rows)), batch_size_(std::min<std::int64_t>(batch_size, rows_.size())), seed_(seed),
        purpose_(std::move(purpose)) {}

  std::vector<std::int64_t> next() {
    if (cursor_ + batch_size_ > static_cast<std::int64_t>(order_.size())) {
      order_ = rows_;
      Rng rng({seed_, purpose_, epoch_++, 0});
      rng.shuffle(order_);
      cursor_ = 0;
    }
    std::vector<std::int64_t> batch(order_.begin() + cursor_, order_.begin() + cursor_ + batch_size_);
    cursor_ += batch_size_;
    return batch;
  }

 private:
  std::vector<std::int64_t> rows_, order_;
  std::int64_t batch_size_, cursor_ = 0, epoch_ = 0;
  std::uint64_t seed_;
  std::string purpose_;
};

// AdamW with cosine decay to 10% of the peak and global grad-norm clipping at 1.
class Trainer {
 public:
  Trainer(std::vector<torch::Tensor> parameters, double lr, std::int64_t steps)
      : parameters_(std::move(parameters)), optimizer_(parameters_, torch::optim::AdamWOptions(lr).weight_decay(0.0)),
        peak_lr_(lr), steps_(steps) {}

  void step(const torch::Tensor& loss, std::int64_t step) {
    const double progress = steps_ > 1 ? static_cast<double>(step) / (steps_ - 1) : 0.0;
    const double lr = peak_lr_ * (0.1 + 0.9 * 0.5 * (1.0 + std::cos(M_PI * progress)));
    for (auto& group : optimizer_.param_groups()) static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    optimizer_.zero_grad();
    loss.backward();
    torch::nn::utils::clip_grad_norm_(parameters_, 1.0);
    optimizer_.step();
  }

 private:
  std::vector<torch::Tensor> parameters_;
  torch::optim::AdamW optimizer_;
  double peak_lr_;
  std::int64_t steps_;
};

// An image the classification phase learns from: it has a label and no box. An image with a box
// holds several items and its label names one of them (Fashion's grounding task): as a class
// target for the pooled features it is noise (a quarter of Fashion's images). Measured, 3,000
// steps on 12,000 public images: 0.47 held-out accuracy with them among the images, 0.59 on a
// public split of the same size without them.
bool classification_image(const data::Samples& samples, std::int64_t i) {
  return samples.label[i] >= 0 && std::isnan(samples.box[static_cast<std::size_t>(4 * i)]);
}

std::vector<std::int64_t> labeled_rows(const data::Samples& samples, std::int64_t limit) {
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < samples.size() && static_cast<std::int64_t>(rows.size()) < limit; ++i)
    if (classification_image(samples, i)) rows.push_back(i);
  return rows;
}

// Share of `rows` whose label the classification head gets right from the encoder's pooled
// features: how much class information pretraining put into them. A diagnostic, nothing trains on it.
double head_accuracy(VisionEncoder& vision, torch::nn::Sequential& head, const data::Samples& samples,
                     const std::vector<std::int64_t>& rows) {
  torch::NoGradGuard no_grad;
  std::int64_t correct = 0;
  constexpr std::size_t kBatch = 256;
  for (std::size_t begin = 0; begin < rows.size(); begin += kBatch) {
    const std::span<const std::int64_t> batch(rows.data() + begin, std::min(kBatch, rows.size() - begin));
    const auto predicted = head->forward(vision->forward(collate_images(samples, batch)).mean(1)).argmax(1);
    for (std::size_t i = 0; i < batch.size(); ++i)
      correct += predicted[static_cast<std::int64_t>(i)].item<std::int64_t>() == samples.label[batch[i]];
  }
  return rows.empty() ? 0.0 : static_cast<double>(correct) / static_cast<double>(rows.size());
}

torch::Tensor collate_boxes(const data::Samples& samples, std::span<const std::int64_t> rows) {
  auto boxes = torch::empty({static_cast<std::int64_t>(rows.size()), 4});
  for (std::size_t i = 0; i < rows.size(); ++i)
    for (std::int64_t k = 0; k < 4; ++k)
      boxes[static_cast<std::int64_t>(i)][k] = samples.box[static_cast<std::size_t>(4 * rows[i] + k)];
  return boxes;
}

torch::Tensor collate_labels(const data::Samples& samples, std::span<const std::int64_t> rows) {
  std::vector<std::int64_t> labels;
  for (const auto row : rows) labels.push_back(samples.label[row]);
  return torch::tensor(labels, torch::kInt64);
}

// The dense head reads grounding off the encoder: for each labeled image with a box (Fashion's
// grounding images), the patch scoring highest for the named class proposes its box. Mean IoU
// with the true box over `rows`; a diagnostic of how much of an item's place the patch features
// hold, nothing trains on it.
double dense_ground_iou(VisionEncoder& vision, torch::nn::Sequential& dense_head, const data::Samples& samples,
                        const std::vector<std::int64_t>& rows, std::int64_t num_classes, std::int64_t columns,
                        std::int64_t grid_rows) {
  torch::NoGradGuard no_grad;
  double total = 0.0;
  constexpr std::size_t kBatch = 256;
  for (std::size_t begin = 0; begin < rows.size(); begin += kBatch) {
    const std::span<const std::int64_t> batch(rows.data() + begin, std::min(kBatch, rows.size() - begin));
    const auto out = dense_head->forward(vision->forward(collate_images(samples, batch)));  // [B, N, C + 5]
    const auto labels = collate_labels(samples, batch);
    const auto scores = out.gather(2, labels.view({-1, 1, 1}).expand({out.size(0), out.size(1), 1})).squeeze(2);
    const auto best = scores.argmax(1);  // [B]: the patch most sure it shows the named class
    const auto distances = out.slice(2, num_classes + 1).index({torch::arange(best.size(0)), best});
    const auto proposed = boxes_from_distances(distances, best, columns, grid_rows);
    total += box_iou(proposed, collate_boxes(samples, batch)).sum().item<double>();
  }
  return rows.empty() ? 0.0 : total / static_cast<double>(rows.size());
}

std::vector<std::int64_t> boxed_rows(const data::Samples& samples, std::int64_t limit) {
  std::vector<std::int64_t> rows;
  for (std::int64_t i = 0; i < samples.size() && static_cast<std::int64_t>(rows.size()) < limit; ++i)
    if (samples.label[i] >= 0 && !std::isnan(samples.box[static_cast<std::size_t>(4 * i)])) rows.push_back(i);
  return rows;
}

void initialize_head(torch::nn::Sequential& head, std::uint64_t seed, const std::string& purpose) {
  torch::NoGradGuard no_grad;  // the throwaway heads' init from the run's streams too
  auto generator = torch_generator({seed, purpose, 0, 0});
  for (auto& item : head->named_parameters()) {  // "0.*": LayerNorm gain and bias, "1.*": Linear
    auto& p = item.value();
    if (p.dim() == 2) {
      p.copy_(torch::empty(p.sizes()).normal_(0.0, 0.02, generator));
    } else {
      p.fill_(item.key() == "0.weight" ? 1.0 : 0.0);
    }
  }
}

// The augmentations pretrain.flip and pretrain.shift ask for, drawn from streams keyed by the step.
AugmentedImages augment(const Config& config, AugmentedImages batch, std::int64_t step) {
  const auto seed = static_cast<std::uint64_t>(config.run.seed);
  const auto size = batch.images.size(0);
  if (config.pretrain.flip) {
    auto generator = torch_generator({seed, "pretrain-flip", step, 0});
    batch = flip_left_right(std::move(batch), torch::empty({size}).bernoulli_(0.5, generator).to(torch::kBool));
  }
  if (const auto shift = config.pretrain.shift; shift > 0) {
    auto generator = torch_generator({seed, "pretrain-shift", step, 0});
    batch = shift_images(std::move(batch), torch::randint(-shift, shift + 1, {size, 2}, generator, torch::kInt64));
  }
  return batch;
}

void pretrain_vision(const Config& config, EncoderVlm& model, const data::Samples& samples,
                     const data::Samples* held_out, PretrainProgress& progress) {
  const auto seed = static_cast<std::uint64_t>(config.run.seed);
  const bool dense = config.pretrain.dense_weight > 0;
  std::vector<std::int64_t> labeled;  // what the batches are drawn from
  std::int32_t max_label = -1;
  for (std::int64_t i = 0; i < samples.size(); ++i) {
    // Images with a box train the dense losses only; without them, only classification images are drawn.
    if (dense ? samples.label[i] >= 0 : classification_image(samples, i)) labeled.push_back(i);
    max_label = std::max(max_label, samples.label[i]);
  }
  const bool classify = !labeled.empty();
  std::vector<std::int64_t> rows = labeled;
  if (!classify) {
    rows.resize(samples.size());
    std::iota(rows.begin(), rows.end(), 0);
  }
  const auto dim = config.model.vision_dim;
  const auto num_classes = static_cast<std::int64_t>(max_label) + 1;
  const auto& shape = samples.image_shape;
  if (config.pretrain.shift >= std::min(shape.height, shape.width)) {
    throw InputError(fmt::format("pretrain.shift = {} can move every item off the dataset's {}x{} images; use less "
                                 "than {}", config.pretrain.shift, shape.height, shape.width,
                                 std::min(shape.height, shape.width)));
  }
  const auto patch = config.model.patch_size, columns = shape.width / patch, grid_rows = shape.height / patch;
  auto vision = model.vision;
  torch::nn::Sequential head(torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})),
                             torch::nn::Linear(dim, classify ? num_classes : vision->patch_dim()));
  initialize_head(head, seed, "init-pretrain-head");
  // Per patch: C classes + background, then the four box distances.
  torch::nn::Sequential dense_head(torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim})),
                                   torch::nn::Linear(dim, num_classes + 1 + 4));
  initialize_head(dense_head, seed, "init-pretrain-dense-head");
  std::vector<torch::Tensor> parameters = vision->parameters();
  for (const auto& p : head->parameters()) parameters.push_back(p);
  if (dense && classify)
    for (const auto& p : dense_head->parameters()) parameters.push_back(p);
  for (auto& p : parameters) p.set_requires_grad(true);
  const auto steps = config.pretrain.vision_steps;
  Trainer trainer(parameters, config.pretrain.lr, steps);
  BatchOrder order(rows, config.pretrain.batch_size, seed, "pretrain-vision");
  progress.start_phase("vision", steps);
  log::info("pretrain vision: {}{} on {} public images",
            classify ? fmt::format("{}-class classification", num_classes) : std::string("masked-patch reconstruction"),
            dense && classify ? fmt::format(" + per-patch class and box (weight {})", config.pretrain.dense_weight) : "",
            rows.size());
  for (std::int64_t step = 0; step < steps; ++step) {
    const auto batch_rows = order.next();
    torch::Tensor loss;
    if (classify) {
      const auto batch = augment(config, {collate_images(samples, batch_rows), collate_boxes(samples, batch_rows)}, step);
      const auto labels = collate_labels(samples, batch_rows);
      std::vector<std::int64_t> single;  // classification images: their label names their only item
      for (std::size_t i = 0; i < batch_rows.size(); ++i)
        if (classification_image(samples, batch_rows[i])) single.push_back(static_cast<std::int64_t>(i));
      const auto single_rows = torch::tensor(single, torch::kInt64);
      const auto features = vision->forward(batch.images);
      loss = single.empty() ? features.sum() * 0.0
                            : torch::nn::functional::cross_entropy(head->forward(features.index({single_rows}).mean(1)),
                                                                   labels.index({single_rows}));
      if (dense) {
        // A classification image's box is the extent of its item pixels (it holds one item).
        auto boxes = batch.boxes.clone();
        if (!single.empty()) boxes.index_put_({single_rows}, item_boxes(batch.images.index({single_rows})));
        const auto targets = dense_targets(batch.images, boxes, labels, patch, num_classes);
        const auto out = dense_head->forward(features);
        auto dense_loss = torch::nn::functional::cross_entropy(
            out.slice(2, 0, num_classes + 1).reshape({-1, num_classes + 1}), targets.patch_class.reshape({-1}),
            torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100));
        if (targets.box_patch.any().item<bool>()) {
          dense_loss = dense_loss + torch::nn::functional::smooth_l1_loss(
                                        out.slice(2, num_classes + 1).index({targets.box_patch}),
                                        targets.box_distances.index({targets.box_patch}));
        }
        loss = loss + config.pretrain.dense_weight * dense_loss;
      }
    } else {
      auto generator = torch_generator({seed, "pretrain-mask", step, 0});
      auto patches = patchify(collate_images(samples, batch_rows), config.model.patch_size);
      auto masked = torch::empty({patches.size(0), patches.size(1), 1}).bernoulli_(0.5, generator);
      auto predicted = head->forward(vision->forward_patches(patches * (1 - masked)));
      loss = ((predicted - patches).pow(2) * masked).sum() / (masked.sum() * patches.size(2)).clamp_min(1.0);
    }
    trainer.step(loss, step);
    progress.step_done(step, loss.item<double>(), static_cast<std::int64_t>(batch_rows.size()));
  }
  if (!classify) return;
  constexpr std::int64_t kEvalImages = 2000;
  const double seen = head_accuracy(vision, head, samples, labeled_rows(samples, kEvalImages));
  progress.note({{"phase", "vision-eval"}, {"split", "public"}, {"accuracy", seen}});
  if (held_out == nullptr) return log::info("pretrain vision: the head classifies {:.3f} of the public images", seen);
  const auto unseen_rows = labeled_rows(*held_out, kEvalImages);
  const double unseen = head_accuracy(vision, head, *held_out, unseen_rows);
  progress.note({{"phase", "vision-eval"}, {"split", "test"}, {"accuracy", unseen}});
  log::info("pretrain vision: the head classifies {:.3f} of the public images and {:.3f} of {} test images "
            "(reported only, never trained on)", seen, unseen, unseen_rows.size());
  if (!dense) return;
  const auto grounding_rows = boxed_rows(*held_out, kEvalImages);
  if (grounding_rows.empty()) return;  // a federation without grounding images: nothing to box
  const double iou = dense_ground_iou(vision, dense_head, *held_out, grounding_rows, num_classes, columns, grid_rows);
  progress.note({{"phase", "vision-eval"}, {"split", "test"}, {"ground_iou", iou}});
  log::info("pretrain vision: the dense head's box for the named item has mean IoU {:.3f} on {} test grounding images",
            iou, grounding_rows.size());
}

void pretrain_language_model(const Config& config, VisionLanguageModel& model, const data::Samples& samples,
                             const SpecialTokens& special, PretrainProgress& progress) {
  const auto seed = static_cast<std::uint64_t>(config.run.seed);
  std::vector<std::int64_t> rows(samples.size());
  std::iota(rows.begin(), rows.end(), 0);
  auto decoder = model.decoder;
  std::vector<torch::Tensor> parameters = decoder->parameters();
  for (auto& p : parameters) p.set_requires_grad(true);
  const auto steps = config.pretrain.lm_steps;
  Trainer trainer(parameters, config.pretrain.lr, steps);
  BatchOrder order(rows, config.pretrain.batch_size, seed, "pretrain-lm");
  progress.start_phase("lm", steps);
  for (std::int64_t step = 0; step < steps; ++step) {
    const auto batch_rows = order.next();
    const auto batch = collate_training(samples, batch_rows, special);
    const auto length = std::min(batch.length(), config.model.max_seq_len);
    auto tokens = batch.tokens.slice(1, 0, length);
    auto positions = torch::arange(length, torch::kInt64).unsqueeze(0).expand({batch.size(), length});
    auto hidden = decoder->hidden(decoder->embed(tokens), positions, torch::Tensor()).slice(1, 0, length - 1);
    auto targets = tokens.slice(1, 1);
    auto real = batch.attention_mask.slice(1, 1, length);
    auto loss = torch::nn::functional::cross_entropy(decoder->head(hidden.index({real})), targets.index({real}));
    trainer.step(loss, step);
    progress.step_done(step, loss.item<double>(), static_cast<std::int64_t>(batch_rows.size()));
  }
}

// The image-caption phase: the model's own loss on the caption tokens of the public caption
// samples, training what carries the image to the decoder. Encoder-free (Fuyu): the patch
// embedding and the decoder; encoder-based (LLaVA stage 1): the connector alone.
// The public caption samples (task "cap") the caption phase draws from; InputError when there are none.
std::vector<std::int64_t> caption_rows(const Config& config, const data::Samples& samples,
                                       const PretrainVocabulary& vocabulary) {
  const auto caption_task = std::find(vocabulary.tasks.begin(), vocabulary.tasks.end(), "cap");
  std::vector<std::int64_t> rows;
  if (caption_task != vocabulary.tasks.end()) {
    const auto id = static_cast<std::uint8_t>(caption_task - vocabulary.tasks.begin());
    for (std::int64_t i = 0; i < samples.size(); ++i)
      if (samples.task[i] == id) rows.push_back(i);
  }
  if (rows.empty()) {
    throw InputError(fmt::format("pretrain.caption_steps = {} trains on the public split's caption samples (task "
                                 "'cap'), and it has none (tasks: {}); set pretrain.caption_steps = 0 or build the "
                                 "dataset with captions",
                                 config.pretrain.caption_steps, join(vocabulary.tasks, ", ")));
  }
  return rows;
}

void pretrain_captions(const Config& config, VisionLanguageModel& model, const data::Samples& samples,
                       std::vector<std::int64_t> rows, const SpecialTokens& special, PretrainProgress& progress) {
  const auto groups = model.parameter_groups();
  for (auto& p : model.parameters()) p.set_requires_grad(false);
  std::vector<torch::Tensor> parameters;
  for (const auto& [name, p] : groups.connector) parameters.push_back(p);
  if (model.encoder_free())
    for (const auto& [name, p] : groups.decoder) parameters.push_back(p);
  for (auto& p : parameters) p.set_requires_grad(true);
  const auto seed = static_cast<std::uint64_t>(config.run.seed);
  const auto steps = config.pretrain.caption_steps;
  Trainer trainer(parameters, config.pretrain.lr, steps);
  const auto count = rows.size();
  BatchOrder order(std::move(rows), config.pretrain.batch_size, seed, "pretrain-caption");
  progress.start_phase("caption", steps);
  log::info("pretrain captions: {} on {} public caption samples",
            model.encoder_free() ? "patch embedding + decoder" : "connector (encoder and decoder frozen)", count);
  for (std::int64_t step = 0; step < steps; ++step) {
    const auto batch_rows = order.next();
    const auto loss = model.loss(collate_training(samples, batch_rows, special));
    trainer.step(loss, step);
    progress.step_done(step, loss.item<double>(), static_cast<std::int64_t>(batch_rows.size()));
  }
}

}  // namespace

void pretrain_on_samples(const Config& config, const data::Samples& public_split, const PretrainVocabulary& vocabulary,
                         const std::filesystem::path& out_dir, const data::Samples* held_out) {
  if (public_split.empty()) throw InputError("pretraining needs samples in the dataset's public split; it is empty");
  // Checked before any phase trains: a missing caption task must not cost the phases before it.
  const auto captions = config.pretrain.caption_steps > 0 ? caption_rows(config, public_split, vocabulary)
                                                           : std::vector<std::int64_t>{};
  const auto seed = static_cast<std::uint64_t>(config.run.seed);
  LoraConfig no_lora = config.lora;  // adapters are not part of a base checkpoint
  no_lora.rank = 0;
  auto model = build_model(config.model, no_lora, public_split.image_shape, vocabulary.vocab_size, seed);
  bool with_connector = config.pretrain.caption_steps > 0;  // the base keeps a trained connector
  if (!config.model.base.empty()) {  // continue a base: e.g. a longer language phase on its vision encoder
    if (hf::is_hf_model_directory(config.model.base))
      throw InputError(fmt::format("model.base = \"{}\" is a Hugging Face model directory; fedvlm pretrain continues "
                                   "only its own bases (a pretrain run directory or base.pt)",
                                   config.model.base));
    const auto path = resolve_base_path(config.model.base);
    load_base_checkpoint(path, *model, vocabulary.tokenizer_model);
    with_connector = with_connector || base_holds_connector(path);
    log::info("pretrain: starting from base {}", path.string());
  }
  model->train();
  PretrainProgress progress(static_cast<double>(std::max<std::int64_t>(config.run.progress_seconds, 1)));
  if (auto* encoder_model = dynamic_cast<EncoderVlm*>(model.get()); encoder_model && config.pretrain.vision_steps > 0) {
    pretrain_vision(config, *encoder_model, public_split, held_out, progress);
  }
  if (config.pretrain.lm_steps > 0) pretrain_language_model(config, *model, public_split, vocabulary.special, progress);
  if (config.pretrain.caption_steps > 0)
    pretrain_captions(config, *model, public_split, captions, vocabulary.special, progress);
  std::filesystem::create_directories(out_dir);
  save_base_checkpoint(out_dir / "base.pt", *model, vocabulary.tokenizer_model, with_connector);
  write_text_atomically(out_dir / "pretrain.jsonl", progress.jsonl());
  log::info("pretrain: wrote {}", (out_dir / "base.pt").string());
}

void pretrain(const Config& config, data::DatasetReader& dataset, const std::filesystem::path& out_dir) {
  const auto& info = dataset.info();
  const auto tokenizer = data::Tokenizer::from_serialized(info.tokenizer_model);
  PretrainVocabulary vocabulary;
  vocabulary.vocab_size = tokenizer.vocab_size();
  vocabulary.special = {tokenizer.pad_id(), tokenizer.bos_id(), tokenizer.eos_id()};
  vocabulary.tokenizer_model = info.tokenizer_model;
  vocabulary.tasks = info.tasks;
  const auto samples = dataset.read_split("public");
  log::info("pretrain: {} public samples of {}, images {}x{}x{}, vocabulary {}", samples.size(), info.name,
            info.image_shape.channels, info.image_shape.height, info.image_shape.width, vocabulary.vocab_size);
  // The first test images gauge the vision encoder on images it never saw (logged, not trained on).
  const auto test = dataset.read_split("test", 0, std::min<std::int64_t>(2000, dataset.split_size("test")));
  pretrain_on_samples(config, samples, vocabulary, out_dir, &test);
}

}  // namespace fedvlm::model
