"""The in-notebook executor: `check("group_id")` in a test cell runs that group's checks in-process.

It is the same check definitions as the split grader, run in the student's kernel for quick
feedback (and under `nbgrader autograde`). The cell's value is the points earned, which nbgrader
reads as partial credit. Messages go to stdout: nbgrader scores a test cell with stderr output as 0.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import signal
import sys
import threading
from functools import cache
from pathlib import Path

from autograder.i18n import _

CALL_SECONDS = 10.0


class CheckTimeout(BaseException):
    """Raised inside a student's function that ran past the per-call limit."""


@cache
def _points_table(assignment: str) -> dict[str, float]:
    from autograder.course import source_notebook

    data = json.loads(Path(source_notebook(assignment)).read_text(encoding="utf-8"))
    table = {}
    for cell in data["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade") and "grade_id" in meta:
            table[meta["grade_id"]] = float(meta.get("points", 0))
    return table


def points_of(assignment: str, group_id: str) -> float:
    """Points live in the test cell's nbgrader metadata; read them from the course's notebook."""
    try:
        return _points_table(assignment)[group_id]
    except KeyError:
        raise KeyError(_("no test cell {group_id} in the {assignment} notebook").format(
            group_id=repr(group_id), assignment=assignment)) from None


@contextlib.contextmanager
def _time_limit(seconds: float):
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise CheckTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_call_in_process(namespace: dict, call, seconds: float = CALL_SECONDS):
    """Carry out a call exactly as a probe would, including the round trip through the wire format."""
    from autograder import wire
    from autograder.judge import supervise
    from autograder.probe import serve
    from autograder.wire import Outcome

    _, job = wire.decode(wire.encode({"op": "call"}, call.to_wire())[8:])
    try:
        with _time_limit(seconds):
            header, payload = serve.perform_call(namespace, job)
    except CheckTimeout:
        return Outcome("timeout", message=_timed_out(call.stub, seconds))
    if header["status"] == "raised" and header["exception"] == "CheckTimeout":
        return Outcome("timeout", message=_timed_out(call.stub, seconds))
    reply, value = wire.decode(wire.encode(header, payload)[8:])
    return supervise.outcome_from_reply(reply, value)


def _timed_out(stub: str, seconds: float) -> str:
    return _("`{stub}` ran past the {seconds} s limit and was stopped").format(stub=stub, seconds=f"{seconds:.0f}")


def run_group(group_id: str, namespace: dict, include_hidden: bool = False):
    from autograder import checks
    from autograder.judge import byhand, evaluate, supervise
    from autograder.wire import Outcome

    assignment, group = checks.find_group(group_id)
    planned = evaluate.plan(assignment, group, include_hidden)
    seconds = checks.limits(assignment).call_seconds  # the split grader's per-call limit, so both agree
    outcomes, dead = [], {}
    for item in planned:
        stub = item.case.call.stub
        if stub in dead:
            outcomes.append(Outcome("not_run", message=supervise.dead_stub(dead[stub], stub)))
            continue
        outcome = run_call_in_process(namespace, byhand.watched(assignment, item.case.call), seconds)
        if outcome.status == "timeout":
            dead[stub] = "timeout"
        outcomes.append(outcome)
    result = evaluate.judge_group(group, planned, outcomes, points_of(assignment, group_id),
                                  evaluate.withheld_weight(assignment, group, planned))
    notes: list[str] = []
    byhand.enforce(assignment, group, result, outcomes, _source_of(namespace), notes)
    for note in notes:
        print(note)
    calls = _calls(namespace, assignment)
    evaluate.link([result, *_related(assignment, result, calls, namespace, seconds)], calls)
    return result


def _calls(namespace: dict, assignment: str) -> dict[str, set[str]]:
    """stub → the other stubs its function refers to (the global names its code and nested code use)."""
    from autograder import checks

    stubs = {g.stub for g in checks.groups(assignment).values()}

    def names(code) -> set[str]:
        return set(code.co_names).union(*(names(c) for c in code.co_consts if inspect.iscode(c)))

    found = {}
    for stub in stubs:
        code = getattr(namespace.get(stub), "__code__", None)
        found[stub] = (names(code) & stubs) - {stub} if inspect.iscode(code) else set()
    return found


def _related(assignment: str, result, calls: dict[str, set[str]], namespace: dict, seconds: float) -> list:
    """The public value cases of the other groups that decide this test cell's number and hint, as the split
    grader has them: the groups of the same stub (a stub's form cases count only once one of its value cases
    passed) and, when the cell lost points, the groups of the stubs it calls (for "fix ... first")."""
    from autograder import checks
    from autograder.checks.base import FORM, VALUE
    from autograder.judge import evaluate

    callees = set()
    if any(not c.passed for c in result.cases):
        traced = {n for c in result.cases if not c.passed for n in evaluate.traced_functions(c.message or "")}
        named = (calls.get(result.stub, set()) | traced) - {result.stub}
        callees = named.union(*(evaluate.reachable(callee, calls) for callee in named)) - {result.stub}
    has_form = any(c.kind == FORM for c in result.cases)
    related = []
    for other in checks.groups(assignment).values():
        if other.id == result.group_id or not ((other.stub == result.stub and has_form) or other.stub in callees):
            continue
        planned = [p for p in evaluate.plan(assignment, other, False) if p.case.kind == VALUE and not p.case.diagnostic]
        if planned:
            outcomes = [run_call_in_process(namespace, p.case.call, seconds) for p in planned]
            related.append(evaluate.judge_group(other, planned, outcomes, points_of(assignment, other.id)))
    return related


def _source_of(namespace: dict):
    """The kernel's cells for the by-hand reading: IPython's input history (`In`), in the order they ran.

    Without one (a namespace not made by IPython) only the trace of each call is checked."""
    from autograder.judge import byhand

    history = namespace.get("In")
    if isinstance(history, list) and all(isinstance(s, str) for s in history):
        return byhand.Program.from_history(history)
    return None


def check(group_id: str, include_hidden: bool = False, namespace: dict | None = None) -> float:
    """Run one test cell's checks against the functions defined in the calling notebook; returns the points."""
    from autograder.reports import report

    if namespace is None:
        namespace = inspect.currentframe().f_back.f_globals
    with contextlib.redirect_stderr(sys.stdout):
        result = run_group(group_id, namespace, include_hidden)
    print(report.format_group(result))
    return result.score
