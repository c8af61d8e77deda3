"""Reading fedvlm run directories (DESIGN.md §7) for tools/collect.py and tools/plot.py.

A run directory holds config.toml (the resolved config), metrics.jsonl, summary.json (written
when the run finishes), checkpoints/ and logs/. Runs may be in flight or killed, so every
reader here tolerates a missing file or a torn last line and warns on stderr instead.
"""
from __future__ import annotations

import functools
import json
import math
import os
import re
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from runconfig import flatten

RUN_FILES = ("summary.json", "metrics.jsonl", "config.toml")
# Keys always reported, whether or not they vary: they name the experiment.
ALWAYS_KEYS = ("fl.algorithm", "finetune.strategy", "data.path", "run.seed")
# Keys that differ between runs without being an experimental variable.
NOT_SWEPT = ("run.name", "run.dir")
TASK_ORDER = ("cls", "cap", "vqa", "ground", "all")
# Each task's headline metric, vision-centric tasks first, then text-centric: what the summary
# figures and the seed tables report.
MAIN_METRIC = {"cls": "accuracy", "ground": "iou", "vqa": "accuracy", "cap": "cider"}
# Partition schemes whose --alpha is a label-skew Dirichlet concentration (docs/datasets.md).
LABEL_SKEW_SCHEMES = ("dirichlet", "dirichlet-mix")
# How the sweeps name their datasets: fashion-a0.5, cmp-dir0.1, fashion-alpha_100; cmp-iid.
ALPHA_IN_NAME = re.compile(r"(?:^|[-_.])(?:a|alpha|dir)[-_]?(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)$")
IID_IN_NAME = re.compile(r"(?:^|[-_.])iid(?:$|[-_.])", re.IGNORECASE)


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


@dataclass
class Run:
    path: Path
    config: dict = field(default_factory=dict)  # flat "section.key" -> value
    summary: dict | None = None
    metrics: list = field(default_factory=list)  # the objects of metrics.jsonl
    defaults: set = field(default_factory=set)  # keys config.toml marks "# default"

    @property
    def name(self) -> str:
        return str(self.config.get("run.name") or self.path.name)


def is_run_dir(path: Path) -> bool:
    return any((path / name).is_file() for name in RUN_FILES)


def find_run_dirs(paths: list) -> list[Path]:
    """Each argument is a run directory or a tree holding run directories (any depth)."""
    found = []
    for root in map(Path, paths):
        if not root.is_dir():
            warn(f"{root}: not a directory, skipped")
            continue
        if is_run_dir(root):
            found.append(root)
            continue
        for directory, subdirs, _ in os.walk(root):
            here = Path(directory)
            if here != root and is_run_dir(here):
                found.append(here)
                subdirs.clear()  # checkpoints/ and logs/ hold no runs
            else:
                subdirs.sort()
    return sorted(dict.fromkeys(found))


def read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except (OSError, ValueError) as error:
        warn(f"{path}: unreadable ({error})")
        return None


def read_config(path: Path) -> dict:
    try:
        with open(path, "rb") as stream:
            return flatten(tomllib.load(stream))
    except (OSError, tomllib.TOMLDecodeError) as error:
        warn(f"{path}: unreadable ({error}); its config columns stay empty")
        return {}


SECTION_LINE = re.compile(r"^\s*\[([A-Za-z0-9_.]+)\]\s*(?:#.*)?$")
DEFAULT_LINE = re.compile(r"^\s*([A-Za-z0-9_]+)\s*=.*#\s*default\s*$")


def read_default_keys(path: Path) -> set:
    """The keys a resolved config.toml marks "# default": the value the option's default gave."""
    keys, section = set(), ""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return keys
    for line in lines:
        if match := SECTION_LINE.match(line):
            section = match.group(1)
        elif match := DEFAULT_LINE.match(line):
            keys.add(f"{section}.{match.group(1)}" if section else match.group(1))
    return keys


def read_metrics(path: Path) -> list[dict]:
    """The objects of metrics.jsonl; a torn or malformed line is skipped with a warning."""
    records = []
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            lines = stream.readlines()
    except OSError:
        return records
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise ValueError("not an object")
            record["round"] = int(record["round"])
            record["value"] = float(record["value"])
        except (ValueError, KeyError, TypeError) as error:
            torn = number == len(lines) and not line.endswith("\n")
            warn(f"{path}:{number}: {'torn last line' if torn else 'bad line'} skipped ({error})")
            continue
        records.append(record)
    return records


def load_run(path: Path, with_metrics: bool = False) -> Run:
    summary = read_json(path / "summary.json") if (path / "summary.json").is_file() else None
    if summary is not None and not isinstance(summary, dict):
        warn(f"{path / 'summary.json'}: not a JSON object, ignored")
        summary = None
    has_config = (path / "config.toml").is_file()
    run = Run(path, read_config(path / "config.toml") if has_config else {}, summary,
              defaults=read_default_keys(path / "config.toml") if has_config else set())
    if with_metrics:
        run.metrics = read_metrics(path / "metrics.jsonl")
    return run


