// The SentencePiece plugin: a shared object that the Tokenizer loads with dlopen(RTLD_LOCAL |
// RTLD_DEEPBIND). Why: Debian's libsentencepiece bundles its own protobuf 3.14 and exports
// those google::protobuf symbols, while LibTorch links the system protobuf 3.21; linked into
// one process the two copies interpose each other and the program crashes during static
// initialization. Loaded locally with deep binding, SentencePiece sees only its own protobuf.
// Only a C ABI crosses the boundary; every output buffer is malloc'ed here and released with
// fedvlm_spm_free.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

char* copy_out(const std::string& text, std::size_t* size = nullptr) {
  char* out = static_cast<char*>(std::malloc(text.size() + 1));
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  if (size != nullptr) *size = text.size();
  return out;
}

int fail(const sentencepiece::util::Status& status, char** error) {
  if (error != nullptr) *error = copy_out(status.ToString());
  return -1;
}

class TextIterator : public sentencepiece::SentenceIterator {
 public:
  TextIterator(const char* const* texts, const std::size_t* lengths, std::size_t count)
      : texts_(texts), lengths_(lengths), count_(count) { load(); }
  bool done() const override { return index_ >= count_; }
  void Next() override {
    ++index_;
    load();
  }
  const std::string& value() const override { return current_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void load() {
    if (index_ < count_) current_.assign(texts_[index_], lengths_[index_]);
  }
  const char* const* texts_;
  const std::size_t* lengths_;
  std::size_t count_, index_ = 0;
  std::string current_;
};

// No exception may cross the C ABI, and SentencePiece throws some: darts_clone refuses a
// corrupt model's piece that starts with a NUL byte with Darts::Details::Exception (found by
// tests/fuzz/fuzz_dataset_fields). Returns -1 with the message in *error.
template <class Body>
int guarded(char** error, Body&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    if (error != nullptr) *error = copy_out(std::string("SentencePiece threw: ") + e.what());
  } catch (...) {
    if (error != nullptr) *error = copy_out("SentencePiece threw an exception of unknown type");
  }
  return -1;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) void fedvlm_spm_free(void* pointer) { std::free(pointer); }

__attribute__((visibility("default"))) int fedvlm_spm_train(const char* const* texts, const std::size_t* lengths,
                                                            std::size_t count, int vocab_size,
                                                            const int* special_ids, unsigned seed,
                                                            char** model, std::size_t* model_size, char** error) {
  const std::unordered_map<std::string, std::string> options = {
      {"model_type", "unigram"},        {"vocab_size", std::to_string(vocab_size)},
      {"split_digits", "true"},         {"byte_fallback", "false"},
      {"character_coverage", "1.0"},    {"hard_vocab_limit", "false"},
      {"pad_id", std::to_string(special_ids[0])}, {"bos_id", std::to_string(special_ids[1])},
      {"eos_id", std::to_string(special_ids[2])}, {"unk_id", std::to_string(special_ids[3])},
      {"num_threads", "1"},             {"minloglevel", "2"},  // quiet; one thread keeps training deterministic
      {"max_sentence_length", "65536"}, {"model_prefix", ""}};
  return guarded(error, [&] {
    sentencepiece::SetRandomGeneratorSeed(seed);
    TextIterator iterator(texts, lengths, count);
    std::string serialized;
    auto status = sentencepiece::SentencePieceTrainer::Train(options, &iterator, &serialized);
    if (!status.ok()) return fail(status, error);
    *model = copy_out(serialized, model_size);
    return 0;
  });
}

__attribute__((visibility("default"))) void* fedvlm_spm_load(const char* model, std::size_t size, char** error) {
  void* loaded = nullptr;
  guarded(error, [&] {
    auto processor = std::make_unique<sentencepiece::SentencePieceProcessor>();
    auto status = processor->LoadFromSerializedProto(std::string_view(model, size));
    if (!status.ok()) return fail(status, error);
    loaded = processor.release();
    return 0;
  });
  return loaded;
}

__attribute__((visibility("default"))) void fedvlm_spm_destroy(void* handle) {
  delete static_cast<sentencepiece::SentencePieceProcessor*>(handle);
}

// pieces, pad, bos, eos, unk; -1 for a special piece the model lacks
__attribute__((visibility("default"))) void fedvlm_spm_info(void* handle, int* values) {
  auto* p = static_cast<sentencepiece::SentencePieceProcessor*>(handle);
  values[0] = p->GetPieceSize();
  values[1] = p->pad_id();
  values[2] = p->bos_id();
  values[3] = p->eos_id();
  values[4] = p->unk_id();
}

__attribute__((visibility("default"))) int fedvlm_spm_encode(void* handle, const char* text, std::size_t size,
                                                             int** ids, std::size_t* count, char** error) {
  return guarded(error, [&] {
    std::vector<int> out;
    auto status = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Encode(std::string_view(text, size), &out);
    if (!status.ok()) return fail(status, error);
    *ids = static_cast<int*>(std::malloc(std::max<std::size_t>(out.size(), 1) * sizeof(int)));
    std::memcpy(*ids, out.data(), out.size() * sizeof(int));
    *count = out.size();
    return 0;
  });
}

__attribute__((visibility("default"))) int fedvlm_spm_decode(void* handle, const int* ids, std::size_t count,
                                                             char** text, std::size_t* size, char** error) {
  return guarded(error, [&] {
    std::string out;
    auto status = static_cast<sentencepiece::SentencePieceProcessor*>(handle)->Decode(std::vector<int>(ids, ids + count), &out);
    if (!status.ok()) return fail(status, error);
    *text = copy_out(out, size);
    return 0;
  });
}

__attribute__((visibility("default"))) void fedvlm_spm_piece(void* handle, int id, char** text, std::size_t* size) {
  *text = copy_out(static_cast<sentencepiece::SentencePieceProcessor*>(handle)->IdToPiece(id), size);
}

}  // extern "C"
