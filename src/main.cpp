// fedvlm: every failure ends in one clear message and a non-zero exit on every rank.
#include <exception>
#include <iostream>

#include "fedvlm/app/cli.hpp"
#include "fedvlm/comm/communicator.hpp"
#include "fedvlm/core/error.hpp"
#include "fedvlm/core/log.hpp"

int main(int argc, char** argv) {
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
