"""The check definitions, one module an assignment, and the registry that finds them.

Importing this package pulls in references (torch's modules); the zygote and the probe never do.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path

from autograder.checks.base import Case, CheckGroup
from autograder.i18n import _

# The course's assignments, in order. An id is NN_name, and its check module is checks/<name>.py (its hidden
# checks checks/hidden/<name>.py, its recipes recipes/<name>.py): the module name is derived from the id.
ASSIGNMENT_IDS = ("01_rnn", "02_lstm", "03_gru", "04_bptt", "05_embeddings", "06_language_model")
ASSIGNMENTS = {assignment: assignment.split("_", 1)[1] for assignment in ASSIGNMENT_IDS}


def module_name(assignment: str) -> str:
    try:
        return ASSIGNMENTS[assignment]
    except KeyError:
        known = ", ".join(sorted(ASSIGNMENTS))
        raise KeyError(_("unknown assignment {assignment} (known: {known})").format(assignment=repr(assignment),
                                                                                  known=known)) from None


def groups(assignment: str) -> dict[str, CheckGroup]:
    module = importlib.import_module(f"autograder.checks.{module_name(assignment)}")
    return {group.id: group for group in module.GROUPS}


def public_cases(assignment: str, group: CheckGroup) -> list[Case]:
    """A group's public cases, their expected values from the references or, in a student bundle, from the
    answers recorded at release (see autograder.checks.answers)."""
    from autograder.checks import answers

    with answers.building(module_name(assignment), group.id):
        return group.cases()


def limits(assignment: str):
    """The assignment's limits: its module's LIMITS where it sets them, else the defaults."""
    from autograder.judge.runner import Limits

    module = importlib.import_module(f"autograder.checks.{module_name(assignment)}")
    return getattr(module, "LIMITS", Limits())


def find_group(group_id: str) -> tuple[str, CheckGroup]:
    for assignment in ASSIGNMENTS:
        found = groups(assignment).get(group_id)
        if found is not None:
            return assignment, found
    raise KeyError(_("no check group {group}").format(group=repr(group_id)))


def hidden_available(assignment: str) -> bool:
    return _hidden_module(assignment) is not None


HIDDEN_ENV = "AUTOGRADER_HIDDEN_CHECKS"


def external_hidden_dir() -> Path | None:
    """Where hidden checks live when they do not ship with the package: $AUTOGRADER_HIDDEN_CHECKS.

    A student bundle has no checks/hidden/; a grading workflow fetches the instructor's copy (written by
    `autograder export-hidden`) from a private location and points this variable at it.
    """
    value = os.environ.get(HIDDEN_ENV)
    return Path(value).resolve() if value else None


def _hidden_file(assignment: str) -> Path | None:
    name = module_name(assignment)
    external = external_hidden_dir()
    candidates = ([external / f"{name}.py"] if external else []) + [Path(__file__).parent / "hidden" / f"{name}.py"]
    return next((path for path in candidates if path.is_file()), None)


def _hidden_module(assignment: str):
    name = module_name(assignment)
    path = _hidden_file(assignment)
    if path is None:
        return None
    if path.parent == Path(__file__).parent / "hidden":
        return importlib.import_module(f"autograder.checks.hidden.{name}")
    qualified = f"autograder.checks.hidden.{name}"
    if qualified in sys.modules and getattr(sys.modules[qualified], "__file__", None) == str(path):
        return sys.modules[qualified]
    spec = importlib.util.spec_from_file_location(qualified, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    spec.loader.exec_module(module)
    return module


def hidden_cases(assignment: str, group_id: str) -> Callable[[], list[Case]] | None:
    module = _hidden_module(assignment)
    return None if module is None else module.HIDDEN.get(group_id)


@functools.cache
def hidden_weight(assignment: str, group_id: str) -> float:
    """The total weight of a group's hidden cases, known without running them: counted from the hidden checks
    where they are present, else read from what `autograder release -o` recorded (0 where neither is)."""
    factory = hidden_cases(assignment, group_id)
    if factory is not None:
        return float(sum(case.weight for case in factory() if not case.diagnostic))
    from autograder.checks import answers

    return answers.recorded_hidden_weight(module_name(assignment), group_id)


GRADING_ROOTS = ("autograder.judge.grading", "autograder.probe.zygote", "autograder.probe.serve", "autograder.inline")


def _module_file(package: Path, dotted: str) -> Path | None:
    parts = dotted.split(".")[1:]
    if not parts:
        return package / "__init__.py"
    for candidate in (package.joinpath(*parts).with_suffix(".py"), package.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def _imported(tree, dotted: str, is_package: bool) -> set[str]:
    """The autograder modules a module's source imports, anywhere in it (lazy imports in functions too)."""
    import ast

    found: set[str] = set()
    here = dotted if is_package else dotted.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "autograder" or name.startswith("autograder.")}


@functools.cache  # the import graph of the installed package: read once a process (its bytes are hashed each time)
def grading_files(package: Path | None = None, roots: tuple[str, ...] = GRADING_ROOTS) -> tuple[Path, ...]:
    """Every file of the package the grading path can load: the modules reachable by import from the
    grader, the zygote, the probe and the in-notebook check, with every check module and recipe. Derived
    from the sources, so a new module is covered the day it is imported; the output-only modules (feedback,
    class report, CI, gradebook, merge) are left out unless the grading path imports them."""
    from autograder.notebook import parse_python

    package = package or Path(__file__).resolve().parent.parent
    todo = [*roots, *(f"autograder.checks.{n}" for n in ASSIGNMENTS.values()),
            *(f"autograder.probe.recipes.{p.stem}" for p in sorted((package / "probe" / "recipes").glob("*.py")))]
    seen: dict[str, Path] = {}
    while todo:
        dotted = todo.pop()
        path = _module_file(package, dotted)
        if path is None or dotted in seen:
            continue
        seen[dotted] = path
        parent = dotted.rpartition(".")[0]
        if parent and parent not in seen:
            todo.append(parent)  # importing a submodule runs its package's __init__
        tree = parse_python(path.read_bytes(), str(path))
        todo.extend(_imported(tree, dotted, path.name == "__init__.py") - set(seen))
    return tuple(sorted(set(seen.values())))


@functools.cache
def notebook_imports(assignment: str) -> tuple[str, ...]:
    """The autograder modules the released notebook's cells import (they run in the probe, so they grade)."""
    import json

    from autograder.course import released_notebook
    from autograder.notebook import parse_python

    try:
        cells = json.loads(Path(released_notebook(assignment)).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError):
        return ()
    found: set[str] = set()
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell.get("source", ""))
        code = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            found |= _imported(parse_python(code), "__main__", False)
        except SyntaxError:
            continue
    return tuple(sorted(found))


def _source_bytes(path: Path) -> bytes:
    return path.read_bytes()


def definitions_hash(assignment: str) -> str:
    """A hash of the code and data that decide this assignment's grades, so a change triggers a regrade:
    every file of the grading path (`grading_files`), the hidden checks in use, and the datasets."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    from autograder.course import course_root

    data = sorted(p for p in (course_root() / "datasets").rglob("*") if p.is_file() and p.suffix != ".md")
    hidden = _hidden_file(assignment)
    files = grading_files(package, GRADING_ROOTS + notebook_imports(assignment))
    for path in [*files, *([hidden] if hidden else []), *data]:
        name = str(path.relative_to(package)) if path.is_relative_to(package) else path.name
        digest.update(name.encode() + b"\0" + _source_bytes(path) + b"\0")
    return digest.hexdigest()[:16]
