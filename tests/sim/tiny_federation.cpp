#include "tiny_federation.hpp"

#include "fedvlm/core/rng.hpp"
#include "fedvlm/data/dataset.hpp"
#include "fedvlm/data/tokenizer.hpp"
#include "fedvlm/sim/algorithms.hpp"

namespace fedvlm::test_support {
namespace {

const std::vector<std::string> kClasses = {"top left", "top right", "bottom left", "bottom right"};

data::Samples make_samples(const data::Tokenizer& tokenizer, int count, Rng& rng) {
  data::Samples samples;
  samples.image_shape = {1, 16, 16};
  const auto prompt = tokenizer.encode("which corner is bright?");
  for (int i = 0; i < count; ++i) {
    const auto label = static_cast<int>(rng.below(4));
    std::vector<std::uint8_t> image(256, 0);
    const int row0 = label / 2 * 8, col0 = label % 2 * 8;
    for (int r = 0; r < 8; ++r)
      for (int c = 0; c < 8; ++c) image[(row0 + r) * 16 + col0 + c] = static_cast<std::uint8_t>(200 + rng.below(56));
    const auto answer = tokenizer.encode(kClasses[label]);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    samples.add(image, 0, prompt, answer, label, {nan, nan, nan, nan});
  }
  return samples;
}

}  // namespace

void write_tiny_federation(const std::filesystem::path& dir, int clients, data::SpecialIds ids) {
  std::vector<int> sizes;
  for (int c = 0; c < clients; ++c) sizes.push_back(6 + 3 * c);
  write_tiny_federation(dir, sizes, ids);
}

void write_tiny_federation(const std::filesystem::path& dir, const std::vector<int>& client_sizes,
                           data::SpecialIds ids) {
  const int clients = static_cast<int>(client_sizes.size());
  std::vector<std::string> texts;
  for (int i = 0; i < 20; ++i)
    for (const auto& text : kClasses) texts.push_back("which corner is bright? " + text);
  auto tokenizer = data::Tokenizer::train(texts, 40, 1, ids);
  data::DatasetInfo info;
  info.name = "tiny";
  info.tasks = {"cls"};
  info.class_names = kClasses;
  info.num_clients = clients;
  info.image_shape = {1, 16, 16};
  info.partition = {{"partition", "iid"}};
  info.tokenizer_model = tokenizer.serialized();
  Rng rng(7);
  data::DatasetWriter writer(dir, info, std::min(clients, 2), /*overwrite=*/true);
  writer.write_split("public", make_samples(tokenizer, 8, rng));
  writer.write_split("test", make_samples(tokenizer, 24, rng));
  for (int c = 0; c < clients; ++c) writer.write_client(c, make_samples(tokenizer, client_sizes[static_cast<std::size_t>(c)], rng));
  writer.commit();
}

Config tiny_config(const std::filesystem::path& data_dir, const std::filesystem::path& runs_dir,
                   const std::string& algorithm) {
  sim::register_algorithms();
  return load_config({.overrides = {
                          "data.path=" + data_dir.string(),
                          "run.dir=" + runs_dir.string(),
                          "run.name=" + algorithm,
                          "run.threads=1",
                          "fl.algorithm=" + algorithm,
                          "fl.rounds=3",
                          "fl.server_lr=" + std::string(algorithm == "fedadam" ? "0.01" : "1.0"),
                          "local.steps=2",
                          "local.batch_size=4",
                          "local.lr=0.01",
                          "model.patch_size=8",
                          "model.vision_dim=16",
                          "model.vision_layers=2",
                          "model.vision_heads=2",
                          "model.dim=32",
                          "model.layers=2",
                          "model.heads=2",
                          "model.kv_heads=1",
                          "model.ffn_dim=48",
                          "model.max_seq_len=48",
                          "lora.rank=2",
                          "lora.dropout=0",
                          "eval.every=0",
                          "eval.batch_size=8",
                          "eval.max_new_tokens=4",
                          "checkpoint.every=1",
                          "checkpoint.keep=10",
                      }});
}

}  // namespace fedvlm::test_support
