"""Checks for 04_bptt: backpropagation through time by hand, against torch's modules and autograd.

The backward passes take the student's own cache, so their cases run through recipes (forward, then
backward on the cache it returned) and are compared in float64 with an absolute tolerance of 1e-10;
a tiny case is also checked against central differences of the reference forward pass, which checks
the autograd oracle as well. `train_truncated_bptt` is judged by the weights it leaves behind after one
epoch from the same start as a reference run, not by the losses it reports.

Wrong answers are matched against what the classic mistakes produce on the same inputs, all computed
with autograd: a wrong local derivative is a tanh whose backward uses another factor, the recurrent
gradient not carried is a state detached between steps, and weights used at one step only are per-step
copies of the weights. Cases depend on fixed seeds only, so each list is built once per process.
"""

from __future__ import annotations

import math
from functools import cache

import torch
from torch import nn

from autograder.checks import answers
from autograder.checks.base import (
    FORM,
    Call,
    Case,
    CheckGroup,
    Outcome,
    check_tensor,
    check_unchanged,
    compare_values,
    describe,
    failure_of_call,
    randn,
    seeded,
)
from autograder.checks.recurrent import check_pair, unchanged_case
from autograder.i18n import N_, _, ngettext
from autograder.judge import byhand
from autograder.wire import TensorInfo

REF = answers.references('bptt')  # references and mistake models: grading side only

STEP_FORWARD, STEP_BACKWARD = "rnn_step_forward", "rnn_step_backward"
SEQ_FORWARD, SEQ_BACKWARD = "rnn_sequence_forward", "rnn_sequence_backward"
LOSS, CLIP, TRAIN, NORMS = "sequence_cross_entropy", "clip_grad_norm", "train_truncated_bptt", "hidden_grad_norms"

BACKWARD_ATOL = 1e-10  # float64 gradients against autograd
NUMERIC_ATOL = 1e-7  # against central differences (step 1e-6): their own error is about 1e-10
TRAIN_ATOL = 1e-8  # weights after an epoch against the reference run
EPS = 1e-6  # torch's clip_grad_norm_ adds it to the total norm

STEP_GRADS = ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh")
SEQ_GRADS = ("dx", "dh_0", "dW_ih", "dW_hh", "db_ih", "db_hh")

LOCAL_MISTAKES = {
    "dtanh_h_prev": N_("the tanh derivative taken at the wrong state, 1 − h_prev²; it is 1 − h_next², at the step's "
                       "own output"),
    "dtanh_a": N_("the tanh derivative taken at the pre-activation, 1 − a²; it is 1 − tanh(a)² = 1 − h_next²"),
    "no_dtanh": N_("the tanh derivative left out (da = dh_next); it is da = dh_next * (1 − h_next²)"),
}
STEP_MISTAKES = {
    **LOCAL_MISTAKES,
    "dh_prev_transposed": N_("dh_prev = da @ W_hh.T; the forward pass has h_prev @ W_hh.T, so dh_prev = da @ W_hh"),
    "dW_hh_transposed": N_("dW_hh transposed (h_prev.T @ da); it is da.T @ h_prev, of W_hh's layout (H_out, H_in)"),
}
SEQUENCE_MISTAKES = {
    **LOCAL_MISTAKES,
    "only_last": N_("only dh_all[T−1] used: the upstream gradient of the intermediate steps ignored — step t receives "
                    "dh_all[t] plus the gradient coming back from step t+1"),
    "no_carry": N_("the gradient from step t+1 not carried back: step t must receive dh_all[t] + dh_prev of step t+1"),
    "first_step_weights": N_("weight gradients overwritten at every step (only step 0's are left); the weights are "
                             "shared by all steps, so their gradients are summed over time"),
    "last_step_weights": N_("weight gradients of step T−1 only; the weights are shared by all steps, so their "
                            "gradients are summed over time"),
    "dx_reversed": N_("dx in reverse time order (collected while walking backwards, never put back in order)"),
}


# ---------------------------------------------------------------- comparisons

REFERENCE = N_("the reference")
AUTOGRAD = N_("the reference (autograd)")
NUMERIC = N_("the numeric gradient (central differences)")


class Explained(str):
    """A verdict's message that already names its cause (a known mistake, a wrong shape, the forward pass, an
    exception, a malformed return): the group's hint, which is for unexplained wrong gradients, stays out."""


def mistake_text(description: str) -> str:
    """A classic mistake's description (marked with N_ in a table), in the current language."""
    return _(description).format()


def matches(message: str, description: str) -> Explained:
    """A wrong value's message, with the classic mistake it matches."""
    return Explained(_("{message} — it matches {mistake}").format(message=message, mistake=mistake_text(description)))


def _index_text(index: tuple) -> str:
    return str(index) if index else "()"


