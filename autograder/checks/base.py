"""What a check is: a case (inputs, built on the judge), a call (what the probe runs) and a verdict.

A check group is one nbgrader test cell: its `id` is the cell's `grade_id`, its points are in the
cell's metadata. Both executors (the split grader and the in-notebook one) build the same cases,
send the same calls and apply the same verdicts; only how the call reaches the student's function
differs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from autograder.i18n import N_, _
from autograder.reports.results import FORM, VALUE  # noqa: F401 - the kinds of case (defined with the result model), imported from here by the checks
from autograder.wire import Call, Opaque, Outcome, TensorInfo  # noqa: F401 - Call and Outcome, the wire's contract, imported from here by the checks


class Inconclusive(str):
    """A verdict that could not be reached on this device (for example an op with no meta kernel that a
    correct implementation needs): the case keeps its points and the message is shown as a note."""


Verdict = Callable[[Outcome], "str | None"]  # None when the case passes, an Inconclusive note, else the message


# What torch raises when an op needs the values a meta tensor does not have, matched on the exception's text
# (torch raises plain RuntimeError / NotImplementedError for all of these), each with what to tell a student
# (marked for the catalogs here, translated where the note is written).
_NEEDS_VALUES = [
    (re.compile(r"Tensor\.item\(\) cannot be called on meta tensors"),
     N_("it reads a number out of a tensor (.item(), int(...), float(...), or a tensor comparison used in an `if`)")),
    (re.compile(r"Cannot copy out of meta tensor"),
     N_("it copies a tensor's values out (.tolist(), .cpu(), .numpy())")),
    (re.compile(r"can't convert meta device type tensor to numpy"), N_("it converts a tensor to numpy")),
    (re.compile(r"torch\.nonzero\(\)|meta_nonzero_assume_all_nonzero"),
     N_("its result's shape depends on the values (a boolean mask, torch.nonzero, torch.where with one argument)")),
    (re.compile(r"repeat_interleave a meta tensor"),
     N_("its result's shape depends on the values (repeat_interleave)")),
    (re.compile(r"(aten::\w+): attempted to run this operator with Meta tensors"),
     N_("it calls {op}, which has no meta-device version")),
    (re.compile(r"Could not run '(aten::\w+)' with arguments from the 'Meta' backend"),
     N_("it calls {op}, which has no meta-device version")),
    (re.compile(r"data-dependent|DataDependent|GuardOnDataDependentSymNode"),
     N_("its result's shape depends on the values")),
]


def needs_values(outcome: Outcome, stub: str) -> Inconclusive | None:
    """The note for a meta-device call that stopped because an op needs values, else None.

    A correct implementation may need values (a range check, a boolean mask, a data-dependent shape); on
    the meta device that is no fault of the student's, so the case is inconclusive and keeps its points.
    Torch's own text for these errors (internal config names, stack details) is replaced by a sentence."""
    if outcome.status != "raised" or outcome.exception not in ("RuntimeError", "NotImplementedError", "TypeError"):
        return None
    for pattern, reason in _NEEDS_VALUES:
        found = pattern.search(outcome.message)
        if found:
            op = found.group(1).replace("aten::", "torch.") if pattern.groups else ""
            return Inconclusive(
                _("not decided on the meta device: `{stub}` needs the values of its inputs there — {reason} — and "
                  "meta tensors have shapes but no values. This case keeps its points; where the grader has a GPU, "
                  "the same case on CUDA decides it.").format(stub=outcome.stub or stub,
                                                              reason=_(reason).format(op=op)))
    return None


MIXED_DEVICES = N_("— on a GPU that fails or leaves the work on the CPU, and moving the result with .to(...) "
                   "afterwards does not help. Make every new tensor on the inputs' device (x.new_zeros(...), "
                   "device=x.device); the grader runs your function on the meta device too, and on CUDA where there "
                   "is a GPU.")  # the advice that ends a "mixes devices" message (translated there)


