"""The judge's side of one submission: send the job, watch the probe, recover from what it does.

A probe that hangs, crashes, exits, or runs out of memory costs only what it was doing: a cell that
kills the process is skipped and the notebook runs again without it; a call that kills it fails with a
message, the stub's remaining calls are not run, and a fresh probe carries on with the other stubs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from autograder import byhand, wire
from autograder.checks.base import Call, Outcome
from autograder.runner import Launcher, Limits, OutputBuffer, Probe, describe_exit

MAX_STARTS = 6
POLL_SECONDS = 0.1


@dataclass
class Collected:
    outcomes: list[Outcome]
    cell_notes: dict[int, str] = field(default_factory=dict)
    isolation: str = ""
    grader_error: str | None = None
    limits_hit: list[str] = field(default_factory=list)


def _gib(n: int) -> str:
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def outcome_from_reply(header: dict, value: object) -> Outcome:
    outcome = _outcome_of(header, value)
    outcome.ops = byhand.trace_names(header.get("ops"))
    return outcome


def _outcome_of(header: dict, value: object) -> Outcome:
    status = header.get("status")
    if status == "ok" and isinstance(value, dict):
        return Outcome("ok", value=value.get("out"), args=value.get("args"), kwargs=value.get("kwargs"))
    if status == "raised":
        stub = header.get("stub")
        return Outcome("raised", exception=str(header.get("exception")), message=str(header.get("message", "")),
                       traceback=str(header.get("traceback", "")), stub=str(stub) if stub else None)
    if status in ("missing", "invalid", "device"):
        return Outcome(status, message=str(header.get("message", "")))
    return Outcome("unsendable", message=f"the returned value could not be sent back: {header.get('message', '')}")


class _Run:
    """One probe's life: which cells and calls it has answered, and why it stopped."""

    def __init__(self, probe: Probe, cells: list[dict], pending: list[int]) -> None:
        self.probe = probe
        self.cells_left = [c["index"] for c in cells]
        self.calls_left = list(pending)
        self.phase = "start"
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
            _fill(result, "not run: the grader could not start a process for this submission")
            return result
        run = _Run(probe, run_cells, pending)
        try:
            probe.send(wire.encode({"op": "cells"}, run_cells) + calls_frame)
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
        if run.phase == "start":
            result.grader_error = f"the probe failed before running any cell: {message}"
            _fill(result, "not run: the grader could not run this submission")
            return result
        if run.phase == "cells" and run.cells_left:
            culprit = run.cells_left[0]
            skipped.add(culprit)
            result.cell_notes[culprit] = f"{message}; the cell was skipped and the notebook run again without it"
        elif run.phase == "calls" and run.calls_left:
            culprit = run.calls_left[0]
            stub = calls[culprit].stub
            status = {"timeout": "timeout", "memory": "memory"}.get(kind, "crashed")
            result.outcomes[culprit] = Outcome(status, message=f"`{stub}`: {message}")
            dead_stubs[stub] = {"timeout": "timed out", "memory": "ran out of memory"}.get(kind, "crashed the process")
        if kind in ("timeout", "memory"):
            result.limits_hit.append(kind)
    _fill(result, "not run: the process was restarted too many times")
    _device_failure(result)
    return result


def _device_failure(result: Collected) -> None:
    """A device the probe could not use (see probe._unusable_device) is the grader's fault: say so."""
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
        kind, header, value = event
        if kind == "eof":
            run.failure = ("eof", "the process ended")
            return
        if kind == "bad":
            run.failure = ("bad", f"the process sent an unreadable reply ({header})")
            return
        op = header.get("op")
        if op == "hello":
            result.isolation = str(header.get("isolation", ""))
            run.phase = "cells"
            deadline = time.monotonic() + limits.cell_seconds
        elif op == "cell" and run.phase == "cells":
            index = header.get("index")
            if index in run.cells_left:
                run.cells_left.remove(index)
            if header.get("error"):
                result.cell_notes[index] = str(header["error"])
            deadline = time.monotonic() + limits.cell_seconds
        elif op == "cells_done":
            run.phase = "calls"
            deadline = time.monotonic() + limits.call_seconds
        elif op == "result" and run.phase == "calls":
            number = header.get("call")
            if number in run.calls_left:
                run.calls_left.remove(number)
                result.outcomes[number] = outcome_from_reply(header, value)
            deadline = time.monotonic() + limits.call_seconds
        elif op == "done":
            return
