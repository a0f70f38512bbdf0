"""Where a public case's expected values come from: the grading side's references, or data recorded at release.

The public check modules hold how a case is built and judged, never how an answer is computed. Each
calls its references through `references(name)`, a stand-in for the grading-side module (the hidden
check module of that name, which holds the references and the mistake models):

    REF = answers.references("rnn")
    expected = REF.cell_reference(x, h_prev, W_ih, W_hh, b_ih, b_hh)

Where the grading side is present (an instructor's checkout, a grading workflow with the hidden checks),
the call runs the reference. The student bundle has no grading side: there `autograder release -o`
has recorded, group by group, what every public case's references returned (`record`), and the same
calls are answered from that data (`replay`), in the order the cases are built; their inputs must match
what was recorded. The data loads with `torch.load(weights_only=True)`, which cannot execute code.
A reference that a verdict needs on the student's own output (a perplexity of their trained weights,
say) has nothing to replay: it raises `NotShipped`, and the in-notebook check says the case is decided
when the notebook is graded.
"""

from __future__ import annotations

import contextlib
import hashlib
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from autograder.i18n import _

ANSWERS_DIR = Path(__file__).resolve().parent / "public_answers"
FORMAT = 1


class NotShipped(RuntimeError):
    """A reference that only the grading side can compute was asked for where there is none."""


class ReplayMismatch(RuntimeError):
    """The recorded answers do not belong to these cases (another version of the checks, or of torch)."""


class _Building:
    """The group whose public cases are being built, and how far through its recorded answers we are."""

    def __init__(self, module: str, group_id: str, entries: list | None, recording: bool) -> None:
        self.module, self.group_id, self.entries, self.position = module, group_id, entries, 0
        self.recording = recording
        self.recorded: list[dict] = []


_local = threading.local()


def _current() -> _Building | None:
    return getattr(_local, "building", None)


def eager() -> bool:
    """Whether answers are being recorded or replayed: then a case's lazily computed answers (mistake models it
    would only compute when the case fails) must be computed while its group is built."""
    building = _current()
    return building is not None and (building.recording or building.entries is not None)


