// fedvlm-hf-logits: a debugging aid for issue #15. Loads a Hugging Face model directory's
// language model into fedvlm's decoder (model/hf/hf_decoder.hpp) and prints its logits for
// token ids as JSON, {"logits": [B][T][vocab]}, positions 0..T-1, no padding. tools/hf-parity.py
// compares them with transformers'. With --peft-export OUT it first gives the decoder LoRA adapters
// (rank 4, alpha 8, on q, v and down) drawn N(0, 0.1) from a fixed seed, exports them to OUT as a
// PEFT adapter (model/hf/peft_export.hpp) and prints the logits with the adapters: tools/peft-parity.py
// compares them with PEFT's.
//
//   build/tests/fedvlm-hf-logits DIR 1,5,9,3 [2,7,1,4 ...] [--dtype fp32|fp16|bf16|fp64] [--peft-export OUT]
//
// Exit status 2 on a usage error, 1 on an InputError (its message on stderr).
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "fedvlm/core/error.hpp"
#include "fedvlm/model/hf/hf_decoder.hpp"
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

int usage(const std::string& why) {
  std::cerr << "fedvlm-hf-logits: " << why << "\nusage: fedvlm-hf-logits MODEL_DIR TOKENS [TOKENS ...] "
            << "[--dtype fp32|fp16|bf16|fp64] [--peft-export OUT]\n  TOKENS: comma-separated ids of one sequence (all of one length)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace fedvlm::model::hf;
  std::vector<std::string> args(argv + 1, argv + argc);
  HfDecoderOptions options;
  std::string directory, peft_export;
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
    const torch::Tensor logits =
        loaded.decoder->head(loaded.decoder->hidden(loaded.decoder->embed(tokens), positions, {})).to(torch::kFloat64);
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
    return 0;
  } catch (const fedvlm::InputError& e) {
    std::cerr << "fedvlm-hf-logits: " << e.what() << "\n";
    return 1;
  }
}
