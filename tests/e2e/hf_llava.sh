#!/usr/bin/env bash
# A Hugging Face LLaVA directory fine-tuned in a 2-rank federation and handed back as a PEFT
# adapter (issue #15): tools/hf_checkpoint.py writes a tiny random LLaVA-1.5-layout checkpoint
# (CLIP tower, projector, Llama decoder; the federation's own SentencePiece model as its
# tokenizer.model); `fedvlm run` with model.base = that directory and export.peft = true trains
# F-CL for 3 rounds and writes <run>/hf_adapter/. Then:
#   - the adapter is in PEFT's layout and trained (tools/peft_check.py: keys, shapes,
#     target_modules against the base; lora_B nonzero), with the connector as modules_to_save;
#   - merged into the base as PEFT merges (W + alpha/r B A, the connector replaced), it is the
#     federation's final model: `fedvlm eval` of the merged directory reproduces the run's final
#     metrics;
#   - a dataset tokenized with another tokenizer, export.peft without a Hugging Face base, and an
#     embedding smaller than the tokenizer are refused before any training, by name.
# The same for a CLIP directory (CLIPModel, text tower and all) paired with a separate Llama
# directory (model.vision_tower + model.base, connector from random): the adapter is the
# language model's, the connector comes back as mm_projector.safetensors, and the merged
# language model with that projector (model.projector) reproduces the run's final metrics.
set -euo pipefail
fedvlm=$1 prep=$2 src=$3
source "$(dirname "$0")/lib/faults.sh"
work=$(mktemp -d)
trap '[[ -n ${KEEP_WORK:-} ]] || rm -rf "$work"' EXIT
mpiexec=${MPIEXEC:-mpiexec}
py=/usr/bin/python3

make_fault_federation "$work/data"
# The federation's tokenizer becomes the checkpoint's: its bytes, and its piece count as vocab_size.
vocab=$("$py" - "$work/data/meta.h5" "$work/tokenizer.model" <<'PY'
import sys, h5py
data = bytes(h5py.File(sys.argv[1], "r")["tokenizer/model"][()])
open(sys.argv[2], "wb").write(data)
# ModelProto field 1 (pieces, length-delimited): count them.
def varint(buf, at):
    value = shift = 0
    while True:
        byte = buf[at]; at += 1
        value |= (byte & 0x7F) << shift; shift += 7
        if byte < 0x80: return value, at
pieces, at = 0, 0
while at < len(data):
    key, at = varint(data, at)
    field, wire = key >> 3, key & 7
    if wire == 2:
        length, at = varint(data, at); at += length
    elif wire == 0:
        _, at = varint(data, at)
    elif wire == 5: at += 4
    elif wire == 1: at += 8
    else: raise SystemExit(f"unexpected wire type {wire}")
    pieces += field == 1
print(pieces)
PY
)
[[ $vocab -gt 20 ]] || fail "tokenizer of $vocab pieces"
"$py" "$src/tools/hf_checkpoint.py" llava --out "$work/llava" --vocab "$vocab" --image-size 32 --patch-size 8 \
  --max-positions 256 --seed 3 >/dev/null || fail "hf_checkpoint.py"
cp "$work/tokenizer.model" "$work/llava/tokenizer.model"

args=(run -c "$src/configs/fashion/fedavg.toml" --set data.path="$work/data" --set model.base="$work/llava"
  --set run.dir="$work/runs" --set fl.rounds=3 --set local.steps=2 --set local.batch_size=4 --set eval.every=0
  --set checkpoint.every=0 --set run.threads=1 --set data.max_test_samples=24 --set export.peft=true)
"$mpiexec" -n 2 --oversubscribe "$fedvlm" "${args[@]}" --set run.name=llava >"$work/run.log" 2>&1 ||
  { cat "$work/run.log"; fail "2-rank federation of the LLaVA directory"; }
grep -q "loaded Hugging Face model" "$work/run.log" || fail "the run did not load the Hugging Face model: $(head -20 "$work/run.log")"
run=$work/runs/llava
adapter=$run/hf_adapter
for file in adapter_config.json adapter_model.safetensors non_lora_trainables.safetensors; do
  [[ -s $adapter/$file ]] || fail "the export lacks $file: $(ls "$adapter" 2>&1)"
done

