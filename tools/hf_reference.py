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
logits of its language model alone (text tokens, no image), or with --pixels those of the text
after the image's tokens (fedvlm's layout: image first, positions from 0):

  vision tower (CLIPVisionTransformer / SiglipVisionTransformer): patch convolution (SigLIP: with
  bias), CLIP's class token first, position embeddings, CLIP's pre_layrnorm; per layer: LayerNorm,
  bidirectional attention with q/k/v/out biases, residual, LayerNorm, fc2(act(fc1 x)), residual
  (quick_gelu, gelu or the tanh approximation); hidden_states[vision_feature_layer], before
  post_layernorm; "default" drops the first token; projector linear_2(gelu(linear_1 x)).

  /usr/bin/python3 tools/hf_reference.py /tmp/tiny-llama --tokens 1,5,9,3 > logits.json
  /usr/bin/python3 tools/hf_reference.py /tmp/tiny-qwen2 --tokens 1,2,3 --tokens 4,5,6 --out logits.npy
  /usr/bin/python3 tools/hf_reference.py /tmp/tiny-llava --pixels pixels.json --tokens 1,5,9
  /usr/bin/python3 tools/hf_reference.py /tmp/tiny-clip --pixels pixels.json --hidden-layer -2
  /usr/bin/python3 tools/hf_reference.py --process request.json     # the image processor, with PIL

Output: JSON {"logits": [B][T][vocab]} ({"hidden": ...}, {"pixels": ...}) on stdout (or --out
FILE.json), or a .npy of that shape.
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


def text_prefixes(config, weights):
    """(language model prefix, lm_head name) of the checkpoint's layout."""
    if config["llava"]:
        model = "model.language_model." if any(n.startswith("model.language_model.") for n in weights) \
            else "language_model.model."
        head_name = "lm_head.weight" if model == "model.language_model." else "language_model.lm_head.weight"
    else:
        model, head_name = "model.", "lm_head.weight"
    return model, head_name


def forward(config, weights, tokens, dtype):
    """Logits [T, vocab] of one sequence of token ids at positions 0..T-1."""
    model, _ = text_prefixes(config, weights)
    embeddings = weights[model + "embed_tokens.weight"].astype(dtype)[np.asarray(tokens)]
    return forward_embeddings(config, weights, embeddings, dtype)


def forward_embeddings(config, weights, h, dtype):
    """Logits [T, vocab] of a sequence given as input embeddings [T, hidden] at positions 0..T-1."""
    model, head_name = text_prefixes(config, weights)

    def w(name):
        return weights[name].astype(dtype)

    def linear(x, name, bias):
        y = x @ w(name + ".weight").T
        return y + w(name + ".bias") if bias else y

    heads, kv_heads, head_dim = config["heads"], config["kv_heads"], config["head_dim"]
    length = h.shape[0]
    angles = np.outer(np.arange(length, dtype=np.float32), inverse_frequencies(config)).astype(np.float32)
    angles = np.concatenate([angles, angles], axis=-1)
    cos, sin = np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)  # [T, head_dim]
    causal = np.triu(np.full((length, length), np.finfo(dtype).min, dtype=dtype), k=1)

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


# ----- vision towers (transformers' CLIPVisionTransformer / SiglipVisionTransformer) and LLaVA -----

CLIP_DEFAULTS = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                 "image_size": 224, "patch_size": 32, "layer_norm_eps": 1e-5, "hidden_act": "quick_gelu"}
SIGLIP_DEFAULTS = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                   "image_size": 224, "patch_size": 16, "layer_norm_eps": 1e-6, "hidden_act": "gelu_pytorch_tanh"}
LLAVA_CLIP = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24, "num_attention_heads": 16,
              "image_size": 336, "patch_size": 14, "layer_norm_eps": 1e-5, "hidden_act": "quick_gelu"}


def vision_config(directory):
    """The tower of a clip_vision_model / siglip_vision_model / llava directory, with the LLaVA keys."""
    config = json.loads((Path(directory) / "config.json").read_text())
    llava = config.get("model_type") == "llava"
    vision = (config.get("vision_config") or {}) if llava else config
    kind = vision.get("model_type", "clip_vision_model")
    if kind not in ("clip_vision_model", "siglip_vision_model"):
        raise ValueError(f"vision model_type {kind!r}: clip_vision_model or siglip_vision_model only")
    defaults = SIGLIP_DEFAULTS if kind == "siglip_vision_model" else \
        (LLAVA_CLIP if llava and not config.get("vision_config") else CLIP_DEFAULTS)
    result = {key: vision.get(key, value) for key, value in defaults.items()}
    result["clip"] = kind == "clip_vision_model"
    result["feature_layer"] = config.get("vision_feature_layer", -2) if llava else -1
    result["strategy"] = config.get("vision_feature_select_strategy", "default") if llava else "full"
    return result


