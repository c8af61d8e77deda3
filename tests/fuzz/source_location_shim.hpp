// Force-included (-include) into every translation unit of the fuzz build, ahead of anything else.
// Debian 12's clang 14 lacks __builtin_source_location, which libstdc++ 12's <source_location>
// needs: the header then declares nothing and fedvlm/core/error.hpp does not compile. clang 14
// has the older __builtin_FILE/__builtin_LINE, enough for the file and line that error messages
// carry. A newer clang (15+) gets the real header and this adds nothing.
#pragma once

#include <source_location>

#if !defined(__cpp_lib_source_location)
namespace std {
struct source_location {
  static consteval source_location current(const char* file = __builtin_FILE(), const char* function = __builtin_FUNCTION(),
                                           unsigned line = __builtin_LINE(), unsigned column = __builtin_COLUMN()) noexcept {
    source_location location;
    location.file_ = file;
    location.function_ = function;
    location.line_ = line;
    location.column_ = column;
    return location;
  }
  constexpr source_location() noexcept = default;
  constexpr unsigned line() const noexcept { return line_; }
  constexpr unsigned column() const noexcept { return column_; }
  constexpr const char* file_name() const noexcept { return file_; }
  constexpr const char* function_name() const noexcept { return function_; }

 private:
  const char* file_ = "";
  const char* function_ = "";
  unsigned line_ = 0;
  unsigned column_ = 0;
};
}  // namespace std
#endif
