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
from autograder.i18n import N_, _, ngettext
from autograder.judge import byhand
from autograder.judge.runner import Launcher, Limits, OutputBuffer, Probe, describe_exit
from autograder.wire import Call, Outcome

MAX_STARTS = 6
CELL_GRACE = 3.0  # seconds after a cell's limit: the probe's own interrupt first, then the process is ended
POLL_SECONDS = 0.1
MAX_TEXT = 4000  # characters kept of a message, an exception's name or a traceback from the probe
STATUSES = ("ok", "raised", "missing", "invalid", "device", "unsendable")  # what a probe's result may say
OPS = {"hello": "start", "cell": "cells", "cells_done": "cells", "result": "calls", "done": "calls"}  # op: phase
INVALID = N_("the process sent an invalid reply")  # also the start of every bad reply's message (`is_invalid`)
NOT_RUN = N_("not run: {reason}")  # every "not_run" message starts as this one does, in its language
# Why a stub's later cases were not run: what its earlier case did (by the kind of failure).
_DEAD = {"timeout": N_("not run: `{stub}` timed out in an earlier case"),
         "memory": N_("not run: `{stub}` ran out of memory in an earlier case"),
         "bad": N_("not run: `{stub}` sent an invalid reply in an earlier case"),
         "crash": N_("not run: `{stub}` crashed the process in an earlier case")}


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


def dead_stub(kind: str, stub: str) -> str:
    """The message of a case not run because an earlier case of its stub failed this way ("timeout", "memory",
    "bad", anything else: a crash)."""
    return _(_DEAD.get(kind, _DEAD["crash"])).format(stub=stub)


def without_not_run(message: str) -> str:
    """A "not run: …" message without its opening, in English or in the current language."""
    for lang in dict.fromkeys((i18n.current(), i18n.ENGLISH)):
        with i18n.language(lang):
            opening = _(NOT_RUN).partition("{reason}")[0]
        if opening and message.startswith(opening):
            return message[len(opening):]
    return message


def is_invalid(note: str) -> bool:
    """Whether a note already says that the process sent an invalid reply (in English or the current language)."""
    return INVALID in note or _(INVALID) in note


def _invalid(problem: str) -> str:
    return _("the process sent an invalid reply: {problem}").format(problem=problem)


def _memory(limits: Limits) -> str:
    return _("the process used more than {size} of memory and was stopped").format(size=_gib(limits.memory_bytes))


def outcome_from_reply(header: dict, value: object) -> Outcome:
    outcome = _outcome_of(header, value)
    outcome.ops = byhand.trace_names(header.get("ops"))
    return outcome


def text(value: object, limit: int = MAX_TEXT) -> str:
    """Text from a reply as the judge keeps it: a string, at most `limit` characters, no unpaired surrogate."""
    value = value if isinstance(value, str) else "" if value is None else repr(value)[:limit]
    if len(value) > limit:
        value = value[:limit] + _("… [{count} more characters]").format(count=len(value) - limit)
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
    return Outcome("unsendable", message=_("the returned value could not be sent back: {reason}").format(
        reason=message))


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
                result.outcomes[i] = Outcome("not_run", message=dead_stub(dead_stubs[call.stub], call.stub))
        pending = [i for i, o in enumerate(result.outcomes) if o is None]
        if start_number and not pending:
            break
        if time.monotonic() - started >= limits.submission_seconds:
            result.limits_hit.append("submission time")
            _fill(result, _("not run: the submission's {seconds} s limit was reached").format(
                seconds=f"{limits.submission_seconds:.0f}"))
            break
        run_cells = [c for c in cells if c["index"] not in skipped]
        calls_frame = encoded_calls(calls, pending, call_frames)
        try:
            probe = launcher.start(sink, slot, scratch, limits.memory_bytes)
        except (OSError, RuntimeError) as exc:
            result.grader_error = _("could not start a probe: {reason}").format(reason=exc)
            result.before_cells = True
            _fill(result, _("not run: the grader could not start a process for this submission"))
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
            message = _memory(limits)
        if kind != "memory" and kind != "timeout":
            message = f"{describe_exit(probe.exit_code())}" if kind == "eof" else message
        if kind == "flood":
            result.limits_hit.append("replies")
            _fill(result, _(NOT_RUN).format(reason=message))
            break
        if run.phase == "start":
            result.grader_error = _("the probe failed before running any cell: {reason}").format(reason=message)
            result.before_cells = True
            _fill(result, _("not run: the grader could not run this submission"))
            return result
        if run.phase == "cells" and run.cells_left:
            culprit = run.cells_left[0]
            skipped.add(culprit)
            result.cell_notes[culprit] = _("{reason}; the cell was skipped and the notebook run again without "
                                           "it").format(reason=message)
        elif run.phase == "calls" and run.calls_left:
            culprit = run.calls_left[0]
            stub = calls[culprit].stub
            status = {"timeout": "timeout", "memory": "memory", "bad": "bad_reply"}.get(kind, "crashed")
            result.outcomes[culprit] = Outcome(status, message=f"`{stub}`: {message}")
            dead_stubs[stub] = kind
        if kind in ("timeout", "memory"):
            result.limits_hit.append(kind)
    _fill(result, _("not run: the process was restarted too many times"))
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
            message = _("not run: the process failed before running any cell twice ({reason}), which a clean "
                        "copy of the released notebook does not").format(reason=reason)
            result.outcomes = [Outcome("not_run", message=message) for _outcome in result.outcomes]
            return result
    result.grader_error = None
    for i, outcome in enumerate(result.outcomes):
        if outcome.status == "device" and clean.outcomes[i].status != "device":
            result.outcomes[i] = Outcome("broken", message=_(
                "the notebook's code broke the grading process's input preparation: {reason} (the released "
                "notebook, run the same way, does not)").format(reason=without_not_run(outcome.message)))
    _device_failure(result)
    return result


