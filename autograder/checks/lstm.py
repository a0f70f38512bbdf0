"""Checks for 02_lstm: the LSTM cell and a multi-layer LSTM, against nn.LSTMCell and nn.LSTM.

Besides the oracle, the judge computes what each classic gate bug would produce on the same inputs
(CS231n's gate order, no input gate, no tanh on the output, the old cell state, a sigmoid candidate,
c not carried across time, c_n returned as h_n), so a wrong answer that matches one is named.
"""

from __future__ import annotations

import torch

from autograder.checks import answers
from autograder.checks.base import FORM, Call, Case, CheckGroup, Outcome, check_tensor, randn, seeded
from autograder.checks.recurrent import (
    check_pair,
    layer_stack,
    layered_forward_hint,
    output_dims,
    unchanged_case,
)
from autograder.i18n import N_, _
from autograder.judge import byhand

REF = answers.references('lstm')  # references and mistake models: grading side only

CELL = "lstm_cell_forward"
FORWARD = "lstm_forward"

# What each classic bug is called in a message: marked here, translated by check_tensor.
CELL_MISTAKES = {
    "ifog": N_("the gates taken in the order i, f, o, g (CS231n's layout); torch's rows are i, f, g, o"),
    "no_input_gate": N_("c_next = f * c_prev + g, without the input gate i"),
    "no_tanh_on_c": N_("h_next = o * c_next, without tanh on the cell state"),
    "old_cell": N_("h_next computed from the old cell state c_prev instead of c_next"),
    "sigmoid_candidate": N_("a sigmoid candidate g; the candidate uses tanh"),
    "f_i_swapped": N_("the forget and input gates swapped"),
    "no_b_hh": N_("b_hh left out (both biases are added to the gates)"),
    "no_b_ih": N_("b_ih left out (both biases are added to the gates)"),
}
SEQUENCE_MISTAKES = {
    "c_reset": N_("the cell state reset to c_0 at every step instead of carried across time"),
    "c_n_as_h_n": N_("c_n returned where h_n belongs"),
    "state_ignored": N_("the given state_0 ignored (every layer started from zeros)"),
}


def cell_inputs(seed: int, N: int = 3, I: int = 4, H: int = 6, bias: bool = True,
                dtype: torch.dtype = torch.float64) -> tuple:
    g = seeded(seed)
    x, h, c = randn(g, N, I, dtype=dtype), randn(g, N, H, dtype=dtype), randn(g, N, H, dtype=dtype)
    ((W_ih, W_hh, b_ih, b_hh),) = layer_stack(g, 1, I, H, 4, bias, dtype)
    return x, (h, c), W_ih, W_hh, b_ih, b_hh


def _args(inputs: tuple) -> tuple:
    x, state, W_ih, W_hh, b_ih, b_hh = inputs
    return (x, state, W_ih, W_hh, b_ih, b_hh) if b_ih is not None else (x, state, W_ih, W_hh)


def check_state_pair(stub: str, outcome: Outcome) -> str | None:
    return check_pair(stub, outcome, ("h_next", "c_next"))


def cell_value_case(name: str, inputs: tuple, noncontiguous: bool = False) -> Case:
    x, (h, c), W_ih, W_hh, b_ih, b_hh = inputs
    want_h, want_c = REF.cell_reference(*inputs)
    mistakes = {key: REF.cell_math(x.double(), h.double(), c.double(), W_ih.double(), W_hh.double(),
                               None if b_ih is None else b_ih.double(), None if b_hh is None else b_hh.double(),
                               key) for key in CELL_MISTAKES}

    def verdict(outcome: Outcome) -> str | None:
        problem = check_state_pair(CELL, outcome)
        if problem:
            return problem
        got_h, got_c = outcome.value
        return check_tensor(got_c, "c_next", shape=want_c.shape, dtype=want_c.dtype, values=want_c, dims=("N", "H"),
                            mistakes={CELL_MISTAKES[k]: v[1] for k, v in mistakes.items()}) or check_tensor(
            got_h, "h_next", shape=want_h.shape, dtype=want_h.dtype, values=want_h, dims=("N", "H"),
            mistakes={CELL_MISTAKES[k]: v[0] for k, v in mistakes.items()})

    return Case(name, Call(CELL, _args(inputs), noncontiguous=noncontiguous), verdict)


