"""Checks for 01_rnn: the recurrent cell, a multi-layer RNN, its shapes and its parameter count.

Oracles are torch's own modules with the case's weights copied in, evaluated in float64.
Sizes are small and pairwise distinct (N=3, T=5, I=4, H=6, L=2), so a swapped axis fails loudly.
"""

from __future__ import annotations

import torch

from autograder.checks import answers
from autograder.checks.base import (
    FORM,
    Call,
    Case,
    CheckGroup,
    Outcome,
    check_tensor,
    expect_raises,
    failure_of_call,
    randn,
    seeded,
)
from autograder.checks.recurrent import (
    layer_stack,
    layered_forward_hint,
    sequence_shape_case,
    sequence_value_case,
    unchanged_case,
)
from autograder.i18n import N_, _
from autograder.judge import byhand

REF = answers.references("rnn")  # references and mistake models: grading side only

CELL = "rnn_cell_forward"
FORWARD = "rnn_forward"


# ---------------------------------------------------------------- rnn_cell_forward

def cell_inputs(seed: int, N: int = 3, I: int = 4, H: int = 6, bias: bool = True,
                dtype: torch.dtype = torch.float64) -> tuple:
    g = seeded(seed)
    x, h_prev = randn(g, N, I, dtype=dtype), randn(g, N, H, dtype=dtype)
    W_ih, W_hh = randn(g, H, I, dtype=dtype) * 0.6, randn(g, H, H, dtype=dtype) * 0.4
    b_ih, b_hh = randn(g, H, dtype=dtype), randn(g, H, dtype=dtype)
    return (x, h_prev, W_ih, W_hh, b_ih, b_hh) if bias else (x, h_prev, W_ih, W_hh, None, None)


def cell_value_case(name: str, inputs: tuple, nonlinearity: str = "tanh", diagnostic: bool = False,
                    noncontiguous: bool = False) -> Case:
    x, h_prev, W_ih, W_hh, b_ih, b_hh = inputs
    kwargs = {"nonlinearity": nonlinearity} if nonlinearity != "tanh" else {}
    args = (x, h_prev, W_ih, W_hh, b_ih, b_hh) if b_ih is not None else (x, h_prev, W_ih, W_hh)
    call = Call(CELL, args, kwargs, noncontiguous=noncontiguous)
    expected = REF.cell_reference(x, h_prev, W_ih, W_hh, b_ih, b_hh, nonlinearity)

    def verdict(outcome: Outcome) -> str | None:
        return failure_of_call(outcome, CELL) or check_tensor(
            outcome.value, "h_next", shape=expected.shape, dtype=expected.dtype, values=expected, dims=("N", "H"))

    return Case(name, call, verdict, diagnostic)


def cell_shape_case(name: str, inputs: tuple, device: str = "cpu") -> Case:
    x, H = inputs[0], inputs[2].shape[0]

    def verdict(outcome: Outcome) -> str | None:
        return failure_of_call(outcome, CELL) or check_tensor(
            outcome.value, "h_next", shape=(x.shape[0], H), dtype=x.dtype, device=device, dims=("N", "H"))

    return Case(name, Call(CELL, inputs, device=device), verdict, kind=FORM)


def isolation_cases(seed: int) -> list[Case]:
    """Zero every term but one, so a failure points at the term that is wrong."""
    x, h_prev, W_ih, W_hh, b_ih, b_hh = cell_inputs(seed)
    zero_h, zero_b = torch.zeros_like(h_prev), torch.zeros_like(b_ih)
    zero_W = torch.zeros_like(W_ih)
    return [
        cell_value_case("only x", (x, zero_h, W_ih, W_hh, zero_b, zero_b), diagnostic=True),
        cell_value_case("only h_prev", (x, h_prev, zero_W, W_hh, zero_b, zero_b), diagnostic=True),
        cell_value_case("only b_ih", (x, zero_h, zero_W, W_hh, b_ih, zero_b), diagnostic=True),
        cell_value_case("only b_hh", (x, zero_h, zero_W, W_hh, zero_b, b_hh), diagnostic=True),
    ]


def cell_hint(results: dict[str, str | None]) -> str | None:
    if results.get("only x"):
        return _("even with h_prev and both biases zero, h_next is wrong — check x @ W_ih.T "
                 "(W_ih is (H, I)) and that the nonlinearity is applied")
    if results.get("only h_prev"):
        return _("h_next is right from x alone but wrong from h_prev alone — check h_prev @ W_hh.T")
    if results.get("only b_ih"):
        return _("h_next is wrong when only b_ih is non-zero — is b_ih added (and added once)?")
    if results.get("only b_hh"):
        return _("h_next is wrong when only b_hh is non-zero — is b_hh added?")
    if results.get("relu") and not results.get("tanh"):
        return _("tanh is right but relu is not — is the nonlinearity argument used?")
    if results.get("no bias") and not results.get("tanh"):
        return _("b_ih=None and b_hh=None mean 'no bias': skip the bias terms instead of adding None")
    return None


