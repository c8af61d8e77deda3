#!/usr/bin/env python3
"""fedvlm against transformers: logits of Hugging Face Llama, Qwen2 and LLaVA directories.

For each model directory, compares the logits of
  - transformers (AutoModelForCausalLM, or LlavaForConditionalGeneration for a LLaVA directory;
    fp32, eager attention),
  - fedvlm's model loaded from the same files (build/tests/fedvlm-hf-logits), and
  - tools/hf_reference.py, the numpy re-implementation the C++ tests use (checks the checker),
on the same token ids, and fails when fedvlm differs from transformers by more than --tolerance.
A LLaVA directory gets random uint8 images at its tower's size: transformers sees input_ids of
that many image tokens followed by the text and pixel_values normalized with the model's mean and
std (what its processor gives for images already at size); fedvlm sees the images as its trainer
collates them and runs the processor itself. The logits compared are those of the text positions.

Without directories it writes tiny random checkpoints with tools/hf_checkpoint.py (weights scaled
up so attention is far from uniform): Llama untied, Llama tied with llama3 rope scaling, Qwen2,
Llama in bf16, LLaVA (CLIP + Llama) and LLaVA with a Qwen2 language model, all
in a temporary directory.

Needs torch and transformers (a GPU machine's Python); without them it exits with status 77.

  python3 tools/hf-parity.py                               # the tiny checkpoints
  python3 tools/hf-parity.py /models/Llama-3.2-1B --tokens 128000,791,6864,374 --tolerance 1e-3
"""
import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path.insert(0, str(TOOLS))
hf_checkpoint = hf_reference = None  # numpy-based siblings, imported once torch is known to be there

SKIPPED = 77
TINY = [  # (name, hf_checkpoint.py arguments)
    ("llama", ["llama", "--seed", "1"]),
    ("llama3-tied", ["llama", "--tie", "--rope-scaling", "--hidden", "64", "--heads", "4", "--seed", "2"]),
    ("qwen2", ["qwen2", "--seed", "3"]),
    ("llama-bf16", ["llama", "--dtype", "bf16", "--seed", "4"]),
    ("llava", ["llava", "--seed", "5"]),
    ("llava-qwen2", ["llava", "--text-arch", "qwen2", "--seed", "6"]),
]
DEFAULT_TOKENS = "1,5,9,100,17,3,64,126,8,8,42,0,77,2,31,90"  # 127 is the tiny LLaVA's image token
# Image normalization of the processors' class defaults (the tiny directories have no
# preprocessor_config.json): CLIPImageProcessor's OpenAI mean and std, SiglipImageProcessor's 0.5.
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


def tiny_checkpoints(root, scale):
    import numpy as np
    directories = []
    for name, arguments in TINY:
        out = Path(root) / name
        hf_checkpoint.main(arguments + ["--out", str(out)])
        storage = {"F32": "fp32", "F16": "fp16", "BF16": "bf16"}
        for file in sorted(out.glob("*.safetensors")):
            header = json.loads(file.read_bytes()[8:8 + int.from_bytes(file.read_bytes()[:8], "little")])
            tensors = []
            for tensor_name, values in hf_reference.read_safetensors(file).items():
                values = np.asarray(values, dtype=np.float32)
                if not tensor_name.endswith("norm.weight"):
                    values = values * np.float32(scale)
                tensors.append(hf_checkpoint.encode(tensor_name, values, storage[header[tensor_name]["dtype"]]))
            hf_checkpoint.write_safetensors(file, tensors, {"format": "pt"})
        directories.append(out)
    return directories


def llava_config(directory):
    config = json.loads((Path(directory) / "config.json").read_text())
    return config if config.get("model_type") == "llava" else None


def llava_images(config, count, seed=0):
    """Random uint8 images [count, 3, S, S] at the tower's size, and their pixel values."""
    import numpy as np
    vision = config.get("vision_config") or {}
    size = vision.get("image_size", 336)
    siglip = vision.get("model_type") == "siglip_vision_model"
    mean, std = ((0.5,) * 3, (0.5,) * 3) if siglip else (CLIP_MEAN, CLIP_STD)
    images = np.random.default_rng(seed).integers(0, 256, size=(count, 3, size, size), dtype=np.uint8)
    pixels = (images / 255.0 - np.asarray(mean).reshape(1, 3, 1, 1)) / np.asarray(std).reshape(1, 3, 1, 1)
    return images, pixels.astype(np.float32)


