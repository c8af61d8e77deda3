"""jobs/*.sbatch on a real one-node Slurm brought up by tools/slurm-local.sh.

Opt-in (it starts daemons and takes about a minute with slurm-local.sh's cred_expire = 10 s):
    FEDVLM_SLURM_TESTS=1 /usr/bin/python3 -m unittest -v test_slurm_local
Needs root and Debian's slurmctld, slurmd, slurm-client and munge packages.
"""
import os
import random
import shutil
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

from fake_runs import JOBS, REPO_ROOT

ENABLED = (os.environ.get("FEDVLM_SLURM_TESTS") == "1" and os.getuid() == 0 and
           all(shutil.which(tool) for tool in ("slurmctld", "slurmd", "sbatch", "munged")))

# Stands in for fedvlm: every rank logs its PMIx rank; USR1 writes a checkpoint and stops;
# a run started with --resume (or any run of a sweep point) finishes with summary.json.
FAKE_FEDVLM = r"""#!/bin/bash
dir=runs; name=base
for arg in "$@"; do
  case $arg in run.dir=*) dir=${arg#run.dir=} ;; run.name=*) name=${arg#run.name=} ;; esac
done
run=$dir/$name
mkdir -p "$run"
echo "rank=$SLURM_PROCID pmix=${PMIX_RANK:-unset} $*" >> "$run/trace"
finish() { [[ $SLURM_PROCID == 0 ]] && echo '{"final": {}, "rounds": 1}' > "$run/summary.json"; exit 0; }
[[ " $* " == *" --resume "* || $name == pt-* ]] && finish
on_usr1() {
  echo "rank=$SLURM_PROCID usr1" >> "$run/trace"
  [[ $SLURM_PROCID == 0 ]] && mkdir -p "$run/checkpoints" && touch "$run/checkpoints/round-1"
  kill "$sleeper" 2>/dev/null; exit 0
}
trap on_usr1 USR1
# slurmstepd signals every process of the task; the real fedvlm is one process, so the
# stand-in's sleep must ignore USR1 (ignored signals survive exec) or it dies first.
(trap '' USR1; exec sleep 600) & sleeper=$!
wait "$sleeper"
"""

SWEEP = """\
base = "configs/base.toml"
name = "pt-{fl.algorithm}-s{run.seed}"
[grid]
"fl.algorithm" = ["fedavg", "fedprox"]
"run.seed" = [1, 2]
"""


@unittest.skipUnless(ENABLED, "set FEDVLM_SLURM_TESTS=1 (root, Slurm and munge installed)")
class LocalSlurmTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        cls.cluster = cls.dir / "cluster"
        cls.env = {**os.environ, "SLURM_LOCAL_PORT": str(random.randrange(20000, 30000, 2))}
        subprocess.run([str(REPO_ROOT / "tools" / "slurm-local.sh"), "start", str(cls.cluster)],
                       env=cls.env, check=True, timeout=120, capture_output=True)
        (cls.dir / "configs").mkdir()
        (cls.dir / "configs" / "base.toml").write_text('[run]\ndir = "runs"\n')
        (cls.dir / "sweep.toml").write_text(SWEEP)
        fake = cls.dir / "fake-fedvlm"
        fake.write_text(FAKE_FEDVLM)
        fake.chmod(0o755)
        cls.env.update(SLURM_CONF=str(cls.cluster / "slurm.conf"), FEDVLM_ROOT=str(REPO_ROOT),
                       FEDVLM_BIN=str(fake))

    @classmethod
    def tearDownClass(cls):
        subprocess.run([str(REPO_ROOT / "tools" / "slurm-local.sh"), "stop", str(cls.cluster)],
                       env=cls.env, timeout=60)
        cls.tmp.cleanup()

    def submit(self, *args):
        result = subprocess.run(["sbatch", "--parsable", *args], cwd=self.dir, env=self.env,
                                capture_output=True, text=True, check=True)
        return result.stdout.strip().split(";")[0]

    def wait_until_gone(self, job_id, limit=400):
        deadline = time.monotonic() + limit
        while subprocess.run(["squeue", "-h", "-j", job_id], env=self.env, capture_output=True,
                             text=True).stdout.strip():
            self.assertLess(time.monotonic(), deadline, f"job {job_id} still queued")
            time.sleep(2)

    def test_time_limit_checkpoints_requeues_and_resumes(self):
        job = self.submit("--time=2", "--signal=B:USR1@100", "--ntasks-per-node=2",
                          "--cpus-per-task=1", str(JOBS / "run.sbatch"), "configs/base.toml")
        self.wait_until_gone(job)
        run = self.dir / "runs" / "base"
        trace = (run / "trace").read_text().splitlines()
        self.assertEqual(sorted(line for line in trace if "usr1" in line), ["rank=0 usr1", "rank=1 usr1"])
        self.assertEqual(sum("--resume runs/base" in line for line in trace), 2)
        self.assertTrue(any("pmix=1" in line for line in trace))
        self.assertTrue((run / "summary.json").is_file())

    def test_sweep_array_runs_every_point_once(self):
        result = subprocess.run([str(JOBS / "submit-sweep.sh"), "sweep.toml", "--parsable",
                                 "--ntasks-per-node=2", "--cpus-per-task=1", "--time=5"],
                                cwd=self.dir, env=self.env, capture_output=True, text=True, check=True)
        self.wait_until_gone(result.stdout.strip().split(";")[0], limit=120)
        for name in ("pt-fedavg-s1", "pt-fedavg-s2", "pt-fedprox-s1", "pt-fedprox-s2"):
            run = self.dir / "runs" / name
            self.assertTrue((run / "summary.json").is_file(), name)
            self.assertEqual(len((run / "trace").read_text().splitlines()), 2)


if __name__ == "__main__":
    unittest.main()
