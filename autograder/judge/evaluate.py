"""Scoring shared by both executors: cases in, outcomes in, a group result out."""

from __future__ import annotations

import ast
import os
import re
import string
from dataclasses import dataclass, replace
from functools import cache, reduce

import torch

from autograder import checks, i18n, notebook
from autograder.checks import answers
from autograder.checks.base import VALUE, Case, CheckGroup, Inconclusive, Outcome, decided_on_values
from autograder.i18n import _, ngettext
from autograder.reports.results import NOT_IMPLEMENTED, CaseResult, GroupResult
from autograder.wire import TensorInfo

__all__ = ["NOT_IMPLEMENTED", "CaseResult", "GroupResult"]  # the result model lives in results; named here too


def link(groups: list[GroupResult], calls: dict[str, set[str]] | None = None) -> None:
    """Join the groups of one submission: the gate of each stub over all its groups, and cascade hints.

    `calls` maps a stub to the other stubs its source refers to. A group that lost points and whose stub calls
    a stub that failed its own value cases (named by the source or by a traceback) gets "fix <callee> first"
    as its hint: its own failures may be that function's."""
    by_stub: dict[str, list[CaseResult]] = {}
    for group in groups:
        by_stub.setdefault(group.stub, []).extend(group.cases)
    for group in groups:
        group.gate = by_stub[group.stub]
    failing = {stub for stub, cases in by_stub.items() if any(not c.passed and c.kind == VALUE for c in cases)}
    for group in groups:
        if group.unwritten() or all(c.passed for c in group.cases):
            continue
        traced = {name for c in group.cases if not c.passed for name in traced_functions(c.message or "")}
        named = ((calls or {}).get(group.stub, set()) | traced) - {group.stub}
        culprits = sorted(_first_failing(named & failing, calls or {}, failing))
        if culprits:
            group.hint = ngettext(
                "`{stub}` calls {callees}, which fails its own checks: fix {names} first — its failures may be why "
                "this one fails",
                "`{stub}` calls {callees}, which fail its own checks: fix {names} first — its failures may be why "
                "this one fails", len(culprits)).format(
                stub=group.stub, callees=_(", ").join(f"`{c}`" for c in culprits),
                names=reduce(lambda first, second: _("{first} and {second}").format(first=first, second=second),
                             culprits))


def _first_failing(stubs: set[str], calls: dict[str, set[str]], failing: set[str]) -> set[str]:
    """The failing stubs to fix first: those of `stubs` that call no failing stub themselves, found down the
    calls (bidirectional_gru_forward → gru_forward → gru_cell_forward names gru_cell_forward)."""
    found, seen, todo = set(), set(), list(stubs)
    while todo:
        stub = todo.pop()
        if stub in seen:
            continue
        seen.add(stub)
        deeper = (calls.get(stub, set()) & failing) - seen - {stub}
        if deeper:
            todo.extend(deeper)
        else:
            found.add(stub)
    return found or stubs


def reachable(stub: str, calls: dict[str, set[str]]) -> set[str]:
    """Every stub that `stub` calls, directly or through other stubs."""
    found, todo = set(), [stub]
    while todo:
        for callee in calls.get(todo.pop(), set()) - found - {stub}:
            found.add(callee)
            todo.append(callee)
    return found


_FRAME = re.compile(r", in (\w+)$", re.M)
# The check messages (autograder.checks.base) that name the stub a failing call was made to, and the stub it
# called: their openings, up to the text after the names, are what `traced_functions` reads, in any language.
_STUB_FAILURES = ("`{stub}` raised {error}", "`{stub}` is not implemented yet (it raises NotImplementedError)",
                  "`{stub}` calls `{callee}`, which is not implemented yet (it raises NotImplementedError)")


@cache
def _failed_stub(lang: str) -> re.Pattern:
    """The openings of `_STUB_FAILURES` in English and in `lang`, as one pattern with the names as groups."""
    openings = []
    for current in dict.fromkeys((i18n.ENGLISH, lang)):
        with i18n.language(current):
            openings += [_opening(_(template)) for template in _STUB_FAILURES]
    return re.compile("|".join(f"(?:{o})" for o in dict.fromkeys(openings)))


