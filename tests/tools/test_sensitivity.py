"""tools/sensitivity.py: the relative loss from one dataset to another, paired by seed, per
configuration and task; unpaired seeds and other datasets are left out."""
import subprocess
import tempfile
import unittest
from pathlib import Path

from fake_runs import PYTHON, TOOLS, base_config, make_run


def finals(cls, cider):
    return {"cls": {"accuracy": cls}, "cap": {"cider": cider}}


class SensitivityTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.runs = Path(self.tmp.name) / "runs"
        # fedavg: cls 0.8 -> 0.72 (10 %) at seed 1, 0.8 -> 0.76 (5 %) at seed 2; cider 5 -> 5.5 (a gain).
        # fedprox: only seed 1 on both; its seed 2 has no skewed run. A third dataset is ignored.
        table = {("fedavg", 1): ((0.8, 5.0), (0.72, 5.5)), ("fedavg", 2): ((0.8, 5.0), (0.76, 5.5)),
                 ("fedprox", 1): ((0.5, 4.0), (0.25, 3.0)), ("fedprox", 2): ((0.5, 4.0), None)}
        for (algorithm, seed), (iid, skewed) in table.items():
            for data, values in (("data/fashion-iid", iid), ("data/fashion-a0.1", skewed), ("data/fashion-a1", (0.1, 0.1))):
                if values is None:
                    continue
                name = f"{algorithm}-{Path(data).name}-s{seed}"
                make_run(self.runs, name, base_config(name, algorithm, data=data, seed=seed), finals=finals(*values))

    def tearDown(self):
        self.tmp.cleanup()

    def sensitivity(self, *args, expect=0):
        result = subprocess.run([PYTHON, str(TOOLS / "sensitivity.py"), str(self.runs), *args, "--format", "tsv"],
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, expect, result.stderr)
        return result

    def test_losses_are_paired_by_seed_and_averaged(self):
        lines = self.sensitivity("--from", "fashion-iid", "--to", "fashion-a0.1").stdout.splitlines()
        self.assertEqual(lines[0].split("\t"), ["algorithm", "seeds", "cls.accuracy loss %", "cap.cider loss %"])
        rows = {cells[0]: cells[1:] for cells in (line.split("\t") for line in lines[1:])}
        self.assertEqual(rows["fedavg"], ["2", "7.5 ± 3.5", "-10.0 ± 0.0"])
        self.assertEqual(rows["fedprox"], ["1", "50.0", "25.0"])
        self.assertEqual(len(rows), 2)

    def test_full_paths_match_and_nothing_paired_is_an_error(self):
        lines = self.sensitivity("--from", "data/fashion-iid", "--to", "data/fashion-a0.1").stdout.splitlines()
        self.assertEqual(len(lines), 3)
        result = self.sensitivity("--from", "fashion-iid", "--to", "fashion-a0.5", expect=1)
        self.assertIn("no configuration has a seed finished on both fashion-iid and fashion-a0.5", result.stderr)


if __name__ == "__main__":
    unittest.main()
