"""Scoring shared by both executors: cases in, outcomes in, a group result out."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from functools import cache

import torch

from autograder import checks
from autograder.checks import answers
from autograder.checks.base import Case, CheckGroup, Inconclusive, Outcome, decided_on_values
from autograder.wire import TensorInfo


@dataclass
class CaseResult:
    name: str
    passed: bool
    message: str | None
    hidden: bool


@dataclass
class GroupResult:
    group_id: str
    title: str
    points: float
    cases: list[CaseResult] = field(default_factory=list)
    hint: str | None = None

    def share(self, hidden: bool | None = None) -> tuple[float, float]:
        """(score, max) of this group's points, over all cases or only the public or hidden ones."""
        if not self.cases:
            return 0.0, (0.0 if hidden else self.points)
        per_case = self.points / len(self.cases)
        total = (round(per_case * sum(c.passed for c in self.cases), 4), round(self.points, 4))
        public_cases = [c for c in self.cases if not c.hidden]
        public = (round(per_case * sum(c.passed for c in public_cases), 4), round(per_case * len(public_cases), 4))
        if hidden is None:
            return total
        if not hidden:
            return public
        # The hidden share is what the whole earns beyond the public share, so the two entries of a test
        # cell in results.json add up to its score exactly, as nbgrader computes it.
        return round(total[0] - public[0], 4), round(total[1] - public[1], 4)

    @property
    def score(self) -> float:
        return self.share()[0]


@dataclass
class PlannedCase:
    case: Case
    hidden: bool


def plan(assignment: str, group: CheckGroup, include_hidden: bool) -> list[PlannedCase]:
    planned = [PlannedCase(case, False) for case in checks.public_cases(assignment, group)]
    if include_hidden:
        factory = checks.hidden_cases(assignment, group.id)
        if factory is not None:
            planned += [PlannedCase(case, True) for case in factory()]
    twins = cuda_twins(planned) if cuda_available() and group.stub in tensor_stubs(assignment) else []
    # A meta case stopped by an op that needs values is inconclusive; its CUDA twin (made above, from the case as
    # it was) judges such code normally.
    planned = [replace(p, case=decided_on_values(p.case)) if p.case.call.device == "meta" else p for p in planned]
    return planned + twins


# ---------------------------------------------------------------- the same cases on a CUDA device

def cuda_available() -> bool:
    """Whether checks also run on CUDA here: a CUDA device, unless AUTOGRADER_DEVICE=cpu says not to."""
    if os.environ.get("AUTOGRADER_DEVICE", "").lower() == "cpu":
        return False
    import torch

    return torch.cuda.is_available()


@cache
def tensor_stubs(assignment: str) -> frozenset[str]:
    """Stubs that do tensor arithmetic only: those with a meta-device case. Stubs that need values or
    run through recipes (training, vocabularies) are checked on the CPU only, as CURRICULUM says."""
    return frozenset(case.call.stub for group in checks.groups(assignment).values()
                     for case in checks.public_cases(assignment, group)
                     if case.call.device == "meta")


def cuda_twins(planned: list[PlannedCase]) -> list[PlannedCase]:
    """CUDA copies of a group's device cases: every meta-device case (shapes, dtypes, where outputs live)
    and the first value case (values on the GPU, TF32 off, float32 tolerances)."""
    twins = [PlannedCase(cuda_twin(p.case), p.hidden) for p in planned if p.case.call.device == "meta"]
    first_value = next((p for p in planned if p.case.call.device == "cpu" and not p.case.diagnostic
                        and not p.case.call.recipe), None)
    if first_value is not None:
        twins.append(PlannedCase(cuda_twin(first_value.case), first_value.hidden))
    return twins


def _off_device(value: object, name: str = "the output") -> tuple[str, str] | None:
    """(what, its device) of the first tensor in `value` that is not on a CUDA device."""
    if isinstance(value, (torch.Tensor, TensorInfo)):
        device = value.device if isinstance(value, TensorInfo) else getattr(value, "wire_device", "cpu")
        return None if str(device).startswith("cuda") else (name, str(device))
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _off_device(item, f"{name}[{i}]")
            if found:
                return found
    if isinstance(value, dict):
        for key, item in value.items():
            found = _off_device(item, f"{name}[{key!r}]")
            if found:
                return found
    return None


def _relabel(value: object, device: str) -> None:
    """Mark returned tensors as if they came from `device`, so the original case's verdict applies as is."""
    if isinstance(value, torch.Tensor):
        value.wire_device = device
    elif isinstance(value, TensorInfo):
        value.device = device
    elif isinstance(value, (list, tuple)):
        for item in value:
            _relabel(item, device)
    elif isinstance(value, dict):
        for item in value.values():
            _relabel(item, device)


def cuda_twin(case: Case) -> Case:
    """The case with its inputs on CUDA: outputs must stay on CUDA, then the original verdict judges them."""
    source = case.call.device

    def verdict(outcome: Outcome) -> str | None:
        if outcome.status == "ok":
            wrong = _off_device(outcome.value)
            if wrong:
                return (f"{wrong[0]} is on the {wrong[1]} device; expected cuda, the inputs' device — make new "
                        "tensors with x.new_zeros(...) or device=x.device, not torch.zeros(...)")
            _relabel(outcome.value, source)
        return case.verdict(outcome)

    return Case(f"{case.name} [cuda]", replace(case.call, device="cuda"), verdict, case.diagnostic)


def judge_group(group: CheckGroup, planned: list[PlannedCase], outcomes: list[Outcome], points: float) -> GroupResult:
    result = GroupResult(group.id, group.title, points)
    verdicts: dict[str, str | None] = {}
    for item, outcome in zip(planned, outcomes):
        try:
            message = item.case.verdict(outcome)
        except answers.NotShipped as exc:  # a student bundle: only the grader can decide this case
            message = Inconclusive(str(exc))
        except Exception as exc:  # noqa: BLE001 - a value the verdict did not foresee is a failure, not a crash
            message = f"the returned value could not be checked ({type(exc).__name__}: {exc})"
        verdicts[item.case.name] = message
        if not item.case.diagnostic:
            passed = message is None or isinstance(message, Inconclusive)  # an inconclusive case keeps its points
            result.cases.append(CaseResult(item.case.name, passed, message, item.hidden))
    if any(not c.passed for c in result.cases) and group.hint is not None:
        result.hint = group.hint(verdicts)
    return result
