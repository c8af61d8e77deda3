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
"""
from __future__ import annotations

import argparse
import itertools
import json
import re
import shlex
import sys
from dataclasses import dataclass
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
        point = self.point(index)
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
