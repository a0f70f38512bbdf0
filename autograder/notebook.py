"""Reading notebooks safely, and merging a submission with its source notebook by nbgrader cell id."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


class NotebookError(Exception):
    """A submission that cannot be read as a notebook; the message is meant for the student."""


def _import_nbformat():
    """nbformat, without the 2.5 s that jsonschema spends building an IRI grammar it never uses here.

    jsonschema imports `rfc3987_syntax` (when installed, as nbgrader's dependencies install it) only to
    check "iri" string formats, which the notebook schema does not use; marking it absent skips that.
    """
    import sys

    if "jsonschema" not in sys.modules:
        sys.modules.setdefault("rfc3987_syntax", None)
    import nbformat

    return nbformat


def read(path: str | Path) -> dict:
    """The notebook as a validated nbformat v4 node, or NotebookError with a clear reason."""
    nbformat = _import_nbformat()

    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise NotebookError(f"the notebook could not be read: {exc.strerror}") from None
    if not raw.strip():
        raise NotebookError("the notebook file is empty")
    if len(raw) > MAX_NOTEBOOK_BYTES:
        raise NotebookError(f"the notebook is {len(raw) // 2**20} MiB, over the "
                            f"{MAX_NOTEBOOK_BYTES // 2**20} MiB limit")
    if b"\0" in raw[:4096]:
        raise NotebookError("the file is binary, not a notebook (.ipynb files are JSON text)")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise NotebookError("the notebook is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise NotebookError(f"the notebook is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                            "was it saved completely?") from None
    if not isinstance(data, dict) or "cells" not in data:
        raise NotebookError("the file is JSON but not a notebook (no 'cells')")
    major = data.get("nbformat")
    if major != 4:
        raise NotebookError(f"unsupported notebook format version {major!r}; save it with Jupyter as nbformat 4")
    try:
        node = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds for a malformed file
        raise NotebookError(f"the notebook is malformed: {type(exc).__name__}: {str(exc)[:200]}") from None
    for cell in node.cells:
        if not isinstance(cell.get("source"), str):
            raise NotebookError("a cell's source is not text")
    return node


def nbgrader_meta(cell: dict) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def grade_id(cell: dict) -> str | None:
    value = nbgrader_meta(cell).get("grade_id")
    return value if isinstance(value, str) else None


def is_test_cell(cell: dict) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def is_solution_cell(cell: dict) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


@dataclass
class TestCell:
    grade_id: str
    points: float


def test_cells(source: dict) -> list[TestCell]:
    return [TestCell(grade_id(c), float(nbgrader_meta(c).get("points", 0))) for c in source["cells"]
            if is_test_cell(c) and grade_id(c)]


def assignment_id(node: dict) -> str | None:
    """The assignment a notebook belongs to, from its metadata (set by release)."""
    meta = node.get("metadata")
    meta = meta.get("autograder") if isinstance(meta, dict) else None
    value = meta.get("assignment") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def defined_names(source: str) -> set[str]:
    """The names a cell binds at top level (functions, classes, assignments, imports); empty if it does not parse."""
    import ast

    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
    return names


def _cell_text(cell: dict) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def merge(release: dict, submission: dict) -> list[dict]:
    """The code cells to run, in order, built from the released notebook and the student's own cells.

    `release` is what `autograder release` writes (never the solutions): its locked cells are run as
    released, whatever the submission holds in their place; solution cells and cells the student added
    come from the submission in its order (nbgrader's rule, so a helper in a new cell counts). A released
    cell the student deleted comes back from the release — a deleted solution cell as its stub — after
    its predecessor, but never after a cell of the student's that defines one of its names: a function
    retyped in a new cell is graded on what the student typed. Test cells are not run by the probe,
    since the judge does the checking.
    """
    by_id = {grade_id(c): c for c in release["cells"] if grade_id(c)}
    seen = set()
    merged: list[tuple[str | None, dict, bool]] = []  # (grade_id, cell, written by the student)
    for cell in submission["cells"]:
        gid = grade_id(cell)
        if gid in by_id:
            if gid in seen:
                continue
            seen.add(gid)
            released = by_id[gid]
            ours = is_solution_cell(released)
            merged.append((gid, cell if ours else released, ours))
        else:
            merged.append((None, cell, True))
    previous = None
    for cell in release["cells"]:
        gid = grade_id(cell)
        if gid and gid not in seen:
            position = next((i + 1 for i, (g, _, _) in enumerate(merged) if g == previous), 0) if previous else 0
            if is_solution_cell(cell):
                names = defined_names(_cell_text(cell))
                definers = [i for i, (_, c, student) in enumerate(merged) if student and c.get("cell_type") == "code"
                            and names & defined_names(_cell_text(c))]
                position = min([position, *definers])
            merged.insert(position, (gid, cell, False))
            seen.add(gid)
        previous = gid or previous
    runnable = []
    for index, (gid, cell, _) in enumerate(merged):
        if cell.get("cell_type") != "code":
            continue
        original = by_id.get(gid) if gid else None
        if original is not None and is_test_cell(original):
            continue
        runnable.append({"index": index, "grade_id": gid, "source": _cell_text(cell)})
    return runnable


def identify(release: dict, submission: dict, assignment: str, others: dict[str, set[str]]) -> None:
    """Refuse a notebook that is not this assignment's, with a message that says what it is instead.

    `others` maps every other assignment of the course to its grade_ids. A notebook with no cells, one whose
    metadata names another assignment, or one that shares none of this assignment's cells (its cells, if
    any, belong to another) raises NotebookError.
    """
    if not submission["cells"]:
        raise NotebookError("the notebook has no cells")
    claimed = assignment_id(submission)
    if claimed and claimed != assignment:
        raise NotebookError(f"this is {claimed}'s notebook (its metadata says so), not {assignment}'s: submit "
                            f"{assignment}.ipynb")
    ours = {grade_id(c) for c in release["cells"] if grade_id(c)}
    present = {grade_id(c) for c in submission["cells"] if grade_id(c)}
    elsewhere = set().union(*others.values())
    if present & (ours - elsewhere):  # a cell only this assignment has ("setup" or "intro" tell nothing)
        return
    for other, ids in sorted(others.items()):
        if present & (ids - ours):
            raise NotebookError(f"this is {other}'s notebook (its cells are {other}'s), not {assignment}'s: submit "
                                f"{assignment}.ipynb")
    raise NotebookError(f"the notebook shares none of {assignment}'s cells (no cell carries one of its grade_ids): "
                        f"work in the released assignments/{assignment}/{assignment}.ipynb and submit that file")
