#!/usr/bin/env bash
# Builds what the research-question sweeps (configs/sweeps/strategies.toml, heterogeneity*.toml,
# multitask.toml; docs/results.md) read, once: the Fashion federations and the two base models.
#
#   bash tools/prepare-rq.sh            (from the repository root; FEDVLM_BUILD_DIR, default build)
#
# Every federation is the demo's (tools/demo.sh): all 60,000 training images, 30,000 of them the
# public split, 10 clients, the four tasks, seed 1. They differ only in how the client half is
# partitioned, so they share the public split, hence the tokenizer, and one base serves them all:
#   data/fashion           Dirichlet alpha 0.5 label skew (the demo's; RQ1, and RQ2's 0.5)
#   data/fashion-iid       IID                          data/fashion-a1     alpha 1
#   data/fashion-a0.1      alpha 0.1
#   data/fashion-task      one task per client (RQ3)    data/fashion-taskmix  a Dir(0.5) task mix
# Bases: runs/pretrain-tiny (encoder; configs/pretrain/tiny.toml, the long one) and
# runs/pretrain-tiny-ef-caption (encoder-free; configs/pretrain/tiny-ef.toml: the language phase,
# then image-caption pretraining of the patch embedding and the decoder). Existing outputs are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FEDVLM_BUILD_DIR:-build}
[[ -x $build/fedvlm && -x $build/fedvlm-prep ]] || { echo "prepare-rq.sh: build fedvlm and fedvlm-prep in $build first" >&2; exit 2; }

# shellcheck disable=SC2054  # cls,cap,vqa,ground is one argument
common=(--tasks cls,cap,vqa,ground --clients 10 --train-samples 60000 --public-fraction 0.5 --test-samples 2000
        --ground-side 0.35,0.6 --ground-items 2 --seed 1)
make_federation() {  # DIR, partition options...
  local dir=$1; shift
  [[ -f $dir/meta.h5 ]] && return 0
  echo "prepare-rq.sh: building $dir"
  "$build/fedvlm-prep" fashion --out "$dir" "${common[@]}" "$@"
}
make_federation data/fashion --partition dirichlet --alpha 0.5
make_federation data/fashion-iid --partition iid
make_federation data/fashion-a1 --partition dirichlet --alpha 1
make_federation data/fashion-a0.1 --partition dirichlet --alpha 0.1
make_federation data/fashion-task --partition task --task-alpha 0
make_federation data/fashion-taskmix --partition task --task-alpha 0.5

if [[ ! -f runs/pretrain-tiny/base.pt ]]; then
  echo "prepare-rq.sh: pretraining runs/pretrain-tiny (tens of minutes on 2 cores)"
  "$build/fedvlm" pretrain -c configs/pretrain/tiny.toml
fi
if [[ ! -f runs/pretrain-tiny-ef-caption/base.pt ]]; then
  echo "prepare-rq.sh: pretraining runs/pretrain-tiny-ef-caption (minutes)"
  "$build/fedvlm" pretrain -c configs/pretrain/tiny-ef.toml
fi
