"""Probe-side scripts for 04_bptt: stubs that pass the student's own cache, or take a model or a cell.

`rnn_step_backward` and `rnn_sequence_backward` take the cache that the student's forward pass
returned, so their recipes run the forward pass, then the backward pass on that cache. The others
build the object the stub takes (a `TinyRNNModel` with an optimizer, an `nn.RNNCell`/`LSTMCell`/
`GRUCell`) from weights the check sends, call the stub, and send back plain tensors and numbers.
Nothing here knows the right answers.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from autograder.i18n import _
from autograder.models import TinyRNNModel
from autograder.probe.recipes import InvalidReturn, call, pair, recipe, state_of

CELLS = {"rnn": nn.RNNCell, "lstm": nn.LSTMCell, "gru": nn.GRUCell}


def gradients(value: Any, stub: str, names: tuple[str, ...]) -> list:
    """The tuple of gradients `stub` returned, as a list; its length must match `names`."""
    if not isinstance(value, (tuple, list)) or len(value) != len(names):
        if isinstance(value, (tuple, list)):
            got = _("a {type} of length {length}").format(type=type(value).__name__, length=len(value))
        else:
            got = _("a {type}").format(type=type(value).__name__)
        raise InvalidReturn(_("`{stub}` should return a tuple of {n} gradients ({names}); it returned {got}").format(
            stub=stub, n=len(names), names=", ".join(names), got=got))
    return list(value)


@recipe
def step_backward(namespace: dict, x, h_prev, W_ih, W_hh, b_ih, b_hh, dh_next) -> dict:
    """rnn_step_forward, then rnn_step_backward on the cache it returned."""
    inputs = [x, h_prev, W_ih, W_hh, b_ih, b_hh]
    h_next, cache = pair(call(namespace, "rnn_step_forward", *inputs), "rnn_step_forward", "(h_next, cache)")
    grads = gradients(call(namespace, "rnn_step_backward", dh_next, cache), "rnn_step_backward",
                      ("dx", "dh_prev", "dW_ih", "dW_hh", "db_ih", "db_hh"))
    return {"h_next": h_next, "gradients": grads, "inputs": [*inputs, dh_next]}


@recipe
def sequence_backward(namespace: dict, x, h_0, W_ih, W_hh, b_ih, b_hh, dh_all) -> dict:
    """rnn_sequence_forward, then rnn_sequence_backward on the cache it returned."""
    inputs = [x, h_0, W_ih, W_hh, b_ih, b_hh]
    h_all, cache = pair(call(namespace, "rnn_sequence_forward", *inputs), "rnn_sequence_forward", "(h_all, cache)")
    grads = gradients(call(namespace, "rnn_sequence_backward", dh_all, cache), "rnn_sequence_backward",
                      ("dx", "dh_0", "dW_ih", "dW_hh", "db_ih", "db_hh"))
    return {"h_all": h_all, "gradients": grads, "inputs": [*inputs, dh_all]}


@recipe
def truncated_bptt(namespace: dict, sizes: tuple, state: dict, inputs, targets, k: int, lr: float) -> dict:
    """A TinyRNNModel holding `state`, trained for one epoch by the student's loop with SGD(lr)."""
    input_size, hidden_size, vocab_size = sizes
    model = TinyRNNModel(input_size, hidden_size, vocab_size).to(device=inputs.device, dtype=inputs.dtype)
    model.load_state_dict(state)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = call(namespace, "train_truncated_bptt", model, inputs, targets, k, optimizer)
    return {"losses": losses, "state": state_of(model)}


@recipe
def grad_norms(namespace: dict, kind: str, state: dict, x, h_0) -> Any:
    """An nn.RNNCell, nn.LSTMCell or nn.GRUCell (`kind`) holding `state`, passed to hidden_grad_norms."""
    input_size, hidden_size = state["weight_ih"].shape[1], state["weight_hh"].shape[1]
    cell = CELLS[kind](input_size, hidden_size, device=x.device, dtype=x.dtype)
    cell.load_state_dict(state)
    return call(namespace, "hidden_grad_norms", cell, x, h_0)