def load_runs(paths: list, require_summary: bool, with_metrics: bool = False) -> list[Run]:
    runs = []
    for path in find_run_dirs(paths):
        run = load_run(path, with_metrics)
        if require_summary and run.summary is None:
            warn(f"{path}: no readable summary.json (unfinished or killed run), skipped")
            continue
        runs.append(run)
    return runs


def comparable(value):
    if isinstance(value, list):
        return tuple(comparable(v) for v in value)
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return value


def swept_keys(runs: list[Run]) -> list[str]:
    """Config keys whose value differs across runs, in the order of the first config that has
    them; ALWAYS_KEYS first. A key missing from a run's config (written by a fedvlm before the
    key existed) reads as the value other runs record as its default ("# default"), else as a
    value of its own."""
    order = list(ALWAYS_KEYS)
    for run in runs:
        order += [key for key in run.config if key not in order]
    missing = object()

    def values(key: str) -> set:
        default = next((comparable(run.config[key]) for run in runs if key in run.defaults and key in run.config),
                       missing)
        return {comparable(run.config[key]) if key in run.config else default for run in runs}

    varying = [key for key in order if key not in NOT_SWEPT and key not in ALWAYS_KEYS and len(values(key)) > 1]
    return list(ALWAYS_KEYS) + varying


def varying_keys(runs: list[Run]) -> list[str]:
    """swept_keys without the always-reported ones that do not actually vary."""
    keys = swept_keys(runs)
    return [key for key in keys if len({comparable(run.config.get(key)) for run in runs}) > 1]


def short_value(value) -> str:
    text = str(value)
    return text.rstrip("/").rsplit("/", 1)[-1] if "/" in text else text


def label(run: Run, keys: list[str]) -> str:
    """A legend label from the keys that vary: 'algorithm=fedavg path=fashion-a0.5'."""
    if not keys:
        return run.name
    return " ".join(f"{key.split('.')[-1]}={short_value(run.config.get(key, '-'))}" for key in keys)


def task_rank(task: str) -> tuple:
    return (TASK_ORDER.index(task) if task in TASK_ORDER else len(TASK_ORDER), task)


def metric_table(summary: dict, section: str) -> dict:
    """{"final": {"cls": {"accuracy": x}}} -> {"final.cls.accuracy": x}, tasks in TASK_ORDER."""
    table = summary.get(section)
    if not isinstance(table, dict):
        return {}
    flat = {}
    for task in sorted(table, key=task_rank):
        metrics = table[task]
        if isinstance(metrics, dict):
            for metric in sorted(metrics):
                flat[f"{section}.{task}.{metric}"] = metrics[metric]
    return flat


@functools.lru_cache(maxsize=None)
def partition_attributes(meta_path: str) -> dict | None:
    """meta.h5's /partition attributes as text (docs/data-format.md), None when unreadable."""
    try:
        import h5py  # only the partition lookup needs it
        with h5py.File(meta_path, "r") as meta:
            group = meta.get("partition")
            if group is None:
                return None
            return {key: value.decode() if isinstance(value, bytes) else str(value)
                    for key, value in group.attrs.items()}
    except (ImportError, OSError) as error:
        warn(f"{meta_path}: partition unreadable ({error})")
        return None


def data_alpha(run: Run) -> float | None:
    """The Dirichlet label-skew α of the federation the run trained on: math.inf for an IID
    partition, None when unknown (or another scheme: quantity, task, manual).

    Read from /partition of data.path's meta.h5, the path tried as given (relative to the
    current directory, as fedvlm ran) and then relative to each directory above the run; a
    dataset not found there (results copied off the cluster) falls back to the name's last part
    as the sweeps write it: fashion-a0.05 and cmp-dir0.1 give α, cmp-iid gives IID."""
    data = run.config.get("data.path")
    if not isinstance(data, str) or not data:
        return None
    path = Path(data)
    candidates = [path] if path.is_absolute() else \
        [path] + [parent / path for parent in run.path.resolve().parents]
    for candidate in candidates:
        if (candidate / "meta.h5").is_file():
            attributes = partition_attributes(str(candidate / "meta.h5"))
            if attributes is not None:
                scheme = attributes.get("partition", "")
                if scheme == "iid":
                    return math.inf
                if scheme in LABEL_SKEW_SCHEMES and "alpha" in attributes:
                    try:
                        return float(attributes["alpha"])
                    except ValueError:
                        return None
                return None
            break
    name = short_value(data)
    if IID_IN_NAME.search(name):
        return math.inf
    match = ALPHA_IN_NAME.search(name)
    return float(match.group(1)) if match else None
