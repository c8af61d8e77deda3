// Test helper shared by the test binaries: what InputError an action throws.
#pragma once

#include <string>

#include "fedvlm/core/error.hpp"

namespace fedvlm::test_support {

// The message of the InputError `action` throws, or "" if none (other exceptions propagate).
template <class F>
std::string input_error(F&& action) {
  try {
    action();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace fedvlm::test_support
