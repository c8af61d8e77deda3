# Every dependency comes from the system (Debian packages) through find_package and imported targets.

find_package(Torch REQUIRED)
find_package(MPI REQUIRED COMPONENTS CXX)
find_package(HDF5 REQUIRED COMPONENTS C)
find_package(CLI11 CONFIG REQUIRED)
find_package(spdlog CONFIG REQUIRED)
find_package(tomlplusplus CONFIG REQUIRED)   # TOML: Debian's toml++ (header-only, C++17, keeps source positions)
find_package(nlohmann_json CONFIG REQUIRED)  # JSON: metrics.jsonl, summary.json, LLaVA conversations
find_package(ZLIB REQUIRED)                  # Fashion-MNIST IDX files ship gzipped
find_package(PkgConfig REQUIRED)
pkg_check_modules(SentencePiece REQUIRED IMPORTED_TARGET sentencepiece)
find_library(SENTENCEPIECE_TRAIN_LIBRARY NAMES sentencepiece_train REQUIRED)
set_property(TARGET PkgConfig::SentencePiece APPEND PROPERTY INTERFACE_LINK_LIBRARIES ${SENTENCEPIECE_TRAIN_LIBRARY})
find_path(STB_INCLUDE_DIR NAMES stb_image.h PATH_SUFFIXES stb REQUIRED)

# FindHDF5 gives variables on CMake 3.25; wrap them in one imported target.
add_library(fedvlm_hdf5 INTERFACE)
target_include_directories(fedvlm_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(fedvlm_hdf5 INTERFACE ${HDF5_C_LIBRARIES} ${HDF5_LIBRARIES})
target_compile_definitions(fedvlm_hdf5 INTERFACE ${HDF5_DEFINITIONS})

# stb_image is header-only; one translation unit of data_prep/ instantiates it.
add_library(stb_image INTERFACE)
target_include_directories(stb_image SYSTEM INTERFACE ${STB_INCLUDE_DIR})

# CUDA / NCCL: only when the found LibTorch was built with CUDA.
set(FEDVLM_TORCH_HAS_CUDA OFF)
if(TARGET torch_cuda OR CUDA_FOUND OR TORCH_CUDA_LIBRARIES)
  set(FEDVLM_TORCH_HAS_CUDA ON)
endif()
set(FEDVLM_HAVE_NCCL OFF)
if(FEDVLM_CUDA STREQUAL "ON" AND NOT FEDVLM_TORCH_HAS_CUDA)
  message(FATAL_ERROR "FEDVLM_CUDA=ON but the LibTorch found at ${Torch_DIR} has no CUDA. "
                      "Point Torch_DIR at a CUDA build of LibTorch, or configure with -DFEDVLM_CUDA=AUTO/OFF.")
endif()
if(FEDVLM_TORCH_HAS_CUDA AND NOT FEDVLM_CUDA STREQUAL "OFF")
  find_path(NCCL_INCLUDE_DIR NAMES nccl.h HINTS ENV NCCL_HOME ENV NCCL_ROOT PATH_SUFFIXES include)
  find_library(NCCL_LIBRARY NAMES nccl HINTS ENV NCCL_HOME ENV NCCL_ROOT PATH_SUFFIXES lib lib64)
  if(NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(FEDVLM_HAVE_NCCL ON)
    add_library(fedvlm_nccl INTERFACE)
    target_include_directories(fedvlm_nccl SYSTEM INTERFACE ${NCCL_INCLUDE_DIR})
    target_link_libraries(fedvlm_nccl INTERFACE ${NCCL_LIBRARY})
  elseif(FEDVLM_CUDA STREQUAL "ON")
    message(FATAL_ERROR "FEDVLM_CUDA=ON but NCCL was not found: set NCCL_HOME to its install prefix.")
  endif()
endif()
message(STATUS "fedvlm: LibTorch ${Torch_VERSION}, CUDA in LibTorch: ${FEDVLM_TORCH_HAS_CUDA}, NCCL backend: ${FEDVLM_HAVE_NCCL}")

if(FEDVLM_USE_CCACHE)
  find_program(CCACHE_PROGRAM ccache)
  if(CCACHE_PROGRAM)
    # PCH builds are cacheable only with these sloppiness settings.
    set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
        CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime ${CCACHE_PROGRAM})
  endif()
endif()
