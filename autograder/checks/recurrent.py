"""Pieces shared by the checks of recurrent layers (01_rnn, 02_lstm, 03_gru): weights, oracles, verdicts."""

from __future__ import annotations

import torch
from torch import nn

from autograder.checks.base import (
    FORM,
    Call,
    Case,
    Outcome,
    check_tensor,
    check_unchanged,
    describe,
    failure_of_call,
    randn,
)
from autograder.i18n import _

Layer = tuple  # (W_ih, W_hh, b_ih, b_hh)


def layer_stack(g: torch.Generator, L: int, I: int, H: int, gates: int, bias: bool, dtype: torch.dtype,
                directions: int = 1) -> list[Layer]:
    """Random weights in torch's layout, layer k > 0 taking the previous layer's H * directions outputs."""
    layers = []
    for k in range(L):
        width = I if k == 0 else H * directions
        W_ih = randn(g, gates * H, width, dtype=dtype) * 0.5
        W_hh = randn(g, gates * H, H, dtype=dtype) * 0.4
        b_ih, b_hh = (randn(g, gates * H, dtype=dtype), randn(g, gates * H, dtype=dtype)) if bias else (None, None)
        layers.append((W_ih, W_hh, b_ih, b_hh))
    return layers


def copy_weights(module: nn.Module, layers: list[Layer], suffix: str = "") -> None:
    """Put each layer's (W_ih, W_hh, b_ih, b_hh) into a torch module's weight_ih_l{k}{suffix} and the rest."""
    with torch.no_grad():
        for index, weights in enumerate(layers):
            for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights):
                if value is not None:
                    getattr(module, f"{name}_l{index}{suffix}").copy_(value)


def copy_cell_weights(cell: nn.Module, W_ih, W_hh, b_ih, b_hh) -> None:
    with torch.no_grad():
        cell.weight_ih.copy_(W_ih)
        cell.weight_hh.copy_(W_hh)
        if b_ih is not None:
            cell.bias_ih.copy_(b_ih)
            cell.bias_hh.copy_(b_hh if b_hh is not None else torch.zeros_like(b_ih))


def output_dims(batch_first: bool) -> tuple[str, ...]:
    return ("N", "T", "H") if batch_first else ("T", "N", "H")


def check_pair(stub: str, outcome: Outcome, names: tuple[str, str]) -> str | None:
    """The call returned normally, and returned a pair."""
    problem = failure_of_call(outcome, stub)
    if problem:
        return problem
    value = outcome.value
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return _("`{stub}` returned {what}; expected a tuple ({first}, {second})").format(
            stub=stub, what=describe(value), first=names[0], second=names[1])
    return None


def unchanged_case(name: str, stub: str, args: tuple, kwargs: dict | None = None) -> Case:
    call = Call(stub, args, kwargs or {}, return_args=True)

    def verdict(outcome: Outcome) -> str | None:
        return failure_of_call(outcome, stub) or check_unchanged(outcome, call, stub)

    return Case(name, call, verdict, kind=FORM)


def sequence_shape_case(stub: str, name: str, inputs: tuple, batch_first: bool = False,
                        device: str = "cpu") -> Case:
    """(output, h_n) of a multi-layer forward pass: types, devices, shapes and dtypes, no values."""
    x, h_0, layers = inputs
    T, N = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    L, H = len(layers), layers[0][1].shape[1]
    out_shape = (N, T, H) if batch_first else (T, N, H)
    call = Call(stub, (x, h_0, layers), {"batch_first": True} if batch_first else {}, device=device)

    def verdict(outcome: Outcome) -> str | None:
        problem = check_pair(stub, outcome, ("output", "h_n"))
        if problem:
            return problem
        output, h_n = outcome.value
        return check_tensor(output, "output", shape=out_shape, dtype=x.dtype, device=device,
                            dims=output_dims(batch_first)) or check_tensor(
            h_n, "h_n", shape=(L, N, H), dtype=x.dtype, device=device, dims=("L", "N", "H"))

    return Case(name, call, verdict, kind=FORM)


def sequence_value_case(name: str, call: Call, expected: tuple[torch.Tensor, torch.Tensor], batch_first: bool,
                        mistakes: dict[str, torch.Tensor] | None = None) -> Case:
    """(output, h_n) of a multi-layer forward pass against the oracle's, values included."""
    want_out, want_h = expected

    def verdict(outcome: Outcome) -> str | None:
        problem = check_pair(call.stub, outcome, ("output", "h_n"))
        if problem:
            return problem
        output, h_n = outcome.value
        return check_tensor(output, "output", shape=want_out.shape, dtype=want_out.dtype, values=want_out,
                            dims=output_dims(batch_first), mistakes=mistakes) or check_tensor(
            h_n, "h_n", shape=want_h.shape, dtype=want_h.dtype, values=want_h, dims=("L", "N", "H"))

    return Case(name, call, verdict)


def layered_forward_hint(no_state: str, zeros: str, layers: str, batch_first: str):
    """The hint of a multi-layer forward group, worded for its state (h_0, or the LSTM's (h_0, c_0)).

    The cases it reads are named "one layer", "two layers", `no_state`, "batch_first" and "no bias" (case
    names: keys, never translated). `zeros`, `layers` and `batch_first` are the group's whole hints for a
    missing state, for layers after the first and for batch_first, marked with N_ by the caller and
    translated here, when the hint is given.
    """

    def hint(results: dict[str, str | None]) -> str | None:
        if results.get(no_state) and not results.get("two layers"):
            return _(zeros)
        if results.get("two layers") and not results.get("one layer"):
            return _(layers)
        if results.get("batch_first") and not results.get("two layers"):
            return _(batch_first)
        if results.get("no bias") and not results.get("two layers"):
            return _("layers may come with b_ih = b_hh = None: that means no bias")
        return None

    return hint
