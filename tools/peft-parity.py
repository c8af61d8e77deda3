#!/usr/bin/env python3
"""fedvlm's PEFT adapter export against PEFT itself: logits of tiny Llama / Qwen2 / LLaVA models.

For each tiny random checkpoint (tools/hf_checkpoint.py, weights scaled up as tools/hf-parity.py
does), build/tests/fedvlm-hf-logits --peft-export gives the language model LoRA adapters (rank 4,
alpha 8 on q, v, down), exports them and prints fedvlm's logits with the adapters. This script then
loads the base with transformers, the adapter with `PeftModel.from_pretrained`, and compares
  - PEFT's logits (adapters unmerged) with fedvlm's,
  - the logits after PEFT's merge_and_unload() with fedvlm's,
  - PEFT's merged weights with tools/peft_check.py's numpy merge (checks the checker),
failing when any differs by more than --tolerance. LLaVA runs text only (no image), through
LlavaForConditionalGeneration, so PEFT sees the vision tower's q_proj / v_proj and must leave them be.

Needs torch, transformers and peft (a GPU machine's Python); without them it exits with status 77.

  python3 tools/peft-parity.py
  python3 tools/peft-parity.py --fedvlm-logits build/tests/fedvlm-hf-logits --tolerance 1e-4
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))

SKIPPED = 77
TINY = [("llama", ["llama", "--seed", "1"]), ("qwen2", ["qwen2", "--seed", "3"]), ("llava", ["llava", "--seed", "5"])]
TOKENS = [1, 5, 9, 100, 17, 3, 64, 126, 8, 8, 42, 0, 77, 2, 31, 90]  # 127 is LLaVA's image token


def tiny_checkpoint(root, name, arguments, scale):
    import numpy as np
    import hf_checkpoint
    import hf_reference
    out = Path(root) / name
    hf_checkpoint.main(arguments + ["--out", str(out)])
    file = out / "model.safetensors"
    tensors = []
    for tensor_name, values in hf_reference.read_safetensors(file).items():
        values = np.asarray(values, dtype=np.float32)
        if not tensor_name.endswith("norm.weight") and "layer_norm" not in tensor_name:
            values = values * np.float32(scale)
        tensors.append(hf_checkpoint.encode(tensor_name, values, "fp32"))
    hf_checkpoint.write_safetensors(file, tensors, {"format": "pt"})
    return out


def fedvlm_logits(binary, directory, adapter):
    import numpy as np
    command = [str(binary), str(directory), ",".join(map(str, TOKENS)), "--peft-export", str(adapter)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    return np.asarray(json.loads(result.stdout)["logits"], dtype=np.float64)


def peft_results(directory, adapter, llava):
    """(logits with the adapter, logits merged, merged state dict) from transformers + PEFT."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, LlavaForConditionalGeneration
    model_class = LlavaForConditionalGeneration if llava else AutoModelForCausalLM
    base = model_class.from_pretrained(directory, torch_dtype=torch.float32, attn_implementation="eager")
    model = PeftModel.from_pretrained(base, adapter).eval()
    ids = torch.tensor([TOKENS], dtype=torch.long)
    with torch.no_grad():
        unmerged = model(input_ids=ids).logits.double().numpy()
        merged_model = model.merge_and_unload().eval()
        merged = merged_model(input_ids=ids).logits.double().numpy()
    return unmerged, merged, {k: v.float().numpy() for k, v in merged_model.state_dict().items()}


def numpy_merge_difference(directory, adapter, peft_state):
    """Largest |PEFT merge - peft_check.py merge| over the weights peft_check.py changes."""
    import numpy as np
    import hf_reference
    import peft_check
    base = hf_reference.read_weights(directory)
    config, tensors = peft_check.read_adapter(adapter)
    pairs, saved = peft_check.split_adapter(config, tensors, base)
    peft_check.check_targets(config, pairs, base)
    ours = peft_check.merge(base, pairs, saved, peft_check.scaling_of(config))
    worst = 0.0
    for module in pairs:
        name = module + ".weight"
        # transformers >= 4.52 names LLaVA's language model model.language_model.*
        live = name if name in peft_state else name.replace("language_model.model.", "model.language_model.", 1)
        worst = max(worst, float(np.abs(peft_state[live] - ours[name]).max()))
    return worst


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fedvlm-logits", default=str(TOOLS.parent / "build" / "tests" / "fedvlm-hf-logits"),
                        help="the fedvlm-hf-logits binary (default build/tests/fedvlm-hf-logits)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |difference| of logits (default 1e-4)")
    parser.add_argument("--scale", type=float, default=15.0, help="weight scale of the tiny checkpoints (default 15)")
    args = parser.parse_args(argv)
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as error:
        print(f"peft-parity.py: needs torch, transformers and peft ({error}); nothing compared", file=sys.stderr)
        return SKIPPED
    if not Path(args.fedvlm_logits).exists():
        print(f"peft-parity.py: {args.fedvlm_logits} not found (cmake --build build --target fedvlm-hf-logits)",
              file=sys.stderr)
        return 2
    failed = False
    print(f"{'model':<8} {'|fedvlm - peft|':>16} {'merged':>10} {'numpy merge':>12}  max |logit|")
    with tempfile.TemporaryDirectory(prefix="fedvlm-peft-parity-") as root:
        for name, arguments in TINY:
            directory = tiny_checkpoint(root, name, arguments, args.scale)
            adapter = Path(root) / f"{name}-adapter"
            ours = fedvlm_logits(args.fedvlm_logits, directory, adapter)
            unmerged, merged, state = peft_results(directory, adapter, llava=name == "llava")
            differences = [float(abs(ours - unmerged).max()), float(abs(ours - merged).max()),
                           numpy_merge_difference(directory, adapter, state)]
            ok = all(d <= args.tolerance for d in differences)
            failed |= not ok
            print(f"{name:<8} {differences[0]:>16.3g} {differences[1]:>10.3g} {differences[2]:>12.3g}  "
                  f"{float(abs(unmerged).max()):.3g}  {'ok' if ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
