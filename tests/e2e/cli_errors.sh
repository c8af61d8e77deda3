#!/usr/bin/env bash
# The command line fails fast and clearly: help lists the subcommands, a typo in a config key is
# rejected with a suggestion, and a 2-rank run on a bad input exits non-zero on both ranks
# with exit code 2 (the `timeout` only guards against a hang; it is not a speed assertion).
set -uo pipefail
fedvlm=$1 prep=$2 src=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

help=$("$fedvlm" --help) || fail "fedvlm --help exited non-zero"
for sub in run pretrain eval bench inspect config; do
  grep -q "^  $sub" <<<"$help" || fail "fedvlm --help does not list '$sub'"
done
prep_help=$("$prep" --help) || fail "fedvlm-prep --help exited non-zero"
for sub in fashion llava inspect; do
  grep -q "^  $sub" <<<"$prep_help" || fail "fedvlm-prep --help does not list '$sub'"
done

printf '[fl]\nrounds = 3\nclient_per_round = 2\n' > "$work/typo.toml"
out=$("$fedvlm" run -c "$work/typo.toml" 2>&1); code=$?
[[ $code -ne 0 ]] || fail "a config with a typo was accepted"
grep -q "typo.toml:3" <<<"$out" || fail "typo error does not name file:line: $out"
grep -q "did you mean 'fl.clients_per_round'" <<<"$out" || fail "typo error has no suggestion: $out"

out=$("$prep" inspect "$work/no-such-dataset" 2>&1); code=$?
[[ $code -eq 2 ]] || fail "fedvlm-prep inspect of a missing dataset: exit code $code, expected 2: $out"

# Population mode: a bad --samples-per-client SPEC and the per-class dirichlet are bad input.
out=$("$prep" fashion --out "$work/pop" --clients 10 --samples-per-client lognormal:0,1 2>&1); code=$?
[[ $code -eq 2 ]] && grep -q -- "--samples-per-client lognormal:0,1: MEAN must be positive" <<<"$out" \
  || fail "bad --samples-per-client: exit $code: $out"
out=$("$prep" fashion --out "$work/pop" --clients 10 --samples-per-client 2 --partition dirichlet 2>&1); code=$?
[[ $code -eq 2 ]] && grep -q "use --partition dirichlet-mix" <<<"$out" || fail "dirichlet in population mode: exit $code: $out"
[[ ! -e "$work/pop" ]] || fail "a refused population build left $work/pop behind"

out=$("$fedvlm" run --set fl.rounds=0 2>&1); code=$?
[[ $code -eq 2 ]] && grep -q "fl.rounds = 0 is out of range" <<<"$out" || fail "out-of-range value accepted (exit $code): $out"

# Two ranks, a dataset that does not exist: both ranks exit with the code for bad input (2) and
# the cause, and nothing crashes on the way out.
mpiexec=${MPIEXEC:-mpiexec}
out=$(timeout 120 "$mpiexec" -n 2 --oversubscribe "$fedvlm" run --set data.path="$work/missing" \
      --set run.dir="$work/runs" 2>&1); code=$?
[[ $code -eq 2 ]] || fail "2-rank run on a missing dataset: exit code $code, expected 2 (124 = hung): $out"
grep -q "missing" <<<"$out" || fail "2-rank failure does not name the missing dataset: $out"
if grep -qiE "segmentation fault|signal [0-9]|core dumped" <<<"$out"; then fail "2-rank failure crashed: $out"; fi
echo "cli_errors: all checks passed"
