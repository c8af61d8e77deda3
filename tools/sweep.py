#!/usr/bin/python3
"""Expand a sweep file (a grid of config overrides) into `fedvlm run` argument lists.

Sweep file format (TOML; see configs/sweeps/heterogeneity.toml):

    base = "configs/fashion/fedavg.toml"   # relative to the sweep file, else to the repo root
    name = "het-{fl.algorithm}-{data.path}-s{run.seed}"   # optional run.name pattern
    [grid]                                 # cartesian product; the FIRST key varies slowest
    "fl.algorithm" = ["fedavg", "fedprox"]
    "run.seed" = [1, 2, 3]
    [fixed]                                # optional: overrides applied to every point
    "fl.rounds" = 50

Keys may be quoted ("fl.algorithm") or dotted (fl.algorithm); both mean section.key.
Name placeholders: any grid or fixed key, `{index}` (the point's index) and `{sweep}` (the
sweep file's stem). A value that is a path contributes its last component; characters other
than letters, digits, '.', '_' and '-' become '-'. Without `name`, a point is named
`<sweep>-<value>-<value>...` from its grid values. Run names must be unique across points.

Commands:
    sweep.py count SWEEP           number of points
    sweep.py point SWEEP INDEX     the `fedvlm run` arguments of point INDEX (0-based), one per
                                   line (read them with `mapfile -t args`); --shell: one
                                   shell-quoted line instead
    sweep.py rundir SWEEP INDEX    the run directory of point INDEX
    sweep.py list SWEEP            index, run name and shell-quoted overrides of every point
    sweep.py status SWEEP          where every point stands: done, running, pending, failed,
                                   stopped or not started, and the last lines (--lines N,
                                   default 6) of each failed point's rank-0 log and output

`status` reads each run directory (summary.json, metrics.jsonl, checkpoints/) and the
launcher's record of it (launcher.state, written by jobs/); it asks `squeue` whether a Slurm
job recorded as running still is, and which array tasks of the sweep (job name sweep-STEM, as
jobs/submit-sweep.sh names it) wait in the queue. Run it from the directory the sweep was
submitted from.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import runconfig
from runconfig import ConfigError

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Point:
    index: int
    name: str
    overrides: list  # [(key, value)] in order: fixed, then grid, then run.name


@dataclass
class Sweep:
    path: Path
    base: str
    name_pattern: str | None
    grid: dict   # key -> list of values, in file order
    fixed: dict  # key -> value

    def count(self) -> int:
        count = 1
        for values in self.grid.values():
            count *= len(values)
        return count

    def points(self) -> list[Point]:
        points = []
        for index, combo in enumerate(itertools.product(*self.grid.values())):
            values = dict(zip(self.grid, combo))
            name = self.run_name(index, values)
            overrides = list(self.fixed.items()) + list(values.items()) + [("run.name", name)]
            points.append(Point(index, name, overrides))
        seen = {}
        for point in points:
            if point.name in seen:
                raise ConfigError(
                    f"{self.path}: points {seen[point.name]} and {point.index} are both named "
                    f"'{point.name}'; add a placeholder for every grid key to 'name'")
            seen[point.name] = point.index
        return points

    def point(self, index: int) -> Point:
        count = self.count()
        if not 0 <= index < count:
            raise ConfigError(f"{self.path}: point index {index} out of range 0..{count - 1}")
        return self.points()[index]

    def run_name(self, index: int, values: dict) -> str:
        if self.name_pattern is None:
            parts = [self.path.stem] + [name_part(value) for value in values.values()]
            return "-".join(parts)
        known = {**self.fixed, **values, "index": index, "sweep": self.path.stem}

        def substitute(match: re.Match) -> str:
            key = match.group(1)
            if key not in known:
                raise ConfigError(f"{self.path}: name placeholder '{{{key}}}' is not a grid or "
                                  f"fixed key (known: {', '.join(known)})")
            return name_part(known[key])

        return PLACEHOLDER.sub(substitute, self.name_pattern)

    def base_path(self) -> Path:
        return runconfig.resolve_relative(self.base, self.path).resolve()

    def arguments(self, index: int) -> list[str]:
        point = self.point(index)
        args = ["-c", str(self.base_path())]
        for key, value in point.overrides:
            args += ["--set", f"{key}={render_value(key, value)}"]
        return args

    def run_dir(self, index: int) -> Path:
        return self.point_run_dir(self.point(index))

    def point_run_dir(self, point: Point) -> Path:
        return runconfig.run_dir(str(self.base_path()),
                                 [f"{key}={render_value(key, value)}" for key, value in point.overrides])


def name_part(value) -> str:
    text = render_scalar(value)
    if "/" in text:
        text = text.rstrip("/").rsplit("/", 1)[-1]
    return UNSAFE_NAME_CHARS.sub("-", text).strip("-") or "x"


def render_scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def render_value(key: str, value) -> str:
    """A value as fedvlm's --set takes it: strings raw, arrays in TOML syntax."""
    if isinstance(value, list):
        text = "[" + ", ".join(json.dumps(v) if isinstance(v, str) else render_scalar(v)
                               for v in value) + "]"
    elif isinstance(value, dict):
        raise ConfigError(f"'{key}': a table cannot be a --set value")
    else:
        text = render_scalar(value)
    if "\n" in text or "\r" in text:
        raise ConfigError(f"'{key}': value {text!r} contains a line break")
    return text


