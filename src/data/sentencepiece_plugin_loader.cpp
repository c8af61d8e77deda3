#include <dlfcn.h>

#include <cstdlib>
#include <filesystem>
#include <vector>

#include "fedvlm/core/error.hpp"
#include "sentencepiece_plugin.hpp"

namespace fedvlm::data {
namespace fs = std::filesystem;
namespace {

constexpr const char* kPluginFile = "libfedvlm_sentencepiece.so";

std::vector<fs::path> candidate_paths() {
  std::vector<fs::path> paths;
  if (const char* env = std::getenv("FEDVLM_SENTENCEPIECE_PLUGIN"); env != nullptr && *env != '\0') paths.emplace_back(env);
#ifdef FEDVLM_SENTENCEPIECE_PLUGIN_PATH
  paths.emplace_back(FEDVLM_SENTENCEPIECE_PLUGIN_PATH);
#endif
  std::error_code error;
  fs::path executable = fs::read_symlink("/proc/self/exe", error);
  if (!error) {
    paths.push_back(executable.parent_path() / kPluginFile);
    paths.push_back(executable.parent_path() / ".." / "lib" / kPluginFile);
    paths.push_back(executable.parent_path() / ".." / kPluginFile);  // tests/ binaries beside the build root
  }
  return paths;
}

template <class Function>
void bind(void* library, const char* name, Function& target, const fs::path& path) {
  void* symbol = dlsym(library, name);
  if (symbol == nullptr) throw Error(fmt::format("{}: the SentencePiece plugin lacks {}", path.string(), name));
  target = reinterpret_cast<Function>(symbol);
}

SentencePiecePlugin load_plugin() {
  std::vector<std::string> tried;
  for (const fs::path& path : candidate_paths()) {
    if (!fs::exists(path)) {
      tried.push_back(path.string() + " (absent)");
      continue;
    }
    // RTLD_DEEPBIND: SentencePiece binds to its own bundled protobuf, not LibTorch's.
    void* library = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
    if (library == nullptr) {
      tried.push_back(path.string() + " (" + dlerror() + ")");
      continue;
    }
    SentencePiecePlugin plugin{};
    bind(library, "fedvlm_spm_train", plugin.train, path);
    bind(library, "fedvlm_spm_load", plugin.load, path);
    bind(library, "fedvlm_spm_destroy", plugin.destroy, path);
    bind(library, "fedvlm_spm_info", plugin.info, path);
    bind(library, "fedvlm_spm_encode", plugin.encode, path);
    bind(library, "fedvlm_spm_decode", plugin.decode, path);
    bind(library, "fedvlm_spm_piece", plugin.piece, path);
    bind(library, "fedvlm_spm_free", plugin.free, path);
    return plugin;  // never unloaded: tokenizers may live until exit
  }
  throw Error(fmt::format("cannot load the SentencePiece plugin {}; tried: {}. Set FEDVLM_SENTENCEPIECE_PLUGIN to its path.",
                          kPluginFile, fmt::join(tried, "; ")));
}

}  // namespace

const SentencePiecePlugin& sentencepiece_plugin() {
  static const SentencePiecePlugin plugin = load_plugin();  // thread-safe initialization
  return plugin;
}

}  // namespace fedvlm::data
