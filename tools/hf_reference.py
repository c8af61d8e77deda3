#!/usr/bin/python3
"""Reference logits of a Hugging Face Llama / Qwen2 language model, numpy only.

Runs the forward pass of transformers' LlamaForCausalLM / Qwen2ForCausalLM (eager attention,
no cache) on a model directory (config.json + model.safetensors, or an index and its shards) and
token ids, so fedvlm's decoder can be checked without transformers or torch:

  token embedding; per layer: RMSNorm, q/k/v projections (+ biases: Qwen2, or Llama's
  attention_bias), rotary positions in the rotate_half layout (dimension i pairs with
  i + head_dim/2) with optional llama3 frequency scaling, grouped-query attention under a causal
  mask, o projection, residual, RMSNorm, SwiGLU down(silu(gate x) * up x), residual; final
  RMSNorm; lm_head (or the embedding when tied).

The rotary tables are computed in float32 as transformers computes them; the rest in float32
(as transformers runs an fp32 model) or float64 (--float64). A LLaVA directory gives the
logits of its language model alone (text tokens, no image).

  /usr/bin/python3 tools/hf_reference.py /tmp/tiny-llama --tokens 1,5,9,3 > logits.json
  /usr/bin/python3 tools/hf_reference.py /tmp/tiny-qwen2 --tokens 1,2,3 --tokens 4,5,6 --out logits.npy

Output: JSON {"logits": [B][T][vocab]} on stdout (or --out FILE.json), or a .npy of that shape.
"""
import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

NUMPY_TYPES = {"F32": "<f4", "F16": "<f2", "F64": "<f8"}


# ----- weights -----

def read_safetensors(path):
    """{name: float32/float64 array} of one .safetensors file (F32, F16, BF16, F64 tensors)."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    base = 8 + length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        raw = data[base + begin:base + end]
        if entry["dtype"] == "BF16":  # the top 16 bits of a float32
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << np.uint32(16)
            values = bits.view(np.float32)
        elif entry["dtype"] in NUMPY_TYPES:
            values = np.frombuffer(raw, dtype=NUMPY_TYPES[entry["dtype"]])
        else:
            raise ValueError(f"{path}: {name} is {entry['dtype']}, not a floating type")
        tensors[name] = values.reshape(entry["shape"])
    return tensors


def read_weights(directory):
    directory = Path(directory)
    if (directory / "model.safetensors").exists():
        return read_safetensors(directory / "model.safetensors")
    index = json.loads((directory / "model.safetensors.index.json").read_text())
    tensors = {}
    for shard in sorted(set(index["weight_map"].values())):
        tensors.update(read_safetensors(directory / shard))
    return tensors


# ----- config (transformers' LlamaConfig / Qwen2Config defaults) -----

def text_config(directory):
    config = json.loads((Path(directory) / "config.json").read_text())
    if config.get("model_type") == "llava":
        config = dict(config["text_config"])
        config.setdefault("model_type", "llama")
        config["_llava"] = True
    kind = config.get("model_type")
    if kind not in ("llama", "qwen2"):
        raise ValueError(f"model_type {kind!r}: llama, qwen2 or llava only")
    qwen2 = kind == "qwen2"
    heads = config.get("num_attention_heads", 32)
    hidden = config.get("hidden_size", 4096)
    kv_heads = config.get("num_key_value_heads", 32 if qwen2 else None) or heads
    rope = config.get("rope_parameters") or config.get("rope_scaling") or {}
    theta = (config.get("rope_parameters") or {}).get("rope_theta", config.get("rope_theta", 10000.0))
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", "llama3"):
        raise ValueError(f"rope type {rope_type!r}: default or llama3 only")
    if config.get("hidden_act", "silu") != "silu":
        raise ValueError("hidden_act must be silu")
    attention_bias = bool(config.get("attention_bias", False)) and not qwen2
    return {
        "qwen2": qwen2, "llava": config.get("_llava", False),
        "layers": config.get("num_hidden_layers", 32), "heads": heads, "kv_heads": kv_heads,
        "head_dim": config.get("head_dim") or hidden // heads,
        "eps": config.get("rms_norm_eps", 1e-6), "theta": theta,
        "llama3": rope if rope_type == "llama3" else None,
        "tie": config.get("tie_word_embeddings", False),
        "qkv_bias": qwen2 or attention_bias, "o_bias": attention_bias,
        "mlp_bias": bool(config.get("mlp_bias", False)) and not qwen2,
    }


# ----- forward -----

def inverse_frequencies(config):
    """transformers' default rotary frequencies, then _compute_llama3_parameters; float32."""
    dim = config["head_dim"]
    inv_freq = (1.0 / (config["theta"] ** (np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / dim))).astype(np.float32)
    scaling = config["llama3"]
    if scaling is None:
        return inv_freq
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_context = scaling["original_max_position_embeddings"]
    low_wavelength, high_wavelength = old_context / low, old_context / high
    wavelength = (2 * math.pi / inv_freq).astype(np.float32)
    # Long wavelengths are stretched by `factor`, short ones kept, the band between interpolated.
    stretched = np.where(wavelength > low_wavelength, inv_freq / factor, inv_freq).astype(np.float32)
    smooth = (old_context / wavelength - low) / (high - low)
    smoothed = (1 - smooth) * stretched / factor + smooth * stretched
    medium = (wavelength >= high_wavelength) & (wavelength <= low_wavelength)
    return np.where(medium, smoothed, stretched).astype(np.float32)


