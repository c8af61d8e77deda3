#!/usr/bin/python3
"""How much each configuration loses from one dataset to another, seed by seed.

    sensitivity.py RUNS... --from DATA --to DATA [--format markdown|tsv]

For every configuration of finished runs (the swept keys but data.path and run.seed: an
algorithm, an architecture, ...) and every task's main metric (cls.accuracy, ground.iou,
vqa.accuracy, cap.cider), the relative loss (from − to) / from of the final value, computed for
each seed that finished on both datasets and then averaged: "10.2 ± 1.6" is a mean loss of
10.2 % with a sample standard deviation of 1.6 points over the paired seeds. Pairing by seed
takes out what a seed does to both runs alike (the connector and LoRA draw, the batch order).
A negative loss is a gain. DATA matches the last part of data.path (fashion-iid) or the whole.

This is the effect size of RQ2 (docs/results.md): --from fashion-iid --to fashion-a0.1.
Exit status: 0, 1 when no configuration has a seed on both datasets, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import rundirs

DATA_KEY, SEED_KEY = "data.path", "run.seed"


def matches(value, name: str) -> bool:
    return value == name or rundirs.short_value(value) == name


def final_main(run: rundirs.Run) -> dict[str, float]:
    table = rundirs.metric_table(run.summary, "final")
    out = {}
    for task, metric in rundirs.MAIN_METRIC.items():
        value = table.get(f"final.{task}.{metric}")
        if isinstance(value, (int, float)):
            out[f"{task}.{metric}"] = float(value)
    return out


def losses(runs: list[rundirs.Run], source: str, target: str) -> tuple[list[str], list[dict]]:
    keys = [key for key in rundirs.varying_keys(runs) if key not in (DATA_KEY, SEED_KEY)]
    pairs: dict[tuple, dict[object, dict[str, dict]]] = {}
    for run in runs:
        data = run.config.get(DATA_KEY)
        side = "from" if matches(data, source) else "to" if matches(data, target) else None
        if side is None:
            continue
        config = tuple(rundirs.comparable(run.config.get(key)) for key in keys)
        pairs.setdefault(config, {}).setdefault(run.config.get(SEED_KEY), {})[side] = final_main(run)
    rows = []
    for config, seeds in pairs.items():
        both = [sides for _, sides in sorted(seeds.items(), key=lambda item: str(item[0]))
                if "from" in sides and "to" in sides]
        if not both:
            continue
        row = dict(zip(keys, config))
        row["seeds"] = len(both)
        for measure in (f"{task}.{metric}" for task, metric in rundirs.MAIN_METRIC.items()):
            relative = [100.0 * (sides["from"][measure] - sides["to"][measure]) / sides["from"][measure]
                        for sides in both if measure in sides["from"] and measure in sides["to"]
                        and sides["from"][measure] != 0]
            row[measure] = (statistics.fmean(relative) if relative else None,
                            statistics.stdev(relative) if len(relative) > 1 else None)
        rows.append(row)
    rows.sort(key=lambda row: tuple(str(row[key]) for key in keys))
    return keys, rows


def render(keys: list[str], rows: list[dict], form: str) -> str:
    measures = [f"{task}.{metric}" for task, metric in rundirs.MAIN_METRIC.items()
                if any(row[f"{task}.{metric}"][0] is not None for row in rows)]
    header = [key.split(".")[-1] for key in keys] + ["seeds"] + [f"{m} loss %" for m in measures]

    def cell(value) -> str:
        mean, std = value
        if mean is None:
            return "-"
        return f"{mean:.1f}" + ("" if std is None else f" ± {std:.1f}")

    lines = [[rundirs.short_value(row[key]) for key in keys] + [str(row["seeds"])] + [cell(row[m]) for m in measures]
             for row in rows]
    if form == "tsv":
        return "\n".join("\t".join(cells) for cells in [header, *lines]) + "\n"
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(cells) + " |" for cells in lines]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("runs", nargs="+", type=Path, help="run directories or trees of them")
    parser.add_argument("--from", dest="source", required=True, help="the reference dataset (e.g. fashion-iid)")
    parser.add_argument("--to", dest="target", required=True, help="the dataset whose loss is measured")
    parser.add_argument("--format", choices=("markdown", "tsv"), default="markdown")
    args = parser.parse_args(argv)
    runs = rundirs.load_runs(args.runs, require_summary=True)
    keys, rows = losses(runs, args.source, args.target)
    if not rows:
        print(f"sensitivity.py: no configuration has a seed finished on both {args.source} and {args.target}",
              file=sys.stderr)
        return 1
    sys.stdout.write(render(keys, rows, args.format))
    return 0


if __name__ == "__main__":
    sys.exit(main())
