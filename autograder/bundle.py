"""`autograder release -o DIR`: what students get, with nothing secret in it.

The bundle is the released notebooks, the datasets, the `autograder` package with its public checks
only (no checks/hidden/), a README for students and a grading workflow for their repositories. It is a
complete course on its own: `pip install .` inside it, then `autograder check` runs the public checks.
What must never be in it — solution cells' code, hidden check definitions, the instructors' tests and
sample submissions — is left out by construction and searched for afterwards (`leaks`).
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from autograder.course import PACKAGE_DIR

TEMPLATES = PACKAGE_DIR / "templates"
_SKIP_NAMES = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _SKIP_NAMES or n.endswith((".pyc", ".pyo"))}


def write_bundle(root: Path, out: Path) -> list[Path]:
    """Write the student bundle for the course at `root` into `out` (replaced if it exists); returns its files."""
    if out.exists():  # the course itself, or any folder of it, is refused here: it has no marker file
        if not (out / ".autograder-bundle").exists() and any(out.iterdir()):
            raise ValueError(f"{out} exists and is not a bundle written by `autograder release -o`; "
                             "choose an empty or new folder")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(root / "assignments", out / "assignments", ignore=_ignore)
    if (root / "datasets").is_dir():
        shutil.copytree(root / "datasets", out / "datasets", ignore=_ignore)
    package = out / "autograder"
    shutil.copytree(PACKAGE_DIR, package, ignore=_ignore)
    hidden = package / "checks" / "hidden"
    shutil.rmtree(hidden)
    hidden.mkdir()
    (hidden / "__init__.py").write_text('"""Hidden cases are added when a notebook is graded; none ship here."""\n',
                                        encoding="utf-8")
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    (out / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    shutil.copyfile(TEMPLATES / "student_README.md", out / "README.md")
    workflow = out / ".github" / "workflows" / "grade.yml"
    workflow.parent.mkdir(parents=True)
    shutil.copyfile(TEMPLATES / "student-grade.yml", workflow)
    (out / ".gitignore").write_text(".venv/\n__pycache__/\n*.egg-info/\ngraded/\n", encoding="utf-8")
    (out / ".autograder-bundle").write_text("written by `autograder release -o`; safe to replace\n",
                                            encoding="utf-8")
    return sorted(p for p in out.rglob("*") if p.is_file())


def _normalise(code: str) -> str:
    return re.sub(r"\s+", " ", code).strip()


def secrets(root: Path) -> dict[str, str]:
    """What must not be in a bundle: label → text. Solution cells' code (each whole cell and each
    function body in it) and the hidden check modules' sources."""
    found: dict[str, str] = {}
    for source in sorted((root / "solutions").glob("*/*.ipynb")):
        nb = json.loads(source.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not meta.get("solution") or cell["cell_type"] != "code":
                continue
            code = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            inside = re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", code, flags=re.S)
            for number, block in enumerate(inside):
                if len(_normalise(block)) >= 20:
                    found[f"{source.parent.name}/{meta['grade_id']} solution block {number + 1}"] = block
    for module in sorted((PACKAGE_DIR / "checks" / "hidden").glob("*.py")):
        if module.name != "__init__.py":
            found[f"hidden checks {module.name}"] = module.read_text(encoding="utf-8")
    return found


def leaks(bundle: Path, root: Path) -> list[str]:
    """Every secret (see `secrets`) found in a text file of the bundle, as 'label in path'."""
    texts = {}
    for path in bundle.rglob("*"):
        if path.is_file():
            try:
                texts[path] = _normalise(path.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, OSError):
                continue
    found = []
    for label, secret in secrets(root).items():
        needle = _normalise(secret)
        found += [f"{label} in {p.relative_to(bundle)}" for p, text in texts.items() if needle in text]
    hidden_modules = [p for p in (bundle / "autograder" / "checks" / "hidden").glob("*.py") if p.name != "__init__.py"]
    found += [f"hidden check module {p.name}" for p in hidden_modules]
    return found
