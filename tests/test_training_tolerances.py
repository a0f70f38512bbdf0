"""The tolerances of 06's short training runs come from a measurement, kept here as a test.

Each legitimate way of writing `train_char_lm` (d2l's clipping formula, a hand-written clip, other but equal
loss expressions, zero_grad elsewhere, float(loss)) is run on every short-run case, public and hidden, and
its largest deviation from the reference run is measured, in the losses (relative, or absolute below 1) and in
the weights (relative to the largest weight, or absolute below 1). The tolerances must sit at least ten times
above every legitimate spread and ten times below every bug's, so neither a rounding difference nor a real
mistake lands near the line.
"""

from __future__ import annotations

from functools import cache

import pytest
from conftest import edit_cell, solution_namespace

from autograder.checks import language_model as lm
from autograder.checks.hidden import language_model as hidden
from autograder.probe.recipes import language_model as recipes

A, TRAIN = "06_language_model", "train_char_lm"
CLIP = "        nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)\n"
LOSS = "F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))"
MARGIN = 10.0


def edit(*replacements: tuple[str, str]) -> dict[str, str]:
    return edit_cell(A, TRAIN, *replacements)


LEGITIMATE = {
    "clip with theta / norm (d2l)": edit((CLIP,
        "        norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in model.parameters() if p.grad is not None))\n"
        "        if norm > clip:\n"
        "            for p in model.parameters():\n"
        "                if p.grad is not None:\n"
        "                    p.grad[:] *= clip / norm\n")),
    "clip by hand, torch's formula over per-parameter norms": edit((CLIP,
        "        norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()]))\n"
        "        scale = min(1.0, clip / (float(norm) + 1e-6))\n"
        "        for p in model.parameters():\n"
        "            p.grad.mul_(scale)\n")),
    "clip_grad_norm_ without foreach": edit((CLIP, CLIP.replace("max_norm=clip)", "max_norm=clip, foreach=False)"))),
    "float(loss) instead of loss.item()": edit(("losses.append(batch_loss.item())",
                                                "losses.append(float(batch_loss.detach()))")),
    "zero_grad(set_to_none=False) before the forward pass": edit(
        ("        adam.zero_grad()\n", ""),
        ("        inputs, targets = batches[position]\n",
         "        inputs, targets = batches[position]\n        adam.zero_grad(set_to_none=False)\n")),
    "the loss over (N, V, T)": edit((LOSS, "F.cross_entropy(logits.permute(1, 2, 0), targets.t())")),
    "the loss from log_softmax and gather": edit((LOSS, "-torch.log_softmax(logits, -1).gather(-1, "
                                                        "targets.unsqueeze(-1)).mean()")),
}

BUGS = {
    "no clipping": edit((CLIP, "")),
    "clipping after the step": edit((CLIP, ""), ("        adam.step()\n", "        adam.step()\n" + CLIP)),
    "clipping to clip / 2": edit(("max_norm=clip)", "max_norm=clip / 2)")),
    "Adam with eps=1e-6": edit(("torch.optim.Adam(model.parameters(), lr=lr)",
                                "torch.optim.Adam(model.parameters(), lr=lr, eps=1e-6)")),
    "the state reset at every batch": edit(("        if position == 0:\n", "        if True:\n")),
    "the state never reset": edit(("        if position == 0:\n", "        if step == 0:\n")),
}


@cache
def short_runs() -> tuple:
    return tuple(lm.train_cases() + hidden.HIDDEN["train_char_lm_steps"]())


def spread(overrides: dict[str, str]) -> tuple[float, float]:
    """(losses, weights): the largest deviation from the reference run over every short-run case."""
    namespace = solution_namespace(A, overrides)
    worst_loss = worst_weight = 0.0
    for case in short_runs():
        sizes, seed, dtype, batches, steps, lr, clip = case.call.args
        run = recipes.train(namespace, *case.call.args)
        want_losses, want_state = hidden.train_reference({"sizes": sizes, "seed": seed, "dtype": dtype,
                                                          "batches": batches, "steps": steps, "lr": lr, "clip": clip})
        worst_loss = max([worst_loss] + [abs(a - b) / max(1.0, abs(b)) for a, b in zip(run["losses"], want_losses)])
        worst_weight = max([worst_weight] + [float((run["state"][k] - w).abs().max()) / max(1.0, float(w.abs().max()))
                                             for k, w in want_state.items()])
    return worst_loss, worst_weight


@pytest.mark.parametrize("overrides", LEGITIMATE.values(), ids=list(LEGITIMATE))
def test_a_legitimate_training_loop_stays_ten_times_inside_the_tolerances(overrides: dict[str, str]):
    losses, weights = spread(overrides)
    assert losses * MARGIN <= lm.LOSS_TOL, losses
    assert weights * MARGIN <= min(lm.WEIGHT_TOL), weights


@pytest.mark.parametrize("overrides", BUGS.values(), ids=list(BUGS))
def test_a_training_bug_lands_ten_times_outside_the_tolerances(overrides: dict[str, str]):
    losses, weights = spread(overrides)
    assert losses >= MARGIN * lm.LOSS_TOL or weights >= MARGIN * max(lm.WEIGHT_TOL), (losses, weights)
