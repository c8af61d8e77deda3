#!/usr/bin/python3
"""Keep the record of finished runs: their config.toml, metrics.jsonl and summary.json, nothing else.

    archive_runs.py RUNS... --to ARCHIVE [--force]

Each finished run directory (one with summary.json) found under RUNS is copied to
ARCHIVE/<its directory name>/ as those three files (a few kB each; checkpoints, logs and client
states stay behind), so tools/collect.py and tools/plot.py read the archive as they read the runs
themselves, and the research-question tables of docs/results.md can be regenerated after the
machine that ran them is gone. A run already archived with the same summary.json is left alone;
one archived with a different summary.json is a conflict, reported and left alone unless --force.
Each run is written to a temporary directory and renamed into place: an archive never holds half
a run. Unfinished runs are skipped.

To continue a sweep from its archive on a fresh machine, copy the archive back where the sweep
writes (`cp -rn ARCHIVE/. runs/rq2/`): jobs/workstation-sweep.sh and jobs/submit-sweep.sh skip
every point whose summary.json is there.

Exit status: 0, or 1 when a conflict was left alone.
"""
from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

import rundirs

KEPT = ("config.toml", "metrics.jsonl", "summary.json")


def archive_run(run: Path, archive: Path, force: bool) -> str:
    """Copies one finished run; returns "added", "same", "replaced" or "conflict"."""
    target = archive / run.name
    if target.exists():
        if filecmp.cmp(run / "summary.json", target / "summary.json", shallow=False):
            return "same"
        if not force:
            return "conflict"
    archive.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run.name}.", dir=archive))
    try:
        for name in KEPT:
            if (run / name).is_file():
                shutil.copy2(run / name, staging / name)
        if target.exists():
            old = target.with_name(f".{run.name}.old")
            target.rename(old)
            staging.rename(target)
            shutil.rmtree(old)
            return "replaced"
        staging.rename(target)
        return "added"
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("runs", nargs="+", help="run directories or trees holding them")
    parser.add_argument("--to", type=Path, required=True, help="archive directory")
    parser.add_argument("--force", action="store_true", help="replace archived runs whose summary.json differs")
    args = parser.parse_args(argv)

    counts = {"added": 0, "same": 0, "replaced": 0, "conflict": 0, "unfinished": 0}
    names = {}
    for path in rundirs.find_run_dirs(args.runs):
        if not (path / "summary.json").is_file():
            counts["unfinished"] += 1
            continue
        if path.name in names and names[path.name] != path.resolve():
            rundirs.warn(f"{path} and {names[path.name]} share a name; only the first is archived")
            counts["conflict"] += 1
            continue
        names[path.name] = path.resolve()
        outcome = archive_run(path, args.to, args.force)
        counts[outcome] += 1
        if outcome == "conflict":
            rundirs.warn(f"{args.to / path.name} holds another result of {path.name}; left alone (--force replaces it)")
    print(", ".join(f"{count} {what}" for what, count in counts.items()), f"-> {args.to}")
    return 1 if counts["conflict"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
