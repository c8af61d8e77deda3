// fedvlm-hf-logits: a debugging aid for issue #15. Loads a Hugging Face model directory's
// language model into fedvlm's decoder (model/hf/hf_decoder.hpp) and prints its logits for
// token ids as JSON, {"logits": [B][T][vocab]}, positions 0..T-1, no padding. tools/hf-parity.py
// compares them with transformers'. With --peft-export OUT it first gives the decoder LoRA adapters
// (rank 4, alpha 8, on q, v and down) drawn N(0, 0.1) from a fixed seed, exports them to OUT as a
// PEFT adapter (model/hf/peft_export.hpp) and prints the logits with the adapters: tools/peft-parity.py
// compares them with PEFT's. With --images FILE (JSON {"images": uint8 [B][C][H][W]}) DIR is a LLaVA
// directory: the whole model (model/hf/hf_vlm.hpp) runs [image tokens][TOKENS] for each image, its
// processor included, and the logits are those of the text positions.
//
//   build/tests/fedvlm-hf-logits DIR 1,5,9,3 [2,7,1,4 ...] [--dtype fp32|fp16|bf16|fp64] [--peft-export OUT]
//   build/tests/fedvlm-hf-logits LLAVA_DIR 1,5,9,3 2,7,1,4 --images images.json
//
// Exit status 2 on a usage error, 1 on an InputError (its message on stderr).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/hf/hf_decoder.hpp"
#include "fedvlm/model/batch.hpp"
#include "fedvlm/model/hf/hf_vlm.hpp"
#include "fedvlm/model/hf/peft_export.hpp"

namespace {

std::vector<std::int64_t> parse_tokens(const std::string& text) {
  std::vector<std::int64_t> tokens;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, end - start);
    std::size_t used = 0;
    const long long value = std::stoll(item, &used);
    if (used != item.size() || value < 0) throw std::invalid_argument(item);
    tokens.push_back(value);
    start = end + 1;
  }
  return tokens;
}

// {"images": uint8 [B][C][H][W]} as the trainer collates images: float in [-1, 1].
torch::Tensor read_images(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fedvlm::InputError(fmt::format("{}: cannot read", path));
  std::ostringstream text;
  text << in.rdbuf();
  const nlohmann::json images = nlohmann::json::parse(text.str()).at("images");
  std::vector<std::int64_t> shape;
  for (const nlohmann::json* level = &images; level->is_array(); level = &(*level)[0]) shape.push_back(level->size());
  if (shape.size() != 4) throw fedvlm::InputError(fmt::format("{}: images must be [B][C][H][W]", path));
  std::vector<float> values;
  for (const auto& image : images)
    for (const auto& channel : image)
      for (const auto& row : channel)
        for (const auto& pixel : row) values.push_back(pixel.get<float>());
  return torch::tensor(values).view(shape).div(255.0).mul(2.0).sub(1.0);
}

