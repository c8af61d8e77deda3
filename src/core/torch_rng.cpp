#include "fedvlm/core/torch_rng.hpp"

#include <ATen/CPUGeneratorImpl.h>

namespace fedvlm {

at::Generator torch_generator(const StreamKey& key) {
  return at::make_generator<at::CPUGeneratorImpl>(stream_seed(key));
}

}  // namespace fedvlm
