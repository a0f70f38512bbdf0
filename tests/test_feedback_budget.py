"""A feedback page's budget: no notebook makes its page, or another student's, cost more than its seconds.

Timings here are bounds a loaded two-core machine meets with room to spare, far below what the
notebooks cost without the budget (a page of 150 000 formulas took about a minute).
"""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from autograder import cli
from autograder.judge.evaluate import CaseResult, GroupResult
from autograder.reports import feedback
from autograder.reports.results import SubmissionResult
from examples import samples

A = "01_rnn"
FLOOD = "$x_1$ " * 150_000  # one markdown cell, under a megabyte: far below the notebook size cap
OWN_CODE = "def rnn_cell_forward("  # in every filled notebook's solution cell, so on every complete page


def _result(student: str) -> dict:
    return SubmissionResult(student, A, [GroupResult("rnn_cell_forward_shape", "cell shape", 2.0, [
        CaseResult("float64", True, None, False), CaseResult("float32", False, "expected (3, 4), got (4, 3)",
                                                             False)])]).to_json()


def _notebook(flood: bool) -> dict:
    nb = samples.make_notebook(A)
    if flood:
        nb["cells"].insert(0, {"cell_type": "markdown", "id": "flood", "metadata": {}, "source": FLOOD})
    return nb


def _class(base: Path, students: list[str], flooded: set[str]) -> tuple[Path, Path]:
    """submitted/ and out/ as grade-batch leaves them: a notebook and a results.json a student."""
    submitted, out = base / "submitted", base / "out"
    for student in students:
        samples.write_notebook(_notebook(student in flooded), submitted / student / A / f"{A}.ipynb")
        (out / student / A).mkdir(parents=True)
        (out / student / A / "results.json").write_text(json.dumps(_result(student)), encoding="utf-8")
    return submitted, out


def _page(out: Path, student: str) -> BeautifulSoup:
    return BeautifulSoup((out / student / A / "feedback.html").read_text(encoding="utf-8"), "html.parser")


def _notes(soup: BeautifulSoup) -> str:
    return " ".join(note.get_text() for note in soup.select(".ag-summary .ag-note"))


def _shows_the_scores(soup: BeautifulSoup) -> bool:
    section = soup.find(id="check-rnn_cell_forward_shape")
    return (section is not None and "1 / 2" in section.find(class_="ag-score").get_text()
            and "expected (3, 4), got (4, 3)" in section.get_text())


def _is_complete(soup: BeautifulSoup) -> bool:
    return OWN_CODE in soup.get_text() and "results only" not in _notes(soup) and _shows_the_scores(soup)


def test_a_notebook_of_150_000_formulas_gets_its_page_within_its_budget_with_every_score(tmp_path):
    path = samples.write_notebook(_notebook(flood=True), tmp_path / f"{A}.ipynb")
    started = time.monotonic()
    soup = BeautifulSoup(feedback.render_feedback(path, _result("flo"), show_hidden=True, budget=10), "html.parser")
    assert time.monotonic() - started < 10 + 15
    notes = _notes(soup)
    assert "took longer than 10 s to render: results only" in notes or (
        "shown as the TeX written" in notes and len(soup.find_all("math")) == feedback.MAX_FORMULAS)
    assert _shows_the_scores(soup)


def test_a_flooded_notebook_in_a_batch_leaves_every_other_page_complete_and_the_batch_quick(tmp_path):
    students = [f"s{i}" for i in range(8)]  # eight pages: two processes
    submitted, out = _class(tmp_path, students, flooded={"s3"})
    started = time.monotonic()
    pages = feedback.write_batch_feedback(submitted, A, out, show_hidden=True, workers=2, budget=10)
    assert time.monotonic() - started < 45  # the flood alone took longer than a minute
    assert len(pages) == 8 and all(p.is_file() for p in pages)
    assert all(_is_complete(_page(out, s)) for s in students if s != "s3")
    assert _shows_the_scores(_page(out, "s3"))


def _hangs_on_eve_and_dies_on_dee(path: Path, *args) -> Path:
    """Writes every page but two: it hangs on eve's, as a render that never looks at its clock would, and
    its process dies on dee's, as one the kernel kills for its memory would."""
    student = Path(path).parent.parent.name
    if student == "eve":
        time.sleep(120)
    if student == "dee":
        os._exit(9)
    return feedback.write_feedback(path, *args)


