"""Grades from results.json into an nbgrader course: its gradebook database, or the CSV `nbgrader export` writes.

A course that runs nbgrader's formgrader keeps it: `grade-batch` does the grading, and the scores land where
nbgrader's own autograde would have put them. A test cell's grade_id is both the gradebook's grade cell name
and the check group id, so a grade cell's auto score is the sum of that group's entries in results.json.
Only nbgrader's Gradebook API touches the database, so its schema and migrations stay nbgrader's business.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path

from autograder import textsafe
from autograder.results import load_results, write_atomic

# The header of `nbgrader export` (nbgrader.plugins.export.CsvExportPlugin), in its order.
NBGRADER_CSV_COLUMNS = ("assignment", "duedate", "timestamp", "student_id", "last_name", "first_name", "email",
                        "raw_score", "late_submission_penalty", "score", "max_score")


class GradebookError(Exception):
    """The gradebook cannot take these results: missing, or made from other notebooks than the results were."""


def group_scores(results: dict) -> dict[str, float]:
    """check group id → points earned: a test cell's public and hidden entries added up."""
    scores: dict[str, float] = {}
    for test in results.get("tests", []):
        group = test.get("extra_data", {}).get("check_group")
        if group is None:
            raise GradebookError(f"an entry of {_who(results)}'s results.json names no check group: {test.get('name')}")
        scores[group] = scores.get(group, 0.0) + float(test.get("score", 0))
    return {group: round(score, 4) for group, score in scores.items()}


def _who(results: dict) -> str:
    return str(results.get("extra_data", {}).get("student") or "?")


def _sqlite_file(db_url: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(db_url[len(prefix):]) if db_url.startswith(prefix) and db_url != prefix + ":memory:" else None


def _pick_notebook(gb, assignment: str, notebook: str | None):
    """The gradebook's notebook entry: the one named, the assignment's only one, or the one named like it."""
    from nbgrader.api import MissingEntry

    try:
        entry = gb.find_assignment(assignment)
    except MissingEntry:
        raise GradebookError(
            f"assignment {assignment!r} is not in the gradebook: run `nbgrader generate_assignment {assignment}` in "
            "the course first (it records the assignment, its notebooks and grade cells)") from None
    names = sorted(nb.name for nb in entry.notebooks)
    if notebook is None:
        notebook = names[0] if len(names) == 1 else assignment
    if notebook not in names:
        raise GradebookError(f"assignment {assignment!r} in the gradebook has no notebook {notebook!r} "
                             f"(it has: {', '.join(names) or 'none'}); pass the notebook's name")
    return gb.find_notebook(notebook, assignment)


def _check_against(results: dict, cells: dict[str, float]) -> dict[str, float]:
    """Refuse results that do not fit the gradebook's grade cells: a stale gradebook must not take wrong scores."""
    scores = group_scores(results)
    unknown = sorted(set(scores) - set(cells))
    if unknown:
        raise GradebookError(
            f"{_who(results)}'s results have check groups the gradebook has no grade cell for: {', '.join(unknown)}; "
            "was the assignment regenerated (`nbgrader generate_assignment --force`) after its test cells changed?")
    for group, score in scores.items():
        if score > cells[group] + 1e-6:
            raise GradebookError(f"{_who(results)} scored {score:g} in {group}, but the gradebook's grade cell is "
                                 f"worth {cells[group]:g}: the gradebook's points differ from the notebook's")
    expected = round(sum(cells[group] for group in scores), 4)
    given = results.get("extra_data", {}).get("max_score")
    if given is not None and abs(float(given) - expected) > 1e-6:
        raise GradebookError(f"{_who(results)}'s results are out of {float(given):g} points, the gradebook's grade "
                             f"cells for the same checks are worth {expected:g}: regenerate the assignment")
    return scores


def export_to_gradebook(db_url: str, out_dir: Path, assignment: str, notebook: str | None = None) -> int:
    """Write out_dir/<student>/<assignment>/results.json into an nbgrader gradebook; returns the students written.

    Students and submissions missing from the gradebook are created; the assignment must already be there, as
    `nbgrader generate_assignment` records it. Each grade cell gets its check group's score as its auto score,
    like `nbgrader autograde` would. A manual score a grader already gave is kept and the cell is flagged for
    review, as nbgrader does; so is every cell of a submission the grader could not grade (a grader error).
    Grade cells no check group covers are left alone (they are graded by hand). Everything is checked before
    anything is written, so a stale gradebook refuses the whole batch.
    """
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.exc import SAWarning

    path = _sqlite_file(db_url)
    if path is not None and not path.is_file():
        raise GradebookError(f"no gradebook at {path}: run `nbgrader generate_assignment {assignment}` in the course "
                             "first, or pass the course's database URL (sqlite:///<course>/gradebook.db)")
    found = load_results(Path(out_dir), assignment)
    with Gradebook(db_url) as gb:
        entry = _pick_notebook(gb, assignment, notebook)
        cells = {cell.name: float(cell.max_score) for cell in entry.grade_cells}
        planned = []
        for results in found:
            student = results.get("extra_data", {}).get("student")
            if not student:
                raise GradebookError(f"a results.json under {out_dir} for {assignment} does not say whose it is")
            planned.append((str(student), _check_against(results, cells),
                            bool(results.get("extra_data", {}).get("grader_error"))))
        for student, scores, grader_error in planned:
            try:
                gb.find_student(student)
            except MissingEntry:
                gb.add_student(student)
            try:
                gb.find_submission(assignment, student)
            except MissingEntry:
                with warnings.catch_warnings():
                    # nbgrader's add_submission builds its rows in an order SQLAlchemy warns about; they are saved.
                    warnings.filterwarnings("ignore", message=".*not in session", category=SAWarning)
                    gb.add_submission(assignment, student)
            for group, score in scores.items():
                grade = gb.find_grade(group, entry.name, assignment, student)
                grade.auto_score = score
                grade.needs_manual_grade = grade.manual_score is not None or grader_error
            gb.db.commit()
    return len(planned)


def nbgrader_csv_rows(out_dir: Path, assignment: str) -> list[dict[str, str]]:
    """One `nbgrader export` row a student with results, filled from results.json.

    Names, e-mail, due date and submission time live in nbgrader's database, not in results.json: they stay
    empty, as nbgrader leaves them for a student or assignment without them. There is no late penalty here.
    """
    rows = []
    for results in load_results(Path(out_dir), assignment):
        extra = results.get("extra_data", {})
        raw = float(results.get("score", 0))
        rows.append({"assignment": assignment, "duedate": "", "timestamp": "",
                     "student_id": str(extra.get("student", "")), "last_name": "", "first_name": "", "email": "",
                     "raw_score": str(raw),
                     "late_submission_penalty": str(0.0), "score": str(max(0.0, raw)),
                     "max_score": str(float(extra.get("max_score") or 0))})
    return sorted(rows, key=lambda row: row["student_id"])


def write_nbgrader_csv(out_dir: Path, assignment: str, path: Path) -> Path:
    """Write the CSV `nbgrader export` would give for these results: its columns, its number format ("12.0")."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=NBGRADER_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    # a student id that would start a formula stays text (textsafe.csv_cell); numbers are written as they are
    rows = nbgrader_csv_rows(out_dir, assignment)
    writer.writerows({k: textsafe.csv_cell(v) for k, v in row.items()} for row in rows)
    write_atomic(Path(path), buffer.getvalue())
    return Path(path)