def load_sweep(path: Path) -> Sweep:
    table = runconfig.read_toml(path)
    unknown = set(table) - {"base", "name", "grid", "fixed"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level keys {sorted(unknown)} "
                          "(allowed: base, name, [grid], [fixed])")
    base = table.get("base")
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: 'base' (the config file every point starts from) is missing")
    name = table.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"{path}: 'name' must be a string, got {name!r}")
    grid = runconfig.flatten(table.get("grid", {}))
    fixed = runconfig.flatten(table.get("fixed", {}))
    if not grid:
        raise ConfigError(f"{path}: [grid] is empty; a sweep needs at least one key with values")
    for key, values in list(grid.items()) + list(fixed.items()):
        if "." not in key:
            raise ConfigError(f"{path}: key '{key}' must be section.key")
    for key, values in grid.items():
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{path}: [grid] '{key}' must be a non-empty array, got {values!r}")
    both = set(grid) & set(fixed)
    if both:
        raise ConfigError(f"{path}: keys {sorted(both)} are in both [grid] and [fixed]")
    if "run.name" in grid or "run.name" in fixed:
        raise ConfigError(f"{path}: set run names with the top-level 'name' pattern, not run.name")
    return Sweep(path, base, name, grid, fixed)


# Slurm job states: holding a node (the run goes on), or waiting for one (queued, requeued).
SLURM_ACTIVE = {"RUNNING", "COMPLETING", "CONFIGURING", "SIGNALING", "STAGE_OUT", "SUSPENDED",
                "RESIZING", "STOPPED"}
SLURM_WAITING = {"PENDING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD"}


@dataclass
class PointStatus:
    point: Point
    run_dir: Path
    state: str     # done, running, pending, failed, stopped, not started
    progress: str  # "R/N" rounds logged, or ""
    detail: str
    logs: list = field(default_factory=list)  # the files whose last lines explain a failure


def read_launcher_state(run_dir: Path) -> dict:
    try:
        text = (run_dir / "launcher.state").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    return dict(line.partition("=")[::2] for line in text.splitlines() if "=" in line)


@dataclass
class SlurmQueue:
    states: dict  # job id -> Slurm state, every job squeue knows
    queued: dict  # (job name, array index) -> "ARRAYJOB_INDEX" of array tasks not started yet


