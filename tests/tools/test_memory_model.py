"""tools/memory_model.py: parameter counts equal the published sizes of the models it tabulates,
and the memory terms move as the model says they should."""
import argparse
import json
import subprocess
import tempfile
import unittest
from pathlib import Path

from fake_runs import PYTHON, TOOLS

import memory_model


def options(**overrides):
    args = memory_model.parser().parse_args(["llama-3.2-3b"])
    args.targets = list(memory_model.LORA_TARGETS)
    return argparse.Namespace(**{**vars(args), **overrides})


class ParameterCounts(unittest.TestCase):
    def test_published_sizes(self):
        llama = memory_model.parse(memory_model.BUILT_IN["llama-3.2-3b"])[0]
        self.assertEqual(memory_model.decoder_parameters(llama)[0], 3_212_749_824)  # Llama-3.2-3B, tied
        llava = memory_model.BUILT_IN["llava-1.5-7b"]
        text, vision = memory_model.parse(llava)
        # Llama-2-7B (6,738,415,616) with the embedding and head padded from 32000 to 32064 rows.
        self.assertEqual(memory_model.decoder_parameters(text)[0], 6_738_415_616 + 2 * 64 * 4096)
        self.assertEqual(memory_model.vision_parameters(vision, llava), 303_507_456)  # CLIP ViT-L/14-336
        self.assertEqual(vision.image_tokens, 576)  # 24 x 24 patches, class token dropped ("default")
        self.assertEqual(vision.layers, 23)  # vision_feature_layer -2
        # LoRA r16 on all seven projections of Llama-3.2-3B: 16 (in + out) summed, 28 layers.
        self.assertEqual(memory_model.lora_parameters(llama, 16, memory_model.LORA_TARGETS), 24_313_856)


class MemoryTerms(unittest.TestCase):
    def gib(self, estimate, prefix):
        return next(size for term, size in estimate.rows if term.startswith(prefix))

    def test_checkpointing_keeps_layer_inputs_only(self):
        config = memory_model.BUILT_IN["llama-3.2-3b"]
        plain = memory_model.estimate(config, options(checkpointing=False))
        checkpointed = memory_model.estimate(config, options(checkpointing=True))
        self.assertLess(self.gib(checkpointed, "decoder activations"), self.gib(plain, "decoder activations") / 5)
        self.assertLess(checkpointed.samples_per_second, plain.samples_per_second)  # one more forward

    def test_terms_scale_with_clients_and_storage(self):
        config = memory_model.BUILT_IN["llava-1.5-7b"]
        one = memory_model.estimate(config, options(clients=1))
        four = memory_model.estimate(config, options(clients=4))
        self.assertAlmostEqual(self.gib(four, "decoder activations"), 4 * self.gib(one, "decoder activations"))
        fp32 = memory_model.estimate(config, options(frozen_dtype="fp32"))
        bf16 = memory_model.estimate(config, options(frozen_dtype="bf16"))
        self.assertAlmostEqual(self.gib(fp32, "frozen weights"), 2 * self.gib(bf16, "frozen weights"))

    def test_reads_a_config_json_and_refuses_bad_targets(self):
        with tempfile.TemporaryDirectory() as tmp:
            config = dict(memory_model.BUILT_IN["llava-1.5-7b"])
            Path(tmp, "config.json").write_text(json.dumps(config))
            out = subprocess.run([PYTHON, str(TOOLS / "memory_model.py"), tmp], capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("decoder 6.74 B", out.stdout)
            self.assertIn("**total**", out.stdout)
            bad = subprocess.run([PYTHON, str(TOOLS / "memory_model.py"), tmp, "--targets", "q,qkv"],
                                 capture_output=True, text=True)
            self.assertNotEqual(bad.returncode, 0)
            self.assertIn("unknown --targets ['qkv']", bad.stderr)


if __name__ == "__main__":
    unittest.main()
