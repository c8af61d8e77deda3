#include "fedvlm/model/checkpoint.hpp"

#include <algorithm>

#include "fedvlm/core/archive_io.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/fs.hpp"
#include "fedvlm/core/text.hpp"
#include "fedvlm/model/flat_view.hpp"
#include "fedvlm/model/vlm.hpp"

namespace fedvlm::model {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kVersion = 1;

void write_header(torch::serialize::OutputArchive& archive, const std::string& format, const ConfigFields& config) {
  archive.write("format", c10::IValue(format));
  archive.write("version", c10::IValue(kVersion));
  for (const auto& [key, value] : config) archive.write("config." + key, c10::IValue(value));
}

std::string read_string(torch::serialize::InputArchive& archive, const fs::path& path, const std::string& key) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isString()) {
    throw InputError(fmt::format("checkpoint {} has no \"{}\" entry: not a fedvlm checkpoint, or damaged",
                                 path.string(), key));
  }
  return value.toStringRef();
}

// What a field missing from a checkpoint means: fields added after version 1 was fixed read as
// the behaviour that came before them, so older bases stay loadable.
std::string absent_value(const std::string& key) {
  if (key == "model.vision_stem") return "linear";
  return "(absent)";
}

torch::serialize::InputArchive open_archive(const fs::path& path) {
  if (!fs::is_regular_file(path)) throw InputError(fmt::format("checkpoint {} does not exist", path.string()));
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path.string(), torch::kCPU);
  } catch (const c10::Error& error) {
    throw InputError(fmt::format("cannot read checkpoint {}: {}", path.string(), error.what_without_backtrace()));
  }
  return archive;
}

bool names_a_connector(const std::string& name) {
  return name.starts_with("connector.") || name.starts_with("patch_embedding.");
}

// Opens `path`, checks its format and that its config fields equal `expected`.
torch::serialize::InputArchive open_checked(const fs::path& path, const std::string& format,
                                            const ConfigFields& expected) {
  auto archive = open_archive(path);
  const auto found_format = read_string(archive, path, "format");
  if (found_format != format) {
    throw InputError(fmt::format("checkpoint {} is a \"{}\" file, expected \"{}\"", path.string(), found_format, format));
  }
  c10::IValue version;
  archive.read("version", version);
  if (version.toInt() != kVersion) {
    throw InputError(fmt::format("checkpoint {} has version {}, this build reads version {}", path.string(),
                                 version.toInt(), kVersion));
  }
  std::vector<std::string> mismatches;
  for (const auto& [key, value] : expected) {
    c10::IValue stored;
    const bool present = archive.try_read("config." + key, stored) && stored.isString();
    const std::string found = present ? stored.toStringRef() : absent_value(key);
    if (found != value) mismatches.push_back(fmt::format("{}: expected {}, found {}", key, value, found));
  }
  if (!mismatches.empty()) {
    throw InputError(fmt::format("checkpoint {} was written for a different model: {}", path.string(),
                                 join(mismatches, "; ")));
  }
  return archive;
}

}  // namespace

ConfigFields base_config_fields(const VisionLanguageModel& model) {
  const auto& m = model.model_config();
  const auto& shape = model.image_shape();
  ConfigFields fields = {
      {"model.kind", m.kind},
      {"image_shape", fmt::format("{}x{}x{}", shape.channels, shape.height, shape.width)},
      {"vocab_size", std::to_string(model.vocab_size())},
      {"model.patch_size", std::to_string(m.patch_size)},
      {"model.dim", std::to_string(m.dim)},
      {"model.layers", std::to_string(m.layers)},
      {"model.heads", std::to_string(m.heads)},
      {"model.kv_heads", std::to_string(m.kv_heads)},
      {"model.ffn_dim", std::to_string(m.ffn_dim)},
      {"model.rope_theta", fmt::format("{}", m.rope_theta)},
      {"model.norm_eps", fmt::format("{}", m.norm_eps)},
      {"model.tie_embeddings", m.tie_embeddings ? "true" : "false"},
  };
  if (!model.encoder_free()) {
    fields["model.vision_dim"] = std::to_string(m.vision_dim);
    fields["model.vision_layers"] = std::to_string(m.vision_layers);
    fields["model.vision_heads"] = std::to_string(m.vision_heads);
    fields["model.vision_mlp_ratio"] = std::to_string(m.vision_mlp_ratio);
    fields["model.vision_select_layer"] = std::to_string(m.vision_select_layer);
    fields["model.vision_stem"] = m.vision_stem;
  }
  return fields;
}