def compare_within(got: torch.Tensor, expected: torch.Tensor, name: str, atol: float,
                   against: str = REFERENCE) -> str | None:
    """Max abs error within `atol`, in float64; the message names the first mismatching index. `against` is a
    message marked with N_ (translated here)."""
    got64, want64 = got.to(torch.float64), expected.to(torch.float64)
    if not torch.isfinite(got64).all() and torch.isfinite(want64).all():
        index = tuple(int(i) for i in torch.nonzero(~torch.isfinite(got64))[0])
        return _("{name} contains inf or NaN (first at index {index}: {value})").format(
            name=name, index=_index_text(index), value=got64[index].item())
    error = (got64 - want64).abs()
    bad = error > atol
    if not bad.any():
        return None
    index = tuple(int(i) for i in torch.nonzero(bad)[0])
    return _("{name} differs from {against}: max abs error {error} (allowed {atol}); first mismatch at index "
             "{index}: got {got}, expected {expected}").format(
        name=name, against=_(against), error=f"{error.max().item():.3g}", atol=f"{atol:g}", index=_index_text(index),
        got=f"{got64[index].item():.10g}", expected=f"{want64[index].item():.10g}")


def check_close(got, name: str, expected: torch.Tensor, dims: tuple[str, ...] | None = None,
                atol: float | None = None, mistakes: dict[str, torch.Tensor] | None = None,
                against: str = REFERENCE) -> str | None:
    """check_tensor, with an absolute tolerance of `atol` for float64 values (the default tolerances otherwise).

    `mistakes` maps a classic mistake's description (marked with N_) to what it produces; a wrong value that
    matches one says so, as an `Explained` message."""
    problem = check_tensor(got, name, shape=tuple(expected.shape), dtype=expected.dtype, dims=dims)
    if problem:
        return problem
    if isinstance(got, TensorInfo):
        return _("{name} could not be read back: {reason}").format(name=name, reason=got.reason)
    if atol is None or expected.dtype != torch.float64:
        message = compare_values(got, expected, name)

        def same(produced: torch.Tensor) -> bool:
            return compare_values(got, produced, name) is None
    else:
        message = compare_within(got, expected, name, atol, against)

        def same(produced: torch.Tensor) -> bool:
            return compare_within(got, produced, name, atol) is None
    if message and mistakes:
        for description, produced in mistakes.items():
            if produced.shape == got.shape and same(produced):
                return matches(message, description)
    return message


# ---------------------------------------------------------------- references

def step_inputs(seed: int, N: int = 3, I: int = 4, H: int = 6, dtype: torch.dtype = torch.float64,
                weight_scale: float = 1.0) -> tuple:
    """(x, h_prev, W_ih, W_hh, b_ih, b_hh, dh_next), all random and non-zero."""
    g = seeded(seed)
    x, h_prev = randn(g, N, I, dtype=dtype), randn(g, N, H, dtype=dtype) * 0.8
    W_ih, W_hh = randn(g, H, I, dtype=dtype) * 0.5 * weight_scale, randn(g, H, H, dtype=dtype) * 0.4 * weight_scale
    b_ih, b_hh = randn(g, H, dtype=dtype) * 0.5, randn(g, H, dtype=dtype) * 0.5
    return x, h_prev, W_ih, W_hh, b_ih, b_hh, randn(g, N, H, dtype=dtype)


def sequence_inputs(seed: int, T: int = 5, N: int = 3, I: int = 4, H: int = 6, dtype: torch.dtype = torch.float64,
                    last_only: bool = False) -> tuple:
    """(x, h_0, W_ih, W_hh, b_ih, b_hh, dh_all); with last_only, dh_all is zero except at the last step."""
    g = seeded(seed)
    x, h_0 = randn(g, T, N, I, dtype=dtype), randn(g, N, H, dtype=dtype) * 0.8
    W_ih, W_hh = randn(g, H, I, dtype=dtype) * 0.5, randn(g, H, H, dtype=dtype) * 0.4
    b_ih, b_hh = randn(g, H, dtype=dtype) * 0.5, randn(g, H, dtype=dtype) * 0.5
    dh_all = randn(g, T, N, H, dtype=dtype)
    if last_only:
        dh_all[:-1] = 0
    return x, h_0, W_ih, W_hh, b_ih, b_hh, dh_all


# ---------------------------------------------------------------- rnn_step_forward and rnn_sequence_forward

FORWARD_MISTAKES = {
    "no_tanh": N_("h_next without tanh (the pre-activation itself)"),
    "W_hh_untransposed": N_("h_prev @ W_hh instead of h_prev @ W_hh.T"),
}
SEQ_FORWARD_MISTAKES = {
    "h_0_every_step": N_("every step started from h_0: the hidden state must be carried from one step to the next"),
    "states_before": N_("h_all holding the states before each step (h_0 … h_{{T−2}}); h_all[t] is the state after "
                        "step t"),
}


