#!/bin/bash
# One fedvlm run on this machine with NP MPI ranks (mpirun; NP=1 runs fedvlm directly).
#
#   jobs/workstation.sh NP CONFIG [--set section.key=value ...] [--resume RUN_DIR]
#   jobs/workstation.sh 2 configs/fashion/fedavg.toml --set fl.algorithm=fedprox
#
# Each rank gets cores/NP torch threads (--set run.threads, unless given; FEDVLM_THREADS
# overrides). Ranks are not bound to cores: each runs a thread pool. Extra mpirun options:
# FEDVLM_MPIRUN_ARGS. FEDVLM_DRY_RUN=1 prints the command instead of running it.
set -euo pipefail

FEDVLM_ROOT=${FEDVLM_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
FEDVLM_SCRIPT=workstation.sh
# shellcheck source=jobs/lib.sh
source "$FEDVLM_ROOT/jobs/lib.sh"

if (($# < 2)) || [[ ! $1 =~ ^[1-9][0-9]*$ ]] || [[ $2 == -* ]]; then
  echo "usage: jobs/workstation.sh NP CONFIG [--set section.key=value ...] [--resume RUN_DIR]" >&2
  exit 2
fi
np=$1
config=$2
shift 2
[[ -f $config ]] || fedvlm_die "config file '$config' not found"

fedvlm_workstation_command "$np" -c "$config" "$@"
if fedvlm_is_dry_run; then
  fedvlm_print_command "${FEDVLM_COMMAND[@]}"
else
  exec "${FEDVLM_COMMAND[@]}"
fi
