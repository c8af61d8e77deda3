#!/usr/bin/python3
"""Tiny random Hugging Face checkpoints: config.json + safetensors, numpy only.

Writes a model directory laid out exactly as transformers (4.4x) saves one, with random weights
and tiny sizes, so that readers of real checkpoints can be tested without downloading one:

  config.json
  model.safetensors                                   (--shards 1, the default)
  model-00001-of-0000N.safetensors ... + model.safetensors.index.json   (--shards N)

Architectures (tensor names as the transformers classes name them):
  llava          LlavaForConditionalGeneration: vision_tower.vision_model.* (CLIP),
                 multi_modal_projector.linear_{1,2}, language_model.model.* (+ language_model.lm_head)
  llama          LlamaForCausalLM: model.*, lm_head.weight (absent when --tie)
  qwen2          Qwen2ForCausalLM: as llama, plus q/k/v projection biases
  clip_vision    CLIPVisionModel: vision_model.*
  siglip_vision  SiglipVisionModel: vision_model.* (with the attention-pooling head unless --no-head)
  clip           CLIPModel, the dual encoder LLaVA-style models take their tower from
                 (openai/clip-vit-large-patch14-336): vision_model.*, text_model.*,
                 visual_projection, text_projection, logit_scale
  siglip         SiglipModel (google/siglip-so400m-patch14-384): vision_model.*, text_model.*
                 (with its head), logit_scale, logit_bias

Weights are stored in fp32, fp16 or bf16 (--dtype); bf16 is fp32 rounded to nearest even.
Every safetensors file carries the metadata {"format": "pt"} as transformers writes it, and its
header is laid out as the reference implementation lays it out (widest dtype first, then by name;
compact JSON padded with spaces to a multiple of 8 bytes).

  /usr/bin/python3 tools/hf_checkpoint.py llava --out /tmp/tiny-llava --dtype bf16 --shards 2
  /usr/bin/python3 tools/hf_checkpoint.py qwen2 --list        # names, shapes, dtypes as JSON
"""
import argparse
import dataclasses
import json
import os
import struct
import sys
from pathlib import Path

import numpy as np

TRANSFORMERS_VERSION = "4.45.2"  # the layout written is that of transformers 4.4x

# The reference implementation's dtype order (by alignment); the writer sorts widest first.
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32", "U32",
               "F32", "F64", "I64", "U64"]
DTYPE_SIZE = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
              "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8}
NUMPY_DTYPE = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "U16": np.uint16,
               "F16": np.float16, "I32": np.int32, "U32": np.uint32, "F32": np.float32,
               "F64": np.float64, "I64": np.int64, "U64": np.uint64}
STORAGE = {"fp32": ("F32", "float32"), "fp16": ("F16", "float16"), "bf16": ("BF16", "bfloat16")}
ARCHITECTURES = ["llava", "llama", "qwen2", "clip_vision", "siglip_vision", "clip", "siglip"]


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One tensor to write: safetensors dtype name, shape and little-endian row-major bytes."""
    name: str
    dtype: str
    shape: tuple
    data: bytes


def float32_to_bfloat16_bits(values):
    """bf16 bit patterns (uint16) of float32 values, rounded to nearest even; NaN stays NaN."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    rounding = np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))
    rounded = ((bits + rounding) >> np.uint32(16)).astype(np.uint16)  # only NaNs can wrap: replaced below
    nan = np.isnan(values)
    # A quiet NaN that keeps the sign (what torch gives).
    rounded[nan] = ((bits[nan] >> np.uint32(16)) | np.uint32(0x0040)).astype(np.uint16)
    return rounded


def encode(name, values, storage):
    """A Tensor of float32 `values` stored as `storage` ("fp32", "fp16" or "bf16")."""
    dtype = STORAGE[storage][0]
    values = np.asarray(values, dtype=np.float32)
    if dtype == "BF16":
        data = float32_to_bfloat16_bits(values).astype("<u2").tobytes()
    else:
        data = values.astype(np.dtype(NUMPY_DTYPE[dtype]).newbyteorder("<")).tobytes()
    return Tensor(name, dtype, tuple(int(d) for d in values.shape), data)


