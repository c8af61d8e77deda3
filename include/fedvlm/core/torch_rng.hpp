// Torch generators from deterministic streams (see rng.hpp). Kept apart so that rng.hpp does
// not pull in LibTorch headers.
#pragma once

#include <ATen/core/Generator.h>

#include "fedvlm/core/rng.hpp"

namespace fedvlm {

// A CPU generator seeded from the stream key; pass it to torch::randn(..., generator) etc.
at::Generator torch_generator(const StreamKey& key);

}  // namespace fedvlm
