#include "fedvlm/sim/setup.hpp"

#include <dlfcn.h>

#include <cstdlib>
#include <thread>

#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/model/checkpoint.hpp"
#include "fedvlm/model/frozen_weights.hpp"
#include "fedvlm/model/strategy.hpp"
#include "fedvlm/model/hf/hf_vlm.hpp"

namespace fedvlm::sim {
namespace {

int env_int(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::atoi(value) : fallback;
}

int local_size() { return std::max(1, env_int("OMPI_COMM_WORLD_LOCAL_SIZE", env_int("SLURM_NTASKS_PER_NODE", 1))); }

// The tokenizer files of a Hugging Face model directory, in the order fedvlm prefers them.
std::filesystem::path hf_tokenizer_file(const std::filesystem::path& directory) {
  for (const char* name : {"tokenizer.json", "tokenizer.model"})
    if (std::filesystem::is_regular_file(directory / name)) return directory / name;
  return {};
}

// A model's token ids mean nothing with another tokenizer: the dataset must have been prepared
// with the directory's own (fedvlm-prep ... --tokenizer DIR/tokenizer.model).
void check_hf_tokenizer(const std::filesystem::path& directory, const data::Tokenizer& dataset_tokenizer,
                        const std::string& data_path) {
  const auto file = hf_tokenizer_file(directory);
  if (file.empty()) {
    log::warn("model.base {} has no tokenizer.json or tokenizer.model: cannot check that {} was tokenized with "
              "the model's tokenizer",
              directory.string(), data_path);
    return;
  }
  if (data::Tokenizer::from_file(file).serialized() != dataset_tokenizer.serialized())
    throw InputError(fmt::format("data.path = \"{}\" was tokenized with another tokenizer than model.base's {}; "
                                 "prepare it with fedvlm-prep ... --tokenizer {}",
                                 data_path, file.string(), file.string()));
}

// model.base names a Hugging Face model directory (with model.vision_tower: its language model):
// config.json gives the shape, the configuration's model.* shape keys do not apply.
std::shared_ptr<model::VisionLanguageModel> load_hf_base(const Config& config, const data::DatasetInfo& info,
                                                         const data::Tokenizer& tokenizer) {
  const std::filesystem::path directory(config.model.base);
  check_hf_tokenizer(directory, tokenizer, config.data.path);
  const auto seed = static_cast<std::uint64_t>(config.run.seed);
  std::shared_ptr<model::VisionLanguageModel> model;
  if (config.model.vision_tower.empty()) {
    model = model::hf::load_hf_vlm(directory, config.lora, info.image_shape, tokenizer.vocab_size(), seed);
    log::info("loaded Hugging Face model {} (its config.json sets the shape; model.* shape keys are ignored)",
              directory.string());
  } else {
    if (!model::hf::is_hf_model_directory(config.model.vision_tower))
      throw InputError(fmt::format("model.vision_tower = \"{}\" is not a Hugging Face model directory (config.json + "
                                   "safetensors)", config.model.vision_tower));
    model = model::hf::load_hf_tower_and_decoder(config.model.vision_tower, directory, config.model.connector,
                                                 config.model.vision_select_layer, config.lora, info.image_shape,
                                                 tokenizer.vocab_size(), seed, config.model.projector);
    log::info("loaded Hugging Face vision tower {} and language model {}, {} connector {} (their config.json files "
              "set the shape; the other model.* shape keys are ignored)",
              config.model.vision_tower, directory.string(), config.model.connector,
              config.model.projector.empty() ? std::string("from run.seed") : "from " + config.model.projector);
  }
  model->decoder->set_gradient_checkpointing(config.model.gradient_checkpointing);
  return model;
}

}  // namespace

torch::Device choose_device(const std::string& device) {
  if (device == "cpu") return torch::kCPU;
  if (torch::cuda::is_available()) {
    const auto count = static_cast<int>(torch::cuda::device_count());
    // The GPU the nccl backend binds this rank to, too (comm/communicator.hpp).
    return {torch::kCUDA, static_cast<c10::DeviceIndex>(comm::cuda_device_for(comm::node_local_rank(), count))};
  }
  if (device == "cuda")
    throw InputError("run.device = \"cuda\" but this LibTorch build or machine has no CUDA device; use \"cpu\" or \"auto\"");
  return torch::kCPU;
}

int choose_threads(std::int64_t requested) {
  if (requested > 0) return static_cast<int>(requested);
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return std::max(1, cores / local_size());
}

// Debian's OpenBLAS (the pthreads build) keeps its own pool of one thread per core beside
// LibTorch's and serializes concurrent callers on it: with 2 torch threads, or 2 clients training
// at once, a round ran 2.3-2.5x slower here (docs/performance.md). fedvlm parallelizes over ranks,
// clients and torch's intra-op pool instead, so each BLAS call runs on its calling thread, unless
// OPENBLAS_NUM_THREADS says otherwise. Other BLAS builds do not export the symbol: nothing to do.
void use_calling_thread_blas() {
  if (const char* requested = std::getenv("OPENBLAS_NUM_THREADS"); requested && *requested) return;
  using SetThreads = void (*)(int);
  if (auto* set_threads = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads")))
    set_threads(1);
}

int configure_threads(std::int64_t requested) {
  const int threads = choose_threads(requested);
  torch::set_num_threads(threads);
  use_calling_thread_blas();
  return threads;
}

Workbench open_workbench(const Config& config) {
  configure_threads(config.run.threads);
  data::DatasetReader dataset(config.data.path);
  const auto& info = dataset.info();
  auto tokenizer = data::Tokenizer::from_serialized(info.tokenizer_model);
  model::SpecialTokens special{tokenizer.pad_id(), tokenizer.bos_id(), tokenizer.eos_id()};
  std::shared_ptr<model::VisionLanguageModel> model;
  if (model::hf::is_hf_model_directory(config.model.base)) {
    model = load_hf_base(config, info, tokenizer);
  } else if (!config.model.vision_tower.empty()) {
    throw InputError(fmt::format("model.vision_tower = \"{}\" pairs with a Hugging Face language model, but model.base = "
                                 "\"{}\" is not a Hugging Face model directory",
                                 config.model.vision_tower, config.model.base));
  } else {
    model = model::build_model(config.model, config.lora, info.image_shape, tokenizer.vocab_size(),
                               static_cast<std::uint64_t>(config.run.seed));
  }
  if (!config.model.base.empty() && !model::hf::is_hf_model_directory(config.model.base)) {
    const auto path = model::resolve_base_path(config.model.base);
    model::load_base_checkpoint(path, *model, info.tokenizer_model);
    log::info("loaded base checkpoint {}", path.string());
  }
  if (config.model.frozen_dtype == "bf16") {
    const auto trained = model::ever_trainable_set(*model, model::parse_strategy(config.finetune.strategy));
    const model::FrozenStorage frozen = model::store_frozen_weights(*model, trained, torch::kBFloat16);
    log::info("model.frozen_dtype = bf16: {} frozen weight tensors take {:.1f} MB instead of {:.1f} MB", frozen.tensors,
              frozen.bytes_after / 1e6, frozen.bytes_before / 1e6);
  }
  const torch::Device device = choose_device(config.run.device);
  model->to(device);
  return Workbench{std::move(dataset), std::move(tokenizer), special, device, std::move(model)};
}

}  // namespace fedvlm::sim
