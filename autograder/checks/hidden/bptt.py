"""Hidden cases for 04_bptt: edge sizes, saturated units, non-contiguous inputs, masks and chunkings."""

from functools import cache

import torch

from autograder.checks import bptt


def _whole_step_masked() -> tuple:
    logits, targets, mask = bptt.loss_inputs(145, T=4, N=3, mask="random")
    mask = mask.clone()
    mask[1] = False
    return logits, targets, mask


HIDDEN = {
    "rnn_step_forward_values": cache(lambda: [
        bptt.step_forward_case("N=1", bptt.step_inputs(101, N=1, I=2, H=3)),
        bptt.step_forward_case("larger sizes", bptt.step_inputs(102, N=7, I=9, H=11)),
        bptt.step_forward_case("non-contiguous inputs", bptt.step_inputs(103), noncontiguous=True),
    ]),
    "rnn_step_backward_gradients": cache(lambda: [
        bptt.step_backward_case("N=1", bptt.step_inputs(111, N=1, I=2, H=3)),
        bptt.step_backward_case("larger sizes", bptt.step_inputs(112, N=7, I=9, H=11)),
        bptt.step_backward_case("saturated units", bptt.step_inputs(113, weight_scale=4.0)),
        bptt.step_backward_case("non-contiguous inputs", bptt.step_inputs(114), noncontiguous=True),
    ]),
    "rnn_sequence_forward_values": cache(lambda: [
        bptt.sequence_forward_case("T=1", bptt.sequence_inputs(121, T=1)),
        bptt.sequence_forward_case("N=1, T=8", bptt.sequence_inputs(122, T=8, N=1)),
        bptt.sequence_forward_case("non-contiguous inputs", bptt.sequence_inputs(123), noncontiguous=True),
    ]),
    "rnn_sequence_backward_gradients": cache(lambda: [
        bptt.sequence_backward_case("T=1", bptt.sequence_inputs(131, T=1)),
        bptt.sequence_backward_case("N=1, T=8", bptt.sequence_inputs(132, T=8, N=1)),
        bptt.sequence_backward_case("larger sizes", bptt.sequence_inputs(133, T=6, N=5, I=7, H=9)),
        bptt.sequence_backward_case("float32", bptt.sequence_inputs(134, dtype=torch.float32)),
        bptt.sequence_backward_case("non-contiguous inputs", bptt.sequence_inputs(135), noncontiguous=True),
    ]),
    "sequence_cross_entropy_values": cache(lambda: [
        bptt.loss_case("T=1", bptt.loss_inputs(141, T=1)),
        bptt.loss_case("N=1 with a mask", bptt.loss_inputs(142, N=1, T=6, mask="padded")),
        bptt.loss_case("a whole time step masked off", _whole_step_masked()),
        bptt.loss_case("large logits (+1000): subtract the maximum", bptt.loss_inputs(143, shift=1000.0)),
        bptt.loss_case("non-contiguous inputs", bptt.loss_inputs(144, mask="random"), noncontiguous=True),
    ]),
    "clip_grad_norm_values": cache(lambda: [
        bptt.clip_case("one tensor", bptt.clip_inputs(151, shapes=((5, 3),)), 0.5),
        bptt.clip_case("all-zero gradients", bptt.clip_inputs(152, scale=0.0), 1.0),
        bptt.clip_case("tensors of many shapes", bptt.clip_inputs(153, shapes=((), (3,), (2, 3, 4), (7, 1))), 1.5),
        bptt.clip_case("float32 below max_norm", bptt.clip_inputs(154, scale=0.1, dtype=torch.float32), 3.0),
    ]),
    "train_truncated_bptt_parameters": cache(lambda: [
        bptt.train_case("k >= T: one chunk", bptt.train_inputs(161, T=5, k=6)),
        bptt.train_case("N=1, T=10, k=4", bptt.train_inputs(162, T=10, k=4, N=1)),
        bptt.train_case("other sizes, T=9, k=2", bptt.train_inputs(163, T=9, k=2, N=2, I=3, H=5, V=4)),
        bptt.train_losses_case("losses, T=5, k=2", bptt.train_inputs(164, T=5, k=2)),
    ]),
    "hidden_grad_norms_values": cache(lambda: [
        bptt.norms_case("nn.RNNCell, T=1", bptt.norms_inputs(171, "rnn", T=1)),
        bptt.norms_case("nn.LSTMCell, N=1, T=10", bptt.norms_inputs(172, "lstm", T=10, N=1)),
        bptt.norms_case("nn.GRUCell, other sizes", bptt.norms_inputs(173, "gru", T=4, N=2, I=6, H=3)),
    ]),
}
