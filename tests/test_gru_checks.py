"""What the 03_gru checks must do: full marks for right code, lost points (in the right group) for wrong code.

Every submission here is the reference solution with one cell replaced or one line edited, graded in
process (public and hidden cases) by the same check definitions the split grader uses. A bug must cost
points in the groups it breaks and nowhere else, and where the grader knows the bug it must name it.
The reference's bidirectional_gru_forward calls gru_forward, which calls gru_cell_forward, so a bug in
the cell costs all three value groups. Rows marked xfail(strict=True) are grader gaps or grader bugs.
"""

from __future__ import annotations

from functools import cache

import pytest
from conftest import (
    Bug,
    assert_loses_exactly,
    assert_reference_full,
    assert_released_stubs_score_zero,
    edit_cell,
    failures,
    feedback,
    function,
    grade_assignment,
    solution_namespace,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import checks, inline
from autograder.checks import gru

A = "03_gru"
CELL, FORWARD, BIDI = "gru_cell_forward", "gru_forward", "bidirectional_gru_forward"

CELL_SHAPE, CELL_VALUES = "gru_cell_forward_shape", "gru_cell_forward_values"
FORWARD_SHAPE, FORWARD_VALUES = "gru_forward_shape", "gru_forward_values"
BIDI_SHAPE, BIDI_VALUES = "bidirectional_gru_forward_shape", "bidirectional_gru_forward_values"
GROUPS = (CELL_SHAPE, CELL_VALUES, FORWARD_SHAPE, FORWARD_VALUES, BIDI_SHAPE, BIDI_VALUES)


def edit(grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    return edit_cell(A, grade_id, *replacements)



# ---------------------------------------------------------------- the reference and the released stubs

def test_every_test_cell_of_the_notebook_has_a_check_group():
    assert tuple(checks.groups(A)) == GROUPS


def test_reference_solution_scores_full_points_in_every_public_and_hidden_case():
    assert_reference_full(grade_assignment(A))


def test_released_stubs_score_zero_and_say_not_implemented_yet():
    assert_released_stubs_score_zero(A, {CELL, FORWARD, BIDI})


# ---------------------------------------------------------------- plausible bugs

def cell_with_candidate(candidate: str, *, gates: str = "r, z = torch.sigmoid(rz).chunk(2, dim=1)",
                        update: str = "return (1 - z) * n + z * h_prev") -> dict[str, str]:
    """gru_cell_forward with separate blocks sliced out by hand and the given candidate n (biases made zeros)."""
    return {CELL: f"""
def gru_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
    H = W_hh.shape[1]
    b_ih = x.new_zeros(3 * H) if b_ih is None else b_ih
    b_hh = x.new_zeros(3 * H) if b_hh is None else b_hh
    rz = x @ W_ih[:2 * H].T + b_ih[:2 * H] + h_prev @ W_hh[:2 * H].T + b_hh[:2 * H]
    {gates}
    W_in, W_hn, b_in, b_hn = W_ih[2 * H:], W_hh[2 * H:], b_ih[2 * H:], b_hh[2 * H:]
    n = {candidate}
    {update}
"""}


PAPER_RESET = cell_with_candidate("torch.tanh(x @ W_in.T + b_in + (r * h_prev) @ W_hn.T + b_hn)")
B_HN_OUTSIDE = cell_with_candidate("torch.tanh(x @ W_in.T + b_in + r * (h_prev @ W_hn.T) + b_hn)")
Z_SWAPPED = edit(CELL, ("return (1 - update_gate) * candidate + update_gate * h_prev",
                        "return update_gate * candidate + (1 - update_gate) * h_prev"))

CELL_FUSED_WITHOUT_RESET = """
def gru_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
    gates = torch.cat([x, h_prev], 1) @ torch.cat([W_ih, W_hh], 1).T
    if b_ih is not None:
        gates = gates + b_ih + b_hh
    r, z, n = gates.chunk(3, dim=1)
    r, z, n = torch.sigmoid(r), torch.sigmoid(z), torch.tanh(n)
    return (1 - z) * n + z * h_prev
"""

CELL_BUGS = (CELL_VALUES, FORWARD_VALUES, BIDI_VALUES)
FORWARD_BUGS = (FORWARD_VALUES, BIDI_VALUES)

BUGS = [
    Bug("reset gate applied before the matmul (the paper's form)", PAPER_RESET, CELL_BUGS,
        "the reset gate applied to h before the matmul"),
    Bug("b_hn outside the reset gate", B_HN_OUTSIDE, CELL_BUGS, "b_hn added outside the reset gate"),
    Bug("z and 1 - z swapped", Z_SWAPPED, CELL_BUGS, "z and 1 − z swapped"),
    Bug("gates in the order z, r, n",
        edit(CELL, ("input_r, input_z, input_n =", "input_z, input_r, input_n ="),
             ("hidden_r, hidden_z, hidden_n =", "hidden_z, hidden_r, hidden_n =")),
        CELL_BUGS, "the gates taken in the order z, r, n"),
    Bug("fused matmul that mixes n's hidden part into it (no reset gate)",
        function(CELL, CELL_FUSED_WITHOUT_RESET), CELL_BUGS, "h_next differs from the reference"),
    Bug("h_0 ignored in gru_forward", edit(FORWARD, ("h = h_0[k]", "h = x.new_zeros(batch, hidden_size)")),
        FORWARD_BUGS, "output differs from the reference"),
    Bug("every layer starts from h_0[0]", edit(FORWARD, ("h = h_0[k]", "h = h_0[0]")), (FORWARD_VALUES,),
        "its own h_0[k]"),
    Bug("crashes on h_0=None",
        edit(FORWARD, ("    if h_0 is None:\n        h_0 = x.new_zeros(len(layers), batch, hidden_size)\n", "")),
        (FORWARD_SHAPE, FORWARD_VALUES, BIDI_SHAPE, BIDI_VALUES), "h_0=None means zeros"),
    Bug("batch_first ignored", edit(FORWARD, ("        x = x.transpose(0, 1)", "        pass"),
                                    ("layer_input.transpose(0, 1) if batch_first else ", "")),
        (FORWARD_SHAPE, FORWARD_VALUES), "with batch_first=True, x is (N, T, I)"),
    Bug("bidirectional: backward half left in reversed time order",
        edit(BIDI, ("output_bwd.flip(0)], dim=2)", "output_bwd], dim=2)")), (BIDI_VALUES,),
        "the backward half left in reversed time order"),
    Bug("bidirectional: h_n halves swapped", edit(BIDI, ("[h_n_fwd, h_n_bwd]", "[h_n_bwd, h_n_fwd]")),
        (BIDI_VALUES,), "the two halves of h_n swapped"),
    Bug("bidirectional: h_n[1] taken from output[-1]",
        edit(BIDI, ("torch.cat([h_n_fwd, h_n_bwd], dim=0)",
                    "torch.stack([h_n_fwd[0], output[-1, :, h_n_fwd.shape[-1]:]])")),
        (BIDI_VALUES,), "h_n[1] taken from output[-1]"),
    Bug("bidirectional: backward direction not reversed (runs forward over time)",
        edit(BIDI, ("gru_forward(x.flip(0), ", "gru_forward(x, "),
             ("output_bwd.flip(0)], dim=2)", "output_bwd], dim=2)")),
        (BIDI_VALUES,), "output differs from the reference"),
    Bug("bidirectional: h_0[1] not used, both directions start from h_0[0]",
        edit(BIDI, ("else h_0[1:2]", "else h_0[0:1]")), (BIDI_VALUES,), "output differs from the reference"),
]


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_plausible_bug_loses_points_in_its_groups_only_and_names_the_culprit(bug: Bug):
    assert_loses_exactly(bug, grade_assignment(A, bug.overrides))


def test_b_hn_outside_the_reset_gate_passes_only_the_cases_without_biases():
    results = grade_assignment(A, B_HN_OUTSIDE)
    for group in CELL_BUGS:
        assert {c.name for c in results[group].cases if c.passed} == {"no bias", "inputs unchanged"}, group
    cell_cases = {c.name: c for c in results[CELL_VALUES].cases}
    assert "b_hn added outside the reset gate" in (cell_cases["random weights, biases and state"].message or "")


def test_b_hn_outside_the_reset_gate_is_right_when_the_biases_are_zero():
    """Why the checks' biases must be random: with b_hn = 0 the bug gives torch's answer."""
    x, h, W_ih, W_hh, b_ih, b_hh = gru.cell_inputs(10)
    zero_biases = gru.cell_value_case("zero biases", (x, h, W_ih, W_hh, b_ih * 0, b_hh * 0))
    random_biases = gru.cell_value_case("random biases", (x, h, W_ih, W_hh, b_ih, b_hh))
    namespace = solution_namespace(A, B_HN_OUTSIDE)
    assert zero_biases.verdict(inline.run_call_in_process(namespace, zero_biases.call)) is None
    assert random_biases.verdict(inline.run_call_in_process(namespace, random_biases.call)) is not None


def test_ignoring_h_0_in_gru_forward_is_named():
    bug = next(bug for bug in BUGS if bug.name == "h_0 ignored in gru_forward")
    results = grade_assignment(A, bug.overrides)
    assert any("h_0" in text for text in feedback(results[FORWARD_VALUES]))


# ---------------------------------------------------------------- differently written correct code

CELL_ONE_FUSED_MATMUL = """
def gru_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
    H = W_hh.shape[1]
    # rows: r and z (input and hidden parts), n's input part, n's hidden part kept apart for the reset gate
    W = torch.cat([torch.cat([W_ih, torch.cat([W_hh[:2 * H], W_hh.new_zeros(H, H)])], 1),
                   torch.cat([W_ih.new_zeros(H, W_ih.shape[1]), W_hh[2 * H:]], 1)])
    gates = torch.cat([x, h_prev], 1) @ W.T
    if b_ih is not None:
        gates = gates + torch.cat([b_ih[:2 * H] + b_hh[:2 * H], b_ih[2 * H:], b_hh[2 * H:]])
    r, z, input_n, hidden_n = gates.chunk(4, dim=1)
    r, z = torch.sigmoid(r), torch.sigmoid(z)
    n = torch.tanh(input_n + r * hidden_n)
    return (1 - z) * n + z * h_prev
"""

CELL_F_LINEAR = """
import torch.nn.functional as F

def gru_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
    i_r, i_z, i_n = F.linear(x, W_ih, b_ih).chunk(3, 1)
    h_r, h_z, h_n = F.linear(h_prev, W_hh, b_hh).chunk(3, 1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    n = torch.tanh(i_n + r * h_n)
    return torch.lerp(n, h_prev, z)
"""

CELL_EINSUM = """
def gru_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
    H = W_hh.shape[1]
    W_ih, W_hh = W_ih.reshape(3, H, -1), W_hh.reshape(3, H, H)
    i_part = torch.einsum("ni,ghi->gnh", x, W_ih)
    h_part = torch.einsum("nk,ghk->gnh", h_prev, W_hh)
    if b_ih is not None:
        i_part = i_part + b_ih.reshape(3, 1, H)
        h_part = h_part + b_hh.reshape(3, 1, H)
    r = torch.sigmoid(i_part[0] + h_part[0])
    z = torch.sigmoid(i_part[1] + h_part[1])
    n = torch.tanh(i_part[2] + r * h_part[2])
    return (1 - z) * n + z * h_prev
"""

FORWARD_PREALLOCATED = """
def gru_forward(x, h_0, layers, batch_first=False):
    seq = x.transpose(0, 1) if batch_first else x
    T, N, _ = seq.shape
    L, H = len(layers), layers[0][1].shape[1]
    h_n = seq.new_empty(L, N, H)
    for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(layers):
        output = seq.new_empty(T, N, H)
        h = seq.new_zeros(N, H) if h_0 is None else h_0[k]
        for t in range(T):
            h = gru_cell_forward(seq[t], h, W_ih, W_hh, b_ih, b_hh)
            output[t] = h
        h_n[k] = h
        seq = output
    return (seq.transpose(0, 1) if batch_first else seq), h_n
"""

BIDI_REVERSED_LOOP = """
def bidirectional_gru_forward(x, h_0, params_fwd, params_bwd):
    T, N, _ = x.shape
    H = params_fwd[1].shape[1]
    if h_0 is None:
        h_0 = x.new_zeros(2, N, H)
    h_fwd, h_bwd = h_0[0], h_0[1]
    forward_states, backward_states = [], [None] * T
    for t in range(T):
        h_fwd = gru_cell_forward(x[t], h_fwd, *params_fwd)
        forward_states.append(h_fwd)
    for t in reversed(range(T)):
        h_bwd = gru_cell_forward(x[t], h_bwd, *params_bwd)
        backward_states[t] = h_bwd
    output = torch.cat([torch.stack(forward_states), torch.stack(backward_states)], dim=2)
    return output, torch.stack([h_fwd, h_bwd])
"""

BIDI_PREALLOCATED = """
def bidirectional_gru_forward(x, h_0, params_fwd, params_bwd):
    T, N, _ = x.shape
    H = params_fwd[1].shape[1]
    output, h_n = x.new_empty(T, N, 2 * H), x.new_empty(2, N, H)
    for d, (params, steps) in enumerate([(params_fwd, range(T)), (params_bwd, range(T - 1, -1, -1))]):
        h = x.new_zeros(N, H) if h_0 is None else h_0[d]
        for t in steps:
            h = gru_cell_forward(x[t], h, *params)
            output[t, :, d * H:(d + 1) * H] = h
        h_n[d] = h
    return output, h_n
"""

CORRECT = [
    pytest.param(cell_with_candidate("torch.tanh(x @ W_in.T + b_in + r * (h_prev @ W_hn.T + b_hn))",
                                     gates="r, z = torch.sigmoid(rz[:, :H]), torch.sigmoid(rz[:, H:])"),
                 id="cell slicing the blocks"),
    pytest.param(function(CELL, CELL_ONE_FUSED_MATMUL), id="cell with one fused matmul, n's hidden part apart"),
    pytest.param(function(CELL, CELL_F_LINEAR), id="cell with F.linear and lerp"),
    pytest.param(function(CELL, CELL_EINSUM), id="cell with einsum"),
    pytest.param(function(FORWARD, FORWARD_PREALLOCATED), id="forward filling x.new_empty buffers"),
    pytest.param(edit(BIDI, ("gru_forward(x.flip(0), ", "gru_forward(torch.flip(x, dims=[0]), "),
                      ("output_bwd.flip(0)], dim=2)", "torch.flip(output_bwd, dims=(0,))], dim=2)")),
                 id="bidirectional with torch.flip"),
    pytest.param(function(BIDI, BIDI_REVERSED_LOOP), id="bidirectional with a reversed index loop"),
    pytest.param(function(BIDI, BIDI_PREALLOCATED), id="bidirectional filling an x.new_empty output"),
]


@pytest.mark.parametrize("overrides", CORRECT)
def test_differently_written_correct_code_keeps_full_marks(overrides: dict[str, str]):
    results = grade_assignment(A, overrides)
    assert not failures(results)


# ---------------------------------------------------------------- verdicts separate right from wrong at any size

@cache
def namespace_of(name: str) -> dict:
    """Namespaces shared by the examples of the property test."""
    return solution_namespace(A, {"reference": None, "z swapped": Z_SWAPPED}[name])


@settings(max_examples=20, deadline=None, database=None, derandomize=True)
@given(N=st.integers(1, 4), I=st.integers(1, 5), H=st.integers(1, 5), L=st.integers(1, 3), T=st.integers(1, 4),
       batch_first=st.booleans(), with_h0=st.booleans(), bias=st.booleans(), seed=st.integers(0, 2**16))
def test_forward_value_case_passes_the_reference_and_fails_z_and_1_minus_z_swapped(N, I, H, L, T, batch_first,
                                                                                     with_h0, bias, seed):
    inputs = gru.forward_inputs(seed, T=T, N=N, I=I, H=H, L=L, bias=bias, batch_first=batch_first, with_h0=with_h0)
    case = gru.forward_value_case("property", inputs, batch_first=batch_first)
    assert case.verdict(inline.run_call_in_process(namespace_of("reference"), case.call)) is None
    assert case.verdict(inline.run_call_in_process(namespace_of("z swapped"), case.call)) is not None