def decided_on_values(case: Case) -> Case:
    """`case` (a meta-device case) with `needs_values` ahead of its verdict, and its call run under the device
    watch (recipes/devices.py), whose notes fail the case and whose output the verdict then judges as usual. A
    case that already names a recipe reads the watch itself, or has none."""
    stub = case.call.stub

    def verdict(outcome: Outcome) -> str | None:
        inconclusive = needs_values(outcome, stub)
        if inconclusive or case.call.recipe:
            return inconclusive or case.verdict(outcome)
        if outcome.status == "ok":
            report = outcome.value
            if not isinstance(report, dict) or not isinstance(report.get("mixed"), list):
                return _("grader error: the device watch for `{stub}` returned a {type}").format(
                    stub=stub, type=type(report).__name__)
            if report["mixed"]:
                if report.get("raised"):
                    return _("`{stub}` mixes devices: {detail} (and then raised {raised}) {advice}").format(
                        stub=stub, detail=report["mixed"][0], raised=report["raised"], advice=_(MIXED_DEVICES))
                return _("`{stub}` mixes devices: {detail} {advice}").format(
                    stub=stub, detail=report["mixed"][0], advice=_(MIXED_DEVICES))
            outcome = replace(outcome, value=report.get("out"))
        return case.verdict(outcome)

    call = case.call if case.call.recipe else replace(case.call, args=(stub, *case.call.args), recipe="devices.watched")
    return replace(case, call=call, verdict=verdict)




@dataclass
class Case:
    """One call of a stub and its verdict, with its share of the test cell's points.

    `weight` is the case's share of its group (a group's points are split by weight over its public and
    hidden cases). `kind` says what the case shows about the function:
    - "value": it compares what the function computes with the oracle (values, gradients, losses, strings,
      indices). Only these show that the function does its job.
    - "form": it checks the form of the answer or the interface around it, not the computation — shapes,
      dtypes, the output's device (meta and CUDA cases), "inputs unchanged", a mode restored, and contract
      cases such as "unknown nonlinearity raises ValueError". A function that computes nothing right can pass
      all of these (return `x.new_zeros(N, H)`, raise ValueError first), so they earn points only when at
      least one value case of the same stub passed (see evaluate.GroupResult.share).
    """

    name: str
    call: Call
    verdict: Verdict
    diagnostic: bool = False  # carries no points; its result only feeds the group's hint
    weight: float = 1.0
    kind: str = VALUE


class _Translated:
    """A dataclass field kept as written (English, marked with N_) and read in the current language."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.stored = f"_{name}_source"

    def __get__(self, instance: object, owner: type | None = None) -> str:
        if instance is None:
            raise AttributeError(self.stored)  # on the class: the field has no default
        return _(getattr(instance, self.stored))

    def __set__(self, instance: object, value: str) -> None:
        setattr(instance, self.stored, value)


@dataclass
class CheckGroup:
    """One test cell's checks. `title` (shown with its results) is written in English, marked with N_, and
    reads in the current language; `id`, the cell's grade_id, and the case names are keys, never translated."""

    id: str
    stub: str
    title: str = _Translated()  # type: ignore[assignment]
    cases: Callable[[], list[Case]]
    hint: Callable[[dict[str, str | None]], str | None] | None = None


def failure_of_call(outcome: Outcome, stub: str) -> str | None:
    """The message for a call that did not return normally, or None when it did."""
    if outcome.status == "ok":
        return None
    stub = outcome.stub or stub
    if outcome.status == "raised":
        if outcome.exception == "NotImplementedError" and outcome.message == "NotImplementedError":
            frames = re.findall(r", in (\w+)$", outcome.traceback, re.M)
            if frames and frames[-1] != stub:  # a function it calls is the one not written yet
                return _("`{stub}` calls `{callee}`, which is not implemented yet (it raises "
                         "NotImplementedError)").format(stub=stub, callee=frames[-1])
            # The same text as results.NOT_IMPLEMENTED after the stub's name, in English.
            return _("`{stub}` is not implemented yet (it raises NotImplementedError)").format(stub=stub)
        if outcome.traceback:
            return _("`{stub}` raised {error}\n{traceback}").format(stub=stub, error=outcome.message,
                                                                   traceback=outcome.traceback.rstrip())
        return _("`{stub}` raised {error}").format(stub=stub, error=outcome.message)
    return outcome.message or _("`{stub}` did not return ({status})").format(stub=stub, status=outcome.status)


