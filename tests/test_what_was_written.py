"""The grade is of what the student wrote: cells come from the release, never from solutions/.

A deleted solution cell comes back as its stub, a notebook of another assignment (or of none) scores 0
with a message that says what it is, and no frame sent to a probe, nor any file a probe can read,
holds a line of the solutions: a canary line planted in every solution cell of every source notebook
is looked for in all of them.
"""

from __future__ import annotations

import copy
import json
import shutil
import uuid
from pathlib import Path

import pytest

from autograder import notebook
from autograder.authoring import release
from autograder.course import hidden_paths, released_grade_ids
from autograder.judge import grading
from autograder.judge.runner import make_launcher
from autograder.reports import class_report
from examples import samples

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = ["01_rnn", "02_lstm", "03_gru", "04_bptt", "05_embeddings", "06_language_model"]
CANARY = f"CANARY-{uuid.uuid4().hex}"  # made at run time: no file on this machine holds it beforehand


def _released(assignment: str) -> dict:
    return json.loads((ROOT / "assignments" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))


def _without(nb: dict, grade_id: str) -> dict:
    nb = copy.deepcopy(nb)
    nb["cells"] = [c for c in nb["cells"] if notebook.grade_id(c) != grade_id]
    return nb


def _code_cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


# ---------------------------------------------------------------- the merge rule

def test_a_deleted_solution_cell_comes_back_as_its_stub_not_as_the_solution():
    release_nb = _released("01_rnn")
    merged = notebook.merge(release_nb, _without(release_nb, "rnn_cell_forward"))
    cell = next(c for c in merged if c["grade_id"] == "rnn_cell_forward")
    assert "raise NotImplementedError" in cell["source"]
    solution = samples.solution_sources("01_rnn")["rnn_cell_forward"]
    body = [line for line in solution.splitlines() if len(line.strip()) >= 25 and "NotImplementedError" not in line]
    assert body and not any(line in cell["source"] for line in body[-3:])


def test_a_deleted_locked_cell_comes_back_as_released():
    release_nb = _released("01_rnn")
    merged = notebook.merge(release_nb, _without(release_nb, "setup"))
    released_setup = next(c for c in release_nb["cells"] if notebook.grade_id(c) == "setup")
    assert next(c for c in merged if c["grade_id"] == "setup")["source"] == notebook._cell_text(released_setup)


def test_a_function_retyped_in_a_new_cell_before_the_deleted_stub_is_still_the_one_that_runs():
    release_nb = _released("01_rnn")
    submission = _without(release_nb, "rnn_cell_forward")
    submission["cells"].insert(1, _code_cell("def rnn_cell_forward(*args, **kwargs):\n    return 'typed by me'"))
    merged = notebook.merge(release_nb, submission)
    sources = [c["source"] for c in merged]
    mine = next(i for i, s in enumerate(sources) if "typed by me" in s)
    stub = next(i for i, c in enumerate(merged) if c["grade_id"] == "rnn_cell_forward")
    assert stub < mine


# ---------------------------------------------------------------- which notebook is this

@pytest.mark.parametrize("variant", ["metadata", "cells"])
def test_another_assignments_notebook_is_named(variant):
    release_nb = _released("01_rnn")
    other = _released("02_lstm")
    if variant == "metadata":
        other = copy.deepcopy(release_nb)
        other["metadata"]["autograder"]["assignment"] = "02_lstm"
    else:
        other = copy.deepcopy(other)
        other["metadata"].pop("autograder", None)
    others = {k: v for k, v in released_grade_ids().items() if k != "01_rnn"}
    with pytest.raises(notebook.NotebookError, match="this is 02_lstm's notebook"):
        notebook.identify(release_nb, other, "01_rnn", others)


def test_an_empty_notebook_and_one_of_no_assignment_are_refused():
    release_nb = _released("01_rnn")
    others = {k: v for k, v in released_grade_ids().items() if k != "01_rnn"}
    with pytest.raises(notebook.NotebookError, match="the notebook has no cells"):
        notebook.identify(release_nb, {**release_nb, "cells": []}, "01_rnn", others)
    foreign = {**release_nb, "metadata": {}, "cells": [_code_cell("def rnn_cell_forward(x, h, W, U):\n    pass")]}
    with pytest.raises(notebook.NotebookError, match="shares none of 01_rnn's cells"):
        notebook.identify(release_nb, foreign, "01_rnn", others)


