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

from autograder.course import PACKAGE_DIR
from autograder.judge import grading
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


def test_what_decides_a_grade_changes_the_fingerprint_and_a_resumed_batch_grades_again(tmp_path, monkeypatch):
    from autograder.judge import byhand
    from autograder.judge.runner import Limits

    base = grading.plan_assignment(A).checks_hash
    assert grading.plan_assignment(A).checks_hash == base  # stable: a finished batch stays finished
    assert grading.plan_assignment(A, limits=Limits(call_seconds=3)).checks_hash != base
    submitted = make_class(tmp_path, 2)
    out = tmp_path / "out"
    grading.grade_batch(submitted, A, out, workers=1, progress=False)
    assert grading.grade_batch(submitted, A, out, workers=1, progress=False) == []
    monkeypatch.setenv(byhand.POLICY_ENV, "review")  # the by-hand policy decides grades too
    assert grading.plan_assignment(A).checks_hash != base
    regraded = grading.grade_batch(submitted, A, out, workers=1, progress=False)
    assert sorted(r.student for r in regraded) == ["s00", "s01"]


def test_the_fingerprint_covers_every_module_of_the_grading_path_and_no_output_module():
    from autograder import checks

    names = {p.relative_to(PACKAGE_DIR).as_posix() for p in checks.grading_files()}
    assert {"judge/evaluate.py", "wire.py", "probe/serve.py", "judge/supervise.py", "judge/runner.py",
            "probe/sandbox.py", "judge/byhand.py", "probe/trace.py", "probe/execute.py", "notebook.py",
            "reports/results.py", "checks/answers.py", "probe/recipes/devices.py"} <= names
    assert not names & {"reports/feedback.py", "reports/class_report.py", "reports/ci.py", "reports/gradebook.py",
                        "reports/merge.py", "cli.py"}
    assert "autograder.data_text" in checks.notebook_imports("05_embeddings")  # what its notebook imports


def test_a_changed_line_in_the_grading_code_grades_a_resumed_batch_again(tmp_path, monkeypatch):
    from autograder import checks

    submitted = make_class(tmp_path, 2)
    out = tmp_path / "out"
    grading.grade_batch(submitted, A, out, workers=1, progress=False)
    real = checks._source_bytes

    def edited(name):
        return lambda path: real(path) + (b"\n# one line changed\n" if path.name == name else b"")

    before = grading.plan_assignment(A).checks_hash
    monkeypatch.setattr(checks, "_source_bytes", edited("feedback.py"))  # output only: nothing to regrade
    assert grading.plan_assignment(A).checks_hash == before
    assert grading.grade_batch(submitted, A, out, workers=1, progress=False) == []
    monkeypatch.setattr(checks, "_source_bytes", edited("evaluate.py"))
    assert grading.plan_assignment(A).checks_hash != before
    regraded = grading.grade_batch(submitted, A, out, workers=1, progress=False)
    assert sorted(r.student for r in regraded) == ["s00", "s01"]


def test_the_probe_sides_start_up_is_not_counted_in_the_first_students_time(tmp_path, monkeypatch):
    from autograder.judge import runner

    real, waited = runner.ZygoteLauncher.wait_ready, []

    def slow_start(self, timeout: float = 60.0) -> None:
        if not waited:  # the first wait stands for a zygote that takes 3 s more to import torch
            waited.append(True)
            time.sleep(3.0)
        real(self, timeout)

    monkeypatch.setattr(runner.ZygoteLauncher, "wait_ready", slow_start)
    results = grading.grade_batch(make_class(tmp_path, 2), A, tmp_path / "out", workers=2, progress=False, fork=True)
    assert waited and len(results) == 2
    assert all(r.execution_time < 3.0 for r in results), [r.execution_time for r in results]


