"""Probe-side scripts for 06_language_model: the stubs that take a model (train, evaluate, sample).

Each recipe builds the provided `CharLM` the way the check says (from a seed, or from weights the
check sends), hands it to the student's function with the inputs the check built, and sends back
plain values: the trained weights, the losses, a number, a string, and how the student's code ran
the model (in train or eval mode, with or without gradients). Nothing here knows the right answers.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from autograder.i18n import _
from autograder.models import CharLM
from autograder.probe.recipes import call, recipe, state_of

DTYPES = {"float32": torch.float32, "float64": torch.float64}


def _fresh(sizes: tuple, seed: int, dtype: str) -> CharLM:
    """CharLM(*sizes) as torch.manual_seed(seed) initialises it; the caller's random state is left alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CharLM(*sizes)
    return model.to(DTYPES[dtype])


def _loaded(sizes: tuple, state: dict) -> CharLM:
    with torch.random.fork_rng(devices=[]):
        model = CharLM(*sizes)
    model = model.to(next(iter(state.values())).dtype)
    model.load_state_dict(state)
    return model


def _watch(model: CharLM) -> list[tuple[bool, bool]]:
    """Record (model.training, gradients enabled) at every forward call of the model."""
    seen: list[tuple[bool, bool]] = []
    model.register_forward_hook(lambda module, args, output: seen.append((module.training, torch.is_grad_enabled())))
    return seen


def _how_it_ran(seen: list[tuple[bool, bool]]) -> dict:
    return {"forward_calls": len(seen), "ran_in_train_mode": any(t for t, _ in seen),
            "ran_with_gradients": any(g for _, g in seen)}


def _number(value: Any) -> Any:
    """A float for a number or a one-element floating tensor; anything else is described (in the submission's
    language, for the message), not sent."""
    if type(value) in (int, float):
        return float(value)
    if type(value) is torch.Tensor and value.numel() == 1 and value.dtype.is_floating_point:
        return float(value.detach().cpu().reshape(()).item())
    if isinstance(value, torch.Tensor):
        return _("a {type} of shape {shape}").format(type=type(value).__name__, shape=tuple(value.shape))
    return _("a {type}").format(type=type(value).__name__)


def _losses(value: Any) -> Any:
    """The returned losses as a list of floats, or a description of what came back instead."""
    if not isinstance(value, (list, tuple)):
        return _("a {type}").format(type=type(value).__name__)
    numbers = [_number(item) for item in value]
    bad = next((i for i, item in enumerate(numbers) if isinstance(item, str)), None)
    if bad is not None:
        return _("a {type} whose item {index} is {what}").format(type=type(value).__name__, index=bad,
                                                                  what=numbers[bad])
    return numbers


@recipe
def train(namespace: dict, sizes: tuple, seed: int, dtype: str, batches: list, steps: int, lr: float,
          clip: float) -> dict:
    """CharLM(*sizes) seeded with `seed`, trained by the student's train_char_lm on the check's batches."""
    model = _fresh(sizes, seed, dtype)
    model.train()
    started = time.perf_counter()
    losses = call(namespace, "train_char_lm", model, batches, steps, lr, clip)
    seconds = time.perf_counter() - started
    return {"losses": _losses(losses), "state": state_of(model), "seconds": seconds}


@recipe
def perplexity(namespace: dict, sizes: tuple, state: dict, batches: list, training: bool) -> dict:
    """The student's perplexity of a CharLM holding `state`, called with the model in train or eval mode."""
    model = _loaded(sizes, state)
    model.train(training)
    seen = _watch(model)
    value = call(namespace, "perplexity", model, batches)
    gradients = any(p.grad is not None for p in model.parameters())
    return {"value": _number(value), "training_after": model.training, "gradients": gradients, **_how_it_ran(seen)}


@recipe
def sample(namespace: dict, sizes: tuple, state: dict, vocab: dict, prefix: str, max_len: int,
           temperature: float, seed: int) -> dict:
    """The student's sample from a CharLM holding `state`, drawing from torch.Generator().manual_seed(seed)."""
    model = _loaded(sizes, state)
    seen = _watch(model)
    generator = torch.Generator().manual_seed(seed)
    text = call(namespace, "sample", model, vocab, prefix, max_len, temperature, generator)
    return {"text": text, **_how_it_ran(seen)}


@recipe
def samples(namespace: dict, sizes: tuple, state: dict, vocab: dict, prefix: str, max_len: int,
            temperature: float, seed: int, count: int) -> dict:
    """`count` samples in a row from one torch.Generator().manual_seed(seed), as a notebook draws several names:
    each call must leave the generator where its last draw did, so the later samples show any extra draws."""
    model = _loaded(sizes, state)
    seen = _watch(model)
    generator = torch.Generator().manual_seed(seed)
    texts = [call(namespace, "sample", model, vocab, prefix, max_len, temperature, generator) for _ in range(count)]
    return {"texts": texts, **_how_it_ran(seen)}
