// Configuration: one typed tree built from defaults, then a model preset, then TOML files
// (with `base = "other.toml"` inheritance), then `--set section.key=value` overrides.
// Every parameter is declared once, with its documentation: core's own in src/core/config_schema.cpp,
// those of the modules above (each FL algorithm's hyperparameters) next to their code, through
// core/config_registry.hpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <type_traits>
#include <variant>
#include <vector>

namespace fedvlm {

// One configuration value: integer, number, boolean, string or list of strings.
using ConfigValue = std::variant<std::int64_t, double, bool, std::string, std::vector<std::string>>;

struct DataConfig {
  std::string path = "data/fashion";  // dataset directory (meta.h5 + shard-*.h5)
  std::int64_t max_test_samples = 0;  // 0: the whole test split
};

struct ModelConfig {
  std::string preset = "tiny";        // configs/model/<preset>.toml, embedded in the binary, or a .toml path
  std::string base;                   // base checkpoint (file or pretrain run directory); empty: random init
  // A Hugging Face CLIP / SigLIP directory whose tower pairs with model.base = a Hugging Face
  // language model directory (a LLaVA-style model, connector from random); empty: none.
  std::string vision_tower;
  // With model.vision_tower: a safetensors file of a trained connector (model.mm_projector.*, as
  // LLaVA's stage 1 and fedvlm's export write it) to start from; empty: drawn from run.seed.
  std::string projector;
  std::string kind = "encoder";       // "encoder" (LLaVA-style) or "encoder-free" (Fuyu-style)
  std::string connector = "mlp2x_gelu";  // linear | mlp2x_gelu | mlp6x_gelu
  // Vision encoder (ViT)
  std::int64_t patch_size = 8;
  std::string vision_stem = "linear";  // patch embedding: "linear" (ViT) or "conv" (stride-2 3x3 convolutions)
  std::int64_t vision_dim = 96;
  std::int64_t vision_layers = 3;
  std::int64_t vision_heads = 4;
  std::int64_t vision_mlp_ratio = 4;
  std::int64_t vision_select_layer = -2;  // -1: last layer, -2: second-to-last (LLaVA)
  // Decoder LM (LLaMA-style)
  std::int64_t dim = 128;
  std::int64_t layers = 3;
  std::int64_t heads = 4;
  std::int64_t kv_heads = 2;
  std::int64_t ffn_dim = 344;
  std::int64_t max_seq_len = 160;
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;
  bool tie_embeddings = true;
  double dropout = 0.0;
  bool gradient_checkpointing = false;  // recompute decoder blocks in the backward pass (memory for time)
  std::string frozen_dtype = "fp32";   // storage of the weights the strategy never trains: fp32 | bf16
};

struct LoraConfig {
  std::int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.05;
  std::vector<std::string> targets = {"q", "k", "v", "o"};  // of q,k,v,o,gate,up,down
};

struct FinetuneConfig {
  std::string strategy = "F-CL";      // F-C | F-L | F-CL | F-2stage | full
  std::int64_t stage1_rounds = 5;     // F-2stage: rounds training the connector before LoRA
};

// The keys every FL algorithm shares. An algorithm's own hyperparameters (fl.prox_mu, fl.beta1, ...)
// are declared next to its code and read with Config::get.
struct FlConfig {
  std::string algorithm;              // a registered algorithm or baseline; its default is declared with them
  std::int64_t rounds = 10;
  std::int64_t clients_per_round = 0; // 0: full participation
  std::string weighting = "samples";  // samples | uniform
  double server_lr = 1.0;             // η_g, or η of the adaptive server optimizers (which declare their default)
  double max_update_norm = 0.0;       // a client update with ‖y − x‖ above this is left out; 0: no limit
  double max_bad_fraction = 0.5;      // the run stops when more of a cohort's updates are left out
  // DP-FedAvg (McMahan et al. 2018; fl/differential_privacy.hpp, docs/privacy.md)
  double dp_clip = 0.0;               // S: each client's ‖y − x‖ clipped to it; 0: DP off
  double dp_noise_multiplier = 0.0;   // z: Gaussian noise of std z·S on the sum of clipped updates
  double dp_delta = 1e-5;             // δ at which ε is reported
};

struct LocalConfig {
  std::int64_t epochs = 1;
  std::int64_t steps = 0;             // > 0: this many steps instead of epochs
  std::int64_t batch_size = 16;
  double lr = 2e-3;
  std::string optimizer = "adamw";    // adamw | sgd
  double weight_decay = 0.0;
  double momentum = 0.0;              // SGD momentum
  double grad_clip = 1.0;             // max global grad norm; 0: off
  std::string lr_schedule = "cosine"; // cosine (across rounds, as the paper) | constant
  double min_lr_ratio = 0.0;
};

struct EvalConfig {
  std::int64_t every = 5;             // rounds; 0: only at the end
  std::int64_t batch_size = 64;
  std::int64_t max_new_tokens = 16;
};

struct CheckpointConfig {
  std::int64_t every = 0;             // rounds; 0: only at the end and on SIGTERM/SIGUSR1
  std::int64_t keep = 2;              // most recent checkpoints kept
};

struct PretrainConfig {
  std::int64_t vision_steps = 300;
  std::int64_t lm_steps = 300;
  std::int64_t batch_size = 32;
  double lr = 2e-3;
  bool flip = false;                  // mirror images at random in the vision phase
  std::int64_t shift = 0;             // translate images by up to this many pixels in the vision phase
  double dense_weight = 0.0;          // weight of the per-patch class and box losses in the vision phase
  std::int64_t caption_steps = 0;     // image-caption phase: trains the image-token path (Fuyu / LLaVA stage 1)
};

struct RunConfig {
  std::string dir = "runs";           // runs/<name>/
  std::string name;                   // empty: derived from the config file name
  std::int64_t seed = 1;
  std::int64_t threads = 0;           // torch intra-op threads per rank; 0: cores / local ranks
  std::int64_t parallel_clients = 1;  // clients a rank trains at once (threads, model replicas)
  std::int64_t batched_clients = 1;   // clients one forward/backward pass trains (stacked adapters)
  std::string device = "cpu";         // cpu | cuda | auto
  std::string precision = "fp32";     // fp32 | bf16 (autocast of the training forward pass, CUDA only)
  std::string comm = "auto";          // auto | local | mpi | nccl
  std::string log_level = "info";
  std::int64_t progress_seconds = 10; // minimum seconds between progress lines
  double client_cache_mb = 512;       // client training data cached per rank (LRU by bytes)
  double client_state_mb = 1024;      // per-client algorithm state resident per rank; the rest spills
};

struct Config {
  DataConfig data;
  ModelConfig model;
  LoraConfig lora;
  FinetuneConfig finetune;
  FlConfig fl;
  LocalConfig local;
  EvalConfig eval;
  CheckpointConfig checkpoint;
  PretrainConfig pretrain;
  RunConfig run;

