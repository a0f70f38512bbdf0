"""Shared fixtures: submissions built from the released notebook, and quick in-process grading."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from autograder import checks, inline
from autograder.judge.evaluate import GroupResult
from examples import samples

ROOT = Path(__file__).resolve().parent.parent

torch.set_num_threads(1)  # the grader forks probes; a multi-threaded parent would make them hang


# ---------------------------------------------------------------- markers: one per assignment (`pytest -m a04_bptt`)

# Test files about one assignment whose name is not test_<module>_checks.py.
FILE_ASSIGNMENT = {"test_training_tolerances": "06_language_model", "test_torchtext_compat": "05_embeddings"}


def assignment_marker(assignment: str) -> str:
    """The marker of an assignment's tests: "04_bptt" -> "a04_bptt" (a marker name cannot start with a digit)."""
    return f"a{assignment}"


def _assignments_of(item: pytest.Item) -> set[str]:
    """The assignments a test is about: its file's, and any a parametrize value or id names."""
    stem = item.path.stem
    found = {a for a, module in checks.ASSIGNMENTS.items() if stem == f"test_{module}_checks"}
    if stem in FILE_ASSIGNMENT:
        found.add(FILE_ASSIGNMENT[stem])
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        found |= {value for value in callspec.params.values() if isinstance(value, str) and value in checks.ASSIGNMENTS}
        found |= set(callspec.id.split("-")) & set(checks.ASSIGNMENTS)
    return found


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        for assignment in sorted(_assignments_of(item)):
            item.add_marker(assignment_marker(assignment))


