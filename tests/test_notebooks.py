"""The assignment notebooks: released from solutions/, full marks for the solutions, zero for the stubs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from autograder.authoring import release
from autograder.course import hidden_paths
from autograder.judge import grading
from autograder.judge.runner import Limits, make_launcher
from examples import samples

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebook_is_in_sync_with_solutions(assignment):
    source = ROOT / "solutions" / assignment / f"{assignment}.ipynb"
    released = ROOT / "assignments" / assignment / f"{assignment}.ipynb"
    assert released.exists(), "run `autograder release`"
    assert released.read_text(encoding="utf-8") == release.released_text(source), (
        f"{released} differs from what `autograder release` makes from {source}: run `autograder release`")


def _solution_regions(assignment: str) -> list[str]:
    """The lines between BEGIN and END SOLUTION in the source notebook."""
    nb = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    lines = []
    for cell in nb["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if "BEGIN SOLUTION" in line:
                inside = True
            elif "END SOLUTION" in line:
                inside = False
            elif inside and len(line.strip()) > 12:
                lines.append(line.strip())
    return lines


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebook_has_no_solution_or_hidden_test(assignment):
    released = json.loads((ROOT / "assignments" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    text = "\n".join("".join(cell["source"]) for cell in released["cells"])
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "include_hidden = True"):
        assert marker not in text
    regions = _solution_regions(assignment)
    assert regions
    leaked = [line for line in regions if line in text]
    assert not leaked, f"solution lines in the released notebook: {leaked[:3]}"


@pytest.fixture(scope="module")
def launcher():
    started = make_launcher(hidden_paths([]), Limits())
    yield started
    started.close()


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_solutions_score_full_marks(assignment, launcher, tmp_path):
    plan = grading.plan_assignment(assignment)
    path = samples.write_notebook(samples.make_notebook(assignment), tmp_path / f"{assignment}.ipynb")
    result = grading.grade_notebook(plan, path, launcher)
    failures = [f"{g.group_id}: {c.name}: {c.message}" for g in result.groups for c in g.cases if not c.passed]
    assert not failures
    assert result.score == result.max_score > 0


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_stubs_score_zero(assignment, launcher):
    plan = grading.plan_assignment(assignment)
    result = grading.grade_notebook(plan, ROOT / "assignments" / assignment / f"{assignment}.ipynb", launcher)
    assert result.error is None
    assert result.score == 0
    assert all("not implemented yet" in c.message for g in result.groups for c in g.cases)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("kind", ["solutions", "assignments"])
def test_notebook_runs_top_to_bottom_in_a_real_kernel(assignment, kind, tmp_path):
    """The notebook as a student opens it: every cell runs, and each check cell shows its points."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(ROOT / kind / assignment / f"{assignment}.ipynb", as_version=4)
    env_course = os.environ.get("AUTOGRADER_COURSE")
    os.environ["AUTOGRADER_COURSE"] = str(ROOT)
    try:
        client = NotebookClient(nb, timeout=120, kernel_name="python3",
                                resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
    finally:
        if env_course is None:
            os.environ.pop("AUTOGRADER_COURSE", None)
        else:
            os.environ["AUTOGRADER_COURSE"] = env_course
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code":
            continue
        assert not [o for o in cell.outputs if o.output_type == "error"], cell.source[:80]
        assert not [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"], cell.source[:80]
        if meta.get("grade") and not meta.get("solution"):
            value = [o for o in cell.outputs if o.output_type == "execute_result"]
            assert value, f"check cell {meta['grade_id']} shows no points"
            points = float(value[0]["data"]["text/plain"])
            expected = float(meta["points"]) if kind == "solutions" else 0.0
            assert points == pytest.approx(expected), meta["grade_id"]


def test_every_test_cell_has_a_check_group_and_points():
    from autograder import checks, notebook

    for assignment in ASSIGNMENTS:
        source = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text())
        cells = notebook.test_cells(source)
        assert cells
        groups = checks.groups(assignment)
        for cell in cells:
            assert cell.grade_id in groups
            assert cell.points > 0
        assert {c.grade_id for c in cells} == set(groups), "a check group without a test cell is never graded"
