"""jobs/: syntax, usage errors, the commands the launchers build (FEDVLM_DRY_RUN=1), and the
Slurm time-limit path (USR1 -> forwarded to the step -> requeue) with fake srun/scontrol."""
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from fake_runs import JOBS, REPO_ROOT, sweep_tree

# The launchers; jobs/lib.sh is sourced by them, not run.
SCRIPTS = (sorted(p for p in JOBS.glob("*.sh") if p.name != "lib.sh") + sorted(JOBS.glob("*.sbatch"))
           + [REPO_ROOT / "tools" / "slurm-local.sh"])
FAKE_BIN = "/opt/fake/fedvlm"

SWEEP = """\
base = "configs/base.toml"
name = "t-{fl.algorithm}-{data.path}"
[grid]
"fl.algorithm" = ["fedavg", "fedprox"]
"data.path" = ["data/with space", "data/b"]
[fixed]
"run.dir" = "out"
"""

FAKE_SRUN = """#!/bin/bash
# Stands in for srun + fedvlm: records its arguments, then behaves as FAKE_MODE says.
echo "$@" > "$FAKE_LOG/srun-args"
on_usr1() {
  mkdir -p "$FAKE_RUN_DIR/checkpoints" && touch "$FAKE_RUN_DIR/checkpoints/round-3"
  echo usr1 >> "$FAKE_LOG/signals"
  kill "$sleeper" 2>/dev/null
  exit 0
}
trap on_usr1 USR1
case $FAKE_MODE in
  finish) mkdir -p "$FAKE_RUN_DIR" && echo '{}' > "$FAKE_RUN_DIR/summary.json"; exit 0 ;;
  fail) exit 3 ;;
esac
sleep 60 &
sleeper=$!
touch "$FAKE_LOG/started"
wait "$sleeper"
"""


class JobsTestBase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = sweep_tree(Path(self.tmp.name), SWEEP, rounds=2, run_dir="out")
        self.env = {key: value for key, value in os.environ.items() if not key.startswith("SLURM_")}
        self.env.update(FEDVLM_BIN=FAKE_BIN, FEDVLM_DRY_RUN="1")
        self.env.pop("FEDVLM_THREADS", None)

    def tearDown(self):
        self.tmp.cleanup()

    def run_script(self, script, *args, expect=0, **env):
        result = subprocess.run(["bash", str(JOBS / script), *map(str, args)], cwd=self.dir,
                                env={**self.env, **env}, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, expect, result.stderr)
        return result

    def commands(self, result):
        return [shlex.split(line) for line in result.stdout.splitlines()]


class ScriptSyntaxTest(unittest.TestCase):
    def test_every_script_parses(self):
        self.assertGreaterEqual(len(SCRIPTS), 5)
        for script in SCRIPTS + [JOBS / "lib.sh"]:
            with self.subTest(script=script.name):
                result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
                self.assertEqual(result.returncode, 0, result.stderr)

    @unittest.skipUnless(shutil.which("shellcheck"), "shellcheck not installed")
    def test_shellcheck_is_clean(self):
        result = subprocess.run(["shellcheck", "-x", str(JOBS / "lib.sh"), *map(str, SCRIPTS)], cwd=REPO_ROOT,
                                capture_output=True, text=True)
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_scripts_are_strict_and_executable(self):
        for script in SCRIPTS:
            with self.subTest(script=script.name):
                self.assertIn("set -euo pipefail", script.read_text())
                self.assertTrue(os.access(script, os.X_OK))