def layer_norm(x, weight, bias, eps):
    mean = np.mean(x, axis=-1, keepdims=True)
    variance = np.mean((x - mean) ** 2, axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * weight + bias


def gelu_exact(x):
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return (0.5 * x * (1.0 + erf(x.astype(np.float64) / math.sqrt(2.0)))).astype(x.dtype)


def activation(name, x):
    if name == "quick_gelu":
        return x / (1 + np.exp(-1.702 * x))
    if name == "gelu":
        return gelu_exact(x)
    if name in ("gelu_pytorch_tanh", "gelu_new"):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    raise ValueError(f"hidden_act {name!r}")


def vision_hidden_states(config, weights, prefix, pixels, dtype):
    """transformers' hidden_states of the tower: [embeddings (CLIP: after pre_layrnorm), layer 1, ...],
    each [B, tokens, hidden], for pixel values [B, 3, S, S]."""
    def w(name):
        return weights[prefix + name].astype(dtype)

    hidden, heads, patch = config["hidden_size"], config["num_attention_heads"], config["patch_size"]
    eps = config["layer_norm_eps"]
    batch, channels, size, _ = pixels.shape
    grid = size // patch
    # The stride-p convolution as a product over flattened patches ([c, i, j] order of the kernel).
    patches = pixels.astype(dtype).reshape(batch, channels, grid, patch, grid, patch)
    patches = patches.transpose(0, 2, 4, 1, 3, 5).reshape(batch, grid * grid, channels * patch * patch)
    h = patches @ w("embeddings.patch_embedding.weight").reshape(hidden, -1).T
    if config["clip"]:
        cls = np.broadcast_to(w("embeddings.class_embedding"), (batch, 1, hidden))
        h = np.concatenate([cls, h], axis=1)
    else:
        h = h + w("embeddings.patch_embedding.bias")
    h = h + w("embeddings.position_embedding.weight")[None]
    if config["clip"]:
        h = layer_norm(h, w("pre_layrnorm.weight"), w("pre_layrnorm.bias"), eps)
    states = [h]
    head_dim = hidden // heads
    tokens = h.shape[1]
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layers.{layer}."

        def linear(x, name):
            return x @ w(p + name + ".weight").T + w(p + name + ".bias")

        def split(x):
            return x.reshape(batch, tokens, heads, head_dim).transpose(0, 2, 1, 3)

        x = layer_norm(h, w(p + "layer_norm1.weight"), w(p + "layer_norm1.bias"), eps)
        q, k, v = (split(linear(x, f"self_attn.{n}_proj")) for n in ("q", "k", "v"))
        scores = (q @ k.transpose(0, 1, 3, 2)) * dtype(head_dim ** -0.5)
        attended = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(batch, tokens, hidden)
        h = h + linear(attended, "self_attn.out_proj")
        x = layer_norm(h, w(p + "layer_norm2.weight"), w(p + "layer_norm2.bias"), eps)
        h = h + linear(activation(config["hidden_act"], linear(x, "mlp.fc1")), "mlp.fc2")
        states.append(h)
    return states


def llava_prefixes(weights):
    """(tower prefix, projector prefix) of a LLaVA checkpoint: transformers < 4.52 or >= 4.52."""
    if any(n.startswith("model.vision_tower.") for n in weights):
        return "model.vision_tower.vision_model.", "model.multi_modal_projector."
    return "vision_tower.vision_model.", "multi_modal_projector."


def image_features(directory, weights, pixels, dtype):
    """LLaVA's image tokens [B, N, text hidden]: hidden_states[vision_feature_layer], the first token
    dropped for "default", through linear_2(gelu(linear_1(.)))."""
    config = vision_config(directory)
    tower, projector = llava_prefixes(weights)
    features = vision_hidden_states(config, weights, tower, pixels, dtype)[config["feature_layer"]]
    if config["strategy"] == "default":
        features = features[:, 1:]

    def linear(x, name):
        return x @ weights[projector + name + ".weight"].astype(dtype).T + weights[projector + name + ".bias"].astype(dtype)

    return linear(gelu_exact(linear(features, "linear_1")), "linear_2")


def llava_logits(directory, pixels, sequences, dtype=np.float32):
    """Logits [B, T, vocab] of the text positions of [image tokens][tokens] (fedvlm's layout: the
    image first, positions from 0), i.e. input_ids of N image tokens followed by the text."""
    config = text_config(directory)
    weights = read_weights(directory)
    model, _ = text_prefixes(config, weights)
    images = image_features(directory, weights, pixels, dtype)
    embed = weights[model + "embed_tokens.weight"].astype(dtype)
    rows = []
    for image, tokens in zip(images, sequences):
        h = np.concatenate([image, embed[np.asarray(tokens)]], axis=0)
        rows.append(forward_embeddings(config, weights, h, dtype)[image.shape[0]:])
    return np.stack(rows)


def tower_hidden_state(directory, pixels, layer, dtype=np.float32):
    """hidden_states[layer] [B, tokens, hidden] of a clip_vision / siglip_vision directory."""
    config = vision_config(directory)
    return vision_hidden_states(config, read_weights(directory), "vision_model.", pixels, dtype)[layer]


def process_images(images, size, mean, std, shortest_edge=True, crop=True, bicubic=True):
    """transformers' CLIPImageProcessor (shortest edge, center crop) or SiglipImageProcessor (square
    resize) on uint8 images [B, C, H, W] (C = 1 or 3), with PIL as transformers resizes: float32
    pixel values [B, 3, size, size]."""
    from PIL import Image  # only here: the rest of this tool needs numpy alone
    out = []
    for image in images:
        rgb = np.repeat(image, 3, axis=0) if image.shape[0] == 1 else image
        pil = Image.fromarray(np.ascontiguousarray(rgb.transpose(1, 2, 0)), "RGB")
        width, height = pil.size
        if shortest_edge:
            short, long = min(width, height), max(width, height)
            new_long = int(size * long / short)
            target = (size, new_long) if width <= height else (new_long, size)  # (width, height)
        else:
            target = (size, size)
        if target != (width, height):
            pil = pil.resize(target, Image.BICUBIC if bicubic else Image.BILINEAR)
        array = np.asarray(pil).astype(np.float32)
        if crop:
            top, left = (array.shape[0] - size) // 2, (array.shape[1] - size) // 2
            array = array[top:top + size, left:left + size]
        array = (array * np.float32(1 / 255) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
        out.append(array.transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def logits(directory, sequences, dtype=np.float32):
    config = text_config(directory)
    weights = read_weights(directory)
    return np.stack([forward(config, weights, tokens, dtype) for tokens in sequences])


def read_json_array(path, key, dtype):
    return np.asarray(json.loads(Path(path).read_text())[key], dtype=dtype)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", nargs="?", help="Hugging Face model directory")
    parser.add_argument("--tokens", action="append",
                        help="comma-separated token ids of one sequence (repeat for a batch of equal lengths)")
    parser.add_argument("--pixels", help="JSON {\"pixels\": [B][3][S][S]} pixel values: with a llava directory and "
                                         "--tokens, the logits of the text after the image; with a vision tower and "
                                         "--hidden-layer, that hidden state")
    parser.add_argument("--hidden-layer", type=int, help="index into the tower's hidden_states (negative from the end)")
    parser.add_argument("--process", help="JSON {\"images\": uint8 [B][C][H][W], \"size\", \"mean\", \"std\", "
                                          "\"shortest_edge\", \"crop\", \"bicubic\"}: the processed pixel values "
                                          "(needs PIL; no directory)")
    parser.add_argument("--float64", action="store_true", help="compute in float64 (rotary tables stay float32)")
    parser.add_argument("--out", help="write FILE.json or FILE.npy instead of JSON on stdout")
    args = parser.parse_args(argv)
    dtype = np.float64 if args.float64 else np.float32
    sequences = [[int(t) for t in text.split(",") if t.strip()] for text in args.tokens or []]
    if args.tokens and (len({len(s) for s in sequences}) != 1 or not sequences[0]):
        parser.error("every --tokens sequence must be non-empty and of the same length")
    try:
        if args.process:
            request = json.loads(Path(args.process).read_text())
            key, result = "pixels", process_images(
                np.asarray(request["images"], np.uint8), request["size"], request["mean"], request["std"],
                request.get("shortest_edge", True), request.get("crop", True), request.get("bicubic", True))
        elif not args.directory:
            parser.error("a model directory is needed")
        elif args.pixels and args.hidden_layer is not None:
            key, result = "hidden", tower_hidden_state(args.directory, read_json_array(args.pixels, "pixels", np.float32),
                                                       args.hidden_layer, dtype)
        elif args.pixels:
            if not sequences:
                parser.error("--pixels with a llava directory needs --tokens")
            key, result = "logits", llava_logits(args.directory, read_json_array(args.pixels, "pixels", np.float32),
                                                 sequences, dtype)
        else:
            if not sequences:
                parser.error("--tokens is required")
            key, result = "logits", logits(args.directory, sequences, dtype)
    except (OSError, KeyError, ValueError, IndexError) as error:
        print(f"hf_reference.py: {args.directory or args.process}: {error}", file=sys.stderr)
        return 1
    if args.out and args.out.endswith(".npy"):
        np.save(args.out, result)
        return 0
    text = json.dumps({key: result.astype(np.float64).tolist()})
    if args.out:
        Path(args.out).write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