def cell_shape_cases() -> list[Case]:
    return [
        cell_shape_case("float64", cell_inputs(1)),
        cell_shape_case("float32 stays float32", cell_inputs(2, dtype=torch.float32)),
        cell_shape_case("meta device", cell_inputs(3), device="meta"),
    ]


def cell_value_cases() -> list[Case]:
    return [
        cell_value_case("tanh", cell_inputs(10)),
        cell_value_case("relu", cell_inputs(11), "relu"),
        cell_value_case("no bias", cell_inputs(12, bias=False)),
        cell_value_case("float32", cell_inputs(13, dtype=torch.float32)),
        Case("unknown nonlinearity raises ValueError",
             Call(CELL, cell_inputs(14), {"nonlinearity": "sigmoid"}), expect_raises(CELL, "ValueError"), kind=FORM),
        unchanged_case("inputs unchanged", CELL, cell_inputs(15)),
        *isolation_cases(16),
    ]


# ---------------------------------------------------------------- rnn_forward

def forward_inputs(seed: int, T: int = 5, N: int = 3, I: int = 4, H: int = 6, L: int = 2, bias: bool = True,
                   batch_first: bool = False, with_h0: bool = True, dtype: torch.dtype = torch.float64) -> tuple:
    g = seeded(seed)
    x = randn(g, *((N, T, I) if batch_first else (T, N, I)), dtype=dtype)
    h_0 = randn(g, L, N, H, dtype=dtype) if with_h0 else None
    layers = layer_stack(g, L, I, H, 1, bias, dtype)
    return x, h_0, layers


def forward_value_case(name: str, inputs: tuple, batch_first: bool = False, nonlinearity: str = "tanh",
                       noncontiguous: bool = False) -> Case:
    x, h_0, layers = inputs
    kwargs = {}
    if batch_first:
        kwargs["batch_first"] = True
    if nonlinearity != "tanh":
        kwargs["nonlinearity"] = nonlinearity
    call = Call(FORWARD, (x, h_0, layers), kwargs, noncontiguous=noncontiguous)
    expected = REF.forward_reference(x, h_0, layers, batch_first, nonlinearity)
    return sequence_value_case(name, call, expected, batch_first)


def forward_shape_case(name: str, inputs: tuple, batch_first: bool = False, device: str = "cpu") -> Case:
    return sequence_shape_case(FORWARD, name, inputs, batch_first, device)


forward_hint = layered_forward_hint(
    "h_0=None",
    N_("h_0=None means zeros: make them with x.new_zeros((L, N, H))"),
    N_("one layer is right but two are not — layer k > 0 must take layer k−1's outputs as its input, with its own "
       "weights and its own initial state h_0[k]"),
    N_("with batch_first=True, x is (N, T, I) and output is (N, T, H); h_n stays (L, N, H)"))


def forward_shape_cases() -> list[Case]:
    return [
        forward_shape_case("time-major", forward_inputs(20)),
        forward_shape_case("batch_first", forward_inputs(21, batch_first=True), batch_first=True),
        forward_shape_case("float32 stays float32", forward_inputs(22, dtype=torch.float32)),
        forward_shape_case("meta device", forward_inputs(23), device="meta"),
        forward_shape_case("meta device, h_0=None", forward_inputs(24, with_h0=False), device="meta"),
    ]


def forward_value_cases() -> list[Case]:
    return [
        forward_value_case("one layer", forward_inputs(30, L=1)),
        forward_value_case("two layers", forward_inputs(31)),
        forward_value_case("h_0=None", forward_inputs(32, with_h0=False)),
        forward_value_case("batch_first", forward_inputs(33, batch_first=True), batch_first=True),
        forward_value_case("relu", forward_inputs(34), nonlinearity="relu"),
        forward_value_case("no bias", forward_inputs(35, bias=False)),
        unchanged_case("inputs unchanged", FORWARD, forward_inputs(36)),
    ]


# ---------------------------------------------------------------- rnn_shapes


def shapes_case(name: str, *args: int, batch_first: bool = False) -> Case:
    expected = REF.shapes_reference(*args, batch_first=batch_first)
    kwargs = {"batch_first": True} if batch_first else {}
    called = f"rnn_shapes{args}"

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, "rnn_shapes")
        if problem:
            return problem
        shown = _("{call} with batch_first=True").format(call=called) if batch_first else called
        got = outcome.value
        if not isinstance(got, dict):
            return _("{call} returned a {type}; expected a dict with keys input, h_0, output, h_n").format(
                call=shown, type=type(got).__name__)
        if set(got) != set(expected):
            return _("{call} has keys {keys}; expected {expected}").format(call=shown, keys=sorted(got),
                                                                          expected=sorted(expected))
        for key, want in expected.items():
            value = got[key]
            if not isinstance(value, tuple) or not all(type(v) is int for v in value):
                return _("{call}[{key}] is {value}; expected a tuple of ints such as {want}").format(
                    call=shown, key=repr(key), value=repr(value), want=want)
            if value != want:
                return _("{call}[{key}] is {value}; expected {want}").format(call=shown, key=repr(key), value=value,
                                                                            want=want)
        return None

    return Case(name, Call("rnn_shapes", args, kwargs), verdict)