def expect_raises(stub: str, *names: str, why: str | None = None) -> Verdict:
    """The verdict of a contract case: the call must raise one of `names` (`why` says what the rule is for; a
    text marked with N_ is translated here, in the verdict)."""

    def verdict(outcome: Outcome) -> str | None:
        if outcome.status == "raised" and outcome.exception in names:
            return None
        expected = names[0]
        for name in names[1:]:
            expected = _("{first} or {second}").format(first=expected, second=name)
        if outcome.status == "raised" and outcome.exception != "NotImplementedError":
            if why:
                return _("`{stub}` raised {error}; expected {expected} — {why}").format(
                    stub=stub, error=outcome.message, expected=expected, why=_(why))
            return _("`{stub}` raised {error}; expected {expected}").format(
                stub=stub, error=outcome.message, expected=expected)
        problem = failure_of_call(outcome, stub)
        if problem:
            return problem
        if why:
            return _("`{stub}` returned instead of raising {expected} — {why}").format(
                stub=stub, expected=expected, why=_(why))
        return _("`{stub}` returned instead of raising {expected}").format(stub=stub, expected=expected)

    return verdict


def describe(value: object) -> str:
    """What a returned value is, for a message: "None", "a list", "a dict", "a str" (or its own description),
    in the current language."""
    if value is None:
        return "None"
    if isinstance(value, list):
        return _("a list")
    if isinstance(value, dict):
        return _("a dict")
    return getattr(value, "description", None) or _("a {type}").format(type=type(value).__name__)


