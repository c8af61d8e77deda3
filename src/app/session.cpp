#include <cstdlib>

#include "fedvlm/app/cli.hpp"
#include "fedvlm/app/commands.hpp"
#include "fedvlm/core/log.hpp"
#include "fedvlm/sim/baselines.hpp"

namespace fedvlm::app {
namespace {
comm::Communicator* g_job_communicator = nullptr;

// The rank as the launcher announces it, before any communicator exists.
int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"})
    if (const char* value = std::getenv(name)) return std::atoi(value);
  return 0;
}
}  // namespace

void register_job_communicator(comm::Communicator* comm) { g_job_communicator = comm; }

void abort_job(int exit_code) {
  if (g_job_communicator && g_job_communicator->size() > 1) g_job_communicator->abort(exit_code);
  // Before a communicator exists every rank fails the same way (same config, same files), so
  // each exits on its own with the same message.
}

Session open_session(const CommonOptions& options) {
  log::setup({.rank = launcher_rank(), .world_size = 1, .all_ranks = options.log_all_ranks});
  Session session;
  sim::register_algorithms();  // every fl.algorithm and its keys, before any config
  session.config = load_config({.files = options.configs, .overrides = options.overrides});
  session.comm = comm::make_communicator(comm::parse_backend(session.config.run.comm));
  register_job_communicator(session.comm.get());
  log::setup({.rank = session.comm->rank(),
              .world_size = session.comm->size(),
              .all_ranks = options.log_all_ranks,
              .level = session.config.run.log_level});
  return session;
}

}  // namespace fedvlm::app