def cell_shape_case(name: str, inputs: tuple, device: str = "cpu") -> Case:
    x, H = inputs[0], inputs[2].shape[0] // 4

    def verdict(outcome: Outcome) -> str | None:
        problem = check_state_pair(CELL, outcome)
        if problem:
            return problem
        got_h, got_c = outcome.value
        return check_tensor(got_h, "h_next", shape=(x.shape[0], H), dtype=x.dtype, device=device,
                            dims=("N", "H")) or check_tensor(got_c, "c_next", shape=(x.shape[0], H), dtype=x.dtype,
                                                             device=device, dims=("N", "H"))

    return Case(name, Call(CELL, _args(inputs), device=device), verdict, kind=FORM)


def cell_shape_cases() -> list[Case]:
    return [
        cell_shape_case("float64", cell_inputs(1)),
        cell_shape_case("float32 stays float32", cell_inputs(2, dtype=torch.float32)),
        cell_shape_case("meta device", cell_inputs(3), device="meta"),
    ]


def cell_value_cases() -> list[Case]:
    return [
        cell_value_case("random weights, biases and state", cell_inputs(10)),
        cell_value_case("no bias", cell_inputs(11, bias=False)),
        cell_value_case("other sizes", cell_inputs(12, N=2, I=5, H=3)),
        cell_value_case("float32", cell_inputs(13, dtype=torch.float32)),
        unchanged_case("inputs unchanged", CELL, _args(cell_inputs(14))),
    ]


# ---------------------------------------------------------------- lstm_forward

def forward_inputs(seed: int, T: int = 5, N: int = 3, I: int = 4, H: int = 6, L: int = 2, bias: bool = True,
                   batch_first: bool = False, with_state: bool = True, dtype: torch.dtype = torch.float64) -> tuple:
    g = seeded(seed)
    x = randn(g, *((N, T, I) if batch_first else (T, N, I)), dtype=dtype)
    state = (randn(g, L, N, H, dtype=dtype), randn(g, L, N, H, dtype=dtype)) if with_state else None
    return x, state, layer_stack(g, L, I, H, 4, bias, dtype)


def check_forward_shape(outcome: Outcome) -> str | None:
    problem = check_pair(FORWARD, outcome, ("output", "(h_n, c_n)"))
    if problem:
        return problem
    state = outcome.value[1]
    if not isinstance(state, (tuple, list)) or len(state) != 2:
        return _("`{stub}` returned (output, {type}); expected (output, (h_n, c_n))").format(
            stub=FORWARD, type=type(state).__name__)
    return None


def forward_value_case(name: str, inputs: tuple, batch_first: bool = False, noncontiguous: bool = False) -> Case:
    x, state_0, layers = inputs
    want_out, want_h, want_c = REF.forward_reference(x, state_0, layers, batch_first)
    double_state = None if state_0 is None else (state_0[0].double(), state_0[1].double())
    double_layers = [tuple(None if w is None else w.double() for w in layer) for layer in layers]
    wrong = {key: REF.sequence_mistake(x.double(), double_state, double_layers, batch_first, key)
             for key in SEQUENCE_MISTAKES}
    call = Call(FORWARD, (x, state_0, layers), {"batch_first": True} if batch_first else {},
                noncontiguous=noncontiguous)

    def verdict(outcome: Outcome) -> str | None:
        problem = check_forward_shape(outcome)
        if problem:
            return problem
        output, (h_n, c_n) = outcome.value
        dims = ("L", "N", "H")
        return (check_tensor(output, "output", shape=want_out.shape, dtype=want_out.dtype, values=want_out,
                             dims=output_dims(batch_first),
                             mistakes={SEQUENCE_MISTAKES[k]: v[0] for k, v in wrong.items()})
                or check_tensor(h_n, "h_n", shape=want_h.shape, dtype=want_h.dtype, values=want_h, dims=dims,
                                mistakes={SEQUENCE_MISTAKES[k]: v[1] for k, v in wrong.items()})
                or check_tensor(c_n, "c_n", shape=want_c.shape, dtype=want_c.dtype, values=want_c, dims=dims,
                                mistakes={SEQUENCE_MISTAKES[k]: v[2] for k, v in wrong.items()}))

    return Case(name, call, verdict)


