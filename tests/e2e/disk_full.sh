#!/usr/bin/env bash
# A full disk (issue 14, item 7), on a real one: a small tmpfs. A 2-rank run whose run directory
# fills it mid-run stops with an error that says so, leaves no half-written file, and its last
# complete checkpoint resumes, once there is room, to exactly the metrics of an uninterrupted run.
# A dataset build that fills the disk stops the same way and leaves no dataset behind.
# Needs root to mount the tmpfs: exits 77 (skipped) without it.
set -euo pipefail
fedvlm=$1 prep=$2 src=$3
source "$(dirname "$0")/lib/faults.sh"
work=$(mktemp -d)
disk=$work/disk
mkdir -p "$disk"
cleanup() { umount "$disk" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mpiexec=${MPIEXEC:-mpiexec}
mount_disk() { umount "$disk" 2>/dev/null || true; mount -t tmpfs -o "size=$1" tmpfs "$disk"; }
if [[ $(id -u) -ne 0 ]] || ! mount_disk 1m 2>/dev/null; then
  echo "SKIP: mounting a tmpfs needs root"
  exit 77
fi

make_fault_federation "$work/data"
args=(run -c "$src/configs/fashion/scaffold.toml" --set data.path="$work/data" --set model.base=""
  --set fl.rounds=5 --set local.steps=2 --set local.batch_size=4 --set eval.every=0
  --set checkpoint.every=1 --set checkpoint.keep=10 --set run.threads=1 --set run.name=full)
launch() { "$mpiexec" -n 2 --oversubscribe "$fedvlm" "$@"; }
launch "${args[@]}" --set run.dir="$work/runs" >"$work/reference.log" 2>&1 || { cat "$work/reference.log"; fail "reference run"; }
reference=$(run_metrics "$work/runs/full")
# Room for the run's small files and two and a half rounds of checkpoints (file and shards).
round_bytes=$(du -cb "$work"/runs/full/checkpoints/round-000001.* | tail -1 | cut -f1)
mount_disk $(( (5 * round_bytes / 2 + 256 * 1024) / 4096 * 4096 ))

set +e
launch "${args[@]}" --set run.dir="$disk/runs" >"$work/full.log" 2>&1
code=$?
set -e
[[ $code -ne 0 ]] || fail "the run on a full disk exited 0: $(tail -5 "$work/full.log")"
grep -qE "disk full|No space left on device" "$work/full.log" ||
  { cat "$work/full.log"; fail "the error does not say the disk is full"; }
if grep -qiE "segmentation fault|core dumped" "$work/full.log"; then fail "the run crashed: $(tail -5 "$work/full.log")"; fi
leftovers=$(find "$disk/runs" -name '.*.tmp-*')
[[ -z $leftovers ]] || fail "half-written files left behind: $leftovers"
last=$(ls "$disk/runs/full/checkpoints" | grep -E '^round-[0-9]+\.pt$' | tail -1)
[[ -n $last && $last != round-000005.pt ]] || fail "no checkpoint, or the run was not stopped: $(ls "$disk/runs/full/checkpoints")"
echo "full disk: stopped with exit $code after $last: $(grep -m1 -oE "cannot [^:]*: .*" "$work/full.log" | cut -c1-160)"

# Room again (the directory moved to a larger disk): the last complete checkpoint resumes.
cp -r "$disk/runs" "$work/moved"
launch run --resume "$work/moved/full" >"$work/resume.log" 2>&1 || { cat "$work/resume.log"; fail "resume after the full disk"; }
[[ "$(run_metrics "$work/moved/full")" == "$reference" ]] || fail "the resumed run's metrics differ from the uninterrupted run's"

# A dataset build on a disk too small for it: an error, and no dataset (not even half of one).
mount_disk 256k
set +e
out=$("$prep" fashion --out "$disk/data" --tasks cls,vqa --clients 4 --partition iid --train-samples 2000 \
  --test-samples 200 --public-fraction 0.1 --seed 5 2>&1)
code=$?
set -e
[[ $code -eq 1 ]] || fail "fedvlm-prep on a full disk: exit code $code, expected 1 (a failure, not a crash): $(tail -3 <<<"$out")"
grep -q "No space left on device" <<<"$out" || fail "fedvlm-prep does not say the disk is full: $(tail -3 <<<"$out")"
grep -q "\[error\] fatal: HDF5 call failed" <<<"$out" || fail "fedvlm-prep's error line is missing: $(tail -3 <<<"$out")"
[[ -z $(ls -A "$disk") ]] || fail "fedvlm-prep left files on the full disk: $(ls -A "$disk")"
echo "full disk: fedvlm-prep stopped with exit $code: $(tail -1 <<<"$out" | cut -c1-200)"
echo "disk_full: all checks passed"
