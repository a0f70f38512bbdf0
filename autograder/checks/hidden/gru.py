"""Hidden cases for 03_gru, and the references its cases are judged by: torch's modules, and the GRU step
written out with one classic mistake at a time (to name a student's bug)."""

import torch
from torch import nn

from autograder.checks import gru
from autograder.checks.gru import BIDI_MISTAKES
from autograder.checks.recurrent import copy_cell_weights, copy_weights

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


# ---------------------------------------------------------------- references and mistake models
# What the public cases' expected values are computed by; never shipped to students.

def cell_math(x, h, W_ih, W_hh, b_ih, b_hh, mistake: str | None = None) -> torch.Tensor:
    """One GRU step in torch's form, or with one classic mistake (for naming a student's bug)."""
    H = W_hh.shape[1]
    b_ih = b_ih if b_ih is not None else x.new_zeros(3 * H)
    b_hh = b_hh if b_hh is not None else x.new_zeros(3 * H)
    order = (1, 0, 2) if mistake == "zrn_order" else (0, 1, 2)
    rows = [slice(k * H, (k + 1) * H) for k in order]
    gx = [x @ W_ih[s].T + b_ih[s] for s in rows]
    W_hr, W_hz, W_hn = (W_hh[s] for s in rows)
    b_hr, b_hz, b_hn = (b_hh[s] for s in rows)
    r = (gx[0] + h @ W_hr.T + b_hr).sigmoid()
    z = (gx[1] + h @ W_hz.T + b_hz).sigmoid()
    if mistake == "paper_reset":
        n = (gx[2] + (r * h) @ W_hn.T + b_hn).tanh()
    elif mistake == "b_hn_outside":
        n = (gx[2] + r * (h @ W_hn.T) + b_hn).tanh()
    else:
        n = (gx[2] + r * (h @ W_hn.T + b_hn)).tanh()
    return z * n + (1 - z) * h if mistake == "z_swapped" else (1 - z) * n + z * h


def cell_reference(x, h, W_ih, W_hh, b_ih=None, b_hh=None) -> torch.Tensor:
    cell = nn.GRUCell(W_ih.shape[1], W_hh.shape[1], bias=b_ih is not None, dtype=torch.float64)
    copy_cell_weights(cell, W_ih, W_hh, b_ih, b_hh)
    with torch.no_grad():
        return cell(x.double(), h.double()).to(x.dtype)


def forward_reference(x, h_0, layers, batch_first=False) -> tuple:
    gru = nn.GRU(layers[0][0].shape[1], layers[0][1].shape[1], len(layers), bias=layers[0][2] is not None,
                 batch_first=batch_first, dtype=torch.float64)
    copy_weights(gru, layers)
    with torch.no_grad():
        output, h_n = gru(x.double(), None if h_0 is None else h_0.double())
    return output.to(x.dtype), h_n.to(x.dtype)


def bidi_reference(x, h_0, fwd, bwd) -> tuple:
    gru = nn.GRU(fwd[0].shape[1], fwd[1].shape[1], 1, bias=fwd[2] is not None, bidirectional=True,
                 dtype=torch.float64)
    copy_weights(gru, [fwd])
    copy_weights(gru, [bwd], suffix="_reverse")
    with torch.no_grad():
        output, h_n = gru(x.double(), None if h_0 is None else h_0.double())
    return output.to(x.dtype), h_n.to(x.dtype)


def bidi_mistakes(output: torch.Tensor, h_n: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    H = h_n.shape[-1]
    reversed_out = torch.cat([output[..., :H], output[..., H:].flip(0)], dim=-1)
    return {
        BIDI_MISTAKES["reversed_backward"]: (reversed_out, torch.stack([h_n[0], reversed_out[-1, :, H:]])),
        BIDI_MISTAKES["h_n_swapped"]: (output, h_n.flip(0)),
        BIDI_MISTAKES["backward_from_output_end"]: (output, torch.stack([h_n[0], output[-1, :, H:]])),
    }
