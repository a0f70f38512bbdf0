"""solutions/ → assignments/: the student notebooks, made by nbgrader's own preprocessors.

The pipeline is nbgrader's `generate_assignment` without its gradebook step: header and footer,
autotests, lock cells, clear solutions, clear outputs, compute checksums, drop hidden tests and mark
schemes, checksum again.
Using nbgrader's classes (not a re-implementation) keeps checksums and metadata identical to what
`nbgrader generate_assignment` writes.
"""

from __future__ import annotations

import json
from pathlib import Path


def release_notebook(source: Path) -> dict:
    import nbformat
    from nbgrader.preprocessors import (
        CheckCellMetadata,
        ClearHiddenTests,
        ClearMarkScheme,
        ClearOutput,
        ClearSolutions,
        ComputeChecksums,
        IncludeHeaderFooter,
        InstantiateTests,
        LockCells,
    )

    nb = nbformat.read(str(source), as_version=4)
    resources: dict = {"nbgrader": {"notebook": source.stem, "assignment": source.parent.name}}
    pipeline = [IncludeHeaderFooter, InstantiateTests, LockCells, ClearSolutions, ClearOutput, CheckCellMetadata,
                ComputeChecksums, ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata]
    for step in pipeline:
        nb, resources = step().preprocess(nb, resources)
    return nb


def released_text(source: Path) -> str:
    import nbformat

    return nbformat.writes(release_notebook(source)) + "\n"


def release_all(root: Path | None = None) -> list[Path]:
    """Regenerate assignments/<id>/<id>.ipynb for every solutions/<id>/<id>.ipynb; returns what changed."""
    from autograder.course import course_root

    root = root or course_root()
    written = []
    for source in sorted((root / "solutions").glob("*/*.ipynb")):
        target = root / "assignments" / source.parent.name / source.name
        text = released_text(source)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(target)
        json.loads(text)  # what was written must parse
    return written