# PEFT's layout, checked against the base, and merged as PEFT merges.
"$py" "$src/tools/peft_check.py" "$work/llava" "$adapter" --out "$work/merged" >"$work/check.log" 2>&1 ||
  { cat "$work/check.log"; fail "peft_check.py refused the export"; }
"$py" - "$adapter" <<'PY' || fail "the exported adapter is not a trained F-CL adapter"
import json, sys
sys.path.insert(0, sys.argv[0].rsplit("/", 1)[0])
from pathlib import Path
import numpy as np
adapter = Path(sys.argv[1])
config = json.loads((adapter / "adapter_config.json").read_text())
assert config["peft_type"] == "LORA" and config["r"] == 16 and config["lora_alpha"] == 32, config
assert config["modules_to_save"], "F-CL trains the connector: it must be saved"
raw = (adapter / "adapter_model.safetensors").read_bytes()
n = int.from_bytes(raw[:8], "little")
header = json.loads(raw[8:8 + n])
body = raw[8 + n:]
b_keys = [k for k in header if k.endswith("lora_B.weight")]
assert len(b_keys) == 2 * 7, f"2 layers x 7 targets expected, got {len(b_keys)} lora_B tensors"
trained = 0
for key in b_keys:
    start, end = header[key]["data_offsets"]
    assert header[key]["dtype"] == "F32"
    trained += bool(np.any(np.frombuffer(body[start:end], dtype="<f4") != 0))
assert trained == len(b_keys), f"only {trained} of {len(b_keys)} lora_B are nonzero: not trained"
PY

