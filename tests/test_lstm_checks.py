"""What the 02_lstm checks must do: full marks for right code, lost points (in the right group) for wrong code.

Every submission here is the reference solution with one cell replaced or one line edited, graded in
process (public and hidden cases) by the same check definitions the split grader uses. A bug must cost
points in the groups it breaks and nowhere else, and where the grader knows the bug it must name it.
Rows marked xfail(strict=True) are grader gaps or grader bugs: they start failing once the grader is fixed.
"""

from __future__ import annotations

import textwrap
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
from autograder.checks import lstm

A = "02_lstm"
CELL, FORWARD = "lstm_cell_forward", "lstm_forward"

CELL_SHAPE, CELL_VALUES = "lstm_cell_forward_shape", "lstm_cell_forward_values"
FORWARD_SHAPE, FORWARD_VALUES = "lstm_forward_shape", "lstm_forward_values"
GROUPS = (CELL_SHAPE, CELL_VALUES, FORWARD_SHAPE, FORWARD_VALUES)


def edit(grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    return edit_cell(A, grade_id, *replacements)



# ---------------------------------------------------------------- the reference and the released stubs

def test_every_test_cell_of_the_notebook_has_a_check_group():
    assert tuple(checks.groups(A)) == GROUPS


def test_reference_solution_scores_full_points_in_every_public_and_hidden_case():
    assert_reference_full(grade_assignment(A))


def test_released_stubs_score_zero_and_say_not_implemented_yet():
    assert_released_stubs_score_zero(A, {CELL, FORWARD})


# ---------------------------------------------------------------- plausible bugs

CELL_BUGS = (CELL_VALUES, FORWARD_VALUES)  # lstm_forward calls the cell, so its values go too

BUGS = [
    Bug("gates in CS231n's order i, f, o, g",
        edit(CELL, ("a_i, a_f, a_g, a_o =", "a_i, a_f, a_o, a_g =")), CELL_BUGS, "the order i, f, o, g"),
    Bug("no input gate", edit(CELL, ("+ input_gate * candidate", "+ candidate")), CELL_BUGS,
        "without the input gate i"),
    Bug("h_next = o * c_next, without tanh",
        edit(CELL, ("output_gate * torch.tanh(c_next)", "output_gate * c_next")), CELL_BUGS,
        "without tanh on the cell state"),
    Bug("h_next from the old cell state",
        edit(CELL, ("output_gate * torch.tanh(c_next)", "output_gate * torch.tanh(c_prev)")), CELL_BUGS,
        "from the old cell state c_prev"),
    Bug("sigmoid candidate", edit(CELL, ("candidate = torch.tanh(a_g)", "candidate = torch.sigmoid(a_g)")),
        CELL_BUGS, "a sigmoid candidate g"),
    Bug("forget and input gates swapped", edit(CELL, ("a_i, a_f, a_g, a_o =", "a_f, a_i, a_g, a_o =")),
        CELL_BUGS, "the forget and input gates swapped"),
    Bug("b_hh ignored",
        edit(CELL, ("    if b_hh is not None:\n        pre_activations = pre_activations + b_hh\n", "")), CELL_BUGS,
        "c_next differs from the reference"),
    Bug("c reset to c_0 at every step instead of carried across time",
        edit(FORWARD, ("(h, c), W_ih", "(h, c_0[k]), W_ih")), (FORWARD_VALUES,),
        "the cell state reset to c_0 at every step"),
    Bug("c_n returned as h_n", edit(FORWARD, ("(torch.stack(last_h), ", "(torch.stack(last_c), ")),
        (FORWARD_VALUES,), "c_n returned where h_n belongs"),
    Bug("crashes on state_0=None",
        edit(FORWARD, ("    if state_0 is None:\n        h_0 = c_0 = x.new_zeros(len(layers), batch, hidden_size)\n"
                       "    else:\n        h_0, c_0 = state_0\n", "    h_0, c_0 = state_0\n")),
        (FORWARD_SHAPE, FORWARD_VALUES), "state_0=None means h_0 and c_0 are zeros"),
    Bug("batch_first ignored", edit(FORWARD, ("        x = x.transpose(0, 1)", "        pass"),
                                    ("layer_input.transpose(0, 1) if batch_first else ", "")),
        (FORWARD_SHAPE, FORWARD_VALUES), "with batch_first=True, x is (N, T, I)"),
    Bug("every layer starts from (h_0[0], c_0[0])", edit(FORWARD, ("h_0[k], c_0[k]", "h_0[0], c_0[0]")),
        (FORWARD_VALUES,), "its own (h_0[k], c_0[k])"),
    Bug("h_0 and c_0 swapped", edit(FORWARD, ("h, c = h_0[k], c_0[k]", "h, c = c_0[k], h_0[k]")),
        (FORWARD_VALUES,), "output differs from the reference"),
    Bug("h_n of the last layer only", edit(FORWARD, ("(torch.stack(last_h), ", "(h, ")),
        (FORWARD_SHAPE, FORWARD_VALUES),
        "h_n has shape (3, 6); expected (L, N, H) = (2, 3, 6) — the L axis is missing"),
]


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_plausible_bug_loses_points_in_its_groups_only_and_names_the_culprit(bug: Bug):
    assert_loses_exactly(bug, grade_assignment(A, bug.overrides))


def test_ignoring_b_hh_is_named():
    bug = next(bug for bug in BUGS if bug.name == "b_hh ignored")
    results = grade_assignment(A, bug.overrides)
    assert any("b_hh" in text for text in feedback(results[CELL_VALUES]))


# ---------------------------------------------------------------- differently written correct code

def cell_computing(pre_activations: str, *, gates: str = "a_i, a_f, a_g, a_o = pre_activations.chunk(4, dim=1)",
                   imports: str = "") -> dict[str, str]:
    """lstm_cell_forward whose pre-activations (biases included) and gate blocks come from the given lines."""
    body = textwrap.indent(textwrap.dedent(pre_activations).strip() + "\n" + textwrap.dedent(gates).strip(), "    ")
    source = f"""{imports}
def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None):
    h_prev, c_prev = state
    H = W_hh.shape[1]
{body}
    c_next = torch.sigmoid(a_f) * c_prev + torch.sigmoid(a_i) * torch.tanh(a_g)
    return torch.sigmoid(a_o) * torch.tanh(c_next), c_next
"""
    return {CELL: source}


WITH_BIASES = "\nif b_ih is not None:\n    pre_activations = pre_activations + b_ih + b_hh"

FORWARD_PREALLOCATED = """
def lstm_forward(x, state_0, layers, batch_first=False):
    seq = x.transpose(0, 1) if batch_first else x
    T, N, _ = seq.shape
    L, H = len(layers), layers[0][1].shape[1]
    h_n, c_n = seq.new_empty(L, N, H), seq.new_empty(L, N, H)
    for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(layers):
        output = seq.new_empty(T, N, H)
        h, c = (seq.new_zeros(N, H), seq.new_zeros(N, H)) if state_0 is None else (state_0[0][k], state_0[1][k])
        for t in range(T):
            h, c = lstm_cell_forward(seq[t], (h, c), W_ih, W_hh, b_ih, b_hh)
            output[t] = h
        h_n[k], c_n[k] = h, c
        seq = output
    return (seq.transpose(0, 1) if batch_first else seq), (h_n, c_n)
"""

FORWARD_WITHOUT_THE_CELL = """
def lstm_forward(x, state_0, layers, batch_first=False):
    seq = x.permute(1, 0, 2) if batch_first else x
    T, N, _ = seq.shape
    H = layers[0][1].shape[1]
    finals_h, finals_c = [], []
    for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(layers):
        projected = seq @ W_ih.T  # every time step's input term at once: (T, N, 4H)
        if b_ih is not None:
            projected = projected + (b_ih + b_hh)
        if state_0 is None:
            h = c = seq.new_zeros(N, H)
        else:
            h, c = state_0[0][k], state_0[1][k]
        steps = []
        for t in range(T):
            i, f, g, o = (projected[t] + h @ W_hh.T).split(H, dim=1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            steps.append(h)
        seq = torch.stack(steps)
        finals_h.append(h)
        finals_c.append(c)
    return (seq.permute(1, 0, 2) if batch_first else seq), (torch.stack(finals_h), torch.stack(finals_c))
"""

CORRECT = [
    pytest.param(cell_computing("pre_activations = x @ W_ih.T + h_prev @ W_hh.T" + WITH_BIASES,
                                gates="""
                                    a_i, a_f = pre_activations[:, :H], pre_activations[:, H:2 * H]
                                    a_g, a_o = pre_activations[:, 2 * H:3 * H], pre_activations[:, 3 * H:]
                                """), id="cell slicing the gate blocks"),
    pytest.param(cell_computing("""
        pre_activations = torch.cat([x, h_prev], 1) @ torch.cat([W_ih, W_hh], 1).T
        if b_ih is not None:
            pre_activations = pre_activations + (b_ih + b_hh)
    """), id="cell with one fused matmul over cat([x, h])"),
    pytest.param(cell_computing("pre_activations = F.linear(x, W_ih, b_ih) + F.linear(h_prev, W_hh, b_hh)",
                                imports="import torch.nn.functional as F"), id="cell with F.linear"),
    pytest.param(cell_computing("pre_activations = torch.einsum('ni,gi->ng', x, W_ih) + "
                                "torch.einsum('nh,gh->ng', h_prev, W_hh)" + WITH_BIASES), id="cell with einsum"),
    pytest.param(cell_computing("pre_activations = x @ W_ih.T + h_prev @ W_hh.T" + WITH_BIASES,
                                gates="a_i, a_f, a_g, a_o = pre_activations.unflatten(1, (4, H)).unbind(1)"),
                 id="cell with unflatten and unbind"),
    pytest.param(function(FORWARD, FORWARD_PREALLOCATED), id="forward filling x.new_empty buffers"),
    pytest.param(function(FORWARD, FORWARD_WITHOUT_THE_CELL), id="forward without lstm_cell_forward"),
]


@pytest.mark.parametrize("overrides", CORRECT)
def test_differently_written_correct_code_keeps_full_marks(overrides: dict[str, str]):
    results = grade_assignment(A, overrides)
    assert not failures(results)


# ---------------------------------------------------------------- verdicts separate right from wrong at any size

C_N_AS_H_N = edit(FORWARD, ("(torch.stack(last_h), ", "(torch.stack(last_c), "))


@cache
def namespace_of(name: str) -> dict:
    """Namespaces shared by the examples of the property test."""
    return solution_namespace(A, {"reference": None, "c_n as h_n": C_N_AS_H_N}[name])


@settings(max_examples=20, deadline=None, database=None, derandomize=True)
@given(N=st.integers(1, 4), I=st.integers(1, 5), H=st.integers(1, 5), L=st.integers(1, 3), T=st.integers(1, 4),
       batch_first=st.booleans(), with_state=st.booleans(), seed=st.integers(0, 2**16))
def test_forward_value_case_passes_the_reference_and_names_c_n_returned_as_h_n(N, I, H, L, T, batch_first,
                                                                                 with_state, seed):
    inputs = lstm.forward_inputs(seed, T=T, N=N, I=I, H=H, L=L, batch_first=batch_first, with_state=with_state)
    case = lstm.forward_value_case("property", inputs, batch_first=batch_first)
    assert case.verdict(inline.run_call_in_process(namespace_of("reference"), case.call)) is None
    message = case.verdict(inline.run_call_in_process(namespace_of("c_n as h_n"), case.call))
    assert message is not None and message.startswith("h_n differs")
    assert "c_n returned where h_n belongs" in message
