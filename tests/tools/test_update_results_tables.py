"""tools/update_results_tables.py: a stale archive table is replaced by what collect.py prints,
a table of runs outside the archive and the text around the tables are left as they are."""
import subprocess
import tempfile
import unittest
from pathlib import Path

from fake_runs import PYTHON, REPO_ROOT, TOOLS

PAGE = """# Results
<!-- rq3-table: tools/collect.py docs/results/runs/rq3 --seeds --format markdown -->
| stale | table |
<!-- /rq3-table -->
Between the tables.
<!-- old-table: tools/collect.py runs/rq1 --seeds --format markdown -->
| kept | as is |
<!-- /old-table -->
"""


class UpdateResultsTablesTest(unittest.TestCase):
    def test_regenerates_archive_tables_only(self):
        fresh = subprocess.run([PYTHON, str(TOOLS / "collect.py"), "docs/results/runs/rq3", "--seeds", "--format",
                                "markdown"], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout
        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "results.md"
            page.write_text(PAGE)
            result = subprocess.run([PYTHON, str(TOOLS / "update_results_tables.py"), str(page)],
                                    capture_output=True, text=True)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn("rq3: regenerated", result.stdout)
            self.assertIn("old: left alone", result.stdout)
            expected = PAGE.replace("| stale | table |\n", fresh.strip() + "\n")
            self.assertEqual(page.read_text(), expected)
            # A second pass finds nothing to do.
            again = subprocess.run([PYTHON, str(TOOLS / "update_results_tables.py"), str(page)],
                                   capture_output=True, text=True)
            self.assertIn("rq3: unchanged", again.stdout)
            self.assertEqual(page.read_text(), expected)

    def test_help_and_a_missing_page(self):
        tool = str(TOOLS / "update_results_tables.py")
        helped = subprocess.run([PYTHON, tool, "--help"], capture_output=True, text=True)
        self.assertEqual(helped.returncode, 0, helped.stderr)
        self.assertIn("update_results_tables.py [RESULTS_MD]", helped.stdout)
        with tempfile.TemporaryDirectory() as tmp:
            missing = subprocess.run([PYTHON, tool, str(Path(tmp) / "none.md")], capture_output=True, text=True)
            self.assertEqual(missing.returncode, 2)
            self.assertIn("none.md does not exist", missing.stderr)
            self.assertEqual(list(Path(tmp).iterdir()), [])  # nothing written


if __name__ == "__main__":
    unittest.main()
