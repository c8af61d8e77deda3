#!/usr/bin/env bash
# Every configuration the repository ships resolves and validates: each configs/fashion/*.toml,
# and for each sweep in configs/sweeps/ enough points that every grid value is tried at least
# once (`fedvlm run ... --dump-config` loads, applies the overrides and validates without data).
# A sweep whose key is misspelt or whose combination the validator refuses fails here, not hours
# into a cluster job.
set -euo pipefail
fedvlm=$1 src=$3
python=/usr/bin/python3
cd "$src"
fail() { echo "FAIL: $*" >&2; exit 1; }
check() {  # what, fedvlm run arguments...
  local what=$1; shift
  out=$("$fedvlm" run "$@" --dump-config 2>&1) || fail "$what does not validate: $out"
}

for config in configs/fashion/*.toml; do
  [[ $(basename "$config") == common.toml ]] && continue
  check "$config" -c "$config"
done

checked=0
for sweep in configs/sweeps/*.toml; do
  # The indices of a covering set: a point is taken when it brings a grid value not seen yet.
  mapfile -t indices < <("$python" - "$sweep" <<'PY'
import sys
from pathlib import Path
sys.path.insert(0, "tools")
import sweep
loaded = sweep.load_sweep(Path(sys.argv[1]))
seen = set()
for index, point in enumerate(loaded.points()):
    values = {(key, repr(value)) for key, value in point.overrides if key in loaded.grid}
    if values - seen:
        seen |= values
        print(index)
PY
  )
  (( ${#indices[@]} > 0 )) || fail "$sweep: no points"
  for index in "${indices[@]}"; do
    mapfile -t args < <("$python" tools/sweep.py point "$sweep" "$index")
    check "$sweep point $index" "${args[@]}"
    checked=$((checked + 1))
  done
done
echo "shipped configs and $checked sweep points validate"