def _setup_source(assignment: str) -> str:
    nb = json.loads((ROOT / "solutions" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "setup")
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def solution_namespace(assignment: str, overrides: dict[str, str] | None = None) -> dict:
    """The setup cell and every solution cell (reference code unless overridden), run in one namespace."""
    namespace: dict = {"__name__": "__main__"}
    exec(compile(_setup_source(assignment), "<setup>", "exec"), namespace)
    sources = samples.solution_sources(assignment)
    sources.update(overrides or {})
    for gid, source in sources.items():
        exec(compile(source, f"<cell {gid}>", "exec"), namespace)
    return namespace


def grade_in_process(group_id: str, namespace: dict, include_hidden: bool = True) -> GroupResult:
    return inline.run_group(group_id, namespace, include_hidden)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """`autograder demo` once per session: (the finished process, its output folder). Several tests read it."""
    import subprocess
    import sys

    out = tmp_path_factory.mktemp("demo") / "out"
    done = subprocess.run([sys.executable, "-m", "autograder", "demo", "-o", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    return done, out


@pytest.fixture
def submission(tmp_path: Path):
    """Write a submission notebook: submission(overrides, added=[], filled=True, name="01_rnn") -> Path."""

    def make(overrides: dict[str, str] | None = None, added: list[tuple[str, str]] | None = None,
             filled: bool = True, assignment: str = "01_rnn", student: str = "student") -> Path:
        nb = samples.make_notebook(assignment, overrides, added, filled)
        return samples.write_notebook(nb, tmp_path / "submitted" / student / assignment / f"{assignment}.ipynb")

    return make


# ---------------------------------------------------------------- grading a whole assignment, bug by bug

def function(grade_id: str, source: str) -> dict[str, str]:
    """Replace a whole solution cell by `source` (dedented), for a differently written or buggy function."""
    import textwrap

    return {grade_id: textwrap.dedent(source)}


def edit_cell(assignment: str, grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    """The reference cell `grade_id` with each (old, new) replaced; every `old` occurs in it exactly once."""
    source = samples.solution_sources(assignment)[grade_id]
    for old, new in replacements:
        assert source.count(old) == 1, f"{old!r} occurs {source.count(old)} times in the solution of {grade_id}"
        source = source.replace(old, new)
    return {grade_id: source}


def released_solution_cells(assignment: str) -> dict[str, str]:
    """grade_id → source of the solution cells of the notebook students get (stubs raising NotImplementedError)."""
    nb = json.loads((ROOT / "assignments" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    cells = {}
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            source = cell["source"]
            cells[meta["grade_id"]] = "".join(source) if isinstance(source, list) else source
    return cells


def grade_assignment(assignment: str, overrides: dict[str, str] | None = None) -> dict[str, GroupResult]:
    """Every check group of the assignment, public and hidden cases, on the reference with `overrides`."""
    namespace = solution_namespace(assignment, overrides)
    return {group: grade_in_process(group, namespace) for group in checks.groups(assignment)}


def lost_points(results: dict[str, GroupResult]) -> set[str]:
    return {group for group, result in results.items() if result.score < result.points}


def failures(results: dict[str, GroupResult]) -> dict[str, list[tuple[str, str | None]]]:
    """(case, message) of every failing case, by group; groups without failures left out."""
    found = {g: [(c.name, c.message) for c in r.cases if not c.passed] for g, r in results.items()}
    return {g: f for g, f in found.items() if f}


def feedback(result: GroupResult) -> list[str]:
    """What a student reads for a group: the failing cases' messages and the hint."""
    return [c.message for c in result.cases if not c.passed and c.message] + ([result.hint] if result.hint else [])


@dataclass
class Bug:
    """A plausible mistake: the groups it must cost points in (and only those), and what the feedback says."""

    name: str
    overrides: dict[str, str]
    loses: tuple[str, ...]
    says: str | None = None  # a failing message or the hint of a losing group contains it


def gated(results: dict[str, GroupResult]) -> set[str]:
    """Groups that lost points only because every value case of their stub failed (their own cases all passed)."""
    return {g for g, r in results.items() if all(c.passed for c in r.cases) and not r.values_shown()}


def assert_loses_exactly(bug: Bug, results: dict[str, GroupResult]) -> None:
    """The bug costs points in `bug.loses`, and elsewhere only the form cases of a stub it leaves with no
    correct value (a function whose value cases all fail earns none of its points)."""
    lost = lost_points(results)
    implied = {g for g in gated(results) if results[g].stub in {results[b].stub for b in bug.loses}}
    lost -= implied
    assert set(bug.loses) <= lost, f"kept full points in {sorted(set(bug.loses) - lost)}"
    assert lost <= set(bug.loses), f"also lost points in {sorted(lost - set(bug.loses))}: {failures(results)}"
    if bug.says:
        texts = [text for group in bug.loses for text in feedback(results[group])]
        assert any(bug.says in text for text in texts), f"no message or hint says {bug.says!r}: {texts}"




# ---------------------------------------------------------------- every assignment: reference full, stubs zero

def assert_reference_full(results: dict[str, GroupResult], without_hidden: tuple[str, ...] = ()) -> None:
    """The reference earns every point of every group, public and hidden, with no hint; each group has
    hidden cases unless listed in `without_hidden`."""
    for group, result in results.items():
        if group not in without_hidden:
            assert any(c.hidden for c in result.cases), f"{group} has no hidden cases"
        failed = [(c.name, c.message) for c in result.cases if not c.passed]
        assert not failed, f"{group}: {failed}"
        assert result.share(hidden=False)[0] == result.share(hidden=False)[1]
        assert result.share(hidden=True)[0] == result.share(hidden=True)[1]
        assert result.score == result.points > 0
        assert result.hint is None


def assert_released_stubs_score_zero(assignment: str, stubs: set[str]) -> None:
    """The notebook students get: exactly these stubs, zero points in every group, "not implemented yet" everywhere."""
    cells = released_solution_cells(assignment)
    assert set(cells) == stubs
    for group, result in grade_assignment(assignment, cells).items():
        assert result.score == 0, group
        for case in result.cases:
            assert "not implemented yet" in (case.message or ""), (group, case.name, case.message)


# ---------------------------------------------------------------- messages in a language

CJK = re.compile(r"[\u4e00-\u9fff]")


def graded_in(lang: str, assignment: str, group_id: str, overrides: dict[str, str] | None = None,
              include_hidden: bool = False, drop: str | None = None) -> GroupResult:
    """One check group graded in process on the reference with `overrides` (less `drop`), its messages in `lang`."""
    from autograder import i18n

    namespace = solution_namespace(assignment, overrides)
    if drop:
        del namespace[drop]
    with i18n.language(lang):
        return grade_in_process(group_id, namespace, include_hidden)


def failing_message(result: GroupResult, case_name: str) -> str:
    """The message of a case that must have failed."""
    case = next(c for c in result.cases if c.name == case_name)
    assert not case.passed, f"{case_name} passed"
    return str(case.message or "")


def chinese(text: str | None) -> str:
    """`text`, which must hold Chinese."""
    assert text and CJK.search(text), f"no Chinese in {text!r}"
    return text