def from_array(name, array):
    """A Tensor holding a numpy array of any safetensors-storable type as it is."""
    for dtype, numpy_type in NUMPY_DTYPE.items():
        if array.dtype == np.dtype(numpy_type):
            data = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
            return Tensor(name, dtype, tuple(int(d) for d in array.shape), data)
    raise ValueError(f"{name}: numpy type {array.dtype} has no safetensors dtype")


def safetensors_bytes(tensors, metadata=None):
    """The whole file: 8-byte header length, header, data area, laid out as the reference does."""
    order = sorted(tensors, key=lambda t: (-DTYPE_ORDER.index(t.dtype), t.name.encode("utf-8")))
    header = {}
    if metadata:
        header["__metadata__"] = {key: metadata[key] for key in sorted(metadata)}
    offset = 0
    names = set()
    for tensor in order:
        if tensor.name == "__metadata__" or tensor.name in names:
            raise ValueError(f"tensor name {tensor.name!r} is reserved or given twice")
        names.add(tensor.name)
        count = 1
        for dim in tensor.shape:
            if dim < 0:
                raise ValueError(f"{tensor.name}: negative dimension in {tensor.shape}")
            count *= dim
        if len(tensor.data) != count * DTYPE_SIZE[tensor.dtype]:
            raise ValueError(f"{tensor.name}: {len(tensor.data)} bytes for {tensor.dtype} {tensor.shape}")
        header[tensor.name] = {"dtype": tensor.dtype, "shape": list(tensor.shape),
                               "data_offsets": [offset, offset + len(tensor.data)]}
        offset += len(tensor.data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(t.data for t in order)


def write_atomically(path, data):
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(temporary, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def write_safetensors(path, tensors, metadata=None):
    write_atomically(path, safetensors_bytes(tensors, metadata))


# ----- architectures: (config, [(name, shape, kind)]) in state-dict order -----

@dataclasses.dataclass
class Sizes:
    hidden: int = 32
    layers: int = 2
    heads: int = 4
    kv_heads: int = 2
    intermediate: int = 64
    vocab: int = 128
    max_positions: int = 256
    tie: bool = False
    rope_scaling: bool = False
    text_arch: str = "llama"  # llava's language model: llama or qwen2
    vision_hidden: int = 32
    vision_layers: int = 2
    vision_heads: int = 4
    vision_intermediate: int = 64
    image_size: int = 32
    patch_size: int = 8
    vision_head: bool = True  # siglip_vision's attention-pooling head


def text_config(sizes, arch, torch_dtype):
    head_dim = sizes.hidden // sizes.heads
    rope_scaling = None
    if sizes.rope_scaling:
        rope_scaling = {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                        "original_max_position_embeddings": sizes.max_positions // 2,
                        "rope_type": "llama3"}
    config = {
        "model_type": arch,
        "vocab_size": sizes.vocab,
        "hidden_size": sizes.hidden,
        "intermediate_size": sizes.intermediate,
        "num_hidden_layers": sizes.layers,
        "num_attention_heads": sizes.heads,
        "num_key_value_heads": sizes.kv_heads,
        "hidden_act": "silu",
        "max_position_embeddings": sizes.max_positions,
        "initializer_range": 0.02,
        "use_cache": True,
        "rope_scaling": rope_scaling,
        "attention_dropout": 0.0,
        "tie_word_embeddings": sizes.tie,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "torch_dtype": torch_dtype,
    }
    if arch == "llama":
        config.update({"head_dim": head_dim, "rms_norm_eps": 1e-5, "rope_theta": 500000.0,
                       "pretraining_tp": 1, "attention_bias": False, "mlp_bias": False})
    else:
        config.update({"rms_norm_eps": 1e-6, "rope_theta": 1000000.0, "use_sliding_window": False,
                       "sliding_window": sizes.max_positions, "max_window_layers": sizes.layers})
    return config


def text_tensors(sizes, arch, model_prefix, head_name):
    hidden, head_dim = sizes.hidden, sizes.hidden // sizes.heads
    q_rows, kv_rows = sizes.heads * head_dim, sizes.kv_heads * head_dim
    biased = arch == "qwen2"  # Qwen2Attention: q, k, v with bias, o_proj without
    tensors = [(f"{model_prefix}embed_tokens.weight", (sizes.vocab, hidden), "weight")]
    for layer in range(sizes.layers):
        prefix = f"{model_prefix}layers.{layer}."
        for projection, rows in (("q_proj", q_rows), ("k_proj", kv_rows), ("v_proj", kv_rows)):
            tensors.append((f"{prefix}self_attn.{projection}.weight", (rows, hidden), "weight"))
            if biased:
                tensors.append((f"{prefix}self_attn.{projection}.bias", (rows,), "bias"))
        tensors += [
            (f"{prefix}self_attn.o_proj.weight", (hidden, q_rows), "weight"),
            (f"{prefix}mlp.gate_proj.weight", (sizes.intermediate, hidden), "weight"),
            (f"{prefix}mlp.up_proj.weight", (sizes.intermediate, hidden), "weight"),
            (f"{prefix}mlp.down_proj.weight", (hidden, sizes.intermediate), "weight"),
            (f"{prefix}input_layernorm.weight", (hidden,), "norm"),
            (f"{prefix}post_attention_layernorm.weight", (hidden,), "norm"),
        ]
    tensors.append((f"{model_prefix}norm.weight", (hidden,), "norm"))
    if not sizes.tie:  # transformers drops the tied copy when it saves
        tensors.append((head_name, (sizes.vocab, hidden), "weight"))
    return tensors


def vision_config(sizes, kind):
    config = {
        "model_type": "clip_vision_model" if kind == "clip" else "siglip_vision_model",
        "hidden_size": sizes.vision_hidden,
        "intermediate_size": sizes.vision_intermediate,
        "num_hidden_layers": sizes.vision_layers,
        "num_attention_heads": sizes.vision_heads,
        "num_channels": 3,
        "image_size": sizes.image_size,
        "patch_size": sizes.patch_size,
        "attention_dropout": 0.0,
    }
    if kind == "clip":
        config.update({"hidden_act": "quick_gelu", "layer_norm_eps": 1e-5, "projection_dim": sizes.vision_hidden,
                       "initializer_range": 0.02, "initializer_factor": 1.0})
    else:
        config.update({"hidden_act": "gelu_pytorch_tanh", "layer_norm_eps": 1e-6})
        if not sizes.vision_head:
            config["vision_use_head"] = False
    return config


def encoder_layer_tensors(prefix, hidden, intermediate):
    """CLIPEncoderLayer / SiglipEncoderLayer: attention (k, v, q, out as declared), norms, MLP."""
    tensors = []
    for projection in ("k_proj", "v_proj", "q_proj", "out_proj"):
        tensors += [(f"{prefix}self_attn.{projection}.weight", (hidden, hidden), "weight"),
                    (f"{prefix}self_attn.{projection}.bias", (hidden,), "bias")]
    tensors += [(f"{prefix}layer_norm1.weight", (hidden,), "norm"), (f"{prefix}layer_norm1.bias", (hidden,), "bias"),
                (f"{prefix}mlp.fc1.weight", (intermediate, hidden), "weight"),
                (f"{prefix}mlp.fc1.bias", (intermediate,), "bias"),
                (f"{prefix}mlp.fc2.weight", (hidden, intermediate), "weight"),
                (f"{prefix}mlp.fc2.bias", (hidden,), "bias"),
                (f"{prefix}layer_norm2.weight", (hidden,), "norm"), (f"{prefix}layer_norm2.bias", (hidden,), "bias")]
    return tensors


def vision_tensors(sizes, kind, prefix):
    hidden, patch = sizes.vision_hidden, sizes.patch_size
    patches = (sizes.image_size // patch) ** 2
    if kind == "clip":  # class token, bias-free patch convolution, then the pre-encoder norm (sic)
        tensors = [(f"{prefix}embeddings.class_embedding", (hidden,), "weight"),
                   (f"{prefix}embeddings.patch_embedding.weight", (hidden, 3, patch, patch), "weight"),
                   (f"{prefix}embeddings.position_embedding.weight", (patches + 1, hidden), "weight"),
                   (f"{prefix}pre_layrnorm.weight", (hidden,), "norm"),
                   (f"{prefix}pre_layrnorm.bias", (hidden,), "bias")]
    else:
        tensors = [(f"{prefix}embeddings.patch_embedding.weight", (hidden, 3, patch, patch), "weight"),
                   (f"{prefix}embeddings.patch_embedding.bias", (hidden,), "bias"),
                   (f"{prefix}embeddings.position_embedding.weight", (patches, hidden), "weight")]
    for layer in range(sizes.vision_layers):
        tensors += encoder_layer_tensors(f"{prefix}encoder.layers.{layer}.", hidden, sizes.vision_intermediate)
    tensors += [(f"{prefix}post_layernorm.weight", (hidden,), "norm"),
                (f"{prefix}post_layernorm.bias", (hidden,), "bias")]
    if kind == "siglip" and sizes.vision_head:  # SiglipMultiheadAttentionPoolingHead
        head = f"{prefix}head."
        tensors += [(f"{head}probe", (1, 1, hidden), "weight"),
                    (f"{head}attention.in_proj_weight", (3 * hidden, hidden), "weight"),
                    (f"{head}attention.in_proj_bias", (3 * hidden,), "bias"),
                    (f"{head}attention.out_proj.weight", (hidden, hidden), "weight"),
                    (f"{head}attention.out_proj.bias", (hidden,), "bias"),
                    (f"{head}layernorm.weight", (hidden,), "norm"), (f"{head}layernorm.bias", (hidden,), "bias"),
                    (f"{head}mlp.fc1.weight", (sizes.vision_intermediate, hidden), "weight"),
                    (f"{head}mlp.fc1.bias", (sizes.vision_intermediate,), "bias"),
                    (f"{head}mlp.fc2.weight", (hidden, sizes.vision_intermediate), "weight"),
                    (f"{head}mlp.fc2.bias", (hidden,), "bias")]
    return tensors


# A dual encoder's text tower: small and fixed (fedvlm never reads it; it only has to be there).
TEXT_TOWER = {"hidden": 16, "intermediate": 32, "layers": 1, "heads": 2, "vocab": 64, "positions": 16}


def dual_encoder(sizes, kind, common):
    """(config, layout) of a CLIPModel or SiglipModel: the vision tower of `sizes` and a tiny text tower."""
    t = TEXT_TOWER
    text = {"model_type": f"{kind}_text_model", "hidden_size": t["hidden"], "intermediate_size": t["intermediate"],
            "num_hidden_layers": t["layers"], "num_attention_heads": t["heads"], "vocab_size": t["vocab"],
            "max_position_embeddings": t["positions"]}
    config = {"architectures": ["CLIPModel" if kind == "clip" else "SiglipModel"], "model_type": kind,
              "text_config": text, "vision_config": vision_config(sizes, kind), **common}
    if kind == "clip":
        config.update({"projection_dim": sizes.vision_hidden, "logit_scale_init_value": 2.6592})
    # Text tower tensors first, as the dual models declare them.
    tensors = [("text_model.embeddings.token_embedding.weight", (t["vocab"], t["hidden"]), "weight"),
               ("text_model.embeddings.position_embedding.weight", (t["positions"], t["hidden"]), "weight")]
    for layer in range(t["layers"]):
        tensors += encoder_layer_tensors(f"text_model.encoder.layers.{layer}.", t["hidden"], t["intermediate"])
    tensors += [("text_model.final_layer_norm.weight", (t["hidden"],), "norm"),
                ("text_model.final_layer_norm.bias", (t["hidden"],), "bias")]
    if kind == "siglip":
        tensors += [("text_model.head.weight", (t["hidden"], t["hidden"]), "weight"),
                    ("text_model.head.bias", (t["hidden"],), "bias")]
    tensors += vision_tensors(sizes, kind, "vision_model.")
    if kind == "clip":
        tensors += [("visual_projection.weight", (sizes.vision_hidden, sizes.vision_hidden), "weight"),
                    ("text_projection.weight", (sizes.vision_hidden, t["hidden"]), "weight"),
                    ("logit_scale", (), "weight")]
    else:
        tensors += [("logit_scale", (1,), "weight"), ("logit_bias", (1,), "bias")]
    return config, tensors


def describe(arch, sizes, storage="fp32"):
    """(config.json contents, [(name, shape, kind)] in state-dict order) of a tiny `arch` model."""
    check_sizes(arch, sizes)
    torch_dtype = STORAGE[storage][1]
    common = {"torch_dtype": torch_dtype, "transformers_version": TRANSFORMERS_VERSION}
    if arch in ("llama", "qwen2"):
        name = "LlamaForCausalLM" if arch == "llama" else "Qwen2ForCausalLM"
        config = {"architectures": [name], **text_config(sizes, arch, torch_dtype), **common}
        return config, text_tensors(sizes, arch, "model.", "lm_head.weight")
    if arch in ("clip", "siglip"):
        return dual_encoder(sizes, arch, common)
    if arch in ("clip_vision", "siglip_vision"):
        kind = arch.split("_")[0]
        name = "CLIPVisionModel" if kind == "clip" else "SiglipVisionModel"
        config = {"architectures": [name], **vision_config(sizes, kind), **common}
        return config, vision_tensors(sizes, kind, "vision_model.")
    if arch == "llava":
        patches = (sizes.image_size // sizes.patch_size) ** 2
        text = text_config(sizes, sizes.text_arch, torch_dtype)
        config = {
            "architectures": ["LlavaForConditionalGeneration"],
            "model_type": "llava",
            "image_token_index": sizes.vocab - 1,  # the last id of the vocabulary stands for image tokens
            "projector_hidden_act": "gelu",
            "vision_feature_layer": -2,
            "vision_feature_select_strategy": "default",
            "image_seq_length": patches,
            "multimodal_projector_bias": True,
            "ignore_index": -100,
            "tie_word_embeddings": sizes.tie,
            "text_config": text,
            "vision_config": vision_config(sizes, "clip"),
            **common,
        }
        tensors = vision_tensors(sizes, "clip", "vision_tower.vision_model.")
        tensors += [("multi_modal_projector.linear_1.weight", (sizes.hidden, sizes.vision_hidden), "weight"),
                    ("multi_modal_projector.linear_1.bias", (sizes.hidden,), "bias"),
                    ("multi_modal_projector.linear_2.weight", (sizes.hidden, sizes.hidden), "weight"),
                    ("multi_modal_projector.linear_2.bias", (sizes.hidden,), "bias")]
        tensors += text_tensors(sizes, sizes.text_arch, "language_model.model.", "language_model.lm_head.weight")
        return config, tensors
    raise ValueError(f"unknown architecture {arch!r} (known: {', '.join(ARCHITECTURES)})")


def check_sizes(arch, sizes):
    problems = []
    if arch in ("llama", "qwen2", "llava"):
        if sizes.hidden % sizes.heads:
            problems.append(f"hidden {sizes.hidden} is not a multiple of heads {sizes.heads}")
        if sizes.heads % sizes.kv_heads:
            problems.append(f"heads {sizes.heads} is not a multiple of kv-heads {sizes.kv_heads}")
        if sizes.text_arch not in ("llama", "qwen2"):
            problems.append(f"text architecture {sizes.text_arch!r} is neither llama nor qwen2")
    if arch in ("clip_vision", "siglip_vision", "clip", "siglip", "llava"):
        if sizes.vision_hidden % sizes.vision_heads:
            problems.append(f"vision hidden {sizes.vision_hidden} is not a multiple of vision heads {sizes.vision_heads}")
        if sizes.image_size % sizes.patch_size:
            problems.append(f"image size {sizes.image_size} is not a multiple of patch size {sizes.patch_size}")
    values = [v for v in dataclasses.asdict(sizes).values() if isinstance(v, int) and not isinstance(v, bool)]
    if any(v <= 0 for v in values):
        problems.append("every size must be positive")
    if problems:
        raise ValueError("; ".join(problems))


def random_tensors(layout, storage, seed):
    """Random values for each (name, shape, kind): weights and biases N(0, 0.02), norms 1 + N(0, 0.02)."""
    rng = np.random.default_rng(seed)
    tensors = []
    for name, shape, kind in layout:
        values = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
        if kind == "norm":
            values += np.float32(1.0)
        tensors.append(encode(name, values, storage))
    return tensors


def split_shards(tensors, count):
    """`count` contiguous groups of state-dict order of about equal bytes, none empty."""
    if not 1 <= count <= len(tensors):
        raise ValueError(f"--shards {count}: must be between 1 and the number of tensors ({len(tensors)})")
    target = sum(len(t.data) for t in tensors) / count
    shards, size = [[]], 0
    for index, tensor in enumerate(tensors):
        left_to_open = count - len(shards)
        if shards[-1] and left_to_open > 0 and (size >= target or len(tensors) - index == left_to_open):
            shards.append([])
            size = 0
        shards[-1].append(tensor)
        size += len(tensor.data)
    return shards


def write_checkpoint(out, arch, sizes, storage="fp32", shards=1, seed=0):
    """Writes config.json and the weights into directory `out`; returns the files written."""
    config, layout = describe(arch, sizes, storage)
    tensors = random_tensors(layout, storage, seed)
    groups = split_shards(tensors, shards)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_atomically(out / "config.json", (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    written = [out / "config.json"]
    metadata = {"format": "pt"}
    if shards == 1:
        write_safetensors(out / "model.safetensors", tensors, metadata)
        return written + [out / "model.safetensors"]
    weight_map = {}
    for number, group in enumerate(groups, start=1):
        name = f"model-{number:05d}-of-{shards:05d}.safetensors"
        write_safetensors(out / name, group, metadata)
        written.append(out / name)
        weight_map.update({tensor.name: name for tensor in group})
    index = {"metadata": {"total_size": sum(len(t.data) for t in tensors)}, "weight_map": weight_map}
    write_atomically(out / "model.safetensors.index.json",
                     (json.dumps(index, indent=2, sort_keys=True) + "\n").encode())
    return written + [out / "model.safetensors.index.json"]


def listing(arch, sizes, storage):
    _, layout = describe(arch, sizes, storage)
    dtype = STORAGE[storage][0]
    return [{"name": name, "shape": list(shape), "dtype": dtype} for name, shape, _ in layout]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("architecture", choices=ARCHITECTURES)
    parser.add_argument("--out", help="model directory to write (created if missing)")
    parser.add_argument("--list", action="store_true",
                        help="print every tensor's name, shape and dtype as JSON (state-dict order)")
    parser.add_argument("--dtype", choices=list(STORAGE), default="fp32")
    parser.add_argument("--shards", type=int, default=1, help="safetensors files (above 1: with an index)")
    parser.add_argument("--seed", type=int, default=0)
    defaults = Sizes()
    for field in dataclasses.fields(Sizes):
        if isinstance(field.default, bool):
            continue
        flag = "--" + field.name.replace("_", "-")
        if field.name == "text_arch":
            parser.add_argument(flag, choices=["llama", "qwen2"], default=defaults.text_arch,
                                help="llava's language model (default llama)")
        else:
            parser.add_argument(flag, type=int, default=getattr(defaults, field.name),
                                help=f"default {getattr(defaults, field.name)}")
    parser.add_argument("--tie", action="store_true", help="tie the output head to the token embedding")
    parser.add_argument("--rope-scaling", action="store_true", help="llama3 rope_scaling in the text config")
    parser.add_argument("--no-head", action="store_true", help="siglip_vision without the attention-pooling head")
    args = parser.parse_args(argv)
    if not args.out and not args.list:
        parser.error("nothing to do: give --out DIR, --list or both")
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(Sizes)
              if not isinstance(f.default, bool)}
    sizes = Sizes(**values, tie=args.tie, rope_scaling=args.rope_scaling, vision_head=not args.no_head)
    try:
        if args.out:
            write_checkpoint(args.out, args.architecture, sizes, args.dtype, args.shards, args.seed)
        if args.list:
            entries = listing(args.architecture, sizes, args.dtype)
            sys.stdout.write("[\n" + ",\n".join(json.dumps(entry) for entry in entries) + "\n]\n")
    except ValueError as error:
        parser.error(str(error))
    return 0


if __name__ == "__main__":
    sys.exit(main())
