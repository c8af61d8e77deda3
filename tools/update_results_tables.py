#!/usr/bin/python3
"""Regenerate the archive tables of docs/results.md in place.

    update_results_tables.py [RESULTS_MD]

Every table between `<!-- NAME-table: tools/collect.py ARCHIVE ARGS -->` (or tools/sensitivity.py) and
`<!-- /NAME-table -->` whose ARCHIVE lies under docs/results/runs/ is replaced by what that
command prints now (tests/tools/test_results_tables.py checks they agree). Tables of runs that
were never archived are left as they are. Prints one line per table; the file is rewritten only
when a table changed, atomically.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"(<!-- (\S+)-table: tools/(collect|sensitivity)\.py (.+?) -->\n)(.*?)(<!-- /\2-table -->)", re.DOTALL)


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(f"usage: update_results_tables.py [RESULTS_MD] (got {' '.join(argv)})", file=sys.stderr)
        return 2
    results = Path(argv[0]) if argv else ROOT / "docs" / "results.md"
    if not results.is_file():
        print(f"update_results_tables.py: {results} does not exist", file=sys.stderr)
        return 2
    text = results.read_text()
    failures = []

    def regenerate(match: re.Match) -> str:
        opening, name, tool, command, table, closing = match.groups()
        arguments = shlex.split(command)
        if not arguments[0].startswith("docs/results/runs/"):
            print(f"{name}: left alone ({arguments[0]} is not an archive)")
            return match.group(0)
        result = subprocess.run([sys.executable, str(ROOT / "tools" / f"{tool}.py"), *arguments], cwd=ROOT,
                                capture_output=True, text=True)
        if result.returncode != 0:
            failures.append(f"{name}: tools/{tool}.py {command} failed: {result.stderr.strip()}")
            return match.group(0)
        fresh = result.stdout.strip() + "\n"
        print(f"{name}: {'unchanged' if fresh == table else 'regenerated'} ({fresh.count(chr(10)) - 2} rows)")
        return opening + fresh + closing

    updated = MARKER.sub(regenerate, text)
    for failure in failures:
        print(failure, file=sys.stderr)
    if updated != text:
        handle, temporary = tempfile.mkstemp(dir=results.parent, prefix=f".{results.name}.")
        with os.fdopen(handle, "w") as out:
            out.write(updated)
        os.replace(temporary, results)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
