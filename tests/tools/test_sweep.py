"""tools/sweep.py and tools/runconfig.py: grid expansion, names, overrides, run directories."""
import subprocess
import tempfile
import textwrap
import unittest
from pathlib import Path

from fake_runs import PYTHON, REPO_ROOT, TOOLS

import runconfig
import sweep

GRID = """\
base = "base.toml"
name = "{sweep}-{fl.algorithm}-{data.path}-s{run.seed}"
[grid]
"fl.algorithm" = ["fedavg", "fedprox", "scaffold"]
"data.path" = ["data/fashion a0.5", "data/fashion-a100/"]
run.seed = [1, 2]
[fixed]
"fl.rounds" = 7
"lora.targets" = ["q", "v"]
"local.lr" = 0.0005
"""


class SweepFileTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        (self.dir / "base.toml").write_text('[run]\ndir = "out"\nseed = 9\n')
        self.sweep = self.write("grid.toml", GRID)

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = self.dir / name
        path.write_text(textwrap.dedent(text))
        return path

    def cli(self, *args, check=True):
        result = subprocess.run([PYTHON, str(TOOLS / "sweep.py"), *map(str, args)],
                                capture_output=True, text=True, cwd=self.dir)
        if check:
            self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def test_count_is_product_of_grid_sizes(self):
        self.assertEqual(self.cli("count", self.sweep).stdout.strip(), "12")

    def test_first_grid_key_varies_slowest(self):
        lines = self.cli("list", self.sweep).stdout.splitlines()
        self.assertEqual(len(lines), 12)
        names = [line.split("\t")[1] for line in lines]
        self.assertEqual(names[:5], ["grid-fedavg-fashion-a0.5-s1", "grid-fedavg-fashion-a0.5-s2",
                                     "grid-fedavg-fashion-a100-s1", "grid-fedavg-fashion-a100-s2",
                                     "grid-fedprox-fashion-a0.5-s1"])
        self.assertEqual(names[11], "grid-scaffold-fashion-a100-s2")
        self.assertEqual([line.split("\t")[0] for line in lines], [str(i) for i in range(12)])

    def test_point_prints_one_argument_per_line_fixed_before_grid(self):
        args = self.cli("point", self.sweep, 5).stdout.splitlines()
        self.assertEqual(args, [
            "-c", str((self.dir / "base.toml").resolve()),
            "--set", "fl.rounds=7", "--set", 'lora.targets=["q", "v"]', "--set", "local.lr=0.0005",
            "--set", "fl.algorithm=fedprox", "--set", "data.path=data/fashion a0.5",
            "--set", "run.seed=2", "--set", "run.name=grid-fedprox-fashion-a0.5-s2"])

    def test_value_with_spaces_stays_one_bash_array_element(self):
        script = (f'point=$({PYTHON} {TOOLS / "sweep.py"} point "$1" 0); mapfile -t args <<<"$point"; '
                  'printf "%s\\n" "${#args[@]}" "${args[11]}"')
        result = subprocess.run(["bash", "-c", script, "bash", str(self.sweep)],
                                capture_output=True, text=True, check=True)
        self.assertEqual(result.stdout.splitlines(), ["16", "data.path=data/fashion a0.5"])

    def test_shell_output_round_trips_through_shlex(self):
        import shlex
        line = self.cli("point", self.sweep, 0, "--shell").stdout.strip()
        self.assertEqual(shlex.split(line), self.cli("point", self.sweep, 0).stdout.splitlines())

    def test_index_out_of_range_is_an_error_naming_the_range(self):
        for index in (12, -1):
            result = self.cli("point", self.sweep, index, check=False)
            self.assertEqual(result.returncode, 1)
            self.assertIn(f"point index {index} out of range 0..11", result.stderr)
            self.assertEqual(result.stdout, "")

    def test_rundir_follows_base_config_and_name(self):
        self.assertEqual(self.cli("rundir", self.sweep, 0).stdout.strip(),
                         "out/grid-fedavg-fashion-a0.5-s1")

    def test_default_name_joins_grid_values(self):
        path = self.write("plain.toml", 'base = "base.toml"\n[grid]\n"fl.algorithm" = ["fedavg"]\n'
                                        '"local.lr" = [0.01, 1e-05]\n')
        names = [p.name for p in sweep.load_sweep(path).points()]
        self.assertEqual(names, ["plain-fedavg-0.01", "plain-fedavg-1e-05"])

    def test_duplicate_run_names_are_rejected(self):
        path = self.write("dup.toml", 'base = "base.toml"\nname = "x-{fl.algorithm}"\n[grid]\n'
                                      '"fl.algorithm" = ["fedavg"]\n"run.seed" = [1, 2]\n')
        result = self.cli("list", path, check=False)
        self.assertEqual(result.returncode, 1)
        self.assertIn("points 0 and 1 are both named 'x-fedavg'", result.stderr)

    def test_unknown_placeholder_is_named(self):
        path = self.write("bad.toml", 'base = "base.toml"\nname = "x-{fl.algo}"\n[grid]\n'
                                      '"fl.algorithm" = ["fedavg"]\n')
        result = self.cli("point", path, 0, check=False)
        self.assertIn("placeholder '{fl.algo}'", result.stderr)

    def test_malformed_sweeps_are_rejected(self):
        cases = {
            'name = "x"\n[grid]\n"a.b" = [1]\n': "'base'",
            'base = "base.toml"\n': "[grid] is empty",
            'base = "base.toml"\n[grid]\n"fl.rounds" = 3\n': "non-empty array",
            'base = "base.toml"\n[grid]\n"a.b" = [1]\n[fixed]\n"a.b" = 2\n': "both [grid] and [fixed]",
            'base = "base.toml"\nbogus = 1\n[grid]\n"a.b" = [1]\n': "unknown top-level keys",
            'base = "missing.toml"\n[grid]\n"a.b" = [1]\n': "'missing.toml'",
        }
        for text, message in cases.items():
            with self.subTest(message=message):
                result = self.cli("point", self.write("case.toml", text), 0, check=False)
                self.assertEqual(result.returncode, 1)
                self.assertIn(message, result.stderr)

    def test_repository_sweeps_expand(self):
        # The research-question grids as docs/results.md and docs/cluster.md describe them.
        for name, count in (("strategies", 36), ("heterogeneity", 96), ("heterogeneity-ef", 96),
                            ("multitask", 36), ("robustness", 10)):
            with self.subTest(name=name):
                loaded = sweep.load_sweep(REPO_ROOT / "configs" / "sweeps" / f"{name}.toml")
                self.assertEqual(loaded.count(), count)
                self.assertEqual(len({p.name for p in loaded.points()}), count)


class RunConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)

    def tearDown(self):
        self.tmp.cleanup()

    def test_name_defaults_to_config_stem_and_dir_to_runs(self):
        config = self.dir / "fedavg.toml"
        config.write_text("[fl]\nrounds = 3\n")
        self.assertEqual(runconfig.run_dir(str(config), []), Path("runs/fedavg"))

    def test_base_chain_then_overrides(self):
        (self.dir / "parent.toml").write_text('[run]\ndir = "from-parent"\nname = "p"\n')
        child = self.dir / "child.toml"
        child.write_text('base = "parent.toml"\n[run]\nname = "c"\n')
        self.assertEqual(runconfig.run_dir(str(child), []), Path("from-parent/c"))
        self.assertEqual(runconfig.run_dir(str(child), ['run.name="q"', "run.dir=x"]), Path("x/q"))

    def test_parse_run_args_and_resume_wins(self):
        config, overrides, resume = runconfig.parse_run_args(
            ["-c", "a.toml", "--set", "run.name=b", "--set=fl.rounds=2", "--resume", "runs/z"])
        self.assertEqual((config, overrides, resume), (["a.toml"], ["run.name=b", "fl.rounds=2"], "runs/z"))
        self.assertEqual(runconfig.run_dir(config, overrides, resume), Path("runs/z"))

    def test_several_configs_merge_and_the_first_names_the_run(self):
        (self.dir / "first.toml").write_text('[run]\ndir = "d1"\n')
        (self.dir / "second.toml").write_text('[run]\ndir = "d2"\n')
        configs, _, _ = runconfig.parse_run_args(["-c", str(self.dir / "first.toml"),
                                                  "--config", str(self.dir / "second.toml")])
        self.assertEqual(runconfig.run_dir(configs, []), Path("d2/first"))
        self.assertEqual(runconfig.run_dir([], []), Path("runs/run"))

    def test_base_is_relative_to_the_file_naming_it(self):
        (self.dir / "sub").mkdir()
        (self.dir / "sub" / "parent.toml").write_text('[run]\ndir = "p"\n')
        (self.dir / "sub" / "child.toml").write_text('base = "parent.toml"\n')
        self.assertEqual(runconfig.run_dir(str(self.dir / "sub" / "child.toml"), []), Path("p/child"))
        (self.dir / "orphan.toml").write_text('base = "parent.toml"\n')
        with self.assertRaisesRegex(runconfig.ConfigError, "cannot read"):
            runconfig.run_dir(str(self.dir / "orphan.toml"), [])

    def test_base_cycle_is_reported(self):
        (self.dir / "a.toml").write_text('base = "b.toml"\n')
        (self.dir / "b.toml").write_text('base = "a.toml"\n')
        with self.assertRaisesRegex(runconfig.ConfigError, "cycle"):
            runconfig.run_dir(str(self.dir / "a.toml"), [])


if __name__ == "__main__":
    unittest.main()
