// The C ABI of the SentencePiece plugin (src/data/plugin/sentencepiece_plugin.cpp) and its
// loader. The plugin is a separate shared object, loaded with dlopen(RTLD_LOCAL | RTLD_DEEPBIND)
// because Debian's libsentencepiece exports a bundled protobuf 3.14 that crashes a process
// which also loads LibTorch's protobuf 3.21. Search order for the plugin file:
//   1. $FEDVLM_SENTENCEPIECE_PLUGIN (a path),
//   2. the path the build compiled in (FEDVLM_SENTENCEPIECE_PLUGIN_PATH),
//   3. libfedvlm_sentencepiece.so beside the executable, then in ../lib/ relative to it.
#pragma once

#include <cstddef>
#include <string>

namespace fedvlm::data {

struct SentencePiecePlugin {
  // special_ids: pad, bos, eos, unk (-1: none)
  int (*train)(const char* const* texts, const std::size_t* lengths, std::size_t count, int vocab_size,
               const int* special_ids, unsigned seed, char** model, std::size_t* model_size, char** error);
  void* (*load)(const char* model, std::size_t size, char** error);
  void (*destroy)(void* processor);
  void (*info)(void* processor, int* values);  // pieces, pad, bos, eos, unk (-1: none)
  int (*encode)(void* processor, const char* text, std::size_t size, int** ids, std::size_t* count, char** error);
  int (*decode)(void* processor, const int* ids, std::size_t count, char** text, std::size_t* size, char** error);
  void (*piece)(void* processor, int id, char** text, std::size_t* size);
  void (*free)(void* pointer);

  // Copies and releases a plugin-owned message (with the plugin's own free).
  std::string take_string(char* text) const {
    if (text == nullptr) return "unknown error";
    std::string out(text);
    free(text);
    return out;
  }
};

// Loads the plugin on first use (thread-safe); throws fedvlm::Error naming every path tried.
const SentencePiecePlugin& sentencepiece_plugin();

}  // namespace fedvlm::data