def rotate_half(x):
    half = x.shape[-1] // 2
    return np.concatenate([-x[..., half:], x[..., :half]], axis=-1)


def rms_norm(x, weight, eps):
    variance = np.mean(x * x, axis=-1, keepdims=True)
    return weight * (x / np.sqrt(variance + eps))


def silu(x):
    return x / (1 + np.exp(-x))


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=-1, keepdims=True)


def forward(config, weights, tokens, dtype):
    """Logits [T, vocab] of one sequence of token ids at positions 0..T-1."""
    if config["llava"]:
        model = "model.language_model." if any(n.startswith("model.language_model.") for n in weights) \
            else "language_model.model."
        head_name = "lm_head.weight" if model == "model.language_model." else "language_model.lm_head.weight"
    else:
        model, head_name = "model.", "lm_head.weight"

    def w(name):
        return weights[name].astype(dtype)

    def linear(x, name, bias):
        y = x @ w(name + ".weight").T
        return y + w(name + ".bias") if bias else y

    heads, kv_heads, head_dim = config["heads"], config["kv_heads"], config["head_dim"]
    length = len(tokens)
    angles = np.outer(np.arange(length, dtype=np.float32), inverse_frequencies(config)).astype(np.float32)
    angles = np.concatenate([angles, angles], axis=-1)
    cos, sin = np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)  # [T, head_dim]
    causal = np.triu(np.full((length, length), np.finfo(dtype).min, dtype=dtype), k=1)

    h = w(model + "embed_tokens.weight")[np.asarray(tokens)]
    for layer in range(config["layers"]):
        p = f"{model}layers.{layer}."
        x = rms_norm(h, w(p + "input_layernorm.weight"), config["eps"])
        q = linear(x, p + "self_attn.q_proj", config["qkv_bias"]).reshape(length, heads, head_dim).transpose(1, 0, 2)
        k = linear(x, p + "self_attn.k_proj", config["qkv_bias"]).reshape(length, kv_heads, head_dim).transpose(1, 0, 2)
        v = linear(x, p + "self_attn.v_proj", config["qkv_bias"]).reshape(length, kv_heads, head_dim).transpose(1, 0, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = np.repeat(k, heads // kv_heads, axis=0)  # query head j reads key/value head j // (heads / kv_heads)
        v = np.repeat(v, heads // kv_heads, axis=0)
        scores = (q @ k.transpose(0, 2, 1)) * dtype(head_dim ** -0.5) + causal
        attended = (softmax(scores) @ v).transpose(1, 0, 2).reshape(length, heads * head_dim)
        h = h + linear(attended, p + "self_attn.o_proj", config["o_bias"])
        x = rms_norm(h, w(p + "post_attention_layernorm.weight"), config["eps"])
        gate = linear(x, p + "mlp.gate_proj", config["mlp_bias"])
        up = linear(x, p + "mlp.up_proj", config["mlp_bias"])
        h = h + linear(silu(gate) * up, p + "mlp.down_proj", config["mlp_bias"])
    h = rms_norm(h, w(model + "norm.weight"), config["eps"])
    head = w(model + "embed_tokens.weight") if config["tie"] else w(head_name)
    return h @ head.T


def logits(directory, sequences, dtype=np.float32):
    config = text_config(directory)
    weights = read_weights(directory)
    return np.stack([forward(config, weights, tokens, dtype) for tokens in sequences])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", help="Hugging Face model directory")
    parser.add_argument("--tokens", action="append", required=True,
                        help="comma-separated token ids of one sequence (repeat for a batch of equal lengths)")
    parser.add_argument("--float64", action="store_true", help="compute in float64 (rotary tables stay float32)")
    parser.add_argument("--out", help="write FILE.json or FILE.npy instead of JSON on stdout")
    args = parser.parse_args(argv)
    sequences = [[int(t) for t in text.split(",") if t.strip()] for text in args.tokens]
    if len({len(s) for s in sequences}) != 1 or not sequences[0]:
        parser.error("every --tokens sequence must be non-empty and of the same length")
    try:
        result = logits(args.directory, sequences, np.float64 if args.float64 else np.float32)
    except (OSError, KeyError, ValueError) as error:
        print(f"hf_reference.py: {args.directory}: {error}", file=sys.stderr)
        return 1
    if args.out and args.out.endswith(".npy"):
        np.save(args.out, result)
        return 0
    text = json.dumps({"logits": result.astype(np.float64).tolist()})
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
