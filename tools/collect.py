#!/usr/bin/python3
"""Turn many fedvlm run directories into one table (CSV or JSON lines, pandas-readable).

    collect.py RUNS_DIR... [--format csv|jsonl] [-o FILE] [--curves]

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

Read with pandas.read_csv(FILE) or pandas.read_json(FILE, lines=True).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
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
    if fmt == "csv":
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
    parser.add_argument("--format", choices=("csv", "jsonl"),
                        help="default: jsonl if FILE ends in .jsonl/.json, else csv")
    parser.add_argument("-o", "--output", type=Path, help="default: stdout")
    parser.add_argument("--curves", action="store_true",
                        help="long table of metrics.jsonl instead of one row per run")
    options = parser.parse_args(argv)
    fmt = options.format or ("jsonl" if options.output and
                             options.output.suffix in (".jsonl", ".json") else "csv")
    runs = rundirs.load_runs(options.runs, require_summary=not options.curves,
                             with_metrics=options.curves)
    if not runs:
        print("collect.py: error: no runs found under " + " ".join(options.runs), file=sys.stderr)
        return 1
    columns, rows = curve_rows(runs) if options.curves else summary_rows(runs)
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