def check_forward_pair(stub: str, outcome: Outcome, first: str) -> str | None:
    return check_pair(stub, outcome, (first, "cache"))


def step_forward_case(name: str, inputs: tuple, noncontiguous: bool = False) -> Case:
    args = inputs[:6]
    want = REF.step_forward_reference(*args).to(args[0].dtype)
    double = [a.double() for a in args]
    mistakes = {text: REF.forward_mistake(*double, key) for key, text in FORWARD_MISTAKES.items()}

    def verdict(outcome: Outcome) -> str | None:
        return check_forward_pair(STEP_FORWARD, outcome, "h_next") or check_close(
            outcome.value[0], "h_next", want, ("N", "H"), mistakes=mistakes)

    return Case(name, Call(STEP_FORWARD, args, noncontiguous=noncontiguous), verdict)


@cache
def step_forward_cases() -> list[Case]:
    return [
        step_forward_case("random inputs, weights and biases", step_inputs(1)),
        step_forward_case("other sizes", step_inputs(2, N=2, I=5, H=3)),
        step_forward_case("float32", step_inputs(3, dtype=torch.float32)),
        unchanged_case("inputs unchanged", STEP_FORWARD, step_inputs(4)[:6]),
    ]


def sequence_forward_case(name: str, inputs: tuple, noncontiguous: bool = False) -> Case:
    args = inputs[:6]
    want = REF.sequence_forward_reference(*args).to(args[0].dtype)
    mistakes = {SEQ_FORWARD_MISTAKES[key]: value for key, value in REF.sequence_forward_mistakes(*args).items()}

    def verdict(outcome: Outcome) -> str | None:
        return check_forward_pair(SEQ_FORWARD, outcome, "h_all") or check_close(
            outcome.value[0], "h_all", want, ("T", "N", "H"), mistakes=mistakes)

    return Case(name, Call(SEQ_FORWARD, args, noncontiguous=noncontiguous), verdict)


@cache
def sequence_forward_cases() -> list[Case]:
    return [
        sequence_forward_case("T=5", sequence_inputs(10)),
        sequence_forward_case("other sizes", sequence_inputs(11, T=3, N=2, I=5, H=4)),
        sequence_forward_case("float32", sequence_inputs(12, dtype=torch.float32)),
        unchanged_case("inputs unchanged", SEQ_FORWARD, sequence_inputs(13)[:6]),
    ]


# ---------------------------------------------------------------- rnn_step_backward and rnn_sequence_backward

def _backward_verdict(stub: str, forward_stub: str, state_name: str, want_state: torch.Tensor, state_dims: tuple,
                      names: tuple[str, ...], dims: list[tuple[str, ...]], want: list[torch.Tensor],
                      mistakes: dict[str, list[torch.Tensor]], atol: float | None, against: str = REFERENCE):
    def verdict(outcome: Outcome) -> str | None:
        problem = _failed_call(outcome, stub)
        if problem:
            return problem
        value = outcome.value
        problem = check_tensor(value[state_name], state_name, shape=tuple(want_state.shape), dtype=want_state.dtype,
                               values=want_state, dims=state_dims)
        if problem:
            return Explained(_("{problem} — {name} comes from your `{stub}`: fix it first, since the backward pass is "
                               "checked against the true forward pass").format(problem=problem, name=state_name,
                                                                              stub=forward_stub))
        for i, (name, got, expected) in enumerate(zip(names, value["gradients"], want)):
            problem = check_close(got, name, expected, dims[i], atol, {text: grads[i] for text, grads in
                                                                        mistakes.items()}, against)
            if problem and name.startswith("db") and getattr(got, "ndim", None) == 2:
                problem = _("{problem} — sum da over the batch axis: the same bias is added to every "
                            "example").format(problem=problem)
            if problem:
                shape = getattr(got, "shape", None)
                return Explained(problem) if shape is not None and tuple(shape) != tuple(expected.shape) else problem
        return None

    return verdict


