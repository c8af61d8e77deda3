#!/usr/bin/python3
"""Population-scale benchmark: round time, memory and checkpoints against the number of clients.

For each population size it builds a Fashion federation of N clients with a fixed number of
samples each (`fedvlm-prep fashion --samples-per-client`), then runs each algorithm on
`--ranks` MPI ranks at a fixed cohort and reports, as a Markdown table (docs/population.md):

    seconds per round   median over the rounds after the first (rank 0's "round r/R | ... | X s")
    peak RSS per rank   summary.json memory.peak_rss_mb_per_rank (max over ranks)
    checkpoint          seconds per checkpoint (time_seconds.checkpoint / checkpoints written) and
                        the bytes of the last one (the global file and every client-state shard)
    client states       states kept over all ranks, and how many of them were spilled to disk

Usage (from the repository root, after a build):
    tools/population_bench.py --sizes 1000,10000,100000,1000000 --out /tmp/population-bench
Federations are kept under OUT/data and reused; pass --rebuild to make them again.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROUND_LINE = re.compile(r"round (\d+)/(\d+) \| train loss \S+ \| ([0-9.]+) s")


def run(command: list[str], log: Path) -> float:
    """Runs a command with its output in `log`; returns its wall seconds, or exits on failure."""
    start = time.monotonic()
    with open(log, "w") as out:
        code = subprocess.call(command, stdout=out, stderr=subprocess.STDOUT)
    if code != 0:
        sys.exit(f"failed ({code}): {' '.join(command)}\n  see {log}")
    return time.monotonic() - start


def peak_rss_mb_of(log: Path) -> float | None:
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", log.read_text())
    return int(match.group(1)) / 1024 if match else None


def build_federation(args, clients: int, data_dir: Path) -> dict:
    info_file = data_dir.with_suffix(".build.json")
    if (data_dir / "meta.h5").exists() and info_file.exists() and not args.rebuild:
        return json.loads(info_file.read_text())
    if data_dir.exists():
        shutil.rmtree(data_dir)
    log = data_dir.with_suffix(".build.log")
    command = ["/usr/bin/time", "-v", str(args.build / "fedvlm-prep"), "fashion", "--out", str(data_dir),
               "--clients", str(clients), "--samples-per-client", args.samples_per_client,
               "--shards", str(args.shards), "--partition", "iid", "--tasks", "cls",
               "--test-samples", "200", "--seed", "1"]
    seconds = run(command, log)
    info = {"clients": clients, "build_seconds": seconds, "build_peak_rss_mb": peak_rss_mb_of(log),
            "bytes": sum(f.stat().st_size for f in data_dir.iterdir())}
    info_file.write_text(json.dumps(info))
    return info


def run_algorithm(args, data_dir: Path, algorithm: str, name: str) -> dict:
    runs = args.out / "runs"
    mpirun = ["mpirun", "-np", str(args.ranks), "--bind-to", "none"]
    if os.geteuid() == 0:
        mpirun.append("--allow-run-as-root")
    if args.ranks > (os.cpu_count() or 1):
        mpirun.append("--oversubscribe")
    threads = max(1, (os.cpu_count() or 1) // args.ranks)
    overrides = {
        "data.path": str(data_dir), "data.max_test_samples": "50", "model.preset": "tiny", "model.base": "",
        "finetune.strategy": "F-CL", "fl.algorithm": algorithm, "fl.rounds": str(args.rounds),
        "fl.clients_per_round": str(args.cohort), "local.steps": str(args.local_steps), "local.batch_size": "2",
        "eval.every": "0", "checkpoint.every": "1", "checkpoint.keep": "1", "run.dir": str(runs), "run.name": name,
        "run.threads": str(threads), "run.client_state_mb": str(args.state_mb), "run.seed": "1",
    }
    command = mpirun + [str(args.build / "fedvlm"), "run", "-c", str(args.config), "--overwrite"]
    for key, value in overrides.items():
        command += ["--set", f"{key}={value}"]
    run(command, args.out / f"{name}.log")
    run_dir = runs / name
    summary = json.loads((run_dir / "summary.json").read_text())
    rounds = [float(m.group(3)) for m in ROUND_LINE.finditer((run_dir / "logs" / "rank-0.log").read_text())]
    checkpoints = sorted((run_dir / "checkpoints").glob("round-*.pt"))
    last = checkpoints[-1]
    checkpoint_bytes = sum(f.stat().st_size for f in last.parent.glob(last.stem + "*"))
    memory = summary.get("memory", {})
    return {
        "round_seconds": statistics.median(rounds[1:] if len(rounds) > 1 else rounds),
        "peak_rss_mb": max(memory.get("peak_rss_mb_per_rank", [0])),
        "checkpoint_seconds": summary["time_seconds"].get("checkpoint", 0.0) / args.rounds,
        "checkpoint_bytes": checkpoint_bytes,
        "client_states": sum(memory.get("client_states_per_rank", [0])),
        "spilled": sum(memory.get("client_states_spilled_per_rank", [0])),
    }


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,10000,100000,1000000", help="comma-separated client counts")
    parser.add_argument("--algorithms", default="fedavg,scaffold")
    parser.add_argument("--cohort", type=int, default=200, help="fl.clients_per_round")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--local-steps", type=int, default=2)
    parser.add_argument("--state-mb", type=float, default=64, help="run.client_state_mb")
    parser.add_argument("--samples-per-client", default="2")
    parser.add_argument("--shards", type=int, default=16)
    parser.add_argument("--config", type=Path, default=Path("configs/fashion/common.toml"))
    parser.add_argument("--build", type=Path, default=Path(os.environ.get("FEDVLM_BUILD_DIR", "build")))
    parser.add_argument("--out", type=Path, default=Path("/tmp/fedvlm-population-bench"))
    parser.add_argument("--rebuild", action="store_true", help="rebuild the federations")
    args = parser.parse_args()
    (args.out / "data").mkdir(parents=True, exist_ok=True)

    rows = []
    for clients in [int(float(size)) for size in args.sizes.split(",")]:
        data_dir = args.out / "data" / f"pop-{clients}"
        built = build_federation(args, clients, data_dir)
        print(f"federation of {clients} clients: {built['build_seconds']:.1f} s, "
              f"peak RSS {built['build_peak_rss_mb']:.0f} MB, {human_bytes(built['bytes'])}", flush=True)
        for algorithm in args.algorithms.split(","):
            result = run_algorithm(args, data_dir, algorithm, f"{algorithm}-{clients}")
            rows.append((clients, algorithm, result))
            print(f"  {algorithm}: {json.dumps(result)}", flush=True)

    print()
    print(f"{args.ranks} ranks, cohort {args.cohort}, {args.rounds} rounds of {args.local_steps} local steps, "
          f"tiny preset F-CL, run.client_state_mb = {args.state_mb:g}, {args.shards} shards")
    print()
    print("| clients | algorithm | s/round (median) | peak RSS/rank | checkpoint s | checkpoint size | states kept (spilled) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for clients, algorithm, r in rows:
        print(f"| {clients:,} | {algorithm} | {r['round_seconds']:.2f} | {r['peak_rss_mb']:.0f} MB | "
              f"{r['checkpoint_seconds']:.3f} | {human_bytes(r['checkpoint_bytes'])} | "
              f"{r['client_states']:,} ({r['spilled']:,}) |")
    smallest = {a: r for c, a, r in rows if c == min(c for c, _, _ in rows)}
    largest = {a: r for c, a, r in rows if c == max(c for c, _, _ in rows)}
    print()
    for algorithm, big in largest.items():
        small = smallest[algorithm]
        print(f"{algorithm}: largest/smallest population: round time x{big['round_seconds'] / small['round_seconds']:.2f}, "
              f"peak RSS x{big['peak_rss_mb'] / small['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