class WorkstationTest(JobsTestBase):
    def test_mpirun_command_for_two_ranks(self):
        result = self.run_script("workstation.sh", 2, "configs/base.toml", "--set", "data.path=a b")
        [command] = self.commands(result)
        threads = max(1, os.cpu_count() // 2)
        root = ["--allow-run-as-root"] if os.getuid() == 0 else []
        oversubscribe = ["--oversubscribe"] if os.cpu_count() < 2 else []
        self.assertEqual(command, ["mpirun", "-np", "2", "--bind-to", "none",
                                   "-x", "OMP_NUM_THREADS", "-x", "MKL_NUM_THREADS", *root,
                                   *oversubscribe, FAKE_BIN, "run", "-c", "configs/base.toml",
                                   "--set", "data.path=a b", "--set", f"run.threads={threads}"])

    def test_one_rank_runs_without_mpirun_and_keeps_given_threads(self):
        result = self.run_script("workstation.sh", 1, "configs/base.toml", "--set", "run.threads=7")
        self.assertEqual(self.commands(result),
                         [[FAKE_BIN, "run", "-c", "configs/base.toml", "--set", "run.threads=7"]])

    def test_more_ranks_than_cores_oversubscribe(self):
        np = os.cpu_count() + 1
        [command] = self.commands(self.run_script("workstation.sh", np, "configs/base.toml"))
        self.assertIn("--oversubscribe", command)
        self.assertEqual(command[-1], "run.threads=1")

    @unittest.skipUnless(shutil.which("mpirun"), "mpirun not installed")
    def test_mpirun_accepts_the_command_and_ranks_see_their_threads(self):
        fake = self.dir / "fake-fedvlm"
        fake.write_text('#!/bin/bash\necho "$OMPI_COMM_WORLD_RANK $OMP_NUM_THREADS $*" '
                        '> "out-$OMPI_COMM_WORLD_RANK"\n')
        fake.chmod(0o755)
        self.run_script("workstation.sh", 2, "configs/base.toml", "--set", "run.name=a b",
                        FEDVLM_DRY_RUN="0", FEDVLM_BIN=str(fake), FEDVLM_THREADS="3")
        for rank in (0, 1):
            self.assertEqual((self.dir / f"out-{rank}").read_text(),
                             f"{rank} 3 run -c configs/base.toml --set run.name=a b --set run.threads=3\n")

    def test_usage_errors(self):
        for args in ((), ("two", "configs/base.toml"), ("0", "configs/base.toml"), ("2",)):
            with self.subTest(args=args):
                self.assertIn("usage:", self.run_script("workstation.sh", *args, expect=2).stderr)
        result = self.run_script("workstation.sh", 2, "configs/missing.toml", expect=1)
        self.assertIn("'configs/missing.toml' not found", result.stderr)

    def test_missing_binary_is_reported_when_not_dry_run(self):
        result = self.run_script("workstation.sh", 1, "configs/base.toml", expect=1,
                                 FEDVLM_DRY_RUN="0", FEDVLM_BIN=str(self.dir / "nope"))
        self.assertIn("fedvlm executable", result.stderr)

    def test_sweep_runs_unfinished_points_resuming_checkpointed_ones(self):
        (self.dir / "out" / "t-fedavg-b" / "checkpoints").mkdir(parents=True)
        (self.dir / "out" / "t-fedavg-b" / "checkpoints" / "round-2").touch()
        (self.dir / "out" / "t-fedprox-with-space").mkdir(parents=True)
        (self.dir / "out" / "t-fedprox-with-space" / "summary.json").write_text("{}")
        result = self.run_script("workstation-sweep.sh", "sweep.toml", 1)
        commands = self.commands(result)
        names = [next(arg for arg in command if arg.startswith("run.name=")) for command in commands]
        self.assertEqual(names, ["run.name=t-fedavg-with-space", "run.name=t-fedavg-b",
                                 "run.name=t-fedprox-b"])
        self.assertIn("data.path=data/with space", commands[0])
        self.assertEqual(commands[1][commands[1].index("--resume") + 1], "out/t-fedavg-b")
        self.assertNotIn("--resume", commands[0])
        self.assertIn("t-fedprox-with-space has summary.json", result.stderr)


class SlurmDryRunTest(JobsTestBase):
    def test_array_task_runs_its_point_under_srun_pmix(self):
        result = self.run_script("sweep.sbatch", "sweep.toml", SLURM_ARRAY_TASK_ID="2",
                                 SLURM_CPUS_PER_TASK="3")
        [command] = self.commands(result)
        base = str((self.dir / "configs" / "base.toml").resolve())
        self.assertEqual(command, ["srun", "--mpi=pmix", "--kill-on-bad-exit=1", "--cpus-per-task=3", FAKE_BIN, "run",
                                   "-c", base, "--set", "run.dir=out", "--set", "fl.algorithm=fedprox",
                                   "--set", "data.path=data/with space", "--set",
                                   "run.name=t-fedprox-with-space", "--set", "run.threads=3"])

    def test_array_task_resumes_or_skips(self):
        run_dir = self.dir / "out" / "t-fedavg-b"
        (run_dir / "checkpoints").mkdir(parents=True)
        (run_dir / "checkpoints" / "round-4").touch()
        [command] = self.commands(self.run_script("sweep.sbatch", "sweep.toml", SLURM_ARRAY_TASK_ID="1"))
        self.assertEqual(command[command.index("--resume") + 1], "out/t-fedavg-b")
        (run_dir / "summary.json").write_text("{}")
        result = self.run_script("sweep.sbatch", "sweep.toml", SLURM_ARRAY_TASK_ID="1")
        self.assertEqual(result.stdout, "")
        self.assertIn("finished, skipped", result.stderr)

    def test_sweep_outside_an_array_is_an_error(self):
        result = self.run_script("sweep.sbatch", "sweep.toml", expect=1)
        self.assertIn("SLURM_ARRAY_TASK_ID is unset", result.stderr)
        result = self.run_script("sweep.sbatch", "sweep.toml", SLURM_ARRAY_TASK_ID="4", expect=1)
        self.assertIn("out of range 0..3", result.stderr)

    def test_run_sbatch_passes_config_and_overrides(self):
        result = self.run_script("run.sbatch", "configs/base.toml", "--set", "fl.rounds=5")
        [command] = self.commands(result)
        self.assertEqual(command, ["srun", "--mpi=pmix", "--kill-on-bad-exit=1", FAKE_BIN, "run", "-c", "configs/base.toml",
                                   "--set", "fl.rounds=5", "--set", "run.threads=1"])
        self.assertIn("usage:", self.run_script("run.sbatch", expect=2).stderr)

    def test_submit_sweep_sizes_the_array(self):
        result = self.run_script("submit-sweep.sh", "sweep.toml", "--time=01:00:00",
                                 FEDVLM_ARRAY_MAX="3")
        [command] = self.commands(result)
        self.assertEqual(command, ["sbatch", "--array=0-3%3", "--job-name=sweep-sweep",
                                   "--time=01:00:00", str(JOBS / "sweep.sbatch"),
                                   str((self.dir / "sweep.toml").resolve())])


class SlurmTimeLimitTest(JobsTestBase):
    """run.sbatch for real, with srun and scontrol replaced by scripts on PATH."""

    def setUp(self):
        super().setUp()
        fake = self.dir / "fakebin"
        fake.mkdir()
        (fake / "srun").write_text(FAKE_SRUN)
        (fake / "scontrol").write_text('#!/bin/bash\necho "$@" >> "$FAKE_LOG/scontrol"\n')
        for tool in fake.iterdir():
            tool.chmod(0o755)
        self.log = self.dir / "log"
        self.log.mkdir()
        self.env.update(PATH=f"{fake}:{os.environ['PATH']}", FEDVLM_DRY_RUN="0",
                        FEDVLM_BIN=shutil.which("true"), FAKE_LOG=str(self.log),
                        FAKE_RUN_DIR=str(self.dir / "out" / "base"), SLURM_JOB_ID="42")

    def start(self, mode, **env):
        return subprocess.Popen(["bash", str(JOBS / "run.sbatch"), "configs/base.toml"],
                                cwd=self.dir, env={**self.env, "FAKE_MODE": mode, **env},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_for(self, path):
        deadline = time.monotonic() + 30
        while not path.exists():
            self.assertLess(time.monotonic(), deadline, f"{path} never appeared")
            time.sleep(0.05)

    def test_usr1_is_forwarded_to_the_step_then_the_job_requeues(self):
        job = self.start("wait")
        self.wait_for(self.log / "started")
        job.send_signal(signal.SIGUSR1)  # what --signal=B:USR1@120 does
        _, stderr = job.communicate(timeout=30)
        self.assertEqual(job.returncode, 0, stderr)
        self.assertEqual((self.log / "signals").read_text(), "usr1\n")
        self.assertEqual((self.log / "scontrol").read_text(), "requeue 42\n")
        # The requeued job resumes from the checkpoint the step wrote.
        dry = self.run_script("run.sbatch", "configs/base.toml", FEDVLM_DRY_RUN="1")
        self.assertIn("--resume out/base", dry.stdout)

    def test_requeue_limit_stops_the_loop(self):
        job = self.start("wait", SLURM_RESTART_COUNT="3", FEDVLM_MAX_REQUEUES="3")
        self.wait_for(self.log / "started")
        job.send_signal(signal.SIGUSR1)
        _, stderr = job.communicate(timeout=30)
        self.assertEqual(job.returncode, 1)
        self.assertIn("after 3 requeues", stderr)
        self.assertFalse((self.log / "scontrol").exists())

    def test_finished_step_does_not_requeue(self):
        job = self.start("finish")
        _, stderr = job.communicate(timeout=30)
        self.assertEqual(job.returncode, 0, stderr)
        self.assertFalse((self.log / "scontrol").exists())
        self.assertIn("--mpi=pmix", (self.log / "srun-args").read_text())

    def test_failing_step_passes_its_status_on(self):
        job = self.start("fail")
        job.communicate(timeout=30)
        self.assertEqual(job.returncode, 3)
        self.assertFalse((self.log / "scontrol").exists())


if __name__ == "__main__":
    unittest.main()