def _gradient_dims(first: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The axes of (dx, dh, dW_ih, dW_hh, db_ih, db_hh); dx's depend on the stub."""
    return [first, ("N", "H"), ("H", "I"), ("H", "H"), ("H",), ("H",)]


def _failed_call(outcome: Outcome, stub: str) -> str | None:
    """failure_of_call; an exception, an unfinished stub or a malformed return is `Explained`."""
    problem = failure_of_call(outcome, stub)
    return Explained(problem) if problem and outcome.status in ("raised", "invalid") else problem


def _recipe_inputs_unchanged(stub: str, call: Call) -> Case:
    def verdict(outcome: Outcome) -> str | None:
        problem = _failed_call(outcome, stub)
        if problem:
            return problem
        return check_unchanged(Outcome("ok", args=outcome.value["inputs"]), call, stub)

    return Case("inputs unchanged", call, verdict, kind=FORM)


def _backward_case(name: str, inputs: tuple, noncontiguous: bool, numeric: bool, *, stub: str, forward_stub: str,
                   output: str, output_dims: tuple, x_dims: tuple, grads: tuple, forward_reference, gradients,
                   mistake_gradients, mistake_texts: dict[str, str], recipe: str) -> Case:
    """A backward stub's case: its forward output, then each gradient against autograd (float64: naming the
    classic mistake a wrong gradient matches) or, with `numeric`, against central differences."""
    dtype = inputs[0].dtype
    want_h = forward_reference(*inputs[:6]).to(dtype)
    oracle = gradients(*inputs)
    want, against, mistakes = oracle, AUTOGRAD, {}
    if numeric:
        want = REF.numeric_reference(forward_reference, grads, list(inputs[:6]), inputs[6].double(), oracle)
        against = NUMERIC
    elif dtype == torch.float64:
        mistakes = {text: mistake_gradients(*inputs, key) for key, text in mistake_texts.items()}
    want = [w.to(dtype) for w in want]
    verdict = _backward_verdict(stub, forward_stub, output, want_h, output_dims, grads, _gradient_dims(x_dims), want,
                                mistakes, NUMERIC_ATOL if numeric else BACKWARD_ATOL, against)
    return Case(name, Call(stub, inputs, recipe=recipe, noncontiguous=noncontiguous), verdict)


def step_backward_case(name: str, inputs: tuple, noncontiguous: bool = False, numeric: bool = False) -> Case:
    return _backward_case(name, inputs, noncontiguous, numeric, stub=STEP_BACKWARD, forward_stub=STEP_FORWARD,
                          output="h_next", output_dims=("N", "H"), x_dims=("N", "I"), grads=STEP_GRADS,
                          forward_reference=REF.step_forward_reference, gradients=REF.step_gradients,
                          mistake_gradients=REF.step_mistake_gradients, mistake_texts=STEP_MISTAKES,
                          recipe="bptt.step_backward")


@cache
def step_backward_cases() -> list[Case]:
    return [
        step_backward_case("random inputs, weights and upstream gradient", step_inputs(20)),
        step_backward_case("other sizes", step_inputs(21, N=2, I=5, H=3)),
        step_backward_case("numeric gradient check (tiny)", step_inputs(22, N=2, I=3, H=2), numeric=True),
        step_backward_case("float32", step_inputs(23, dtype=torch.float32)),
        _recipe_inputs_unchanged(STEP_BACKWARD, Call(STEP_BACKWARD, step_inputs(24), recipe="bptt.step_backward")),
    ]


def sequence_backward_case(name: str, inputs: tuple, noncontiguous: bool = False, numeric: bool = False) -> Case:
    return _backward_case(name, inputs, noncontiguous, numeric, stub=SEQ_BACKWARD, forward_stub=SEQ_FORWARD,
                          output="h_all", output_dims=("T", "N", "H"), x_dims=("T", "N", "I"), grads=SEQ_GRADS,
                          forward_reference=REF.sequence_forward_reference, gradients=REF.sequence_gradients,
                          mistake_gradients=REF.unrolled_gradients, mistake_texts=SEQUENCE_MISTAKES,
                          recipe="bptt.sequence_backward")


@cache
def sequence_backward_cases() -> list[Case]:
    return [
        sequence_backward_case("T=5, upstream gradient at every step", sequence_inputs(30)),
        sequence_backward_case("upstream gradient at the last step only", sequence_inputs(31, last_only=True)),
        sequence_backward_case("other sizes", sequence_inputs(32, T=4, N=2, I=5, H=3)),
        sequence_backward_case("numeric gradient check (tiny)", sequence_inputs(33, T=3, N=2, I=2, H=3), numeric=True),
        _recipe_inputs_unchanged(SEQ_BACKWARD, Call(SEQ_BACKWARD, sequence_inputs(34),
                                                    recipe="bptt.sequence_backward")),
    ]


def backward_hint(results: dict[str, str | None]) -> str | None:
    """A wrong gradient that matches no known mistake: gradient checking finds which one and where."""
    messages = [m for m in results.values() if m]
    if not messages or any(isinstance(m, Explained) for m in messages):
        return None
    return _("check each gradient on a tiny input with the notebook's `grad_check` helper: the first one that "
             "disagrees with the numeric gradient shows which formula to revisit")


# ---------------------------------------------------------------- sequence_cross_entropy

LOSS_MISTAKES = {
    "averaged": N_("the loss averaged over time (divided by T·N, as F.cross_entropy's default mean does); it is "
                   "summed over the T steps and divided by the batch size N only"),
    "not_divided": N_("the loss not divided by the batch size N"),
    "mask_ignored": N_("the mask ignored: masked positions must add nothing to the loss"),
    "per_token": N_("the loss divided by the number of unmasked positions; it is divided by the batch size N "
                    "whatever the mask"),
}
DLOGITS_MISTAKES = {
    "averaged": N_("dlogits divided by T·N (the gradient of a loss averaged over time); the loss is summed over "
                   "time and divided by N, so dlogits is (softmax − one-hot) / N"),
    "not_divided": N_("dlogits not divided by the batch size N: the loss is divided by N, so its gradient is too"),
    "mask_ignored": N_("dlogits not masked: masked positions must get zero gradient"),
    "per_token": N_("dlogits divided by the number of unmasked positions instead of the batch size N"),
}


def loss_inputs(seed: int, T: int = 5, N: int = 3, V: int = 7, mask: str | None = None,
                dtype: torch.dtype = torch.float64, shift: float = 0.0) -> tuple:
    """(logits, targets, mask); mask is None, "random" (some positions off) or "padded" (different lengths)."""
    g = seeded(seed)
    logits = randn(g, T, N, V, dtype=dtype) * 2 + shift
    targets = torch.randint(0, V, (T, N), generator=g)
    if mask is None:
        return logits, targets, None
    if mask == "random":
        keep = torch.rand(T, N, generator=g) < 0.6
        keep[0, 0], keep[-1, -1] = True, False
    else:
        lengths = torch.randint(1, T + 1, (N,), generator=g)
        lengths[0], lengths[-1] = T, 1
        keep = torch.arange(T).unsqueeze(1) < lengths.unsqueeze(0)
    return logits, targets, keep


def loss_case(name: str, inputs: tuple, noncontiguous: bool = False) -> Case:
    logits, targets, mask = inputs
    dtype = logits.dtype
    want_loss, want_dlogits = (t.to(dtype) for t in REF.loss_reference(*inputs))
    wrong = REF.loss_mistakes(*inputs) if dtype == torch.float64 else {}
    loss_wrong = {LOSS_MISTAKES[k]: v[0] for k, v in wrong.items()}
    dlogits_wrong = {DLOGITS_MISTAKES[k]: v[1] for k, v in wrong.items()}
    args = (logits, targets) if mask is None else (logits, targets, mask)

    def verdict(outcome: Outcome) -> str | None:
        problem = check_pair(LOSS, outcome, ("loss", "dlogits"))
        if problem:
            return problem
        loss, dlogits = outcome.value
        problem = check_close(loss, "loss", want_loss, (), BACKWARD_ATOL, loss_wrong)
        got, expected = loss, want_loss
        if not problem:
            problem = check_close(dlogits, "dlogits", want_dlogits, ("T", "N", "V"), BACKWARD_ATOL, dlogits_wrong)
            got, expected = dlogits, want_dlogits
        if problem and _overflowed(got, expected):
            problem = _("{problem} — exp() overflows for large logits: subtract each position's largest logit before "
                        "exponentiating (the log-sum-exp trick), or use torch.log_softmax").format(problem=problem)
        return problem

    return Case(name, Call(LOSS, args, noncontiguous=noncontiguous), verdict)


def _overflowed(got: object, expected: torch.Tensor) -> bool:
    """A returned float64 tensor of the right shape holding inf or NaN where the reference is finite."""
    return (isinstance(got, torch.Tensor) and got.shape == expected.shape
            and got.dtype == expected.dtype == torch.float64 and not bool(torch.isfinite(got).all())
            and bool(torch.isfinite(expected).all()))


@cache
def loss_cases() -> list[Case]:
    return [
        loss_case("no mask", loss_inputs(40)),
        loss_case("a mask with some positions off", loss_inputs(41, mask="random")),
        loss_case("padded sequences of different lengths", loss_inputs(42, T=6, N=4, V=5, mask="padded")),
        loss_case("float32 with a mask", loss_inputs(43, mask="random", dtype=torch.float32)),
        unchanged_case("inputs unchanged", LOSS, loss_inputs(44, mask="random")),
    ]


# ---------------------------------------------------------------- clip_grad_norm

CLIP_MISTAKES = {
    "per_tensor": N_("each tensor clipped by its own norm; clip_grad_norm scales all of them by one factor, from the "
                     "norm over all of them together"),
    "scaled_up": N_("gradients scaled up to max_norm: the factor is min(1, max_norm / (total_norm + 1e-6)), so small "
                    "gradients stay as they are"),
}
TOTAL_MISTAKES = {
    "sum_of_norms": N_("the sum of the tensors' norms; total_norm is the 2-norm of all entries together, "
                       "sqrt(Σ ‖g‖²)"),
    "squared": N_("the squared norm (the square root is missing)"),
}


def clip_inputs(seed: int, scale: float = 1.0, shapes: tuple = ((6, 4), (6, 6), (6,)),
                dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    g = seeded(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64).to(dtype) * scale for shape in shapes]


def clip_case(name: str, grads: list[torch.Tensor], max_norm: float) -> Case:
    want, want_total = REF.clip_reference(grads, max_norm)
    clipped_by_key, total_by_key = REF.clip_mistakes(grads, max_norm)
    clipped_wrong = {CLIP_MISTAKES[key]: value for key, value in clipped_by_key.items()}
    total_wrong = {TOTAL_MISTAKES[key]: value for key, value in total_by_key.items()}

    def verdict(outcome: Outcome) -> str | None:
        problem = check_pair(CLIP, outcome, ("clipped", "total_norm"))
        if problem:
            return problem
        clipped, total = outcome.value
        problem = check_close(total, "total_norm", want_total, (), mistakes=total_wrong)
        if problem:
            return problem
        if not isinstance(clipped, (list, tuple)) or len(clipped) != len(grads):
            if isinstance(clipped, (list, tuple)):
                return ngettext("clipped is {what} of length {length}; expected a list of {n} tensor, one per gradient",
                                "clipped is {what} of length {length}; expected a list of {n} tensors, one per "
                                "gradient", len(grads)).format(what=describe(clipped), length=len(clipped),
                                                               n=len(grads))
            return ngettext("clipped is {what}; expected a list of {n} tensor, one per gradient",
                            "clipped is {what}; expected a list of {n} tensors, one per gradient",
                            len(grads)).format(what=describe(clipped), n=len(grads))
        for i, (got, expected) in enumerate(zip(clipped, want)):
            problem = check_close(got, f"clipped[{i}]", expected,
                                  mistakes={text: produced[i] for text, produced in clipped_wrong.items()})
            if problem:
                return problem
        return None

    return Case(name, Call(CLIP, (grads, max_norm)), verdict)


def clip_unchanged_case(name: str, grads: list[torch.Tensor], max_norm: float) -> Case:
    call = Call(CLIP, (grads, max_norm), return_args=True)

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, CLIP)
        if problem:
            return problem
        problem = check_unchanged(outcome, call, CLIP)
        if problem and _scaled_in_place(outcome, grads):
            problem = _("{problem} — return new tensors g * coefficient; do not scale the gradients with "
                        "g.mul_()").format(problem=problem)
        return problem

    return Case(name, call, verdict, kind=FORM)


