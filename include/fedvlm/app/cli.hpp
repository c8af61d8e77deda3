// The `fedvlm` command line (CLI11): run, pretrain, eval, bench, inspect, config.
#pragma once

namespace fedvlm::app {

// Parses the command line and runs the chosen command. Throws on failure; main() reports it
// and aborts the MPI job so that no rank waits for a failed one.
int run_cli(int argc, char** argv);

// Ends every rank of the job after a fatal error on this one (MPI_Abort when running under
// MPI with more than one rank); returns when there is nothing to abort.
void abort_job(int exit_code);

}  // namespace fedvlm::app
