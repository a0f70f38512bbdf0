"""The SLURM job array: what scripts/slurm_grade.sbatch runs for a task, and the whole array on a real cluster.

The task tests run the batch script with bash and SLURM's variables, against a stand-in autograder that
prints its arguments. The self-test starts a one-node cluster (root; it installs slurmctld, slurmd and
munge with apt-get) and takes about two minutes, so it runs only with AUTOGRADER_SLURM_SELFTEST=1.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SBATCH = ROOT / "scripts" / "slurm_grade.sbatch"


def run_task(cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """One array task as slurmstepd starts it: the batch script under bash, in the folder sbatch was run in."""
    base = {"PATH": os.environ["PATH"], "ASSIGNMENT": "01_rnn", "SUBMITTED": "/course/submitted"}
    return subprocess.run(["bash", str(SBATCH)], cwd=cwd, env={**base, **env}, capture_output=True, text=True,
                          timeout=30)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A folder to submit from, whose .venv/bin/autograder prints the arguments it was given."""
    stand_in = tmp_path / ".venv" / "bin" / "autograder"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text('#!/bin/sh\necho "$@"\n')
    stand_in.chmod(0o755)
    return tmp_path


def test_each_task_grades_its_own_shard_of_the_array_with_its_cpus(course):
    run = run_task(course, SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_TASK_COUNT="8", SLURM_CPUS_PER_TASK="4")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["grade-batch", "/course/submitted", "-a", "01_rnn", "-o", "graded/01_rnn/shard-3",
                                  "--shard", "3/8", "--workers", "4", "-q"]


def test_a_task_rerun_alone_keeps_its_shard_when_shards_names_the_arrays_size(course):
    run = run_task(course, SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_TASK_COUNT="1", SHARDS="8", GRADED="/scratch/g")
    assert run.returncode == 0, run.stderr
    assert "--shard 3/8" in run.stdout and "-o /scratch/g/01_rnn/shard-3" in run.stdout


def test_a_task_rerun_alone_without_shards_is_refused_and_says_how(course):
    # `sbatch --array=3` alone has a task count of 1: shard 3/1 does not exist, and 1/1 would be the whole class.
    run = run_task(course, SLURM_ARRAY_TASK_ID="3", SLURM_ARRAY_TASK_COUNT="1")
    assert run.returncode == 2 and run.stdout == ""
    assert "SHARDS=N" in run.stderr, run.stderr


def test_an_array_numbered_from_zero_is_refused(course):
    run = run_task(course, SLURM_ARRAY_TASK_ID="0", SLURM_ARRAY_TASK_COUNT="8")
    assert run.returncode == 2 and "1..8" in run.stderr, run.stderr


def test_a_job_submitted_outside_the_course_repository_says_where_to_submit_from(tmp_path):
    run = run_task(tmp_path, SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="2")
    assert run.returncode == 2 and "submit from the course repository" in run.stderr, run.stderr


def test_a_task_without_an_array_or_an_assignment_is_refused(course):
    assert "sbatch --array=1-N" in run_task(course).stderr
    assert "ASSIGNMENT" in run_task(course, ASSIGNMENT="", SLURM_ARRAY_TASK_ID="1", SLURM_ARRAY_TASK_COUNT="1").stderr


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("AUTOGRADER_SLURM_SELFTEST") != "1",
                    reason="starts a one-node SLURM cluster (root, apt-get, about 2 minutes): set "
                           "AUTOGRADER_SLURM_SELFTEST=1, or run make slurm-selftest")
def test_the_job_array_on_a_real_cluster_merges_to_the_unsharded_grades():
    run = subprocess.run(["bash", str(ROOT / "scripts" / "slurm_selftest.sh")], capture_output=True, text=True,
                         timeout=1200)
    if run.returncode == 77:
        pytest.skip(run.stderr.strip().splitlines()[-1])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-6000:]
    assert "OK: the merged grades.csv equals the unsharded one" in run.stdout
