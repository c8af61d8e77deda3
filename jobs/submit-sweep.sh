#!/bin/bash
# Submits a whole sweep as one Slurm job array, one array task per grid point.
#
#   jobs/submit-sweep.sh SWEEP [sbatch options]
#   FEDVLM_ARRAY_MAX=4 jobs/submit-sweep.sh configs/sweeps/heterogeneity.toml --time=02:00:00
#
# At most FEDVLM_ARRAY_MAX (default 16) tasks run at once. Every point is expanded here first,
# so a broken sweep fails now, on the login node, not in the queue. Resubmitting runs only the
# points without summary.json (the others exit at once).
set -euo pipefail

FEDVLM_ROOT=${FEDVLM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FEDVLM_SCRIPT=submit-sweep.sh
# shellcheck source=jobs/lib.sh
source "$FEDVLM_ROOT/jobs/lib.sh"

if (($# < 1)) || [[ $1 == -* ]]; then
  echo "usage: jobs/submit-sweep.sh SWEEP [sbatch options]   (FEDVLM_ARRAY_MAX: tasks at once, default 16)" >&2
  exit 2
fi
sweep=$1
shift
[[ -f $sweep ]] || fedvlm_die "sweep file '$sweep' not found"
max=${FEDVLM_ARRAY_MAX:-16}
[[ $max =~ ^[1-9][0-9]*$ ]] || fedvlm_die "FEDVLM_ARRAY_MAX must be a positive integer, got '$max'"

count=$(fedvlm_tool sweep.py count "$sweep")
fedvlm_tool sweep.py list "$sweep" >/dev/null  # checks that run names are unique
fedvlm_tool sweep.py point "$sweep" 0 >/dev/null  # checks that the base config exists
name=$(basename "$sweep" .toml)

export FEDVLM_ROOT  # sbatch passes the environment on; the array tasks find the repo with it
command=(sbatch --array="0-$((count - 1))%$max" --job-name="sweep-$name" "$@"
         "$FEDVLM_ROOT/jobs/sweep.sbatch" "$(realpath "$sweep")")
if fedvlm_is_dry_run; then
  fedvlm_print_command "${command[@]}"
else
  fedvlm_note "$count points: $(fedvlm_print_command "${command[@]}")"
  "${command[@]}"
fi
