"""The command line as students and instructors use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from examples import samples

pytestmark = pytest.mark.slow
A = "01_rnn"
ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autograder", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_check_passes_a_finished_notebook(tmp_path):
    path = samples.write_notebook(samples.make_notebook(A), tmp_path / "mine.ipynb")
    done = run("check", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "✓" in done.stdout and "✗" not in done.stdout
    assert "[hidden]" not in done.stdout


def test_check_on_a_half_finished_notebook_says_what_to_fix(tmp_path):
    bug = samples.replace_in(A, "rnn_forward", "layer_input.transpose(0, 1) if batch_first else layer_input",
                             "layer_input")
    nb = samples.make_notebook(A, bug)
    stub = next(c for c in json.loads((ROOT / "assignments" / A / f"{A}.ipynb").read_text())["cells"]
                if c["metadata"].get("nbgrader", {}).get("grade_id") == "count_rnn_params_solution")
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == "count_rnn_params_solution":
            cell["source"] = stub["source"]
    path = samples.write_notebook(nb, tmp_path / "half.ipynb")
    done = run("check", str(path))
    assert done.returncode == 1
    assert "not implemented yet" in done.stdout
    assert "batch_first" in done.stdout
    assert "axes look permuted" in done.stdout


def test_check_works_without_fork(tmp_path):
    """The path macOS and Windows laptops take: a fresh interpreter per probe, no namespaces."""
    path = samples.write_notebook(samples.make_notebook(A), tmp_path / "mine.ipynb")
    done = run("check", str(path), "--no-fork")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "isolation: a separate process" in done.stdout


def test_check_on_a_broken_file_says_so(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text('{"cells": [')
    done = run("check", str(path), "-a", A)
    assert done.returncode == 1
    assert "not valid JSON" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_grade_writes_results_json_with_hidden_cases(tmp_path):
    path = samples.write_notebook(samples.make_notebook(A), tmp_path / "mine.ipynb")
    done = run("grade", str(path), "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    data = json.loads((tmp_path / "out" / "results.json").read_text())
    assert data["score"] == 12
    assert {t["visibility"] for t in data["tests"]} == {"visible", "after_due_date"}


def test_unknown_assignment_is_a_clear_error(tmp_path):
    path = samples.write_notebook(samples.make_notebook(A), tmp_path / "mine.ipynb")
    done = run("check", str(path), "-a", "99_nope")
    assert done.returncode == 2
    assert "99_nope" in done.stderr and "Traceback" not in done.stderr


def test_demo_prints_the_score_table_and_writes_pages_and_reports(demo_run):
    done, out = demo_run
    assert done.returncode == 0, done.stderr
    assert "ada" in done.stdout and "12.00" in done.stdout
    assert "not valid JSON" in done.stdout
    assignments = sorted(p.name for p in (ROOT / "examples" / "submitted").glob("*/*") if p.is_dir())
    for assignment in set(assignments):
        assert (out / assignment / "grades.csv").is_file()
        assert (out / assignment / "report" / "index.html").is_file()
        assert (out / assignment / "ada" / assignment / "feedback.html").is_file()


def test_check_on_a_missing_file_says_it_is_missing_before_guessing_an_assignment(tmp_path):
    done = run("check", str(tmp_path / "nothere.ipynb"))
    assert done.returncode != 0
    assert "no such notebook" in done.stderr and "nothere.ipynb" in done.stderr
    assert "cannot tell which assignment" not in done.stderr


def test_an_unknown_notebook_lists_each_assignment_id_once(tmp_path):
    path = samples.write_notebook({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
                                  tmp_path / "mine.ipynb")
    done = run("check", str(path))
    assert done.returncode != 0 and "cannot tell which assignment" in done.stderr
    listed = done.stderr.split("one of ")[1].split(")")[0].split(", ")
    assert listed == sorted(set(listed)) and "01_rnn" in listed


@pytest.mark.parametrize(("layout", "says"), [
    ("flat", "holds notebooks directly"),
    ("empty", "holds no submissions"),
    ("other", "no submission of 01_rnn"),
])
def test_a_wrongly_laid_out_submissions_folder_names_the_expected_layout(tmp_path, layout, says):
    submitted = tmp_path / "submitted"
    submitted.mkdir()
    if layout == "flat":
        samples.write_notebook(samples.make_notebook(A), submitted / "ada.ipynb")
    elif layout == "other":
        samples.write_notebook(samples.make_notebook("02_lstm"), submitted / "ada" / "02_lstm" / "02_lstm.ipynb")
    done = run("grade-batch", str(submitted), "-a", A, "-o", str(tmp_path / "out"), "-q")
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert says in done.stderr and "<student>/<ID>/<ID>.ipynb" in done.stderr, done.stderr


def test_a_regrade_of_named_students_grades_only_them_and_drops_their_stale_feedback(tmp_path):
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    for student in ("ada", "ben", "cy"):
        samples.write_notebook(samples.make_notebook(A), submitted / student / A / f"{A}.ipynb")
    first = run("grade-batch", str(submitted), "-a", A, "-o", str(out), "-q", "--feedback")
    assert first.returncode == 0, first.stderr
    assert all((out / s / A / "feedback.html").is_file() for s in ("ada", "ben", "cy"))
    before = {s: (out / s / A / "results.json").stat().st_mtime_ns for s in ("ada", "ben", "cy")}
    again = run("grade-batch", str(submitted), "-a", A, "-o", str(out), "-q", "--student", "ben", "--student", "cy")
    assert again.returncode == 0, again.stderr
    assert "graded 2 submission(s)" in again.stdout
    assert (out / "ada" / A / "results.json").stat().st_mtime_ns == before["ada"]  # not graded again
    assert (out / "ada" / A / "feedback.html").is_file()
    for student in ("ben", "cy"):  # graded again although current; their old pages are gone, not stale
        assert (out / student / A / "results.json").stat().st_mtime_ns != before[student]
        assert not (out / student / A / "feedback.html").exists()
    unknown = run("grade-batch", str(submitted), "-a", A, "-o", str(out), "-q", "--student", "zed")
    assert unknown.returncode != 0 and "no submission of 01_rnn for zed" in unknown.stderr


def test_the_class_report_names_its_assignment(tmp_path):
    submitted, out = tmp_path / "submitted", tmp_path / "out"
    samples.write_notebook(samples.make_notebook(A), submitted / "ada" / A / f"{A}.ipynb")
    assert run("grade-batch", str(submitted), "-a", A, "-o", str(out), "-q").returncode == 0
    page = (out / "report" / "index.html").read_text(encoding="utf-8")
    assert f"<title>Class report — {A}</title>" in page and f"<h1>Class report — {A}</h1>" in page
