"""Hidden cases for 01_rnn."""

import torch

from autograder.checks import rnn

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
