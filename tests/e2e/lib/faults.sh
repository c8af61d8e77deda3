# Shared by the fault tests (sigkill.sh, disk_full.sh); sourced, not a test itself (ctest runs
# tests/e2e/*.sh only).

fail() { echo "FAIL: $*" >&2; exit 1; }

# A 4-client Fashion federation of 400 images with classification and VQA, in $1 (its log in
# $1.log, shown on failure).
make_fault_federation() {
  "$prep" fashion --out "$1" --tasks cls,vqa --clients 4 --partition iid --train-samples 400 \
    --test-samples 40 --public-fraction 0.1 --seed 5 >"$1.log" 2>&1 || { cat "$1.log"; fail "fedvlm-prep"; }
}

# What a finished run reports, seconds left out (they differ from run to run): every
# metrics.jsonl record, then summary.json's final metrics, one JSON object a line. Two runs that
# trained alike print the same text, to the last digit.
run_metrics() {
  /usr/bin/python3 - "$1" <<'PY'
import json, pathlib, sys
run = pathlib.Path(sys.argv[1])
for line in (run / "metrics.jsonl").read_text().splitlines():
    row = json.loads(line)
    row.pop("seconds")
    print(json.dumps(row, sort_keys=True))
print(json.dumps(json.loads((run / "summary.json").read_text())["final"], sort_keys=True))
PY
}
