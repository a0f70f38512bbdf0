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

ASSIGNMENTS = {
    "01_rnn": "rnn",
    "02_lstm": "lstm",
    "03_gru": "gru",
    "04_bptt": "bptt",
    "05_embeddings": "embeddings",
    "06_language_model": "language_model",
}


def module_name(assignment: str) -> str:
    try:
        return ASSIGNMENTS[assignment]
    except KeyError:
        known = ", ".join(sorted(ASSIGNMENTS))
        raise KeyError(f"unknown assignment {assignment!r} (known: {known})") from None


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
    from autograder.runner import Limits

    module = importlib.import_module(f"autograder.checks.{module_name(assignment)}")
    return getattr(module, "LIMITS", Limits())


def find_group(group_id: str) -> tuple[str, CheckGroup]:
    for assignment in ASSIGNMENTS:
        found = groups(assignment).get(group_id)
        if found is not None:
            return assignment, found
    raise KeyError(f"no check group {group_id!r}")


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


def definitions_hash(assignment: str) -> str:
    """A hash of every file that defines this assignment's checks, so changed checks trigger a regrade."""
    here = Path(__file__).parent
    package = here.parent
    digest = hashlib.sha256()
    name = module_name(assignment)
    paths = (here / "base.py", here / "recurrent.py", here / f"{name}.py", _hidden_file(assignment),
             here / "answers.py", package / "recipes" / "__init__.py", package / "recipes" / f"{name}.py",
             package / "recipes" / "devices.py", package / "models.py", package / "evaluate.py",
             package / "byhand.py", package / "trace.py", package / "notebook.py")
    # The data some checks read (the names for 06): changed data must also regrade.
    from autograder.course import course_root

    data = sorted(p for p in (course_root() / "datasets").rglob("*") if p.is_file() and p.suffix != ".md")
    paths = (*paths, package / "data.py", package / "data_text.py", *data)
    for path in paths:
        if path is not None and path.exists():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]
