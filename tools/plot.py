#!/usr/bin/python3
"""Plot fedvlm runs: evaluation curves and final-metric bar charts (PNG, matplotlib Agg).

    plot.py RUNS_DIR... [-o DIR] [--metric TASK.METRIC]... [--x round|seconds] [--group KEY]

Writes into DIR (default plots/):
    curve-TASK.METRIC.png   the metric (phase eval; train for `loss` when no eval exists) vs
                            round or seconds, one line per run, runs still in flight included;
                            the legend names the config keys that differ between runs
    final-TASK.METRIC.png   summary.json's final value of finished runs, bars grouped by
                            --group (default: fl.algorithm, or finetune.strategy when only
                            that varies), one bar colour per combination of the other varying
                            keys; repeated seeds are averaged, the error bar is their std
Without --metric every metric found is plotted.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402

import rundirs  # noqa: E402
from rundirs import Run  # noqa: E402

SEED_KEY = "run.seed"
LINE_STYLES = ("-", "--", ":", "-.")


def curve_points(run: Run, task: str, metric: str, x_field: str) -> tuple[list, list]:
    records = [r for r in run.metrics if r.get("task") == task and r.get("metric") == metric]
    eval_records = [r for r in records if r.get("phase") == "eval"]
    chosen = eval_records or records
    chosen.sort(key=lambda r: (r["round"], r.get("seconds") or 0.0))
    xs = [r.get(x_field) for r in chosen]
    points = [(x, r["value"]) for x, r in zip(xs, chosen) if x is not None]
    return [p[0] for p in points], [p[1] for p in points]


def curve_metrics(runs: list[Run]) -> list[str]:
    found = {(r.get("task"), r.get("metric")) for run in runs for r in run.metrics
             if r.get("phase") == "eval"}
    return [f"{t}.{m}" for t, m in sorted(found, key=lambda tm: (rundirs.task_rank(tm[0]), tm[1]))]


def plot_curves(runs: list[Run], metric_name: str, x_field: str, out_dir: Path) -> Path | None:
    task, _, metric = metric_name.partition(".")
    keys = rundirs.varying_keys(runs)
    figure, axes = plt.subplots(figsize=(8, 5))
    drawn = 0
    for run in runs:
        xs, ys = curve_points(run, task, metric, x_field)
        if not xs:
            continue
        suffix = "" if run.summary is not None else " (unfinished)"
        # The colour cycle has 10 entries; past it, a new line style keeps lines distinct.
        style = LINE_STYLES[(drawn // 10) % len(LINE_STYLES)]
        axes.plot(xs, ys, style, marker="o", markersize=3, label=rundirs.label(run, keys) + suffix)
        drawn += 1
    if not drawn:
        plt.close(figure)
        return None
    axes.set_xlabel("round" if x_field == "round" else "seconds since start")
    axes.set_ylabel(metric_name)
    axes.set_title(f"{metric_name} vs {x_field}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save(figure, out_dir / f"curve-{metric_name}.png")


def final_metrics(runs: list[Run]) -> list[str]:
    names = set()
    for run in runs:
        names.update(key.removeprefix("final.") for key in rundirs.metric_table(run.summary, "final"))
    return sorted(names, key=lambda n: (rundirs.task_rank(n.partition(".")[0]), n))


def default_group(keys: list[str]) -> str:
    for key in ("fl.algorithm", "finetune.strategy"):
        if key in keys:
            return key
    return "fl.algorithm"


def plot_finals(runs: list[Run], metric_name: str, group_key: str | None, out_dir: Path) -> Path | None:
    keys = rundirs.varying_keys(runs)
    group_key = group_key or default_group(keys)
    hue_keys = [key for key in keys if key not in (group_key, SEED_KEY)]
    values = defaultdict(list)  # (group, hue) -> values over seeds
    for run in runs:
        value = rundirs.metric_table(run.summary, "final").get(f"final.{metric_name}")
        if isinstance(value, (int, float)):
            group = rundirs.short_value(run.config.get(group_key, "-"))
            hue = " ".join(f"{k.split('.')[-1]}={rundirs.short_value(run.config.get(k, '-'))}"
                           for k in hue_keys) or metric_name
            values[(group, hue)].append(float(value))
    if not values:
        return None
    groups = list(dict.fromkeys(g for g, _ in sorted(values)))
    hues = list(dict.fromkeys(h for _, h in sorted(values, key=lambda gh: gh[1])))
    width = 0.8 / len(hues)
    figure, axes = plt.subplots(figsize=(max(6, 1.2 * len(groups) * max(1, len(hues) / 2)), 5))
    for index, hue in enumerate(hues):
        xs, means, errors = [], [], []
        for position, group in enumerate(groups):
            sample = values.get((group, hue))
            if sample:
                xs.append(position - 0.4 + width * (index + 0.5))
                means.append(statistics.fmean(sample))
                errors.append(statistics.stdev(sample) if len(sample) > 1 else 0.0)
        axes.bar(xs, means, width, yerr=errors, capsize=3, label=hue)
    axes.set_xticks(range(len(groups)), groups)
    axes.set_xlabel(group_key)
    axes.set_ylabel(f"final {metric_name}")
    axes.set_title(f"final {metric_name} by {group_key}")
    axes.grid(axis="y", alpha=0.3)
    if len(hues) > 1 or hue_keys:
        axes.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save(figure, out_dir / f"final-{metric_name}.png")


def save(figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="plot.py", description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="run directories or trees holding them")
    parser.add_argument("-o", "--output", type=Path, default=Path("plots"), help="output directory")
    parser.add_argument("--metric", action="append", help="TASK.METRIC, e.g. cls.accuracy (repeatable)")
    parser.add_argument("--x", choices=("round", "seconds"), default="round")
    parser.add_argument("--group", help="config key grouping the bars (section.key)")
    options = parser.parse_args(argv)
    for name in options.metric or []:
        if "." not in name:
            parser.error(f"--metric {name}: expected TASK.METRIC, e.g. cls.accuracy")
    runs = rundirs.load_runs(options.runs, require_summary=False, with_metrics=True)
    if not runs:
        print("plot.py: error: no runs found under " + " ".join(options.runs), file=sys.stderr)
        return 1
    finished = [run for run in runs if run.summary is not None]
    written = []
    for name in options.metric or curve_metrics(runs):
        written.append(plot_curves(runs, name, options.x, options.output))
    for name in options.metric or final_metrics(finished):
        written.append(plot_finals(finished, name, options.group, options.output) if finished else None)
    written = [path for path in written if path]
    for path in written:
        print(path)
    if not written:
        print("plot.py: error: nothing to plot (no matching metrics)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
