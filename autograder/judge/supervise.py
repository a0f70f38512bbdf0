"""The judge's side of one submission: send the job, watch the probe, recover from what it does.

A probe that hangs, crashes, exits, or runs out of memory costs only what it was doing: a cell that
kills the process is skipped and the notebook runs again without it; a call that kills it fails with a
message, the stub's remaining calls are not run, and a fresh probe carries on with the other stubs.

Nothing from the probe is trusted: a submission's cell can write any bytes on the probe's own socket. So
every reply is checked (a known op, in its place, with fields of the right types, for the cell or call that
is running) and counted in bytes on this side; a reply that fails is a bad reply for the case it arrived
in, and a flood of them stops only that submission. A submission is a grader error only when a clean
probe of the released notebook fails the same way (`Canary`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from autograder import i18n, wire
from autograder.judge import byhand
from autograder.judge.runner import Launcher, Limits, OutputBuffer, Probe, describe_exit
from autograder.wire import Call, Outcome

MAX_STARTS = 6
CELL_GRACE = 3.0  # seconds after a cell's limit: the probe's own interrupt first, then the process is ended
POLL_SECONDS = 0.1
MAX_TEXT = 4000  # characters kept of a message, an exception's name or a traceback from the probe
STATUSES = ("ok", "raised", "missing", "invalid", "device", "unsendable")  # what a probe's result may say
OPS = {"hello": "start", "cell": "cells", "cells_done": "cells", "result": "calls", "done": "calls"}  # op: phase
INVALID = "the process sent an invalid reply"


@dataclass
class Collected:
    outcomes: list[Outcome]
    cell_notes: dict[int, str] = field(default_factory=dict)
    isolation: str = ""
    grader_error: str | None = None
    limits_hit: list[str] = field(default_factory=list)
    before_cells: bool = False  # the grader error is a probe that did not start or failed before any cell
    reply_bytes: int = 0  # what the probes sent for this submission, restarts included
    replies: int = 0


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def outcome_from_reply(header: dict, value: object) -> Outcome:
    outcome = _outcome_of(header, value)
    outcome.ops = byhand.trace_names(header.get("ops"))
    return outcome


def text(value: object, limit: int = MAX_TEXT) -> str:
    """Text from a reply as the judge keeps it: a string, at most `limit` characters, no unpaired surrogate."""
    value = value if isinstance(value, str) else "" if value is None else repr(value)[:limit]
    if len(value) > limit:
        value = value[:limit] + f"… [{len(value) - limit} more characters]"
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def _outcome_of(header: dict, value: object) -> Outcome:
    status = header.get("status")
    message = text(header.get("message"))
    if status == "ok" and isinstance(value, dict):
        return Outcome("ok", value=value.get("out"), args=value.get("args"), kwargs=value.get("kwargs"))
    if status == "raised":
        stub = header.get("stub")
        return Outcome("raised", exception=text(header.get("exception"), 200), message=message,
                       traceback=text(header.get("traceback")), stub=text(stub, 200) if stub else None)
    if status in ("missing", "invalid", "device"):
        return Outcome(status, message=message)
    return Outcome("unsendable", message=f"the returned value could not be sent back: {message}")


class _Run:
    """One probe's life: which cells and calls it has answered, and why it stopped."""

    def __init__(self, probe: Probe, cells: list[dict], pending: list[int], calls: list[Call]) -> None:
        self.probe = probe
        self.cells_left = [c["index"] for c in cells]
        self.calls_left = list(pending)
        self.answered: set[int] = set()
        self.last: tuple[str, int] | None = None  # the cell or call whose reply came last
        self.calls = calls
        self.phase = "start"
        self.case_bytes = 0  # sent since the running cell or call began
        self.failure: tuple[str, str] | None = None  # (kind, message)


