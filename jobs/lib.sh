# shellcheck shell=bash
# Shared by the launchers in jobs/ (sourced, not run). Expects FEDVLM_ROOT (the repository).
#
# Environment the launchers honour:
#   FEDVLM_BIN          the fedvlm executable (default: $FEDVLM_ROOT/build/fedvlm)
#   FEDVLM_PYTHON       the Python running tools/*.py (default: /usr/bin/python3)
#   FEDVLM_DRY_RUN=1    print the command that would run (stdout, shell-quoted) instead of running it
#   FEDVLM_FORCE=1      run even when the run directory already holds summary.json
#   FEDVLM_THREADS      torch threads per rank (default: cores per rank); passed as --set run.threads
#   FEDVLM_MPIRUN_ARGS  extra mpirun options (workstation), split on whitespace
#   FEDVLM_MAX_REQUEUES how often a Slurm job may requeue itself at its time limit (default 20)

fedvlm_die() {
  echo "${FEDVLM_SCRIPT:-$(basename "$0")}: error: $*" >&2
  exit 1
}

fedvlm_note() {
  echo "${FEDVLM_SCRIPT:-$(basename "$0")}: $*" >&2
}

fedvlm_python() {
  if [[ -n ${FEDVLM_PYTHON:-} ]]; then
    echo "$FEDVLM_PYTHON"
  elif [[ -x /usr/bin/python3 ]]; then
    echo /usr/bin/python3  # Debian's, with numpy/matplotlib; not a venv first on PATH
  else
    echo python3
  fi
}

# Runs tools/NAME with the project's Python.
fedvlm_tool() {
  local tool=$1
  shift
  "$(fedvlm_python)" "$FEDVLM_ROOT/tools/$tool" "$@"
}

fedvlm_binary() {
  local bin=${FEDVLM_BIN:-$FEDVLM_ROOT/build/fedvlm}
  if [[ ! -x $bin && ${FEDVLM_DRY_RUN:-0} != 1 ]]; then
    fedvlm_die "fedvlm executable '$bin' not found: build it (cmake --build build) or set FEDVLM_BIN"
  fi
  echo "$bin"
}

fedvlm_is_dry_run() {
  [[ ${FEDVLM_DRY_RUN:-0} == 1 ]]
}

# Prints a command shell-quoted, one line, so it can be pasted or parsed back.
fedvlm_print_command() {
  local quoted
  printf -v quoted '%q ' "$@"
  echo "${quoted% }"
}

# True if the `fedvlm run` arguments already set KEY with --set KEY=... or --set=KEY=...
fedvlm_has_set() {
  local key=$1 previous=""
  shift
  for arg in "$@"; do
    if [[ ($previous == --set && $arg == "$key="*) || $arg == "--set=$key="* ]]; then
      return 0
    fi
    previous=$arg
  done
  return 1
}

# The run directory the `fedvlm run` arguments write, resolved as fedvlm does.
fedvlm_run_dir() {
  fedvlm_tool runconfig.py rundir "$@"
}

# done: summary.json exists (finished); resume: a checkpoint exists; fresh: otherwise.
fedvlm_run_state() {
  local run_dir=$1
  if [[ -f $run_dir/summary.json && ${FEDVLM_FORCE:-0} != 1 ]]; then
    echo "done"
  elif compgen -G "$run_dir/checkpoints/*" >/dev/null; then
    echo "resume"  # the glob skips dot-files: atomic writes keep their temporaries hidden
  else
    echo "fresh"
  fi
}

# Sets FEDVLM_RUN_ARGS to the arguments after `fedvlm run`, with --resume added when the run
# directory holds a checkpoint; returns 1 (and says so) when the run is already finished.
fedvlm_prepare_run() {
  local run_dir state
  FEDVLM_RUN_ARGS=("$@")
  run_dir=$(fedvlm_run_dir "$@") || fedvlm_die "cannot resolve the run directory of: $*"
  state=$(fedvlm_run_state "$run_dir")
  case $state in
    done)
      fedvlm_note "$run_dir has summary.json: finished, skipped (FEDVLM_FORCE=1 reruns it)"
      return 1 ;;
    resume)
      if ! fedvlm_has_resume "$@"; then
        fedvlm_note "$run_dir has a checkpoint: resuming"
        FEDVLM_RUN_ARGS+=(--resume "$run_dir")
      fi ;;
  esac
  FEDVLM_RUN_DIR=$run_dir
  return 0
}