def _opening(template: str) -> str:
    """A message's opening as a pattern: its text through the names, and the words after the last name up to a
    comma, a parenthesis or the next placeholder ("`(\\w+)` raised ", "`(\\w+)` calls `(\\w+)`")."""
    pattern = ""
    for literal, field, _spec, _conversion in string.Formatter().parse(template):
        if field in ("stub", "callee"):
            pattern += re.escape(literal) + r"(\w+)"
            continue
        pattern += re.escape(re.split(r"[,，(（]", literal)[0])
        break
    return pattern


def traced_functions(message: str) -> set[str]:
    """The functions a failure message names as where it failed: its traceback's frames ("File "<cell x>",
    line 3, in f"), and the stub a recipe's failing call was made to ("`rnn_step_forward` raised ...")."""
    found = set(_FRAME.findall(message))
    first = _failed_stub(i18n.current()).match(message)
    if first:
        found |= {name for name in first.groups() if name}
    return found


def referenced_names(source: str, function: str) -> set[str]:
    """The global names that `function`'s definition in `source` refers to, read without running anything;
    an unreadable source refers to nothing."""
    try:
        tree = notebook.parse_python(source)
    except (SyntaxError, ValueError):
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == function:
            found |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
    return found


def calls_in_sources(sources: list[str], stubs: set[str]) -> dict[str, set[str]]:
    """stub → the other stubs its definition refers to, over the notebook's cells."""
    return {stub: {name for source in sources if stub in source for name in referenced_names(source, stub)}
            & stubs - {stub} for stub in stubs}


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


def withheld_weight(assignment: str, group: CheckGroup, planned: list[PlannedCase]) -> float:
    """The weight of the group's hidden cases that `planned` leaves out: all of it when none are planned."""
    return 0.0 if any(p.hidden for p in planned) else checks.hidden_weight(assignment, group.id)


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
    and the first value case (values on the GPU, TF32 off, float32 tolerances).

    A case and its twin share the case's weight half and half, so a GPU changes what is checked, never how a
    test cell's points split between its public and hidden cases."""
    chosen = [p for p in planned if p.case.call.device == "meta"]
    first_value = next((p for p in planned if p.case.call.device == "cpu" and not p.case.diagnostic
                        and not p.case.call.recipe), None)
    if first_value is not None:
        chosen.append(first_value)
    for item in chosen:
        item.case = replace(item.case, weight=item.case.weight / 2)
    return [PlannedCase(cuda_twin(p.case), p.hidden) for p in chosen]


def _off_device(value: object, name: str = "") -> tuple[str, str] | None:
    """(where in the output, its device) of the first tensor in `value` that is not on a CUDA device: "" for the
    output itself, "[0]", "[1]['h']" for one inside it."""
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
                return _("{what} is on the {device} device; expected cuda, the inputs' device — make new tensors "
                         "with x.new_zeros(...) or device=x.device, not torch.zeros(...)").format(
                    what=_("the output{index}").format(index=wrong[0]), device=wrong[1])
            _relabel(outcome.value, source)
        return case.verdict(outcome)

    return replace(case, name=f"{case.name} [cuda]", call=replace(case.call, device="cuda"), verdict=verdict)


def judge_group(group: CheckGroup, planned: list[PlannedCase], outcomes: list[Outcome], points: float,
                withheld: float = 0.0) -> GroupResult:
    """The group's verdicts. `withheld`: the weight of its hidden cases when they are not in `planned`."""
    result = GroupResult(group.id, group.title, points, stub=group.stub, withheld=withheld)
    verdicts: dict[str, str | None] = {}
    for item, outcome in zip(planned, outcomes):
        try:
            message = item.case.verdict(outcome)
        except answers.NotShipped as exc:  # a student bundle: only the grader can decide this case
            message = Inconclusive(str(exc))
        except Exception as exc:  # noqa: BLE001 - a value the verdict did not foresee is a failure, not a crash
            message = _("the returned value could not be checked ({error})").format(
                error=f"{type(exc).__name__}: {exc}")
        verdicts[item.case.name] = message
        if not item.case.diagnostic:
            passed = message is None or isinstance(message, Inconclusive)  # an inconclusive case keeps its points
            note = str(message) if isinstance(message, Inconclusive) else None
            result.cases.append(CaseResult(item.case.name, passed, message, item.hidden, item.case.weight,
                                           item.case.kind, note))
    # A stub not written yet gets no hint: each case already says so.
    if any(not c.passed for c in result.cases) and group.hint is not None and not result.unwritten():
        result.hint = group.hint(verdicts)
    return result