def digest(value: Any) -> str:
    """A fingerprint of a reference's inputs: tensors by dtype, shape and bytes; plain values by their repr."""
    h = hashlib.sha256()

    def feed(item: Any) -> None:
        if isinstance(item, torch.Tensor):
            t = item.detach().to("cpu").contiguous()
            h.update(f"T{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes())
        elif isinstance(item, (list, tuple)):
            h.update(b"[" if isinstance(item, list) else b"(")
            for sub in item:
                feed(sub)
            h.update(b"]")
        elif isinstance(item, dict):
            h.update(b"{")
            for key in sorted(item, key=repr):
                feed(key)
                feed(item[key])
            h.update(b"}")
        elif isinstance(item, float):
            h.update(b"f" + struct.pack("<d", item))
        elif isinstance(item, (int, str, bool, type(None), torch.dtype)):
            h.update(repr(item).encode())
        elif isinstance(item, torch.nn.Module):
            h.update(type(item).__name__.encode())
            feed(dict(item.state_dict()))
        else:
            h.update(type(item).__name__.encode())

    feed(value)
    return h.hexdigest()[:16]


def grading_module(name: str):
    """The grading side's module of references for check module `name`, or None where there is none."""
    from autograder import checks

    assignment = next((a for a, n in checks.ASSIGNMENTS.items() if n == name), None)
    return checks._hidden_module(assignment) if assignment else None


def _replayed(module: str) -> dict:
    path = ANSWERS_DIR / f"{module}.pt"
    if not path.is_file():
        raise NotShipped(_("the public answers of {module} are missing ({file}): reinstall the course "
                           "bundle").format(module=module, file=path.name))
    data = torch.load(path, weights_only=True)
    if data.get("format") != FORMAT:
        raise ReplayMismatch(_("{file} has format {found}; this autograder reads {expected}").format(
            file=path.name, found=repr(data.get("format")), expected=FORMAT))
    return data["groups"]


class References:
    """The stand-in for one grading-side module: attribute access gives a function that answers calls."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)

        def answer(*args: Any, **kwargs: Any) -> Any:
            return _answer(self._module, name, args, kwargs)

        answer.__name__ = name
        return answer


def references(module: str) -> References:
    return References(module)


def _answer(module: str, function: str, args: tuple, kwargs: dict) -> Any:
    building = _current()
    graded = grading_module(module)
    if graded is not None:
        outermost = not getattr(_local, "depth", 0)  # a reference that calls others is one answer, not several
        _local.depth = getattr(_local, "depth", 0) + 1
        try:
            value = getattr(graded, function)(*args, **kwargs)
        finally:
            _local.depth -= 1
        if building is not None and building.recording and outermost:
            building.recorded.append({"fn": function, "digest": digest((args, kwargs)), "value": value})
        return value
    if building is None or building.entries is None:
        raise NotShipped(_("{function} is computed by the grader: this case is decided when the notebook is "
                           "graded").format(function=function))
    if building.position >= len(building.entries):
        raise ReplayMismatch(_("{group}: more answers asked for than were recorded; reinstall the bundle").format(
            group=building.group_id))
    entry = building.entries[building.position]
    building.position += 1
    if entry["fn"] != function or entry["digest"] != digest((args, kwargs)):
        raise ReplayMismatch(_("{group}: the recorded answer #{position} is for other inputs ({function}); the "
                               "bundle was released with other checks or another torch").format(
            group=building.group_id, position=building.position, function=entry["fn"]))
    return entry["value"]


@contextlib.contextmanager
def building(module: str, group_id: str, recording: bool = False) -> Iterator[_Building]:
    """Build one group's public cases: references run (and are recorded) where the grading side is present,
    else their recorded answers are replayed."""
    entries = None
    if grading_module(module) is None:
        entries = _replayed(module).get(group_id)
        if entries is None:
            raise ReplayMismatch(_("no recorded answers for {group}; reinstall the course bundle").format(
                group=group_id))
    previous = _current()
    _local.building = _Building(module, group_id, entries, recording)
    try:
        yield _local.building
    finally:
        _local.building = previous


def record(module: str, groups: list) -> dict:
    """What `replay` needs for these public groups (each with `.id` and `.cases()`), computed by the references."""
    if grading_module(module) is None:
        raise NotShipped(_("recording {module}'s public answers needs its grading-side module").format(module=module))
    recorded = {}
    for group in groups:
        with building(module, group.id, recording=True) as session:
            getattr(group.cases, "__wrapped__", group.cases)()  # past any cache: every reference must run
        recorded[group.id] = session.recorded
    from autograder import checks

    assignment = next(a for a, n in checks.ASSIGNMENTS.items() if n == module)
    # Not secret, and stated to students up front: how many of each test cell's points the hidden cases hold.
    weights = {group.id: checks.hidden_weight(assignment, group.id) for group in groups}
    return {"format": FORMAT, "module": module, "torch": str(torch.__version__), "groups": recorded,
            "hidden_weights": weights}


def recorded_hidden_weight(module: str, group_id: str) -> float:
    """The hidden cases' weight of a group as recorded at release; 0 where nothing was recorded."""
    path = ANSWERS_DIR / f"{module}.pt"
    if not path.is_file():
        return 0.0
    return float(torch.load(path, weights_only=True).get("hidden_weights", {}).get(group_id, 0.0))


def write(module: str, groups: list, folder: Path) -> Path:
    """Record `module`'s public answers into folder/<module>.pt; refuse values that would need code to load."""
    data = record(module, groups)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{module}.pt"
    torch.save(data, path)
    try:
        torch.load(path, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any value the safe loader refuses is a bug in a reference
        path.unlink()
        raise TypeError(_("{module}'s public answers hold a value that does not load without code: {error}").format(
            module=module, error=exc)) from None
    return path
