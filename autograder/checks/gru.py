"""Checks for 03_gru: the GRU cell, a multi-layer GRU and a bidirectional layer, against torch's modules.

Biases are always random and non-zero where present: with b_hn = 0, putting b_hn outside the reset
gate gives the right answer, so a zero bias would hide that bug. The judge also computes what each
classic GRU bug produces on the same inputs and names the one a wrong answer matches.
"""

from __future__ import annotations

import torch

from autograder.checks import answers
from autograder.checks.base import FORM, Call, Case, CheckGroup, Outcome, check_tensor, failure_of_call, randn, seeded
from autograder.checks.recurrent import (
    check_pair,
    layer_stack,
    layered_forward_hint,
    sequence_shape_case,
    sequence_value_case,
    unchanged_case,
)
from autograder.i18n import N_
from autograder.judge import byhand

REF = answers.references('gru')  # references and mistake models: grading side only

CELL = "gru_cell_forward"
FORWARD = "gru_forward"
BIDI = "bidirectional_gru_forward"

# What each classic bug is called in a message: marked here, translated by check_tensor. The hidden references
# key their mistake outputs by BIDI_MISTAKES' English text (recorded so in a bundle's public answers).
CELL_MISTAKES = {
    "paper_reset": N_("the reset gate applied to h before the matmul (the paper's form, W_hn (r * h)); torch "
                      "applies it after: r * (W_hn h + b_hn)"),
    "b_hn_outside": N_("b_hn added outside the reset gate; torch has r * (W_hn h + b_hn)"),
    "z_swapped": N_("z and 1 − z swapped; h' = (1 − z) * n + z * h"),
    "zrn_order": N_("the gates taken in the order z, r, n; torch's rows are r, z, n"),
}
BIDI_MISTAKES = {
    "reversed_backward": N_("the backward half left in reversed time order; output[t] must hold the backward "
                            "state for input step t"),
    "h_n_swapped": N_("the two halves of h_n swapped; h_n[0] is the forward direction, h_n[1] the backward"),
    "backward_from_output_end": N_("h_n[1] taken from output[-1]; the backward direction ends at time step 0"),
}


def cell_inputs(seed: int, N: int = 3, I: int = 4, H: int = 6, bias: bool = True,
                dtype: torch.dtype = torch.float64) -> tuple:
    g = seeded(seed)
    x, h = randn(g, N, I, dtype=dtype), randn(g, N, H, dtype=dtype)
    ((W_ih, W_hh, b_ih, b_hh),) = layer_stack(g, 1, I, H, 3, bias, dtype)
    return x, h, W_ih, W_hh, b_ih, b_hh


def _args(inputs: tuple) -> tuple:
    return inputs if inputs[4] is not None else inputs[:4]


def _double(values: tuple) -> tuple:
    return tuple(None if v is None else v.double() for v in values)


def cell_value_case(name: str, inputs: tuple, noncontiguous: bool = False) -> Case:
    want = REF.cell_reference(*inputs)
    mistakes = {text: REF.cell_math(*_double(inputs), key) for key, text in CELL_MISTAKES.items()}

    def verdict(outcome: Outcome) -> str | None:
        return failure_of_call(outcome, CELL) or check_tensor(
            outcome.value, "h_next", shape=want.shape, dtype=want.dtype, values=want, dims=("N", "H"),
            mistakes=mistakes)

    return Case(name, Call(CELL, _args(inputs), noncontiguous=noncontiguous), verdict)


def cell_shape_case(name: str, inputs: tuple, device: str = "cpu") -> Case:
    x, H = inputs[0], inputs[3].shape[1]

    def verdict(outcome: Outcome) -> str | None:
        return failure_of_call(outcome, CELL) or check_tensor(
            outcome.value, "h_next", shape=(x.shape[0], H), dtype=x.dtype, device=device, dims=("N", "H"))

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


# ---------------------------------------------------------------- gru_forward

def forward_inputs(seed: int, T: int = 5, N: int = 3, I: int = 4, H: int = 6, L: int = 2, bias: bool = True,
                   batch_first: bool = False, with_h0: bool = True, dtype: torch.dtype = torch.float64) -> tuple:
    g = seeded(seed)
    x = randn(g, *((N, T, I) if batch_first else (T, N, I)), dtype=dtype)
    h_0 = randn(g, L, N, H, dtype=dtype) if with_h0 else None
    return x, h_0, layer_stack(g, L, I, H, 3, bias, dtype)


H_0_IGNORED = N_("the given h_0 ignored (every layer started from zeros)")  # translated by check_tensor


def forward_value_case(name: str, inputs: tuple, batch_first: bool = False, noncontiguous: bool = False) -> Case:
    x, h_0, layers = inputs
    call = Call(FORWARD, (x, h_0, layers), {"batch_first": True} if batch_first else {}, noncontiguous=noncontiguous)
    mistakes = None
    if h_0 is not None:
        double_layers = [tuple(None if w is None else w.double() for w in layer) for layer in layers]
        mistakes = {H_0_IGNORED: REF.forward_reference(x.double(), None, double_layers, batch_first)[0]}
    return sequence_value_case(name, call, REF.forward_reference(x, h_0, layers, batch_first), batch_first, mistakes)


def forward_shape_case(name: str, inputs: tuple, batch_first: bool = False, device: str = "cpu") -> Case:
    return sequence_shape_case(FORWARD, name, inputs, batch_first, device)


forward_hint = layered_forward_hint(
    "h_0=None",
    N_("h_0=None means zeros: make them with x.new_zeros((L, N, H))"),
    N_("one layer is right but two are not — layer k > 0 must take layer k−1's outputs as its input, with its own "
       "weights and its own h_0[k]"),
    N_("with batch_first=True, x is (N, T, I) and output is (N, T, H); h_n stays (L, N, H)"))


