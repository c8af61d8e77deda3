#!/bin/bash
# Runs every point of a sweep, one after the other, on this machine with NP ranks each.
#
#   jobs/workstation-sweep.sh SWEEP [NP]        (NP default 1)
#
# Finished points (summary.json in the run directory) are skipped and checkpointed ones
# resumed, so an interrupted sweep continues where it stopped. A failing point is reported
# and the sweep goes on; the exit status is non-zero if any point failed.
set -euo pipefail

FEDVLM_ROOT=${FEDVLM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FEDVLM_SCRIPT=workstation-sweep.sh
# shellcheck source=jobs/lib.sh
source "$FEDVLM_ROOT/jobs/lib.sh"

if (($# < 1 || $# > 2)) || [[ $1 == -* ]] || [[ $# == 2 && ! $2 =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: jobs/workstation-sweep.sh SWEEP [NP]" >&2
  exit 2
fi
sweep=$1
np=${2:-1}
[[ -f $sweep ]] || fedvlm_die "sweep file '$sweep' not found"

count=$(fedvlm_tool sweep.py count "$sweep")
failed=()
for ((index = 0; index < count; index++)); do
  point=$(fedvlm_tool sweep.py point "$sweep" "$index") || fedvlm_die "cannot expand point $index of $sweep"
  mapfile -t args <<<"$point"
  fedvlm_prepare_run "${args[@]}" || continue
  fedvlm_workstation_command "$np" "${FEDVLM_RUN_ARGS[@]}"
  if fedvlm_is_dry_run; then
    fedvlm_print_command "${FEDVLM_COMMAND[@]}"
    continue
  fi
  fedvlm_note "point $index/$count -> $FEDVLM_RUN_DIR"
  fedvlm_record_state running
  if "${FEDVLM_COMMAND[@]}"; then
    if [[ -f $FEDVLM_RUN_DIR/summary.json ]]; then
      fedvlm_record_state finished
    else
      fedvlm_record_state stopped  # USR1 or SIGTERM: checkpointed, the next sweep resumes it
    fi
  else
    code=$?
    fedvlm_record_state failed "$code"
    fedvlm_note "point $index failed (run directory $FEDVLM_RUN_DIR, see its logs/)"
    failed+=("$index")
  fi
done
if ((${#failed[@]})); then
  fedvlm_die "${#failed[@]} of $count points failed: ${failed[*]}"
fi
if fedvlm_is_dry_run; then
  fedvlm_note "dry run: nothing was run"
else
  fedvlm_note "all $count points finished"
fi
