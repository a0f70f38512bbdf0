"""Scoring shared by both executors: cases in, outcomes in, a group result out."""

from __future__ import annotations

from dataclasses import dataclass, field

from autograder import checks
from autograder.checks.base import Case, CheckGroup, Outcome


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
        chosen = self.cases if hidden is None else [c for c in self.cases if c.hidden == hidden]
        if not self.cases:
            return 0.0, (0.0 if hidden else self.points)
        per_case = self.points / len(self.cases)
        return round(per_case * sum(c.passed for c in chosen), 4), round(per_case * len(chosen), 4)

    @property
    def score(self) -> float:
        return self.share()[0]


@dataclass
class PlannedCase:
    case: Case
    hidden: bool


def plan(assignment: str, group: CheckGroup, include_hidden: bool) -> list[PlannedCase]:
    planned = [PlannedCase(case, False) for case in group.cases()]
    if include_hidden:
        factory = checks.hidden_cases(assignment, group.id)
        if factory is not None:
            planned += [PlannedCase(case, True) for case in factory()]
    return planned


def judge_group(group: CheckGroup, planned: list[PlannedCase], outcomes: list[Outcome], points: float) -> GroupResult:
    result = GroupResult(group.id, group.title, points)
    verdicts: dict[str, str | None] = {}
    for item, outcome in zip(planned, outcomes):
        try:
            message = item.case.verdict(outcome)
        except Exception as exc:  # noqa: BLE001 - a value the verdict did not foresee is a failure, not a crash
            message = f"the returned value could not be checked ({type(exc).__name__}: {exc})"
        verdicts[item.case.name] = message
        if not item.case.diagnostic:
            result.cases.append(CaseResult(item.case.name, message is None, message, item.hidden))
    if any(not c.passed for c in result.cases) and group.hint is not None:
        result.hint = group.hint(verdicts)
    return result