def collect(launcher: Launcher, cells: list[dict], calls: list[Call], limits: Limits, sink: OutputBuffer,
            slot: int = 0, scratch: str = "/tmp", call_frames: dict | None = None) -> Collected:
    result = Collected([None] * len(calls))  # type: ignore[list-item]
    skipped: set[int] = set()
    dead_stubs: dict[str, str] = {}
    started = time.monotonic()
    for start_number in range(MAX_STARTS):
        for i, call in enumerate(calls):
            if result.outcomes[i] is None and call.stub in dead_stubs:
                result.outcomes[i] = Outcome("not_run", message=f"not run: `{call.stub}` {dead_stubs[call.stub]} "
                                                                "in an earlier case")
        pending = [i for i, o in enumerate(result.outcomes) if o is None]
        if start_number and not pending:
            break
        if time.monotonic() - started >= limits.submission_seconds:
            result.limits_hit.append("submission time")
            _fill(result, f"not run: the submission's {limits.submission_seconds:.0f} s limit was reached")
            break
        run_cells = [c for c in cells if c["index"] not in skipped]
        calls_frame = encoded_calls(calls, pending, call_frames)
        try:
            probe = launcher.start(sink, slot, scratch, limits.memory_bytes)
        except (OSError, RuntimeError) as exc:
            result.grader_error = f"could not start a probe: {exc}"
            result.before_cells = True
            _fill(result, "not run: the grader could not start a process for this submission")
            return result
        run = _Run(probe, run_cells, pending, calls)
        try:
            probe.send(wire.encode({"op": "cells", "cell_seconds": limits.cell_seconds, "lang": i18n.current()},
                                    run_cells) + calls_frame)
            _watch(run, result, limits, started)
        finally:
            probe.close()
        if run.failure is None:
            break
        kind, message = run.failure
        if kind == "eof" and probe.oom_killed:  # the kernel's cap stopped it between two polls of the watch
            kind = "memory"
            message = f"the process used more than {_gib(limits.memory_bytes)} of memory and was stopped"
        if kind != "memory" and kind != "timeout":
            message = f"{describe_exit(probe.exit_code())}" if kind == "eof" else message
        if kind == "flood":
            result.limits_hit.append("replies")
            _fill(result, f"not run: {message}")
            break
        if run.phase == "start":
            result.grader_error = f"the probe failed before running any cell: {message}"
            result.before_cells = True
            _fill(result, "not run: the grader could not run this submission")
            return result
        if run.phase == "cells" and run.cells_left:
            culprit = run.cells_left[0]
            skipped.add(culprit)
            result.cell_notes[culprit] = f"{message}; the cell was skipped and the notebook run again without it"
        elif run.phase == "calls" and run.calls_left:
            culprit = run.calls_left[0]
            stub = calls[culprit].stub
            status = {"timeout": "timeout", "memory": "memory", "bad": "bad_reply"}.get(kind, "crashed")
            result.outcomes[culprit] = Outcome(status, message=f"`{stub}`: {message}")
            dead_stubs[stub] = {"timeout": "timed out", "memory": "ran out of memory",
                                "bad": "sent an invalid reply"}.get(kind, "crashed the process")
        if kind in ("timeout", "memory"):
            result.limits_hit.append(kind)
    _fill(result, "not run: the process was restarted too many times")
    _device_failure(result)
    return result


class Canary:
    """What a clean probe makes of the released notebook as is: every stub raises NotImplementedError, no
    line of solution, run with the batch's own calls. It tells the grader's faults from a submission's: a
    submission is a grader error only where this run fails the same way. Run once, when a submission first
    looks like a grader error, and shared by the batch's workers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: tuple[object, Collected] | None = None

    def verdict(self, launcher: Launcher, run: Callable[[], Collected]) -> Collected:
        """The canary's result with `launcher`, from `run` the first time it is asked for."""
        with self._lock:
            if self._held is None or self._held[0] is not launcher:
                self._held = (launcher, run())
            return self._held[1]


def confirm_grader_error(result: Collected, canary: Callable[[], Collected],
                         again: Callable[[], Collected]) -> Collected:
    """Keep a grader error only where the canary fails the same way; the rest is the submission's own.

    A submission can make its own failure look like the grader's: forge a probe's "device" status, or patch
    what the probe prepares inputs with (`torch.Tensor.to`, `transpose`, builtins). Those cases fail as its
    own unless the canary's same cases fail the same way. A probe that did not start or failed before any
    cell is graded `again` once when the canary starts; failing twice where the canary does not is the
    submission's failure. A canary that cannot start leaves everything the grader's fault."""
    clean = canary()
    if clean.before_cells:
        return result
    if result.before_cells:
        reason = result.grader_error
        result = again()
        if result.before_cells:
            result.grader_error, result.before_cells = None, False
            message = (f"not run: the process failed before running any cell twice ({reason}), which a clean copy "
                       "of the released notebook does not")
            result.outcomes = [Outcome("not_run", message=message) for _ in result.outcomes]
            return result
    result.grader_error = None
    for i, outcome in enumerate(result.outcomes):
        if outcome.status == "device" and clean.outcomes[i].status != "device":
            result.outcomes[i] = Outcome("broken", message="the notebook's code broke the grading process's input "
                                                           f"preparation: {outcome.message.removeprefix('not run: ')}"
                                                           " (the released notebook, run the same way, does not)")
    _device_failure(result)
    return result


