"""Parity with the real nbgrader: the same released notebooks, the same scores, and grades exported back to it.

One nbgrader course is set up for the module: `nbgrader generate_assignment` on every solutions/ notebook, then
`nbgrader autograde` and `autograder grade-batch` on the same few 01_rnn submissions (run side by side, since
each pays its own start-up). Well-behaved submissions must score the same under both, test cell by test cell.
Where nbgrader is harsh or wrong, each test asserts what nbgrader gives AND what autograder gives; docs/nbgrader.md
lists those differences.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from conftest import edit_cell
from nbgrader_course import ROOT, Course, gradebook_scores, make_course, results_scores

from autograder import inline, notebook
from autograder.authoring import release
from autograder.reports import gradebook
from examples import samples

pytestmark = pytest.mark.slow

A = "01_rnn"
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())
CELL, FORWARD, SHAPES, COUNT = "rnn_cell_forward", "rnn_forward", "rnn_shapes_solution", "count_rnn_params_solution"
POINTS = {c.grade_id: c.points for c in notebook.test_cells(notebook.read(ROOT / "solutions" / A / f"{A}.ipynb"))}
ZERO = dict.fromkeys(POINTS, 0.0)
# Both executors round a test cell's points to 4 decimals, and the totals agree to that. results.json splits a
# cell into a public and a hidden entry, each rounded on its own, so a cell read back from it (the sum of its
# entries) can be 0.0001 off: 4 of 7 cases passed is 0.5714, but 3/7 + 1/7 is 0.4286 + 0.1429.
CELL_TOLERANCE = 2e-4
TOTAL_TOLERANCE = 1e-6
SUMS = CELL_TOLERANCE * len(POINTS)  # a total added up from cells read back from results.json
# nbgrader's per-cell limit sits well above the in-notebook executor's per-call alarm, so a looping function is
# stopped by the check itself under both graders, never by nbgrader killing the cell.
NBGRADER_CELL_SECONDS = 6 * int(inline.CALL_SECONDS)

BEFORE_SHAPES_BODY = "    if batch_first:\n        input_shape"


def shapes_runs_first(code: str) -> dict[str, str]:
    """The reference rnn_shapes with `code` (indented) run before its body."""
    indented = "".join(f"    {line}\n" for line in code.splitlines())
    return edit_cell(A, SHAPES, (BEFORE_SHAPES_BODY, indented + BEFORE_SHAPES_BODY))


@dataclass(frozen=True)
class Submission:
    overrides: dict[str, str] | None = None
    added: list[tuple[str, str]] | None = None
    filled: bool = True


# Well behaved: both graders must agree on every test cell.
WELL_BEHAVED = {
    "reference": Submission(),
    # One bug of each kind a check must survive, one function each: wrong values (relu ignored), wrong shapes
    # and an exception (batch_first ignored, h_0=None crashes), an exception on every call (a typo), and a loop
    # that never ends on bidirectional cases (the per-call alarm stops it inside the check).
    "one_bug_per_function": Submission(overrides={
        **edit_cell(A, CELL, ("return torch.relu(pre_activation)", "return torch.tanh(pre_activation)")),
        **edit_cell(A, FORWARD, ("    if batch_first:\n        x = x.transpose(0, 1)\n", ""),
                    ("    if h_0 is None:\n        h_0 = x.new_zeros(len(layers), batch, hidden_size)\n", "")),
        **edit_cell(A, SHAPES, ("state_shape = (num_layers, batch, hidden_size)",
                                "state_shape = (num_layers, batch, hidden_dim)")),
        **edit_cell(A, COUNT, ("    num_directions = 2 if bidirectional else 1\n",
                               "    num_directions = 2 if bidirectional else 1\n    while bidirectional:\n"
                               "        pass\n")),
    }),
}
ONE_BUG_LOSES = {"rnn_cell_forward_values", "rnn_forward_shape", "rnn_forward_values", "rnn_shapes",
                 "count_rnn_params"}


@dataclass(frozen=True)
class Harsh:
    """A submission nbgrader scores differently: what each grader gives, per test cell, and why."""

    submission: Submission
    nbgrader: dict[str, float]
    autograder: dict[str, float]
    kernel_dies: bool = False


HARSH = {
    # The kernel dies in a top-level cell: nbgrader fails the whole submission; we skip that cell.
    "exit_in_cell": Harsh(Submission(added=[(CELL, "import os\nos._exit(3)")]), ZERO, POINTS, kernel_dies=True),
    "segfault_in_cell": Harsh(Submission(added=[(CELL, "import ctypes\nctypes.string_at(0)")]), ZERO, POINTS,
                              kernel_dies=True),
    # The kernel dies inside a check: nbgrader fails the whole submission; we fail that function's checks.
    "exit_in_function": Harsh(Submission(overrides=shapes_runs_first("import os\nos._exit(0)")), ZERO,
                              {**POINTS, "rnn_shapes": 0.0}, kernel_dies=True),
    # A logging handler made before the check cell writes to the kernel's stderr: nbgrader scores the cell 0.
    "stderr_in_check": Harsh(Submission(
        added=[("setup", "import logging\nlogging.basicConfig(level=logging.INFO)")],
        overrides=shapes_runs_first('logging.info("rnn_shapes(%d, %d, ...)", input_size, hidden_size)')),
        {**POINTS, "rnn_shapes": 0.0}, POINTS),
    # An unfinished notebook that rebinds `check`: a test cell with no value and no error is full marks to nbgrader.
    "check_redefined": Harsh(Submission(filled=False, added=[("setup", "def check(*args, **kwargs):\n    pass")]),
                             POINTS, ZERO),
}
SUBMISSIONS = {**WELL_BEHAVED, **{name: case.submission for name, case in HARSH.items()}}


# ---------------------------------------------------------------- the course, set up once

@dataclass
class Graded:
    course: Course
    fresh_db: Path  # the gradebook as generate_assignment left it: assignments and grade cells, no students
    out: Path  # autograder grade-batch's output folder
    autograde_rc: int
    nbgrader: dict[str, dict]
    ours: dict[str, dict]


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> tuple[Course, Path]:
    base = tmp_path_factory.mktemp("nbgrader")
    made = make_course(base / "course", ASSIGNMENTS, cell_timeout=NBGRADER_CELL_SECONDS)
    fresh = base / "fresh_gradebook.db"
    shutil.copyfile(made.root / "gradebook.db", fresh)
    return made, fresh


@pytest.fixture(scope="module")
def graded(course: tuple[Course, Path]) -> Graded:
    made, fresh = course
    assert made.released(A).exists(), f"nbgrader did not generate {A}:\n{made.log_tail()}"
    for name, spec in SUBMISSIONS.items():
        made.submit(name, A, samples.make_notebook(A, spec.overrides, spec.added, spec.filled))
    out = made.root.parent / "graded"
    # Side by side: nbgrader runs one kernel at a time, so the second core is free for grade-batch.
    with open(made.root.parent / "grade-batch.log", "wb") as log:
        ours = subprocess.Popen([str(made.tool("autograder")), "grade-batch", str(made.root / "submitted"), "-a", A,
                                 "-o", str(out), "--workers", "1", "-q"], env=made.env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            autograde_rc = made.nbgrader("autograde", A, "--force", check=False)
        finally:
            ours_rc = ours.wait(timeout=600)
    assert ours_rc == 0, (made.root.parent / "grade-batch.log").read_text(errors="replace")[-3000:]
    names = list(SUBMISSIONS)
    results = {name: json.loads((out / name / A / "results.json").read_text(encoding="utf-8")) for name in names}
    return Graded(made, fresh, out, autograde_rc, gradebook_scores(made.db_url, A, names),
                  {name: results_scores(data) for name, data in results.items()})


def same_scores(left: dict[str, dict], right: dict[str, dict]) -> bool:
    """Two student → {"cells", "total", "max"} tables agree, to the 4 decimals both graders keep."""
    return left.keys() == right.keys() and all(
        differences(left[s]["cells"], right[s]["cells"]) == {} and abs(left[s]["total"] - right[s]["total"]) < SUMS
        and left[s]["max"] == right[s]["max"] for s in left)


def differences(left: dict[str, float], right: dict[str, float]) -> dict[str, tuple]:
    return {cell: (left.get(cell), right.get(cell)) for cell in sorted(left.keys() | right.keys())
            if left.get(cell) is None or right.get(cell) is None or abs(left[cell] - right[cell]) > CELL_TOLERANCE}


def cell_text(path: Path, grade_id: str) -> str:
    """Everything a cell of an executed notebook showed: streams, values and errors."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if notebook.grade_id(c) == grade_id)
    parts = []
    for output in cell.get("outputs", []):
        parts.append("".join(output.get("text", "")))
        parts.append("".join(output.get("data", {}).get("text/plain", "")))
        parts.append(f"{output.get('ename', '')}: {output.get('evalue', '')}")
    return "\n".join(parts)


