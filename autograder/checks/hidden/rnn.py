"""Hidden cases for 01_rnn, and the references its cases are judged by (torch's modules, weights copied in)."""

import torch
from torch import nn

from autograder.checks import rnn
from autograder.checks.recurrent import copy_cell_weights, copy_weights

HIDDEN = {
    "rnn_cell_forward_shape": lambda: [
        rnn.cell_shape_case("N=1, H=2", rnn.cell_inputs(101, N=1, I=5, H=2)),
        rnn.cell_shape_case("meta float32", rnn.cell_inputs(102, dtype=torch.float32), device="meta"),
    ],
    "rnn_cell_forward_values": lambda: [
        rnn.cell_value_case("larger sizes", rnn.cell_inputs(111, N=7, I=9, H=11)),
        rnn.cell_value_case("N=1", rnn.cell_inputs(112, N=1, I=2, H=3)),
        rnn.cell_value_case("relu, no bias", rnn.cell_inputs(113, bias=False), "relu"),
        rnn.cell_value_case("non-contiguous inputs", rnn.cell_inputs(114), noncontiguous=True),
    ],
    "rnn_forward_shape": lambda: [
        rnn.forward_shape_case("three layers", rnn.forward_inputs(121, L=3)),
        rnn.forward_shape_case("meta batch_first", rnn.forward_inputs(122, batch_first=True), batch_first=True,
                               device="meta"),
    ],
    "rnn_forward_values": lambda: [
        rnn.forward_value_case("three layers", rnn.forward_inputs(131, T=4, N=2, I=3, H=5, L=3)),
        rnn.forward_value_case("T=1", rnn.forward_inputs(132, T=1)),
        rnn.forward_value_case("N=1, batch_first, no h_0", rnn.forward_inputs(133, N=1, batch_first=True,
                               with_h0=False), batch_first=True),
        rnn.forward_value_case("float32", rnn.forward_inputs(134, dtype=torch.float32)),
        rnn.forward_value_case("non-contiguous inputs", rnn.forward_inputs(135), noncontiguous=True),
    ],
    "rnn_shapes": lambda: [
        rnn.shapes_case("one layer, batch of one", 5, 8, 1, 3, 1),
        rnn.shapes_case("batch_first, three layers", 6, 2, 3, 7, 4, batch_first=True),
    ],
    "count_rnn_params": lambda: [
        rnn.params_case("LSTM", 3, 8, num_layers=3, bidirectional=True),
        rnn.params_case("RNN", 5, 9, num_layers=2, bias=False, bidirectional=True),
        rnn.params_case("GRU", 12, 4, num_layers=3),
    ],
}


# ---------------------------------------------------------------- references and mistake models
# What the public cases' expected values are computed by; never shipped to students.

def cell_reference(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh") -> torch.Tensor:
    H, I = W_ih.shape
    cell = nn.RNNCell(I, H, bias=b_ih is not None, nonlinearity=nonlinearity, dtype=torch.float64)
    copy_cell_weights(cell, W_ih, W_hh, b_ih, b_hh)
    with torch.no_grad():
        return cell(x.double(), h_prev.double()).to(x.dtype)


def forward_reference(x, h_0, layers, batch_first=False, nonlinearity="tanh") -> tuple:
    L = len(layers)
    H, I = layers[0][0].shape
    bias = layers[0][2] is not None
    rnn = nn.RNN(I, H, L, nonlinearity=nonlinearity, bias=bias, batch_first=batch_first, dtype=torch.float64)
    copy_weights(rnn, layers)
    with torch.no_grad():
        output, h_n = rnn(x.double(), None if h_0 is None else h_0.double())
    return output.to(x.dtype), h_n.to(x.dtype)


def shapes_reference(input_size, hidden_size, num_layers, seq_len, batch, batch_first=False) -> dict:
    rnn = nn.RNN(input_size, hidden_size, num_layers, batch_first=batch_first)
    x = torch.zeros((batch, seq_len, input_size) if batch_first else (seq_len, batch, input_size))
    h_0 = torch.zeros(num_layers, batch, hidden_size)
    with torch.no_grad():
        output, h_n = rnn(x, h_0)
    return {"input": tuple(x.shape), "h_0": tuple(h_0.shape), "output": tuple(output.shape), "h_n": tuple(h_n.shape)}


def params_reference(mode, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False) -> int:
    module = getattr(nn, mode)(input_size, hidden_size, num_layers, bias=bias, bidirectional=bidirectional)
    return sum(p.numel() for p in module.parameters())
