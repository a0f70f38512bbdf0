"""Run notebook cells the way a Jupyter kernel would, without a kernel.

IPython's input transformer turns magics and shell escapes into `get_ipython()` calls; a small
shell object answers the magics that matter in a graded notebook (plotting, timing, pip) and
ignores the rest with a note. `input()` raises, since grading has no one to answer it.

A cell that runs past its time limit is interrupted as a kernel interrupts it: an exception raised where
it is, so what the cell defined before that stays defined and the notebook goes on with its next cell.
"""

from __future__ import annotations

import builtins
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any

from IPython.core.inputtransformer2 import TransformerManager

from autograder.i18n import _

_TRANSFORMER = TransformerManager()


class NoInputError(RuntimeError):
    pass


class CellInterrupted(BaseException):
    """Raised in a cell that ran past its limit (a BaseException, as KeyboardInterrupt is, so that the usual
    `except Exception` in a cell does not swallow it)."""


INTERRUPT_AGAIN = 0.25  # seconds: a cell that catches the interrupt is interrupted again, until it stops


class _Deadline:
    armed = False
    seconds = 0.0


def _on_alarm(signum: int, frame: Any) -> None:
    if _Deadline.armed:
        signal.setitimer(signal.ITIMER_REAL, INTERRUPT_AGAIN)
        raise CellInterrupted(_Deadline.seconds)


def _arm(seconds: float | None) -> bool:
    """Interrupt the running cell after `seconds` (wall clock), where the platform has interval timers."""
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if usable:
        signal.signal(signal.SIGALRM, _on_alarm)  # again each cell: a cell may have set its own
        _Deadline.seconds = float(seconds)
        _Deadline.armed = True
        signal.setitimer(signal.ITIMER_REAL, float(seconds))
    return usable


def _disarm() -> None:
    if _Deadline.armed:
        _Deadline.armed = False  # first: an alarm from here on does nothing
        signal.setitimer(signal.ITIMER_REAL, 0)


def _no_input(prompt: str = "") -> str:
    raise NoInputError(_("input() is not available while grading: there is no one to answer it"))


class GradingShell:
    """What `get_ipython()` returns inside a graded notebook."""

    def __init__(self, namespace: dict) -> None:
        self.user_ns = namespace

    def run_line_magic(self, name: str, line: str, _stack_depth: int = 1) -> Any:
        if name in ("time", "timeit"):
            start = time.perf_counter()
            result = None
            if _is_expr(line):
                result = eval(compile(line, "<magic>", "eval"), self.user_ns)
            else:
                exec(compile(line, "<magic>", "exec"), self.user_ns)
            print(_("Wall time: {seconds:.3f} s").format(seconds=time.perf_counter() - start))
            return result
        if name in ("matplotlib", "config", "load_ext", "autoreload", "reload_ext"):
            return None
        print(_("(%{name} is ignored while grading)").format(name=name))
        return None

    def run_cell_magic(self, name: str, line: str, cell: str) -> Any:
        if name in ("time", "timeit", "capture"):
            run_source(cell, self.user_ns, "<cell magic>")
            return None
        if name == "writefile":
            with open(line.split()[-1], "w", encoding="utf-8") as handle:
                handle.write(cell)
            return None
        print(_("(%%{name} is ignored while grading)").format(name=name))
        return None

    def system(self, cmd: str) -> None:
        print(_("(shell command {command} is not run while grading)").format(command=repr(cmd)))

    def getoutput(self, cmd: str, split: bool = True) -> list:
        self.system(cmd)
        return []

    def run_cell(self, source: str, **_options: Any) -> None:
        run_source(source, self.user_ns, "<run_cell>")


def _is_expr(line: str) -> bool:
    try:
        compile(line, "<magic>", "eval")
    except SyntaxError:
        return False
    return True


def new_namespace() -> dict:
    namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
    shell = GradingShell(namespace)
    namespace["get_ipython"] = lambda: shell
    return namespace


def run_source(source: str, namespace: dict, filename: str) -> None:
    """Transform and execute one cell's source; the last expression is evaluated but not shown."""
    code = _TRANSFORMER.transform_cell(source)
    exec(compile(code, filename, "exec"), namespace)


@dataclass
class CellOutcome:
    index: int
    grade_id: str | None
    seconds: float
    error: str | None  # "ZeroDivisionError: division by zero", or None


def run_cell(index: int, grade_id: str | None, source: str, namespace: dict,
             seconds: float | None = None) -> CellOutcome:
    """Execute one cell; any exception (SystemExit and KeyboardInterrupt too) is reported, not raised.

    With `seconds`, a cell still running after that long is interrupted where it is (see the module's
    docstring); one that will not stop (it catches the interrupt again and again, or sits in one long
    native call) is the judge's to stop, by ending the process."""
    start = time.perf_counter()
    builtins.input = _no_input
    try:
        _arm(seconds)
        try:
            run_source(source, namespace, f"<cell {index}{' ' + grade_id if grade_id else ''}>")
        finally:
            _disarm()
        error = None
    except BaseException as exc:  # noqa: BLE001 - a student's cell may raise anything
        _disarm()  # again: an alarm may have come just as the cell ended
        error = describe_exception(exc)
        traceback.print_exception(type(exc), exc, exc.__traceback__, limit=-3, file=sys.stdout)
    return CellOutcome(index, grade_id, time.perf_counter() - start, error)


def describe_exception(exc: BaseException) -> str:
    name = type(exc).__name__
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a hostile __str__ must not break the report
        text = _("<unprintable message>")
    if isinstance(exc, SystemExit):
        return _("SystemExit (sys.exit({code}) was called)").format(code=text or "")
    if isinstance(exc, CellInterrupted):
        return _("the cell ran past the {seconds:g} s limit and was interrupted; what it defined "
                 "before that is kept").format(seconds=_Deadline.seconds)
    if isinstance(exc, KeyboardInterrupt):
        return _("KeyboardInterrupt was raised")
    if isinstance(exc, RecursionError):
        return "RecursionError: maximum recursion depth exceeded"
    text = text if len(text) <= 500 else text[:500] + "…"
    return f"{name}: {text}" if text else name