def _device_failure(result: Collected) -> None:
    """A device the probe could not use (see probe._unusable_device) looks like the grader's fault: say so, and
    let confirm_grader_error ask the canary whether it is."""
    failed = [o for o in result.outcomes if o is not None and o.status == "device"]
    if failed and not result.grader_error:
        result.grader_error = ngettext(
            "{reason}; {count} device case(s) were not graded — fix the runner's device, or grade on the CPU with "
            "AUTOGRADER_DEVICE=cpu",
            "{reason}; {count} device case(s) were not graded — fix the runner's device, or grade on the CPU with "
            "AUTOGRADER_DEVICE=cpu", len(failed)).format(reason=without_not_run(failed[0].message), count=len(failed))


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
            run.failure = ("timeout", _timeout(run.phase, limits, hard_stop <= deadline))
            return
        if probe.rss_bytes() > limits.memory_bytes:
            run.failure = ("memory", _memory(limits))
            return
        event = probe.next_event(min(POLL_SECONDS, min(deadline, hard_stop) - now))
        if event is None:
            continue
        kind, header, value, size = event
        if kind == "eof":
            run.failure = ("eof", _("the process ended"))
            return
        if kind == "broken":
            run.failure = ("bad", _invalid(text(header, 300)))
            return
        if _over_caps(run, result, limits, size):
            return
        try:
            problem = (_("unreadable ({detail})").format(detail=text(header, 300)) if kind == "unreadable"
                       else _problem(run, header))
            if problem is None:
                progress = _accept(run, result, header, value)
        except Exception as exc:  # noqa: BLE001 - a reply the checks above did not foresee is still only a bad reply
            problem = _("a reply the grader could not use ({error})").format(error=type(exc).__name__)
        if problem is not None:
            if run.phase == "start":
                run.failure = ("bad", _invalid(problem))
                return
            _blame(run, result, _invalid(problem), header if kind == "frame" else {})
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
        run.failure = ("flood", _("the process sent more than {size} or {count} replies for this submission and "
                                  "was stopped").format(size=_gib(limits.submission_reply_bytes),
                                                        count=limits.submission_replies))
        return True
    if run.case_bytes > limits.case_reply_bytes:
        size = _gib(limits.case_reply_bytes)
        if run.phase == "cells":
            problem = _("more than {size} while one cell ran").format(size=size)
        else:
            problem = _("more than {size} while one call ran").format(size=size)
        run.failure = ("bad", _invalid(problem))
        return True
    return False


def _problem(run: _Run, header: dict) -> str | None:
    """What is wrong with a reply in the run's present state, or None when it is one an honest probe sends."""
    op = header.get("op")
    if not isinstance(op, str) or op not in OPS:
        return _("an unknown op {op}").format(op=repr(text(op, 40)))
    if OPS[op] != run.phase:
        return _(_DOING[run.phase]).format(op=repr(op))
    fields = {"hello": ("isolation",), "cell": ("error",), "result": ("message", "exception", "traceback", "stub")}
    for name in fields.get(op, ()):
        if header.get(name) is not None and not isinstance(header[name], str):
            return _("a {field} that is not text in a {op} reply").format(field=name, op=repr(op))
    if op == "cell":
        index = header.get("index")
        if type(index) is not int:
            return _("a cell index that is not a whole number")
        if not run.cells_left or index != run.cells_left[0]:
            return _("a reply for cell {index}, which is not the cell that was running").format(index=index)
    elif op == "result":
        number = header.get("call")
        if type(number) is not int:
            return _("a call id that is not a whole number")
        if number in run.answered:
            return _("a second result for call {number}").format(number=number)
        if not run.calls_left or number != run.calls_left[0]:
            return _("a result for call {number}, which is not the call that was running").format(number=number)
        if header.get("status") not in STATUSES:
            return _("an unknown status {status}").format(status=repr(text(header.get("status"), 40)))
    elif op == "cells_done" and run.cells_left:
        return _("{op} while cells were still to run").format(op=repr(op))
    elif op == "done" and run.calls_left:
        return _("{op} while calls were still to run").format(op=repr(op))
    return None


_DOING = {"start": N_("a {op} reply while the process was starting"),
          "cells": N_("a {op} reply while the process was running cells"),
          "calls": N_("a {op} reply while the process was running calls")}


def _timeout(phase: str, limits: Limits, submission: bool) -> str:
    """The message of a cell or call stopped at its own limit, or at the submission's."""
    whole = f"{limits.submission_seconds:.0f}"
    if submission and phase == "cells":
        return _("the cell ran past the submission's {seconds} s limit and was stopped").format(seconds=whole)
    if submission:
        return _("the call ran past the submission's {seconds} s limit and was stopped").format(seconds=whole)
    if phase == "cells":
        return _("the cell ran past the {seconds} s limit and was stopped").format(seconds=f"{limits.cell_seconds:.0f}")
    return _("the call ran past the {seconds} s limit and was stopped").format(seconds=f"{limits.call_seconds:.0f}")


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
            result.cell_notes[index] = f"{error}; {note}" if is_invalid(note) else error
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
        if not is_invalid(note):
            result.cell_notes[index] = f"{note}; {message}" if note else message
    elif run.phase == "calls" and (again or run.calls_left):
        number = number if again else run.calls_left[0]
        if again or result.outcomes[number] is None:
            result.outcomes[number] = Outcome("bad_reply", message=f"`{run.calls[number].stub}`: {message}")
