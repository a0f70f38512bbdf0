"""solutions/ → assignments/: the student notebooks, made by nbgrader's own preprocessors.

The pipeline is nbgrader's `generate_assignment` without its gradebook step: header and footer,
autotests, lock cells, clear solutions, clear outputs, compute checksums, drop hidden tests and mark
schemes, checksum again.
Using nbgrader's classes (not a re-implementation) keeps checksums and metadata identical to what
`nbgrader generate_assignment` writes.

Languages: every markdown cell of a source notebook may carry a translation in its metadata,
`metadata.autograder.<lang>` (the whole markdown of the cell; Chinese, "zh", for now). The English release
(assignments/) is nbgrader's own output, translations carried along as metadata. A release in another
language (assignments-<lang>/) puts each markdown cell's translation in place of its source before the same
pipeline runs, so its checksums fit its text, and records the language in the notebook's metadata
(`autograder.lang`); a cell without a translation keeps its English. Code cells, grade_ids, points and
checks are the same in every language.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.i18n import _

LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"


def release_folder(lang: str = DEFAULT_LANGUAGE) -> str:
    """Where a language's released notebooks go, relative to the course root: assignments/, assignments-zh/."""
    if lang not in LANGUAGES:
        raise ValueError(_("unknown language {lang}; one of {languages}").format(lang=repr(lang),
                                                                                 languages=", ".join(LANGUAGES)))
    return "assignments" if lang == DEFAULT_LANGUAGE else f"assignments-{lang}"


def translation(cell: dict, lang: str) -> str | None:
    """A markdown cell's text in `lang` (its metadata's autograder.<lang>), or None where it has none."""
    meta = cell.get("metadata", {}).get("autograder", {})
    text = meta.get(lang) if isinstance(meta, dict) else None
    return text if isinstance(text, str) and text.strip() else None


def untranslated(nb: dict, lang: str) -> list[str]:
    """The markdown cells of a notebook with no text in `lang`, by grade_id (else by position)."""
    if lang == DEFAULT_LANGUAGE:
        return []
    return [cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or _("cell {number}").format(number=number)
            for number, cell in enumerate(nb["cells"], 1)
            if cell["cell_type"] == "markdown" and translation(cell, lang) is None]


def release_notebook(source: Path, lang: str = DEFAULT_LANGUAGE) -> dict:
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
    release_folder(lang)  # refuses an unknown language
    if lang != DEFAULT_LANGUAGE:
        for cell in nb.cells:
            text = translation(cell, lang) if cell.cell_type == "markdown" else None
            if text is not None:
                cell.source = text
        nb.metadata.setdefault("autograder", {})["lang"] = lang
    resources: dict = {"nbgrader": {"notebook": source.stem, "assignment": source.parent.name}}
    pipeline = [IncludeHeaderFooter, InstantiateTests, LockCells, ClearSolutions, ClearOutput, CheckCellMetadata,
                ComputeChecksums, ClearHiddenTests, ClearMarkScheme, ComputeChecksums, CheckCellMetadata]
    for step in pipeline:
        nb, resources = step().preprocess(nb, resources)
    return nb


def released_text(source: Path, lang: str = DEFAULT_LANGUAGE) -> str:
    import nbformat

    return nbformat.writes(release_notebook(source, lang)) + "\n"


def release_all(root: Path | None = None, lang: str = DEFAULT_LANGUAGE) -> list[Path]:
    """Regenerate <folder>/<id>/<id>.ipynb for every solutions/<id>/<id>.ipynb, the folder being
    `release_folder(lang)`; returns what changed."""
    from autograder.course import course_root

    root = root or course_root()
    written = []
    for source in sorted((root / "solutions").glob("*/*.ipynb")):
        target = root / release_folder(lang) / source.parent.name / source.name
        text = released_text(source, lang)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(target)
        json.loads(text)  # what was written must parse
    return written
