"""Fake fedvlm run directories (DESIGN.md §7) and paths shared by the tools tests."""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = REPO_ROOT / "tools"
JOBS = REPO_ROOT / "jobs"
PYTHON = "/usr/bin/python3"
sys.path.insert(0, str(TOOLS))


def sweep_tree(root: Path, sweep: str, rounds: int, run_dir: str) -> Path:
    """A repository-like tree for tools/sweep.py and jobs/: configs/base.toml (fl.rounds,
    run.dir) and sweep.toml holding `sweep`. Returns `root`."""
    (root / "configs").mkdir()
    (root / "configs" / "base.toml").write_text(f'[fl]\nrounds = {rounds}\n[run]\ndir = "{run_dir}"\n')
    (root / "sweep.toml").write_text(sweep)
    return root


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def write_config(path: Path, config: dict) -> None:
    lines = []
    for section, table in config.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
        lines.append("")
    path.write_text("\n".join(lines))


def base_config(name: str, algorithm="fedavg", strategy="F-CL", data="data/fashion-a0.5",
                seed=1, rounds=10, lr=0.002, connector="mlp2x_gelu") -> dict:
    return {
        "data": {"path": data, "max_test_samples": 0},
        "model": {"preset": "tiny", "connector": connector},
        "lora": {"rank": 8, "targets": ["q", "k", "v", "o"]},
        "finetune": {"strategy": strategy},
        "fl": {"algorithm": algorithm, "rounds": rounds},
        "local": {"lr": lr},
        "run": {"dir": "runs", "name": name, "seed": seed},
    }


def make_dataset(root: Path, name: str, **partition: str) -> Path:
    """A dataset directory holding only meta.h5's /partition attributes (docs/data-format.md),
    all a run directory reader looks at: make_dataset(root, "a", partition="iid")."""
    import h5py
    path = root / name
    path.mkdir(parents=True)
    with h5py.File(path / "meta.h5", "w") as meta:
        group = meta.create_group("partition")
        for key, value in partition.items():
            group.attrs[key] = value
    return path


def make_run(root: Path, name: str, config: dict, accuracy: float | None = 0.5,
             rounds: int = 10, torn_tail: str | None = None,
             finals: dict | None = None) -> Path:
    """A run directory; accuracy None leaves out summary.json (an unfinished run), torn_tail
    appends a partial metrics.jsonl line as a run killed mid-write leaves it. finals
    ({"cap": {"cider": 0.9}, ...}) replaces the cls-only final table, every metric of it with
    an eval curve rising to its final value."""
    run = root / name
    (run / "checkpoints").mkdir(parents=True)
    (run / "logs").mkdir()
    write_config(run / "config.toml", config)
    evaluated = [(task, metric, value) for task, table in finals.items()
                 for metric, value in table.items() if metric != "loss"] if finals else \
        [("cls", "accuracy", accuracy or 0.3)]
    lines = []
    for round_ in range(1, rounds + 1):
        lines.append({"round": round_, "phase": "train", "task": "all", "metric": "loss",
                      "value": 2.0 / round_, "seconds": 1.5 * round_})
        if round_ % 5 == 0 or round_ == rounds:
            for task, metric, final in evaluated:
                lines.append({"round": round_, "phase": "eval", "task": task, "metric": metric,
                              "value": final * round_ / rounds, "seconds": 1.5 * round_})
    text = "".join(json.dumps(line) + "\n" for line in lines)
    (run / "metrics.jsonl").write_text(text + (torn_tail or ""))
    if accuracy is not None:
        summary = {"final": finals or {"cls": {"accuracy": accuracy, "loss": 0.7}},
                   "best": {"cls": {"accuracy": accuracy + 0.01}},
                   "rounds": rounds, "wall_seconds": 1.5 * rounds,
                   "throughput": {"samples_per_second": 100.0, "rounds_per_hour": 2400.0}}
        (run / "summary.json").write_text(json.dumps(summary))
    return run
