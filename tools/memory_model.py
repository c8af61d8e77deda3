#!/usr/bin/python3
"""GPU memory and throughput of federated LoRA fine-tuning at real model sizes, from a config.json.

fedvlm trains a rank's clients in batches (run.batched_clients = K): the frozen vision tower and
decoder are held once, each client of the batch has its own LoRA adapters and connector (values,
gradients, AdamW's two moments), and one forward and backward pass runs over every client's rows.
This script adds up what that needs on one GPU, and what it costs in floating-point work, for a
Hugging Face model directory's config.json (llava, or a llama / qwen2 decoder with a CLIP
ViT-L/14-336 tower as LLaVA-1.5 has) or one of the built-in configs below.

  /usr/bin/python3 tools/memory_model.py llava-1.5-7b --clients 4 --batch 4
  /usr/bin/python3 tools/memory_model.py /models/Llama-3.2-3B/config.json --checkpointing
  /usr/bin/python3 tools/memory_model.py --markdown llava-1.5-7b llama-3.2-3b    (docs/models.md's tables)

It is a model, not a measurement: activations count what autograd keeps per token and layer in
fedvlm's decoder (docs/models.md lists the terms), allocator overhead and CUDA's workspace are one
flat term, and throughput assumes a fraction (--mfu) of the GPU's dense bf16 peak.
"""
import argparse
import dataclasses
import json
import math
import sys
from pathlib import Path

GIB = 1024 ** 3

# config.json of the models docs/models.md tabulates, as the Hub has them (the keys this script reads).
CLIP_VIT_L_336 = {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                  "num_attention_heads": 16, "image_size": 336, "patch_size": 14}
BUILT_IN = {
    "llava-1.5-7b": {  # llava-hf/llava-1.5-7b-hf: Llama 2 7B (Vicuna), CLIP ViT-L/14-336, mlp2x_gelu
        "model_type": "llava", "vision_feature_layer": -2, "vision_feature_select_strategy": "default",
        "vision_config": CLIP_VIT_L_336,
        "text_config": {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 11008,
                        "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
                        "vocab_size": 32064, "tie_word_embeddings": False}},
    "llama-3.2-3b": {  # meta-llama/Llama-3.2-3B (paired here with LLaVA-1.5's tower and projector)
        "model_type": "llama", "hidden_size": 3072, "intermediate_size": 8192, "num_hidden_layers": 28,
        "num_attention_heads": 24, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256,
        "tie_word_embeddings": True},
}
LORA_TARGETS = ("q", "k", "v", "o", "gate", "up", "down")
H100_BF16_DENSE_TFLOPS = 989.0  # H100 SXM, dense (no sparsity)


@dataclasses.dataclass
class Text:
    dim: int
    ffn: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool


@dataclasses.dataclass
class Vision:
    dim: int
    ffn: int
    layers: int        # run: up to the feature layer
    heads: int
    tokens: int        # through the tower (patches + class token)
    image_tokens: int  # handed to the decoder