  // Values of the keys declared by modules above core (config_registry.hpp); a declared key
  // absent here has its declared default. Use get/set rather than this map.
  std::map<std::string, ConfigValue> declared;

  // Where each key's value came from ("default", "preset tiny", "a.toml:12", "--set"),
  // for error messages.
  std::map<std::string, std::string> origins;
  std::filesystem::path source;  // the top config file, if any

  // Any key's value, core's or declared ("fl.rounds", "fl.prox_mu"). Throws Error when the key
  // is unknown or T is not its type (std::int64_t, double, bool, std::string, std::vector<std::string>).
  template <class T>
  T get(const std::string& key) const;
  ConfigValue value(const std::string& key) const;
  // Sets any key (an integer is accepted for a number). Throws Error when the key is unknown or
  // the type differs; ranges are checked by validate().
  void set(const std::string& key, ConfigValue value);
};

namespace config_detail {
[[noreturn]] void throw_wrong_type(const std::string& key, const ConfigValue& value, const char* requested);
}

template <class T>
T Config::get(const std::string& key) const {
  ConfigValue v = value(key);
  if (auto* typed = std::get_if<T>(&v)) return std::move(*typed);
  if constexpr (std::is_same_v<T, std::int64_t>) config_detail::throw_wrong_type(key, v, "integer");
  else if constexpr (std::is_same_v<T, double>) config_detail::throw_wrong_type(key, v, "number");
  else if constexpr (std::is_same_v<T, bool>) config_detail::throw_wrong_type(key, v, "boolean");
  else if constexpr (std::is_same_v<T, std::string>) config_detail::throw_wrong_type(key, v, "string");
  else config_detail::throw_wrong_type(key, v, "list of strings");
}

struct ConfigSources {
  std::vector<std::filesystem::path> files;  // applied in order; each may name a `base`
  std::vector<std::string> overrides;        // "section.key=value", applied last
};

// Builds, then validates, the configuration. Throws InputError naming the file, line, key,
// value and the allowed range or choices; an unknown key is named with the closest known one.
Config load_config(const ConfigSources& sources);

// Cross-field checks (also run by load_config).
void validate(const Config& config);

// The fully resolved configuration as TOML, every key present, with its documentation.
std::string dump_config(const Config& config);

// docs/configuration.md's reference tables, generated from the declarations (core's and those
// registered so far: register the algorithms first, as `fedvlm config --reference` does).
std::string config_reference_markdown();

// All known keys ("section.key"), in declaration order.
std::vector<std::string> config_keys();

}  // namespace fedvlm
