"""tools/hf_reference.py and tools/hf-parity.py: llama3 frequency bands against their closed
forms, properties of the numpy forward (causality, batch rows independent), JSON and .npy
output agreeing, and hf-parity.py's exit status 77 without transformers. (Its agreement with
fedvlm's decoder is the C++ test HfDecoderTest.*.)"""
import importlib.util
import json
import math
import subprocess
import tempfile
import unittest
from pathlib import Path

import numpy as np

from fake_runs import PYTHON, TOOLS

import hf_checkpoint
import hf_reference


def has_transformers():
    return importlib.util.find_spec("transformers") is not None and importlib.util.find_spec("torch") is not None


class Llama3Frequencies(unittest.TestCase):
    def test_each_band_follows_its_rule(self):
        # head_dim 16, theta 500000: wavelengths 6.3, 32.5, 168, ... against bands at 128/4 and 128/1.
        config = {"head_dim": 16, "theta": 500000.0,
                  "llama3": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                             "original_max_position_embeddings": 128}}
        scaled = hf_reference.inverse_frequencies(config)
        plain = hf_reference.inverse_frequencies(dict(config, llama3=None))
        self.assertEqual(scaled.dtype, np.float32)
        wavelength = 2 * math.pi / plain.astype(np.float64)
        self.assertAlmostEqual(float(scaled[0]), float(plain[0]), places=7)  # short: kept
        self.assertTrue(32 <= wavelength[1] <= 128)  # medium: interpolated
        smooth = (128 / wavelength[1] - 1.0) / (4.0 - 1.0)
        self.assertAlmostEqual(float(scaled[1]), (1 - smooth) * plain[1] / 8 + smooth * plain[1], places=6)
        for i in range(2, 8):  # long: divided by the factor
            self.assertAlmostEqual(float(scaled[i]) * 8, float(plain[i]), delta=1e-6 * float(plain[i]))


class ReferenceForward(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.model = Path(cls.tmp.name) / "qwen2"
        hf_checkpoint.main(["qwen2", "--out", str(cls.model), "--seed", "3"])

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_a_position_sees_only_the_past(self):
        full = hf_reference.logits(self.model, [[1, 2, 3, 4, 5]])
        prefix = hf_reference.logits(self.model, [[1, 2, 3]])
        np.testing.assert_allclose(full[0, :3], prefix[0], atol=1e-6)
        changed = hf_reference.logits(self.model, [[1, 2, 3, 9, 5]])
        np.testing.assert_allclose(changed[0, :3], full[0, :3], atol=1e-6)
        self.assertGreater(float(abs(changed[0, 3:] - full[0, 3:]).max()), 1e-6)

    def test_json_and_npy_outputs_agree(self):
        out = Path(self.tmp.name)
        script = str(TOOLS / "hf_reference.py")
        text = subprocess.run([PYTHON, script, str(self.model), "--tokens", "1,2,3", "--tokens", "4,5,6"],
                              check=True, capture_output=True, text=True).stdout
        subprocess.run([PYTHON, script, str(self.model), "--tokens", "1,2,3", "--tokens", "4,5,6",
                        "--out", str(out / "logits.npy")], check=True)
        from_json = np.asarray(json.loads(text)["logits"])
        self.assertEqual(from_json.shape, (2, 3, 128))
        np.testing.assert_allclose(np.load(out / "logits.npy"), from_json, rtol=0, atol=1e-7)

    def test_unequal_sequences_are_a_usage_error(self):
        result = subprocess.run([PYTHON, str(TOOLS / "hf_reference.py"), str(self.model), "--tokens", "1,2",
                                 "--tokens", "3"], capture_output=True, text=True)
        self.assertEqual(result.returncode, 2)


def has_pil():
    return importlib.util.find_spec("PIL") is not None


class ReferenceVision(unittest.TestCase):
    """The LLaVA half of hf_reference.py (its agreement with fedvlm is HfVisionTest.*)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.llava = Path(cls.tmp.name) / "llava"
        hf_checkpoint.main(["llava", "--out", str(cls.llava), "--seed", "4"])
        cls.pixels = np.random.default_rng(0).standard_normal((1, 3, 32, 32)).astype(np.float32)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_tower_attention_is_bidirectional(self):
        # Unlike the decoder, the tower's first token (CLIP's class token) sees the last patch.
        config = hf_reference.vision_config(self.llava)
        weights = hf_reference.read_weights(self.llava)
        prefix = "vision_tower.vision_model."
        before = hf_reference.vision_hidden_states(config, weights, prefix, self.pixels, np.float32)
        changed = self.pixels.copy()
        changed[:, :, 24:, 24:] += 1.0  # the last 8 x 8 patch
        after = hf_reference.vision_hidden_states(config, weights, prefix, changed, np.float32)
        self.assertEqual(len(before), config["num_hidden_layers"] + 1)
        np.testing.assert_array_equal(before[0][:, 0], after[0][:, 0])  # embeddings: per token
        self.assertGreater(float(abs(before[1][:, 0] - after[1][:, 0]).max()), 1e-6)

    def test_select_strategy_sets_the_image_token_count(self):
        weights = hf_reference.read_weights(self.llava)
        default = hf_reference.image_features(self.llava, weights, self.pixels, np.float32)
        self.assertEqual(default.shape, (1, 16, 32))  # 16 patches, class token dropped
        full_dir = Path(self.tmp.name) / "llava-full"
        hf_checkpoint.main(["llava", "--out", str(full_dir), "--seed", "4"])
        config = json.loads((full_dir / "config.json").read_text())
        config["vision_feature_select_strategy"] = "full"
        (full_dir / "config.json").write_text(json.dumps(config))
        full = hf_reference.image_features(full_dir, weights, self.pixels, np.float32)
        self.assertEqual(full.shape, (1, 17, 32))
        np.testing.assert_allclose(full[:, 1:], default, atol=1e-6)

    @unittest.skipIf(not has_pil(), "PIL is not installed")
    def test_processor_without_resize_only_normalizes(self):
        images = np.random.default_rng(1).integers(0, 256, (2, 1, 32, 32)).astype(np.uint8)
        mean, std = [0.1, 0.2, 0.3], [0.5, 0.25, 0.125]
        pixels = hf_reference.process_images(images, 32, mean, std)
        expected = (np.repeat(images, 3, axis=1) / 255.0 - np.reshape(mean, (1, 3, 1, 1))) / np.reshape(std, (1, 3, 1, 1))
        np.testing.assert_allclose(pixels, expected, atol=1e-5)


class ParityWithoutTransformers(unittest.TestCase):
    @unittest.skipIf(has_transformers(), "transformers is installed: hf-parity.py would run")
    def test_exits_77_and_says_why(self):
        result = subprocess.run([PYTHON, str(TOOLS / "hf-parity.py")], capture_output=True, text=True)
        self.assertEqual(result.returncode, 77, result.stderr)
        self.assertIn("transformers not installed", result.stderr)


if __name__ == "__main__":
    unittest.main()