fedvlm_has_resume() {
  for arg in "$@"; do
    [[ $arg == --resume || $arg == --resume=* ]] && return 0
  done
  return 1
}

fedvlm_cores() {
  nproc 2>/dev/null || getconf _NPROCESSORS_ONLN
}

# Sets FEDVLM_COMMAND to `mpirun -np NP ... fedvlm run ARGS` (plain `fedvlm run` when NP is 1)
# for this machine: threads = cores / NP per rank, no binding (each rank runs a thread pool
# of that size; binding each rank to one core would serialize it).
fedvlm_workstation_command() {
  local np=$1 bin cores threads extra
  shift
  [[ $np =~ ^[1-9][0-9]*$ ]] || fedvlm_die "NP must be a positive integer, got '$np'"
  bin=$(fedvlm_binary)
  cores=$(fedvlm_cores)
  threads=${FEDVLM_THREADS:-$((cores / np))}
  ((threads >= 1)) || threads=1
  export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
  FEDVLM_COMMAND=()
  if ((np > 1)); then
    FEDVLM_COMMAND=(mpirun -np "$np" --bind-to none -x OMP_NUM_THREADS -x MKL_NUM_THREADS)
    # Open MPI refuses root unless asked, and more ranks than cores unless told.
    [[ $(id -u) == 0 ]] && FEDVLM_COMMAND+=(--allow-run-as-root)
    ((np > cores)) && FEDVLM_COMMAND+=(--oversubscribe)
    read -r -a extra <<<"${FEDVLM_MPIRUN_ARGS:-}"
    FEDVLM_COMMAND+=("${extra[@]}")
  fi
  FEDVLM_COMMAND+=("$bin" run "$@")
  fedvlm_has_set run.threads "$@" || FEDVLM_COMMAND+=(--set "run.threads=$threads")
}

