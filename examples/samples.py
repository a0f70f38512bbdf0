"""Build sample submissions from a released notebook: replace solution cells, add cells, break the file.

Used by `examples/build.py` (the bundled class in examples/submitted/), by the tests and by the
benchmark. A submission starts from the released student notebook and fills each solution cell with
the reference solution (markers removed) unless a variant gives that cell other code.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(cell: dict) -> str:
    source = cell["source"]
    return "".join(source) if isinstance(source, list) else source


def _gid(cell: dict) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def solution_sources(assignment: str, root: Path = ROOT) -> dict[str, str]:
    """grade_id → the reference solution cell's code, without the nbgrader markers."""
    nb = _load(root / "solutions" / assignment / f"{assignment}.ipynb")
    found = {}
    for cell in nb["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            lines = [line for line in _source(cell).splitlines() if line.strip() not in MARKERS]
            found[_gid(cell)] = "\n".join(lines)
    return found


def make_notebook(assignment: str, overrides: dict[str, str] | None = None,
                  added: list[tuple[str, str]] | None = None, filled: bool = True, root: Path = ROOT) -> dict:
    """The released notebook with solution cells filled (or left as stubs) and overrides applied.

    overrides: grade_id → cell source. added: (grade_id to insert after, source) for new student cells.
    """
    nb = copy.deepcopy(_load(root / "assignments" / assignment / f"{assignment}.ipynb"))
    solutions = solution_sources(assignment, root) if filled else {}
    for cell in nb["cells"]:
        gid = _gid(cell)
        if overrides and gid in overrides:
            cell["source"] = overrides[gid]
        elif gid in solutions:
            cell["source"] = solutions[gid]
    for after, source in added or []:
        position = next(i for i, c in enumerate(nb["cells"]) if _gid(c) == after) + 1
        nb["cells"].insert(position, {"cell_type": "code", "execution_count": None, "id": f"added-{position}",
                                      "metadata": {}, "outputs": [], "source": source})
    return nb


def write_notebook(nb: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def replace_in(assignment: str, grade_id: str, old: str, new: str, root: Path = ROOT) -> dict[str, str]:
    """An override that edits the reference solution of one cell: a one-line bug, or an alternative."""
    source = solution_sources(assignment, root)[grade_id]
    if old not in source:
        raise ValueError(f"{old!r} is not in the solution of {grade_id}")
    return {grade_id: source.replace(old, new)}
