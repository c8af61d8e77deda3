#!/usr/bin/env bash
# SIGKILL anywhere (issue 14, item 1): a 2-rank SCAFFOLD run (client-state shards on every rank)
# is killed at 20 points — local steps, the reduce, the broadcast, a checkpoint's or a shard's
# write between its temporary file and its rename, a shard saved before the checkpoint's
# barrier — on either rank, through FEDVLM_KILL_AT (src/core/fault_injection.cpp). Each killed
# run is resumed as a launcher would (from its last checkpoint, or afresh when it has none) and
# must finish with exactly the metrics of an uninterrupted run: every round's train loss and the
# final evaluation, to the last digit. A checkpoint damaged on disk is passed over for the one
# before it, with a warning, and the run still finishes with the same metrics.
set -euo pipefail
fedvlm=$1 prep=$2 src=$3
source "$(dirname "$0")/lib/faults.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mpiexec=${MPIEXEC:-mpiexec}

make_fault_federation "$work/data"
args=(run -c "$src/configs/fashion/scaffold.toml" --set data.path="$work/data" --set model.base=""
  --set run.dir="$work/runs" --set fl.rounds=4 --set local.steps=2 --set local.batch_size=4
  --set eval.every=0 --set checkpoint.every=1 --set checkpoint.keep=4 --set run.threads=1)
launch() { "$mpiexec" -n 2 --oversubscribe "$fedvlm" "$@"; }

start=$SECONDS
launch "${args[@]}" --set run.name=reference >"$work/reference.log" 2>&1 || { cat "$work/reference.log"; fail "reference run"; }
reference_seconds=$((SECONDS - start))
reference=$(run_metrics "$work/runs/reference")
[[ $(grep -c '"metric": "loss"' <<<"$reference") -ge 4 ]] || fail "reference run logged no losses: $reference"

# POINT:VISIT:RANK. Per rank and run: 16 local steps (2 clients x 2 steps x 4 rounds), 4 reduces,
# 4 broadcasts, a shard per checkpoint, and atomic writes of shards (every rank) and of
# checkpoints, config.toml and summary.json (rank 0).
points=(local-step:1:0 local-step:6:1 local-step:9:0 local-step:15:1
        reduce:1:0 reduce:2:1 reduce:3:0 reduce:4:1
        broadcast:1:1 broadcast:2:0 broadcast:3:1 broadcast:4:0
        atomic-write:1:0 atomic-write:2:0 atomic-write:3:0 atomic-write:5:0 atomic-write:3:1
        shard-saved:1:1 shard-saved:2:0 shard-saved:3:1)
for point in "${points[@]}"; do
  name=kill-${point//:/-}
  set +e
  FEDVLM_KILL_AT=$point timeout 300 "$mpiexec" -n 2 --oversubscribe -x FEDVLM_KILL_AT "$fedvlm" "${args[@]}" \
    --set run.name="$name" >"$work/$name.killed.log" 2>&1
  code=$?
  set -e
  [[ $code -ne 124 ]] || fail "$point: the killed run hung until the timeout: $(tail -5 "$work/$name.killed.log")"
  # 137 = 128 + SIGKILL: mpirun took the other rank down and reports the kill. (Its message naming
  # the rank, "process rank R ... exited on signal 9", is not asserted: Open MPI 4.1's help output
  # sometimes fails under load with "ORTE_ERROR_LOG: Data unpack would read past end of buffer".)
  [[ $code -eq 137 ]] || fail "$point: exit code $code, expected 137 (killed): $(tail -5 "$work/$name.killed.log")"
  if compgen -G "$work/runs/$name/checkpoints/round-*.pt" >/dev/null; then
    launch run --resume "$work/runs/$name" >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; fail "$point: resume"; }
  else  # killed before the first checkpoint: a launcher starts the run again
    launch "${args[@]}" --set run.name="$name" --overwrite >"$work/$name.log" 2>&1 || { cat "$work/$name.log"; fail "$point: rerun"; }
  fi
  [[ "$(run_metrics "$work/runs/$name")" == "$reference" ]] ||
    fail "$point: the resumed run's metrics differ from the uninterrupted run's:
$(diff <(echo "$reference") <(run_metrics "$work/runs/$name"))"
  echo "killed at $point (exit $code): resumed to the uninterrupted metrics"
done

# A rank that fails with an error (issue 14, item 2) in round 2 of 4: the job ends without
# waiting on it (in less than the whole run takes, plus 10 s), non-zero, with the failed rank's
# own message naming it (Open MPI's "MPI_ABORT was invoked on rank 1" is not asserted, as above).
start=$SECONDS
set +e
FEDVLM_THROW_AT=reduce:2:1 timeout 300 "$mpiexec" -n 2 --oversubscribe -x FEDVLM_THROW_AT "$fedvlm" "${args[@]}" \
  --set run.name=throws >"$work/throws.log" 2>&1
code=$?
set -e
elapsed=$((SECONDS - start))
[[ $code -ne 0 && $code -ne 124 ]] || fail "a rank that throws: exit code $code"
(( elapsed <= reference_seconds + 10 )) || fail "a rank that throws: the job took ${elapsed} s, the whole run ${reference_seconds} s"
grep -q "\[rank 1/2\] \[error\] fatal: injected fault: FEDVLM_THROW_AT = reduce:2 reached" "$work/throws.log" ||
  fail "the failed rank's message is missing: $(tail -8 "$work/throws.log")"
echo "a rank that throws: the job ended in ${elapsed} s (whole run ${reference_seconds} s), exit $code, naming rank 1"

# A checkpoint damaged on disk: flip bytes in the middle of the newest of a run stopped after
# round 3 (the last checkpoint it wrote), resume, and expect the one before it to be used.
FEDVLM_KILL_AT=reduce:4:0 "$mpiexec" -n 2 --oversubscribe -x FEDVLM_KILL_AT "$fedvlm" "${args[@]}" \
  --set run.name=damaged >/dev/null 2>&1 && fail "the damaged-checkpoint run was not killed"
newest=$work/runs/damaged/checkpoints/round-000003.pt
[[ -f $newest ]] || fail "no checkpoint after round 3: $(ls "$work/runs/damaged/checkpoints")"
/usr/bin/python3 - "$newest" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
for i in range(len(data) // 2, len(data) // 2 + 64):
    data[i] ^= 0xFF
open(path, "wb").write(bytes(data))
PY
launch run --resume "$work/runs/damaged" >"$work/damaged.log" 2>&1 || { cat "$work/damaged.log"; fail "resume past a damaged checkpoint"; }
grep -q "round-000003.pt.*resuming from the checkpoint before it" "$work/damaged.log" ||
  fail "the log does not say the damaged checkpoint was passed over: $(grep -i checkpoint "$work/damaged.log")"
grep -q "resumed .*round-000002.pt after round 2" "$work/damaged.log" || fail "did not resume from round 2"
[[ "$(run_metrics "$work/runs/damaged")" == "$reference" ]] || fail "the run resumed past a damaged checkpoint differs"
echo "sigkill: all ${#points[@]} kill points and the damaged checkpoint resumed to the uninterrupted metrics"
