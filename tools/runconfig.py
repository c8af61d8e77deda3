#!/usr/bin/python3
"""Where will a `fedvlm run` command line write its run directory?

The launchers in jobs/ need the run directory before they start fedvlm: a run whose
directory holds summary.json is finished (skip it), one with checkpoints is resumed with
`--resume`. This module follows the same resolution fedvlm applies (DESIGN.md §1, config.hpp):
the config file and its chain of `base = "other.toml"` files, then `--set section.key=value`
overrides; run.name defaults to the stem of the config file named by `-c`, run.dir to "runs".

CLI (used by jobs/lib.sh):
    runconfig.py rundir -c CONFIG [--set section.key=value ...] [--resume DIR]
prints the run directory, relative paths kept relative to the current directory.
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RUN_DIR = "runs"


class ConfigError(Exception):
    """Bad user input: the message names the file, key and value."""


def flatten(table: dict, prefix: str = "") -> dict:
    """{"fl": {"algorithm": "x"}} -> {"fl.algorithm": "x"}; arrays stay values."""
    flat = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def resolve_relative(path: str, including_file: Path | None) -> Path:
    """A path in a config or sweep file: relative to that file, else to the repo, else cwd."""
    candidate = Path(path)
    if candidate.is_absolute():
        return candidate
    bases = []
    for base in ([including_file.parent] if including_file else []) + [REPO_ROOT, Path.cwd()]:
        if base.resolve() not in [b.resolve() for b in bases]:
            bases.append(base)
    for base in bases:
        if (base / candidate).exists():
            return base / candidate
    tried = ", ".join(str(base / candidate) for base in bases)
    where = f" (named in {including_file})" if including_file else ""
    raise ConfigError(f"file '{path}'{where} not found; tried {tried}")


def read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as stream:
            return tomllib.load(stream)
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None


def load_config_chain(path: Path, seen: tuple = ()) -> dict:
    """The flat keys of a config file merged over its `base` chain (the file itself wins)."""
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in seen + (path,))
        raise ConfigError(f"config files include each other in a cycle: {chain}")
    table = read_toml(path)
    base = table.pop("base", None)
    merged = {}
    if base is not None:
        if not isinstance(base, str):
            raise ConfigError(f"{path}: 'base' must be a file name string, got {base!r}")
        # As fedvlm does: a relative base is relative to the file naming it, nothing else.
        merged = load_config_chain(path.parent / base, seen + (path,))
    merged.update(flatten(table))
    return merged


def split_override(text: str) -> tuple[str, str]:
    """'section.key=value' -> ('section.key', 'value'), as fedvlm's --set takes it."""
    key, sep, value = text.partition("=")
    if not sep or "." not in key:
        raise ConfigError(f"--set '{text}': expected section.key=value")
    return key.strip(), value.strip(" \t")


def unquote(value: str) -> str:
    """--set run.name="x" and run.name=x mean the same string."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_run_args(argv: list[str]) -> tuple[list[str], list[str], str | None]:
    """Picks -c/--config (each), --set and --resume out of a `fedvlm run` argument list."""
    configs, overrides, resume = [], [], None
    index = 0
    while index < len(argv):
        arg = argv[index]
        name, eq, inline = arg.partition("=")
        if name in ("-c", "--config", "--set", "--resume"):
            if eq:
                value = inline
            elif index + 1 < len(argv):
                index += 1
                value = argv[index]
            else:
                raise ConfigError(f"'{arg}' needs a value")
            if name == "--set":
                overrides.append(value)
            elif name == "--resume":
                resume = value
            else:
                configs.append(value)
        index += 1
    return configs, overrides, resume


def run_dir(configs: list[str] | str, overrides: list[str], resume: str | None = None) -> Path:
    """The directory `fedvlm run -c config... --set ...` writes (or `--resume` continues),
    as src/sim/run_directory.cpp names it: run.dir / (run.name or the first config's stem)."""
    if resume:
        return Path(resume)
    configs = [configs] if isinstance(configs, str) else configs
    values = {}
    for config in configs:
        values.update(load_config_chain(Path(config)))
    for text in overrides:
        key, value = split_override(text)
        values[key] = unquote(value)
    name = str(values.get("run.name", "") or "")
    if not name:
        name = Path(configs[0]).stem if configs else "run"
    return Path(str(values.get("run.dir", "") or DEFAULT_RUN_DIR)) / name


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "rundir":
        print("usage: runconfig.py rundir -c CONFIG [--set section.key=value ...] [--resume DIR]",
              file=sys.stderr)
        return 2
    try:
        print(run_dir(*parse_run_args(argv[1:])))
    except ConfigError as error:
        print(f"runconfig.py: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
