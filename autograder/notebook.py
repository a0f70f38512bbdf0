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
    value = node.get("metadata", {}).get("autograder", {}).get("assignment")
    return value if isinstance(value, str) else None


def merge(source: dict, submission: dict) -> list[dict]:
    """The code cells to run, in order: the source's locked cells restored, the student's own kept.

    Solution cells and cells the student added come from the submission in its order; locked cells
    come from the source (a student cannot edit them); test cells are not run by the probe, since
    the judge does the checking. A source cell the student deleted is put back after its
    predecessor, so the notebook still runs as released.
    """
    by_id = {grade_id(c): c for c in source["cells"] if grade_id(c)}
    seen = set()
    merged: list[tuple[str | None, dict]] = []
    for cell in submission["cells"]:
        gid = grade_id(cell)
        if gid in by_id and gid not in seen:
            seen.add(gid)
            original = by_id[gid]
            merged.append((gid, cell if is_solution_cell(original) else original))
        elif gid is None or gid not in by_id:
            merged.append((None, cell))
    previous = None
    for cell in source["cells"]:
        gid = grade_id(cell)
        if gid and gid not in seen:
            position = next((i + 1 for i, (g, _) in enumerate(merged) if g == previous), 0) if previous else 0
            merged.insert(position, (gid, cell))
            seen.add(gid)
        previous = gid or previous
    runnable = []
    for index, (gid, cell) in enumerate(merged):
        if cell.get("cell_type") != "code":
            continue
        original = by_id.get(gid) if gid else None
        if original is not None and is_test_cell(original):
            continue
        runnable.append({"index": index, "grade_id": gid, "source": cell.get("source", "")})
    return runnable
