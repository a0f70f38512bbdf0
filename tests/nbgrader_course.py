"""A throwaway nbgrader course around this repository's notebooks, driven through nbgrader's own commands.

The same approach as benchmarks/bench_nbgrader.py, for any assignment and any cell timeout: a kernelspec of
our own (the notebooks' "python3" kernel is this very interpreter, so it imports torch and `autograder`), the
venv's bin/ first on PATH (nbgrader runs `alembic` from there), and the course's gradebook read back with
nbgrader's Gradebook API.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # not resolved: a venv's python is a link to the base interpreter


class NbgraderFailed(RuntimeError):
    """An nbgrader command exited non-zero; the message carries the end of its output."""


@dataclass
class Course:
    root: Path
    env: dict[str, str]
    log: Path

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'gradebook.db'}"

    def nbgrader(self, *args: str, check: bool = True) -> int:
        """Run `nbgrader ARGS` in the course root, its output appended to the course's log."""
        with open(self.log, "ab") as handle:
            handle.write(f"$ nbgrader {' '.join(args)}\n".encode())
            handle.flush()
            rc = subprocess.run([str(self.tool("nbgrader")), *args], cwd=self.root, env=self.env, stdout=handle,
                                stderr=subprocess.STDOUT).returncode
        if check and rc != 0:
            raise NbgraderFailed(f"`nbgrader {' '.join(args)}` exited {rc}; the end of its log:\n{self.log_tail()}")
        return rc

    def tool(self, name: str) -> Path:
        found = BIN / name
        return found if found.exists() else Path(shutil.which(name, path=self.env["PATH"]) or name)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])

    def submit(self, student: str, assignment: str, nb: dict) -> Path:
        """Put a notebook where `nbgrader autograde` looks: submitted/<student>/<assignment>/<assignment>.ipynb."""
        path = self.root / "submitted" / student / assignment / f"{assignment}.ipynb"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    def released(self, assignment: str) -> Path:
        return self.root / "release" / assignment / f"{assignment}.ipynb"


def course_env(kernel_home: Path) -> dict[str, str]:
    """The environment nbgrader and its kernels run in: the venv's tools first, this checkout as the course."""
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", AUTOGRADER_COURSE=str(ROOT),
                JUPYTER_PATH=str(kernel_home), PYTHONUNBUFFERED="1")


def make_course(root: Path, assignments: list[str], students: tuple[str, ...] = (), cell_timeout: int = 60) -> Course:
    """An nbgrader course whose source/ holds solutions/<id>/<id>.ipynb for each id, all generated.

    `students` are imported into the gradebook first (autograde also creates the ones it meets).
    `cell_timeout` is nbgrader's per-cell limit; keep it above autograder.inline.CALL_SECONDS so a check cell
    that times out a call ends by the in-notebook executor's own alarm, as it does under `autograder`.
    """
    root.mkdir(parents=True, exist_ok=True)
    kernel_dir = root / "jupyter" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (test venv)", "language": "python"}, indent=1), encoding="utf-8")
    (root / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(root)!r}\n"
        f"c.ExecutePreprocessor.timeout = {cell_timeout}\n"
        f"c.Execute.timeout = {cell_timeout}\n", encoding="utf-8")
    course = Course(root, course_env(root / "jupyter"), root / "nbgrader.log")
    course.log.touch()
    for assignment in assignments:
        source = root / "source" / assignment / f"{assignment}.ipynb"
        source.parent.mkdir(parents=True)
        shutil.copyfile(ROOT / "solutions" / assignment / f"{assignment}.ipynb", source)
    if students:
        with open(root / "students.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id"])
            writer.writerows([s] for s in students)
        course.nbgrader("db", "student", "import", "students.csv")
    # One command for every assignment: each nbgrader command pays its own start-up of several seconds. nbgrader
    # goes on past an assignment it cannot generate, so one broken notebook does not stop the others: callers
    # check that the release they need exists (Course.released).
    course.nbgrader("generate_assignment", "--CourseDirectory.assignment_id=*", "--force", check=False)
    return course


def gradebook_scores(db_url: str, assignment: str, students: list[str],
                     notebook: str | None = None) -> dict[str, dict]:
    """student → {"cells": {grade cell: score}, "total", "max"} from a gradebook; students without one left out."""
    from nbgrader.api import Gradebook, MissingEntry

    found = {}
    with Gradebook(db_url) as gb:
        for student in students:
            try:
                nb = gb.find_submission_notebook(notebook or assignment, assignment, student)
            except MissingEntry:
                continue
            found[student] = {"cells": {g.name: float(g.score) for g in nb.grades}, "total": float(nb.score),
                              "max": float(nb.max_score)}
    return found


def results_scores(results: dict) -> dict:
    """The same shape as gradebook_scores' values, from one results.json: a test cell's score sums its entries."""
    cells: dict[str, float] = {}
    for test in results["tests"]:
        group = test["extra_data"]["check_group"]
        cells[group] = cells.get(group, 0.0) + float(test["score"])
    return {"cells": cells, "total": float(results["score"]), "max": float(results["extra_data"]["max_score"])}
