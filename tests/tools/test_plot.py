"""tools/plot.py writes non-empty PNG curves and bar charts for fake runs."""
import subprocess
import tempfile
import unittest
from pathlib import Path

from fake_runs import PYTHON, TOOLS, base_config, make_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class PlotTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        self.runs = self.root / "runs"
        for algorithm, accuracy in (("fedavg", 0.5), ("fedprox", 0.6)):
            for seed in (1, 2):
                name = f"{algorithm}-s{seed}"
                make_run(self.runs, name, base_config(name, algorithm, seed=seed),
                         accuracy=accuracy + 0.01 * seed)
        make_run(self.runs, "running", base_config("running", "scaffold"), accuracy=None,
                 rounds=5, torn_tail='{"round"')

    def tearDown(self):
        self.tmp.cleanup()

    def plot(self, *args, expect=0):
        result = subprocess.run([PYTHON, str(TOOLS / "plot.py"), str(self.runs), *map(str, args)],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, expect, result.stderr)
        return result

    def assert_png(self, path: Path):
        self.assertTrue(path.is_file(), path)
        data = path.read_bytes()
        self.assertEqual(data[:8], PNG_MAGIC)
        self.assertGreater(len(data), 5000)  # axes, lines and legend, not a blank canvas

    def test_default_plots_every_eval_and_final_metric(self):
        out = self.root / "plots"
        result = self.plot("-o", out)
        written = sorted(Path(line).name for line in result.stdout.splitlines())
        self.assertEqual(written, ["curve-cls.accuracy.png", "final-cls.accuracy.png",
                                   "final-cls.loss.png"])
        for name in written:
            self.assert_png(out / name)

    def test_selected_metric_against_seconds(self):
        out = self.root / "seconds"
        self.plot("-o", out, "--metric", "cls.accuracy", "--x", "seconds", "--group", "run.seed")
        self.assertEqual(sorted(p.name for p in out.iterdir()),
                         ["curve-cls.accuracy.png", "final-cls.accuracy.png"])
        self.assert_png(out / "curve-cls.accuracy.png")

    def test_unknown_metric_is_an_error(self):
        result = self.plot("-o", self.root / "none", "--metric", "cap.cider", expect=1)
        self.assertIn("nothing to plot", result.stderr)

    def test_curve_points_prefer_eval_phase_in_round_order(self):
        import plot
        import rundirs
        run = rundirs.load_run(self.runs / "fedavg-s1", with_metrics=True)
        xs, ys = plot.curve_points(run, "cls", "accuracy", "round")
        self.assertEqual(xs, [5, 10])
        for got, want in zip(ys, [0.255, 0.51], strict=True):
            self.assertAlmostEqual(got, want)
        xs, ys = plot.curve_points(run, "all", "loss", "round")  # train-only metric
        self.assertEqual(xs, list(range(1, 11)))


if __name__ == "__main__":
    unittest.main()