def _scaled_in_place(outcome: Outcome, grads: list[torch.Tensor]) -> bool:
    """The gradients came back as many as were sent, and one of them changed: modified in place."""
    back = outcome.args[0] if isinstance(outcome.args, (list, tuple)) and outcome.args else None
    if not isinstance(back, (list, tuple)) or len(back) != len(grads):
        return False
    return any(isinstance(after, torch.Tensor) and (after.shape != before.shape
                                                    or not torch.equal(before, after.to(before.dtype)))
               for before, after in zip(grads, back))


@cache
def clip_cases() -> list[Case]:
    return [
        clip_case("total_norm above max_norm: clipped", clip_inputs(50), 1.0),
        clip_case("total_norm below max_norm: left as it is", clip_inputs(51, scale=0.1), 5.0),
        clip_case("float32", clip_inputs(52, dtype=torch.float32), 2.0),
        clip_unchanged_case("inputs unchanged", clip_inputs(53), 1.0),
    ]


# ---------------------------------------------------------------- train_truncated_bptt

TRAIN_MISTAKES = {
    "reset": N_("the hidden state reset at every chunk (h = None); carry it from one chunk to the next, detached"),
    "drop_last": N_("the last, shorter chunk dropped; when k does not divide T the last chunk has T mod k steps and "
                    "still gets its own update"),
    "no_zero_grad": N_("gradients accumulated over chunks: call optimizer.zero_grad() before every backward"),
}
TRAIN_LR = 0.5
NOT_DETACHED = ("backward through the graph a second time", "modified by an inplace operation")


