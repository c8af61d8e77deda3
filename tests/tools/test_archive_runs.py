"""tools/archive_runs.py: finished runs' three record files copied, nothing else; an archived run
is never silently replaced; the archive reads as the runs do (collect.py)."""
import json
import subprocess
import tempfile
import unittest
from pathlib import Path

from fake_runs import PYTHON, TOOLS, base_config, make_run


class ArchiveRunsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name)
        self.runs = self.root / "runs"
        self.archive = self.root / "archive"

    def tearDown(self):
        self.tmp.cleanup()

    def archive_runs(self, *extra):
        return subprocess.run([PYTHON, str(TOOLS / "archive_runs.py"), str(self.runs), "--to", str(self.archive), *extra],
                              capture_output=True, text=True)

    def test_copies_only_the_record_of_finished_runs(self):
        make_run(self.runs, "a", base_config("a"), accuracy=0.7)
        make_run(self.runs, "b", base_config("b", seed=2), accuracy=0.6)
        make_run(self.runs, "unfinished", base_config("unfinished", seed=3), accuracy=None)
        (self.runs / "a" / "checkpoints" / "round-000010.pt").write_bytes(b"x" * 1000)
        (self.runs / "a" / "logs" / "rank-0.log").write_text("log")
        result = self.archive_runs()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("2 added", result.stdout)
        self.assertIn("1 unfinished", result.stdout)
        self.assertEqual(sorted(p.name for p in self.archive.iterdir()), ["a", "b"])
        self.assertEqual(sorted(p.name for p in (self.archive / "a").iterdir()),
                         ["config.toml", "metrics.jsonl", "summary.json"])
        for name in ("config.toml", "metrics.jsonl", "summary.json"):
            self.assertEqual((self.archive / "a" / name).read_bytes(), (self.runs / "a" / name).read_bytes())

        # The archive is a runs tree to collect.py: the same table as the runs themselves.
        def table(path):
            out = subprocess.run([PYTHON, str(TOOLS / "collect.py"), str(path), "--format", "jsonl"],
                                 capture_output=True, text=True, check=True).stdout
            rows = [json.loads(line) for line in out.splitlines()]
            return [{k: v for k, v in row.items() if k != "run_dir"} for row in rows]
        self.assertEqual(table(self.archive), table(self.runs))

    def test_a_different_result_is_a_conflict_unless_forced(self):
        make_run(self.runs, "a", base_config("a"), accuracy=0.7)
        self.assertEqual(self.archive_runs().returncode, 0)
        again = self.archive_runs()
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("1 same", again.stdout)

        archived = (self.archive / "a" / "summary.json").read_bytes()
        summary = json.loads((self.runs / "a" / "summary.json").read_text())
        summary["wall_seconds"] = 12345.0
        (self.runs / "a" / "summary.json").write_text(json.dumps(summary))
        conflict = self.archive_runs()
        self.assertEqual(conflict.returncode, 1)
        self.assertIn("left alone", conflict.stderr)
        self.assertEqual((self.archive / "a" / "summary.json").read_bytes(), archived)

        forced = self.archive_runs("--force")
        self.assertEqual(forced.returncode, 0, forced.stderr)
        self.assertIn("1 replaced", forced.stdout)
        self.assertEqual(json.loads((self.archive / "a" / "summary.json").read_text())["wall_seconds"], 12345.0)
        self.assertEqual(sorted(p.name for p in self.archive.iterdir()), ["a"])  # no staging or old copy left


if __name__ == "__main__":
    unittest.main()