@pytest.fixture(scope="module")
def wrong_notebooks(tmp_path_factory):
    """A batch of 01_rnn: a full-marks control beside notebooks that are empty, another assignment's, a stub
    cell deleted, and a function deleted and retyped (broken) in a new cell."""
    base = tmp_path_factory.mktemp("wrong")
    submitted, out = base / "submitted", base / "graded"
    full = samples.make_notebook("01_rnn")
    notebooks = {
        "control": full,
        "empty": {**full, "cells": []},
        "lstm": samples.make_notebook("02_lstm"),
        "deleted": _without(full, "rnn_cell_forward"),
        "retyped": _without(full, "rnn_cell_forward"),
    }
    at = next(i for i, c in enumerate(full["cells"]) if notebook.grade_id(c) == "rnn_cell_forward")
    notebooks["retyped"]["cells"].insert(at, _code_cell(
        "import torch\n\ndef rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity='tanh'):\n"
        "    return torch.tanh(x @ W_ih.T + h_prev @ W_hh.T)\n"))
    for student, nb in notebooks.items():
        samples.write_notebook(nb, submitted / student / "01_rnn" / "01_rnn.ipynb")
    results = {r.student: r for r in grading.grade_batch(submitted, "01_rnn", out, workers=2, progress=False)}
    return results, out


@pytest.mark.slow
def test_an_empty_notebook_scores_zero_with_a_message(wrong_notebooks):
    results, _ = wrong_notebooks
    assert results["control"].score == results["control"].max_score > 0
    assert results["empty"].score == 0 and results["empty"].error == "the notebook has no cells"


@pytest.mark.slow
def test_another_assignments_notebook_scores_zero_and_says_what_it_is(wrong_notebooks):
    results, _ = wrong_notebooks
    assert results["lstm"].score == 0 and "this is 02_lstm's notebook" in results["lstm"].error


@pytest.mark.slow
def test_a_deleted_stub_cell_earns_none_of_its_functions_points(wrong_notebooks):
    results, _ = wrong_notebooks
    deleted = {g.group_id: g for g in results["deleted"].groups}
    control = {g.group_id: g for g in results["control"].groups}
    assert deleted["rnn_cell_forward_values"].score == 0 < control["rnn_cell_forward_values"].score
    assert deleted["rnn_shapes"].score == control["rnn_shapes"].score > 0  # the rest is still graded


@pytest.mark.slow
def test_a_function_retyped_in_a_new_cell_is_graded_on_what_was_typed(wrong_notebooks):
    results, _ = wrong_notebooks
    retyped = {g.group_id: g for g in results["retyped"].groups}
    control = {g.group_id: g for g in results["control"].groups}
    values = retyped["rnn_cell_forward_values"]
    assert 0 < values.score < control["rnn_cell_forward_values"].score  # no bias and no relu: some cases pass
    assert any("no bias" == c.name and c.passed for c in values.cases)
    assert not any("not implemented" in (c.message or "") for c in values.cases)


@pytest.mark.slow
def test_refused_notebooks_are_listed_in_the_class_report(wrong_notebooks):
    _, out = wrong_notebooks
    listed = {row["student"]: row["error"] for row in class_report.summary(out)["assignments"]["01_rnn"]["limits"]}
    assert listed["empty"] == "the notebook has no cells"
    assert "this is 02_lstm's notebook" in listed["lstm"]


# ---------------------------------------------------------------- no solution text reaches a probe

def _plant_canaries(root: Path) -> int:
    """A unique canary line inside every solution block of every source notebook; returns how many."""
    planted = 0
    for path in sorted((root / "solutions").glob("*/*.ipynb")):
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and cell["cell_type"] == "code":
                source = notebook._cell_text(cell)
                assert "### BEGIN SOLUTION\n" in source
                planted += source.count("### BEGIN SOLUTION\n")
                cell["source"] = source.replace("### BEGIN SOLUTION\n", f"### BEGIN SOLUTION\n# {CANARY}\n")
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return planted