def test_a_grader_fault_on_one_submission_costs_only_that_one_and_is_graded_again(tmp_path, monkeypatch):
    submitted = make_class(tmp_path, 3)
    out = tmp_path / "out"
    real = grading.grade_notebook

    def faulty(plan, path, *args, **kwargs):
        if path.parent.parent.name == "s01":
            raise RuntimeError("an unforeseen fault")
        return real(plan, path, *args, **kwargs)

    monkeypatch.setattr(grading, "grade_notebook", faulty)
    results = {r.student: r for r in grading.grade_batch(submitted, A, out, workers=2, progress=False)}
    assert set(results) == {"s00", "s01", "s02"}
    assert not results["s00"].grader_error and not results["s02"].grader_error and results["s00"].score > 0
    assert results["s01"].grader_error and "RuntimeError: an unforeseen fault" in results["s01"].error
    rows = {r["student"]: r for r in read_csv(out / "grades.csv")}
    assert set(rows) == {"s00", "s01", "s02"}
    monkeypatch.setattr(grading, "grade_notebook", real)
    again = grading.grade_batch(submitted, A, out, workers=2, progress=False)
    assert [(r.student, r.grader_error, r.error) for r in again] == [("s01", False, None)] and again[0].score > 0


def test_shards_partition_the_class_and_merge_to_the_unsharded_result(tmp_path):
    students = [f"student{i}" for i in range(40)]
    shards = [{s for s in students if grading.shard_of(s, 3) == k} for k in range(3)]
    assert set().union(*shards) == set(students)
    assert sum(len(s) for s in shards) == len(students)
    assert all(shards), "every shard gets someone"
    assert grading.shard_of("student7", 3) == grading.shard_of("student7", 3)


def _comparable(results_file: Path) -> dict:
    """A results.json without what legitimately differs between two runs of the same grading."""
    data = json.loads(results_file.read_text())
    data.pop("execution_time")
    data["extra_data"].pop("captured_output")
    data["extra_data"]["isolation"] = data["extra_data"]["isolation"].split(", unprivileged uid")[0]  # per worker
    return data


def test_a_class_graded_in_three_shards_and_merged_equals_the_unsharded_grading(tmp_path):
    submitted = make_class(tmp_path, 7)
    whole = tmp_path / "whole"
    grading.grade_batch(submitted, A, whole, workers=2, progress=False)
    shard_dirs = []
    for k in (1, 2, 3):
        shard_dir = tmp_path / f"shard{k}"
        subprocess.run([sys.executable, "-m", "autograder", "grade-batch", str(submitted), "-a", A, "-o",
                        str(shard_dir), "--shard", f"{k}/3", "-q"], check=True, capture_output=True, timeout=300)
        shard_dirs.append(shard_dir)
    graded = [{p.parent.parent.name for p in d.glob(f"*/{A}/results.json")} for d in shard_dirs]
    assert all(graded) and sum(map(len, graded)) == 7 and set().union(*graded) == {f"s{i:02d}" for i in range(7)}

    merged = tmp_path / "merged"
    run = subprocess.run([sys.executable, "-m", "autograder", "merge", *map(str, shard_dirs), "-o", str(merged)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert (merged / "grades.csv").read_text() == (whole / "grades.csv").read_text()
    for path in whole.glob(f"*/{A}/results.json"):
        got, want = _comparable(merged / path.relative_to(whole)), _comparable(path)
        assert got == want, {k: (got["extra_data"].get(k), v) for k, v in want["extra_data"].items()
                             if got["extra_data"].get(k) != v}

    # Merging again (a shard uploaded twice) changes nothing; shards that disagree are refused.
    again = subprocess.run([sys.executable, "-m", "autograder", "merge", *map(str, shard_dirs), str(shard_dirs[0]),
                            "-o", str(merged)], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    conflicting = tmp_path / "conflict"
    student = sorted(graded[0])[0]
    (conflicting / student / A).mkdir(parents=True)
    (conflicting / student / A / "results.json").write_text('{"score": 0, "tests": []}')
    refused = subprocess.run([sys.executable, "-m", "autograder", "merge", str(shard_dirs[0]), str(conflicting),
                              "-o", str(tmp_path / "m2")], capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "two shards" in refused.stderr