def forward_shape_case(name: str, inputs: tuple, batch_first: bool = False, device: str = "cpu") -> Case:
    x, state_0, layers = inputs
    T, N = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    L, H = len(layers), layers[0][1].shape[1]
    call = Call(FORWARD, (x, state_0, layers), {"batch_first": True} if batch_first else {}, device=device)

    def verdict(outcome: Outcome) -> str | None:
        problem = check_forward_shape(outcome)
        if problem:
            return problem
        output, (h_n, c_n) = outcome.value
        out_shape = (N, T, H) if batch_first else (T, N, H)
        return (check_tensor(output, "output", shape=out_shape, dtype=x.dtype, device=device,
                             dims=output_dims(batch_first))
                or check_tensor(h_n, "h_n", shape=(L, N, H), dtype=x.dtype, device=device, dims=("L", "N", "H"))
                or check_tensor(c_n, "c_n", shape=(L, N, H), dtype=x.dtype, device=device, dims=("L", "N", "H")))

    return Case(name, call, verdict, kind=FORM)


forward_hint = layered_forward_hint(
    "state_0=None",
    N_("state_0=None means h_0 and c_0 are zeros: make them with x.new_zeros((L, N, H))"),
    N_("one layer is right but two are not — layer k > 0 must take layer k−1's outputs as its input, with its own "
       "weights and its own (h_0[k], c_0[k])"),
    N_("with batch_first=True, x is (N, T, I) and output is (N, T, H); h_n and c_n stay (L, N, H)"))


def forward_shape_cases() -> list[Case]:
    return [
        forward_shape_case("time-major", forward_inputs(20)),
        forward_shape_case("batch_first", forward_inputs(21, batch_first=True), batch_first=True),
        forward_shape_case("float32 stays float32", forward_inputs(22, dtype=torch.float32)),
        forward_shape_case("meta device", forward_inputs(23), device="meta"),
        forward_shape_case("meta device, state_0=None", forward_inputs(24, with_state=False), device="meta"),
    ]


def forward_value_cases() -> list[Case]:
    return [
        forward_value_case("one layer", forward_inputs(30, L=1)),
        forward_value_case("two layers", forward_inputs(31)),
        forward_value_case("state_0=None", forward_inputs(32, with_state=False)),
        forward_value_case("batch_first", forward_inputs(33, batch_first=True), batch_first=True),
        forward_value_case("no bias", forward_inputs(34, bias=False)),
        unchanged_case("inputs unchanged", FORWARD, forward_inputs(35)),
    ]


# Titles are marked here and translated where they are read (CheckGroup.title); ids and case names never are.
GROUPS = [
    CheckGroup("lstm_cell_forward_shape", CELL, N_("lstm_cell_forward: shapes, dtype and device"), cell_shape_cases),
    CheckGroup("lstm_cell_forward_values", CELL, N_("lstm_cell_forward: values vs nn.LSTMCell"), cell_value_cases),
    CheckGroup("lstm_forward_shape", FORWARD, N_("lstm_forward: shapes, dtype and device"), forward_shape_cases),
    CheckGroup("lstm_forward_values", FORWARD, N_("lstm_forward: values vs nn.LSTM"), forward_value_cases,
               forward_hint),
]

# By hand: what each stub may not use (see autograder.judge.byhand; the notebook shows it before each task).
FORBIDDEN = {
    CELL: (byhand.recurrent_rule(N_("write the four gates yourself")),),
    FORWARD: (byhand.recurrent_rule(N_("loop over the time steps and layers with your lstm_cell_forward")),),
}
