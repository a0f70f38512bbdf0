"""`autograder release -o DIR`: what students get, with nothing secret in it.

The bundle is the released notebooks (in one language: assignments-zh/ becomes the bundle's assignments/ for
`--lang zh`), the glossary they link to, the datasets, the `autograder` package with its public checks
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

from autograder import i18n
from autograder.course import PACKAGE_DIR
from autograder.i18n import _

TEMPLATES = PACKAGE_DIR / "templates"
GLOSSARY = Path("docs") / "glossary-zh.md"
_SKIP_NAMES = {"__pycache__", ".pytest_cache", ".ipynb_checkpoints"}


def _ignore(directory: str, names: list[str]) -> set[str]:
    return {n for n in names if n in _SKIP_NAMES or n.endswith((".pyc", ".pyo"))}


def write_bundle(root: Path, out: Path, lang: str = "en") -> list[Path]:
    """Write the student bundle for the course at `root` into `out` (replaced if it exists), its notebooks in
    `lang` (see autograder.authoring.release); returns its files."""
    from autograder.authoring.release import release_folder

    released = root / release_folder(lang)
    if not released.is_dir():
        raise ValueError(_("{folder} does not exist; run `autograder release --lang {lang}` first").format(
            folder=released, lang=lang))
    if out.exists():  # the course itself, or any folder of it, is refused here: it has no marker file
        if not (out / ".autograder-bundle").exists() and any(out.iterdir()):
            raise ValueError(_("{folder} exists and is not a bundle written by `autograder release -o`; "
                               "choose an empty or new folder").format(folder=out))
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(released, out / "assignments", ignore=_ignore)
    if (root / GLOSSARY).is_file():  # the notebooks' first cells link to it
        (out / GLOSSARY).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / GLOSSARY, out / GLOSSARY)
    if (root / "datasets").is_dir():
        shutil.copytree(root / "datasets", out / "datasets", ignore=_ignore)
    package = out / "autograder"
    shutil.copytree(PACKAGE_DIR, package, ignore=_ignore)
    hidden = package / "checks" / "hidden"
    shutil.rmtree(hidden)
    hidden.mkdir()
    (hidden / "__init__.py").write_text('"""Hidden cases are added when a notebook is graded; none ship here."""\n',
                                        encoding="utf-8")
    write_public_answers(package / "checks" / "public_answers")
    if lang != "en":  # the bundle's grader speaks its notebooks' language (autograder.i18n; AUTOGRADER_LANG overrides)
        (package / "locale" / "default").write_text(f"{i18n.normalize(lang)}\n", encoding="utf-8")
    pyproject = (root / "pyproject.toml").read_text(encoding="utf-8")
    (out / "pyproject.toml").write_text(pyproject, encoding="utf-8")
    readme = TEMPLATES / ("student_README.zh.md" if lang == "zh" else "student_README.md")
    shutil.copyfile(readme, out / "README.md")
    workflow = out / ".github" / "workflows" / "grade.yml"
    workflow.parent.mkdir(parents=True)
    shutil.copyfile(TEMPLATES / "student-grade.yml", workflow)
    (out / ".gitignore").write_text(".venv/\n__pycache__/\n*.egg-info/\ngraded/\n", encoding="utf-8")
    (out / ".autograder-bundle").write_text("written by `autograder release -o`; safe to replace\n",
                                            encoding="utf-8")
    return sorted(p for p in out.rglob("*") if p.is_file())


def write_public_answers(folder: Path) -> list[Path]:
    """The public cases' expected values and mistake outputs, computed now by the grading side's references and
    stored as data (see autograder.checks.answers): the bundle's checks compare against these, not against code."""
    from autograder import checks
    from autograder.checks import answers

    shutil.rmtree(folder, ignore_errors=True)
    return [answers.write(name, list(checks.groups(assignment).values()), folder)
            for assignment, name in checks.ASSIGNMENTS.items()]


SOLUTION_LINE = 25  # a line of solution code this long is never common enough to appear anywhere by chance


def solution_lines(root: Path) -> dict[str, str]:
    """Every line of at least SOLUTION_LINE characters (stripped) inside a solution block: line → where it is from.

    A line the course shows students anyway (in a source notebook outside every solution block, such as a
    training loop in a demo cell) is not secret and is left out."""
    found, shown = {}, set()
    for source in sorted((root / "solutions").glob("*/*.ipynb")):
        nb = json.loads(source.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            code = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if not meta.get("solution") or cell["cell_type"] != "code":
                shown.update(line.strip() for line in code.splitlines())
                continue
            outside = re.sub(r"### BEGIN SOLUTION\n.*?### END SOLUTION", "", code, flags=re.S)
            shown.update(line.strip() for line in outside.splitlines())
            for block in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", code, flags=re.S):
                for line in block.splitlines():
                    if len(line.strip()) >= SOLUTION_LINE and not line.strip().startswith("#"):
                        found.setdefault(line.strip(), f"{source.parent.name}/{meta['grade_id']}")
    return {line: origin for line, origin in found.items() if line not in shown}


def _texts(bundle: Path) -> dict[Path, str]:
    """Each text file of the bundle; a notebook as its cells' sources (its JSON escapes quotes and newlines)."""
    texts = {}
    for path in bundle.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if path.suffix == ".ipynb":
            try:
                cells = json.loads(text)["cells"]
                text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in cells)
            except (ValueError, KeyError, TypeError):
                pass
        texts[path] = text
    return texts


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
        found += [_("{what} in {member}").format(what=label, member=p.relative_to(bundle))
                  for p, text in texts.items() if needle in text]
    lines = solution_lines(root)
    for path, text in _texts(bundle).items():
        found += [_("a line of {origin}'s solution ({line}) in {member}").format(
            origin=origin, line=repr(line[:60]), member=path.relative_to(bundle)) for line, origin in lines.items()
            if line in text]
    hidden_modules = [p for p in (bundle / "autograder" / "checks" / "hidden").glob("*.py") if p.name != "__init__.py"]
    found += [_("hidden check module {name}").format(name=p.name) for p in hidden_modules]
    return found
