# Target helpers: one module = one static library built from src/<module>/*.cpp.

function(fedvlm_target_defaults target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
  if(FEDVLM_USE_PCH AND TARGET fedvlm_pch)
    target_precompile_headers(${target} REUSE_FROM fedvlm_pch)
  endif()
endfunction()

# One precompiled <torch/torch.h> shared by every target: LibTorch's headers cost about
# 20 s per translation unit on a small machine, a reused PCH a fraction of that.
if(FEDVLM_USE_PCH)
  # file(CONFIGURE) rewrites the file only when its content changes: a new timestamp on every
  # configure would rebuild the precompiled header, and with it every target.
  file(CONFIGURE OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/fedvlm_pch.cpp CONTENT "// precompiled header carrier\n")
  add_library(fedvlm_pch OBJECT ${CMAKE_CURRENT_BINARY_DIR}/fedvlm_pch.cpp)
  # fmt and nlohmann_json ahead of torch, as in every target that reuses this header: a PyTorch
  # wheel's include folder carries its own fmt (and more), and the PCH must resolve <fmt/...>
  # to the same headers as the sources do (the fmt that spdlog and libfmt.so were built with).
  target_link_libraries(fedvlm_pch PUBLIC spdlog::spdlog nlohmann_json::nlohmann_json torch)
  target_compile_options(fedvlm_pch PRIVATE -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
  target_precompile_headers(fedvlm_pch PRIVATE <torch/torch.h> <vector> <string> <memory> <functional>)
endif()

function(fedvlm_add_module name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  # CUDA-only sources and plugins are built by their own targets
  list(FILTER sources EXCLUDE REGEX "/src/${name}/(gpu|plugin)/")
  set(target fedvlm_mod_${name})
  if(NOT sources)  # a header-only module
    add_library(${target} INTERFACE)
    target_include_directories(${target} INTERFACE ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(${target} INTERFACE ${ARG_DEPS} torch)
    return()
  endif()
  add_library(${target} STATIC ${sources})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(${target} PUBLIC ${ARG_DEPS} torch)
  fedvlm_target_defaults(${target})
endfunction()