# Sets FEDVLM_COMMAND to `srun --mpi=pmix --kill-on-bad-exit=1 ... fedvlm run ARGS` for the current allocation.
fedvlm_slurm_command() {
  local bin threads
  bin=$(fedvlm_binary)
  threads=${FEDVLM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
  export OMP_NUM_THREADS=$threads MKL_NUM_THREADS=$threads
  # Debian's Open MPI starts under srun only through PMIx. --kill-on-bad-exit: a rank that dies
  # or fails ends the whole step at once, instead of leaving the others blocked in a collective
  # (NCCL's above all) until the time limit (docs/reliability.md).
  FEDVLM_COMMAND=(srun --mpi=pmix --kill-on-bad-exit=1)
  # Since Slurm 22.05 srun no longer inherits --cpus-per-task from sbatch.
  [[ -n ${SLURM_CPUS_PER_TASK:-} ]] && FEDVLM_COMMAND+=(--cpus-per-task="$SLURM_CPUS_PER_TASK")
  FEDVLM_COMMAND+=("$bin" run "$@")
  fedvlm_has_set run.threads "$@" || FEDVLM_COMMAND+=(--set "run.threads=$threads")
}

# Where this shell's stdout (FD 1) or stderr (FD 2) goes, if that is a file (a Slurm job's
# output file, a redirection); nothing for a terminal or a pipe.
fedvlm_output_file() {
  local target
  target=$(readlink "/proc/$$/fd/$1" 2>/dev/null) || return 0
  [[ $target == /* && -f $target ]] && echo "$target"
  return 0
}

# Records what the launcher knows of a run in RUN_DIR/launcher.state (key=value lines, read by
# `tools/sweep.py status`): STATE is running, requeued, stopped, failed or finished; CODE the
# exit status of a failed step. Also where it runs (Slurm job, else host and pid) and the files
# its output goes to, whose last lines explain a failure.
fedvlm_record_state() {
  local state=$1 code=${2:-} file output error
  [[ -n ${FEDVLM_RUN_DIR:-} ]] || return 0
  mkdir -p "$FEDVLM_RUN_DIR" 2>/dev/null || return 0
  output=$(fedvlm_output_file 1)  # before the redirection below
  error=$(fedvlm_output_file 2)
  file=$FEDVLM_RUN_DIR/.launcher.state.$$
  {
    echo "state=$state"
    if [[ -n $code ]]; then echo "exit=$code"; fi
    echo "time=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host=$(hostname)"
    echo "pid=$$"
    if [[ -n ${SLURM_JOB_ID:-} ]]; then
      echo "job=$SLURM_JOB_ID"
      echo "restarts=${SLURM_RESTART_COUNT:-0}"
    fi
    echo "output=$output"
    echo "error=$error"
  } >"$file" 2>/dev/null && mv -f "$file" "$FEDVLM_RUN_DIR/launcher.state" 2>/dev/null
  rm -f "$file"
  return 0
}

fedvlm_forward_time_limit() {
  FEDVLM_TIME_LIMIT_SIGNALLED=1
  fedvlm_note "time limit near: asking fedvlm to checkpoint"
  if [[ -n ${FEDVLM_STEP_PID:-} ]]; then
    kill -USR1 "$FEDVLM_STEP_PID" 2>/dev/null || true  # srun passes it on to every rank
  fi
}

# Runs one `fedvlm run` as the job step of a Slurm batch job, requeue-friendly:
#   - a finished run (summary.json) is skipped, a checkpointed one resumed;
#   - the job is submitted with --signal=B:USR1@T: the batch shell gets USR1 T seconds before
#     the time limit and forwards it to srun, which passes it to every rank; fedvlm writes a
#     checkpoint and stops; the shell then requeues the job, which resumes from it.
fedvlm_slurm_run() {
  fedvlm_prepare_run "$@" || return 0
  fedvlm_slurm_command "${FEDVLM_RUN_ARGS[@]}"
  if fedvlm_is_dry_run; then
    fedvlm_print_command "${FEDVLM_COMMAND[@]}"
    return 0
  fi
  fedvlm_note "run directory $FEDVLM_RUN_DIR; job ${SLURM_JOB_ID:-?} restart ${SLURM_RESTART_COUNT:-0}"
  fedvlm_note "$(fedvlm_print_command "${FEDVLM_COMMAND[@]}")"
  FEDVLM_TIME_LIMIT_SIGNALLED=0
  FEDVLM_STEP_PID=""
  trap fedvlm_forward_time_limit USR1  # before the step starts: USR1 would kill this shell
  fedvlm_record_state running
  "${FEDVLM_COMMAND[@]}" &
  FEDVLM_STEP_PID=$!
  if ((FEDVLM_TIME_LIMIT_SIGNALLED)); then kill -USR1 "$FEDVLM_STEP_PID" 2>/dev/null || true; fi
  local rc=0
  while :; do
    # wait returns early (status > 128) when the trap runs; wait again for the real status.
    if wait "$FEDVLM_STEP_PID"; then rc=0; else rc=$?; fi
    kill -0 "$FEDVLM_STEP_PID" 2>/dev/null || break
  done
  trap - USR1
  if [[ -f $FEDVLM_RUN_DIR/summary.json ]]; then
    fedvlm_record_state finished
    return 0
  fi
  if ((FEDVLM_TIME_LIMIT_SIGNALLED)); then
    local restarts=${SLURM_RESTART_COUNT:-0} limit=${FEDVLM_MAX_REQUEUES:-20}
    if ((restarts >= limit)); then
      fedvlm_record_state failed 1
      fedvlm_die "stopped at the time limit after $restarts requeues (FEDVLM_MAX_REQUEUES=$limit); resubmit to continue"
    fi
    fedvlm_note "requeueing job $SLURM_JOB_ID to resume from the checkpoint"
    fedvlm_record_state requeued
    scontrol requeue "$SLURM_JOB_ID"
    return 0
  fi
  if ((rc != 0)); then
    fedvlm_record_state failed "$rc"
  else
    fedvlm_record_state stopped  # a signal other than the time limit's: resubmit to resume
  fi
  return "$rc"
}
