"""Where a course's files are, and which of them a probe must never read. Light: no torch here."""

from __future__ import annotations

import os
from pathlib import Path

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
    raise FileNotFoundError(f"no source notebook for {assignment!r} under {root}/solutions or {root}/assignments")


def hidden_paths(extra: list[Path]) -> list[str]:
    """What a probe must not read: solutions, check definitions, tests, history, other submissions, results."""
    root = course_root()
    paths = [root / "solutions", PACKAGE_DIR / "checks", root / "tests", root / "examples", root / "benchmarks",
             root / ".git", *extra]
    return sorted({str(p.resolve()) for p in paths if p.resolve().is_dir()})
