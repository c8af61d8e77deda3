#include <cstdlib>

#include "fedvlm/app/cli.hpp"
#include "fedvlm/app/commands.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/sim/algorithms.hpp"

namespace fedvlm::app {
namespace {
// The rank as the launcher announces it, before any communicator exists.
int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* value = std::getenv(name)) return std::atoi(value);
  return 0;
}
}  // namespace

// The command's communicator is gone by now (the exception unwound its Session), so the job is
// ended through MPI_COMM_WORLD, which outlives it.
void abort_job(int exit_code) { comm::abort_world(exit_code); }

Session open_session(const CommonOptions& options) {
  log::setup({.rank = launcher_rank(), .world_size = 1, .all_ranks = options.log_all_ranks});
  Session session;
  sim::register_algorithms();  // every fl.algorithm and its keys, before any config
  session.config = load_config({.files = options.configs, .overrides = options.overrides});
  session.comm = comm::make_communicator(comm::parse_backend(session.config.run.comm));
  log::setup({.rank = session.comm->rank(),
              .world_size = session.comm->size(),
              .all_ranks = options.log_all_ranks,
              .level = session.config.run.log_level});
  return session;
}

}  // namespace fedvlm::app
