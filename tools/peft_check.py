#!/usr/bin/python3
"""Checks a PEFT LoRA adapter directory against its base model and merges it, numpy only.

Reads a Hugging Face base directory (config.json + safetensors) and an adapter directory as
`PeftModel.from_pretrained` reads it (adapter_config.json + adapter_model.safetensors), checks
what PEFT would otherwise fail on or silently get wrong, and merges the adapter as PEFT's
`merge_and_unload` does:

  - every key is base_model.model.<module>.lora_A.weight / .lora_B.weight of a module of the base
    ([r, in] and [out, r] for its weight [out, in]), or base_model.model.<tensor> of a base tensor
    of the same shape inside a module that modules_to_save names;
  - target_modules selects (with PEFT's rules: a string is re.fullmatch'ed against module paths, a
    list entry matches a path equal to it or ending in ".<entry>") exactly the modules that have
    lora_A and lora_B, among every module of the base;
  - merge: W' = W + scaling * (B @ A) in float32 (LoraLayer.get_delta_weight, fan_in_fan_out false),
    scaling = lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora; a modules_to_save tensor
    replaces the base's.

  /usr/bin/python3 tools/peft_check.py BASE ADAPTER                       # checks, prints a summary
  /usr/bin/python3 tools/peft_check.py BASE ADAPTER --out MERGED          # + the merged model (F32)
  /usr/bin/python3 tools/peft_check.py BASE ADAPTER --compare W.safetensors --tolerance 1e-6

--compare: W.safetensors holds merged weights under checkpoint names (fedvlm's own merge); every
one must be within --tolerance of this merge. Exit status: 0 good, 1 a check failed (reason on
stderr), 2 bad arguments. The summary is JSON on stdout.
"""
import argparse
import json
import math
import re
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hf_checkpoint  # noqa: E402  (the safetensors writer)
import hf_reference  # noqa: E402  (the safetensors reader)

PREFIX = "base_model.model."
LORA_SUFFIXES = (".lora_A.weight", ".lora_B.weight")


class CheckFailed(Exception):
    pass


def peft_selects(targets, module):
    """PEFT's check_target_module_exists for target_modules (or modules_to_save: by suffix)."""
    if isinstance(targets, str):
        return re.fullmatch(targets, module) is not None
    return any(module == target or module.endswith("." + target) for target in targets)


def read_adapter(directory):
    directory = Path(directory)
    config = json.loads((directory / "adapter_config.json").read_text())
    tensors = hf_reference.read_safetensors(directory / "adapter_model.safetensors")
    for key, value in [("peft_type", "LORA"), ("bias", "none"), ("fan_in_fan_out", False)]:
        if config.get(key) != value:
            raise CheckFailed(f"adapter_config.json: {key} is {config.get(key)!r}, this checker handles {value!r}")
    return config, {name: np.asarray(values, dtype=np.float32) for name, values in tensors.items()}


def split_adapter(config, adapter, base):
    """{module: (A, B)} and {base tensor name: values} of the adapter, checked against the base."""
    lora, saved = {}, {}
    for key, values in adapter.items():
        if not key.startswith(PREFIX):
            raise CheckFailed(f"{key}: does not start with {PREFIX}")
        name = key[len(PREFIX):]
        suffix = next((s for s in LORA_SUFFIXES if name.endswith(s)), None)
        if suffix:
            lora.setdefault(name[:-len(suffix)], {})[suffix] = values
            continue
        if name not in base:
            raise CheckFailed(f"{key}: the base has no tensor {name}")
        if base[name].shape != values.shape:
            raise CheckFailed(f"{key}: shape {values.shape}, the base's is {base[name].shape}")
        if not peft_selects(config.get("modules_to_save") or [], name.rsplit(".", 1)[0]):
            raise CheckFailed(f"{key}: its module is not in modules_to_save {config.get('modules_to_save')}")
        saved[name] = values
    rank = config["r"]
    pairs = {}
    for module, parts in lora.items():
        if len(parts) != 2:
            raise CheckFailed(f"{module}: lora_A and lora_B must both be present")
        a, b = parts[".lora_A.weight"], parts[".lora_B.weight"]
        weight = base.get(module + ".weight")
        if weight is None:
            raise CheckFailed(f"{module}: the base has no tensor {module}.weight")
        out_features, in_features = weight.shape
        if a.shape != (rank, in_features) or b.shape != (out_features, rank):
            raise CheckFailed(f"{module}: lora_A {a.shape}, lora_B {b.shape} do not fit r {rank} and weight {weight.shape}")
        pairs[module] = (a, b)
    return pairs, saved