def forward_shape_cases() -> list[Case]:
    return [
        forward_shape_case("time-major", forward_inputs(20)),
        forward_shape_case("batch_first", forward_inputs(21, batch_first=True), batch_first=True),
        forward_shape_case("float32 stays float32", forward_inputs(22, dtype=torch.float32)),
        forward_shape_case("meta device, h_0=None", forward_inputs(23, with_h0=False), device="meta"),
    ]


def forward_value_cases() -> list[Case]:
    return [
        forward_value_case("one layer", forward_inputs(30, L=1)),
        forward_value_case("two layers", forward_inputs(31)),
        forward_value_case("h_0=None", forward_inputs(32, with_h0=False)),
        forward_value_case("batch_first", forward_inputs(33, batch_first=True), batch_first=True),
        forward_value_case("no bias", forward_inputs(34, bias=False)),
        unchanged_case("inputs unchanged", FORWARD, forward_inputs(35)),
    ]


# ---------------------------------------------------------------- bidirectional_gru_forward

def bidi_inputs(seed: int, T: int = 5, N: int = 3, I: int = 4, H: int = 6, bias: bool = True, with_h0: bool = True,
                dtype: torch.dtype = torch.float64) -> tuple:
    g = seeded(seed)
    x = randn(g, T, N, I, dtype=dtype)
    h_0 = randn(g, 2, N, H, dtype=dtype) if with_h0 else None
    (fwd,) = layer_stack(g, 1, I, H, 3, bias, dtype)
    (bwd,) = layer_stack(g, 1, I, H, 3, bias, dtype)
    return x, h_0, fwd, bwd


def bidi_value_case(name: str, inputs: tuple) -> Case:
    x, h_0, fwd, bwd = inputs
    want_out, want_h = REF.bidi_reference(*inputs)
    wrong = REF.bidi_mistakes(*(t.double() for t in REF.bidi_reference(*inputs)))

    def verdict(outcome: Outcome) -> str | None:
        problem = check_pair(BIDI, outcome, ("output", "h_n"))
        if problem:
            return problem
        output, h_n = outcome.value
        return check_tensor(output, "output", shape=want_out.shape, dtype=want_out.dtype, values=want_out,
                            dims=("T", "N", "2H"), mistakes={k: v[0] for k, v in wrong.items()}) or check_tensor(
            h_n, "h_n", shape=want_h.shape, dtype=want_h.dtype, values=want_h, dims=("2", "N", "H"),
            mistakes={k: v[1] for k, v in wrong.items()})

    return Case(name, Call(BIDI, inputs), verdict)


def bidi_shape_case(name: str, inputs: tuple, device: str = "cpu") -> Case:
    x, h_0, fwd, bwd = inputs
    T, N, H = x.shape[0], x.shape[1], fwd[1].shape[1]

    def verdict(outcome: Outcome) -> str | None:
        problem = check_pair(BIDI, outcome, ("output", "h_n"))
        if problem:
            return problem
        output, h_n = outcome.value
        return check_tensor(output, "output", shape=(T, N, 2 * H), dtype=x.dtype, device=device,
                            dims=("T", "N", "2H")) or check_tensor(
            h_n, "h_n", shape=(2, N, H), dtype=x.dtype, device=device, dims=("2", "N", "H"))

    return Case(name, Call(BIDI, inputs, device=device), verdict, kind=FORM)


def bidi_shape_cases() -> list[Case]:
    return [
        bidi_shape_case("float64", bidi_inputs(40)),
        bidi_shape_case("float32 stays float32", bidi_inputs(41, dtype=torch.float32)),
        bidi_shape_case("meta device, h_0=None", bidi_inputs(42, with_h0=False), device="meta"),
    ]


def bidi_value_cases() -> list[Case]:
    return [
        bidi_value_case("random weights, biases and h_0", bidi_inputs(50)),
        bidi_value_case("h_0=None", bidi_inputs(51, with_h0=False)),
        bidi_value_case("no bias", bidi_inputs(52, bias=False)),
        unchanged_case("inputs unchanged", BIDI, bidi_inputs(53)),
    ]


# Titles are marked here and translated where they are read (CheckGroup.title); ids and case names never are.
GROUPS = [
    CheckGroup("gru_cell_forward_shape", CELL, N_("gru_cell_forward: shape, dtype and device"), cell_shape_cases),
    CheckGroup("gru_cell_forward_values", CELL, N_("gru_cell_forward: values vs nn.GRUCell"), cell_value_cases),
    CheckGroup("gru_forward_shape", FORWARD, N_("gru_forward: shapes, dtype and device"), forward_shape_cases),
    CheckGroup("gru_forward_values", FORWARD, N_("gru_forward: values vs nn.GRU"), forward_value_cases,
               forward_hint),
    CheckGroup("bidirectional_gru_forward_shape", BIDI, N_("bidirectional_gru_forward: shapes, dtype and device"),
               bidi_shape_cases),
    CheckGroup("bidirectional_gru_forward_values", BIDI, N_("bidirectional_gru_forward: values vs "
                                                            "nn.GRU(bidirectional=True)"), bidi_value_cases),
]

# By hand: what each stub may not use (see autograder.judge.byhand; the notebook shows it before each task).
FORBIDDEN = {
    CELL: (byhand.recurrent_rule(N_("write the reset gate, update gate and candidate yourself")),),
    FORWARD: (byhand.recurrent_rule(N_("loop over the time steps and layers with your gru_cell_forward")),),
    BIDI: (byhand.recurrent_rule(N_("run your gru_forward over the sequence and over its reverse")),),
}
