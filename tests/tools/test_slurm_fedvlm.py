"""fedvlm itself on a real one-node Slurm (tools/slurm-local.sh), through jobs/:

- a 2-rank jobs/run.sbatch job told to stop mid-run (USR1 to the batch shell, as
  --signal=B:USR1@T does at the time limit) checkpoints, requeues itself, resumes and ends with
  exactly the metrics of the same job left alone;
- a 2x2 sweep submitted with jobs/submit-sweep.sh runs as a job array; `tools/sweep.py status`
  shows its points running, done and failed (a point whose dataset is missing), with the last
  log lines of the failures; resubmitted once the dataset exists, only the failed points run,
  the finished ones are not touched; tools/collect.py tables all four.

Needs root and Debian's slurmctld, slurmd, slurm-client and munge (tools/install-deps.sh), the
built fedvlm and fedvlm-prep (FEDVLM_BIN, FEDVLM_PREP; ctest passes them) and Fashion-MNIST.
Run as a script it exits 77 (ctest: skipped) where Slurm or munge is missing or not root:
    FEDVLM_BIN=build/fedvlm FEDVLM_PREP=build/fedvlm-prep /usr/bin/python3 test_slurm_fedvlm.py
The daemons it starts are stopped by their pids, whether the test passes or not.
"""
import csv
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

from fake_runs import JOBS, PYTHON, REPO_ROOT, TOOLS

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "scancel", "srun", "sinfo", "mungekey")
MISSING = [tool for tool in DAEMONS + CLIENTS if not shutil.which(tool)]
SKIP_REASON = ("not root: slurmd starts job steps as their users" if os.getuid() != 0 else
               f"not installed: {' '.join(MISSING)} (apt-get install slurmctld slurmd slurm-client munge)"
               if MISSING else "")

FEDVLM = Path(os.environ.get("FEDVLM_BIN", REPO_ROOT / "build" / "fedvlm"))
PREP = Path(os.environ.get("FEDVLM_PREP", REPO_ROOT / "build" / "fedvlm-prep"))
CONFIG = REPO_ROOT / "configs" / "fashion" / "fedavg.toml"
# A few seconds a round on 2 cores; a random base (no pretraining run needed).
TINY = ["model.base=", "local.steps=4", "data.max_test_samples=100"]
ROUNDS = 8
TWO_RANKS = ["--ntasks-per-node=2", "--cpus-per-task=1", "--time=15"]

SWEEP = f"""\
base = "{CONFIG}"
name = "pt-{{fl.algorithm}}-{{data.path}}"
[grid]
"fl.algorithm" = ["fedavg", "fedprox"]
"data.path" = ["data", "data-late"]    # data-late does not exist at first: those points fail
[fixed]
"run.dir" = "runs/sweep"
"model.base" = ""
"local.steps" = 4
"data.max_test_samples" = 100
"fl.rounds" = 3
"eval.every" = 3
"checkpoint.every" = 3
"""
POINTS = ["pt-fedavg-data", "pt-fedavg-data-late", "pt-fedprox-data", "pt-fedprox-data-late"]


def sets(*overrides):
    return [arg for override in overrides for arg in ("--set", override)]


def metric_records(run: Path) -> list:
    """metrics.jsonl without the wall-clock column."""
    return [(r["round"], r["phase"], r["task"], r["metric"], r["value"])
            for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())]


def rounds_trained(run: Path) -> int:
    """Train records in metrics.jsonl so far, read while the run writes it."""
    try:
        return (run / "metrics.jsonl").read_text().count('"phase":"train"')
    except OSError:
        return 0


def outcome(run: Path) -> dict:
    summary = json.loads((run / "summary.json").read_text())
    return {key: summary[key] for key in ("final", "best", "rounds", "final_round", "trained_samples")}


def log_time(line: str) -> float:
    stamp = re.match(r"\[(\d+-\d+-\d+ \d+:\d+:\d+\.\d+)\]", line).group(1)
    return time.mktime(time.strptime(stamp[:19], "%Y-%m-%d %H:%M:%S")) + float(stamp[19:])