ConfigFields finetune_config_fields(const VisionLanguageModel& model) {
  auto fields = base_config_fields(model);
  const auto& lora = model.lora_config();
  if (!model.encoder_free()) fields["model.connector"] = model.model_config().connector;
  fields["lora.rank"] = std::to_string(lora.rank);
  fields["lora.alpha"] = fmt::format("{}", lora.alpha);
  fields["lora.targets"] = join(lora.targets, ",");
  return fields;
}

fs::path resolve_base_path(const std::string& base) {
  const fs::path path(base);
  return fs::is_directory(path) ? path / "base.pt" : path;
}

void save_base_checkpoint(const fs::path& path, VisionLanguageModel& model, std::span<const std::uint8_t> tokenizer_model,
                          bool with_connector) {
  const auto groups = model.parameter_groups();
  NamedParameters stored = groups.vision;
  if (with_connector) stored.insert(stored.end(), groups.connector.begin(), groups.connector.end());
  stored.insert(stored.end(), groups.decoder.begin(), groups.decoder.end());
  torch::serialize::OutputArchive archive;
  auto fields = base_config_fields(model);
  if (with_connector && !model.encoder_free()) fields["model.connector"] = model.model_config().connector;
  write_header(archive, "fedvlm-base", fields);
  std::vector<std::string> names;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    names.push_back(stored[i].first);
    archive.write(fmt::format("t{}", i), stored[i].second.detach().to(torch::kCPU));
  }
  archive.write("names", c10::IValue(join(names, "\n")));
  auto tokenizer = torch::empty({static_cast<std::int64_t>(tokenizer_model.size())}, torch::kUInt8);
  std::copy(tokenizer_model.begin(), tokenizer_model.end(), tokenizer.data_ptr<std::uint8_t>());
  archive.write("tokenizer", tokenizer);
  save_archive(path, archive);
}

std::vector<std::uint8_t> load_base_checkpoint(const fs::path& file_or_dir, VisionLanguageModel& model,
                                               std::span<const std::uint8_t> expected_tokenizer) {
  const auto path = resolve_base_path(file_or_dir.string());
  auto archive = open_checked(path, "fedvlm-base", base_config_fields(model));
  torch::Tensor tokenizer;
  archive.read("tokenizer", tokenizer);
  std::vector<std::uint8_t> bytes(tokenizer.data_ptr<std::uint8_t>(), tokenizer.data_ptr<std::uint8_t>() + tokenizer.numel());
  if (!expected_tokenizer.empty() && !std::equal(bytes.begin(), bytes.end(), expected_tokenizer.begin(), expected_tokenizer.end())) {
    throw InputError(fmt::format("checkpoint {} was pretrained with a different tokenizer than the dataset's "
                                 "({} vs {} bytes of SentencePiece model); pretrain on this dataset",
                                 path.string(), bytes.size(), expected_tokenizer.size()));
  }
  const auto names = split_lines(read_string(archive, path, "names"));
  const bool holds_connector = std::any_of(names.begin(), names.end(), names_a_connector);
  if (holds_connector && !model.encoder_free()) {
    c10::IValue stored;
    const std::string found = archive.try_read("config.model.connector", stored) && stored.isString()
                                  ? stored.toStringRef() : std::string("(absent)");
    if (found != model.model_config().connector) {
      throw InputError(fmt::format("checkpoint {} holds a pretrained connector of model.connector = \"{}\"; this model's "
                                   "is \"{}\" (set model.connector = \"{}\", or use a base without a connector)",
                                   path.string(), found, model.model_config().connector, found));
    }
  }
  auto parameters = model.named_parameters();
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto* target = parameters.find(names[i]);
    if (target == nullptr) throw InputError(fmt::format("checkpoint {} holds {}, unknown to this model", path.string(), names[i]));
    torch::Tensor value;
    archive.read(fmt::format("t{}", i), value);
    FEDVLM_CHECK(value.sizes() == target->sizes(), "checkpoint {}: {} has shape {}, the model {}", path.string(),
                 names[i], c10::str(value.sizes()), c10::str(target->sizes()));
    target->copy_(value);
  }
  return bytes;
}

bool base_holds_connector(const fs::path& file_or_dir) {
  const auto path = resolve_base_path(file_or_dir.string());
  auto archive = open_archive(path);
  const auto names = split_lines(read_string(archive, path, "names"));
  return std::any_of(names.begin(), names.end(), names_a_connector);
}

}  // namespace fedvlm::model
