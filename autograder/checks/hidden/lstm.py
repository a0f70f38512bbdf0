"""Hidden cases for 02_lstm, and the references its cases are judged by: torch's modules, and the LSTM step
written out with one classic mistake at a time (to name a student's bug)."""

import torch
from torch import nn

from autograder.checks import lstm
from autograder.checks.recurrent import copy_cell_weights, copy_weights

HIDDEN = {
    "lstm_cell_forward_shape": lambda: [
        lstm.cell_shape_case("N=1, H=2", lstm.cell_inputs(101, N=1, I=5, H=2)),
        lstm.cell_shape_case("meta float32", lstm.cell_inputs(102, dtype=torch.float32), device="meta"),
    ],
    "lstm_cell_forward_values": lambda: [
        lstm.cell_value_case("larger sizes", lstm.cell_inputs(111, N=7, I=9, H=11)),
        lstm.cell_value_case("N=1", lstm.cell_inputs(112, N=1, I=2, H=3)),
        lstm.cell_value_case("non-contiguous inputs", lstm.cell_inputs(113), noncontiguous=True),
    ],
    "lstm_forward_shape": lambda: [
        lstm.forward_shape_case("three layers", lstm.forward_inputs(121, L=3)),
        lstm.forward_shape_case("meta batch_first", lstm.forward_inputs(122, batch_first=True), batch_first=True,
                                device="meta"),
    ],
    "lstm_forward_values": lambda: [
        lstm.forward_value_case("three layers", lstm.forward_inputs(131, T=4, N=2, I=3, H=5, L=3)),
        lstm.forward_value_case("T=1", lstm.forward_inputs(132, T=1)),
        lstm.forward_value_case("N=1, batch_first, no state", lstm.forward_inputs(133, N=1, batch_first=True,
                                with_state=False), batch_first=True),
        lstm.forward_value_case("float32", lstm.forward_inputs(134, dtype=torch.float32)),
        lstm.forward_value_case("non-contiguous inputs", lstm.forward_inputs(135), noncontiguous=True),
    ],
}


# ---------------------------------------------------------------- references and mistake models
# What the public cases' expected values are computed by; never shipped to students.

def cell_math(x, h, c, W_ih, W_hh, b_ih, b_hh, mistake: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The LSTM step in torch's gate order, or with one classic mistake (for naming a student's bug)."""
    gates = x @ W_ih.T + h @ W_hh.T
    if b_ih is not None:
        gates = gates + (0 if mistake == "no_b_ih" else b_ih) + (0 if mistake == "no_b_hh" else b_hh)
    i, f, g, o = gates.chunk(4, dim=1)
    if mistake == "ifog":
        i, f, o, g = gates.chunk(4, dim=1)
    if mistake == "f_i_swapped":
        i, f = f, i
    i, f, o = i.sigmoid(), f.sigmoid(), o.sigmoid()
    g = g.sigmoid() if mistake == "sigmoid_candidate" else g.tanh()
    c_next = f * c + g if mistake == "no_input_gate" else f * c + i * g
    if mistake == "no_tanh_on_c":
        return o * c_next, c_next
    if mistake == "old_cell":
        return o * c.tanh(), c_next
    return o * c_next.tanh(), c_next


def cell_reference(x, state, W_ih, W_hh, b_ih=None, b_hh=None) -> tuple[torch.Tensor, torch.Tensor]:
    H4, I = W_ih.shape
    cell = nn.LSTMCell(I, H4 // 4, bias=b_ih is not None, dtype=torch.float64)
    copy_cell_weights(cell, W_ih, W_hh, b_ih, b_hh)
    with torch.no_grad():
        h, c = cell(x.double(), (state[0].double(), state[1].double()))
    return h.to(x.dtype), c.to(x.dtype)


def forward_reference(x, state_0, layers, batch_first=False) -> tuple:
    H4, I = layers[0][0].shape
    lstm = nn.LSTM(I, H4 // 4, len(layers), bias=layers[0][2] is not None, batch_first=batch_first,
                   dtype=torch.float64)
    copy_weights(lstm, layers)
    state = None if state_0 is None else (state_0[0].double(), state_0[1].double())
    with torch.no_grad():
        output, (h_n, c_n) = lstm(x.double(), state)
    return output.to(x.dtype), h_n.to(x.dtype), c_n.to(x.dtype)


def sequence_mistake(x, state_0, layers, batch_first: bool, mistake: str) -> tuple:
    """What lstm_forward returns with one classic sequence-level mistake: (output, h_n, c_n)."""
    xs = x.transpose(0, 1) if batch_first else x
    L, N, H = len(layers), xs.shape[1], layers[0][1].shape[1]
    if state_0 is None or mistake == "state_ignored":
        state_0 = (xs.new_zeros(L, N, H), xs.new_zeros(L, N, H))
    h0, c0 = state_0
    layer_input, hs, cs = xs, [], []
    for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(layers):
        h, c, outs = h0[k], c0[k], []
        for t in range(xs.shape[0]):
            h, c_new = cell_math(layer_input[t], h, c, W_ih, W_hh, b_ih, b_hh)
            c = c0[k] if mistake == "c_reset" else c_new
            outs.append(h)
        layer_input = torch.stack(outs)
        hs.append(h)
        cs.append(c if mistake != "c_reset" else c_new)
    output = layer_input.transpose(0, 1) if batch_first else layer_input
    h_n, c_n = torch.stack(hs), torch.stack(cs)
    return (output, c_n, c_n) if mistake == "c_n_as_h_n" else (output, h_n, c_n)
