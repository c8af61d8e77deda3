#include "fedvlm/core/torch_rng.hpp"

#include <ATen/CPUGeneratorImpl.h>

#include <mutex>

namespace fedvlm {

at::Generator torch_generator(const StreamKey& key) {
  return at::make_generator<at::CPUGeneratorImpl>(stream_seed(key));
}

void reseed(at::Generator& generator, const StreamKey& key) {
  if (!generator.defined()) {
    generator = torch_generator(key);
    return;
  }
  at::check_generator<at::CPUGeneratorImpl>(generator);
  std::lock_guard<std::mutex> lock(generator.mutex());
  generator.set_current_seed(stream_seed(key));  // a fresh engine and no cached normal sample
}

}  // namespace fedvlm