def slurm_queue() -> SlurmQueue | None:
    """What squeue knows (array tasks one per line); None when it cannot tell."""
    if not shutil.which("squeue"):
        return None
    try:
        result = subprocess.run(["squeue", "-h", "-r", "-o", "%A %T %F %K %j"], capture_output=True,
                                text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if result.returncode != 0:
        return None
    queue = SlurmQueue({}, {})
    for line in result.stdout.splitlines():
        fields = line.split(None, 4)
        if len(fields) < 2:
            continue
        queue.states[fields[0]] = fields[1]
        if len(fields) == 5 and fields[1] in SLURM_WAITING and fields[3].isdigit():
            queue.queued[(fields[4], int(fields[3]))] = f"{fields[2]}_{fields[3]}"
    return queue


def process_alive(record: dict) -> bool | None:
    """Whether the launcher process of a non-Slurm run lives; None when it ran elsewhere."""
    if record.get("host") != socket.gethostname() or not record.get("pid", "").isdigit():
        return None
    try:
        os.kill(int(record["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def rounds_logged(run_dir: Path) -> int | None:
    """The last round metrics.jsonl records (a torn last line is skipped, quietly)."""
    try:
        lines = (run_dir / "metrics.jsonl").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            return int(json.loads(line)["round"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def rounds_planned(run_dir: Path):
    try:
        return runconfig.flatten(runconfig.read_toml(run_dir / "config.toml")).get("fl.rounds")
    except (OSError, ConfigError, ValueError):
        return None


def last_checkpoint_round(run_dir: Path) -> int | None:
    rounds = [int(match.group(1)) for path in (run_dir / "checkpoints").glob("round-*.pt")
              if (match := re.fullmatch(r"round-(\d+)\.pt", path.name))]
    return max(rounds) if rounds else None


def failure_logs(run_dir: Path, record: dict) -> list[Path]:
    """Rank 0's log (fedvlm's own account, once the run directory exists), then the file the
    launcher's stderr went to (config errors, srun's and Open MPI's notes), else its stdout's."""
    logs = [run_dir / "logs" / "rank-0.log"]
    logs += [Path(record[key]) for key in ("error", "output") if record.get(key)][:1]
    return [path for path in logs if path.is_file()]


def point_status(point: Point, run_dir: Path, queue: SlurmQueue | None, job_name: str) -> PointStatus:
    done, planned = rounds_logged(run_dir), rounds_planned(run_dir)
    progress = "" if done is None else f"{done}/{planned}" if planned else str(done)
    if (run_dir / "summary.json").is_file():
        return PointStatus(point, run_dir, "done", progress, "")
    record = read_launcher_state(run_dir)
    recorded = record.get("state", "")
    where = f"job {record['job']}" if record.get("job") else f"pid {record.get('pid', '?')}"
    where += f" on {record.get('host', '?')}"
    if recorded == "failed":
        detail = ", ".join(filter(None, (f"exit {record.get('exit', '?')}", where, record.get("time"))))
        return PointStatus(point, run_dir, "failed", progress, detail, failure_logs(run_dir, record))
    if recorded in ("running", "requeued"):
        if record.get("job"):
            slurm_state = None if queue is None else queue.states.get(record["job"], "gone")
            if slurm_state is None or slurm_state in SLURM_ACTIVE:
                return PointStatus(point, run_dir, "running", progress, where)
            if slurm_state in SLURM_WAITING:
                return PointStatus(point, run_dir, "pending", progress, f"requeued, {where}")
        elif process_alive(record) is not False:
            return PointStatus(point, run_dir, "running", progress, where)
        # The job or process is gone without saying how it ended (cancelled, killed).
    array_task = queue.queued.get((job_name, point.index)) if queue is not None else None
    if array_task:
        return PointStatus(point, run_dir, "pending", progress, f"queued, job {array_task}")
    checkpoint = last_checkpoint_round(run_dir)
    if checkpoint is not None or recorded in ("running", "requeued", "stopped"):
        since = f"checkpoint after round {checkpoint}" if checkpoint is not None else "no checkpoint"
        return PointStatus(point, run_dir, "stopped", progress,
                           f"{since}; resubmit to {'resume' if checkpoint is not None else 'rerun'}")
    return PointStatus(point, run_dir, "not started", progress, "")


def tail(path: Path, lines: int) -> list[str]:
    with open(path, "rb") as stream:
        stream.seek(0, os.SEEK_END)
        stream.seek(max(0, stream.tell() - 65536))
        text = stream.read().decode("utf-8", errors="replace")
    return text.splitlines()[-lines:] if lines > 0 else []


def print_status(sweep: Sweep, lines: int) -> None:
    points = sweep.points()
    run_dirs = [sweep.point_run_dir(point) for point in points]
    queue = slurm_queue()
    job_name = f"sweep-{sweep.path.stem}"  # as jobs/submit-sweep.sh names the array
    statuses = [point_status(point, run_dir, queue, job_name) for point, run_dir in zip(points, run_dirs)]
    name_width = max(len("name"), *(len(status.point.name) for status in statuses))
    print(f"{'index':<6}{'name':<{name_width + 2}}{'state':<13}{'rounds':<9}detail")
    for status in statuses:
        print(f"{status.point.index:<6}{status.point.name:<{name_width + 2}}{status.state:<13}"
              f"{status.progress or '-':<9}{status.detail}".rstrip())
    counts = {}
    for status in statuses:
        counts[status.state] = counts.get(status.state, 0) + 1
    order = ("done", "running", "pending", "failed", "stopped", "not started")
    print(f"{len(statuses)} points: " + ", ".join(f"{counts[state]} {state}" for state in order
                                                  if state in counts))
    for status in statuses:
        if status.state != "failed":
            continue
        print(f"\npoint {status.point.index} ({status.point.name}) failed: {status.detail}")
        if not status.logs:
            print("  (no logs/rank-0.log, and the launcher recorded no output file)")
        for log in status.logs:
            print(f"  last lines of {log}:")
            for line in tail(log, lines):
                print(f"    {line}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="sweep.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("count").add_argument("sweep", type=Path)
    point = commands.add_parser("point")
    point.add_argument("sweep", type=Path)
    point.add_argument("index", type=int)
    point.add_argument("--shell", action="store_true", help="one shell-quoted line")
    rundir = commands.add_parser("rundir")
    rundir.add_argument("sweep", type=Path)
    rundir.add_argument("index", type=int)
    commands.add_parser("list").add_argument("sweep", type=Path)
    status = commands.add_parser("status")
    status.add_argument("sweep", type=Path)
    status.add_argument("--lines", type=int, default=6,
                        help="last lines shown of each failed point's logs (default 6)")
    options = parser.parse_args(argv)
    try:
        sweep = load_sweep(options.sweep)
        if options.command == "count":
            print(sweep.count())
        elif options.command == "point":
            args = sweep.arguments(options.index)
            print(shlex.join(args) if options.shell else "\n".join(args))
        elif options.command == "rundir":
            print(sweep.run_dir(options.index))
        elif options.command == "status":
            print_status(sweep, options.lines)
        else:
            for p in sweep.points():
                sets = [f"{k}={render_value(k, v)}" for k, v in p.overrides if k != "run.name"]
                print(f"{p.index}\t{p.name}\t{shlex.join(sets)}")
    except ConfigError as error:
        print(f"sweep.py: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `sweep.py list ... | head`
        sys.stderr.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
