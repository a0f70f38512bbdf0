"""Hidden cases for 03_gru."""

import torch

from autograder.checks import gru

HIDDEN = {
    "gru_cell_forward_shape": lambda: [
        gru.cell_shape_case("N=1, H=2", gru.cell_inputs(101, N=1, I=5, H=2)),
        gru.cell_shape_case("meta float32", gru.cell_inputs(102, dtype=torch.float32), device="meta"),
    ],
    "gru_cell_forward_values": lambda: [
        gru.cell_value_case("larger sizes", gru.cell_inputs(111, N=7, I=9, H=11)),
        gru.cell_value_case("N=1", gru.cell_inputs(112, N=1, I=2, H=3)),
        gru.cell_value_case("non-contiguous inputs", gru.cell_inputs(113), noncontiguous=True),
    ],
    "gru_forward_shape": lambda: [
        gru.forward_shape_case("three layers", gru.forward_inputs(121, L=3)),
        gru.forward_shape_case("meta batch_first", gru.forward_inputs(122, batch_first=True), batch_first=True,
                               device="meta"),
    ],
    "gru_forward_values": lambda: [
        gru.forward_value_case("three layers", gru.forward_inputs(131, T=4, N=2, I=3, H=5, L=3)),
        gru.forward_value_case("T=1", gru.forward_inputs(132, T=1)),
        gru.forward_value_case("float32", gru.forward_inputs(134, dtype=torch.float32)),
        gru.forward_value_case("non-contiguous inputs", gru.forward_inputs(135), noncontiguous=True),
    ],
    "bidirectional_gru_forward_shape": lambda: [
        gru.bidi_shape_case("T=1, N=1", gru.bidi_inputs(141, T=1, N=1)),
    ],
    "bidirectional_gru_forward_values": lambda: [
        gru.bidi_value_case("larger sizes", gru.bidi_inputs(151, T=7, N=4, I=5, H=3)),
        gru.bidi_value_case("T=1", gru.bidi_inputs(152, T=1)),
        gru.bidi_value_case("float32", gru.bidi_inputs(153, dtype=torch.float32)),
    ],
}
