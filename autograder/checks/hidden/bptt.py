"""Hidden cases for 04_bptt (edge sizes, saturated units, non-contiguous inputs, masks and chunkings), and the
references its cases are judged by: torch's modules and autograd, central differences, a reference training
run, and each classic mistake computed with autograd."""

from collections.abc import Callable
from functools import cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from autograder.checks import bptt
from autograder.checks.bptt import CELLS, EPS, LOCAL_MISTAKES, NUMERIC_ATOL, TRAIN_LR, compare_within
from autograder.checks.recurrent import copy_cell_weights, copy_weights
from autograder.i18n import Domain
from autograder.models import TinyRNNModel

_ = Domain("hidden", Path(__file__).resolve().parent / "locale").gettext


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


# ---------------------------------------------------------------- references and mistake models
# What the public cases' expected values are computed by; never shipped to students.

def central_differences(f: Callable[[], float], tensors: list[torch.Tensor], step: float = 1e-6) -> list[torch.Tensor]:
    """d f / d t for each tensor t, by central differences (the tensors are perturbed in place, then restored)."""
    grads = []
    for t in tensors:
        flat, grad = t.view(-1), torch.zeros(t.numel(), dtype=torch.float64)
        for i in range(t.numel()):
            kept = flat[i].item()
            flat[i] = kept + step
            plus = f()
            flat[i] = kept - step
            minus = f()
            flat[i] = kept
            grad[i] = (plus - minus) / (2 * step)
        grads.append(grad.view(t.shape))
    return grads


def numeric_reference(forward: Callable[..., torch.Tensor], names: tuple[str, ...], inputs: list[torch.Tensor],
                      upstream: torch.Tensor, oracle: list[torch.Tensor]) -> list[torch.Tensor]:
    """Central-difference gradients of sum(forward(*inputs) * upstream), after checking the autograd oracle."""
    tensors = [t.detach().clone().double() for t in inputs]
    numeric = central_differences(lambda: float((forward(*tensors) * upstream).sum()), tensors)
    for name, got, want in zip(names, oracle, numeric):
        problem = compare_within(got.double(), want, name, NUMERIC_ATOL)
        if problem:
            raise AssertionError(_("grader error: the autograd oracle disagrees with central differences: "
                                   "{problem}").format(problem=problem))
    return numeric


def _rnn_cell(W_ih: torch.Tensor, W_hh: torch.Tensor, b_ih, b_hh) -> nn.RNNCell:
    cell = nn.RNNCell(W_ih.shape[1], W_ih.shape[0], dtype=torch.float64)
    copy_cell_weights(cell, W_ih.double(), W_hh.double(), b_ih.double(), b_hh.double())
    return cell


def _rnn(W_ih: torch.Tensor, W_hh: torch.Tensor, b_ih, b_hh) -> nn.RNN:
    rnn = nn.RNN(W_ih.shape[1], W_ih.shape[0], dtype=torch.float64)
    copy_weights(rnn, [(W_ih.double(), W_hh.double(), b_ih.double(), b_hh.double())])
    return rnn


def step_forward_reference(x, h_prev, W_ih, W_hh, b_ih, b_hh) -> torch.Tensor:
    """h_next from nn.RNNCell, in float64."""
    with torch.no_grad():
        return _rnn_cell(W_ih, W_hh, b_ih, b_hh)(x.double(), h_prev.double())


def sequence_forward_reference(x, h_0, W_ih, W_hh, b_ih, b_hh) -> torch.Tensor:
    """h_all from nn.RNN, in float64."""
    with torch.no_grad():
        return _rnn(W_ih, W_hh, b_ih, b_hh)(x.double(), h_0.double().unsqueeze(0))[0]


def step_gradients(x, h_prev, W_ih, W_hh, b_ih, b_hh, dh_next) -> list[torch.Tensor]:
    """Autograd's gradients of sum(h_next * dh_next) through nn.RNNCell, in float64."""
    cell = _rnn_cell(W_ih, W_hh, b_ih, b_hh)
    x, h_prev = x.double().requires_grad_(), h_prev.double().requires_grad_()
    loss = (cell(x, h_prev) * dh_next.double()).sum()
    return list(torch.autograd.grad(loss, [x, h_prev, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh]))


def sequence_gradients(x, h_0, W_ih, W_hh, b_ih, b_hh, dh_all) -> list[torch.Tensor]:
    """Autograd's gradients of sum(h_all * dh_all) through nn.RNN, in float64."""
    rnn = _rnn(W_ih, W_hh, b_ih, b_hh)
    x, h_0 = x.double().requires_grad_(), h_0.double().requires_grad_()
    h_all = rnn(x, h_0.unsqueeze(0))[0]
    weights = [rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0]
    return list(torch.autograd.grad((h_all * dh_all.double()).sum(), [x, h_0, *weights]))