# ---------------------------------------------------------------- generate_assignment == autograder release

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_nbgrader_generate_assignment_gives_the_notebook_autograder_release_gives(assignment, course):
    made, _ = course
    assert made.released(assignment).exists(), f"nbgrader did not generate {assignment}:\n{made.log_tail()}"
    theirs = json.loads(made.released(assignment).read_text(encoding="utf-8"))
    # The very file nbgrader was given: solutions/ may be edited while the test runs.
    given = made.root / "source" / assignment / f"{assignment}.ipynb"
    ours = json.loads(nbformat.writes(release.release_notebook(given)))
    assert theirs["metadata"] == ours["metadata"]
    assert [notebook.grade_id(c) for c in theirs["cells"]] == [notebook.grade_id(c) for c in ours["cells"]]
    for mine, nbgraders in zip(ours["cells"], theirs["cells"]):
        assert mine == nbgraders, f"cell {notebook.grade_id(mine)!r} differs"
    assert theirs == ours


# ---------------------------------------------------------------- autograde == grade-batch

@pytest.mark.parametrize("name", WELL_BEHAVED)
def test_well_behaved_submission_scores_the_same_under_both_graders(graded, name):
    theirs, ours = graded.nbgrader.get(name), graded.ours[name]
    assert theirs is not None, f"nbgrader did not grade {name}:\n{graded.course.log_tail()}"
    assert differences(theirs["cells"], ours["cells"]) == {}
    assert theirs["total"] == pytest.approx(ours["total"], abs=TOTAL_TOLERANCE)
    assert theirs["max"] == ours["max"] == sum(POINTS.values())


