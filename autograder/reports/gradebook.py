"""Grades from results.json into an nbgrader course: its gradebook database, or the CSV `nbgrader export` writes.

A course that runs nbgrader's formgrader keeps it: `grade-batch` does the grading, and the scores land where
nbgrader's own autograde would have put them. A test cell's grade_id is both the gradebook's grade cell name
and the check group id, so a grade cell's auto score is the sum of that group's entries in results.json.
Only nbgrader's Gradebook API touches the database, so its schema and migrations stay nbgrader's business.

Courses whose grades live in a learning management system get the CSV its gradebook imports: Canvas's
(identity columns, a "Points Possible" row, a column per assignment) or Moodle's (an identifier column and
a column per grade item), one row a student, students named by their folder unless a roster maps them.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from autograder.i18n import _
from autograder.reports import textsafe
from autograder.reports.results import late_penalty, load_results, write_atomic

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
            raise GradebookError(_("an entry of {student}'s results.json names no check group: {name}").format(
                student=_who(results), name=test.get("name")))
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
            _("assignment {name} is not in the gradebook: run `nbgrader generate_assignment {assignment}` in the "
              "course first (it records the assignment, its notebooks and grade cells)").format(
                name=repr(assignment), assignment=assignment)) from None
    names = sorted(nb.name for nb in entry.notebooks)
    if notebook is None:
        notebook = names[0] if len(names) == 1 else assignment
    if notebook not in names:
        raise GradebookError(_("assignment {assignment} in the gradebook has no notebook {notebook} (it has: "
                               "{names}); pass the notebook's name").format(
            assignment=repr(assignment), notebook=repr(notebook), names=", ".join(names) or _("none")))
    return gb.find_notebook(notebook, assignment)


def _check_against(results: dict, cells: dict[str, float]) -> dict[str, float]:
    """Refuse results that do not fit the gradebook's grade cells: a stale gradebook must not take wrong scores."""
    scores = group_scores(results)
    unknown = sorted(set(scores) - set(cells))
    if unknown:
        raise GradebookError(
            _("{student}'s results have check groups the gradebook has no grade cell for: {groups}; was the "
              "assignment regenerated (`nbgrader generate_assignment --force`) after its test cells changed?").format(
                student=_who(results), groups=", ".join(unknown)))
    for group, score in scores.items():
        if score > cells[group] + 1e-6:
            raise GradebookError(_("{student} scored {score} in {group}, but the gradebook's grade cell is worth "
                                   "{points}: the gradebook's points differ from the notebook's").format(
                student=_who(results), score=f"{score:g}", group=group, points=f"{cells[group]:g}"))
    expected = round(sum(cells[group] for group in scores), 4)
    given = results.get("extra_data", {}).get("max_score")
    if given is not None and abs(float(given) - expected) > 1e-6:
        raise GradebookError(_("{student}'s results are out of {given} points, the gradebook's grade cells for the "
                               "same checks are worth {expected}: regenerate the assignment").format(
            student=_who(results), given=f"{float(given):g}", expected=f"{expected:g}"))
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
        raise GradebookError(_("no gradebook at {path}: run `nbgrader generate_assignment {assignment}` in the "
                               "course first, or pass the course's database URL (sqlite:///<course>/gradebook.db)")
                             .format(path=path, assignment=assignment))
    found = load_results(Path(out_dir), assignment)
    with Gradebook(db_url) as gb:
        entry = _pick_notebook(gb, assignment, notebook)
        cells = {cell.name: float(cell.max_score) for cell in entry.grade_cells}
        planned = []
        for results in found:
            student = results.get("extra_data", {}).get("student")
            if not student:
                raise GradebookError(_("a results.json under {folder} for {assignment} does not say whose it is")
                                     .format(folder=out_dir, assignment=assignment))
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

    Names and e-mail live in nbgrader's database, not in results.json: they stay empty, as nbgrader leaves
    them for a student without them. The due date, submission time and late penalty are the ones grading
    applied from the course's deadlines (see autograder.judge.deadlines), empty where there were none.
    """
    rows = []
    for results in load_results(Path(out_dir), assignment):
        extra = results.get("extra_data", {})
        late = extra.get("late") if isinstance(extra.get("late"), dict) else {}
        penalty = late_penalty(results)
        raw = float(extra.get("raw_score", float(results.get("score", 0)) + penalty))
        rows.append({"assignment": assignment, "duedate": str(late.get("due") or ""),
                     "timestamp": str(late.get("submitted") or ""),
                     "student_id": str(extra.get("student", "")), "last_name": "", "first_name": "", "email": "",
                     "raw_score": str(raw),
                     "late_submission_penalty": str(penalty), "score": str(max(0.0, raw - penalty)),
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


# ---------------------------------------------------------------- Canvas and Moodle

# Canvas's gradebook CSV, as its Export writes and its Import reads: these identity columns, one column per
# assignment ("Name (Canvas id)" for an existing assignment, a bare name for a new one), and a second row that
# gives each assignment's points possible.
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "    Points Possible"
# What Moodle's grade import can match a student by (its "Map from"), in the order they are written.
MOODLE_IDENTITY = ("username", "email", "idnumber")
ROSTER_FIELDS = ("folder", "name", "id", "sis_user_id", "sis_login_id", "section", *MOODLE_IDENTITY)
# Canvas's and Moodle's own export headers, as read_roster normalises them.
ROSTER_ALIASES = {"student": "name", "id_number": "idnumber", "email_address": "email"}
Roster = dict[str, dict[str, str]]  # folder name → that student's ids, by ROSTER_FIELDS name


@dataclass
class LmsExport:
    path: Path
    students: int
    blank: list[str]  # "student (assignment)" cells left empty: a grader error, to grade again before importing


def number_cell(value: float) -> str:
    """A score as an importer reads a number: a decimal point, no exponent, no trailing zeros ("7.25", "12")."""
    text = f"{round(float(value), 4):.4f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def read_roster(path: Path) -> Roster:
    """A roster CSV: folder name → that student's ids. Its header needs `folder`; the others it may have are
    name, id, sis_user_id, sis_login_id, section (Canvas) and username, email, idnumber (Moodle). Headers are
    read without case, with spaces as underscores and the two systems' own names ("Student", "SIS Login ID",
    "Email address", "ID number"), so either one's gradebook export with a folder column added is a roster.
    Rows without a folder (Canvas's "Points Possible" row) are skipped."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise GradebookError(_("cannot read the roster {path}: {error}").format(path=path, error=exc)) from None
    reader = csv.reader(io.StringIO(text))
    header = [re.sub(r"[\s-]+", "_", cell.strip().lower()) for cell in next(reader, [])]
    header = [ROSTER_ALIASES.get(cell, cell) for cell in header]
    if "folder" not in header:
        raise GradebookError(_("the roster {path} has no `folder` column (each student's folder name under "
                               "graded/)").format(path=path))
    roster: Roster = {}
    for row in reader:
        entry = {key: value.strip() for key, value in zip(header, row) if key in ROSTER_FIELDS and value.strip()}
        folder = entry.pop("folder", "")
        if not folder:
            continue
        if folder in roster:
            raise GradebookError(_("the roster {path} lists the folder {folder} twice").format(path=path,
                                                                                               folder=repr(folder)))
        roster[folder] = entry
    return roster


def _lms_scores(out_dir: Path, assignments: list[str],
                roster: Roster | None) -> tuple[dict[str, dict[str, float | None]], dict[str, float]]:
    """student → assignment → score (None for a grader error), and each assignment's points possible."""
    scores: dict[str, dict[str, float | None]] = {}
    possible: dict[str, float] = {}
    for assignment in assignments:
        found = load_results(Path(out_dir), assignment)
        if not found:
            raise GradebookError(_("no results for {assignment} under {folder} ({layout})").format(
                assignment=assignment, folder=out_dir, layout=f"<student>/{assignment}/results.json"))
        for results in found:
            extra = results.get("extra_data", {})
            if not extra.get("student"):
                raise GradebookError(_("a results.json under {folder} for {assignment} does not say whose it is")
                                     .format(folder=out_dir, assignment=assignment))
            score = None if extra.get("grader_error") else float(results.get("score", 0))
            scores.setdefault(str(extra["student"]), {})[assignment] = score
            possible[assignment] = max(possible.get(assignment, 0.0), float(extra.get("max_score") or 0))
    if roster is not None:
        missing = sorted(set(scores) - set(roster))
        if missing:
            raise GradebookError(_("{count} graded student(s) are not in the roster: {students}").format(
                count=len(missing), students=", ".join(missing[:10]) + (" …" if len(missing) > 10 else "")))
    return scores, possible


def _write_csv(path: Path, rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    # student-derived text (folders, roster names) that would start a formula stays text; numbers stay numbers
    csv.writer(buffer, lineterminator="\n").writerows([textsafe.csv_cell(cell) for cell in row] for row in rows)
    write_atomic(Path(path), buffer.getvalue())


def _score_cells(student: str, scores: dict[str, float | None], assignments: list[str], blank: list[str]) -> list[str]:
    cells = []
    for assignment in assignments:
        score = scores.get(assignment)
        if score is None and assignment in scores:
            blank.append(f"{student} ({assignment})")
        cells.append("" if score is None else number_cell(score))
    return cells


def write_canvas_csv(out_dir: Path, assignments: list[str], path: Path, roster: Roster | None = None,
                     columns: dict[str, str] | None = None) -> LmsExport:
    """The CSV Canvas's gradebook imports: Student, ID, SIS User ID, SIS Login ID, Section, then a column per
    assignment (headed `columns[assignment]`, else the assignment id: a new assignment in Canvas), a Points
    Possible row, and a row per student. Without a roster, Student and SIS Login ID are the folder name. A
    submission the grader could not grade (a grader error) is left blank, which Canvas leaves ungraded."""
    scores, possible = _lms_scores(out_dir, assignments, roster)
    columns = columns or {}
    rows = [[*CANVAS_IDENTITY, *(columns.get(a, a) for a in assignments)],
            [CANVAS_POINTS_ROW, *[""] * (len(CANVAS_IDENTITY) - 1), *(number_cell(possible[a]) for a in assignments)]]
    blank: list[str] = []
    for student in sorted(scores):
        who = roster[student] if roster is not None else {"sis_login_id": student}
        rows.append([who.get("name", student), who.get("id", ""), who.get("sis_user_id", ""),
                     who.get("sis_login_id", ""), who.get("section", ""),
                     *_score_cells(student, scores[student], assignments, blank)])
    _write_csv(path, rows)
    return LmsExport(Path(path), len(scores), blank)


def write_moodle_csv(out_dir: Path, assignments: list[str], path: Path, roster: Roster | None = None,
                     columns: dict[str, str] | None = None) -> LmsExport:
    """The CSV Moodle's grade import (Grades → Import → CSV file) reads: the identifier columns the roster has
    among username, email and idnumber (without a roster: username, the folder name), then a column per
    assignment to map onto a grade item. Grader errors are left blank, as in `write_canvas_csv`."""
    scores, _ = _lms_scores(out_dir, assignments, roster)
    identity = ([field for field in MOODLE_IDENTITY if any(field in who for who in roster.values())]
                if roster is not None else ["username"])
    if not identity:
        raise GradebookError(_("the roster has none of username, email or idnumber, which Moodle matches students "
                               "by"))
    columns = columns or {}
    rows = [[*identity, *(columns.get(a, a) for a in assignments)]]
    blank: list[str] = []
    for student in sorted(scores):
        who = roster[student] if roster is not None else {"username": student}
        rows.append([*(who.get(field, "") for field in identity),
                     *_score_cells(student, scores[student], assignments, blank)])
    _write_csv(path, rows)
    return LmsExport(Path(path), len(scores), blank)
