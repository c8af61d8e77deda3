"""tools/hf_checkpoint.py: the files follow the safetensors format and hold the tensor names
transformers uses for each architecture (checked against lists written out here, not derived
from the script's own tables)."""
import json
import struct
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np

from fake_runs import PYTHON, TOOLS

import hf_checkpoint

ELEMENT_SIZE = {"F32": 4, "F16": 2, "BF16": 2}


def read_safetensors(path):
    """(metadata, {name: (dtype, shape, bytes)}) of a file, asserting every rule of the format."""
    data = Path(path).read_bytes()
    assert len(data) >= 8, f"{path}: shorter than 8 bytes"
    (length,) = struct.unpack("<Q", data[:8])
    assert length % 8 == 0, f"{path}: header length {length} is not a multiple of 8"
    header_bytes = data[8:8 + length]
    assert len(header_bytes) == length, f"{path}: header runs past the end"
    assert header_bytes[:1] == b"{", f"{path}: header does not start with {{"
    text = header_bytes.decode("utf-8")
    assert text.rstrip(" ").endswith("}"), f"{path}: the header is padded with something else than spaces"
    assert len(text) - len(text.rstrip(" ")) < 8, f"{path}: more padding than needed"
    pairs = json.loads(text, object_pairs_hook=lambda items: items)
    names = [key for key, _ in pairs]
    assert len(names) == len(set(names)), f"{path}: duplicate names"
    header = dict(pairs)
    metadata = dict(header.pop("__metadata__", []))
    area = data[8 + length:]
    tensors, covered = {}, 0
    entries = sorted(((dict(info)["data_offsets"], name, dict(info)) for name, info in header.items()),
                     key=lambda item: item[0])
    for (begin, end), name, info in entries:
        assert begin == covered, f"{path}: {name} starts at {begin}, not at {covered}"
        count = int(np.prod(info["shape"], dtype=np.int64))
        assert end - begin == count * ELEMENT_SIZE[info["dtype"]], f"{path}: {name} has the wrong size"
        tensors[name] = (info["dtype"], tuple(info["shape"]), area[begin:end])
        covered = end
    assert covered == len(area), f"{path}: data area of {len(area)} bytes, tensors cover {covered}"
    return metadata, tensors


def text_names(prefix, head, layers, biases, tied):
    names = {f"{prefix}embed_tokens.weight", f"{prefix}norm.weight"}
    for i in range(layers):
        layer = f"{prefix}layers.{i}."
        names |= {layer + f"self_attn.{p}_proj.weight" for p in "qkvo"}
        names |= {layer + f"mlp.{p}_proj.weight" for p in ("gate", "up", "down")}
        names |= {layer + "input_layernorm.weight", layer + "post_attention_layernorm.weight"}
        if biases:
            names |= {layer + f"self_attn.{p}_proj.bias" for p in "qkv"}
    if not tied:
        names.add(head)
    return names


def encoder_layer_names(prefix, layers):
    names = set()
    for i in range(layers):
        layer = f"{prefix}encoder.layers.{i}."
        for module in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                       "layer_norm1", "layer_norm2", "mlp.fc1", "mlp.fc2"):
            names |= {f"{layer}{module}.weight", f"{layer}{module}.bias"}
    return names


def clip_names(prefix, layers):
    return encoder_layer_names(prefix, layers) | {
        f"{prefix}embeddings.class_embedding", f"{prefix}embeddings.patch_embedding.weight",
        f"{prefix}embeddings.position_embedding.weight", f"{prefix}pre_layrnorm.weight",
        f"{prefix}pre_layrnorm.bias", f"{prefix}post_layernorm.weight", f"{prefix}post_layernorm.bias"}


def text_tower_names(layers, head):
    """A CLIPTextTransformer / SiglipTextTransformer (text_model.*), as the dual encoders hold it."""
    names = encoder_layer_names("text_model.", layers) | {
        "text_model.embeddings.token_embedding.weight", "text_model.embeddings.position_embedding.weight",
        "text_model.final_layer_norm.weight", "text_model.final_layer_norm.bias"}
    if head:
        names |= {"text_model.head.weight", "text_model.head.bias"}
    return names


def siglip_names(prefix, layers, head):
    names = encoder_layer_names(prefix, layers) | {
        f"{prefix}embeddings.patch_embedding.weight", f"{prefix}embeddings.patch_embedding.bias",
        f"{prefix}embeddings.position_embedding.weight", f"{prefix}post_layernorm.weight",
        f"{prefix}post_layernorm.bias"}
    if head:
        names |= {f"{prefix}head.{n}" for n in (
            "probe", "attention.in_proj_weight", "attention.in_proj_bias", "attention.out_proj.weight",
            "attention.out_proj.bias", "layernorm.weight", "layernorm.bias", "mlp.fc1.weight", "mlp.fc1.bias",
            "mlp.fc2.weight", "mlp.fc2.bias")}
    return names


class HfCheckpointTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def run_tool(self, *args):
        result = subprocess.run([PYTHON, str(TOOLS / "hf_checkpoint.py"), *map(str, args)],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def load_directory(self, path):
        """{name: (dtype, shape, bytes)} of a model directory, single file or index + shards."""
        path = Path(path)
        if (path / "model.safetensors").exists():
            metadata, tensors = read_safetensors(path / "model.safetensors")
            self.assertEqual(metadata, {"format": "pt"})
            return tensors
        index = json.loads((path / "model.safetensors.index.json").read_text())
        tensors = {}
        for shard in sorted(set(index["weight_map"].values())):
            metadata, held = read_safetensors(path / shard)
            self.assertEqual(metadata, {"format": "pt"})
            self.assertTrue(held, f"{shard} is empty")
            for name in held:
                self.assertEqual(index["weight_map"][name], shard)
            tensors.update(held)
        self.assertEqual(set(tensors), set(index["weight_map"]))
        self.assertEqual(index["metadata"]["total_size"], sum(len(t[2]) for t in tensors.values()))
        return tensors

    def test_every_architecture_writes_exactly_the_transformers_key_set(self):
        expected = {
            "llama": text_names("model.", "lm_head.weight", 2, False, False),
            "qwen2": text_names("model.", "lm_head.weight", 2, True, False),
            "clip_vision": clip_names("vision_model.", 2),
            "siglip_vision": siglip_names("vision_model.", 2, True),
            "clip": clip_names("vision_model.", 2) | text_tower_names(1, False)
                    | {"visual_projection.weight", "text_projection.weight", "logit_scale"},
            "siglip": siglip_names("vision_model.", 2, True) | text_tower_names(1, True) | {"logit_scale", "logit_bias"},
            "llava": clip_names("vision_tower.vision_model.", 2)
                     | {f"multi_modal_projector.linear_{i}.{p}" for i in (1, 2) for p in ("weight", "bias")}
                     | text_names("language_model.model.", "language_model.lm_head.weight", 2, False, False),
        }
        for arch, names in expected.items():
            with self.subTest(arch=arch):
                out = self.dir / arch
                self.run_tool(arch, "--out", out)
                tensors = self.load_directory(out)
                self.assertEqual(set(tensors), names)
                self.assertEqual({t[0] for t in tensors.values()}, {"F32"})
                listed = json.loads(self.run_tool(arch, "--list"))
                self.assertEqual({(e["name"], tuple(e["shape"])) for e in listed},
                                 {(name, t[1]) for name, t in tensors.items()})

    def test_dual_encoders_nest_the_vision_tower_config_and_hold_the_same_tower_shapes(self):
        for kind in ("clip", "siglip"):
            with self.subTest(kind=kind):
                self.run_tool(kind, "--out", self.dir / kind)
                self.run_tool(f"{kind}_vision", "--out", self.dir / f"{kind}_vision")
                config = json.loads((self.dir / kind / "config.json").read_text())
                alone = json.loads((self.dir / f"{kind}_vision" / "config.json").read_text())
                self.assertEqual(config["model_type"], kind)
                self.assertEqual(config["text_config"]["model_type"], f"{kind}_text_model")
                for key in ("model_type", "hidden_size", "num_hidden_layers", "image_size", "patch_size", "hidden_act"):
                    self.assertEqual(config["vision_config"][key], alone[key], key)
                dual, tower = self.load_directory(self.dir / kind), self.load_directory(self.dir / f"{kind}_vision")
                for name, (_, shape, _) in tower.items():
                    self.assertEqual(dual[name][1], shape, name)
        scale = self.load_directory(self.dir / "clip")["logit_scale"]
        self.assertEqual((scale[0], scale[1], len(scale[2])), ("F32", (), 4))  # a 0-d tensor: one element

    def test_tied_llama_has_no_lm_head_and_siglip_without_head_has_no_pooling_head(self):
        self.run_tool("llama", "--out", self.dir / "tied", "--tie")
        self.assertEqual(set(self.load_directory(self.dir / "tied")),
                         text_names("model.", "lm_head.weight", 2, False, True))
        self.assertTrue(json.loads((self.dir / "tied" / "config.json").read_text())["tie_word_embeddings"])
        self.run_tool("siglip_vision", "--out", self.dir / "headless", "--no-head", "--vision-layers", 3)
        self.assertEqual(set(self.load_directory(self.dir / "headless")), siglip_names("vision_model.", 3, False))
        config = json.loads((self.dir / "headless" / "config.json").read_text())
        self.assertIs(config["vision_use_head"], False)

    def test_shapes_follow_the_config_with_grouped_query_attention(self):
        out = self.dir / "gqa"
        self.run_tool("qwen2", "--out", out, "--hidden", 48, "--heads", 6, "--kv-heads", 2,
                      "--intermediate", 80, "--vocab", 100, "--layers", 1)
        tensors = self.load_directory(out)
        config = json.loads((out / "config.json").read_text())
        self.assertEqual((config["architectures"], config["model_type"]), (["Qwen2ForCausalLM"], "qwen2"))
        self.assertEqual(tensors["model.embed_tokens.weight"][1], (100, 48))
        self.assertEqual(tensors["model.layers.0.self_attn.q_proj.weight"][1], (48, 48))
        self.assertEqual(tensors["model.layers.0.self_attn.k_proj.weight"][1], (16, 48))  # 2 heads of 8
        self.assertEqual(tensors["model.layers.0.self_attn.k_proj.bias"][1], (16,))
        self.assertEqual(tensors["model.layers.0.mlp.down_proj.weight"][1], (48, 80))
        self.assertNotIn("model.layers.0.self_attn.o_proj.bias", tensors)

    def test_llava_config_names_its_towers_and_image_token(self):
        out = self.dir / "llava"
        self.run_tool("llava", "--out", out, "--dtype", "fp16", "--image-size", 48, "--patch-size", 16,
                      "--rope-scaling")
        config = json.loads((out / "config.json").read_text())
        self.assertEqual(config["architectures"], ["LlavaForConditionalGeneration"])
        self.assertEqual(config["vision_config"]["model_type"], "clip_vision_model")
        self.assertEqual(config["text_config"]["model_type"], "llama")
        self.assertEqual(config["text_config"]["rope_scaling"]["rope_type"], "llama3")
        for key in ("vision_feature_layer", "vision_feature_select_strategy", "image_token_index",
                    "projector_hidden_act"):
            self.assertIn(key, config)
        self.assertEqual(config["torch_dtype"], "float16")
        tensors = self.load_directory(out)
        self.assertEqual({t[0] for t in tensors.values()}, {"F16"})
        # 9 patches + the class token
        self.assertEqual(tensors["vision_tower.vision_model.embeddings.position_embedding.weight"][1], (10, 32))
        self.assertEqual(tensors["vision_tower.vision_model.embeddings.patch_embedding.weight"][1], (32, 3, 16, 16))

    def test_sharded_directory_has_a_consistent_index(self):
        out = self.dir / "sharded"
        self.run_tool("llava", "--out", out, "--shards", 3, "--dtype", "bf16")
        self.assertFalse((out / "model.safetensors").exists())
        shards = sorted(p.name for p in out.glob("*.safetensors"))
        self.assertEqual(shards, [f"model-0000{i}-of-00003.safetensors" for i in (1, 2, 3)])
        tensors = self.load_directory(out)
        self.assertEqual({t[0] for t in tensors.values()}, {"BF16"})

    def test_same_seed_gives_identical_files_and_another_seed_other_values(self):
        for name, seed in (("a", 1), ("b", 1), ("c", 2)):
            self.run_tool("llama", "--out", self.dir / name, "--seed", seed)
        read = lambda name: (self.dir / name / "model.safetensors").read_bytes()
        self.assertEqual(read("a"), read("b"))
        self.assertNotEqual(read("a"), read("c"))

    def test_bf16_rounds_to_nearest_even(self):
        bits = np.array([0x3F800000, 0x3F808000, 0x3F818000, 0x3F80C000, 0x3F807FFF, 0x7F800000, 0xFF800000,
                         0x7F7FFFFF, 0x80000000], dtype=np.uint32)
        values = bits.view(np.float32)
        self.assertEqual([int(b) for b in hf_checkpoint.float32_to_bfloat16_bits(values)],
                         [0x3F80, 0x3F80, 0x3F82, 0x3F81, 0x3F80, 0x7F80, 0xFF80, 0x7F80, 0x8000])
        nan = hf_checkpoint.float32_to_bfloat16_bits(np.array([np.nan, -np.nan], dtype=np.float32))
        self.assertTrue(np.isnan(np.array(nan.astype(np.uint32) << 16, dtype=np.uint32).view(np.float32)).all())

    def test_header_is_padded_with_spaces_to_eight_bytes_and_sorted_widest_type_first(self):
        tensors = [hf_checkpoint.from_array("b", np.zeros(3, dtype=np.uint8)),
                   hf_checkpoint.from_array("a", np.ones(2, dtype=np.float16)),
                   hf_checkpoint.from_array("c", np.arange(2, dtype=np.int64))]
        data = hf_checkpoint.safetensors_bytes(tensors, {"format": "pt"})
        (length,) = struct.unpack("<Q", data[:8])
        header = data[8:8 + length].decode()
        self.assertEqual(length % 8, 0)
        self.assertEqual(header.rstrip(" "), '{"__metadata__":{"format":"pt"},'
                         '"c":{"dtype":"I64","shape":[2],"data_offsets":[0,16]},'
                         '"a":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},'
                         '"b":{"dtype":"U8","shape":[3],"data_offsets":[20,23]}}')
        self.assertEqual(len(data), 8 + length + 23)

    def test_bad_sizes_and_too_many_shards_are_refused(self):
        for args in (["llama", "--hidden", 30], ["llama", "--heads", 4, "--kv-heads", 3],
                     ["clip_vision", "--image-size", 30], ["qwen2", "--shards", 1000]):
            with self.subTest(args=args):
                result = subprocess.run([PYTHON, str(TOOLS / "hf_checkpoint.py"), *map(str, args),
                                         "--out", str(self.dir / "bad")], capture_output=True, text=True)
                self.assertEqual(result.returncode, 2)
                self.assertIn("error:", result.stderr)


if __name__ == "__main__":
    unittest.main()
