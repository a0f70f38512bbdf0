"""Where a course's files are, and which of them a probe must never read. Light: no torch here."""

from __future__ import annotations

import json
import os
from pathlib import Path

from autograder.i18n import _

PACKAGE_DIR = Path(__file__).resolve().parent


def course_root() -> Path:
    """Where solutions/ or assignments/ live: $AUTOGRADER_COURSE, the checkout holding this package, or cwd."""
    if os.environ.get("AUTOGRADER_COURSE"):
        return Path(os.environ["AUTOGRADER_COURSE"]).resolve()
    for candidate in (PACKAGE_DIR.parent, Path.cwd()):
        if (candidate / "solutions").is_dir() or (candidate / "assignments").is_dir():
            return candidate
    return Path.cwd()


def source_notebook(assignment: str, root: Path | None = None) -> Path:
    """The notebook that holds the locked and test cells: solutions/ where present, else assignments/."""
    root = root or course_root()
    for folder in ("solutions", "assignments"):
        path = root / folder / assignment / f"{assignment}.ipynb"
        if path.exists():
            return path
    raise FileNotFoundError(_("no source notebook for {assignment} under {root}/solutions or "
                              "{root}/assignments").format(assignment=repr(assignment), root=root))


def released_notebook(assignment: str, root: Path | None = None) -> Path:
    """The released notebook (assignments/, written by `autograder release`): what a probe's cells are built from."""
    path = (root or course_root()) / "assignments" / assignment / f"{assignment}.ipynb"
    if not path.is_file():
        raise FileNotFoundError(_("no released notebook for {assignment} at {path}; run `autograder release`").format(
            assignment=repr(assignment), path=path))
    return path


def released_grade_ids(root: Path | None = None) -> dict[str, set[str]]:
    """Every released assignment's grade_ids, to tell which assignment a notebook is."""
    found = {}
    for path in sorted(((root or course_root()) / "assignments").glob("*/*.ipynb")):
        if path.stem != path.parent.name:
            continue
        try:
            cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found[path.stem] = {c["metadata"]["nbgrader"]["grade_id"] for c in cells
                            if isinstance(c.get("metadata", {}).get("nbgrader", {}).get("grade_id"), str)}
    return found


def hidden_paths(extra: list[Path]) -> list[str]:
    """What a probe must not read: solutions, check definitions, tests, history, other submissions, results."""
    root = course_root()
    paths = [root / "solutions", PACKAGE_DIR / "checks", root / "tests", root / "examples", root / "benchmarks",
             root / ".git", *extra]
    if os.environ.get("AUTOGRADER_HIDDEN_CHECKS"):
        paths.append(Path(os.environ["AUTOGRADER_HIDDEN_CHECKS"]))
    return sorted({str(p.resolve()) for p in paths if p.resolve().is_dir()})


def visible_paths() -> list[str]:
    """What a probe may read besides the interpreter and the public package: the course's datasets/ folder."""
    candidates = [course_root() / "datasets", PACKAGE_DIR.parent / "datasets"]
    if os.environ.get("AUTOGRADER_COURSE"):
        candidates.insert(0, Path(os.environ["AUTOGRADER_COURSE"]) / "datasets")
    return sorted({str(p.resolve()) for p in candidates if p.is_dir()})


def assignment_of(path: Path, given: str | None = None) -> str:
    """Which assignment a notebook is: as given, else its metadata (set by release), else its name.

    The file is read as grading reads it (a regular file only, size-capped: a FIFO never blocks here); one
    that cannot be read is told by its name, and grading then says what is wrong with it."""
    from autograder.notebook import NotebookError, read_bytes

    if not os.path.lexists(path):
        raise FileNotFoundError(_("no such notebook: {path}").format(path=path))
    if given:
        return given
    try:
        found = json.loads(read_bytes(path))["metadata"]["autograder"]["assignment"]
        if isinstance(found, str):
            return found
    except (NotebookError, ValueError, KeyError, TypeError, RecursionError):
        pass
    known = sorted({p.name for folder in ("solutions", "assignments") for p in (course_root() / folder).glob("*")
                    if p.is_dir()})
    for candidate in (Path(path).stem, Path(path).parent.name):
        if candidate in known:
            return candidate
    raise ValueError(_("cannot tell which assignment {path} is; pass the assignment id (one of {known})").format(
        path=path, known=", ".join(known)))
