# libFuzzer harnesses (tests/fuzz) and their ctest runs (label fuzz). libFuzzer and the
# sanitizers come with clang, while fedvlm is built with the default compiler (g++ on Debian):
# tests/fuzz is a project of its own, configured with clang++ as an ExternalProject in
# <build>/fuzz and built with everything else. It compiles only the sources its readers need.

set(FEDVLM_FUZZ "AUTO" CACHE STRING "libFuzzer harnesses: AUTO (when a clang++ with libFuzzer is found), ON (required), OFF")
set_property(CACHE FEDVLM_FUZZ PROPERTY STRINGS AUTO ON OFF)
set(FEDVLM_FUZZ_SECONDS 40 CACHE STRING "Seconds each fuzz test fuzzes after replaying its corpus (ctest -L fuzz)")

if(FEDVLM_FUZZ STREQUAL "OFF")
  return()
endif()

# A compiler that can build and link a harness: clang++ alone is not enough, libFuzzer and the
# sanitizer runtimes are a separate Debian package (libclang-rt-14-dev).
find_program(FEDVLM_FUZZ_CXX NAMES clang++ clang++-16 clang++-15 clang++-14 DOC "clang++ for the libFuzzer harnesses")
if(FEDVLM_FUZZ_CXX AND NOT FEDVLM_FUZZ_CXX_WORKS STREQUAL FEDVLM_FUZZ_CXX)
  set(probe_dir ${CMAKE_CURRENT_BINARY_DIR}/CMakeFiles/fuzz-probe)
  file(WRITE ${probe_dir}/probe.cpp
       "#include <cstddef>\n#include <cstdint>\nextern \"C\" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }\n")
  execute_process(COMMAND ${FEDVLM_FUZZ_CXX} -fsanitize=fuzzer,address,undefined ${probe_dir}/probe.cpp -o ${probe_dir}/probe
                  RESULT_VARIABLE probe_result OUTPUT_QUIET ERROR_QUIET)
  if(probe_result EQUAL 0)
    set(FEDVLM_FUZZ_CXX_WORKS ${FEDVLM_FUZZ_CXX} CACHE INTERNAL "the clang++ that linked a libFuzzer harness")
  endif()
endif()
if(NOT FEDVLM_FUZZ_CXX OR NOT FEDVLM_FUZZ_CXX_WORKS STREQUAL FEDVLM_FUZZ_CXX)
  set(why "no clang++ that links -fsanitize=fuzzer,address,undefined (apt-get install clang libclang-rt-14-dev)")
  if(FEDVLM_FUZZ STREQUAL "ON")
    message(FATAL_ERROR "FEDVLM_FUZZ=ON but ${why}")
  endif()
  message(STATUS "fedvlm: fuzz tests (ctest -L fuzz) not defined: ${why}")
  return()
endif()
get_filename_component(fuzz_cxx_dir ${FEDVLM_FUZZ_CXX} DIRECTORY)
get_filename_component(fuzz_cxx_name ${FEDVLM_FUZZ_CXX} NAME)
string(REPLACE "++" "" fuzz_c_name ${fuzz_cxx_name})  # clang++-14 -> clang-14
set(fuzz_c_compiler ${fuzz_cxx_dir}/${fuzz_c_name})
message(STATUS "fedvlm: fuzz tests (ctest -L fuzz) with ${FEDVLM_FUZZ_CXX}, ${FEDVLM_FUZZ_SECONDS} s each")

include(ExternalProject)
set(fuzz_build ${PROJECT_BINARY_DIR}/fuzz)
set(fuzz_args -DCMAKE_CXX_COMPILER=${FEDVLM_FUZZ_CXX} -DCMAKE_C_COMPILER=${fuzz_c_compiler}
              -DFEDVLM_SOURCE_DIR=${PROJECT_SOURCE_DIR})
if(CCACHE_PROGRAM)
  list(APPEND fuzz_args -DCMAKE_CXX_COMPILER_LAUNCHER=${CCACHE_PROGRAM})
endif()
# BUILD_ALWAYS: the harnesses compile fedvlm's sources, whose changes only the sub-build sees.
ExternalProject_Add(fedvlm_fuzz
  SOURCE_DIR ${PROJECT_SOURCE_DIR}/tests/fuzz
  BINARY_DIR ${fuzz_build}
  CMAKE_ARGS ${fuzz_args}
  BUILD_ALWAYS ON
  INSTALL_COMMAND ""
  BUILD_BYPRODUCTS ${fuzz_build}/fuzz_config ${fuzz_build}/fuzz_llava_json ${fuzz_build}/fuzz_dataset
                   ${fuzz_build}/fuzz_dataset_fields ${fuzz_build}/fuzz_safetensors)

# The HDF5 seeds are made from fedvlm-prep's output when the tests run (make_corpus.sh).
set(fuzz_dir ${PROJECT_SOURCE_DIR}/tests/fuzz)
add_test(NAME fuzz.dataset_corpus COMMAND bash ${fuzz_dir}/make_corpus.sh $<TARGET_FILE:fedvlm-prep> ${fuzz_build}/corpus/dataset)
set_tests_properties(fuzz.dataset_corpus PROPERTIES TIMEOUT 120 LABELS fuzz FIXTURES_SETUP fuzz_dataset_seeds)

# Seeds: tests/fuzz/corpus/<harness> (small files, and the inputs of past findings), for
# fuzz_dataset also the files make_corpus.sh made.
foreach(harness config llava_json dataset dataset_fields safetensors)
  set(seeds)
  if(EXISTS ${fuzz_dir}/corpus/${harness})
    list(APPEND seeds ${fuzz_dir}/corpus/${harness})
  endif()
  if(harness STREQUAL "dataset")
    list(APPEND seeds ${fuzz_build}/corpus/dataset)
  endif()
  add_test(NAME fuzz.${harness}
           COMMAND bash ${fuzz_dir}/run_fuzzer.sh ${fuzz_build}/fuzz_${harness} ${FEDVLM_FUZZ_SECONDS}
                   ${fuzz_build}/work/${harness} ${seeds})
  math(EXPR timeout "${FEDVLM_FUZZ_SECONDS} + 120")
  set_tests_properties(fuzz.${harness} PROPERTIES TIMEOUT ${timeout} LABELS fuzz)
endforeach()
set_tests_properties(fuzz.dataset PROPERTIES FIXTURES_REQUIRED fuzz_dataset_seeds)