def _tanh_with_local_derivative(a: torch.Tensor, h_prev: torch.Tensor, mistake: str | None) -> torch.Tensor:
    """tanh(a) whose backward multiplies by a wrong factor when `mistake` names one."""
    h = torch.tanh(a)
    factors = {"dtanh_h_prev": lambda: 1 - h_prev.detach() ** 2, "dtanh_a": lambda: 1 - a.detach() ** 2,
               "no_dtanh": lambda: torch.ones_like(a)}
    if mistake not in factors:
        return h
    return h.detach() + (a - a.detach()) * factors[mistake]()


def unrolled_gradients(x, h_0, W_ih, W_hh, b_ih, b_hh, dh_all, mistake: str | None = None) -> list[torch.Tensor]:
    """The gradients of a sequence as one classic mistake computes them (float64, by autograd).

    Each step gets its own copy of the weights, so the share of every step is known; the correct
    gradient is their sum.
    """
    T = x.shape[0]
    x, h_0, dh_all = x.double().requires_grad_(), h_0.double().requires_grad_(), dh_all.double()
    if mistake == "only_last":
        dh_all = torch.cat([torch.zeros_like(dh_all[:-1]), dh_all[-1:]])
    copies = [[w.detach().double().clone().requires_grad_() for w in (W_ih, W_hh, b_ih, b_hh)] for _ in range(T)]
    h, states = h_0, []
    for t in range(T):
        w_ih, w_hh, bias_ih, bias_hh = copies[t]
        h_in = h.detach() if mistake == "no_carry" and t > 0 else h
        h = _tanh_with_local_derivative(x[t] @ w_ih.T + bias_ih + h_in @ w_hh.T + bias_hh, h_in, mistake)
        states.append(h)
    loss = (torch.stack(states) * dh_all).sum()
    flat = torch.autograd.grad(loss, [x, h_0, *[w for step in copies for w in step]])
    dx, dh_0, per_step = flat[0], flat[1], [flat[2 + 4 * t: 6 + 4 * t] for t in range(T)]
    weights = [sum(step[i] for step in per_step) for i in range(4)]
    if mistake == "first_step_weights":
        weights = list(per_step[0])
    elif mistake == "last_step_weights":
        weights = list(per_step[-1])
    elif mistake == "dx_reversed":
        dx = dx.flip(0)
    return [dx, dh_0, *weights]


def step_mistake_gradients(x, h_prev, W_ih, W_hh, b_ih, b_hh, dh_next, mistake: str) -> list[torch.Tensor]:
    if mistake in LOCAL_MISTAKES:
        grads = unrolled_gradients(x.unsqueeze(0), h_prev, W_ih, W_hh, b_ih, b_hh, dh_next.unsqueeze(0), mistake)
        return [grads[0][0], *grads[1:]]
    grads = step_gradients(x, h_prev, W_ih, W_hh, b_ih, b_hh, dh_next)
    h_next = step_forward_reference(x, h_prev, W_ih, W_hh, b_ih, b_hh)
    da = dh_next.double() * (1 - h_next ** 2)
    if mistake == "dh_prev_transposed":
        grads[1] = da @ W_hh.double().T
    elif mistake == "dW_hh_transposed":
        grads[3] = grads[3].T
    return grads


def forward_mistake(x, h_prev, W_ih, W_hh, b_ih, b_hh, mistake: str) -> torch.Tensor:
    W_hh = W_hh.T if mistake == "W_hh_untransposed" else W_hh
    a = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh
    return a if mistake == "no_tanh" else torch.tanh(a)


def sequence_forward_mistakes(x, h_0, W_ih, W_hh, b_ih, b_hh) -> dict[str, torch.Tensor]:
    """h_all as each classic sequence mistake computes it (float64)."""
    want = sequence_forward_reference(x, h_0, W_ih, W_hh, b_ih, b_hh)
    x, h_0, W_ih, W_hh, b_ih, b_hh = [a.double() for a in (x, h_0, W_ih, W_hh, b_ih, b_hh)]
    every_step = torch.stack([torch.tanh(x[t] @ W_ih.T + b_ih + h_0 @ W_hh.T + b_hh) for t in range(x.shape[0])])
    return {"h_0_every_step": every_step, "states_before": torch.cat([h_0.unsqueeze(0), want[:-1]])}