def image_token_count(config):
    vision = config.get("vision_config") or {}
    patches = (vision.get("image_size", 336) // vision.get("patch_size", 14)) ** 2
    clip = vision.get("model_type", "clip_vision_model") == "clip_vision_model"
    tokens = patches + (1 if clip else 0)
    return tokens - 1 if config.get("vision_feature_select_strategy", "default") == "default" else tokens


def transformers_logits(directory, sequences, device, pixels=None):
    import torch
    from transformers import AutoModelForCausalLM, LlavaForConditionalGeneration
    config = llava_config(directory)
    cls = LlavaForConditionalGeneration if config else AutoModelForCausalLM
    model = cls.from_pretrained(directory, torch_dtype=torch.float32, attn_implementation="eager")
    model.to(device).eval()
    with torch.no_grad():
        if config is None:
            ids = torch.tensor(sequences, dtype=torch.long, device=device)
            return model(input_ids=ids).logits.double().cpu().numpy()
        images = image_token_count(config)
        ids = torch.tensor([[config["image_token_index"]] * images + list(s) for s in sequences], dtype=torch.long,
                           device=device)
        logits = model(input_ids=ids, pixel_values=torch.from_numpy(pixels).to(device)).logits
        return logits[:, images:].double().cpu().numpy()


def fedvlm_logits(binary, directory, sequences, images=None, scratch=None):
    command = [str(binary), str(directory)] + [",".join(map(str, s)) for s in sequences]
    if images is not None:
        path = Path(scratch) / "images.json"
        path.write_text(json.dumps({"images": images.tolist()}))
        command += ["--images", str(path)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({result.returncode}): {result.stderr.strip()}")
    import numpy as np
    return np.asarray(json.loads(result.stdout)["logits"], dtype=np.float64)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directories", nargs="*", help="Hugging Face model directories (default: tiny random ones)")
    parser.add_argument("--tokens", action="append", help=f"comma-separated ids of one sequence (default {DEFAULT_TOKENS})")
    parser.add_argument("--fedvlm-logits", default=str(TOOLS.parent / "build" / "tests" / "fedvlm-hf-logits"),
                        help="the fedvlm-hf-logits binary (default build/tests/fedvlm-hf-logits)")
    parser.add_argument("--tolerance", type=float, default=1e-4, help="max |fedvlm - transformers| (default 1e-4)")
    parser.add_argument("--scale", type=float, default=15.0, help="weight scale of the tiny checkpoints (default 15)")
    parser.add_argument("--device", default="cpu", help="where transformers runs (default cpu)")
    parser.add_argument("--skip-numpy", action="store_true",
                        help="leave out the numpy reference (slow and memory-hungry on real models)")
    args = parser.parse_args(argv)
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        global hf_checkpoint, hf_reference
        import hf_checkpoint
        import hf_reference
    except ImportError as error:
        print(f"hf-parity.py: transformers not installed (needs torch and transformers: {error}); nothing compared",
              file=sys.stderr)
        return SKIPPED
    if not Path(args.fedvlm_logits).exists():
        print(f"hf-parity.py: {args.fedvlm_logits} not found (cmake --build build --target fedvlm-hf-logits)",
              file=sys.stderr)
        return 2
    sequences = [[int(t) for t in text.split(",")] for text in (args.tokens or [DEFAULT_TOKENS])]
    with tempfile.TemporaryDirectory(prefix="fedvlm-hf-parity-") as root:
        directories = args.directories or tiny_checkpoints(root, args.scale)
        failed = False
        print(f"{'model':<40} {'|fedvlm - hf|':>14} {'|numpy - hf|':>14}  max |logit|")
        for directory in directories:
            config = llava_config(directory)
            images = pixels = None
            if config is not None:
                images, pixels = llava_images(config, len(sequences))
            reference = transformers_logits(directory, sequences, args.device, pixels)
            ours = fedvlm_logits(args.fedvlm_logits, directory, sequences, images, root)
            ours_difference = float(abs(ours - reference).max())
            numpy_difference = float("nan")
            if not args.skip_numpy:
                numpy = (hf_reference.logits(directory, sequences) if config is None
                         else hf_reference.llava_logits(directory, pixels.astype("float64"), sequences))
                numpy_difference = float(abs(numpy - reference).max())
            ok = ours_difference <= args.tolerance
            failed |= not ok
            print(f"{Path(directory).name:<40} {ours_difference:>14.3g} {numpy_difference:>14.3g}  "
                  f"{float(abs(reference).max()):.3g}  {'ok' if ok else 'FAIL'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
