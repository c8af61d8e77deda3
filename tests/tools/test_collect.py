"""tools/collect.py on fake run directories: rows, columns, values, incomplete runs."""
import csv
import io
import json
import subprocess
import tempfile
import unittest
from pathlib import Path

from fake_runs import PYTHON, TOOLS, base_config, make_run

TORN = '{"round": 11, "phase": "ev'


class CollectTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.runs = Path(self.tmp.name) / "runs"
        make_run(self.runs, "b-prox", base_config("b-prox", "fedprox", lr=0.01), accuracy=0.7,
                 torn_tail=TORN)
        make_run(self.runs, "a-avg", base_config("a-avg", "fedavg"), accuracy=0.6)
        make_run(self.runs, "c-unfinished", base_config("c-unfinished", "scaffold"), accuracy=None)
        # A run one level deeper (a sweep's run.dir), found by the recursive scan.
        make_run(self.runs / "sweep", "d-avg", base_config("d-avg", "fedavg", seed=2), accuracy=0.4)

    def tearDown(self):
        self.tmp.cleanup()

    def collect(self, *args):
        result = subprocess.run([PYTHON, str(TOOLS / "collect.py"), *map(str, args)],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def read_csv(self, text):
        return list(csv.DictReader(io.StringIO(text)))

    def test_one_row_per_finished_run_sorted_by_directory(self):
        result = self.collect(self.runs)
        rows = self.read_csv(result.stdout)
        self.assertEqual([row["run"] for row in rows], ["a-avg", "b-prox", "d-avg"])
        self.assertIn("c-unfinished: no readable summary.json", result.stderr)

    def test_columns_hold_always_keys_swept_keys_then_metrics_in_stable_order(self):
        header = self.collect(self.runs).stdout.splitlines()[0].split(",")
        self.assertEqual(header, [
            "run", "fl.algorithm", "finetune.strategy", "data.path", "run.seed", "local.lr",
            "rounds", "wall_seconds", "throughput.rounds_per_hour", "throughput.samples_per_second",
            "final.cls.accuracy", "final.cls.loss", "best.cls.accuracy", "run_dir"])

    def test_cost_sums_the_run_time_of_each_tree(self):
        make_run(self.runs / "sweep", "e-long", base_config("e-long", "fedavg", seed=3), rounds=40)  # 60 s
        rows = self.read_csv(self.collect(self.runs, self.runs / "sweep", "--cost").stdout)
        self.assertEqual([row["runs_dir"] for row in rows], [str(self.runs), str(self.runs / "sweep")])
        self.assertEqual([int(row["runs"]) for row in rows], [4, 2])  # c-unfinished has no summary
        self.assertAlmostEqual(float(rows[0]["run_hours"]), (3 * 15 + 60) / 3600)
        self.assertAlmostEqual(float(rows[1]["median_minutes"]), (15 + 60) / 2 / 60)
        self.assertAlmostEqual(float(rows[1]["max_minutes"]), 1.0)
        table = self.collect(self.runs / "sweep", "--cost", "--format", "markdown").stdout.splitlines()
        self.assertEqual(table[0], "| runs | finished | run time (h) | median run (min) | longest run (min) |")
        self.assertEqual(table[2], f"| {self.runs / 'sweep'} | 2 | 0.02 | 0.62 | 1.00 |")
        refused = subprocess.run([PYTHON, str(TOOLS / "collect.py"), str(self.runs), "--cost", "--seeds"],
                                 capture_output=True, text=True)
        self.assertEqual(refused.returncode, 2)
        self.assertIn("choose one", refused.stderr)

    def test_a_key_newer_runs_record_at_its_default_does_not_split_older_runs(self):
        tree = Path(self.tmp.name) / "mixed"
        old = make_run(tree, "old", base_config("old", "fedavg"), accuracy=0.6)
        new = make_run(tree, "new", base_config("new", "fedavg", seed=2), accuracy=0.7)
        # A newer fedvlm writes the key, marked as its default; the older run's config lacks it.
        with open(new / "config.toml", "a") as config:
            config.write("[pretrain]\ncaption_steps = 0  # default\n")
        rows = self.read_csv(self.collect(tree, "--seeds").stdout)
        self.assertEqual(len(rows), 1, rows)  # one configuration at two seeds
        self.assertEqual(rows[0]["seeds"], "2")
        self.assertNotIn("pretrain.caption_steps", rows[0])
        # Set to another value than the default, the key does split them.
        (new / "config.toml").write_text((new / "config.toml").read_text().replace(
            "caption_steps = 0  # default", "caption_steps = 5  # --set"))
        rows = self.read_csv(self.collect(tree, "--seeds").stdout)
        self.assertEqual(sorted(row["pretrain.caption_steps"] for row in rows), ["", "5"])
        self.assertTrue(old.is_dir())

    def test_values_come_from_config_and_summary(self):
        rows = {row["run"]: row for row in self.read_csv(self.collect(self.runs).stdout)}
        prox = rows["b-prox"]
        self.assertEqual(prox["fl.algorithm"], "fedprox")
        self.assertEqual(float(prox["local.lr"]), 0.01)
        self.assertEqual(float(prox["final.cls.accuracy"]), 0.7)
        self.assertAlmostEqual(float(prox["best.cls.accuracy"]), 0.71)
        self.assertEqual(int(prox["rounds"]), 10)
        self.assertEqual(rows["d-avg"]["run.seed"], "2")
        self.assertEqual(Path(rows["a-avg"]["run_dir"]), self.runs / "a-avg")

    def test_unvarying_keys_other_than_always_keys_are_left_out(self):
        header = self.collect(self.runs / "a-avg").stdout.splitlines()[0].split(",")
        self.assertNotIn("local.lr", header)
        self.assertNotIn("model.preset", header)
        self.assertIn("finetune.strategy", header)

    def test_jsonl_output_to_file_keeps_types(self):
        out = Path(self.tmp.name) / "table" / "results.jsonl"
        self.collect(self.runs, "-o", out)
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows[0]["run.seed"], 1)
        self.assertEqual(rows[0]["final.cls.accuracy"], 0.6)
        self.assertEqual(list(rows[0])[:2], ["run", "fl.algorithm"])

    def test_curves_skip_torn_last_line_and_include_unfinished_runs(self):
        result = self.collect(self.runs, "--curves", "--format", "jsonl")
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        self.assertIn("metrics.jsonl:13: torn last line skipped", result.stderr)
        prox = [r for r in rows if r["run"] == "b-prox"]
        self.assertEqual(len(prox), 12)  # 10 train losses + 2 evals; the torn 13th is dropped
        self.assertEqual(max(r["round"] for r in prox), 10)
        self.assertIn("c-unfinished", {r["run"] for r in rows})
        evals = [r for r in prox if r["phase"] == "eval"]
        self.assertEqual([(r["round"], r["value"]) for r in evals], [(5, 0.35), (10, 0.7)])

    def test_no_runs_is_an_error(self):
        empty = Path(self.tmp.name) / "empty"
        empty.mkdir()
        result = subprocess.run([PYTHON, str(TOOLS / "collect.py"), str(empty)],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 1)
        self.assertIn("no runs found", result.stderr)

    def test_corrupt_summary_is_skipped_not_fatal(self):
        (self.runs / "a-avg" / "summary.json").write_text('{"final": ')
        result = self.collect(self.runs)
        self.assertEqual([row["run"] for row in self.read_csv(result.stdout)], ["b-prox", "d-avg"])
        self.assertIn("summary.json: unreadable", result.stderr)

    def seed_tree(self) -> Path:
        """Two configurations (fedavg, fedprox) at seeds 1-3, one fedprox seed unfinished."""
        root = Path(self.tmp.name) / "seeds"
        for algorithm, accuracies in (("fedavg", (0.5, 0.6, 0.7)), ("fedprox", (0.4, 0.8, None))):
            for seed, accuracy in enumerate(accuracies, start=1):
                name = f"{algorithm}-s{seed}"
                make_run(root, name, base_config(name, algorithm, seed=seed), accuracy=accuracy)
        return root

    def test_seeds_table_pools_each_configuration_into_mean_and_sample_std(self):
        result = self.collect(self.seed_tree(), "--seeds", "--format", "jsonl")
        rows = {row["fl.algorithm"]: row for row in map(json.loads, result.stdout.splitlines())}
        self.assertEqual(set(rows), {"fedavg", "fedprox"})
        self.assertNotIn("run.seed", rows["fedavg"])
        self.assertEqual(rows["fedavg"]["seeds"], 3)
        self.assertAlmostEqual(rows["fedavg"]["mean.final.cls.accuracy"], 0.6)
        self.assertAlmostEqual(rows["fedavg"]["std.final.cls.accuracy"], 0.1)  # n - 1
        self.assertEqual(rows["fedprox"]["seeds"], 2)  # the unfinished seed is not counted
        self.assertAlmostEqual(rows["fedprox"]["mean.final.cls.accuracy"], 0.6)
        self.assertAlmostEqual(rows["fedprox"]["std.final.cls.accuracy"], 0.2828427, places=6)

    def test_seeds_markdown_prints_mean_plus_minus_std_per_configuration(self):
        lines = self.collect(self.seed_tree(), "--seeds", "--format", "markdown").stdout.splitlines()
        self.assertEqual(lines[0], "| algorithm | seeds | cls.accuracy | wall min |")
        self.assertEqual(lines[1], "|---|---|---|---|")
        self.assertTrue(lines[2].startswith("| fedavg | 3 | 0.600 ± 0.100 |"), lines[2])
        self.assertTrue(lines[3].startswith("| fedprox | 2 | 0.600 ± 0.283 |"), lines[3])
        self.assertEqual(len(lines), 4)

    def test_markdown_without_seeds_is_refused(self):
        result = subprocess.run([PYTHON, str(TOOLS / "collect.py"), str(self.runs), "--format", "markdown"],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 2)
        self.assertIn("the --seeds or --cost table: add one", result.stderr)


if __name__ == "__main__":
    unittest.main()