def loss_reference(logits, targets, mask) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, dlogits) from F.cross_entropy and autograd, in float64."""
    logits = logits.detach().double().requires_grad_()
    T, N, V = logits.shape
    per_position = F.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction="none").reshape(T, N)
    if mask is not None:
        per_position = per_position * mask.double()
    loss = per_position.sum() / N
    (dlogits,) = torch.autograd.grad(loss, logits)
    return loss.detach(), dlogits


def loss_mistakes(logits, targets, mask) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    T, N = logits.shape[:2]
    loss, dlogits = loss_reference(logits, targets, mask)
    unmasked_loss, unmasked_dlogits = loss_reference(logits, targets, None)
    found = {"averaged": (loss / T, dlogits / T), "not_divided": (loss * N, dlogits * N)}
    if mask is not None:
        count = mask.sum().double()
        found["mask_ignored"] = (unmasked_loss, unmasked_dlogits)
        found["per_token"] = (loss * N / count, dlogits * N / count)
    return found


def clip_reference(grads: list[torch.Tensor], max_norm: float) -> tuple[list[torch.Tensor], torch.Tensor]:
    """torch.nn.utils.clip_grad_norm_ on parameters whose .grad are copies of `grads`."""
    params = [nn.Parameter(torch.zeros_like(g)) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad for p in params], total


def clip_mistakes(grads: list[torch.Tensor], max_norm: float) -> tuple[dict, dict]:
    """(clipped, total_norm) as each classic clipping mistake computes them: two dicts keyed by mistake."""
    want_total = clip_reference(grads, max_norm)[1]
    double = [g.double() for g in grads]
    norms = torch.stack([g.norm() for g in double])
    clipped = {"per_tensor": [clip_reference([g], max_norm)[0][0] for g in double],
               "scaled_up": [g * (max_norm / (want_total.double() + EPS)) for g in double]}
    return clipped, {"sum_of_norms": norms.sum(), "squared": (norms ** 2).sum()}


def train_reference(case: dict, mistake: str | None = None) -> tuple[list[float], dict[str, torch.Tensor]]:
    """One epoch of truncated BPTT from the case's start state (float64, SGD), or with one classic mistake."""
    with torch.random.fork_rng(devices=[]):
        model = TinyRNNModel(*case["sizes"]).double()
    model.load_state_dict(case["state"])
    params = list(model.parameters())
    inputs, targets, k = case["inputs"], case["targets"], case["k"]
    T, V = inputs.shape[0], case["sizes"][2]
    starts = range(0, T - k + 1, k) if mistake == "drop_last" else range(0, T, k)
    h, losses = None, []
    for start in starts:
        if mistake != "no_zero_grad":
            for p in params:
                p.grad = None
        logits, h = model(inputs[start:start + k], None if mistake == "reset" else h)
        loss = F.cross_entropy(logits.reshape(-1, V), targets[start:start + k].reshape(-1))
        loss.backward()
        with torch.no_grad():
            for p in params:
                p.add_(p.grad, alpha=-TRAIN_LR)  # torch.optim.SGD's update; constructing one imports torch._dynamo
        h = h.detach()
        losses.append(loss.item())
    return losses, {key: value.detach().clone() for key, value in model.state_dict().items()}


def norms_reference(kind: str, state: dict, x: torch.Tensor, h_0: torch.Tensor,
                    mistake: str | None = None) -> torch.Tensor | None:
    """‖d loss / d h_t‖ for every t, loss = h_{T−1}.sum(), by autograd (or as a classic mistake computes it)."""
    with torch.random.fork_rng(devices=[]):
        cell = CELLS[kind](x.shape[2], h_0.shape[1], dtype=torch.float64)
    cell.load_state_dict(state)
    h0 = h_0.double().requires_grad_()
    h, c, states, cells = h0, torch.zeros_like(h_0, dtype=torch.float64), [], []
    for x_t in x.double():
        if kind == "lstm":
            h, c = cell(x_t, (h, c))
            cells.append(c)
        else:
            h = cell(x_t, h)
        states.append(h)
    loss = {"mean": lambda: states[-1].mean(), "all_steps": lambda: torch.stack(states).sum(),
            "norm": lambda: states[-1].norm()}.get(mistake, lambda: states[-1].sum())()
    wrt = {"shifted": [h0, *states[:-1]], "cell_state": cells}.get(mistake, states)
    if not wrt:
        return None
    return torch.stack([g.norm() for g in torch.autograd.grad(loss, wrt)])