def test_the_reference_earns_full_marks_under_both_graders(graded):
    assert graded.nbgrader["reference"]["cells"] == graded.ours["reference"]["cells"] == POINTS


def test_each_bug_costs_its_own_test_cells_under_both_graders(graded):
    for scores in (graded.nbgrader["one_bug_per_function"], graded.ours["one_bug_per_function"]):
        lost = {cell for cell, score in scores["cells"].items() if score < POINTS[cell]}
        assert lost == ONE_BUG_LOSES
        assert scores["cells"]["count_rnn_params"] > 0  # the cases before the first bidirectional one still count


def test_a_function_that_never_returns_is_stopped_by_the_check_under_both_graders(graded):
    executed = graded.course.root / "autograded" / "one_bug_per_function" / A / f"{A}.ipynb"
    shown = cell_text(executed, "count_rnn_params")
    assert "ran past the 10 s limit" in shown
    assert "CellTimeoutError" not in shown  # nbgrader's own cell limit never fired
    results = json.loads((graded.out / "one_bug_per_function" / A / "results.json").read_text(encoding="utf-8"))
    text = "\n".join(t["output"] for t in results["tests"] if t["extra_data"]["check_group"] == "count_rnn_params")
    assert "ran past" in text


# ---------------------------------------------------------------- where nbgrader is harsh or wrong

@pytest.mark.parametrize("name", HARSH)
def test_where_nbgrader_differs_autograder_keeps_the_points_the_code_earned(graded, name):
    case = HARSH[name]
    theirs, ours = graded.nbgrader[name], graded.ours[name]
    assert theirs["cells"] == case.nbgrader, f"nbgrader now gives {theirs['cells']}: update docs/nbgrader.md"
    assert ours["cells"] == case.autograder


def test_a_dead_kernel_fails_the_whole_submission_under_nbgrader(graded):
    from nbgrader.api import Gradebook

    dying = [name for name, case in HARSH.items() if case.kernel_dies]
    assert graded.autograde_rc != 0
    with Gradebook(graded.course.db_url) as gb:
        for name in dying:
            grades = gb.find_submission_notebook(A, A, name).grades
            assert all(g.auto_score is None and g.needs_manual_grade for g in grades), name
    for name in dying:
        assert not (graded.course.root / "autograded" / name / A / f"{A}.ipynb").exists()


# ---------------------------------------------------------------- grades back into nbgrader

def read_csv(path: Path) -> tuple[list[str], dict[str, dict[str, str]]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), {row["student_id"]: row for row in reader if row["assignment"] == A}


