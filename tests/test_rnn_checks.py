"""What the 01_rnn checks must do: full marks for right code, lost points (in the right group) for wrong code.

Every submission here is the reference solution with one cell replaced or one line edited, graded in
process (public and hidden cases) by the same check definitions the split grader uses. A bug must cost
points in the groups it breaks and nowhere else, and its feedback must point at the culprit.
"""

from __future__ import annotations

import re
import textwrap
from functools import cache
from pathlib import Path

import pytest
import torch
from conftest import (
    Bug,
    assert_loses_exactly,
    assert_reference_full,
    edit_cell,
    function,
    grade_assignment,
    grade_in_process,
    lost_points,
    released_solution_cells,
    solution_namespace,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import inline
from autograder.checks import rnn
from autograder.checks.base import Case, Outcome
from autograder.judge.evaluate import GroupResult

A = "01_rnn"
ROOT = Path(__file__).resolve().parent.parent

CELL, FORWARD, SHAPES, PARAMS = "rnn_cell_forward", "rnn_forward", "rnn_shapes_solution", "count_rnn_params_solution"
STUB_OF = {CELL: "rnn_cell_forward", FORWARD: "rnn_forward", SHAPES: "rnn_shapes", PARAMS: "count_rnn_params"}

CELL_SHAPE, CELL_VALUES = "rnn_cell_forward_shape", "rnn_cell_forward_values"
FORWARD_SHAPE, FORWARD_VALUES = "rnn_forward_shape", "rnn_forward_values"
SHAPES_GROUP, PARAMS_GROUP = "rnn_shapes", "count_rnn_params"
GROUPS = (CELL_SHAPE, CELL_VALUES, FORWARD_SHAPE, FORWARD_VALUES, SHAPES_GROUP, PARAMS_GROUP)


# ---------------------------------------------------------------- helpers

def edit(grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    return edit_cell(A, grade_id, *replacements)



def grade_all(overrides: dict[str, str] | None = None) -> dict[str, GroupResult]:
    return grade_assignment(A, overrides)


def message_of(result: GroupResult, case_name: str) -> str:
    case = next(c for c in result.cases if c.name == case_name)
    assert not case.passed, f"case {case_name!r} of {result.group_id} passed"
    return case.message or ""


@cache
def namespace_of(name: str) -> dict:
    """Namespaces shared by tests that only call functions (the property test runs many examples)."""
    return solution_namespace(A, {"reference": None, "no tanh": {CELL: NO_TANH}}[name])


def verdict_on(case: Case, namespace: dict) -> str | None:
    return case.verdict(inline.run_call_in_process(namespace, case.call))


def released_stub_cells() -> dict[str, str]:
    """The solution cells of the notebook students get: every stub raises NotImplementedError."""
    return released_solution_cells(A)


def bare_stub_cells() -> dict[str, str]:
    return {gid: f"def {stub}(*args, **kwargs):\n    raise NotImplementedError()\n" for gid, stub in STUB_OF.items()}


NO_TANH = edit(CELL, ("return torch.tanh(pre_activation)", "return pre_activation"))[CELL]


# ---------------------------------------------------------------- the reference and the released stubs

def test_reference_solution_scores_full_points_in_every_public_and_hidden_case():
    assert_reference_full(grade_all())


@pytest.mark.parametrize("stubs", [released_stub_cells, bare_stub_cells], ids=["released notebook", "bare stubs"])
def test_stubs_that_raise_not_implemented_score_zero_and_say_so(stubs):
    cells = stubs()
    assert set(cells) == set(STUB_OF)
    for group, result in grade_all(cells).items():
        assert result.score == 0, group
        for case in result.cases:
            assert "not implemented yet" in (case.message or ""), (group, case.name, case.message)


# ---------------------------------------------------------------- plausible bugs

CELL_BODY_BIAS_ALWAYS = """
def rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(nonlinearity)
    pre_activation = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    return torch.tanh(pre_activation) if nonlinearity == "tanh" else torch.relu(pre_activation)
"""

CELL_UPDATES_H_PREV_IN_PLACE = """
def rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(nonlinearity)
    pre_activation = x @ W_ih.T + h_prev @ W_hh.T
    if b_ih is not None:
        pre_activation = pre_activation + b_ih + b_hh
    activation = torch.tanh if nonlinearity == "tanh" else torch.relu
    return h_prev.copy_(activation(pre_activation))
"""

PARAMS_NO_MODE_CHECK = """
def count_rnn_params(mode, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False):
    gates = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    module = nn.RNN if gates == 1 else getattr(nn, mode)
    return sum(p.numel() for p in module(input_size, hidden_size, num_layers, bias=bias,
                                         bidirectional=bidirectional).parameters())
"""

CPU_BUFFER_IN_FORWARD = edit(
    FORWARD,
    ("        states = []", "        states = torch.zeros(num_steps, batch, hidden_size, dtype=x.dtype)"),
    ("            states.append(h)", "            states[t] = h"),
    ("torch.stack(states)", "states"),
)

BUGS = [
    # rnn_cell_forward: the bug costs the cell's values and, through the stack, rnn_forward's values.
    Bug("cell without tanh", {CELL: NO_TANH}, (CELL_VALUES, FORWARD_VALUES), "nonlinearity is applied"),
    Bug("cell without b_hh", edit(CELL, ("pre_activation = pre_activation + b_hh", "pass")),
        (CELL_VALUES, FORWARD_VALUES), "is b_hh added?"),
    Bug("cell adds b_ih twice", edit(CELL, ("pre_activation + b_ih", "pre_activation + b_ih + b_ih")),
        (CELL_VALUES, FORWARD_VALUES), "added once"),
    Bug("cell always uses tanh (relu ignored)", edit(CELL, ("return torch.relu(pre_activation)",
                                                             "return torch.tanh(pre_activation)")),
        (CELL_VALUES, FORWARD_VALUES), "relu is not"),
    Bug("cell adds the biases unconditionally (crashes on None)", function(CELL, CELL_BODY_BIAS_ALWAYS),
        (CELL_VALUES, FORWARD_VALUES), "skip the bias terms"),
    Bug("cell skips the ValueError for an unknown nonlinearity",
        edit(CELL, ('raise ValueError(f\'nonlinearity must be "tanh" or "relu", got {nonlinearity!r}\')', "pass")),
        (CELL_VALUES,), "returned instead of raising ValueError"),
    Bug("cell folds b_hh into b_ih in place (b_ih += b_hh)",
        edit(CELL, ("    if b_ih is not None:\n        pre_activation = pre_activation + b_ih",
                    "    if b_ih is not None:\n        b_ih += b_hh\n        pre_activation = pre_activation + b_ih"),
             ("    if b_hh is not None:\n        pre_activation = pre_activation + b_hh\n", "")),
        (CELL_VALUES, FORWARD_VALUES), "modified one of its input tensors in place"),
    Bug("cell writes h_next into h_prev in place", function(CELL, CELL_UPDATES_H_PREV_IN_PLACE),
        (CELL_VALUES, FORWARD_VALUES), "in place"),
    Bug("cell casts its result with .float()", edit(CELL, ("return torch.tanh(pre_activation)",
                                                        "return torch.tanh(pre_activation).float()")),
        (CELL_SHAPE, CELL_VALUES, FORWARD_SHAPE, FORWARD_VALUES), "has dtype float32; expected float64"),
    Bug("cell uses h_prev @ W_hh (W_hh not transposed)", edit(CELL, ("+ h_prev @ W_hh.T\n", "+ h_prev @ W_hh\n")),
        (CELL_VALUES, FORWARD_VALUES), "check h_prev @ W_hh.T"),
    Bug("cell reshapes W_ih instead of transposing it",
        edit(CELL, ("= x @ W_ih.T", "= x @ W_ih.reshape(W_ih.shape[1], W_ih.shape[0])")),
        (CELL_VALUES, FORWARD_VALUES), "check x @ W_ih.T"),
    Bug("forward flattens the sequence with .view (breaks on non-contiguous x)",
        edit(FORWARD, ("h = h_0[k]", "h = h_0[k]\n        layer_input = layer_input.view(num_steps * batch, -1)"
                                     ".view(num_steps, batch, -1)")), (FORWARD_SHAPE, FORWARD_VALUES), "view"),
    # rnn_forward
    Bug("forward reuses layer 0's weights for every layer",
        edit(FORWARD, ("enumerate(layers)", "enumerate([layers[0]] * len(layers))")),
        (FORWARD_SHAPE, FORWARD_VALUES), "layer k > 0 must take layer k−1's outputs"),
    Bug("forward reuses layer 0's W_hh and biases for every layer",
        edit(FORWARD, ("for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(layers):",
                       "for k, (W_ih, *_) in enumerate(layers):\n        _, W_hh, b_ih, b_hh = layers[0]")),
        (FORWARD_VALUES,), "its own weights"),
    Bug("forward starts every layer from h_0[0]", edit(FORWARD, ("h = h_0[k]", "h = h_0[0]")),
        (FORWARD_VALUES,), "its own initial state h_0[k]"),
    Bug("forward ignores batch_first", edit(FORWARD, ("        x = x.transpose(0, 1)", "        pass"),
                                            ("layer_input.transpose(0, 1) if batch_first else ", "")),
        (FORWARD_SHAPE, FORWARD_VALUES), "with batch_first=True, x is (N, T, I)"),
    Bug("forward crashes on h_0=None",
        edit(FORWARD, ("    if h_0 is None:\n        h_0 = x.new_zeros(len(layers), batch, hidden_size)\n", "")),
        (FORWARD_SHAPE, FORWARD_VALUES), "h_0=None means zeros"),
    Bug("forward returns h_n of the last layer only, (N, H)",
        edit(FORWARD, ("return output, torch.stack(last_states)", "return output, h")),
        (FORWARD_SHAPE, FORWARD_VALUES), "the L axis is missing"),
    Bug("forward returns h_n of the last layer only, (1, N, H)",
        edit(FORWARD, ("return output, torch.stack(last_states)", "return output, h.unsqueeze(0)")),
        (FORWARD_SHAPE, FORWARD_VALUES), "h_n has shape (1, 3, 6); expected (L, N, H) = (2, 3, 6)"),
    Bug("forward returns the first layer's outputs",
        edit(FORWARD, ("layer_input = torch.stack(states)",
                       "layer_input = torch.stack(states)\n        if k == 0:\n            first = layer_input"),
             ("output = layer_input.transpose(0, 1) if batch_first else layer_input",
              "output = first.transpose(0, 1) if batch_first else first")),
        (FORWARD_VALUES,), "output differs from the reference"),
    Bug("forward writes h_n into h_0 in place",
        edit(FORWARD, ("last_states.append(h)", "last_states.append(h)\n        h_0[k] = h")),
        (FORWARD_VALUES,), "modified one of its input tensors in place"),
    Bug("forward fills a buffer made with torch.zeros (a CPU tensor for a meta input)",
        CPU_BUFFER_IN_FORWARD, (FORWARD_SHAPE,)),
    Bug("forward makes the default h_0 with torch.zeros (a CPU tensor for a meta input)",
        edit(FORWARD, ("x.new_zeros(len(layers), batch, hidden_size)",
                       "torch.zeros(len(layers), batch, hidden_size, dtype=x.dtype)")),
        (FORWARD_SHAPE,), "device"),
    Bug("forward consumes the layers list (layers.pop(0))",
        edit(FORWARD, ("for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(layers):",
                       "for k in range(len(layers)):\n        W_ih, W_hh, b_ih, b_hh = layers.pop(0)")),
        (FORWARD_VALUES,), "do not modify the arguments"),
    # rnn_shapes
    Bug("rnn_shapes returns lists", edit(SHAPES, (
        'return {"input": input_shape, "h_0": state_shape, "output": output_shape, "h_n": state_shape}',
        'return {"input": list(input_shape), "h_0": list(state_shape), "output": list(output_shape), '
        '"h_n": list(state_shape)}')),
        (SHAPES_GROUP,), "expected a tuple of ints"),
    Bug("rnn_shapes ignores batch_first", edit(SHAPES, ("if batch_first:", "if False:")),
        (SHAPES_GROUP,), "with batch_first=True['input'] is (100, 32, 20); expected (32, 100, 20)"),
    # count_rnn_params
    Bug("count_rnn_params counts one bias for bias=False",
        edit(PARAMS, ("2 * gate_rows if bias else 0", "2 * gate_rows if bias else gate_rows")),
        (PARAMS_GROUP,), "bias=False removes both b_ih and b_hh"),
    Bug("count_rnn_params does not double layer k > 0's input when bidirectional",
        edit(PARAMS, ("gate_rows * (num_directions * hidden_size + hidden_size)",
                      "gate_rows * (hidden_size + hidden_size)")),
        (PARAMS_GROUP,), "2 * hidden_size inputs"),
    Bug("count_rnn_params counts one direction only",
        edit(PARAMS, ("return num_directions * (first_layer", "return (first_layer")),
        (PARAMS_GROUP,), "a full set of weights per direction"),
    Bug("count_rnn_params feeds input_size to every layer",
        edit(PARAMS, ("gate_rows * (num_directions * hidden_size + hidden_size)",
                      "gate_rows * (input_size + hidden_size)")),
        (PARAMS_GROUP,), "layer k > 0 takes hidden_size inputs"),
    Bug("count_rnn_params counts an unknown mode as an RNN", function(PARAMS, PARAMS_NO_MODE_CHECK),
        (PARAMS_GROUP,), "ValueError"),
]


def _bug_id(bug: Bug) -> str:
    return bug.name


@pytest.mark.parametrize("bug", BUGS, ids=_bug_id)
def test_plausible_bug_loses_points_in_its_groups_only_and_names_the_culprit(bug: Bug):
    assert_loses_exactly(bug, grade_all(bug.overrides))


# ---------------------------------------------------------------- differently written correct code

def cell_computing(pre_activation: str, *, imports: str = "") -> dict[str, str]:
    """rnn_cell_forward whose pre-activation (biases included) is computed by the given lines."""
    source = f"""{imports}
def rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"unknown nonlinearity {{nonlinearity!r}}")
{textwrap.indent(textwrap.dedent(pre_activation).strip(), "    ")}
    return torch.tanh(pre_activation) if nonlinearity == "tanh" else torch.relu(pre_activation)
"""
    return {CELL: source}


FORWARD_PREALLOCATED = """
def rnn_forward(x, h_0, layers, batch_first=False, nonlinearity="tanh"):
    if batch_first:
        x = x.transpose(0, 1)
    T, N, _ = x.shape
    L, H = len(layers), layers[0][1].shape[0]
    h_n = x.new_empty(L, N, H)
    layer_input = x
    for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(layers):
        output = x.new_empty(T, N, H)
        h = x.new_zeros(N, H) if h_0 is None else h_0[k]
        for t in range(T):
            h = rnn_cell_forward(layer_input[t], h, W_ih, W_hh, b_ih, b_hh, nonlinearity)
            output[t] = h
        h_n[k] = h
        layer_input = output
    return (layer_input.transpose(0, 1) if batch_first else layer_input), h_n
"""

FORWARD_WITHOUT_THE_CELL = """
def rnn_forward(x, h_0, layers, batch_first=False, nonlinearity="tanh"):
    activation = {"tanh": torch.tanh, "relu": torch.relu}[nonlinearity]
    seq = x.transpose(0, 1) if batch_first else x
    T, N, _ = seq.shape
    H = layers[0][1].shape[0]
    finals = []
    for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(layers):
        projected = seq @ W_ih.T  # every time step's input term at once: (T, N, H)
        if b_ih is not None:
            projected = projected + b_ih + b_hh
        h = seq.new_zeros(N, H) if h_0 is None else h_0[k]
        steps = []
        for t in range(T):
            h = activation(projected[t] + h @ W_hh.T)
            steps.append(h)
        seq = torch.stack(steps)
        finals.append(h)
    return (seq.transpose(0, 1) if batch_first else seq), torch.stack(finals)
"""

SHAPES_FROM_A_META_RNN = """
def rnn_shapes(input_size, hidden_size, num_layers, seq_len, batch, batch_first=False):
    module = nn.RNN(input_size, hidden_size, num_layers, batch_first=batch_first, device="meta")
    x = torch.empty((batch, seq_len, input_size) if batch_first else (seq_len, batch, input_size), device="meta")
    h_0 = torch.empty(num_layers, batch, hidden_size, device="meta")
    output, h_n = module(x, h_0)
    return {"input": tuple(x.shape), "h_0": tuple(h_0.shape), "output": tuple(output.shape),
            "h_n": tuple(h_n.shape)}
"""

PARAMS_FROM_THE_MODULE = """
def count_rnn_params(mode, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False):
    if mode not in ("RNN", "LSTM", "GRU"):
        raise ValueError(mode)
    module = getattr(nn, mode)(input_size, hidden_size, num_layers, bias=bias, bidirectional=bidirectional)
    return sum(p.numel() for p in module.parameters())
"""

CORRECT = [
    pytest.param(cell_computing("""
        pre_activation = F.linear(x, W_ih, b_ih) + F.linear(h_prev, W_hh, b_hh)
    """, imports="import torch.nn.functional as F"), id="cell with F.linear"),
    pytest.param(cell_computing("""
        bias = x.new_zeros(W_hh.shape[0])
        if b_ih is not None:
            bias = bias + b_ih + b_hh
        pre_activation = torch.addmm(torch.addmm(bias, x, W_ih.T), h_prev, W_hh.T)
    """), id="cell with torch.addmm"),
    pytest.param(cell_computing("""
        pre_activation = torch.einsum("ni,hi->nh", x, W_ih) + torch.einsum("nk,hk->nh", h_prev, W_hh)
        if b_ih is not None:
            pre_activation = pre_activation + b_ih + b_hh
    """), id="cell with einsum"),
    pytest.param(cell_computing("""
        pre_activation = torch.cat([x, h_prev], dim=1) @ torch.cat([W_ih, W_hh], dim=1).T
        if b_ih is not None:
            pre_activation = pre_activation + (b_ih + b_hh)
    """), id="cell with one fused matmul over cat([x, h])"),
    pytest.param(function(FORWARD, FORWARD_PREALLOCATED), id="forward filling x.new_empty buffers"),
    pytest.param(function(FORWARD, FORWARD_WITHOUT_THE_CELL), id="forward without rnn_cell_forward"),
    pytest.param(edit(FORWARD, ("x.transpose(0, 1)", "x.permute(1, 0, 2)"),
                      ("layer_input.transpose(0, 1)", "layer_input.permute(1, 0, 2)")), id="forward with permute"),
    pytest.param(function(SHAPES, SHAPES_FROM_A_META_RNN), id="rnn_shapes from an nn.RNN on meta"),
    pytest.param(function(PARAMS, PARAMS_FROM_THE_MODULE), id="count_rnn_params by building the module"),
    pytest.param(edit(SHAPES, ('return {"input": input_shape',
                               'return {"input": torch.Size(input_shape)'),
                      ('"output": output_shape, "h_n": state_shape}',
                       '"output": torch.Size(output_shape), "h_n": torch.Size(state_shape)}')),
                 id="rnn_shapes returning torch.Size"),
]


@pytest.mark.parametrize("overrides", CORRECT)
def test_differently_written_correct_code_keeps_full_marks(overrides: dict[str, str]):
    results = grade_all(overrides)
    failed = {g: [(c.name, c.message) for c in r.cases if not c.passed] for g, r in results.items()}
    assert not lost_points(results), {g: f for g, f in failed.items() if f}


# ---------------------------------------------------------------- what the messages say

def test_transposed_forward_output_is_reported_as_permuted_axes():
    overrides = edit(FORWARD, ("output = layer_input.transpose(0, 1) if batch_first else layer_input",
                               "output = layer_input.transpose(0, 1)"))
    result = grade_in_process(FORWARD_SHAPE, solution_namespace(A, overrides))
    assert message_of(result, "time-major") == (
        "output has shape (3, 5, 6); expected (T, N, H) = (5, 3, 6) — the axes look permuted: you have (N, T, H)")


TRANSPOSED_H_NEXT = edit(CELL, ("return torch.tanh(pre_activation)", "return torch.tanh(pre_activation).T"))


def test_transposed_h_next_is_reported_as_permuted_axes():
    result = grade_in_process(CELL_SHAPE, solution_namespace(A, TRANSPOSED_H_NEXT), include_hidden=False)
    assert "the axes look permuted: you have (H, N)" in message_of(result, "float64")


def test_a_returned_view_with_a_size_one_axis_is_judged_not_crashing_the_in_notebook_check():
    result = grade_in_process(CELL_SHAPE, solution_namespace(A, TRANSPOSED_H_NEXT))
    assert "h_next has shape (2, 1); expected (N, H) = (1, 2)" in message_of(result, "N=1, H=2")


def test_h_n_without_the_layer_axis_says_the_L_axis_is_missing():
    overrides = edit(FORWARD, ("return output, torch.stack(last_states)", "return output, h"))
    result = grade_in_process(FORWARD_SHAPE, solution_namespace(A, overrides))
    assert message_of(result, "time-major") == (
        "h_n has shape (3, 6); expected (L, N, H) = (2, 3, 6) — the L axis is missing")


def test_value_failure_gives_the_max_abs_error_and_the_first_mismatching_index():
    result = grade_in_process(CELL_VALUES, solution_namespace(A, {CELL: NO_TANH}))
    message = message_of(result, "tanh")
    assert re.fullmatch(r"h_next differs from the reference: max abs error [0-9.e+-]+; first mismatch at index "
                        r"\(\d+, \d+\): got [-0-9.e+]+, expected [-0-9.e+]+", message), message


def test_output_left_on_the_cpu_for_a_meta_input_names_both_devices_and_the_fix():
    case = rnn.forward_shape_case("meta device", rnn.forward_inputs(23), device="meta")
    on_cpu = (torch.zeros(5, 3, 6, dtype=torch.float64), torch.zeros(2, 3, 6, dtype=torch.float64))
    message = case.verdict(Outcome("ok", value=on_cpu))
    assert message is not None
    assert "output is on the cpu device; expected meta" in message
    assert "x.new_zeros" in message


def test_a_torch_error_on_the_meta_device_is_not_called_a_missing_implementation():
    result = grade_in_process(FORWARD_SHAPE, solution_namespace(A, CPU_BUFFER_IN_FORWARD))
    message = message_of(result, "meta device")
    assert "not implemented yet" not in message
    assert "meta" in message


def test_a_crash_shows_the_exception_and_the_students_own_line():
    result = grade_in_process(CELL_VALUES, solution_namespace(A, function(CELL, CELL_BODY_BIAS_ALWAYS)))
    message = message_of(result, "no bias")
    assert message.startswith("`rnn_cell_forward` raised TypeError")
    assert "<cell rnn_cell_forward>" in message


# ---------------------------------------------------------------- verdicts separate right from wrong at any size

@settings(max_examples=25, deadline=None, database=None, derandomize=True)
@given(N=st.integers(1, 5), I=st.integers(1, 5), H=st.integers(1, 5), L=st.integers(1, 3), T=st.integers(1, 4),
       batch_first=st.booleans(), with_h0=st.booleans(), seed=st.integers(0, 2**16))
def test_forward_value_case_passes_the_reference_and_fails_a_cell_without_tanh(N, I, H, L, T, batch_first,
                                                                               with_h0, seed):
    inputs = rnn.forward_inputs(seed, T=T, N=N, I=I, H=H, L=L, batch_first=batch_first, with_h0=with_h0)
    case = rnn.forward_value_case("property", inputs, batch_first=batch_first)
    assert verdict_on(case, namespace_of("reference")) is None
    assert verdict_on(case, namespace_of("no tanh")) is not None
