#!/usr/bin/python3
"""Plot fedvlm runs: curves, final-metric bars, α sensitivity, connector × strategy, radar.

    plot.py RUNS_DIR... [-o DIR] [--metric TASK.METRIC]... [--x round|seconds] [--group KEY]
                        [--figure NAME]...

Every figure is written as NAME.png (120 dpi) and NAME.pdf into DIR (default plots/); the
paths written are printed, one a line. A figure the runs cannot support (no α variation, one
connector and strategy, a radar of fewer than three tasks or one group) is skipped with a note
on stderr.
    curve-TASK.METRIC      the metric (phase eval; train for `loss` when no eval exists) vs
                           round or seconds, one line per run, runs still in flight included;
                           the legend names the config keys that differ between runs
    final-TASK.METRIC      summary.json's final value of finished runs, bars grouped by
                           --group (default: fl.algorithm, or finetune.strategy when only
                           that varies), one bar colour per combination of the other varying
                           keys; repeated seeds are averaged, the error bar is their std
    alpha-sensitivity      final metric vs the Dirichlet label-skew α of the run's dataset
                           (meta.h5 /partition at data.path, else the name: fashion-a0.5,
                           cmp-iid), one line per algorithm (and other varying keys), seeds
                           averaged with std error bars; panels in two rows, vision-centric
                           (cls, ground) and text-centric (vqa, cap). The α axis is log-scaled,
                           most skewed on the left; an IID partition sits one decade right of
                           the largest α, labelled IID, past a dotted break. Runs of several
                           architectures (model.kind) get one figure each,
                           alpha-sensitivity-encoder and alpha-sensitivity-encoder-free; keys
                           that follow the architecture (its strategy, its base) name no line
    connector-strategy     final metric per finetune.strategy (bar groups) and model.connector
                           (bar colours), one panel per task, seeds averaged, std error bars
    radar                  one polygon per --group value (default as for final-*: e.g. each
                           algorithm, centralized included), one panel per combination of the
                           other varying keys (e.g. each α); an axis per task metric, each
                           divided by its largest value among the polygons drawn (the axis
                           label gives it), so the best run reaches 1 on every axis; a loss
                           axis is min/value instead, outward still better
The summary figures (alpha-sensitivity, connector-strategy, radar) use each task's main metric,
cls.accuracy, ground.iou, vqa.accuracy and cap.cider, or the --metric ones; they take finished
runs only. A series that does not vary along a figure's own axis (one α, one strategy and
connector cell, one polygon in a panel) is left out of that figure, so a tree holding several
sweeps plots each sweep's runs where they belong.
Without --metric every metric found is plotted; without --figure every figure is drawn.
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on cluster nodes
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import rundirs  # noqa: E402
from rundirs import Run  # noqa: E402

SEED_KEY = "run.seed"
DATA_KEY = "data.path"
STRATEGY_KEY = "finetune.strategy"
CONNECTOR_KEY = "model.connector"
LINE_STYLES = ("-", "--", ":", "-.")
FIGURES = ("curves", "finals", "alpha", "connector", "radar")
MAIN_METRIC = rundirs.MAIN_METRIC
TASK_FAMILIES = (("vision-centric", ("cls", "ground")), ("text-centric", ("vqa", "cap")))
STRATEGY_ORDER = ("F-C", "F-L", "F-CL", "F-2stage", "full")
CONNECTOR_ORDER = ("linear", "mlp2x_gelu", "mlp6x_gelu")


def note(message: str) -> None:
    print(f"plot.py: note: {message}", file=sys.stderr)


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


def plot_curves(runs: list[Run], metric_name: str, x_field: str, out_dir: Path) -> list[Path]:
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
        return []
    axes.set_xlabel("round" if x_field == "round" else "seconds since start")
    axes.set_ylabel(metric_name)
    axes.set_title(f"{metric_name} vs {x_field}")
    axes.grid(alpha=0.3)
    axes.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save(figure, out_dir / f"curve-{metric_name}")


def final_value(run: Run, metric_name: str) -> float | None:
    value = rundirs.metric_table(run.summary or {}, "final").get(f"final.{metric_name}")
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def final_metrics(runs: list[Run]) -> list[str]:
    names = set()
    for run in runs:
        names.update(key.removeprefix("final.") for key in rundirs.metric_table(run.summary, "final"))
    return sorted(names, key=lambda n: (rundirs.task_rank(n.partition(".")[0]), n))


def main_metrics(runs: list[Run]) -> list[str]:
    """Each task's main metric that some run has a final value for, in MAIN_METRIC's order:
    vision-centric tasks, then text-centric, so panels and radar axes keep families together."""
    found = set(final_metrics(runs))
    names = [f"{task}.{metric}" for task, metric in MAIN_METRIC.items()]
    return [name for name in names if name in found]


def default_group(keys: list[str]) -> str:
    for key in ("fl.algorithm", STRATEGY_KEY):
        if key in keys:
            return key
    return "fl.algorithm"


def mean_std(sample: list[float]) -> tuple[float, float]:
    return statistics.fmean(sample), statistics.stdev(sample) if len(sample) > 1 else 0.0


def describe(keys: list[str], values: tuple, bare: bool = True) -> str:
    """A series name: the bare value for one key (legends title it), else 'key=value ...'."""
    if bare and len(keys) == 1:
        return rundirs.short_value(values[0])
    return " ".join(f"{key.split('.')[-1]}={rundirs.short_value(value)}"
                    for key, value in zip(keys, values)) or "all runs"


def series_of(runs: list[Run], keys: list[str]) -> dict[tuple, list[Run]]:
    """Runs grouped by their values of keys, in first-seen order."""
    groups = defaultdict(list)
    for run in runs:
        groups[tuple(rundirs.comparable(run.config.get(key, "-")) for key in keys)].append(run)
    return dict(groups)


def determined_by(runs: list[Run], key: str, group_key: str) -> bool:
    """True when every run of one group_key value has one value of key: an algorithm's own
    hyperparameter (FedAdam's fl.server_lr beside FedAvg's) follows the algorithm and is no
    variable of its own, neither a panel nor a part of a line's name."""
    seen = {}
    for run in runs:
        group = rundirs.comparable(run.config.get(group_key, "-"))
        value = rundirs.comparable(run.config.get(key, "-"))
        if seen.setdefault(group, value) != value:
            return False
    return True