def train_inputs(seed: int, T: int, k: int, N: int = 3, I: int = 4, H: int = 6, V: int = 7) -> dict:
    """A random start state for TinyRNNModel(I, H, V), a sequence (T, N, I) with targets (T, N), and k."""
    g = seeded(seed)
    shapes = {"rnn.weight_ih_l0": (H, I), "rnn.weight_hh_l0": (H, H), "rnn.bias_ih_l0": (H,), "rnn.bias_hh_l0": (H,),
              "readout.weight": (V, H), "readout.bias": (V,)}
    state = {key: randn(g, *shape) * 0.5 for key, shape in shapes.items()}
    return {"sizes": (I, H, V), "state": state, "inputs": randn(g, T, N, I),
            "targets": torch.randint(0, V, (T, N), generator=g), "k": k}


def _train_call(case: dict) -> Call:
    return Call(TRAIN, (case["sizes"], case["state"], case["inputs"], case["targets"], case["k"], TRAIN_LR),
                recipe="bptt.truncated_bptt")


def _train_failure(outcome: Outcome) -> str | None:
    problem = failure_of_call(outcome, TRAIN)
    if problem and outcome.status == "raised" and any(text in outcome.message for text in NOT_DETACHED):
        problem = _("{problem}\n— detach the hidden state between chunks (h = h.detach()): the next chunk's backward "
                    "must stop at the chunk boundary instead of reaching into the previous chunk's graph, which was "
                    "freed by its backward and whose weights the optimizer has since changed").format(problem=problem)
    return problem