# The merged directory is the federation's final model: evaluating it gives the run's final metrics.
for file in "$work/llava"/*; do
  [[ $file == *.safetensors || $file == *.json && $(basename "$file") != config.json ]] || cp -n "$file" "$work/merged/" 2>/dev/null || true
done
"$fedvlm" eval -c "$src/configs/fashion/fedavg.toml" --set data.path="$work/data" --set model.base="$work/merged" \
  --set run.threads=1 --set data.max_test_samples=24 >"$work/eval.log" 2>&1 || { cat "$work/eval.log"; fail "fedvlm eval of the merged model"; }
"$fedvlm" eval -c "$src/configs/fashion/fedavg.toml" --set data.path="$work/data" --set model.base="$work/llava" \
  --set run.threads=1 --set data.max_test_samples=24 >"$work/eval-base.log" 2>&1 || { cat "$work/eval-base.log"; fail "fedvlm eval of the base"; }
# RUN_SUMMARY MERGED_EVAL_LOG BASE_EVAL_LOG: the merged model's metrics are the run's final ones,
# and training moved them away from the base's.
expect_final_metrics() {
  "$py" - "$@" <<'PY'
import json, sys
final = json.load(open(sys.argv[1]))["final"]
def table(path):  # "task   accuracy   loss" then a row per task
    lines = open(path).read().splitlines()
    head = max(i for i, line in enumerate(lines) if line.split()[:1] == ["task"])
    names = lines[head].split()[1:]
    rows = {}
    for line in lines[head + 1:]:
        cells = line.split()
        if len(cells) != len(names) + 1: break
        rows[cells[0]] = dict(zip(names, map(float, cells[1:])))
    return rows
merged, base = table(sys.argv[2]), table(sys.argv[3])
assert set(merged) == set(final) == {"cls", "vqa"}, (merged, final)
for task, metrics in final.items():
    for name, value in metrics.items():
        assert abs(merged[task][name] - value) <= 1e-4, f"{task} {name}: merged {merged[task][name]}, run {value}"
    assert abs(base[task]["loss"] - metrics["loss"]) > 1e-2, f"{task}: training did not move the loss ({base[task]['loss']})"
print("merged export reproduces the final metrics:", merged)
PY
}
expect_final_metrics "$run/summary.json" "$work/eval.log" "$work/eval-base.log" ||
  { cat "$work/eval.log"; fail "the merged model's metrics differ from the run's final metrics"; }

# A CLIP dual-encoder directory + a separate Llama directory.
"$py" "$src/tools/hf_checkpoint.py" clip --out "$work/clip" --image-size 32 --patch-size 8 --seed 5 >/dev/null ||
  fail "hf_checkpoint.py clip"
"$py" "$src/tools/hf_checkpoint.py" llama --out "$work/llama" --vocab "$vocab" --max-positions 256 --seed 6 >/dev/null ||
  fail "hf_checkpoint.py llama"
cp "$work/tokenizer.model" "$work/llama/tokenizer.model"
pair=(--set model.base="$work/llama" --set model.vision_tower="$work/clip")
"$mpiexec" -n 2 --oversubscribe "$fedvlm" "${args[@]}" "${pair[@]}" --set run.name=pair >"$work/pair.log" 2>&1 ||
  { cat "$work/pair.log"; fail "2-rank federation of the CLIP + Llama pair"; }
grep -q "loaded Hugging Face vision tower" "$work/pair.log" || fail "the pair was not loaded: $(head -20 "$work/pair.log")"
pair_adapter=$work/runs/pair/hf_adapter
for file in adapter_config.json adapter_model.safetensors mm_projector.safetensors; do
  [[ -s $pair_adapter/$file ]] || fail "the pair's export lacks $file: $(ls "$pair_adapter" 2>&1)"
done
[[ ! -e $pair_adapter/non_lora_trainables.safetensors ]] || fail "the pair's connector is not the Llama base's to save"
"$py" "$src/tools/peft_check.py" "$work/llama" "$pair_adapter" --out "$work/pair-merged" >"$work/pair-check.log" 2>&1 ||
  { cat "$work/pair-check.log"; fail "peft_check.py refused the pair's export (against the Llama base)"; }
cp "$work/tokenizer.model" "$work/pair-merged/"
pair_eval=(eval -c "$src/configs/fashion/fedavg.toml" --set data.path="$work/data" --set model.vision_tower="$work/clip"
  --set run.threads=1 --set data.max_test_samples=24)
"$fedvlm" "${pair_eval[@]}" --set model.base="$work/pair-merged" --set model.projector="$pair_adapter/mm_projector.safetensors" \
  >"$work/pair-eval.log" 2>&1 || { cat "$work/pair-eval.log"; fail "fedvlm eval of the merged pair"; }
"$fedvlm" "${pair_eval[@]}" --set model.base="$work/llama" >"$work/pair-eval-base.log" 2>&1 ||
  { cat "$work/pair-eval-base.log"; fail "fedvlm eval of the untrained pair"; }
expect_final_metrics "$work/runs/pair/summary.json" "$work/pair-eval.log" "$work/pair-eval-base.log" ||
  { cat "$work/pair-eval.log"; fail "the merged pair's metrics differ from the run's final metrics"; }

# Refusals, before any training, each naming what is wrong.
refused() {  # NAME EXPECTED-TEXT ARGS...
  local name=$1 expected=$2 out code
  shift 2
  set +e
  out=$("$fedvlm" run -c "$src/configs/fashion/fedavg.toml" --set data.path="$work/data" --set run.dir="$work/runs" \
    --set run.threads=1 --set fl.rounds=1 --set run.name="$name" "$@" 2>&1)
  code=$?
  set -e
  [[ $code -eq 2 ]] && grep -qF -- "$expected" <<<"$out" || fail "$name: exit $code, expected 2 and '$expected': $out"
  [[ ! -e $work/runs/$name/metrics.jsonl ]] || fail "$name: it trained before refusing"
}
"$py" "$src/tools/hf_tokenizer.py" write --layout llama3 --out "$work/bpe" >/dev/null
cp -r "$work/llava" "$work/llava-bpe" && cp "$work/bpe/tokenizer.json" "$work/llava-bpe/"
refused other-tokenizer "was tokenized with another tokenizer than model.base's" --set model.base="$work/llava-bpe"
refused no-hf-base "export.peft = true needs model.base to be a Hugging Face model directory" --set model.base="" \
  --set export.peft=true
"$py" "$src/tools/hf_checkpoint.py" llava --out "$work/llava-vocab" --vocab $((vocab - 1)) --image-size 32 \
  --patch-size 8 --max-positions 256 >/dev/null
cp "$work/tokenizer.model" "$work/llava-vocab/"
refused other-vocab "vocab_size" --set model.base="$work/llava-vocab"
refused llava-with-tower "is a LLaVA model, which has its own vision tower" --set model.base="$work/llava" \
  --set model.vision_tower="$work/clip"
refused tower-without-base "model.vision_tower" --set model.vision_tower="$work/clip"
echo "OK: a LLaVA directory and a CLIP + Llama pair fine-tuned on 2 ranks, exported as PEFT, merged back to the final metrics; refusals named"