def _device_failure(result: Collected) -> None:
    """A device the probe could not use (see probe._unusable_device) looks like the grader's fault: say so, and
    let confirm_grader_error ask the canary whether it is."""
    failed = [o for o in result.outcomes if o is not None and o.status == "device"]
    if failed and not result.grader_error:
        result.grader_error = (f"{failed[0].message.removeprefix('not run: ')}; {len(failed)} device case(s) were "
                               "not graded — fix the runner's device, or grade on the CPU with AUTOGRADER_DEVICE=cpu")


def encoded_calls(calls: list[Call], pending: list[int], cache: dict | None) -> bytes:
    """The calls frame. Every submission of a batch gets the same one, so it is encoded once into `cache`."""
    key = tuple(pending)
    if cache is not None and key in cache:
        return cache[key]
    frame = wire.encode({"op": "calls"}, {"calls": [calls[i].to_wire() for i in pending], "call_numbers": pending})
    if cache is not None and len(cache) < 64:
        cache[key] = frame
    return frame


def _fill(result: Collected, message: str) -> None:
    for i, outcome in enumerate(result.outcomes):
        if outcome is None:
            result.outcomes[i] = Outcome("not_run", message=message)


def _watch(run: _Run, result: Collected, limits: Limits, started: float) -> None:
    probe = run.probe
    probe.reply_limit = limits.reply_bytes
    deadline = time.monotonic() + 30.0  # time to fork and enter the sandbox
    while True:
        now = time.monotonic()
        hard_stop = started + limits.submission_seconds
        if now >= min(deadline, hard_stop):
            limit = (f"the submission's {limits.submission_seconds:.0f} s limit" if hard_stop <= deadline else
                     f"the {limits.cell_seconds if run.phase == 'cells' else limits.call_seconds:.0f} s limit")
            what = "the cell" if run.phase == "cells" else "the call"
            run.failure = ("timeout", f"{what} ran past {limit} and was stopped")
            return
        if probe.rss_bytes() > limits.memory_bytes:
            cap = _gib(limits.memory_bytes)
            run.failure = ("memory", f"the process used more than {cap} of memory and was stopped")
            return
        event = probe.next_event(min(POLL_SECONDS, min(deadline, hard_stop) - now))
        if event is None:
            continue
        kind, header, value, size = event
        if kind == "eof":
            run.failure = ("eof", "the process ended")
            return
        if kind == "broken":
            run.failure = ("bad", f"{INVALID}: {text(header, 300)}")
            return
        if _over_caps(run, result, limits, size):
            return
        try:
            problem = f"unreadable ({text(header, 300)})" if kind == "unreadable" else _problem(run, header)
            if problem is None:
                progress = _accept(run, result, header, value)
        except Exception as exc:  # noqa: BLE001 - a reply the checks above did not foresee is still only a bad reply
            problem = f"a reply the grader could not use ({type(exc).__name__})"
        if problem is not None:
            if run.phase == "start":
                run.failure = ("bad", f"{INVALID}: {problem}")
                return
            _blame(run, result, f"{INVALID}: {problem}", header if kind == "frame" else {})
            continue
        if progress == "done":
            return
        if progress:
            run.case_bytes = 0
            # A cell past its limit is interrupted in the probe and keeps what it defined; the judge ends the
            # process only when that does not stop it (CELL_GRACE later).
            seconds = {"cells": limits.cell_seconds + CELL_GRACE, "calls": limits.call_seconds}[run.phase]
            deadline = time.monotonic() + seconds


