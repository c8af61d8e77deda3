// The SentencePiece plugin linked in, for the fuzz build only: it replaces
// src/data/sentencepiece_plugin_loader.cpp. The loader opens the plugin with
// dlopen(RTLD_DEEPBIND), which AddressSanitizer refuses; deep binding is there to keep
// SentencePiece's protobuf apart from LibTorch's, and the fuzz harnesses do not link LibTorch.
#include <cstdlib>

#include "sentencepiece_plugin.hpp"

extern "C" {
int fedvlm_spm_train(const char* const* texts, const std::size_t* lengths, std::size_t count, int vocab_size,
                     const int* special_ids, unsigned seed, char** model, std::size_t* model_size, char** error);
void* fedvlm_spm_load(const char* model, std::size_t size, char** error);
void fedvlm_spm_destroy(void* processor);
void fedvlm_spm_info(void* processor, int* values);
int fedvlm_spm_encode(void* processor, const char* text, std::size_t size, int** ids, std::size_t* count, char** error);
int fedvlm_spm_decode(void* processor, const int* ids, std::size_t count, char** text, std::size_t* size, char** error);
void fedvlm_spm_piece(void* processor, int id, char** text, std::size_t* size);
void fedvlm_spm_free(void* pointer);
}

namespace fedvlm::data {

const SentencePiecePlugin& sentencepiece_plugin() {
  static const SentencePiecePlugin plugin{fedvlm_spm_train,  fedvlm_spm_load,   fedvlm_spm_destroy, fedvlm_spm_info,
                                          fedvlm_spm_encode, fedvlm_spm_decode, fedvlm_spm_piece,   fedvlm_spm_free};
  return plugin;
}

}  // namespace fedvlm::data