# Reads every file (up to 2 MB, 25 s in all) of the probe's whole filesystem and prints where the canary is. The cell
# spells the canary backwards, so its own text (which is sent to the probe) does not hold it.
WALKER = f'''
import os, time
needle = {CANARY[::-1]!r}[::-1].encode()
found, walked, stop = [], 0, time.monotonic() + 25
for top in os.environ.get("CANARY_TOPS", "/").split(":"):
    for folder, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ("/proc", "/sys", "/dev")]
        for name in files:
            path = os.path.join(folder, name)
            try:
                if os.path.getsize(path) > 2_000_000 or time.monotonic() > stop:
                    continue
                with open(path, "rb") as handle:
                    walked += 1
                    if needle in handle.read():
                        found.append(path)
            except OSError:
                pass
print("walked", walked, "files; canary in", sorted(set(found)))
'''


class RecordingLauncher:
    """A launcher whose probes record every frame the judge sends them."""

    def __init__(self, inner) -> None:
        self.inner, self.sent = inner, []

    def start(self, *args, **kwargs):
        probe = self.inner.start(*args, **kwargs)
        send = probe.send

        def recorded(frame: bytes) -> bool:
            self.sent.append(frame)
            return send(frame)

        probe.send = recorded
        return probe

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def _variants(assignment: str, root: Path) -> dict[str, dict]:
    """Submissions a student could hand in, made from the (canary-free) release of the canary course."""
    released = json.loads((root / "assignments" / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    solution_ids = [notebook.grade_id(c) for c in released["cells"] if notebook.is_solution_cell(c)]
    deleted = copy.deepcopy(released)
    deleted["cells"] = [c for c in deleted["cells"] if notebook.grade_id(c) not in solution_ids[:2]]
    reordered = copy.deepcopy(released)
    reordered["cells"].reverse()
    duplicated = copy.deepcopy(released)
    duplicated["cells"] += [copy.deepcopy(c) for c in released["cells"] if notebook.is_solution_cell(c)]
    walker = copy.deepcopy(deleted)
    walker["cells"].insert(1, _code_cell(WALKER))
    return {"untouched": released, "empty": {**released, "cells": []}, "deleted": deleted, "reordered": reordered,
            "duplicated": duplicated, "walker": walker}


@pytest.fixture(scope="module")
def canary_course(tmp_path_factory):
    root = tmp_path_factory.mktemp("canary") / "course"
    for folder in ("solutions", "assignments"):
        shutil.copytree(ROOT / folder, root / folder)
    (root / "datasets").symlink_to(ROOT / "datasets")
    planted = _plant_canaries(root)
    release.release_all(root)
    return root, planted


@pytest.mark.slow
def test_no_frame_sent_to_a_probe_and_no_file_it_can_read_holds_a_solution_line(canary_course, monkeypatch,
                                                                             tmp_path):
    root, planted = canary_course
    assert planted >= 6 * 2
    assert not any(CANARY in p.read_text(encoding="utf-8") for p in (root / "assignments").rglob("*.ipynb"))
    monkeypatch.setenv("AUTOGRADER_COURSE", str(root))
    submitted, out = tmp_path / "submitted", tmp_path / "graded"
    for assignment in ASSIGNMENTS:
        for student, nb in _variants(assignment, root).items():
            samples.write_notebook(nb, submitted / student / assignment / f"{assignment}.ipynb")
    plan = grading.plan_assignment("01_rnn")
    launcher = RecordingLauncher(make_launcher(hidden_paths([submitted, out]), plan.limits))
    try:
        for assignment in ASSIGNMENTS:
            grading.grade_batch(submitted, assignment, out, workers=2, progress=False, launcher=launcher)
    finally:
        launcher.close()
    assert len(launcher.sent) >= 4 * len(ASSIGNMENTS)  # one job (cells and calls) a probe, four probes or more each
    assert not [f for f in launcher.sent if CANARY.encode() in f]
    walked = json.loads((out / "walker" / "01_rnn" / "results.json").read_text(encoding="utf-8"))
    walked = walked["extra_data"]["captured_output"]
    assert "canary in []" in walked
    assert int(walked.split("walked ")[1].split()[0]) > 0


def test_the_walker_would_find_the_canary_where_nothing_hides_the_solutions(canary_course, monkeypatch, capsys):
    root, _ = canary_course
    monkeypatch.setenv("CANARY_TOPS", str(root))
    exec(compile(WALKER, "<walker>", "exec"), {})
    assert "solutions/01_rnn/01_rnn.ipynb" in capsys.readouterr().out