def test_a_page_whose_process_hangs_or_dies_has_the_results_alone_and_the_other_pages_are_complete(
        tmp_path, monkeypatch):
    students = ["ada", "ben", "cy", "dee", "eve", "fay", "gus", "hal"]
    submitted, out = _class(tmp_path, students, flooded=set())
    monkeypatch.setattr(feedback, "_write_in_processes",
                        functools.partial(feedback._write_in_processes, write=_hangs_on_eve_and_dies_on_dee))
    monkeypatch.setattr(feedback, "PAGE_MARGIN", 1.0)
    started = time.monotonic()
    feedback.write_batch_feedback(submitted, A, out, show_hidden=True, workers=2, budget=8)
    assert time.monotonic() - started < 90  # not the two minutes eve's process would take
    eve, dee = _page(out, "eve"), _page(out, "dee")
    assert "took longer than 8 s to render: results only" in _notes(eve)
    assert "the process rendering it stopped" in _notes(dee)
    assert all(_shows_the_scores(p) and OWN_CODE not in p.get_text() for p in (eve, dee))
    assert all(_is_complete(_page(out, s)) for s in students if s not in ("eve", "dee"))
    assert multiprocessing.active_children() == []  # eve's process was stopped, not left behind


def test_a_tiny_budget_gives_the_results_with_a_note_saying_why(tmp_path):
    submitted, out = _class(tmp_path, ["ada", "ben"], flooded=set())
    feedback.write_batch_feedback(submitted, A, out, show_hidden=True, budget=0.001)
    for student in ("ada", "ben"):
        soup = _page(out, student)
        assert "The notebook took longer than 0.001 s to render: results only." in _notes(soup)
        assert _shows_the_scores(soup) and OWN_CODE not in soup.get_text()


def test_an_ordinary_notebook_s_page_is_the_same_under_any_budget_and_shows_its_cells(tmp_path):
    path = samples.write_notebook(_notebook(flood=False), tmp_path / f"{A}.ipynb")
    default = feedback.render_feedback(path, _result("ada"), show_hidden=True)
    unbounded = feedback.render_feedback(path, _result("ada"), show_hidden=True, budget=1e6)
    assert default == unbounded and feedback.LATE_NOTES not in default
    soup = BeautifulSoup(default, "html.parser")
    assert _is_complete(soup) and _notes(soup) == ""
    assert len(soup.select(".jp-Cell")) == len(samples.make_notebook(A)["cells"])
    markdown = " ".join(cell.get_text() for cell in soup.select(".jp-MarkdownOutput"))
    assert soup.find_all("math") and "$" not in markdown  # every formula typeset


def test_formulas_past_the_page_s_cap_stay_as_the_tex_written_and_the_page_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(feedback, "MAX_FORMULAS", 3)
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {},
          "cells": [{"cell_type": "markdown", "metadata": {}, "source": "$a_1$ $a_2$ $a_3$ $a_4$ $a_5$"}]}
    path = samples.write_notebook(nb, tmp_path / "few.ipynb")
    soup = BeautifulSoup(feedback.render_feedback(path, _result("ada"), show_hidden=True), "html.parser")
    assert len(soup.find_all("math")) == 3 and "$a_4$ $a_5$" in soup.find(class_="jp-MarkdownOutput").get_text()
    assert "2 formulas are shown as the TeX written: a page typesets at most 3 formulas" in _notes(soup)


def test_a_cell_too_big_for_the_cleaner_is_shown_as_written_and_the_rest_of_the_page_renders(tmp_path):
    table = "|a|b|\n|-|-|\n" + "|<b>1</b>|2|\n" * 20_000  # bleach takes minutes on one element of 20 000 rows
    nb = _notebook(flood=False)
    nb["cells"].insert(0, {"cell_type": "markdown", "id": "table", "metadata": {}, "source": table})
    path = samples.write_notebook(nb, tmp_path / f"{A}.ipynb")
    soup = BeautifulSoup(feedback.render_feedback(path, _result("ada"), show_hidden=True, budget=60), "html.parser")
    cell = soup.find(class_="jp-MarkdownOutput")
    assert "too many to lay out: it is shown as written" in cell.get_text() and cell.find("table") is None
    assert "|<b>1</b>|2|" in cell.find("pre").get_text() and _is_complete(soup)


def test_a_page_that_would_be_too_large_to_parse_again_has_the_results_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(feedback, "MAX_PAGE_TAGS", 1_000)
    path = samples.write_notebook(_notebook(flood=False), tmp_path / f"{A}.ipynb")
    soup = BeautifulSoup(feedback.render_feedback(path, _result("ada"), show_hidden=True), "html.parser")
    assert "too large to show" in _notes(soup) and _shows_the_scores(soup) and OWN_CODE not in soup.get_text()


def test_the_feedback_budget_is_an_option_of_every_command_that_writes_pages():
    parser = cli.build_parser()
    for argv in (["grade", "nb.ipynb"], ["grade-batch", "submitted", "-a", A], ["demo"]):
        assert parser.parse_args([*argv, "--feedback-budget", "2.5"]).feedback_budget == 2.5
        assert parser.parse_args(argv).feedback_budget is None  # the module's default, PAGE_BUDGET
    for bad in ("0", "-1", "nan", "soon"):
        with pytest.raises(SystemExit):
            parser.parse_args(["demo", "--feedback-budget", bad])
