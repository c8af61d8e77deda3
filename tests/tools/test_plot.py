"""tools/plot.py draws every figure a runs tree supports as a real PNG and PDF with content."""
import math
import subprocess
import tempfile
import unittest
from pathlib import Path

import matplotlib.image

from fake_runs import PYTHON, TOOLS, base_config, make_dataset, make_run

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAIN_METRICS = ("cls.accuracy", "cap.cider", "vqa.accuracy", "ground.iou")  # rundirs.TASK_ORDER
HET_ALGORITHMS = ("fedavg", "fedprox", "centralized")
# data.path -> the α plot.py must find: meta.h5 says so, or (no dataset here) the name does.
HET_DATA = {"data/fashion-a0.1": 0.1, "data/fashion-a1": 1.0, "data/fashion-uniform": math.inf}
STRATEGIES = ("F-C", "F-L", "F-CL")
CONNECTORS = ("linear", "mlp2x_gelu")


def four_task_finals(level: float) -> dict:
    """Final metrics of all four tasks, each rising with level (cider on its 0..10 scale)."""
    return {"cls": {"accuracy": level, "loss": 1.0 - level / 2}, "cap": {"cider": 2.0 * level},
            "vqa": {"accuracy": 0.8 * level}, "ground": {"iou": 0.5 * level}}


def files(stems) -> list[str]:
    return sorted(f"{stem}.{suffix}" for stem in stems for suffix in ("png", "pdf"))


class PlotFiles(unittest.TestCase):
    def two_dataset_tree(self):
        """A scratch tree: self.root holding data/fashion-a0.1 (α = 0.1) and data/fashion-uniform
        (IID), and self.runs for the runs."""
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.root = Path(self.tmp.name)
        self.runs = self.root / "runs"
        make_dataset(self.root, "data/fashion-a0.1", partition="dirichlet", alpha="0.1")
        make_dataset(self.root, "data/fashion-uniform", partition="iid", alpha="0.5")

    def drawn(self, function, *args):
        """The matplotlib figure a plot function draws, kept open instead of saved."""
        import plot
        figures = []
        saved = plot.save
        plot.save = lambda figure, stem: figures.append(figure) or [stem]
        try:
            self.assertTrue(function(*args))
        finally:
            plot.save = saved
        return figures[0]

    def run_plot(self, runs: Path, *args, expect=0):
        result = subprocess.run([PYTHON, str(TOOLS / "plot.py"), str(runs), *map(str, args)],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, expect, result.stderr)
        return result

    def assert_png(self, path: Path):
        self.assertTrue(path.is_file(), path)
        data = path.read_bytes()
        self.assertEqual(data[:8], PNG_MAGIC, path)
        self.assertGreater(len(data), 5000, path)  # axes, lines and legend, not a blank canvas
        rgb = matplotlib.image.imread(path)[..., :3]
        self.assertGreater(rgb.std(), 0.05, f"{path}: nearly uniform pixels")
        ink = (rgb.mean(axis=-1) < 0.8).mean()
        self.assertGreater(ink, 0.005, f"{path}: only {ink:.2%} of the pixels are drawn")

    def assert_pdf(self, path: Path):
        self.assertTrue(path.is_file(), path)
        data = path.read_bytes()
        self.assertTrue(data.startswith(b"%PDF-"), path)
        self.assertIn(b"%%EOF", data[-32:], path)
        self.assertGreater(len(data), 3000, path)  # fonts and drawing operators, not an empty page

    def assert_figures(self, out: Path, result, stems):
        """Exactly these figures are printed and written, each a PNG and a PDF with content."""
        want = files(stems)
        self.assertEqual(sorted(Path(line).name for line in result.stdout.splitlines()), want)
        self.assertEqual(sorted(p.name for p in out.iterdir()), want)
        for name in want:
            (self.assert_png if name.endswith(".png") else self.assert_pdf)(out / name)


class PlotCurvesAndFinals(PlotFiles):
    """One task, algorithms varying: the curve and bar charts; the summary figures skip."""

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

    def test_default_plots_every_eval_and_final_metric_and_notes_what_it_skips(self):
        out = self.root / "plots"
        result = self.run_plot(self.runs, "-o", out)
        self.assert_figures(out, result, ["curve-cls.accuracy", "final-cls.accuracy",
                                          "final-cls.loss"])
        self.assertIn("α sensitivity skipped", result.stderr)
        self.assertIn("connector-strategy skipped", result.stderr)
        self.assertIn("radar skipped", result.stderr)

    def test_selected_metric_against_seconds(self):
        out = self.root / "seconds"
        result = self.run_plot(self.runs, "-o", out, "--metric", "cls.accuracy", "--x", "seconds",
                               "--group", "run.seed")
        self.assert_figures(out, result, ["curve-cls.accuracy", "final-cls.accuracy"])

    def test_unknown_metric_is_an_error(self):
        result = self.run_plot(self.runs, "-o", self.root / "none", "--metric", "cap.cider", expect=1)
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