def train_case(name: str, case: dict) -> Case:
    """Judged by the weights after the epoch, whatever losses the function reports."""
    want = REF.train_reference(case)[1]
    wrong = {text: REF.train_reference(case, key)[1] for key, text in TRAIN_MISTAKES.items()}

    def verdict(outcome: Outcome) -> str | None:
        problem = _train_failure(outcome)
        if problem:
            return problem
        state = outcome.value.get("state", {}) if isinstance(outcome.value, dict) else {}
        for key, expected in want.items():
            problem = check_close(state.get(key), _("{key} after the epoch").format(key=key), expected, atol=TRAIN_ATOL,
                                  mistakes={text: produced[key] for text, produced in wrong.items()})
            if problem:
                return problem
        return None

    return Case(name, _train_call(case), verdict)


def train_losses_case(name: str, case: dict) -> Case:
    """The returned list: one float per chunk, the chunk's loss before its update."""
    want = REF.train_reference(case)[0]

    def verdict(outcome: Outcome) -> str | None:
        problem = _train_failure(outcome)
        if problem:
            return problem
        losses = outcome.value.get("losses") if isinstance(outcome.value, dict) else None
        if not isinstance(losses, (list, tuple)):
            return ngettext("`{stub}` returned {what}; expected a list of {n} float, one loss per chunk",
                            "`{stub}` returned {what}; expected a list of {n} floats, one loss per chunk",
                            len(want)).format(stub=TRAIN, what=describe(losses), n=len(want))
        if len(losses) != len(want):
            return ngettext("`{stub}` returned {got} loss; expected {n}, one per chunk (T = {T}, k = {k}: the last "
                            "chunk may be shorter)",
                            "`{stub}` returned {got} losses; expected {n}, one per chunk (T = {T}, k = {k}: the last "
                            "chunk may be shorter)", len(losses)).format(
                stub=TRAIN, got=len(losses), n=len(want), T=case["inputs"].shape[0], k=case["k"])
        for i, (got, expected) in enumerate(zip(losses, want)):
            if not isinstance(got, float):
                return _("losses[{i}] is {what}; expected a Python float — append loss.item()").format(
                    i=i, what=describe(got))
            if not math.isclose(got, expected, rel_tol=0, abs_tol=TRAIN_ATOL):
                return _("losses[{i}] is {got}; expected {expected}, the loss of chunk {i} before its update").format(
                    i=i, got=f"{got:.10g}", expected=f"{expected:.10g}")
        return None

    return Case(name, _train_call(case), verdict)


@cache
def train_cases() -> list[Case]:
    return [
        train_case("T=8, k=4: two full chunks", train_inputs(60, T=8, k=4)),
        train_case("T=7, k=3: a last chunk of one step", train_inputs(61, T=7, k=3)),
        train_case("k=1", train_inputs(62, T=4, k=1)),
        train_losses_case("returns one loss per chunk", train_inputs(63, T=7, k=3)),
    ]


# ---------------------------------------------------------------- hidden_grad_norms

NORMS_MISTAKES = {
    "mean": N_("loss = h_{{T−1}}.mean(); the loss is h_{{T−1}}.sum()"),
    "all_steps": N_("loss = the sum of every step's hidden state; the loss is the sum of the last one, h_{{T−1}}, "
                    "only"),
    "norm": N_("loss = h_{{T−1}}.norm(); the loss is h_{{T−1}}.sum()"),
    "shifted": N_("entry t holding the gradient at the state before step t (h_0 … h_{{T−2}}); entry t is for h_t, the "
                  "state after step t"),
    "cell_state": N_("the gradient with respect to the LSTM's cell state c_t; entry t is for the hidden state h_t"),
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}
CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


def norms_inputs(seed: int, kind: str, T: int = 6, N: int = 3, I: int = 4, H: int = 5) -> tuple:
    """(kind, the cell's state_dict, x (T, N, I), h_0 (N, H))."""
    g = seeded(seed)
    G = GATES[kind]
    state = {"weight_ih": randn(g, G * H, I) * 0.5, "weight_hh": randn(g, G * H, H) * 0.5,
             "bias_ih": randn(g, G * H) * 0.5, "bias_hh": randn(g, G * H) * 0.5}
    return kind, state, randn(g, T, N, I), randn(g, N, H) * 0.5


