// fedvlm: every failure ends in one clear message and a non-zero exit on every rank.
#include <malloc.h>

#include <exception>
#include <iostream>

#include "fedvlm/app/cli.hpp"
#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"

namespace {

// glibc hands every freed block above 128 KiB back to the kernel and trims the heap's top, so
// each training step page-faults its activations and gradients in again: 16 % of the time of a
// run of one-sample clients (docs/performance.md). A simulator's working set repeats step after
// step: keep it. Blocks above 64 MiB (datasets, checkpoints) still come and go by mmap.
void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
}

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  int code = 0;
  try {
    fedvlm::comm::initialize(&argc, &argv);
    code = fedvlm::app::run_cli(argc, argv);
  } catch (const fedvlm::InputError& e) {
    fedvlm::log::error("{}", e.what());
    code = 2;
  } catch (const std::exception& e) {
    fedvlm::log::error("fatal: {}", e.what());
    code = 1;
  }
  if (code != 0) fedvlm::app::abort_job(code);  // MPI_Abort: no rank waits for this one
  fedvlm::comm::finalize();
  return code;
}
