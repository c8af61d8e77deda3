// Every configuration parameter core owns, declared once: key, type, documentation, constraints.
// Modules above core add theirs through config_registry.hpp (config_registry.cpp). The loader,
// validator, `--dump-config` and docs/configuration.md all read this table.
#include "config_schema.hpp"

namespace fedvlm::config_detail {
namespace {

template <class T>
constexpr Type static_type_of() {
  if constexpr (std::is_same_v<T, std::int64_t>) return Type::Int;
  else if constexpr (std::is_same_v<T, double>) return Type::Float;
  else if constexpr (std::is_same_v<T, bool>) return Type::Bool;
  else if constexpr (std::is_same_v<T, std::string>) return Type::String;
  else return Type::StringList;
}

using Limits = ConfigLimits;

template <class Section, class T>
Param param(std::string key, Section Config::*section, T Section::*member, std::string doc, Limits limits = {}) {
  return Param{
      .key = std::move(key),
      .type = static_type_of<T>(),
      .doc = std::move(doc),
      .get = [section, member](const Config& c) { return Value((c.*section).*member); },
      .set = [section, member](Config& c, const Value& v) { (c.*section).*member = std::get<T>(v); },
      .min = limits.min,
      .max = limits.max,
      .min_exclusive = limits.min_exclusive,
      .choices = std::move(limits.choices),
  };
}

std::vector<Param> build_schema() {
  using C = Config;
  const Limits positive{.min = 1};
  const Limits non_negative{.min = 0};
  const Limits unit{.min = 0, .max = 1};
  return {
      // [data]
      param("data.path", &C::data, &DataConfig::path, "Dataset directory (meta.h5 + shard-*.h5), made by fedvlm-prep."),
      param("data.max_test_samples", &C::data, &DataConfig::max_test_samples,
            "Evaluate on the first N test samples; 0 uses the whole test split.", non_negative),
      // [model]
      param("model.preset", &C::model, &ModelConfig::preset,
            "Model preset: tiny, small, base (configs/model/, compiled in) or a path to a .toml file. "
            "Applied before the config files, so their [model] keys override it."),
      param("model.base", &C::model, &ModelConfig::base,
            "Base checkpoint: a file, a `fedvlm pretrain` run directory (its base.pt), or a Hugging Face model "
            "directory (config.json + safetensors: a LLaVA model, or a Llama / Qwen2 language model paired with "
            "model.vision_tower), whose config.json then sets the model's shape in place of the model.* keys "
            "(docs/models.md). Empty: random init."),
      param("model.vision_tower", &C::model, &ModelConfig::vision_tower,
            "A Hugging Face CLIP or SigLIP directory (CLIPModel, CLIPVisionModel, SiglipModel, SiglipVisionModel) "
            "whose vision tower feeds model.base, a Hugging Face Llama or Qwen2 directory: a LLaVA-style model "
            "with a model.connector drawn from run.seed, image features from model.vision_select_layer (CLIP's "
            "class token dropped, as LLaVA does). Empty: model.base holds the whole model."),
      param("model.projector", &C::model, &ModelConfig::projector,
            "With model.vision_tower: a safetensors file holding the connector to start from, under the names of "
            "LLaVA's training scripts (model.mm_projector.0.weight, ...): LLaVA's stage-1 mm_projector, or the "
            "mm_projector.safetensors a fedvlm run exports. Empty: the connector is drawn from run.seed."),
      param("model.kind", &C::model, &ModelConfig::kind,
            "encoder: ViT + connector + decoder (LLaVA-style); encoder-free: patches embedded into the decoder.",
            {.choices = {"encoder", "encoder-free"}}),
      param("model.connector", &C::model, &ModelConfig::connector, "Vision-to-language connector.",
            {.choices = {"linear", "mlp2x_gelu", "mlp6x_gelu"}}),
      param("model.patch_size", &C::model, &ModelConfig::patch_size,
            "Square patch side in pixels; must divide the dataset's image height and width.", positive),
      param("model.vision_stem", &C::model, &ModelConfig::vision_stem,
            "How the ViT embeds patches: linear (one Linear per non-overlapping patch) or conv (log2(patch_size) "
            "3x3 stride-2 convolutions over the whole image, GELU between, widths doubling up to model.vision_dim; "
            "needs a power-of-2 patch_size).",
            {.choices = {"linear", "conv"}}),
      param("model.vision_dim", &C::model, &ModelConfig::vision_dim, "ViT width.", positive),
      param("model.vision_layers", &C::model, &ModelConfig::vision_layers, "ViT blocks.", positive),
      param("model.vision_heads", &C::model, &ModelConfig::vision_heads, "ViT attention heads.", positive),
      param("model.vision_mlp_ratio", &C::model, &ModelConfig::vision_mlp_ratio, "ViT MLP width / ViT width.", positive),
      param("model.vision_select_layer", &C::model, &ModelConfig::vision_select_layer,
            "ViT layer whose features feed the connector: -1 last, -2 second-to-last (LLaVA).", {.max = -1}),
      param("model.dim", &C::model, &ModelConfig::dim, "Decoder width.", positive),
      param("model.layers", &C::model, &ModelConfig::layers, "Decoder blocks.", positive),
      param("model.heads", &C::model, &ModelConfig::heads, "Decoder query heads.", positive),
      param("model.kv_heads", &C::model, &ModelConfig::kv_heads, "Decoder key/value heads (grouped-query attention).",
            positive),
      param("model.ffn_dim", &C::model, &ModelConfig::ffn_dim, "Decoder SwiGLU hidden width.", positive),
      param("model.max_seq_len", &C::model, &ModelConfig::max_seq_len,
            "Longest sequence (image tokens + prompt + answer).", positive),
      param("model.rope_theta", &C::model, &ModelConfig::rope_theta, "Rotary position base.", {.min = 1}),
      param("model.norm_eps", &C::model, &ModelConfig::norm_eps, "RMSNorm epsilon.", {.min = 0, .max = 1}),
      param("model.tie_embeddings", &C::model, &ModelConfig::tie_embeddings,
            "Share the decoder's input embedding and output projection."),
      param("model.dropout", &C::model, &ModelConfig::dropout, "Dropout in decoder and ViT blocks.", {.min = 0, .max = 0.9}),
      param("model.gradient_checkpointing", &C::model, &ModelConfig::gradient_checkpointing,
            "Keep only each decoder block's input for the backward pass and run the block again there: activation "
            "memory of one block instead of every block's, for about one more forward pass of compute. Gradients "
            "equal those without it (the same dropout masks are replayed). For real model sizes on a GPU "
            "(tools/memory_model.py)."),
      param("model.frozen_dtype", &C::model, &ModelConfig::frozen_dtype,
            "Storage of the weights finetune.strategy never trains: bf16 halves them (a 3B decoder: 12.8 to 6.4 "
            "GB), the whole frozen vision tower and the decoder's matrices, whose products then run in bf16 (as "
            "run.precision = bf16 runs them anyway). Norms, biases and everything trained (LoRA, connector) stay "
            "fp32.",
            {.choices = {"fp32", "bf16"}}),
      // [lora]
      param("lora.rank", &C::lora, &LoraConfig::rank, "LoRA rank r.", positive),
      param("lora.alpha", &C::lora, &LoraConfig::alpha, "LoRA scaling numerator (scale = alpha / rank).", {.min = 0}),
      param("lora.dropout", &C::lora, &LoraConfig::dropout, "Dropout on the LoRA input.", {.min = 0, .max = 0.9}),
      param("lora.targets", &C::lora, &LoraConfig::targets, "Decoder projections wrapped with LoRA.",
            {.choices = {"q", "k", "v", "o", "gate", "up", "down"}}),
      // [finetune]
      param("finetune.strategy", &C::finetune, &FinetuneConfig::strategy,
            "What trains (and is communicated): F-C connector, F-L LoRA, F-CL both, F-2stage connector then LoRA, "
            "full everything but the vision encoder.",
            {.choices = {"F-C", "F-L", "F-CL", "F-2stage", "full"}}),
      param("finetune.stage1_rounds", &C::finetune, &FinetuneConfig::stage1_rounds,
            "F-2stage: rounds that train the connector before LoRA takes over.", non_negative),
      // [fl]
      param("fl.algorithm", &C::fl, &FlConfig::algorithm,
            "Federated algorithm, or a baseline the simulation runs itself. The choices, their default and "
            "each algorithm's own keys are declared with the algorithms (docs/algorithms.md)."),
      param("fl.rounds", &C::fl, &FlConfig::rounds, "Communication rounds.", positive),
      param("fl.clients_per_round", &C::fl, &FlConfig::clients_per_round,
            "Clients sampled per round (uniform, without replacement); 0: all clients.", non_negative),
      param("fl.weighting", &C::fl, &FlConfig::weighting, "Aggregation weights: client sample counts or uniform.",
            {.choices = {"samples", "uniform"}}),
      param("fl.server_lr", &C::fl, &FlConfig::server_lr,
            "Server learning rate: eta_g of the averaging algorithms, eta of the adaptive server optimizers.",
            {.min = 0, .min_exclusive = true}),
      param("fl.max_update_norm", &C::fl, &FlConfig::max_update_norm,
            "A client update whose L2 norm ||y - x|| exceeds this is left out of aggregation, with a warning naming "
            "client and round (non-finite updates always are); 0: no limit.",
            {.min = 0}),
      param("fl.max_bad_fraction", &C::fl, &FlConfig::max_bad_fraction,
            "The run stops with an error when more than this fraction of a round's cohort sent updates that were "
            "left out (non-finite, or above fl.max_update_norm).",
            unit),
      param("fl.dp_clip", &C::fl, &FlConfig::dp_clip,
            "DP-FedAvg (McMahan et al. 2018): each client update y - x is scaled to L2 norm at most this, and the "
            "cohort's sum is divided by the expected cohort size (needs fl.weighting = \"uniform\"); 0: off.",
            {.min = 0}),
      param("fl.dp_noise_multiplier", &C::fl, &FlConfig::dp_noise_multiplier,
            "DP-FedAvg: Gaussian noise of standard deviation this times fl.dp_clip is added to the sum of clipped "
            "updates each round; epsilon at fl.dp_delta is reported per round. 0: clipping only, no guarantee.",
            {.min = 0}),
      param("fl.dp_delta", &C::fl, &FlConfig::dp_delta,
            "DP-FedAvg: the delta at which epsilon is reported (choose it below 1 / number of clients).",
            {.min = 0, .max = 1, .min_exclusive = true}),
      // [local]
      param("local.epochs", &C::local, &LocalConfig::epochs, "Local epochs per round (when local.steps is 0).",
            non_negative),
      param("local.steps", &C::local, &LocalConfig::steps, "Local steps per round; > 0 overrides local.epochs.",
            non_negative),
      param("local.batch_size", &C::local, &LocalConfig::batch_size, "Local minibatch size.", positive),
      param("local.lr", &C::local, &LocalConfig::lr, "Local learning rate (peak of the schedule).", {.min = 0}),
      param("local.optimizer", &C::local, &LocalConfig::optimizer, "Local optimizer, fresh state every round.",
            {.choices = {"adamw", "sgd"}}),
      param("local.weight_decay", &C::local, &LocalConfig::weight_decay, "Decoupled (AdamW) or L2 (SGD) weight decay.",
            {.min = 0}),
      param("local.momentum", &C::local, &LocalConfig::momentum, "SGD momentum.", {.min = 0, .max = 1}),
      param("local.grad_clip", &C::local, &LocalConfig::grad_clip, "Max global gradient norm; 0 disables clipping.",
            {.min = 0}),
      param("local.lr_schedule", &C::local, &LocalConfig::lr_schedule,
            "Learning rate across rounds: cosine decay (as FedVLMBench) or constant.",
            {.choices = {"cosine", "constant"}}),
      param("local.min_lr_ratio", &C::local, &LocalConfig::min_lr_ratio, "Cosine floor as a fraction of local.lr.", unit),
      // [eval]
      param("eval.every", &C::eval, &EvalConfig::every, "Evaluate every N rounds (and after the last); 0: only at the end.",
            non_negative),
      param("eval.batch_size", &C::eval, &EvalConfig::batch_size, "Generation batch size.", positive),
      param("eval.max_new_tokens", &C::eval, &EvalConfig::max_new_tokens, "Longest generated answer.", positive),
      // [checkpoint]
      param("checkpoint.every", &C::checkpoint, &CheckpointConfig::every,
            "Checkpoint every N rounds; 0: only at the end and on SIGTERM/SIGUSR1.", non_negative),
      param("checkpoint.keep", &C::checkpoint, &CheckpointConfig::keep, "Most recent checkpoints kept.", positive),
      // [pretrain]
      param("pretrain.vision_steps", &C::pretrain, &PretrainConfig::vision_steps,
            "Vision encoder pretraining steps on the public split.", non_negative),
      param("pretrain.lm_steps", &C::pretrain, &PretrainConfig::lm_steps,
            "Language model pretraining steps on the public split's text.", non_negative),
      param("pretrain.batch_size", &C::pretrain, &PretrainConfig::batch_size, "Pretraining batch size.", positive),
      param("pretrain.lr", &C::pretrain, &PretrainConfig::lr, "Pretraining learning rate.", {.min = 0}),
      param("pretrain.flip", &C::pretrain, &PretrainConfig::flip,
            "Vision phase: mirror each image left-right with probability 1/2 (label-preserving augmentation)."),
      param("pretrain.shift", &C::pretrain, &PretrainConfig::shift,
            "Vision phase: translate each image by a random whole number of pixels in [-N, N] on each axis (zero "
            "padding, then a crop of the original size); boxes move with the image. 0: off.", non_negative),
      param("pretrain.dense_weight", &C::pretrain, &PretrainConfig::dense_weight,
            "Vision phase: weight of two per-patch losses added to the pooled class loss: each patch's class "
            "(the labeled item's class where the patch overlaps its box, background where the patch is empty) "
            "and, for patches whose centre lies in the box, the box edges' offsets from the patch centre "
            "(smooth L1). Teaches the encoder where items are (grounding). Their heads are not saved. 0: off.",
            {.min = 0}),
      param("pretrain.caption_steps", &C::pretrain, &PretrainConfig::caption_steps,
            "Image-caption phase, after the language phase: the public split's caption samples ('cap') train "
            "what carries the image to the decoder, with the model's own loss on the caption tokens. Encoder-free: "
            "the patch embedding and the decoder (Fuyu's pretraining); encoder-based: the connector alone, encoder "
            "and decoder frozen (LLaVA's stage 1). The base then holds that patch embedding or connector, and "
            "fine-tuning starts from it instead of drawing it from run.seed. 0: off (the base holds neither).",
            non_negative),
      // [run]
      param("run.dir", &C::run, &RunConfig::dir, "Parent directory of run directories."),
      param("run.name", &C::run, &RunConfig::name,
            "Run directory name under run.dir; empty: the config file's name (or 'run')."),
      param("run.seed", &C::run, &RunConfig::seed, "Seed of every random stream.", non_negative),
      param("run.threads", &C::run, &RunConfig::threads,
            "Torch intra-op threads per rank; 0: cores divided by the ranks on this node.", non_negative),
      param("run.parallel_clients", &C::run, &RunConfig::parallel_clients,
            "Clients a rank trains at once, each on its own thread and model replica (which share the rank's "
            "never-trained weights); they split run.threads. Results do not depend on it.", positive),
      param("run.batched_clients", &C::run, &RunConfig::batched_clients,
            "Clients trained together in one forward and backward pass: their connectors and LoRA adapters are "
            "stacked and applied as batched matrix products over each client's rows, the frozen encoder and "
            "decoder run once for all. Clients with the same number of local steps are batched. Each client's "
            "update equals training it alone up to float rounding. finetune.strategy = full trains one client "
            "at a time. Composes with run.parallel_clients (each thread trains a batch of clients).", positive),
      param("run.device", &C::run, &RunConfig::device, "Where ranks compute: cpu, cuda (one GPU per rank), auto.",
            {.choices = {"cpu", "cuda", "auto"}}),
      param("run.precision", &C::run, &RunConfig::precision,
            "Arithmetic of the local training forward pass: fp32, or bf16 (CUDA autocast: matrix products in "
            "bfloat16, weights, gradients and the optimizer in fp32). bf16 needs run.device = cuda, or auto on a "
            "GPU machine; on the CPU it is refused.", {.choices = {"fp32", "bf16"}}),
      param("run.comm", &C::run, &RunConfig::comm, "Communicator backend: auto (MPI under a launcher), local, mpi, nccl.",
            {.choices = {"auto", "local", "mpi", "nccl"}}),
      param("run.log_level", &C::run, &RunConfig::log_level, "Console log level of rank 0.",
            {.choices = {"trace", "debug", "info", "warn", "error"}}),
      param("run.progress_seconds", &C::run, &RunConfig::progress_seconds, "Minimum seconds between progress lines.",
            non_negative),
      param("run.client_cache_mb", &C::run, &RunConfig::client_cache_mb,
            "MB of client training data a rank keeps in memory (least recently used first out); a rank caches "
            "only the clients it is home to. Results do not depend on it.", non_negative),
      param("run.client_state_mb", &C::run, &RunConfig::client_state_mb,
            "MB of per-client algorithm state (SCAFFOLD's controls) a rank keeps in memory; the rest spills to "
            "<run>/client-states/rank-N.spill. A rank keeps the states of its home clients only. Results do not "
            "depend on it.", non_negative),
  };
}

}  // namespace

std::vector<Param>& mutable_schema() {
  static std::vector<Param> params = build_schema();
  return params;
}

const std::vector<Param>& schema() { return mutable_schema(); }

const Param* find_param(const std::string& key) {
  for (const auto& p : schema())
    if (p.key == key) return &p;
  return nullptr;
}

Type type_of(const Value& value) {
  switch (value.index()) {
    case 0: return Type::Int;
    case 1: return Type::Float;
    case 2: return Type::Bool;
    case 3: return Type::String;
    default: return Type::StringList;
  }
}

const char* type_name(Type type) {
  switch (type) {
    case Type::Int: return "integer";
    case Type::Float: return "number";
    case Type::Bool: return "boolean";
    case Type::String: return "string";
    case Type::StringList: return "list of strings";
  }
  return "?";
}

}  // namespace fedvlm::config_detail