def shapes_cases() -> list[Case]:
    return [
        shapes_case("course example nn.RNN(20, 50, 2) on (100, 32, 20)", 20, 50, 2, 100, 32),
        shapes_case("batch_first", 20, 50, 2, 100, 32, batch_first=True),
        shapes_case("other sizes", 3, 7, 4, 9, 2),
    ]


# ---------------------------------------------------------------- count_rnn_params


def params_case(mode: str, input_size: int, hidden_size: int, **kwargs) -> Case:
    expected = REF.params_reference(mode, input_size, hidden_size, **kwargs)
    options = "".join(f", {k}={v}" for k, v in kwargs.items())
    shown = f"count_rnn_params({mode!r}, {input_size}, {hidden_size}{options})"

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, "count_rnn_params")
        if problem:
            return problem
        if type(outcome.value) is not int:
            return _("{call} returned {value}; expected an int").format(call=shown, value=repr(outcome.value))
        if outcome.value != expected:
            return _("{call} returned {value}; expected {expected}").format(call=shown, value=outcome.value,
                                                                           expected=expected)
        return None

    return Case(f"{mode}({input_size}, {hidden_size}{options})", Call("count_rnn_params", (mode, input_size,
                hidden_size), kwargs), verdict)


def params_hint(results: dict[str, str | None]) -> str | None:
    failed = [name for name, message in results.items() if message]
    if failed and all("bias=False" in name for name in failed):  # case names: matched, never translated
        return _("bias=False removes both b_ih and b_hh of every layer (and of both directions)")
    if failed and all("bidirectional=True" in name for name in failed):
        return _("a bidirectional RNN has a full set of weights per direction, and layer k > 0 takes "
                 "2 * hidden_size inputs")
    if failed and all("num_layers" in name for name in failed):
        return _("layer k > 0 takes hidden_size inputs (the previous layer's output), not input_size")
    return None


def params_cases() -> list[Case]:
    return [
        params_case("RNN", 20, 50),
        params_case("LSTM", 10, 20),
        params_case("GRU", 10, 20),
        params_case("RNN", 20, 50, num_layers=2),
        params_case("LSTM", 10, 20, num_layers=2),
        params_case("GRU", 7, 5, bias=False),
        params_case("LSTM", 7, 5, bias=False),
        params_case("RNN", 4, 6, bidirectional=True),
        params_case("GRU", 4, 6, num_layers=2, bidirectional=True),
        Case("unknown mode raises ValueError", Call("count_rnn_params", ("Transformer", 4, 6)),
             expect_raises("count_rnn_params", "ValueError"), kind=FORM),
    ]


# Titles are marked here and translated where they are read (CheckGroup.title); ids and case names never are.
GROUPS = [
    CheckGroup("rnn_cell_forward_shape", CELL, N_("rnn_cell_forward: shape, dtype and device"), cell_shape_cases),
    CheckGroup("rnn_cell_forward_values", CELL, N_("rnn_cell_forward: values vs nn.RNNCell"), cell_value_cases,
               cell_hint),
    CheckGroup("rnn_forward_shape", FORWARD, N_("rnn_forward: shapes, dtype and device"), forward_shape_cases),
    CheckGroup("rnn_forward_values", FORWARD, N_("rnn_forward: values vs nn.RNN"), forward_value_cases,
               forward_hint),
    CheckGroup("rnn_shapes", "rnn_shapes", N_("rnn_shapes: the shapes of nn.RNN"), shapes_cases),
    CheckGroup("count_rnn_params", "count_rnn_params", N_("count_rnn_params: vs the torch modules"), params_cases,
               params_hint),
]

# By hand: what each stub may not use (autograder.judge.byhand reads the source and the trace for it; the notebook
# shows it before each task). rnn_shapes and count_rnn_params are about reading torch's conventions, which a
# module built on the meta device shows as well as a formula does, so only the cell and the forward have rules.
FORBIDDEN = {
    "rnn_cell_forward": (byhand.recurrent_rule(N_("write h_next = f(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh) "
                                                  "yourself")),),
    "rnn_forward": (byhand.recurrent_rule(N_("loop over the time steps and layers with your rnn_cell_forward")),),
}