def test_grades_exported_to_a_fresh_gradebook_read_back_and_export_as_ours(graded, tmp_path):
    db = tmp_path / "gradebook.db"
    shutil.copyfile(graded.fresh_db, db)
    url = f"sqlite:///{db}"

    ours = tmp_path / "ours.csv"
    run = subprocess.run([str(graded.course.tool("autograder")), "export-grades", str(graded.out), "-a", A,
                          "--gradebook", url, "--csv", str(ours)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert f"wrote {len(SUBMISSIONS)} student(s)' scores" in run.stdout

    assert same_scores(gradebook_scores(url, A, list(SUBMISSIONS)), graded.ours)
    exported = tmp_path / "nbgrader_export.csv"
    graded.course.nbgrader("export", f"--db={url}", f"--to={exported}")
    their_header, their_rows = read_csv(exported)
    our_header, our_rows = read_csv(ours)
    assert our_header == their_header == list(gradebook.NBGRADER_CSV_COLUMNS)
    assert our_rows.keys() == their_rows.keys() == set(SUBMISSIONS)
    for student, row in our_rows.items():
        for column in their_header:
            if column in ("raw_score", "late_submission_penalty", "score", "max_score"):
                assert float(row[column]) == pytest.approx(float(their_rows[student][column]), abs=SUMS), column
            else:
                assert row[column] == their_rows[student][column], column


def test_grades_exported_over_nbgrader_autograde_replace_its_scores(graded, tmp_path):
    from nbgrader.api import Gradebook

    db = tmp_path / "gradebook.db"
    shutil.copyfile(graded.course.root / "gradebook.db", db)
    url = f"sqlite:///{db}"

    assert gradebook.export_to_gradebook(url, graded.out, A, notebook=A) == len(SUBMISSIONS)

    assert same_scores(gradebook_scores(url, A, list(SUBMISSIONS)), graded.ours)
    with Gradebook(url) as gb:
        assert len(gb.students) == len(SUBMISSIONS)
        assert not any(g.needs_manual_grade for g in gb.find_submission_notebook(A, A, "exit_in_cell").grades)


def test_export_refuses_a_gradebook_without_the_assignment(graded, tmp_path):
    with pytest.raises(gradebook.GradebookError, match="generate_assignment"):
        gradebook.export_to_gradebook(f"sqlite:///{tmp_path / 'none.db'}", graded.out, A)
    assert not (tmp_path / "none.db").exists()
    db = tmp_path / "gradebook.db"
    shutil.copyfile(graded.fresh_db, db)
    with pytest.raises(gradebook.GradebookError, match="generate_assignment 99_missing"):
        gradebook.export_to_gradebook(f"sqlite:///{db}", graded.out, "99_missing")


def test_export_refuses_results_the_gradebook_has_no_grade_cell_for(graded, tmp_path):
    from nbgrader.api import Gradebook

    out = tmp_path / "graded"
    for student in ("first", "stale"):
        data = json.loads((graded.out / "reference" / A / "results.json").read_text(encoding="utf-8"))
        data["extra_data"]["student"] = student
        if student == "stale":
            data["tests"][0]["extra_data"]["check_group"] = "renamed_test_cell"
        (out / student / A).mkdir(parents=True)
        (out / student / A / "results.json").write_text(json.dumps(data), encoding="utf-8")
    db = tmp_path / "gradebook.db"
    shutil.copyfile(graded.fresh_db, db)

    with pytest.raises(gradebook.GradebookError, match="renamed_test_cell"):
        gradebook.export_to_gradebook(f"sqlite:///{db}", out, A)

    with Gradebook(f"sqlite:///{db}") as gb:
        assert gb.students == []  # nothing written: not even the student whose results were fine


def test_a_submission_the_grader_failed_on_is_flagged_for_review_in_the_gradebook(graded, tmp_path):
    from nbgrader.api import Gradebook

    data = json.loads((graded.out / "reference" / A / "results.json").read_text(encoding="utf-8"))
    data["extra_data"].update(student="unlucky", grader_error=True)
    (tmp_path / "graded" / "unlucky" / A).mkdir(parents=True)
    (tmp_path / "graded" / "unlucky" / A / "results.json").write_text(json.dumps(data), encoding="utf-8")
    db = tmp_path / "gradebook.db"
    shutil.copyfile(graded.fresh_db, db)

    assert gradebook.export_to_gradebook(f"sqlite:///{db}", tmp_path / "graded", A) == 1

    with Gradebook(f"sqlite:///{db}") as gb:
        grades = gb.find_submission_notebook(A, A, "unlucky").grades
        assert all(g.needs_manual_grade for g in grades)
        assert sum(g.auto_score for g in grades) == pytest.approx(data["score"])
