#!/usr/bin/python3
"""Turn many fedvlm run directories into one table (CSV or JSON lines, pandas-readable).

    collect.py RUNS_DIR... [--format csv|jsonl|markdown] [-o FILE] [--curves | --seeds | --cost]

One row per finished run (a run directory with summary.json; unfinished runs are skipped with
a warning). Columns, in this order:
    run                      run.name
    fl.algorithm, finetune.strategy, data.path, run.seed, then every other config key whose
                             value differs across the collected runs (section.key)
    rounds, wall_seconds     from summary.json
    throughput.KEY           from summary.json
    final.TASK.METRIC, best.TASK.METRIC
    run_dir                  the directory the row came from
--curves writes the long table of metrics.jsonl instead: run, the config columns, then round,
phase, task, metric, value, seconds; one row per line of every run's metrics.jsonl.
--seeds writes one row per configuration instead, its seeds pooled: the swept keys but
run.seed, `seeds` (how many finished), then for each task's main metric (cls.accuracy,
ground.iou, vqa.accuracy, cap.cider) and wall_seconds its mean and sample standard deviation
(n - 1; empty for one seed); --format markdown prints it as the table docs/results.md shows,
"mean ± std".

--cost writes what the runs cost instead: one row per RUNS_DIR argument, its finished runs and
their run time (summary.json's wall_seconds: the round loop's training, communication and
evaluation, without process start and data loading) in all, median and longest; --format markdown prints it
as docs/results.md's cost table.

Read with pandas.read_csv(FILE) or pandas.read_json(FILE, lines=True).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path

import rundirs
from rundirs import Run

CURVE_COLUMNS = ("round", "phase", "task", "metric", "value", "seconds")


def run_row(run: Run, config_keys: list[str]) -> dict:
    summary = run.summary or {}
    row = {"run": run.name}
    row.update({key: run.config.get(key) for key in config_keys})
    row["rounds"] = summary.get("rounds")
    row["wall_seconds"] = summary.get("wall_seconds")
    throughput = summary.get("throughput")
    if isinstance(throughput, dict):
        row.update({f"throughput.{key}": throughput[key] for key in sorted(throughput)})
    row.update(rundirs.metric_table(summary, "final"))
    row.update(rundirs.metric_table(summary, "best"))
    row["run_dir"] = str(run.path)
    return row


def summary_rows(runs: list[Run]) -> tuple[list[str], list[dict]]:
    keys = rundirs.swept_keys(runs)
    rows = [run_row(run, keys) for run in runs]
    fixed = ["run"] + keys + ["rounds", "wall_seconds"]
    # Metric columns: union over runs, grouped by kind so a run lacking one keeps the order.
    extra = {column for row in rows for column in row} - set(fixed) - {"run_dir"}

    def order(column: str) -> tuple:
        kind, _, rest = column.partition(".")
        task = rest.partition(".")[0]
        return (("throughput", "final", "best").index(kind), rundirs.task_rank(task), rest)

    return fixed + sorted(extra, key=order) + ["run_dir"], rows


def seed_rows(runs: list[Run]) -> tuple[list[str], list[dict]]:
    keys = [key for key in rundirs.swept_keys(runs) if key != "run.seed"]
    groups: dict[tuple, list[Run]] = {}
    for run in runs:
        groups.setdefault(tuple(rundirs.comparable(run.config.get(key)) for key in keys), []).append(run)
    finals = [{**rundirs.metric_table(run.summary, "final"),
               "wall_seconds": run.summary.get("wall_seconds")} for run in runs]
    found = {name for table in finals for name in table}
    measures = [f"final.{task}.{metric}" for task, metric in rundirs.MAIN_METRIC.items()
                if f"final.{task}.{metric}" in found] + ["wall_seconds"]
    table_of = {id(run): table for run, table in zip(runs, finals)}
    rows = []
    for members in groups.values():
        row = {key: members[0].config.get(key) for key in keys}
        row["seeds"] = len(members)
        for measure in measures:
            values = [table_of[id(run)].get(measure) for run in members]
            values = [float(v) for v in values if isinstance(v, (int, float))]
            row[f"mean.{measure}"] = statistics.fmean(values) if values else None
            row[f"std.{measure}"] = statistics.stdev(values) if len(values) > 1 else None
        rows.append(row)
    columns = keys + ["seeds"] + [f"{stat}.{m}" for m in measures for stat in ("mean", "std")]
    return columns, rows


COST_COLUMNS = ("runs_dir", "runs", "run_hours", "median_minutes", "max_minutes")


def cost_rows(trees: list[str]) -> tuple[list[str], list[dict]]:
    rows = []
    for tree in trees:
        seconds = [float(run.summary["wall_seconds"]) for run in rundirs.load_runs([tree], require_summary=True)
                   if isinstance((run.summary or {}).get("wall_seconds"), (int, float))]
        rows.append({"runs_dir": tree, "runs": len(seconds),
                     "run_hours": sum(seconds) / 3600 if seconds else None,
                     "median_minutes": statistics.median(seconds) / 60 if seconds else None,
                     "max_minutes": max(seconds) / 60 if seconds else None})
    return list(COST_COLUMNS), rows


def write_cost_markdown(rows: list[dict], stream) -> None:
    stream.write("| runs | finished | run time (h) | median run (min) | longest run (min) |\n|---|---|---|---|---|\n")
    for row in rows:
        cells = [row["runs_dir"], str(row["runs"])] + [
            "-" if row[k] is None else f"{row[k]:.{digits}f}"
            for k, digits in (("run_hours", 2), ("median_minutes", 2), ("max_minutes", 2))]
        stream.write("| " + " | ".join(cells) + " |\n")


def markdown_cell(mean, std, digits: int) -> str:
    if mean is None:
        return "-"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def write_markdown(columns: list[str], rows: list[dict], stream) -> None:
    """The --seeds table as Markdown: varying keys (constant ones left out), seeds, then
    "mean ± std" per measure; wall time in minutes."""
    keys = [c for c in columns if not c.startswith(("mean.", "std.")) and c != "seeds"]
    keys = [k for k in keys if len({rundirs.comparable(row.get(k)) for row in rows}) > 1] or keys[:1]
    measures = [c.removeprefix("mean.") for c in columns if c.startswith("mean.")]
    titles = [k.split(".")[-1] for k in keys] + ["seeds"] + [
        "wall min" if m == "wall_seconds" else m.removeprefix("final.") for m in measures]
    stream.write("| " + " | ".join(titles) + " |\n|" + "---|" * len(titles) + "\n")
    for row in rows:
        cells = [rundirs.short_value(row.get(k)) for k in keys] + [str(row["seeds"])]
        for m in measures:
            mean, std = row.get(f"mean.{m}"), row.get(f"std.{m}")
            if m == "wall_seconds":
                mean, std = (None if mean is None else mean / 60), (None if std is None else std / 60)
            cells.append(markdown_cell(mean, std, 1 if m in ("wall_seconds",) else 3))
        stream.write("| " + " | ".join(cells) + " |\n")


def curve_rows(runs: list[Run]) -> tuple[list[str], list[dict]]:
    keys = rundirs.swept_keys(runs)
    rows = []
    for run in runs:
        base = {"run": run.name, **{key: run.config.get(key) for key in keys}}
        for record in run.metrics:
            rows.append({**base, **{column: record.get(column) for column in CURVE_COLUMNS}})
    return ["run"] + keys + list(CURVE_COLUMNS), rows


def csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else repr(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def json_cell(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf; pandas reads null as NaN
    return value


def write_table(columns: list[str], rows: list[dict], fmt: str, stream) -> None:
    if fmt == "markdown" and columns == list(COST_COLUMNS):
        write_cost_markdown(rows, stream)
    elif fmt == "markdown":
        write_markdown(columns, rows, stream)
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([csv_cell(row.get(column)) for column in columns])
    else:
        for row in rows:
            stream.write(json.dumps({c: json_cell(row.get(c)) for c in columns}) + "\n")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="collect.py", description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories or trees holding them")
    parser.add_argument("--format", choices=("csv", "jsonl", "markdown"),
                        help="default: jsonl if FILE ends in .jsonl/.json, md if .md, else csv; "
                             "markdown needs --seeds")
    parser.add_argument("-o", "--output", type=Path, help="default: stdout")
    parser.add_argument("--curves", action="store_true",
                        help="long table of metrics.jsonl instead of one row per run")
    parser.add_argument("--seeds", action="store_true",
                        help="one row per configuration: mean and std over its seeds")
    parser.add_argument("--cost", action="store_true",
                        help="one row per RUNS argument: finished runs and their run time")
    options = parser.parse_args(argv)
    suffix = options.output.suffix if options.output else ""
    fmt = options.format or {".jsonl": "jsonl", ".json": "jsonl", ".md": "markdown"}.get(suffix, "csv")
    if options.curves + options.seeds + options.cost > 1:
        parser.error("--curves, --seeds and --cost are different tables: choose one")
    if fmt == "markdown" and not (options.seeds or options.cost):
        parser.error("--format markdown is the --seeds or --cost table: add one")
    runs = rundirs.load_runs(options.runs, require_summary=not options.curves,
                             with_metrics=options.curves)
    if not runs:
        print("collect.py: error: no runs found under " + " ".join(options.runs), file=sys.stderr)
        return 1
    columns, rows = (curve_rows(runs) if options.curves else seed_rows(runs) if options.seeds else
                     cost_rows(options.runs) if options.cost else summary_rows(runs))
    if options.output:
        options.output.parent.mkdir(parents=True, exist_ok=True)
        with open(options.output, "w", encoding="utf-8", newline="") as stream:
            write_table(columns, rows, fmt, stream)
        print(f"collect.py: {len(rows)} rows -> {options.output}", file=sys.stderr)
    else:
        try:
            write_table(columns, rows, fmt, sys.stdout)
        except BrokenPipeError:  # `collect.py runs/ | head`
            sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
