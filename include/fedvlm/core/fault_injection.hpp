// Fault injection for the tests that kill runs at chosen points (tests/e2e/sigkill.sh,
// docs/reliability.md). Inert unless the environment sets
//
//   FEDVLM_KILL_AT=POINT:N[:RANK]
//
// which makes the process send itself SIGKILL the N-th time (1-based) it reaches POINT, on the
// rank RANK only when given (the rank is read from the launcher's environment:
// OMPI_COMM_WORLD_RANK, PMI_RANK or SLURM_PROCID; a process without one is rank 0). SIGKILL
// cannot be caught: nothing after it runs, no destructor, no flush, no handler, exactly as when
// the kernel's OOM killer or a node failure takes a process. FEDVLM_THROW_AT, with the same
// syntax, throws an Error there instead: a rank that fails with a message.
//
// The points (where each is, and what a kill there leaves behind):
//   local-step    after a client's local optimizer step      (mid-round, nothing written)
//   reduce        before the round's reduce to rank 0          (partners may wait in the collective)
//   broadcast     before the broadcast of the new global vector
//   atomic-write  a file's temporary fully written, before its rename (checkpoints, shards, summary)
//   shard-saved   a rank's client-state shard saved, before the checkpoint's barrier
#pragma once

#include <string_view>

namespace fedvlm {

// Counts a visit to `point`; kills the process (FEDVLM_KILL_AT) or throws (FEDVLM_THROW_AT) when
// the variable names this visit. When neither is set this is two loads and two branches.
void fault_point(std::string_view point);

}  // namespace fedvlm
