"""Batches: results on disk, grades.csv, resuming after a kill, sharding."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder import grading
from examples import samples

pytestmark = pytest.mark.slow
A = "01_rnn"
BUG = samples.replace_in(A, "rnn_cell_forward", "return torch.tanh(pre_activation)", "return pre_activation")


def make_class(base: Path, n: int) -> Path:
    submitted = base / "submitted"
    for i in range(n):
        nb = samples.make_notebook(A, BUG if i % 2 else None)
        samples.write_notebook(nb, submitted / f"s{i:02d}" / A / f"{A}.ipynb")
    return submitted


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_batch_writes_one_results_file_and_one_csv_row_per_student(tmp_path):
    submitted = make_class(tmp_path, 4)
    (submitted / "empty_student" / A).mkdir(parents=True)
    (submitted / "other_course_only" / "02_lstm").mkdir(parents=True)
    out = tmp_path / "out"
    results = grading.grade_batch(submitted, A, out, workers=2, progress=False)
    assert len(results) == 5
    rows = read_csv(out / "grades.csv")
    assert [r["student"] for r in rows] == ["empty_student", "s00", "s01", "s02", "s03"]
    assert float(rows[1]["total"]) == 12.0 and float(rows[2]["total"]) < 12.0
    assert "no .ipynb" in rows[0]["error"]
    data = json.loads((out / "s00" / A / "results.json").read_text())
    assert set(data) >= {"score", "execution_time", "output", "tests"}
    for test in data["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
        assert test["status"] in ("passed", "failed")
        assert test["visibility"] in ("visible", "after_due_date")
    extra = data["extra_data"]
    assert extra["grader_version"] and extra["checks_hash"] and extra["notebook_sha256"] and extra["isolation"]


def test_a_killed_batch_resumes_without_losing_or_duplicating_anything(tmp_path):
    submitted = make_class(tmp_path, 6)
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-m", "autograder", "grade-batch", str(submitted), "-a", A,
                                "-o", str(out), "--workers", "1", "-q"], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out.glob(f"*/{A}/results.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before = {p.parent.parent.name for p in out.glob(f"*/{A}/results.json")}
    assert 1 <= len(done_before) < 6, "the batch should have been killed midway"
    regraded = grading.grade_batch(submitted, A, out, workers=2, progress=False)
    assert {r.student for r in regraded} == {f"s{i:02d}" for i in range(6)} - done_before
    rows = read_csv(out / "grades.csv")
    assert sorted(r["student"] for r in rows) == [f"s{i:02d}" for i in range(6)]
    again = grading.grade_batch(submitted, A, out, workers=2, progress=False)
    assert again == [], "a finished batch grades nothing more"


def test_a_changed_notebook_is_graded_again(tmp_path):
    submitted = make_class(tmp_path, 2)
    out = tmp_path / "out"
    grading.grade_batch(submitted, A, out, workers=1, progress=False)
    samples.write_notebook(samples.make_notebook(A, BUG), submitted / "s00" / A / f"{A}.ipynb")
    regraded = grading.grade_batch(submitted, A, out, workers=1, progress=False)
    assert [r.student for r in regraded] == ["s00"]
    assert regraded[0].score < 12.0


def test_shards_partition_the_class_and_merge_to_the_unsharded_result(tmp_path):
    students = [f"student{i}" for i in range(40)]
    shards = [{s for s in students if grading.shard_of(s, 3) == k} for k in range(3)]
    assert set().union(*shards) == set(students)
    assert sum(len(s) for s in shards) == len(students)
    assert all(shards), "every shard gets someone"
    assert grading.shard_of("student7", 3) == grading.shard_of("student7", 3)
