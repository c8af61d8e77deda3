"""`tools/sweep.py status` and the launcher's record it reads (RUN_DIR/launcher.state, written by
jobs/lib.sh), without Slurm: squeue and srun are scripts on PATH. The same command on a real
Slurm is exercised by test_slurm_fedvlm."""
import os
import shutil
import socket
import subprocess
import tempfile
import unittest
from pathlib import Path

from fake_runs import JOBS, PYTHON, TOOLS, sweep_tree

SWEEP = """\
base = "configs/base.toml"
name = "p{index}"
[grid]
"fl.algorithm" = ["fedavg", "fedprox", "scaffold", "fedadam", "fednova", "fedyogi", "fedavgm"]
"""

# As `squeue -h -r -o "%A %T %F %K %j"` prints them: job id, state, array job id, array index
# (N/A outside arrays), name. Array task 5 of this sweep (job name sweep-sweep) waits its turn.
FAKE_SQUEUE = """#!/bin/bash
printf '%s\\n' '11 RUNNING 11 N/A a' '12 PENDING 12 N/A b' '20 PENDING 20 5 sweep-sweep' \\
  '21 PENDING 21 6 sweep-other'
"""


class SweepStatusTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = sweep_tree(Path(self.tmp.name), SWEEP, rounds=4, run_dir="runs")
        self.bin = self.dir / "bin"
        self.bin.mkdir()
        (self.bin / "squeue").write_text(FAKE_SQUEUE)
        (self.bin / "squeue").chmod(0o755)
        self.env = {**os.environ, "PATH": f"{self.bin}:{os.environ['PATH']}"}

    def tearDown(self):
        self.tmp.cleanup()

    def run_dir(self, index, rounds_logged=0, **state) -> Path:
        run = self.dir / "runs" / f"p{index}"
        (run / "logs").mkdir(parents=True)
        (run / "config.toml").write_text("[fl]\nrounds = 4\n")
        (run / "metrics.jsonl").write_text("".join(
            f'{{"round":{r},"phase":"train","task":"all","metric":"loss","value":1.0,"seconds":1.0}}\n'
            for r in range(1, rounds_logged + 1)))
        if state:
            (run / "launcher.state").write_text("".join(f"{k}={v}\n" for k, v in state.items()))
        return run

    def status(self, *args, env=None):
        result = subprocess.run([PYTHON, str(TOOLS / "sweep.py"), "status", "sweep.toml", *args],
                                cwd=self.dir, env=env or self.env, capture_output=True, text=True,
                                timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    @staticmethod
    def rows(output):
        return {line.split()[1]: line.split(None, 4)[2:] for line in output.splitlines()
                if line[:1].isdigit() and line.split()[1].startswith("p")}

    def test_every_state_with_rounds_and_the_last_lines_of_failures(self):
        (self.run_dir(0, 4) / "summary.json").write_text("{}")
        self.run_dir(1, 2, state="running", job="11", host="node7")
        self.run_dir(2, 1, state="requeued", job="12", host="node7")
        failed = self.run_dir(3, 1, state="failed", exit="2", job="13", host="node7",
                              error=self.dir / "slurm-13.out")
        (failed / "logs" / "rank-0.log").write_text(
            "[info] banner\n[error] data-b: dataset directory does not exist\n")
        (self.dir / "slurm-13.out").write_text(
            "".join(f"line {i}\n" for i in range(20)) + "srun: error: exit code 2\n")
        gone = self.run_dir(4, 3, state="running", job="14", host="node7")  # cancelled: not in squeue
        (gone / "checkpoints").mkdir()
        (gone / "checkpoints" / "round-000002.pt").touch()
        out = self.status("--lines", "3")
        rows = self.rows(out)
        self.assertEqual(rows["p0"][:2], ["done", "4/4"])
        self.assertEqual(rows["p1"], ["running", "2/4", "job 11 on node7"])
        self.assertEqual(rows["p2"][:2], ["pending", "1/4"])
        self.assertEqual(rows["p3"][:2], ["failed", "1/4"])
        self.assertIn("exit 2, job 13", rows["p3"][2])
        self.assertEqual(rows["p4"], ["stopped", "3/4", "checkpoint after round 2; resubmit to resume"])
        self.assertEqual(rows["p5"], ["pending", "-", "queued, job 20_5"])
        self.assertEqual(rows["p6"][:2], ["not", "started"])  # another sweep's array task 6
        self.assertIn("7 points: 1 done, 1 running, 2 pending, 1 failed, 1 stopped, 1 not started", out)
        failure = out.split("point 3 (p3) failed: exit 2")[1]
        self.assertIn("dataset directory does not exist", failure)
        self.assertIn("srun: error: exit code 2", failure)
        self.assertIn("line 19", failure)
        self.assertNotIn("line 17", failure)  # --lines 3

    def test_without_squeue_a_recorded_job_counts_as_running(self):
        self.run_dir(1, 1, state="running", job="99", host="node7")
        env = {**self.env, "PATH": str(self.dir / "empty")}
        self.assertEqual(self.rows(self.status(env=env))["p1"][0], "running")

    def test_a_workstation_run_is_running_while_its_launcher_lives(self):
        self.run_dir(0, 1, state="running", host=socket.gethostname(), pid=os.getpid())
        dead = subprocess.Popen(["true"])
        dead.wait()
        self.run_dir(1, 1, state="running", host=socket.gethostname(), pid=dead.pid)
        rows = self.rows(self.status())
        self.assertEqual(rows["p0"][0], "running")
        self.assertEqual(rows["p1"][:1], ["stopped"])

    def test_failure_before_any_log_shows_the_launcher_output(self):
        run = self.dir / "runs" / "p0"
        run.mkdir(parents=True)
        (self.dir / "out.txt").write_text("runs/base.toml:3: unknown key 'fl.rondus'\n")
        (run / "launcher.state").write_text(f"state=failed\nexit=2\noutput={self.dir / 'out.txt'}\n")
        out = self.status()
        self.assertIn("unknown key 'fl.rondus'", out.split("point 0 (p0) failed")[1])


class LauncherRecordTest(unittest.TestCase):
    """What jobs/ writes to launcher.state around a run."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = sweep_tree(
            Path(self.tmp.name),
            'base = "configs/base.toml"\nname = "p{index}"\n[grid]\n"fl.algorithm" = ["fedavg", "fedprox"]\n',
            rounds=2, run_dir="out")
        self.env = {key: value for key, value in os.environ.items()
                    if not key.startswith(("SLURM_", "FEDVLM_"))}

    def tearDown(self):
        self.tmp.cleanup()

    def record(self, run) -> dict:
        text = (self.dir / "out" / run / "launcher.state").read_text()
        return dict(line.split("=", 1) for line in text.splitlines())

    def test_slurm_job_records_running_then_its_exit_and_output_file(self):
        fake = self.dir / "bin"
        fake.mkdir()
        # srun + fedvlm: checks the record says running while it runs, then fails.
        (fake / "srun").write_text('#!/bin/bash\ngrep -qx state=running out/base/launcher.state || exit 9\n'
                                   'echo "fedvlm: error: bad value" >&2\nexit 2\n')
        (fake / "srun").chmod(0o755)
        log = self.dir / "slurm-42.out"
        with open(log, "w") as output:
            result = subprocess.run(["bash", str(JOBS / "run.sbatch"), "configs/base.toml"], cwd=self.dir,
                                    env={**self.env, "PATH": f"{fake}:{os.environ['PATH']}",
                                         "FEDVLM_BIN": shutil.which("true"), "SLURM_JOB_ID": "42"},
                                    stdout=output, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(result.returncode, 2, log.read_text())
        record = self.record("base")
        self.assertEqual({k: record[k] for k in ("state", "exit", "job", "output", "error")},
                         {"state": "failed", "exit": "2", "job": "42", "output": str(log), "error": str(log)})

    def test_workstation_sweep_records_each_point(self):
        fake = self.dir / "fedvlm"
        # Point p0 finishes, p1 fails.
        fake.write_text('#!/bin/bash\n[[ " $* " == *run.name=p0* ]] || exit 3\n'
                        'mkdir -p out/p0 && echo {} > out/p0/summary.json\n')
        fake.chmod(0o755)
        result = subprocess.run(["bash", str(JOBS / "workstation-sweep.sh"), "sweep.toml"], cwd=self.dir,
                                env={**self.env, "FEDVLM_BIN": str(fake)}, capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertEqual(self.record("p0")["state"], "finished")
        self.assertEqual((self.record("p1")["state"], self.record("p1")["exit"]), ("failed", "3"))
        self.assertEqual(self.record("p1")["host"], socket.gethostname())


if __name__ == "__main__":
    unittest.main()
