"""Hidden cases for 02_lstm."""

import torch

from autograder.checks import lstm

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
