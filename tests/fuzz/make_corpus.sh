#!/usr/bin/env bash
# Seeds of tests/fuzz/fuzz_dataset, made rather than committed (a dataset file is tens of KB):
# small one-shard federations built by fedvlm-prep, each folded into one HDF5 file
# (one_file_dataset.py) in three layouts. Every seed is checked with `fedvlm-prep inspect` first:
# the fuzzer should start from valid datasets and break them itself. Takes a few seconds.
#
# usage: make_corpus.sh FEDVLM_PREP OUT_DIR
set -euo pipefail
prep=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
python=/usr/bin/python3  # Debian's, with python3-h5py (tools/install-deps.sh)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "make_corpus: $*" >&2; exit 1; }

"$python" -c 'import h5py' 2>/dev/null || fail "$python cannot import h5py (apt-get install python3-h5py)"
rm -rf "$out"
mkdir -p "$out"

# name, then fedvlm-prep fashion options: every task, one shard; the second has clients
# without samples (a Dirichlet(0.1) label skew over 6 clients of 30 samples).
builds=(
  "iid --clients 3 --train-samples 24 --test-samples 4 --partition iid"
  "skewed --clients 6 --train-samples 30 --test-samples 3 --partition dirichlet --alpha 0.1 --min-samples 0"
)
for build in "${builds[@]}"; do
  read -r name options <<<"$build"
  # shellcheck disable=SC2086  # options are words
  "$prep" fashion --out "$work/$name" $options --image-size 16 --vocab-size 64 --shards 1 --threads 1 --seed 3 \
    >"$work/$name.log" 2>&1 || fail "fedvlm-prep fashion $options failed: $(cat "$work/$name.log")"
  for layout in "copy" "contiguous" "contiguous --fixed-strings"; do
    seed="$name-${layout// --/-}"
    # shellcheck disable=SC2086
    "$python" "$here/one_file_dataset.py" "$work/$name" "$work/$seed.h5" --layout $layout
    mkdir "$work/check-$seed"
    cp "$work/$seed.h5" "$work/check-$seed/meta.h5"
    cp "$work/$seed.h5" "$work/check-$seed/shard-00000.h5"
    "$prep" inspect "$work/check-$seed" >"$work/check-$seed.log" 2>&1 \
      || fail "seed $seed is not a valid dataset: $(tail -5 "$work/check-$seed.log")"
    mv "$work/$seed.h5" "$out/$seed.h5"
  done
done
echo "make_corpus: $(ls "$out" | wc -l) seeds in $out ($(du -sk "$out" | cut -f1) KB)"
