#!/usr/bin/env bash
# README command (a): install what is missing, build, prepare the Fashion federation, pretrain
# the tiny base model, run a short federated fine-tuning on 2 MPI ranks and print the
# per-task table. Steps already done (dataset, base model) are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FEDVLM_BUILD_DIR:-build}
ranks=${FEDVLM_RANKS:-2}
config=${1:-configs/fashion/fedavg.toml}
shift $(( $# > 0 ? 1 : 0 ))

bash tools/install-deps.sh
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target fedvlm fedvlm-prep

# All 60,000 training images: half are the public split the base model pretrains on (its vision
# encoder needs tens of thousands of images), half are spread over the 10 clients. Grounding
# images hold 2 items of 11-19 pixels (docs/datasets.md, Canvas). A data/fashion or
# runs/pretrain-tiny from before this recipe must be deleted first (the run refuses a base with
# the old linear patch embedding and says so).
fashion=(--clients 10 --partition dirichlet --alpha 0.5 --tasks cls,cap,vqa,ground --train-samples 60000
         --public-fraction 0.5 --test-samples 2000 --ground-side 0.35,0.6 --ground-items 2 --seed 1)
if [[ ! -f data/fashion/meta.h5 ]]; then
  "$build/fedvlm-prep" fashion --out data/fashion "${fashion[@]}"
fi
# The same federation with the public VQA questions following the item's description, in
# data/fashion's vocabulary: the corpus of the base's second language phase (docs/datasets.md).
if [[ ! -f data/fashion-context/meta.h5 ]]; then
  "$build/fedvlm-prep" fashion --out data/fashion-context "${fashion[@]}" --public-context --tokenizer data/fashion
fi
# The base in two stages: the vision encoder and a first language phase (runs/pretrain-tiny, the
# base of the research-question sweeps), then 3,000 language steps on data/fashion-context.
if [[ ! -f runs/pretrain-tiny/base.pt ]]; then
  "$build/fedvlm" pretrain -c configs/pretrain/tiny.toml
fi
if [[ ! -f runs/pretrain-tiny-context/base.pt ]]; then
  "$build/fedvlm" pretrain -c configs/pretrain/tiny-context.toml
fi

mpirun_flags=(-np "$ranks" --bind-to none)
[[ $(id -u) -eq 0 ]] && mpirun_flags+=(--allow-run-as-root)
(( ranks > $(nproc) )) && mpirun_flags+=(--oversubscribe)
threads=$(( $(nproc) / ranks )); (( threads > 0 )) || threads=1
mpirun "${mpirun_flags[@]}" "$build/fedvlm" run -c "$config" --overwrite \
  --set run.name=demo --set "run.threads=$threads" "$@"
echo "results: runs/demo/summary.json, runs/demo/metrics.jsonl"
