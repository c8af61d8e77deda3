// AutocastScope: while it lives, CUDA ops on this thread run under LibTorch autocast in
// bfloat16 (run.precision = bf16): matrix products and convolutions in bf16, reductions and
// losses in fp32; weights and gradients stay fp32. It restores the previous autocast state
// (enabled flag and dtype) when it ends. An inactive scope does nothing.
#pragma once

#include <c10/core/ScalarType.h>

namespace fedvlm::model {

class AutocastScope {
 public:
  explicit AutocastScope(bool bf16);
  // Whether this thread runs under bf16 CUDA autocast now (what a recomputation in the backward
  // pass, on autograd's thread, must reproduce).
  static bool bf16_active();
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_;
  bool was_enabled_ = false;
  c10::ScalarType previous_dtype_ = c10::ScalarType::Half;
};

}  // namespace fedvlm::model