class PlotSweepFigures(PlotFiles):
    """Two sweeps in one tree, four tasks: a heterogeneity sweep (algorithm × α × seed) and a
    strategy sweep (strategy × connector × seed), as configs/sweeps/ lay them out."""

    def setUp(self):
        self.two_dataset_tree()
        for index, algorithm in enumerate(HET_ALGORITHMS):
            for data, alpha in HET_DATA.items():
                for seed in (1, 2):
                    name = f"het-{algorithm}-{Path(data).name}-s{seed}"
                    skew = 0.1 * math.log10(min(alpha, 100.0))  # better towards IID
                    make_run(self.runs / "heterogeneity", name,
                             base_config(name, algorithm, data=data, seed=seed),
                             finals=four_task_finals(0.5 + 0.1 * index + skew + 0.01 * seed))
        for index, strategy in enumerate(STRATEGIES):
            for offset, connector in enumerate(CONNECTORS):
                for seed in (1, 2):
                    name = f"strat-{strategy}-{connector}-s{seed}"
                    make_run(self.runs / "strategies", name,
                             base_config(name, strategy=strategy, connector=connector, seed=seed),
                             finals=four_task_finals(0.4 + 0.1 * index + 0.05 * offset + 0.01 * seed))

    def test_default_draws_every_figure_of_a_tree_with_both_sweeps(self):
        out = self.root / "plots"
        result = self.run_plot(self.runs, "-o", out)
        self.assert_figures(out, result,
                            [f"curve-{m}" for m in MAIN_METRICS] +
                            [f"final-{m}" for m in MAIN_METRICS + ("cls.loss",)] +
                            ["alpha-sensitivity", "connector-strategy", "radar"])

    def test_strategy_sweep_alone_has_no_alpha_figure(self):
        out = self.root / "strategies"
        result = self.run_plot(self.runs / "strategies", "-o", out,
                               "--figure", "alpha", "--figure", "connector", "--figure", "radar")
        self.assert_figures(out, result, ["connector-strategy", "radar"])
        self.assertIn("α sensitivity skipped", result.stderr)

    def test_data_alpha_reads_meta_h5_then_the_dataset_name(self):
        import rundirs
        alphas = {}
        for run in rundirs.load_runs([self.runs / "heterogeneity"], require_summary=True):
            alphas[run.config["data.path"]] = rundirs.data_alpha(run)
        self.assertEqual(alphas, HET_DATA)
        run = rundirs.Run(self.root / "elsewhere")
        for path, want in (("data/cmp-dir0.1", 0.1), ("data/cmp-iid", math.inf),
                           ("data/plot-test-a100", 100.0), ("data/plot-test", None)):
            run.config = {"data.path": path}
            self.assertEqual(rundirs.data_alpha(run), want, path)
        make_dataset(self.root, "data/sizes-a0.1", partition="quantity", alpha="0.1")
        run.config = {"data.path": str(self.root / "data/sizes-a0.1")}
        self.assertIsNone(rundirs.data_alpha(run))  # size skew is not label skew: meta wins


    def finished(self, *parts):
        import rundirs
        return rundirs.load_runs([self.runs.joinpath(*parts)], require_summary=True)

    def test_alpha_axis_runs_from_most_skewed_to_iid_with_one_line_per_algorithm(self):
        import plot
        figure = self.drawn(plot.plot_alpha, self.finished("heterogeneity"), list(MAIN_METRICS),
                            self.root)
        panels = [axes for axes in figure.axes if axes.get_title()]
        self.assertEqual([axes.get_title() for axes in panels],
                         ["vision-centric: cls.accuracy", "vision-centric: ground.iou",
                          "text-centric: cap.cider", "text-centric: vqa.accuracy"])
        for axes in panels:
            self.assertEqual([t.get_text() for t in axes.get_xticklabels()], ["0.1", "1", "IID"])
            self.assertEqual(axes.get_xscale(), "log")
            self.assertEqual(len(axes.containers), len(HET_ALGORITHMS))  # one errorbar each
        legend = figure.legends[0]
        self.assertEqual([t.get_text() for t in legend.get_texts()], sorted(HET_ALGORITHMS))

    def test_radar_scales_each_axis_to_its_best_polygon(self):
        import plot
        figure = self.drawn(plot.plot_radar, self.finished("strategies"), list(MAIN_METRICS),
                            None, self.root)
        self.assertEqual(len(figure.axes), len(CONNECTORS))  # one panel per connector
        for axes in figure.axes:
            self.assertEqual(len(axes.lines), len(STRATEGIES))
        radii = [line.get_ydata() for axes in figure.axes for line in axes.lines]
        for axis in range(len(MAIN_METRICS)):
            self.assertAlmostEqual(max(r[axis] for r in radii), 1.0)
            self.assertGreater(min(r[axis] for r in radii), 0.0)