def _fmt(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def shape_message(name: str, got: tuple, expected: tuple, dims: tuple[str, ...] | None) -> str:
    if not dims or len(dims) != len(expected):
        return _("{name} has shape {got}; expected {expected}").format(name=name, got=_fmt(got),
                                                                      expected=_fmt(expected))
    fields = {"name": name, "got": _fmt(got), "dims": f"({', '.join(dims)})", "expected": _fmt(expected)}
    by_size = {size: dim for size, dim in zip(expected, dims)}
    if len(by_size) == len(dims) and sorted(got) == sorted(expected):
        return _("{name} has shape {got}; expected {dims} = {expected} — the axes look permuted: you have "
                 "{yours}").format(**fields, yours=f"({', '.join(by_size[s] for s in got)})")
    if len(got) == len(expected) - 1 and all(s in by_size for s in got):
        missing = [d for s, d in zip(expected, dims) if s not in got]
        return _("{name} has shape {got}; expected {dims} = {expected} — the {missing} axis is missing").format(
            **fields, missing=", ".join(missing))
    return _("{name} has shape {got}; expected {dims} = {expected}").format(**fields)


def tolerances(dtype: torch.dtype) -> tuple[float, float]:
    return (1e-4, 1e-4) if dtype in (torch.float32, torch.float16, torch.bfloat16) else (1e-7, 1e-6)


def check_tensor(
    got: Any,
    name: str,
    *,
    shape: tuple,
    dtype: torch.dtype,
    device: str = "cpu",
    values: torch.Tensor | None = None,
    dims: tuple[str, ...] | None = None,
    mistakes: dict[str, torch.Tensor] | None = None,
) -> str | None:
    """Type, then device, then shape, then dtype, then values; the first difference is the message.

    `mistakes` maps a description of a classic bug to the output that bug produces on these inputs;
    a wrong value that matches one of them says so, which names the culprit far better than an index. A
    description marked with N_ is translated here, when the message is written.
    """
    if isinstance(got, Opaque):
        return _("{name} is {what}; expected a tensor of shape {shape}").format(name=name, what=got.description,
                                                                               shape=_fmt(shape))
    if not isinstance(got, (torch.Tensor, TensorInfo)):
        return _("{name} is a {type}; expected a tensor of shape {shape}").format(name=name, type=type(got).__name__,
                                                                                 shape=_fmt(shape))
    got_device = got.device if isinstance(got, TensorInfo) else getattr(got, "wire_device", str(got.device))
    if torch.device(got_device).type != torch.device(device).type:
        return _("{name} is on the {got} device; expected {expected}, the inputs' device — make new tensors with "
                 "x.new_zeros(...) or device=x.device, not torch.zeros(...)").format(name=name, got=got_device,
                                                                                     expected=device)
    got_shape = tuple(got.shape)
    if got_shape != tuple(shape):
        return shape_message(name, got_shape, tuple(shape), dims)
    got_dtype = got.dtype if isinstance(got, TensorInfo) else str(got.dtype).replace("torch.", "")
    want_dtype = str(dtype).replace("torch.", "")
    if got_dtype != want_dtype:
        return _("{name} has dtype {got}; expected {expected}, the inputs' dtype — avoid .float()/.double() and "
                 "tensors made without dtype=x.dtype").format(name=name, got=got_dtype, expected=want_dtype)
    if values is None:
        return None
    if isinstance(got, TensorInfo):
        return _("{name} could not be read back: {reason}").format(name=name, reason=got.reason)
    message = compare_values(got, values, name)
    if message and mistakes:
        for description, produced in mistakes.items():
            if produced.shape == got.shape and compare_values(got, produced, name) is None:
                return _("{message} — it matches {mistake}").format(message=message, mistake=_(description))
    return message


def compare_values(got: torch.Tensor, expected: torch.Tensor, name: str,
                   tol: tuple[float, float] | None = None) -> str | None:
    """None where `got` is within (atol, rtol) of `expected` (the dtype's tolerances unless `tol` says), else
    where and by how much it differs."""
    atol, rtol = tol or tolerances(expected.dtype)
    got64 = got.to(torch.float64)
    want64 = expected.to(torch.float64)
    if torch.isnan(got64).any() and not torch.isnan(want64).any():
        index = tuple(int(i) for i in torch.nonzero(torch.isnan(got64))[0])
        return _("{name} contains NaN (first at index {index})").format(name=name, index=index)
    error = (got64 - want64).abs()
    bad = error > atol + rtol * want64.abs()
    if not bad.any():
        return None
    index = tuple(int(i) for i in torch.nonzero(bad)[0])
    at = index if index else "()"
    return _("{name} differs from the reference: max abs error {error}; first mismatch at index {index}: got {got}, "
             "expected {expected}").format(name=name, error=f"{error.max().item():.3g}", index=at,
                                           got=f"{got64[index].item():.6g}", expected=f"{want64[index].item():.6g}")


def check_unchanged(outcome: Outcome, sent: Call, stub: str) -> str | None:
    """Inputs must come back equal to what was sent: stubs do not modify their arguments in place."""
    if outcome.args is None:
        return _("`{stub}` did not return its arguments for inspection").format(stub=stub)
    if len(_flatten(sent.args)) != len(_flatten(outcome.args)):
        return _("`{stub}` added or removed items of a list or tuple it was given — do not modify the "
                 "arguments").format(stub=stub)
    for position, (before, after) in enumerate(zip(_flatten(sent.args), _flatten(outcome.args))):
        if isinstance(before, torch.Tensor) and isinstance(after, torch.Tensor):
            if before.shape != after.shape or not torch.equal(before, after.to(before.dtype)):
                return _("`{stub}` modified one of its input tensors in place (tensor #{position} of its "
                         "arguments) — use out-of-place operations (x + y, not x += y or x.add_())").format(
                    stub=stub, position=position + 1)
    return None


def _flatten(value: Any) -> list:
    if isinstance(value, (list, tuple)):
        return [item for v in value for item in _flatten(v)]
    return [value]


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    return torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)