def check_targets(config, pairs, base):
    modules = sorted({name[:-len(".weight")] for name in base if name.endswith(".weight")})
    selected = {module for module in modules if peft_selects(config["target_modules"], module)}
    if selected != set(pairs):
        extra, missing = sorted(selected - set(pairs)), sorted(set(pairs) - selected)
        raise CheckFailed(f"target_modules {config['target_modules']!r} selects {len(extra)} module(s) without "
                          f"adapter weights {extra[:5]} and misses {len(missing)} adapted module(s) {missing[:5]}")


def scaling_of(config):
    rank, alpha = config["r"], config["lora_alpha"]
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def merge(base, pairs, saved, scaling):
    merged = {name: np.asarray(values, dtype=np.float32) for name, values in base.items()}
    for module, (a, b) in pairs.items():
        delta = (b @ a) * np.float32(scaling)
        merged[module + ".weight"] = merged[module + ".weight"] + delta.astype(np.float32)
    merged.update(saved)
    return merged


def write_merged(base_dir, out, merged):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(base_dir) / "config.json", out / "config.json")
    tensors = [hf_checkpoint.from_array(name, np.ascontiguousarray(values, dtype=np.float32))
               for name, values in sorted(merged.items())]
    hf_checkpoint.write_safetensors(out / "model.safetensors", tensors, {"format": "pt"})


def compare(merged, path, tolerance):
    """Largest |difference| over the tensors of `path`; CheckFailed past `tolerance`."""
    theirs = hf_reference.read_safetensors(path)
    worst, worst_name = 0.0, None
    for name, values in theirs.items():
        if name not in merged:
            raise CheckFailed(f"{path}: {name} is not a tensor of the merged model")
        if merged[name].shape != values.shape:
            raise CheckFailed(f"{path}: {name} has shape {values.shape}, the merged model's is {merged[name].shape}")
        difference = float(np.max(np.abs(merged[name].astype(np.float64) - values.astype(np.float64)), initial=0.0))
        if difference >= worst:
            worst, worst_name = difference, name
    if worst > tolerance:
        raise CheckFailed(f"{path}: {worst_name} differs from the merge by {worst:.3g} (tolerance {tolerance:g})")
    return worst, len(theirs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("base", help="Hugging Face model directory the adapter was trained on")
    parser.add_argument("adapter", help="directory with adapter_config.json and adapter_model.safetensors")
    parser.add_argument("--out", help="write the merged model here (config.json + model.safetensors, F32)")
    parser.add_argument("--compare", help="safetensors of merged weights under checkpoint names to compare")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args(argv)
    try:
        base = hf_reference.read_weights(args.base)
        config, adapter = read_adapter(args.adapter)
        pairs, saved = split_adapter(config, adapter, base)
        check_targets(config, pairs, base)
        scaling = scaling_of(config)
        merged = merge(base, pairs, saved, scaling)
        summary = {"lora_modules": len(pairs), "modules_to_save_tensors": sorted(saved), "scaling": scaling}
        if args.compare:
            summary["max_difference"], summary["compared_tensors"] = compare(merged, args.compare, args.tolerance)
        if args.out:
            write_merged(args.base, args.out, merged)
    except (CheckFailed, FileNotFoundError, KeyError, ValueError) as error:
        print(f"peft_check: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
