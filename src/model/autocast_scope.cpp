#include "fedvlm/model/autocast_scope.hpp"

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace fedvlm::model {
namespace {

// LibTorch 2.4 made autocast per device type and deprecated the CUDA-only calls of 1.x.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool cuda_enabled() { return at::autocast::is_autocast_enabled(at::kCUDA); }
void set_cuda_enabled(bool enabled) { at::autocast::set_autocast_enabled(at::kCUDA, enabled); }
c10::ScalarType cuda_dtype() { return at::autocast::get_autocast_dtype(at::kCUDA); }
void set_cuda_dtype(c10::ScalarType dtype) { at::autocast::set_autocast_dtype(at::kCUDA, dtype); }
#else
bool cuda_enabled() { return at::autocast::is_enabled(); }
void set_cuda_enabled(bool enabled) { at::autocast::set_enabled(enabled); }
c10::ScalarType cuda_dtype() { return at::autocast::get_autocast_gpu_dtype(); }
void set_cuda_dtype(c10::ScalarType dtype) { at::autocast::set_autocast_gpu_dtype(dtype); }
#endif

}  // namespace

bool AutocastScope::bf16_active() { return cuda_enabled() && cuda_dtype() == at::kBFloat16; }

AutocastScope::AutocastScope(bool bf16) : active_(bf16) {
  if (!active_) return;
  was_enabled_ = cuda_enabled();
  previous_dtype_ = cuda_dtype();
  set_cuda_enabled(true);
  set_cuda_dtype(at::kBFloat16);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  // As torch.autocast's __exit__: the outermost scope drops the cached bf16 copies of weights,
  // which are stale once the optimizer steps.
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  set_cuda_enabled(was_enabled_);
  set_cuda_dtype(previous_dtype_);
}

}  // namespace fedvlm::model