def _over_caps(run: _Run, result: Collected, limits: Limits, size: int) -> bool:
    """Count a reply's bytes; past a cap, the run stops (the case's cap) or the submission does (its own)."""
    result.reply_bytes += size
    result.replies += 1
    run.case_bytes += size
    if result.reply_bytes > limits.submission_reply_bytes or result.replies > limits.submission_replies:
        run.failure = ("flood", f"the process sent more than {_gib(limits.submission_reply_bytes)} or "
                                f"{limits.submission_replies} replies for this submission and was stopped")
        return True
    if run.case_bytes > limits.case_reply_bytes:
        what = "one cell" if run.phase == "cells" else "one call"
        run.failure = ("bad", f"{INVALID}: more than {_gib(limits.case_reply_bytes)} while {what} ran")
        return True
    return False


def _problem(run: _Run, header: dict) -> str | None:
    """What is wrong with a reply in the run's present state, or None when it is one an honest probe sends."""
    op = header.get("op")
    if not isinstance(op, str) or op not in OPS:
        return f"an unknown op {text(op, 40)!r}"
    if OPS[op] != run.phase:
        return f"a {op!r} reply while the process was {_doing(run.phase)}"
    fields = {"hello": ("isolation",), "cell": ("error",), "result": ("message", "exception", "traceback", "stub")}
    for name in fields.get(op, ()):
        if header.get(name) is not None and not isinstance(header[name], str):
            return f"a {name} that is not text in a {op!r} reply"
    if op == "cell":
        index = header.get("index")
        if type(index) is not int:
            return "a cell index that is not a whole number"
        if not run.cells_left or index != run.cells_left[0]:
            return f"a reply for cell {index}, which is not the cell that was running"
    elif op == "result":
        number = header.get("call")
        if type(number) is not int:
            return "a call id that is not a whole number"
        if number in run.answered:
            return f"a second result for call {number}"
        if not run.calls_left or number != run.calls_left[0]:
            return f"a result for call {number}, which is not the call that was running"
        if header.get("status") not in STATUSES:
            return f"an unknown status {text(header.get('status'), 40)!r}"
    elif op in ("cells_done", "done") and (run.cells_left if op == "cells_done" else run.calls_left):
        return f"{op!r} while {'cells' if op == 'cells_done' else 'calls'} were still to run"
    return None


def _doing(phase: str) -> str:
    return {"start": "starting", "cells": "running cells", "calls": "running calls"}[phase]


def _accept(run: _Run, result: Collected, header: dict, value: object) -> bool | str:
    """Take a valid reply into the run; True when the cell or call that was running is over, "done" at the end."""
    op = header["op"]
    if op == "hello":
        result.isolation = text(header.get("isolation"), 500)
        run.phase = "cells"
    elif op == "cell":
        index = run.cells_left.pop(0)
        run.last = ("cell", index)
        error, note = text(header.get("error")), result.cell_notes.get(index, "")
        if error and error not in note:  # a cell run again after a restart says the same thing again
            result.cell_notes[index] = f"{error}; {note}" if INVALID in note else error
    elif op == "cells_done":
        run.phase = "calls"
    elif op == "result":
        number = run.calls_left.pop(0)
        run.answered.add(number)
        run.last = ("call", number)
        if result.outcomes[number] is None:  # a call that already had a bad reply keeps that verdict
            result.outcomes[number] = outcome_from_reply(header, value)
    else:
        return "done"
    return True


def _blame(run: _Run, result: Collected, message: str, header: dict) -> None:
    """A bad reply fails the call that was running (or is noted on the cell); the process goes on.

    The reply was read whole, so the stream is still in step: the honest reply that follows is read as usual
    and the call keeps the failure. A second reply for the cell or call answered last (a forged one came
    first) blames that one, which was still running when it came. Past the last case, it blames nobody."""
    op, number = header.get("op"), header.get("call") if header.get("op") == "result" else header.get("index")
    again = type(number) is int and run.last == ({"cell": "cell", "result": "call"}.get(op), number)
    if run.phase == "cells" and (again or run.cells_left):
        index = number if again else run.cells_left[0]
        note = result.cell_notes.get(index, "")
        if INVALID not in note:
            result.cell_notes[index] = f"{note}; {message}" if note else message
    elif run.phase == "calls" and (again or run.calls_left):
        number = number if again else run.calls_left[0]
        if again or result.outcomes[number] is None:
            result.outcomes[number] = Outcome("bad_reply", message=f"`{run.calls[number].stub}`: {message}")
