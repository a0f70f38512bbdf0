"""Shared fixtures: submissions built from the released notebook, and quick in-process grading."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from autograder import inline
from autograder.evaluate import GroupResult
from examples import samples

ROOT = Path(__file__).resolve().parent.parent

torch.set_num_threads(1)  # the grader forks probes; a multi-threaded parent would make them hang


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


@pytest.fixture
def submission(tmp_path: Path):
    """Write a submission notebook: submission(overrides, added=[], filled=True, name="01_rnn") -> Path."""

    def make(overrides: dict[str, str] | None = None, added: list[tuple[str, str]] | None = None,
             filled: bool = True, assignment: str = "01_rnn", student: str = "student") -> Path:
        nb = samples.make_notebook(assignment, overrides, added, filled)
        return samples.write_notebook(nb, tmp_path / "submitted" / student / assignment / f"{assignment}.ipynb")

    return make
