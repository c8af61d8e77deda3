"""docs/results.md tells the truth about its archive: every table between
`<!-- NAME-table: tools/collect.py ARCHIVE ARGS -->` (or tools/sensitivity.py) and `<!-- /NAME-table -->` whose ARCHIVE is
in the repository (docs/results/runs/...) is exactly what that command prints now, and every
figure the page shows exists."""
import re
import shlex
import subprocess
import unittest

from fake_runs import PYTHON, REPO_ROOT

RESULTS = REPO_ROOT / "docs" / "results.md"
MARKER = re.compile(r"<!-- (\S+)-table: tools/(collect|sensitivity)\.py (.+?) -->\n(.*?)<!-- /\1-table -->", re.DOTALL)


class ResultsTablesTest(unittest.TestCase):
    def test_tables_from_the_archive_are_what_collect_prints(self):
        text = RESULTS.read_text()
        checked = 0
        for name, tool, command, table in MARKER.findall(text):
            arguments = shlex.split(command)
            if not arguments[0].startswith("docs/results/runs/"):
                continue  # a table of runs that were never archived (RQ1 of sessions 10-11)
            with self.subTest(table=name):
                self.assertTrue((REPO_ROOT / arguments[0]).is_dir(), f"{name}: {arguments[0]} is not in the repository")
                result = subprocess.run([PYTHON, f"tools/{tool}.py", *arguments], cwd=REPO_ROOT,
                                        capture_output=True, text=True)
                self.assertEqual(result.returncode, 0, result.stderr)
                self.assertEqual(table.strip(), result.stdout.strip(),
                                 f"docs/results.md's {name} table is stale: tools/update_results_tables.py regenerates it")
                checked += 1
        self.assertGreaterEqual(checked, 1, "no table of docs/results.md comes from the archive")

    def test_every_figure_shown_exists(self):
        for path in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", RESULTS.read_text()):
            with self.subTest(figure=path):
                self.assertTrue((RESULTS.parent / path).is_file(), path)


if __name__ == "__main__":
    unittest.main()
