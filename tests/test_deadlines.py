"""Deadlines and late work: the course file, nbgrader's timestamp.txt, the penalty in every output."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from autograder.judge import deadlines
from examples import samples

A = "01_rnn"
NEW_YORK = """
timezone = "America/New_York"

[due]
01_rnn = "2026-10-02 23:59"

[late]
per = "day"
penalty = 0.10
cap = 0.30
zero_after_hours = 168

[extensions]
ext = { 01_rnn = "2026-10-09 23:59" }
"""


def policy(tmp_path: Path, text: str = NEW_YORK) -> deadlines.Deadlines:
    path = tmp_path / "course.toml"
    path.write_text(text, encoding="utf-8")
    return deadlines.load(path)


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-10-03 03:59:00.123456 UTC", datetime(2026, 10, 3, 3, 59, 0, 123456, tzinfo=timezone.utc)),
    ("2026-10-02T23:59:00-04:00", datetime(2026, 10, 3, 3, 59, tzinfo=timezone.utc)),
    ("2026-10-03T03:59:00Z", datetime(2026, 10, 3, 3, 59, tzinfo=timezone.utc)),
    ("  2026-10-02 23:59\n", datetime(2026, 10, 3, 3, 59, tzinfo=timezone.utc)),  # the course's zone (EDT)
])
def test_timestamps_in_every_form_nbgrader_and_people_write(tmp_path, text, expected):
    assert deadlines.parse_time(text, policy(tmp_path).zone) == expected


def test_the_due_date_is_read_in_the_courses_time_zone(tmp_path):
    due = policy(tmp_path).due[A]
    assert due.utcoffset().total_seconds() == -4 * 3600  # New York in October
    assert due.astimezone(timezone.utc) == datetime(2026, 10, 3, 3, 59, tzinfo=timezone.utc)


@pytest.mark.parametrize(("student", "timestamp", "penalty", "says"), [
    ("on_time", "2026-10-03 03:58:00 UTC", 0.0, None),  # 23:58 in New York: on time although the UTC date is later
    ("an_hour", "2026-10-03 04:59:00 UTC", 1.2, "1 day(s) late, 10%"),  # any part of a day counts as a day
    ("two_days", "2026-10-04 23:00:00 -04:00", 2.4, "2 day(s) late, 20%"),
    ("capped", "2026-10-08 12:00:00 UTC", 3.6, "30%"),  # 6 days: capped at 30%
    ("too_late", "2026-10-10 12:00:00 UTC", 12.0, "scores 0"),  # past 168 h
    ("ext", "2026-10-09 20:00:00 -04:00", 0.0, None),  # within the extension
    ("missing", None, 0.0, "no timestamp.txt"),
    ("garbled", "last tuesday", 0.0, "cannot be read"),
])
def test_the_late_policy(tmp_path, student, timestamp, penalty, says):
    late = deadlines.assess(policy(tmp_path), student, A, timestamp, max_score=12.0, raw_score=12.0)
    assert late.penalty == pytest.approx(penalty)
    assert (late.note is None) if says is None else (says in late.note), late.note


def test_a_penalty_never_takes_a_score_below_zero(tmp_path):
    late = deadlines.assess(policy(tmp_path), "s", A, "2026-10-05 12:00:00 UTC", max_score=12.0, raw_score=1.0)
    assert late.penalty == 1.0


@pytest.mark.parametrize(("text", "says"), [
    ("due = [", "not valid TOML"),
    ('timezone = "Mars/Olympus"\n[due]\n01_rnn = "2026-10-02 23:59"', "unknown time zone"),
    ('[due]\n01_rnn = "soon"', "due.01_rnn"),
    ('[due]\n01_rnn = "2026-10-02 23:59"\n[late]\npenalty = 2', "between 0 and 1"),
])
def test_a_broken_course_file_is_a_clear_error(tmp_path, text, says):
    with pytest.raises(deadlines.DeadlineError, match=says):
        policy(tmp_path, text)


def _grade(submitted: Path, out: Path, course: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", "grade-batch", str(submitted), "-a", A, "-o", str(out),
                           "-q", "--deadlines", str(course), *extra], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_end_to_end_penalties_reach_results_grades_csv_feedback_and_the_nbgrader_csv(tmp_path):
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    stamps = {"on_time": "2026-10-02 20:00:00.000000",  # no offset: the course's zone
              "two_days": "2026-10-05 01:00:00.000000 UTC", "missing": None, "garbled": "\x00\x01 not a date"}
    for student, stamp in stamps.items():
        samples.write_notebook(samples.make_notebook(A), submitted / student / A / f"{A}.ipynb")
        if stamp is not None:
            (submitted / student / A / "timestamp.txt").write_text(stamp, encoding="utf-8")
    course = tmp_path / "course.toml"
    course.write_text(NEW_YORK, encoding="utf-8")
    done = _grade(submitted, out, course, "--feedback")
    assert done.returncode == 0, done.stderr
    results = {s: json.loads((out / s / A / "results.json").read_text()) for s in stamps}
    assert results["on_time"]["score"] == 12.0 and results["on_time"]["extra_data"]["late"]["penalty"] == 0
    late = results["two_days"]
    assert late["score"] == pytest.approx(12.0 - 2.4) and late["extra_data"]["raw_score"] == 12.0
    assert "late work: submitted" in late["output"]
    for student in ("missing", "garbled"):
        assert results[student]["score"] == 12.0 and "no late penalty applied" in results[student]["output"]
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open(encoding="utf-8"))}
    assert float(rows["two_days"]["late_submission_penalty"]) == pytest.approx(2.4)
    assert float(rows["two_days"]["total"]) == pytest.approx(9.6)
    assert "2 day(s) late" in (out / "two_days" / A / "feedback.html").read_text(encoding="utf-8")
    export = subprocess.run([sys.executable, "-m", "autograder", "export-grades", str(out), "-a", A, "--csv",
                             str(tmp_path / "nbgrader.csv")], capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    exported = {r["student_id"]: r for r in csv.DictReader((tmp_path / "nbgrader.csv").open(encoding="utf-8"))}
    assert float(exported["two_days"]["late_submission_penalty"]) == pytest.approx(2.4)
    assert float(exported["two_days"]["raw_score"]) == 12.0 and float(exported["two_days"]["score"]) == 9.6
    assert exported["two_days"]["timestamp"].startswith("2026-10-05T01:00")

    # A changed due date changes the grade: a resumed batch applies it (nothing else changed).
    course.write_text(NEW_YORK.replace('01_rnn = "2026-10-02 23:59"', '01_rnn = "2026-10-06 23:59"'), encoding="utf-8")
    again = _grade(submitted, out, course)
    assert again.returncode == 0 and "graded 4 submission(s)" in again.stdout, again.stdout
    assert json.loads((out / "two_days" / A / "results.json").read_text())["score"] == 12.0
