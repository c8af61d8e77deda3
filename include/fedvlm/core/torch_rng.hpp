// Torch generators from deterministic streams (see rng.hpp). Kept apart so that rng.hpp does
// not pull in LibTorch headers.
#pragma once

#include <ATen/core/Generator.h>

#include "fedvlm/core/rng.hpp"

namespace fedvlm {

// A CPU generator seeded from the stream key; pass it to torch::randn(..., generator) etc.
at::Generator torch_generator(const StreamKey& key);

// Makes `generator` draw exactly what torch_generator(key) would, reusing its state in place:
// once per client, a new generator would cost a 2.5 KB allocation (and the heap consolidation
// that the first large allocation after a backward pass triggers).
void reseed(at::Generator& generator, const StreamKey& key);

}  // namespace fedvlm