class PlotArchitectures(PlotFiles):
    """RQ2's two grids in one tree: the encoder-based model (F-CL, its base) and the encoder-free
    one (full fine-tuning, another base), each algorithm × α × seed."""

    def setUp(self):
        self.two_dataset_tree()
        for kind, strategy, base, level in (("encoder", "F-CL", "runs/pretrain-tiny", 0.6),
                                            ("encoder-free", "full", "runs/pretrain-tiny-ef", 0.3)):
            for index, algorithm in enumerate(("fedavg", "fedprox")):
                for data in ("data/fashion-a0.1", "data/fashion-uniform"):
                    for seed in (1, 2):
                        name = f"{kind}-{algorithm}-{Path(data).name}-s{seed}"
                        config = base_config(name, algorithm, strategy=strategy, data=data, seed=seed)
                        config["model"].update(kind=kind, base=base)
                        make_run(self.runs, name, config, finals=four_task_finals(level + 0.1 * index + 0.01 * seed))

    def test_one_alpha_figure_per_architecture_with_a_line_per_algorithm(self):
        import plot
        import rundirs
        runs = rundirs.load_runs([self.runs], require_summary=True)
        figures = []
        saved = plot.save
        plot.save = lambda figure, stem: figures.append((stem.name, figure)) or [stem]
        try:
            self.assertEqual(len(plot.plot_alpha(runs, list(MAIN_METRICS), self.root)), 2)
        finally:
            plot.save = saved
        self.assertEqual([name for name, _ in figures], ["alpha-sensitivity-encoder", "alpha-sensitivity-encoder-free"])
        for (name, figure), level in zip(figures, (0.6, 0.3)):
            self.assertIn("kind=" + name.removeprefix("alpha-sensitivity-"), figure._suptitle.get_text())
            self.assertEqual(sorted(t.get_text() for t in figure.legends[0].get_texts()), ["fedavg", "fedprox"])
            axes = next(a for a in figure.axes if a.get_title() == "vision-centric: cls.accuracy")
            means = sorted(round(y, 3) for container in axes.containers for y in container.lines[0].get_ydata())
            self.assertAlmostEqual(means[0], level + 0.015)  # fedavg's seeds only: each figure holds its own runs
        out = self.root / "plots"
        result = self.run_plot(self.runs, "-o", out, "--figure", "alpha")
        self.assert_figures(out, result, ["alpha-sensitivity-encoder", "alpha-sensitivity-encoder-free"])


class PlotAlgorithmDefaults(PlotFiles):
    """An adaptive server optimizer keeps its own fl.server_lr (0.01) beside FedAvg's 1.0, as the
    RQ2 and RQ3 grids run them: that key follows the algorithm and must not split the figures."""

    def setUp(self):
        self.two_dataset_tree()
        for index, algorithm in enumerate(("fedavg", "fedadam", "centralized")):
            for data in ("data/fashion-a0.1", "data/fashion-uniform"):
                for seed in (1, 2):
                    name = f"{algorithm}-{Path(data).name}-s{seed}"
                    config = base_config(name, algorithm, data=data, seed=seed)
                    config["fl"]["server_lr"] = 0.01 if algorithm == "fedadam" else 1.0
                    make_run(self.runs, name, config, finals=four_task_finals(0.5 + 0.1 * index + 0.01 * seed))

    def test_radar_keeps_every_algorithm_in_the_panels_of_the_real_variable(self):
        import plot
        import rundirs
        runs = rundirs.load_runs([self.runs], require_summary=True)
        figure = self.drawn(plot.plot_radar, runs, list(MAIN_METRICS), None, self.root)
        self.assertEqual(len(figure.axes), 2)  # one panel per dataset, none per server_lr
        for axes in figure.axes:
            self.assertEqual(len(axes.lines), 3)
            self.assertNotIn("server_lr", axes.get_title())
        self.assertEqual(sorted(t.get_text() for t in figure.legends[0].get_texts()),
                         ["centralized", "fedadam", "fedavg"])

    def test_alpha_lines_are_named_by_the_algorithm_alone(self):
        import plot
        import rundirs
        runs = rundirs.load_runs([self.runs], require_summary=True)
        figure = self.drawn(plot.plot_alpha, runs, list(MAIN_METRICS), self.root)
        self.assertEqual(sorted(t.get_text() for t in figure.legends[0].get_texts()),
                         ["centralized", "fedadam", "fedavg"])

    def test_a_key_that_varies_within_an_algorithm_still_splits(self):
        import plot
        import rundirs
        runs = rundirs.load_runs([self.runs], require_summary=True)
        self.assertTrue(plot.determined_by(runs, "fl.server_lr", "fl.algorithm"))
        self.assertFalse(plot.determined_by(runs, "data.path", "fl.algorithm"))


if __name__ == "__main__":
    unittest.main()