def independent(runs: list[Run], keys: list[str], group_key: str) -> list[str]:
    """keys without those determined_by group_key (when group_key varies at all)."""
    if group_key not in rundirs.varying_keys(runs):
        return keys
    return [key for key in keys if key == group_key or not determined_by(runs, key, group_key)]


def narrow(keys: list[str], series: list[tuple]) -> tuple[list[str], list[tuple]]:
    """Drop the keys that take one value among the series kept, so labels name what differs."""
    kept = [i for i, _ in enumerate(keys) if len({values[i] for values in series}) > 1]
    return [keys[i] for i in kept], [tuple(values[i] for i in kept) for values in series]


def ordered(values, order: tuple) -> list:
    return sorted(values, key=lambda v: (order.index(v) if v in order else len(order), str(v)))


def plot_finals(runs: list[Run], metric_name: str, group_key: str | None, out_dir: Path) -> list[Path]:
    keys = rundirs.varying_keys(runs)
    group_key = group_key or default_group(keys)
    hue_keys = [key for key in keys if key not in (group_key, SEED_KEY)]
    values = defaultdict(list)  # (group, hue) -> values over seeds
    for run in runs:
        value = final_value(run, metric_name)
        if value is not None:
            group = rundirs.short_value(run.config.get(group_key, "-"))
            hue = " ".join(f"{k.split('.')[-1]}={rundirs.short_value(run.config.get(k, '-'))}"
                           for k in hue_keys) or metric_name
            values[(group, hue)].append(value)
    if not values:
        return []
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
                mean, std = mean_std(sample)
                means.append(mean)
                errors.append(std)
        axes.bar(xs, means, width, yerr=errors, capsize=3, label=hue)
    axes.set_xticks(range(len(groups)), groups)
    axes.set_xlabel(group_key)
    axes.set_ylabel(f"final {metric_name}")
    axes.set_title(f"final {metric_name} by {group_key}")
    axes.grid(axis="y", alpha=0.3)
    if len(hues) > 1 or hue_keys:
        axes.legend(fontsize="small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return save(figure, out_dir / f"final-{metric_name}")


def panel_grid(count: int, columns: int, size: tuple, **subplot_kw):
    rows = math.ceil(count / columns)
    columns = min(columns, count)
    figure, grid = plt.subplots(rows, columns, figsize=(size[0] * columns, size[1] * rows),
                                squeeze=False, subplot_kw=subplot_kw or None)
    panels = list(grid.flat)
    for spare in panels[count:]:
        spare.remove()
    return figure, panels[:count]


def family_layout(metrics: list[str]) -> list[tuple[str, list[str]]]:
    """The metrics in rows: vision-centric tasks, text-centric tasks, then any other."""
    rows = []
    for family, tasks in TASK_FAMILIES:
        row = [m for m in metrics if m.partition(".")[0] in tasks]
        if row:
            rows.append((family, row))
    known = {task for _, tasks in TASK_FAMILIES for task in tasks}
    other = [m for m in metrics if m.partition(".")[0] not in known]
    return rows + ([("other", other)] if other else [])


# Keys that name a figure of their own in the α-sensitivity plot rather than a line: the model
# architecture (with what follows it, such as its strategy and base) is compared side by side.
FIGURE_KEYS = ("model.kind",)


def one_to_one(runs: list[Run], a: str, b: str) -> bool:
    return determined_by(runs, a, b) and determined_by(runs, b, a)


def plot_alpha(runs: list[Run], metrics: list[str], out_dir: Path) -> list[Path]:
    """The α-sensitivity figure; one per model.kind when the runs hold several architectures
    (alpha-sensitivity-<kind>), each with one line per algorithm (and per other varying key)."""
    alphas = {id(run): rundirs.data_alpha(run) for run in runs}
    unknown = [run.name for run in runs if alphas[id(run)] is None]
    if unknown:
        note(f"α sensitivity: no Dirichlet α or IID partition known for {len(unknown)} run(s) "
             f"(e.g. {unknown[0]}), left out")
    runs = [run for run in runs if alphas[id(run)] is not None]
    varying = rundirs.varying_keys(runs)
    split = [key for key in FIGURE_KEYS if key in varying]
    # Keys that follow the figure key one to one (the encoder-free grid's strategy and base)
    # name nothing a figure title does not already say.
    follows = {key for key in varying for figure_key in split if key != figure_key and one_to_one(runs, key, figure_key)}
    keys = [k for k in independent(runs, varying, "fl.algorithm")
            if k not in (SEED_KEY, DATA_KEY) and k not in split and k not in follows]
    written = []
    groups = series_of(runs, split) if split else {(): runs}
    for values, members in groups.items():
        title = describe(split, values, bare=False) if split else ""
        stem = "-".join(["alpha-sensitivity", *(rundirs.short_value(value) for value in values)])
        written += plot_alpha_figure(members, metrics, keys, alphas, title, out_dir / stem)
    return written


def plot_alpha_figure(runs: list[Run], metrics: list[str], keys: list[str], alphas: dict, title: str,
                      stem: Path) -> list[Path]:
    lines = {values: members for values, members in series_of(runs, keys).items()
             if len({alphas[id(run)] for run in members}) > 1}
    if not lines:
        note(f"α sensitivity{' (' + title + ')' if title else ''} skipped: no algorithm has runs at two or "
             "more α (or IID)")
        return []
    keys, names = narrow(keys, list(lines))
    present = sorted({alphas[id(run)] for members in lines.values() for run in members})
    finite = [a for a in present if math.isfinite(a)]
    iid_x = (max(finite) if finite else 1.0) * 10.0
    position = {a: (a if math.isfinite(a) else iid_x) for a in present}
    rows = family_layout(metrics)
    columns = max(len(row) for _, row in rows)
    figure, grid = plt.subplots(len(rows), columns, figsize=(5 * columns, 3.8 * len(rows)),
                                squeeze=False)
    drawn = 0
    for row_index, (family, row) in enumerate(rows):
        for column in range(columns):
            axes = grid[row_index][column]
            if column >= len(row):
                axes.remove()
                continue
            metric = row[column]
            for index, (members, name) in enumerate(zip(lines.values(), names)):
                samples = defaultdict(list)
                for run in members:
                    value = final_value(run, metric)
                    if value is not None:
                        samples[alphas[id(run)]].append(value)
                if not samples:
                    continue
                xs = sorted(samples)
                stats = [mean_std(samples[a]) for a in xs]
                axes.errorbar([position[a] for a in xs], [s[0] for s in stats],
                              yerr=[s[1] for s in stats], marker="o", capsize=3,
                              color=f"C{index % 10}", linestyle=LINE_STYLES[(index // 10) % 4],
                              label=describe(keys, name))
                drawn += 1
            axes.set_xscale("log")
            axes.set_xticks([position[a] for a in present],
                            ["IID" if not math.isfinite(a) else f"{a:g}" for a in present])
            axes.minorticks_off()
            if finite and iid_x in position.values():
                axes.axvline(math.sqrt(max(finite) * iid_x), color="grey", linestyle=":", lw=1)
            axes.set_title(f"{family}: {metric}")
            axes.set_xlabel("Dirichlet α (← more skewed)")
            axes.set_ylabel(f"final {metric}")
            axes.grid(alpha=0.3)
    if not drawn:
        plt.close(figure)
        note("α sensitivity skipped: none of " + ", ".join(metrics) + " has a final value")
        return []
    figure_legend(figure, grid.flat, " ".join(keys) or None)
    figure.suptitle(f"final metric vs label skew{', ' + title if title else ''} (seeds: mean ± std)")
    figure.tight_layout()
    return save(figure, stem)


def plot_connector_strategy(runs: list[Run], metrics: list[str], out_dir: Path) -> list[Path]:
    cell_keys = (STRATEGY_KEY, CONNECTOR_KEY)
    context_keys = [k for k in rundirs.varying_keys(runs) if k not in (SEED_KEY,) + cell_keys]

    def cell(run: Run) -> tuple:
        return tuple(str(run.config.get(key, "-")) for key in cell_keys)

    contexts = {values: members for values, members in series_of(runs, context_keys).items()
                if len({cell(run) for run in members}) > 1}
    if not contexts:
        note("connector-strategy skipped: the runs share one finetune.strategy and model.connector")
        return []
    context_keys, context_names = narrow(context_keys, list(contexts))
    members = [run for group in contexts.values() for run in group]
    strategies = ordered({cell(run)[0] for run in members}, STRATEGY_ORDER)
    connectors = ordered({cell(run)[1] for run in members}, CONNECTOR_ORDER)
    hues = [(connector, context, name) for context, name in zip(contexts, context_names)
            for connector in connectors
            if any(cell(run)[1] == connector for run in contexts[context])]
    figure, panels = panel_grid(len(metrics), 2, (max(5.0, 0.25 * len(strategies) * len(hues)), 4))
    width = 0.8 / len(hues)
    for axes, metric in zip(panels, metrics):
        for index, (connector, context, name) in enumerate(hues):
            xs, means, errors = [], [], []
            for position, strategy in enumerate(strategies):
                sample = [v for run in contexts[context] if cell(run) == (strategy, connector)
                          for v in [final_value(run, metric)] if v is not None]
                if sample:
                    mean, std = mean_std(sample)
                    xs.append(position - 0.4 + width * (index + 0.5))
                    means.append(mean)
                    errors.append(std)
            label = connector + (f" ({describe(context_keys, name)})" if context_keys else "")
            axes.bar(xs, means, width, yerr=errors, capsize=2, label=label,
                     color=f"C{index % 10}")
        axes.set_xticks(range(len(strategies)), strategies)
        axes.set_xlabel(STRATEGY_KEY)
        axes.set_ylabel(f"final {metric}")
        axes.set_title(metric)
        axes.grid(axis="y", alpha=0.3)
    figure_legend(figure, panels, CONNECTOR_KEY)
    figure.suptitle("connector × fine-tuning strategy (seeds: mean ± std)")
    figure.tight_layout()
    return save(figure, out_dir / "connector-strategy")


def radar_scale(means: dict[tuple, dict[str, float]], metric: str) -> tuple[float, callable]:
    """Per axis: value / max over polygons (loss: min / value), so outward is better and the
    best polygon reaches 1. Returns the reference value and the map."""
    values = [m[metric] for m in means.values() if metric in m]
    if metric.endswith(".loss"):
        best = min(values)
        return best, lambda v: best / v if v > 0 else 1.0
    best = max(values)
    return best, lambda v: v / best if best > 0 else 0.0


def plot_radar(runs: list[Run], metrics: list[str], group_key: str | None,
               out_dir: Path) -> list[Path]:
    if len(metrics) < 3:
        note(f"radar skipped: it needs three or more task metrics, the runs have {len(metrics)}")
        return []
    keys = rundirs.varying_keys(runs)
    group_key = group_key or default_group(keys)
    panel_keys = [k for k in independent(runs, keys, group_key) if k not in (group_key, SEED_KEY)]
    means = {}  # (panel values, group value) -> {metric: mean over seeds}
    for panel, members in series_of(runs, panel_keys).items():
        for group, seeds in series_of(members, [group_key]).items():
            table = {}
            for metric in metrics:
                sample = [v for run in seeds for v in [final_value(run, metric)] if v is not None]
                if sample:
                    table[metric] = statistics.fmean(sample)
            if len(table) == len(metrics):
                means[(panel, group[0])] = table
    panels = defaultdict(list)
    for panel, group in means:
        panels[panel].append(group)
    if any(len(groups) > 1 for groups in panels.values()):
        panels = {panel: groups for panel, groups in panels.items() if len(groups) > 1}
    means = {(panel, group): table for (panel, group), table in means.items() if panel in panels}
    if not means:
        note("radar skipped: no run has a final value for every one of " + ", ".join(metrics))
        return []
    if len(means) == 1:
        note(f"radar skipped: one run group ({group_key} does not vary), nothing to compare")
        return []
    panel_keys, panel_names = narrow(panel_keys, list(panels))
    groups = ordered({group for groups in panels.values() for group in groups},
                     STRATEGY_ORDER + CONNECTOR_ORDER)
    scales = {metric: radar_scale(means, metric) for metric in metrics}
    angles = np.linspace(0.0, 2 * np.pi, len(metrics), endpoint=False)
    closed = np.append(angles, angles[0])
    figure, axes_list = panel_grid(len(panels), 3, (5.4, 4.8), projection="polar")
    for axes, panel, name in zip(axes_list, panels, panel_names):
        axes.set_theta_offset(np.pi / 2)  # first axis up, the rest clockwise
        axes.set_theta_direction(-1)
        axes.set_rlabel_position(180 / len(metrics))  # between the first two axes
        for group in panels[panel]:
            table = means[(panel, group)]
            radii = [scales[m][1](table[m]) for m in metrics]
            colour = f"C{groups.index(group) % 10}"
            axes.plot(closed, radii + radii[:1], color=colour, lw=1.5,
                      label=rundirs.short_value(group))
            axes.fill(closed, radii + radii[:1], color=colour, alpha=0.1)
        axes.set_xticks(angles, [f"{m}\n(1 = {scales[m][0]:.3g})" for m in metrics],
                        fontsize="small")
        for text, angle in zip(axes.get_xticklabels(), angles):  # labels clear of the circle
            side = np.sin(angle)  # the axis's horizontal direction, drawn clockwise from the top
            text.set_horizontalalignment("left" if side > 0.1 else
                                         "right" if side < -0.1 else "center")
        axes.set_ylim(0, 1.05)
        axes.set_yticks([0.25, 0.5, 0.75, 1.0], ["", "0.5", "", "1"], fontsize="x-small")
        if panel_keys:
            axes.set_title(describe(panel_keys, name, bare=False), fontsize="medium", pad=18)
    figure_legend(figure, axes_list, group_key,
                  order=[rundirs.short_value(group) for group in groups])
    figure.suptitle("final metrics, each axis relative to its best run")
    figure.tight_layout(w_pad=4.0)
    return save(figure, out_dir / "radar")


def figure_legend(figure, axes_list, title: str | None, order: list[str] | None = None) -> None:
    """One legend beside the panels: every label drawn in any panel, once, in order or as met."""
    handles = {}
    for axes in axes_list:
        for handle, label in zip(*axes.get_legend_handles_labels()):
            handles.setdefault(label, handle)
    labels = [label for label in order or handles if label in handles]
    figure.legend([handles[label] for label in labels], labels, title=title, fontsize="small",
                  loc="center left", bbox_to_anchor=(1.0, 0.5))


def save(figure, stem: Path) -> list[Path]:
    """stem.png and stem.pdf; the PDF without a creation date, so reruns write the same file."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for suffix, metadata in ((".png", None), (".pdf", {"CreationDate": None})):
        path = stem.with_name(stem.name + suffix)
        figure.savefig(path, dpi=120, bbox_inches="tight", metadata=metadata)
        paths.append(path)
    plt.close(figure)
    return paths


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="plot.py", description=__doc__.split("\n")[0],
                                     epilog=__doc__.split("\n\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run directories or trees holding them")
    parser.add_argument("-o", "--output", type=Path, default=Path("plots"), help="output directory")
    parser.add_argument("--metric", action="append", help="TASK.METRIC, e.g. cls.accuracy (repeatable)")
    parser.add_argument("--x", choices=("round", "seconds"), default="round")
    parser.add_argument("--group",
                        help="config key grouping the bars and radar polygons (section.key)")
    parser.add_argument("--figure", action="append", choices=FIGURES,
                        help="draw only these figures (repeatable; default: all)")
    options = parser.parse_args(argv)
    for name in options.metric or []:
        if "." not in name:
            parser.error(f"--metric {name}: expected TASK.METRIC, e.g. cls.accuracy")
    runs = rundirs.load_runs(options.runs, require_summary=False, with_metrics=True)
    if not runs:
        print("plot.py: error: no runs found under " + " ".join(options.runs), file=sys.stderr)
        return 1
    figures = options.figure or FIGURES
    finished = [run for run in runs if run.summary is not None]
    summary_metrics = options.metric or main_metrics(finished)
    written = []
    if "curves" in figures:
        for name in options.metric or curve_metrics(runs):
            written += plot_curves(runs, name, options.x, options.output)
    if finished and "finals" in figures:
        for name in options.metric or final_metrics(finished):
            written += plot_finals(finished, name, options.group, options.output)
    if finished and summary_metrics:
        if "alpha" in figures:
            written += plot_alpha(finished, summary_metrics, options.output)
        if "connector" in figures:
            written += plot_connector_strategy(finished, summary_metrics, options.output)
        if "radar" in figures:
            written += plot_radar(finished, summary_metrics, options.group, options.output)
    for path in written:
        print(path)
    if not written:
        print("plot.py: error: nothing to plot (no matching metrics)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
