# gpu-compile: compile the CUDA-only sources on machines without a CUDA LibTorch.
#
# src/<module>/gpu/*.cpp (the NCCL communicator) and the factory's FEDVLM_HAVE_NCCL branch are
# built only beside a CUDA LibTorch, which CI machines lack, so they could stop compiling
# unseen. When the CUDA toolkit's cuda_runtime_api.h and nccl.h are found (CUDA_HOME,
# CUDA_PATH, NCCL_HOME, NCCL_ROOT, /usr/local/cuda), an OBJECT library, outside `all`,
# compiles them with the project's flags, include paths and FEDVLM_HAVE_NCCL=1; nothing is
# linked. A CPU LibTorch ships c10/cuda headers but not the generated
# c10/cuda/impl/cuda_cmake_macros.h: a one-line shim in the build tree stands in for it.
#
# The ctest test `gpu.compile` (label gpu-compile) builds that library, so `ctest` fails when
# a CUDA source stops compiling. It is skipped, with the reason, when no toolkit is found or
# when this build compiles those sources for real (FEDVLM_HAVE_NCCL).

set(FEDVLM_GPU_COMPILE_SKIP 77)

function(fedvlm_add_skipped_gpu_compile_test reason)
  message(STATUS "fedvlm: gpu-compile check skipped: ${reason}")
  add_test(NAME gpu.compile COMMAND sh -c "echo 'gpu.compile skipped: ${reason}'; exit ${FEDVLM_GPU_COMPILE_SKIP}")
  set_tests_properties(gpu.compile PROPERTIES LABELS gpu-compile SKIP_RETURN_CODE ${FEDVLM_GPU_COMPILE_SKIP})
endfunction()

if(FEDVLM_HAVE_NCCL)
  fedvlm_add_skipped_gpu_compile_test("this build compiles and links the CUDA sources itself (FEDVLM_HAVE_NCCL)")
  return()
endif()

set(fedvlm_cuda_hints ENV CUDA_HOME ENV CUDA_PATH /usr/local/cuda)
find_path(FEDVLM_CHECK_CUDA_INCLUDE_DIR NAMES cuda_runtime_api.h HINTS ${fedvlm_cuda_hints} PATH_SUFFIXES include
          DOC "CUDA toolkit headers for the gpu-compile check")
find_path(FEDVLM_CHECK_NCCL_INCLUDE_DIR NAMES nccl.h HINTS ENV NCCL_HOME ENV NCCL_ROOT ${fedvlm_cuda_hints}
          PATH_SUFFIXES include DOC "NCCL headers for the gpu-compile check")
find_path(FEDVLM_CHECK_C10_CUDA_DIR NAMES c10/cuda/CUDAStream.h HINTS ${TORCH_INCLUDE_DIRS}
          DOC "LibTorch's c10/cuda headers for the gpu-compile check")
if(NOT FEDVLM_CHECK_CUDA_INCLUDE_DIR)
  fedvlm_add_skipped_gpu_compile_test("no CUDA toolkit (cuda_runtime_api.h) under CUDA_HOME, CUDA_PATH or /usr/local/cuda")
  return()
endif()
if(NOT FEDVLM_CHECK_NCCL_INCLUDE_DIR)
  fedvlm_add_skipped_gpu_compile_test("no nccl.h under NCCL_HOME, NCCL_ROOT, CUDA_HOME or /usr/local/cuda")
  return()
endif()
if(NOT FEDVLM_CHECK_C10_CUDA_DIR)
  fedvlm_add_skipped_gpu_compile_test("the LibTorch at ${Torch_DIR} has no c10/cuda headers")
  return()
endif()

file(GLOB_RECURSE fedvlm_gpu_sources CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/*/gpu/*.cpp)
set(shim_dir ${PROJECT_BINARY_DIR}/gpu-compile-shim)
if(NOT EXISTS ${FEDVLM_CHECK_C10_CUDA_DIR}/c10/cuda/impl/cuda_cmake_macros.h)
  # What a shared-library CUDA build of c10 generates (c10/cuda/impl/cuda_cmake_macros.h.in).
  file(CONFIGURE OUTPUT ${shim_dir}/c10/cuda/impl/cuda_cmake_macros.h CONTENT "#define C10_CUDA_BUILD_SHARED_LIBS\n")
endif()

add_library(fedvlm_gpu_compile_check OBJECT EXCLUDE_FROM_ALL ${fedvlm_gpu_sources} ${PROJECT_SOURCE_DIR}/src/comm/factory.cpp)
target_include_directories(fedvlm_gpu_compile_check PRIVATE ${PROJECT_SOURCE_DIR}/include)
target_include_directories(fedvlm_gpu_compile_check SYSTEM PRIVATE
    ${FEDVLM_CHECK_CUDA_INCLUDE_DIR} ${FEDVLM_CHECK_NCCL_INCLUDE_DIR} ${shim_dir})
target_compile_definitions(fedvlm_gpu_compile_check PRIVATE FEDVLM_HAVE_NCCL=1)
# Imported targets only, so building the check never builds another fedvlm target first.
target_link_libraries(fedvlm_gpu_compile_check PRIVATE torch MPI::MPI_CXX spdlog::spdlog
                      tomlplusplus::tomlplusplus nlohmann_json::nlohmann_json)
# No precompiled header: it was built without FEDVLM_HAVE_NCCL and the CUDA include paths.
target_compile_options(fedvlm_gpu_compile_check PRIVATE
    -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)

list(LENGTH fedvlm_gpu_sources fedvlm_gpu_source_count)
message(STATUS "fedvlm: gpu-compile check: ${fedvlm_gpu_source_count} CUDA source(s) + factory.cpp against "
               "${FEDVLM_CHECK_CUDA_INCLUDE_DIR} and ${FEDVLM_CHECK_NCCL_INCLUDE_DIR}")
add_test(NAME gpu.compile
         COMMAND ${CMAKE_COMMAND} --build ${PROJECT_BINARY_DIR} --target fedvlm_gpu_compile_check)
set_tests_properties(gpu.compile PROPERTIES LABELS gpu-compile TIMEOUT 900)