def norms_case(name: str, inputs: tuple) -> Case:
    kind, state, x, h_0 = inputs
    want = REF.norms_reference(*inputs)
    mistakes = {text: produced for key, text in NORMS_MISTAKES.items()
                if (produced := REF.norms_reference(*inputs, key)) is not None}

    def verdict(outcome: Outcome) -> str | None:
        return failure_of_call(outcome, NORMS) or check_close(outcome.value, _("the gradient norms"), want, ("T",),
                                                               mistakes=mistakes)

    return Case(name, Call(NORMS, inputs, recipe="bptt.grad_norms"), verdict)


@cache
def norms_cases() -> list[Case]:
    return [
        norms_case("nn.RNNCell", norms_inputs(70, "rnn")),
        norms_case("nn.LSTMCell", norms_inputs(71, "lstm")),
        norms_case("nn.GRUCell", norms_inputs(72, "gru")),
    ]


# The titles are marked for the catalogs (N_); the feedback page, the report and results.json translate them.
GROUPS = [
    CheckGroup("rnn_step_forward_values", STEP_FORWARD, N_("rnn_step_forward: values vs nn.RNNCell"),
               step_forward_cases),
    CheckGroup("rnn_step_backward_gradients", STEP_BACKWARD, N_("rnn_step_backward: gradients vs autograd"),
               step_backward_cases, backward_hint),
    CheckGroup("rnn_sequence_forward_values", SEQ_FORWARD, N_("rnn_sequence_forward: values vs nn.RNN"),
               sequence_forward_cases),
    CheckGroup("rnn_sequence_backward_gradients", SEQ_BACKWARD, N_("rnn_sequence_backward: gradients vs autograd"),
               sequence_backward_cases, backward_hint),
    CheckGroup("sequence_cross_entropy_values", LOSS,
               N_("sequence_cross_entropy: loss and dlogits vs F.cross_entropy"), loss_cases),
    CheckGroup("clip_grad_norm_values", CLIP, N_("clip_grad_norm: vs torch.nn.utils.clip_grad_norm_"), clip_cases),
    CheckGroup("train_truncated_bptt_parameters", TRAIN, N_("train_truncated_bptt: weights after one epoch vs a "
                                                            "reference run"), train_cases),
    CheckGroup("hidden_grad_norms_values", NORMS, N_("hidden_grad_norms: vs autograd"), norms_cases),
]

# By hand: what each stub may not use (see autograder.judge.byhand; the notebook shows it before each task). The
# assignment is backpropagation written out, so the forward, backward, loss and clip stubs may not use
# autograd; train_truncated_bptt and hidden_grad_norms use it as documented, so they have no rules.
# The advice is marked for the catalogs (N_); autograder.judge.byhand translates it where it is shown.
_NO_AUTOGRAD = byhand.autograd_rule(N_("derive the gradients with the chain rule and compute them yourself"))
FORBIDDEN = {
    "rnn_step_forward": (byhand.recurrent_rule(N_("write h_next = tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh) "
                                                  "yourself")), _NO_AUTOGRAD),
    "rnn_sequence_forward": (byhand.recurrent_rule(N_("loop over the time steps with your rnn_step_forward")),
                             _NO_AUTOGRAD),
    "rnn_step_backward": (_NO_AUTOGRAD,),
    "rnn_sequence_backward": (_NO_AUTOGRAD,),
    "sequence_cross_entropy": (
        byhand.Rule(("torch.nn.functional.cross_entropy", "torch.nn.functional.nll_loss", "torch.nn.CrossEntropyLoss",
                     "torch.nn.NLLLoss"),
                    N_("compute the loss from log_softmax and its gradient (softmax − one-hot) yourself"),
                    ("aten::nll_loss_forward", "aten::nll_loss2d_forward", "aten::nll_loss_nd",
                     "aten::cross_entropy_loss")),
        _NO_AUTOGRAD),
    "clip_grad_norm": (
        byhand.Rule(("torch.nn.utils.clip_grad_norm_", "torch.nn.utils.clip_grad_norm",
                     "torch.nn.utils.clip_grad_value_", "torch.nn.utils.get_total_norm",
                     "torch.nn.utils.clip_grads_with_norm_", "torch.nn.utils.clip_grad.*"),
                    N_("compute the total norm and the scale factor yourself"), ("aten::_foreach_norm",),
                    shown=(N_("`nn.utils.clip_grad_norm_` and the rest of `torch.nn.utils.clip_grad`"),)),
        _NO_AUTOGRAD),
}
