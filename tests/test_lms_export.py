"""`autograder export-grades --csv FILE --format canvas|moodle`: the CSV each gradebook imports, from results.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.reports import gradebook


def write_results(out: Path, student: str, assignment: str, score: float, max_score: float,
                  grader_error: bool = False) -> None:
    path = out / student / assignment / "results.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "score": score, "output": "", "tests": [{"name": "cell", "score": score, "max_score": max_score}],
        "extra_data": {"student": student, "assignment": assignment, "max_score": max_score,
                       "grader_error": grader_error, "error": "the probe did not start" if grader_error else None}}))


@pytest.fixture
def graded(tmp_path: Path) -> Path:
    """Four students' results over two assignments: full marks, a fraction, a formula-like folder name, a
    grader error, and a student who did not hand in 02_lstm."""
    out = tmp_path / "graded"
    write_results(out, "ada", "01_rnn", 12.0, 12.0)
    write_results(out, "ada", "02_lstm", 7.25, 10.0)
    write_results(out, "ben", "01_rnn", 3.428571, 12.0)
    write_results(out, "=HYPERLINK(1)", "01_rnn", 0.0, 12.0)
    write_results(out, "=HYPERLINK(1)", "02_lstm", 10.0, 10.0)
    write_results(out, "cleo", "01_rnn", 0.0, 12.0, grader_error=True)
    return out


def export(graded: Path, tmp_path: Path, *options: str, assignments=("01_rnn", "02_lstm")) -> str:
    out = tmp_path / "export.csv"
    argv = ["export-grades", str(graded), *(f"-a={a}" for a in assignments), "--csv", str(out), *options]
    assert main(argv) == 0
    return out.read_text(encoding="utf-8")


# What Canvas's own gradebook export looks like (and its import reads): identity columns, a Points Possible row.
CANVAS_SAMPLE = """\
Student,ID,SIS User ID,SIS Login ID,Section,01_rnn,02_lstm
    Points Possible,,,,,12,10
'=HYPERLINK(1),,,'=HYPERLINK(1),,0,10
ada,,,ada,,12,7.25
ben,,,ben,,3.4286,
cleo,,,cleo,,,
"""


def test_canvas_csv_has_identity_columns_a_points_possible_row_and_plain_numbers(graded, tmp_path, capsys):
    assert export(graded, tmp_path, "--format", "canvas") == CANVAS_SAMPLE
    printed = capsys.readouterr().out
    assert "4 student(s), 2 assignment column(s), for Canvas's gradebook import" in printed
    assert "left blank, grader errors to grade again before importing: cleo (01_rnn)" in printed


CANVAS_ROSTER = """\
Student,ID,SIS User ID,SIS Login ID,Section,01_rnn (4411),folder
    Points Possible,,,,,12,
"Lovelace, Ada",1001,S-1,ada@uni.edu,Tue lab,,ada
"Franklin, Ben",1002,S-2,ben@uni.edu,Tue lab,,ben
"Cleo, Patra",1003,S-3,cleo@uni.edu,Wed lab,,cleo
"Hyper, Link",1004,S-4,link@uni.edu,Wed lab,,=HYPERLINK(1)
"""

CANVAS_WITH_ROSTER = """\
Student,ID,SIS User ID,SIS Login ID,Section,01_rnn (4411)
    Points Possible,,,,,12
"Hyper, Link",1004,S-4,link@uni.edu,Wed lab,0
"Lovelace, Ada",1001,S-1,ada@uni.edu,Tue lab,12
"Franklin, Ben",1002,S-2,ben@uni.edu,Tue lab,3.4286
"Cleo, Patra",1003,S-3,cleo@uni.edu,Wed lab,
"""


def test_canvas_export_with_a_folder_column_added_is_a_roster_and_columns_name_existing_assignments(graded,
                                                                                                    tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text(CANVAS_ROSTER, encoding="utf-8-sig")  # as a spreadsheet saves it, with a byte-order mark
    text = export(graded, tmp_path, "--format", "canvas", "--roster", str(roster), "--column", "01_rnn=01_rnn (4411)",
                  assignments=("01_rnn",))
    assert text == CANVAS_WITH_ROSTER


# Moodle's grade import: one column to map students by, one column per grade item.
MOODLE_SAMPLE = """\
username,01_rnn,02_lstm
'=HYPERLINK(1),0,10
ada,12,7.25
ben,3.4286,
cleo,,
"""


def test_moodle_csv_has_an_identifier_column_and_one_column_per_grade_item(graded, tmp_path):
    assert export(graded, tmp_path, "--format", "moodle") == MOODLE_SAMPLE


def test_moodle_csv_matches_students_by_the_identifiers_the_roster_gives(graded, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("folder,email,ID number\nada,ada@uni.edu,2001\nben,ben@uni.edu,2002\ncleo,cleo@uni.edu,\n"
                      "=HYPERLINK(1),link@uni.edu,2004\n", encoding="utf-8")
    text = export(graded, tmp_path, "--format", "moodle", "--roster", str(roster), "--column", "01_rnn=RNN (Real)",
                  assignments=("01_rnn",))
    assert text == ("email,idnumber,RNN (Real)\nlink@uni.edu,2004,0\nada@uni.edu,2001,12\nben@uni.edu,2002,3.4286\n"
                    "cleo@uni.edu,,\n")


def test_students_missing_from_the_roster_are_refused(graded, tmp_path, capsys):
    roster = tmp_path / "roster.csv"
    roster.write_text("folder,email\nada,ada@uni.edu\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="3 graded student\\(s\\) are not in the roster: =HYPERLINK\\(1\\), ben, cleo"):
        export(graded, tmp_path, "--format", "moodle", "--roster", str(roster))


def test_a_roster_needs_a_folder_column(tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_text("email\nada@uni.edu\n", encoding="utf-8")
    with pytest.raises(gradebook.GradebookError, match="no `folder` column"):
        gradebook.read_roster(roster)


@pytest.mark.parametrize("options, message", [
    (["--format", "nbgrader"], "takes one assignment"),
    (["--format", "canvas", "--column", "03_gru=GRU"], "--column takes ID=HEADER for an assignment given with -a"),
])
def test_options_that_do_not_fit_are_refused(graded, tmp_path, options, message):
    with pytest.raises(SystemExit, match=message):
        export(graded, tmp_path, *options)


def test_an_assignment_without_results_is_refused(graded, tmp_path):
    with pytest.raises(SystemExit, match="no results for 03_gru"):
        export(graded, tmp_path, "--format", "canvas", assignments=("01_rnn", "03_gru"))


@pytest.mark.parametrize("value, text", [(12.0, "12"), (7.25, "7.25"), (3.428571, "3.4286"), (1e-7, "0"),
                                         (0.00005, "0.0001"), (120000.0, "120000")])
def test_scores_are_written_as_plain_decimal_numbers(value, text):
    assert gradebook.number_cell(value) == text