def parse(config):
    text = config.get("text_config", config) if config.get("model_type") == "llava" else config
    dim, heads = text["hidden_size"], text["num_attention_heads"]
    t = Text(dim, text["intermediate_size"], text["num_hidden_layers"], heads,
             text.get("num_key_value_heads", heads), text.get("head_dim", dim // heads),
             text["vocab_size"], text.get("tie_word_embeddings", False))
    v_cfg = config.get("vision_config", CLIP_VIT_L_336)
    layer = config.get("vision_feature_layer", -2)
    if isinstance(layer, list):
        raise SystemExit("vision_feature_layer as a list (several layers concatenated) is not modelled")
    total = v_cfg["num_hidden_layers"]
    patches = (v_cfg["image_size"] // v_cfg["patch_size"]) ** 2
    keep_cls = config.get("vision_feature_select_strategy", "default") == "full"
    v = Vision(v_cfg["hidden_size"], v_cfg["intermediate_size"], layer % (total + 1) if layer < 0 else layer,
               v_cfg["num_attention_heads"], patches + 1, patches + (1 if keep_cls else 0))
    return t, v


def decoder_parameters(t):
    attention = t.dim * t.heads * t.head_dim * 2 + t.dim * t.kv_heads * t.head_dim * 2
    layer = attention + 3 * t.dim * t.ffn + 2 * t.dim
    embeddings = t.vocab * t.dim * (1 if t.tied else 2)
    return t.layers * layer + t.dim + embeddings, embeddings


def vision_parameters(v, config):
    v_cfg = config.get("vision_config", CLIP_VIT_L_336)
    per_layer = 4 * (v.dim * v.dim + v.dim) + 2 * v.dim * v.ffn + v.ffn + v.dim + 4 * v.dim
    embeddings = 3 * v_cfg["patch_size"] ** 2 * v.dim + (v.tokens + 1) * v.dim  # patches, positions, class
    return v_cfg["num_hidden_layers"] * per_layer + embeddings + 4 * v.dim  # + pre- and post-layernorm


def lora_parameters(t, rank, targets):
    shapes = {"q": (t.dim, t.heads * t.head_dim), "k": (t.dim, t.kv_heads * t.head_dim),
              "v": (t.dim, t.kv_heads * t.head_dim), "o": (t.heads * t.head_dim, t.dim),
              "gate": (t.dim, t.ffn), "up": (t.dim, t.ffn), "down": (t.ffn, t.dim)}
    return t.layers * sum(rank * (shapes[name][0] + shapes[name][1]) for name in targets)


def activation_elements_per_token(t, sequence, rank, targets):
    """What autograd keeps per token and decoder layer when only LoRA (and the connector) train."""
    kept = 5 * t.dim                                  # norm inputs and outputs, the attention residual
    kept += (2 * t.heads + 2 * t.kv_heads) * t.head_dim  # q, k, v after rotary, the attention output
    kept += 4 * t.ffn                                 # gate, up, SiLU(gate), their product
    kept += rank * len(targets)                       # each adapter's A x
    return kept, t.heads * sequence                   # (activations, softmax probabilities)


@dataclasses.dataclass
class Estimate:
    rows: list   # (term, GiB)
    total_gib: float
    tokens_per_second: float
    samples_per_second: float
    parameters: dict


def estimate(config, args):
    t, v = parse(config)
    sequence = v.image_tokens + args.text_tokens
    samples = args.clients * args.batch
    act_bytes = 2 if args.precision == "bf16" else 4
    frozen_bytes = 2 if args.frozen_dtype == "bf16" else 4
    decoder, _ = decoder_parameters(t)
    vision = vision_parameters(v, config)
    connector = v.dim * t.dim + t.dim + t.dim * t.dim + t.dim
    lora = lora_parameters(t, args.rank, args.targets)
    trainable = lora + (connector if args.strategy == "F-CL" else 0)
    frozen = decoder + vision + (connector if args.strategy == "F-L" else 0)

    kept, probabilities = activation_elements_per_token(t, sequence, args.rank, args.targets)
    per_layer_sample = sequence * (kept * act_bytes + probabilities * 4)  # softmax runs in fp32 under autocast
    if args.checkpointing:  # layer inputs kept, one layer's activations rebuilt at a time
        activations = samples * (t.layers * sequence * t.dim * act_bytes + per_layer_sample)
    else:
        activations = samples * t.layers * per_layer_sample
    logits = samples * args.text_tokens * t.vocab * 4 * 3  # logits, log-softmax, their gradient (fp32)
    vision_peak = samples * v.tokens * (4 * v.dim + v.ffn + v.heads * v.tokens) * act_bytes  # no_grad, one layer
    rows = [
        ("frozen weights (decoder, tower{})".format(", connector" if args.strategy == "F-L" else ""),
         frozen * frozen_bytes),
        (f"trainable state x {args.clients} clients + global (fp32 value, grad, 2 AdamW moments)",
         trainable * 16 * args.clients + trainable * 4),
        (f"decoder activations ({samples} samples x {sequence} tokens{', checkpointed' if args.checkpointing else ''})",
         activations),
        ("logits and loss (text tokens only)", logits),
        ("vision tower forward (no_grad, peak of one layer)", vision_peak),
        ("CUDA context, allocator slack, workspace", args.overhead_gib * GIB),
    ]
    total = sum(size for _, size in rows)

    # Work per sample: forward everywhere; backward only for inputs of frozen layers (no weight
    # gradients), plus the attention products; a checkpointed layer runs its forward twice.
    decoder_matmul = 2 * (decoder - t.vocab * t.dim * (1 if t.tied else 2)) * sequence + 2 * t.vocab * t.dim * args.text_tokens
    attention = 4 * t.layers * sequence * sequence * t.heads * t.head_dim
    forward = decoder_matmul + attention
    backward = decoder_matmul + 2 * attention
    vision_flops = 2 * vision * v.tokens * v.layers / max(1, config.get("vision_config", CLIP_VIT_L_336)["num_hidden_layers"])
    per_sample = forward * (2 if args.checkpointing else 1) + backward + vision_flops
    achieved = args.peak_tflops * 1e12 * args.mfu
    samples_per_second = achieved / per_sample
    return Estimate([(term, size / GIB) for term, size in rows], total / GIB, samples_per_second * sequence,
                    samples_per_second, {"decoder": decoder, "vision": vision, "connector": connector, "lora": lora})


def load(name_or_path):
    if name_or_path in BUILT_IN:
        return BUILT_IN[name_or_path]
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "config.json"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"memory_model.py: cannot read {path}: {error} (or name one of {', '.join(BUILT_IN)})")


def report(name, config, args):
    result = estimate(config, args)
    p = result.parameters
    lines = [f"### {name}: {args.clients} clients x {args.batch} samples, LoRA r{args.rank}, {args.strategy}, "
             f"{args.precision} autocast, frozen weights {args.frozen_dtype}"
             f"{', gradient checkpointing' if args.checkpointing else ''}",
             "",
             f"Parameters: decoder {p['decoder'] / 1e9:.2f} B, vision tower {p['vision'] / 1e6:.0f} M, "
             f"connector {p['connector'] / 1e6:.1f} M, LoRA {p['lora'] / 1e6:.1f} M per client.",
             "", "| term | GiB |", "|---|---:|"]
    lines += [f"| {term} | {size:.1f} |" for term, size in result.rows]
    verdict = "fits" if result.total_gib <= args.gpu_gib else "does NOT fit"
    lines += [f"| **total** | **{result.total_gib:.1f}** ({verdict} {args.gpu_gib:g} GiB) |", "",
              f"Throughput at {args.mfu:.0%} of {args.peak_tflops:g} TFLOP/s: about "
              f"{result.tokens_per_second:,.0f} tokens/s, {result.samples_per_second:.1f} samples/s per GPU.", ""]
    return "\n".join(lines)


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help=f"config.json, a model directory, or {', '.join(BUILT_IN)}")
    p.add_argument("--clients", type=int, default=4, help="clients batched in one pass (run.batched_clients)")
    p.add_argument("--batch", type=int, default=4, help="samples per client per step (local.batch_size)")
    p.add_argument("--text-tokens", type=int, default=128, help="prompt + answer tokens per sample")
    p.add_argument("--rank", type=int, default=16, help="lora.rank")
    p.add_argument("--targets", default=",".join(LORA_TARGETS), help="lora.targets")
    p.add_argument("--strategy", choices=["F-L", "F-CL"], default="F-CL")
    p.add_argument("--precision", choices=["bf16", "fp32"], default="bf16", help="run.precision")
    p.add_argument("--frozen-dtype", choices=["bf16", "fp32"], default="fp32",
                   help="model.frozen_dtype: storage of the frozen weights (bf16 halves this term)")
    p.add_argument("--checkpointing", action="store_true", help="recompute decoder layers in the backward pass")
    p.add_argument("--gpu-gib", type=float, default=80.0)
    p.add_argument("--overhead-gib", type=float, default=3.0)
    p.add_argument("--peak-tflops", type=float, default=H100_BF16_DENSE_TFLOPS)
    p.add_argument("--mfu", type=float, default=0.3, help="fraction of the peak achieved")
    p.add_argument("--markdown", action="store_true", help="each model without and with checkpointing")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    args.targets = [name for name in args.targets.split(",") if name]
    unknown = sorted(set(args.targets) - set(LORA_TARGETS))
    if unknown:
        raise SystemExit(f"memory_model.py: unknown --targets {unknown}; known: {', '.join(LORA_TARGETS)}")
    if min(args.clients, args.batch, args.rank) < 1 or args.text_tokens < 0 or not 0 < args.mfu <= 1:
        raise SystemExit("memory_model.py: --clients, --batch, --rank must be >= 1, --mfu in (0, 1]")
    for name in args.models:
        config = load(name)
        if args.markdown:
            for checkpointing in (False, True):
                print(report(name, config, argparse.Namespace(**{**vars(args), "checkpointing": checkpointing})))
        else:
            print(report(name, config, args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