@unittest.skipIf(SKIP_REASON, SKIP_REASON)
class FedvlmOnSlurmTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="fedvlm-slurm-")
        cls.addClassCleanup(cls.tmp.cleanup)
        cls.dir = Path(cls.tmp.name)
        cls.cluster = cls.dir / "cluster"
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("SLURM_", "FEDVLM_"))}
        env.update(SLURM_LOCAL_PORT=str(random.randrange(20000, 30000, 2)))
        cls.env = env
        cls.pids = {}
        cls.addClassCleanup(cls.stop_cluster)  # runs even when the start fails half-way
        started = subprocess.run([str(TOOLS / "slurm-local.sh"), "start", str(cls.cluster)], env=env,
                                 capture_output=True, text=True, timeout=180)
        cls.pids = cls.daemon_pids()
        if started.returncode != 0:
            raise RuntimeError(f"slurm-local.sh start failed: {started.stderr}")
        env.update(SLURM_CONF=str(cls.cluster / "slurm.conf"), FEDVLM_ROOT=str(REPO_ROOT),
                   FEDVLM_BIN=str(FEDVLM))
        subprocess.run([str(PREP), "fashion", "--out", str(cls.dir / "data"), "--tasks", "cls",
                        "--clients", "4", "--partition", "iid", "--train-samples", "400",
                        "--test-samples", "100", "--public-fraction", "0.3", "--seed", "3",
                        "--threads", "1"], check=True, capture_output=True, timeout=300)

    @classmethod
    def daemon_pids(cls) -> dict:
        pids = {}
        for name, file in (("slurmd", "slurmd.pid"), ("slurmctld", "slurmctld.pid"),
                           ("munged", "munge/munged.pid")):
            try:
                pids[name] = int((cls.cluster / file).read_text())
            except (OSError, ValueError):
                pass
        return pids

    @classmethod
    def stop_cluster(cls):
        pids = {**cls.pids, **cls.daemon_pids()}
        subprocess.run([str(TOOLS / "slurm-local.sh"), "stop", str(cls.cluster)], env=cls.env,
                       capture_output=True, timeout=300)
        # Only what this test started, by pid, and only while it still is that daemon.
        survivors = []
        for name, pid in pids.items():
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                continue
            if comm.startswith(name[:15]):
                survivors.append(f"{name} ({pid})")
                os.kill(pid, signal.SIGKILL)
        if survivors:
            raise RuntimeError(f"slurm-local.sh stop left {', '.join(survivors)} running: killed")

    # -- helpers ---------------------------------------------------------------------------

    def run_tool(self, *args, timeout=120):
        result = subprocess.run(list(map(str, args)), cwd=self.dir, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        self.assertEqual(result.returncode, 0, f"{args}: {result.stderr}")
        return result.stdout

    def submit(self, *args) -> str:
        return self.run_tool("sbatch", "--parsable", *args).strip().split(";")[0]

    def queue(self) -> str:
        return self.run_tool("squeue", "-h", "-o", "%A %T %r").strip()

    def wait_for_empty_queue(self, limit=420, poll=None):
        deadline = time.monotonic() + limit
        while queue := self.queue():
            if poll:
                poll()
            self.assertLess(time.monotonic(), deadline, f"jobs still queued after {limit} s: {queue}")
            time.sleep(0.5)

    def status(self) -> str:
        return self.run_tool(PYTHON, TOOLS / "sweep.py", "status", "sweep.toml")

    @staticmethod
    def point_states(status: str) -> dict:
        states = {}
        for line in status.splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[0].isdigit() and fields[1] in POINTS:
                states[fields[1]] = " ".join(fields[2:4]) if fields[2] == "not" else fields[2]
        return states

    # -- tests -----------------------------------------------------------------------------

    def test_preempted_run_requeues_resumes_and_ends_as_uninterrupted(self):
        args = [CONFIG, *sets("data.path=data", "run.dir=runs/single", f"fl.rounds={ROUNDS}",
                              "eval.every=4", "checkpoint.every=4", *TINY)]
        self.submit(*TWO_RANKS, JOBS / "run.sbatch", *args, "--set", "run.name=uninterrupted")
        job = self.submit(*TWO_RANKS, JOBS / "run.sbatch", *args, "--set", "run.name=preempted")
        run = self.dir / "runs" / "single" / "preempted"
        # Mid-run: once round 2 is logged, USR1 to the batch shell, as --signal=B:USR1@T sends it.
        deadline = time.monotonic() + 300
        while rounds_trained(run) < 2:
            self.assertLess(time.monotonic(), deadline, f"job {job} never logged round 2: {self.queue()}")
            time.sleep(0.1)
        self.run_tool("scancel", "--batch", "--signal=USR1", job)
        self.wait_for_empty_queue()

        output = (self.dir / f"slurm-fedvlm-{job}.out").read_text()
        self.assertIn("time limit near: asking fedvlm to checkpoint", output)
        self.assertIn(f"requeueing job {job}", output)
        self.assertIn(f"job {job} restart 1", output)
        self.assertIn("--resume runs/single/preempted", output)
        log = (run / "logs" / "rank-0.log").read_text().splitlines()
        [stop] = [line for line in log if "stop signal: checkpointed after round" in line]
        [resume] = [line for line in log if "resumed" in line]
        stopped_after = int(re.search(r"after round (\d+)", stop).group(1))
        self.assertLess(stopped_after, ROUNDS, "the signal came after the run had finished")
        self.assertIn(f"after round {stopped_after}", resume)
        # A requeued job waits cred_expire (slurm-local.sh: 10 s) before it may start again.
        self.assertLess(log_time(resume) - log_time(stop), 60, "the requeued job waited too long")

        reference = self.dir / "runs" / "single" / "uninterrupted"
        self.assertEqual(outcome(run), outcome(reference))
        self.assertEqual(metric_records(run), metric_records(reference))
        self.assertEqual([r[0] for r in metric_records(run) if r[1] == "train"], list(range(1, ROUNDS + 1)))

    def test_sweep_array_status_resubmit_and_collect(self):
        (self.dir / "sweep.toml").write_text(SWEEP)
        submit = [JOBS / "submit-sweep.sh", "sweep.toml", "--parsable", *TWO_RANKS]
        array = self.run_tool(*submit).strip().split(";")[0]
        seen = {name: set() for name in POINTS}

        def record_states():
            for name, state in self.point_states(self.status()).items():
                seen[name].add(state)
        self.wait_for_empty_queue(poll=record_states)

        status = self.status()
        states = self.point_states(status)
        self.assertEqual(states, {"pt-fedavg-data": "done", "pt-fedprox-data": "done",
                                  "pt-fedavg-data-late": "failed", "pt-fedprox-data-late": "failed"},
                         status)
        self.assertIn("4 points: 2 done, 2 failed", status)
        for shown in ("pending", "running"):  # queued array tasks, then each in its turn
            self.assertTrue(any(shown in states for states in seen.values()),
                            f"no point was ever shown {shown}: {seen}")
        for name in ("pt-fedavg-data-late", "pt-fedprox-data-late"):
            section = status.split(f"({name}) failed: exit 2")[1].split("\npoint ")[0]
            self.assertIn("data-late: dataset directory does not exist", section, status)
            self.assertIn(f"slurm-sweep-sweep-{array}_", section, "the job output's last lines")

        finished = {name: self.dir / "runs" / "sweep" / name
                    for name in ("pt-fedavg-data", "pt-fedprox-data")}
        files = ("summary.json", "metrics.jsonl", "config.toml", "logs/rank-0.log", "launcher.state")
        before = {(name, file): (run / file).stat().st_mtime_ns
                  for name, run in finished.items() for file in files}

        shutil.copytree(self.dir / "data", self.dir / "data-late")
        again = self.run_tool(*submit).strip().split(";")[0]
        self.wait_for_empty_queue()
        status = self.status()
        self.assertEqual(set(self.point_states(status).values()), {"done"}, status)
        self.assertIn("4 points: 4 done", status)
        after = {(name, file): (run / file).stat().st_mtime_ns
                 for name, run in finished.items() for file in files}
        self.assertEqual(after, before, "a finished point was run again")
        for name, run in finished.items():
            banners = [line for line in (run / "logs" / "rank-0.log").read_text().splitlines()
                       if "fedvlm run:" in line]
            self.assertEqual(len(banners), 1, name)
        for index in (0, 2):
            output = (self.dir / f"slurm-sweep-sweep-{again}_{index}.out").read_text()
            self.assertIn("has summary.json: finished, skipped", output)
            self.assertNotIn("srun", output)

        table = self.run_tool(PYTHON, TOOLS / "collect.py", "runs/sweep")
        rows = {row["run"]: row for row in csv.DictReader(io.StringIO(table))}
        self.assertEqual(sorted(rows), POINTS)
        for name, row in rows.items():
            summary = json.loads((self.dir / "runs" / "sweep" / name / "summary.json").read_text())
            self.assertEqual((row["fl.algorithm"], row["data.path"], row["rounds"]),
                             (name.split("-")[1], name.split("-", 2)[2], "3"))
            self.assertEqual(float(row["final.cls.loss"]), summary["final"]["cls"]["loss"])


if __name__ == "__main__":
    if SKIP_REASON:
        print(f"test_slurm_fedvlm: skipped: {SKIP_REASON}")
        sys.exit(77)  # ctest SKIP_RETURN_CODE
    unittest.main(verbosity=2)