void print_logits(const torch::Tensor& logits_any) {
  const torch::Tensor logits = logits_any.to(torch::kFloat64).contiguous();
  const auto values = logits.accessor<double, 3>();
  std::string out = "{\"logits\": [";
  for (std::int64_t b = 0; b < logits.size(0); ++b) {
    out += b ? ", [" : "[";
    for (std::int64_t t = 0; t < logits.size(1); ++t) {
      out += t ? ", [" : "[";
      for (std::int64_t v = 0; v < logits.size(2); ++v) out += fmt::format("{}{:.9g}", v ? ", " : "", values[b][t][v]);
      out += "]";
    }
    out += "]";
  }
  out += "]}\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

int usage(const std::string& why) {
  std::cerr << "fedvlm-hf-logits: " << why << "\nusage: fedvlm-hf-logits MODEL_DIR TOKENS [TOKENS ...] "
            << "[--dtype fp32|fp16|bf16|fp64] [--peft-export OUT] [--images IMAGES.json]\n  TOKENS: comma-separated ids of one sequence (all of one length)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedvlm::model::hf;
  std::vector<std::string> args(argv + 1, argv + argc);
  HfDecoderOptions options;
  std::string directory, peft_export, images;
  std::vector<std::vector<std::int64_t>> sequences;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--dtype" && i + 1 < args.size()) {
      const std::string& name = args[++i];
      if (name == "fp32") options.dtype = torch::kFloat32;
      else if (name == "fp16") options.dtype = torch::kFloat16;
      else if (name == "bf16") options.dtype = torch::kBFloat16;
      else if (name == "fp64") options.dtype = torch::kFloat64;
      else return usage("unknown --dtype " + name);
    } else if (args[i] == "--peft-export" && i + 1 < args.size()) {
      peft_export = args[++i];
    } else if (args[i] == "--images" && i + 1 < args.size()) {
      images = args[++i];
    } else if (directory.empty()) {
      directory = args[i];
    } else {
      try {
        sequences.push_back(parse_tokens(args[i]));
      } catch (const std::exception&) {
        return usage("not a list of token ids: " + args[i]);
      }
      if (sequences.back().size() != sequences.front().size()) return usage("sequences of different lengths");
    }
  }
  if (directory.empty() || sequences.empty()) return usage("give a model directory and token ids");
  try {
    if (!images.empty()) {
      if (!peft_export.empty()) return usage("--images and --peft-export do not go together");
      const torch::Tensor pixels = read_images(images);
      if (pixels.size(0) != static_cast<std::int64_t>(sequences.size()))
        return usage(fmt::format("{} images for {} sequences", pixels.size(0), sequences.size()));
      const fedvlm::data::ImageShape shape{pixels.size(1), pixels.size(2), pixels.size(3)};
      const auto config = read_hf_text_config(directory);
      const auto vlm = load_hf_vlm(directory, fedvlm::LoraConfig{0, 0.0, 0.0, {}}, shape, config.vocab_size, 1);
      std::vector<torch::Tensor> rows;
      for (const auto& tokens : sequences) rows.push_back(torch::tensor(tokens, torch::kInt64));
      fedvlm::model::Batch batch;
      batch.images = pixels;
      batch.tokens = torch::stack(rows);
      batch.attention_mask = torch::ones_like(batch.tokens, torch::kBool);
      torch::NoGradGuard no_grad;
      print_logits(vlm->logits(batch));
      return 0;
    }
    if (!peft_export.empty()) options.lora = {4, 8.0, 0.0, {"q", "v", "down"}};
    HfDecoder loaded = load_hf_decoder(directory, options);
    if (!peft_export.empty()) {
      torch::NoGradGuard no_grad;
      torch::manual_seed(7);
      for (auto& item : loaded.decoder->named_parameters())
        if (item.key().ends_with(".lora_a") || item.key().ends_with(".lora_b")) item.value().normal_(0.0, 0.1);
      const HfTextConfig& config = loaded.config;
      const auto mapping = decoder_mapping(config, decoder_layout(config, SafetensorsCheckpoint(directory)));
      export_peft_adapter(*loaded.decoder, mapping, options.lora, {}, directory, peft_export);
    }
    std::vector<torch::Tensor> rows;
    for (const auto& tokens : sequences) {
      for (const std::int64_t id : tokens) {
        if (id >= loaded.shape.vocab_size) {
          throw fedvlm::InputError(fmt::format("token id {} is outside the vocabulary ({} ids)", id, loaded.shape.vocab_size));
        }
      }
      rows.push_back(torch::tensor(tokens, torch::kInt64));
    }
    torch::NoGradGuard no_grad;
    const torch::Tensor tokens = torch::stack(rows);
    const torch::Tensor positions = torch::arange(tokens.size(1), torch::kInt64).unsqueeze(0).expand_as(tokens);
    print_logits(loaded.decoder->head(loaded.decoder->hidden(loaded.decoder->embed(tokens), positions, {})));
    return 0;
  } catch (const fedvlm::InputError& e) {
    std::cerr << "fedvlm-hf-logits: " << e.what() << "\n";
    return 1;
  }
}
