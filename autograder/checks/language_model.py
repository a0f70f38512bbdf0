"""Checks for 06_language_model: encoding names, time-major batches, training, perplexity and sampling.

Stubs that take the provided `CharLM` run through recipes (autograder/probe/recipes/language_model.py): the
probe builds the model, the student's function trains, evaluates or samples it, and only weights,
numbers and strings come back. The judge never trains a student's model: for the grading run it loads
the weights the student's `train_char_lm` produced into its own `CharLM` and measures their validation
perplexity. Short float64 runs on tiny models are compared step by step with a reference run from the
same initial weights, and for each stub the judge knows what the classic mistakes produce on the same
inputs, so a wrong answer that matches one is named.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import cache

import torch

from autograder import data
from autograder.checks import answers
from autograder.checks.base import (
    FORM,
    Call,
    Case,
    CheckGroup,
    Outcome,
    compare_values,
    describe,
    failure_of_call,
    seeded,
    shape_message,
)
from autograder.i18n import N_, _, ngettext
from autograder.judge.runner import Limits
from autograder.models import CharLM
from autograder.probe.recipes import state_of

REF = answers.references("language_model")  # references and mistake models: grading side only

ENCODE = "encode_names"
BATCHES = "make_batches"
TRAIN = "train_char_lm"
PERPLEXITY = "perplexity"
SAMPLE = "sample"

# The grading run (CURRICULUM.md, stated in the notebook). The reference reaches REFERENCE_PERPLEXITY in
# about REFERENCE_SECONDS on one CPU thread; a submission passes below PASS_PERPLEXITY.
GRADING_SIZES = (27, 24, 64, "lstm")
GRADING_SEED = 0
GRADING_BATCH_SIZE, GRADING_SEQ_LEN = 32, 25
GRADING_STEPS, GRADING_LR, GRADING_CLIP = 400, 0.01, 5.0
PASS_PERPLEXITY = 8.5
REFERENCE_PERPLEXITY = 7.42
REFERENCE_SECONDS = 3

# One training call may take 20 times the reference's time; the whole submission (cells included) 180 s.
LIMITS = Limits(call_seconds=60.0, cell_seconds=60.0, submission_seconds=180.0, memory_bytes=4 * 1024**3)

# Losses (relative and absolute) and weights (atol, rtol) of a short float64 run against the reference run. Set
# from the measured spread (tests/test_training_tolerances.py): legitimate loops differ from the reference by at
# most ~1e-7 in the losses and ~3e-7 in the weights (clipping with theta / norm, d2l's formula, instead of torch's
# max_norm / (norm + 1e-6); reassociated sums are ~1e-16), the subtlest bug measured (clipping to clip / 2) by
# 5e-6 in the losses and 1e-3 in the weights.
LOSS_TOL = 1e-5
WEIGHT_TOL = (1e-5, 1e-5)
NOT_DETACHED = ("backward through the graph a second time", "modified by an inplace operation")


def _lazy(build: Callable[[], dict]) -> Callable[[], dict]:
    """What the classic mistakes produce, computed only when a case fails (the judge's time is shared) — or
    right away where answers are recorded for, or replayed in, a student bundle."""
    if answers.eager():
        built = build()
        return lambda: built
    return cache(build)


def _matching(mistakes: dict, same: Callable[[object], bool]) -> str | None:
    return next((text for text, produced in mistakes.items() if same(produced)), None)


def _with_mistake(message: str, named: str | None) -> str:
    """The message, with the classic mistake (a description marked with N_) that the wrong answer matches."""
    if not named:
        return message
    return _("{message} — it matches {mistake}").format(message=message, mistake=_(named))


# ---------------------------------------------------------------- references (the judge's, with the classic mistakes)


def initial_model(sizes: tuple, seed: int, dtype: str = "float32") -> CharLM:
    """CharLM(*sizes) right after torch.manual_seed(seed), as the train recipe builds it."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CharLM(*sizes)
    return model.to({"float32": torch.float32, "float64": torch.float64}[dtype])


def loaded_model(sizes: tuple, state: dict[str, torch.Tensor]) -> CharLM:
    with torch.random.fork_rng(devices=[]):
        model = CharLM(*sizes)
    model = model.to(next(iter(state.values())).dtype)
    model.load_state_dict(state)
    return model


# ---------------------------------------------------------------- verdict helpers

def _fmt(shape: tuple) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_indices(got: object, name: str, want: torch.Tensor, dims: tuple[str, ...]) -> str | None:
    """A LongTensor of indices: type, dtype, shape, then exact values (the first differing index)."""
    if not isinstance(got, torch.Tensor):
        return _("{name} is {what}; expected a LongTensor of shape {shape}").format(
            name=name, what=describe(got), shape=_fmt(tuple(want.shape)))
    if got.dtype != torch.int64:
        return _("{name} has dtype {dtype}; expected int64 (a LongTensor of indices) — make it with "
                 "torch.tensor(indices, dtype=torch.long)").format(name=name,
                                                                  dtype=str(got.dtype).replace("torch.", ""))
    if tuple(got.shape) != tuple(want.shape):
        return shape_message(name, tuple(got.shape), tuple(want.shape), dims)
    if torch.equal(got, want):
        return None
    index = tuple(int(i) for i in torch.nonzero(got != want)[0])
    return _("{name} differs from the reference at index {index}: got {got}, expected {expected}").format(
        name=name, index=index, got=int(got[index]), expected=int(want[index]))


def _same_tensor(got: object, want: torch.Tensor) -> bool:
    return isinstance(got, torch.Tensor) and got.shape == want.shape and got.dtype == want.dtype and bool(
        torch.equal(got, want))


def _timeout_message(outcome: Outcome, reference: str) -> str:
    """What a training call past its limit says. The limit is read from the timeout's message (in the
    submission's language): its English wording, else the first number outside `code`."""
    found = re.search(r"(\d+) s limit", outcome.message) or re.search(r"\d+", re.sub(r"`[^`]*`", "",
                                                                                     outcome.message))
    seconds = found.group(1) if found and found.groups() else found.group(0) if found else None
    submission = "submission" in outcome.message or (
        seconds is not None and float(seconds) == LIMITS.submission_seconds != LIMITS.call_seconds)
    if submission and seconds is not None:
        return _("training ran past the submission's time limit of {seconds} s and was stopped ({reference}) — does "
                 "the loop stop after `steps` steps, and does it avoid work that grows with every step (a graph kept "
                 "alive by an undetached state, a list of tensors instead of floats)?").format(
            seconds=seconds, reference=reference)
    if submission:
        return _("training ran past the submission's time limit and was stopped ({reference}) — does the loop stop "
                 "after `steps` steps, and does it avoid work that grows with every step (a graph kept alive by an "
                 "undetached state, a list of tensors instead of floats)?").format(reference=reference)
    if seconds is not None:
        return _("training ran past {seconds} s and was stopped ({reference}) — does the loop stop after `steps` "
                 "steps, and does it avoid work that grows with every step (a graph kept alive by an undetached "
                 "state, a list of tensors instead of floats)?").format(seconds=seconds, reference=reference)
    return _("training ran past the time limit and was stopped ({reference}) — does the loop stop after `steps` "
             "steps, and does it avoid work that grows with every step (a graph kept alive by an undetached state, "
             "a list of tensors instead of floats)?").format(reference=reference)


def train_failure(outcome: Outcome, reference: str) -> str | None:
    """The message for a training call that did not return its weights; `reference` says how long it should take."""
    if outcome.status == "timeout":
        return _timeout_message(outcome, reference)
    problem = failure_of_call(outcome, TRAIN)
    if problem and outcome.status == "raised" and any(text in outcome.message for text in NOT_DETACHED):
        problem = _("{problem}\n— detach the carried state between batches (see detach_state): the next batch's "
                    "backward must stop at the batch boundary instead of reaching into the previous batch's graph, "
                    "which its backward has already freed").format(problem=problem)
    if problem is None and not isinstance(outcome.value, dict):
        problem = _("the training recipe returned {what}").format(what=describe(outcome.value))
    return problem


# ---------------------------------------------------------------- encode_names

ENCODE_MISTAKES = {
    "no_end": N_('no "." after the names: every name ends with the "." symbol'),
    "end_first": N_('a "." before each name instead of after it'),
    "one_end": N_('a single "." at the very end instead of one after every name'),
    "ord": N_("indices computed from the letters (ord(ch) - ord('a') + 1) instead of looked up in vocab"),
}


def encode_case(name: str, names: list[str], vocab: dict[str, int]) -> Case:
    want = REF.encode_reference(names, vocab)
    mistakes = _lazy(lambda: {text: REF.encode_reference(names, vocab, key) for key, text in ENCODE_MISTAKES.items()})

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, ENCODE) or check_indices(outcome.value, _("the encoded names"), want,
                                                                    ("L",))
        if problem and isinstance(outcome.value, torch.Tensor):
            problem = _with_mistake(problem, _matching(mistakes(), lambda wrong: _same_tensor(outcome.value, wrong)))
        return problem

    return Case(name, Call(ENCODE, (names, vocab)), verdict)


def shuffled_vocab(seed: int, symbols: str = data.END + "abcdefghijklmnopqrstuvwxyz") -> dict[str, int]:
    """The given symbols under a random numbering: code that ignores `vocab` gets other indices."""
    order = torch.randperm(len(symbols), generator=seeded(seed)).tolist()
    return {symbol: position for symbol, position in zip(symbols, order)}


def encode_cases() -> list[Case]:
    return [
        encode_case("three names, the course vocabulary", ["emma", "al", "zoe"], data.char_vocab()),
        encode_case("the first ten training names", data.load_split("train")[:10], data.char_vocab()),
        encode_case("a vocabulary numbered in another order", ["bo", "ava", "j"], shuffled_vocab(3)),
    ]


# ---------------------------------------------------------------- make_batches

BATCH_MISTAKES = {
    "not_shifted": N_("targets equal to the inputs: the targets are the next characters, rows i+1 : i+1+s"),
    "batch_major": N_("the streams laid out with data.view(n, batch_size); each column must be one contiguous "
                      "stretch of the data, data[:n*batch_size].view(batch_size, n).t()"),
    "drop_last": N_("the last, shorter pair dropped; it has s = n - 1 - i rows and still belongs to the batches"),
}


def _same_batches(got: object, want: list) -> bool:
    return isinstance(got, (list, tuple)) and len(got) == len(want) and all(
        isinstance(pair, (list, tuple)) and len(pair) == 2 and _same_tensor(pair[0], inputs)
        and _same_tensor(pair[1], targets) for pair, (inputs, targets) in zip(got, want))


def batches_case(name: str, length: int, batch_size: int, seq_len: int) -> Case:
    stream = torch.arange(100, 100 + length)  # distinct values: a message can say which entry went where
    want = REF.batches_reference(stream, batch_size, seq_len)
    mistakes = _lazy(lambda: {text: REF.batches_reference(stream, batch_size, seq_len, key)
                              for key, text in BATCH_MISTAKES.items()})
    n = length // batch_size
    starts = list(range(0, n - 1, seq_len))

    def first_difference(value: object) -> str | None:
        if not isinstance(value, (list, tuple)):
            return _("`{stub}` returned {what}; expected a list of (inputs, targets) pairs").format(
                stub=BATCHES, what=describe(value))
        if len(value) != len(want):
            return ngettext(
                "`{stub}` returned {got} pair; expected {n}: L = {L} and batch_size = {batch_size} give n = {rows} "
                "rows, and the pairs start at rows {starts} (every start i < n - 1 = {last}, the last pair s = "
                "min(seq_len, n - 1 - i) rows long)",
                "`{stub}` returned {got} pairs; expected {n}: L = {L} and batch_size = {batch_size} give n = {rows} "
                "rows, and the pairs start at rows {starts} (every start i < n - 1 = {last}, the last pair s = "
                "min(seq_len, n - 1 - i) rows long)", len(value)).format(
                stub=BATCHES, got=len(value), n=len(want), L=length, batch_size=batch_size, rows=n, starts=starts,
                last=n - 1)
        dims = ("s", "batch_size")
        for k, (pair, (want_inputs, want_targets)) in enumerate(zip(value, want)):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                return _("batches[{k}] is {what}; expected a pair (inputs, targets)").format(k=k, what=describe(pair))
            problem = (check_indices(pair[0], _("batches[{k}] inputs").format(k=k), want_inputs, dims)
                       or check_indices(pair[1], _("batches[{k}] targets").format(k=k), want_targets, dims))
            if problem:
                return problem
        return None

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, BATCHES) or first_difference(outcome.value)
        if problem and outcome.status == "ok":
            problem = _with_mistake(problem, _matching(mistakes(), lambda wrong: _same_batches(outcome.value, wrong)))
        return problem

    return Case(name, Call(BATCHES, (stream, batch_size, seq_len)), verdict)


def batches_cases() -> list[Case]:
    return [
        batches_case("L=26, batch_size=3, seq_len=3: a last pair of one row", 26, 3, 3),
        batches_case("L=42, batch_size=4, seq_len=4: two symbols left over", 42, 4, 4),
        batches_case("L=30, batch_size=5, seq_len=2", 30, 5, 2),
    ]


# ---------------------------------------------------------------- train_char_lm: short runs against the reference

TRAIN_MISTAKES = {
    "no_step": N_("a loop that never calls optimizer.step(): the weights never change"),
    "reset_every_batch": N_("the state reset to None at every batch; carry it (detached) from one batch to the next "
                            "and reset it only at the start of each pass"),
    "never_reset": N_("the state carried from the last batch of one pass into the first batch of the next; reset it "
                      "to None at the start of every pass"),
    "no_clip": N_("unclipped gradients: call torch.nn.utils.clip_grad_norm_(model.parameters(), clip) between "
                  "backward() and step()"),
    "no_zero_grad": N_("gradients accumulated over steps: call optimizer.zero_grad() before every backward()"),
    "new_optimizer": N_("a new Adam optimizer at every step (its running averages start over each time); make it once, "
                        "before the loop"),
    "sum_loss": N_("the summed cross-entropy (reduction='sum'); the loss is the mean over the batch's T·N targets"),
}


def train_inputs(seed: int, cell: str, length: int, batch_size: int, seq_len: int, steps: int,
                 sizes: tuple[int, int, int] = (7, 3, 5), lr: float = 0.05, clip: float = 0.05) -> dict:
    """A tiny float64 CharLM(V, D, H, cell) seeded with `seed`, and batches of random symbols."""
    V = sizes[0]
    stream = torch.randint(0, V, (length,), generator=seeded(seed))
    return {"sizes": (*sizes, cell), "seed": seed, "dtype": "float64", "steps": steps, "lr": lr, "clip": clip,
            "batches": REF.batches_reference(stream, batch_size, seq_len)}


def train_call(case: dict) -> Call:
    return Call(TRAIN, (case["sizes"], case["seed"], case["dtype"], case["batches"], case["steps"], case["lr"],
                        case["clip"]), recipe="language_model.train")


def _close_lists(got: list[float], want: list[float]) -> bool:
    return len(got) == len(want) and all(math.isclose(a, b, rel_tol=LOSS_TOL, abs_tol=LOSS_TOL)
                                         for a, b in zip(got, want))


def _same_state(got: dict, want: dict) -> bool:
    return all(isinstance(got.get(k), torch.Tensor) and got[k].shape == w.shape
               and compare_values(got[k], w, k, WEIGHT_TOL) is None
               for k, w in want.items())


def check_state(state: object, want: dict[str, torch.Tensor], what: str,
                tol: tuple[float, float] | None = None) -> str | None:
    """The trained weights: CharLM's keys and shapes, then values (within `tol`, else the dtype's tolerances).
    `what` says when they were taken ("after 12 steps"), in the current language."""
    if not isinstance(state, dict):
        return _("the trained model's state_dict could not be read ({what})").format(what=describe(state))
    if set(state) != set(want):
        return _("the trained model's parameters are {got}; expected {expected} — train the CharLM you are given; do "
                 "not replace its layers").format(got=sorted(state), expected=sorted(want))
    for key, expected in want.items():
        got = state[key]
        name = _("{key} {when}").format(key=key, when=what)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(expected.shape):
            return _("{name} is {what}; expected a tensor of shape {shape}").format(
                name=name, what=describe(got), shape=_fmt(tuple(expected.shape)))
        problem = compare_values(got, expected, name, tol)
        if problem:
            return problem
    return None


def train_case(name: str, case: dict) -> Case:
    """The losses of every step, then the weights after the last step, against the reference run."""
    want_losses, want_state = REF.train_reference(case)
    mistakes = _lazy(lambda: {text: REF.train_reference(case, key) for key, text in TRAIN_MISTAKES.items()})
    steps, count = case["steps"], len(case["batches"])

    def verdict(outcome: Outcome) -> str | None:
        reference = ngettext("the reference takes well under a second for this {steps} step of a tiny model",
                             "the reference takes well under a second for these {steps} steps of a tiny model",
                             steps).format(steps=steps)
        problem = train_failure(outcome, reference)
        if problem:
            return problem
        losses, state = outcome.value.get("losses"), outcome.value.get("state")
        if isinstance(losses, str) or not isinstance(losses, list):
            return ngettext("`{stub}` returned {what}; expected a list of {steps} float, the loss of every step",
                            "`{stub}` returned {what}; expected a list of {steps} floats, the loss of every step",
                            steps).format(stub=TRAIN, what=losses if isinstance(losses, str) else describe(losses),
                                          steps=steps)
        if len(losses) != steps:
            return ngettext("`{stub}` returned {got} loss; expected {steps}, one per step (steps = {steps} over "
                            "{count} batches: cycle through the batches in order, starting again after the last one)",
                            "`{stub}` returned {got} losses; expected {steps}, one per step (steps = {steps} over "
                            "{count} batches: cycle through the batches in order, starting again after the last one)",
                            len(losses)).format(stub=TRAIN, got=len(losses), steps=steps, count=count)
        for i, (got, expected) in enumerate(zip(losses, want_losses)):
            if not math.isclose(got, expected, rel_tol=LOSS_TOL, abs_tol=LOSS_TOL):
                named = _matching(mistakes(), lambda wrong: _close_lists(losses, wrong[0]))
                return _with_mistake(_("losses[{i}] is {got}; expected {expected}, the loss of step {i} (batch "
                                       "{batch} of {count}) before its update").format(
                    i=i, got=f"{got:.10g}", expected=f"{expected:.10g}", batch=i % count, count=count), named)
        problem = check_state(state, want_state, ngettext("after {steps} step", "after {steps} steps",
                                                          steps).format(steps=steps), WEIGHT_TOL)
        if problem:
            named = _matching(mistakes(), lambda wrong: _same_state(state, wrong[1]))
            return _with_mistake(problem, named)
        return None

    return Case(name, train_call(case), verdict)


def train_cases() -> list[Case]:
    return [
        train_case("LSTM, 12 steps over 5 batches: two passes and two more", train_inputs(40, "lstm", 60, 3, 4, 12)),
        train_case("GRU, 7 steps over 3 batches", train_inputs(41, "gru", 45, 5, 3, 7)),
    ]


# ---------------------------------------------------------------- train_char_lm: the grading run


def grading_run() -> dict:
    return {"sizes": GRADING_SIZES, "seed": GRADING_SEED, "dtype": "float32", "batches": REF.names_batches("train"),
            "steps": GRADING_STEPS, "lr": GRADING_LR, "clip": GRADING_CLIP}


def _training_summary(losses: object) -> str | None:
    """How the training loss went, when 20 steps or more were reported."""
    if not isinstance(losses, list) or len(losses) < 20 or not all(math.isfinite(x) for x in losses):
        return None
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    if last > first - 0.1:
        summary = _("your training loss went from {first} (mean of the first 20 steps) to {last} (the last 20) — it "
                    "hardly went down: does every step call backward(), clip, then optimizer.step()?")
    else:
        summary = _("your training loss went from {first} (mean of the first 20 steps) to {last} (the last 20)")
    return summary.format(first=f"{first:.3f}", last=f"{last:.3f}")


def grading_run_case() -> Case:
    case = grading_run()
    initial = state_of(initial_model(GRADING_SIZES, GRADING_SEED))

    def verdict(outcome: Outcome) -> str | None:
        reference = _("the reference takes about {seconds} s for these {steps} steps on one CPU thread").format(
            seconds=REFERENCE_SECONDS, steps=GRADING_STEPS)
        problem = train_failure(outcome, reference)
        if problem:
            return problem
        state, losses = outcome.value.get("state"), outcome.value.get("losses")
        if not isinstance(state, dict) or set(state) != set(initial) or not all(
                isinstance(state[k], torch.Tensor) and state[k].shape == v.shape for k, v in initial.items()):
            return check_state(state, initial, _("after training")) or _("the trained weights could not be read")
        if all(torch.equal(state[k].to(v.dtype), v) for k, v in initial.items()):
            return _("the weights after training are exactly the initial weights: the optimizer never changed them — "
                     "does every step call optimizer.step() (after loss.backward())?")
        if not all(torch.isfinite(v).all() for v in state.values()):
            bad = next(k for k, v in state.items() if not torch.isfinite(v).all())
            return _("the trained weights contain NaN or infinity (first in {key}) — is the gradient "
                     "clipped?").format(key=bad)
        value = REF.validation_perplexity(state)
        if value < PASS_PERPLEXITY:
            return None
        seconds = outcome.value.get("seconds")
        if isinstance(seconds, float):
            message = _("validation perplexity {value} after the grading run in {seconds} s; it must be below {limit} "
                        "(the reference reaches {reference}, an untrained model about 27)").format(
                value=f"{value:.2f}", seconds=f"{seconds:.1f}", limit=PASS_PERPLEXITY, reference=REFERENCE_PERPLEXITY)
        else:
            message = _("validation perplexity {value} after the grading run; it must be below {limit} (the reference "
                        "reaches {reference}, an untrained model about 27)").format(
                value=f"{value:.2f}", limit=PASS_PERPLEXITY, reference=REFERENCE_PERPLEXITY)
        summary = _training_summary(losses)
        return _("{message}; {summary}").format(message=message, summary=summary) if summary else message

    return Case(f"the grading run: validation perplexity below {PASS_PERPLEXITY}", train_call(case), verdict)


def grading_run_cases() -> list[Case]:
    return [grading_run_case()]


# ---------------------------------------------------------------- perplexity

PERPLEXITY_MISTAKES = {
    "summed": N_("exp of the summed cross-entropy: divide the total by the number of targets before exp"),
    "sum_of_means": N_("exp of the per-batch mean losses added up: sum the per-target losses (reduction='sum') and "
                       "divide by the number of targets"),
    "mean_of_means": N_("the mean of per-batch mean losses: a shorter batch then counts as much as a full one; divide "
                        "the total by the number of targets"),
    "mean_of_perplexities": N_("the mean of per-batch perplexities; perplexity is exp of the mean loss over all "
                               "targets"),
    "reset": N_("the state reset at every batch; carry it from one batch to the next, as in training"),
    "no_exp": N_("the mean cross-entropy itself; perplexity is its exp"),
    "base_2": N_("2 ** loss; the cross-entropy is in nats, so the perplexity is exp(loss)"),
}
PERPLEXITY_TOL = 1e-6


def random_state(sizes: tuple, seed: int, scale: float = 1.0) -> dict[str, torch.Tensor]:
    """A float64 CharLM's weights: torch's initialisation from `seed`, the read-out scaled for sharper predictions."""
    state = state_of(initial_model(sizes, seed, "float64"))
    state["readout.weight"] = state["readout.weight"] * scale
    return state


def perplexity_inputs(seed: int, cell: str, length: int, batch_size: int, seq_len: int,
                      sizes: tuple[int, int, int] = (7, 4, 6)) -> dict:
    stream = torch.randint(0, sizes[0], (length,), generator=seeded(seed))
    full = (*sizes, cell)
    return {"sizes": full, "state": random_state(full, seed, 3.0), "batches": REF.batches_reference(stream, batch_size,
                                                                                                 seq_len)}


def perplexity_case(name: str, inputs: dict, training: bool = False) -> Case:
    model = loaded_model(inputs["sizes"], inputs["state"]).eval()
    want = REF.perplexity_reference(model, inputs["batches"])
    mistakes = _lazy(lambda: {text: REF.perplexity_reference(model, inputs["batches"], key)
                              for key, text in PERPLEXITY_MISTAKES.items()})
    mode = "train" if training else "eval"

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, PERPLEXITY)
        if problem:
            return problem
        value = outcome.value.get("value") if isinstance(outcome.value, dict) else None
        if not isinstance(value, float):
            return _("`{stub}` returned {what}; expected a float").format(
                stub=PERPLEXITY, what=value if isinstance(value, str) else describe(value))
        if not math.isclose(value, want, rel_tol=PERPLEXITY_TOL):
            named = _matching(mistakes(), lambda wrong: math.isclose(value, wrong, rel_tol=PERPLEXITY_TOL))
            return _with_mistake(_("`{stub}` returned {got}; expected {expected}").format(
                stub=PERPLEXITY, got=f"{value:.8g}", expected=f"{want:.8g}"), named)
        if outcome.value.get("training_after") != training:
            return _("the model was in {mode} mode and `{stub}` left it in {other} mode — remember model.training "
                     "first and restore it with model.train(mode) at the end").format(
                mode=mode, stub=PERPLEXITY, other="eval" if training else "train")
        if outcome.value.get("ran_in_train_mode"):
            return _("`{stub}` ran the model in train mode — call model.eval() before evaluating").format(
                stub=PERPLEXITY)
        if outcome.value.get("ran_with_gradients") or outcome.value.get("gradients"):
            return _("`{stub}` ran the model with gradients enabled — evaluate inside `with "
                     "torch.no_grad():`").format(stub=PERPLEXITY)
        return None

    call = Call(PERPLEXITY, (inputs["sizes"], inputs["state"], inputs["batches"], training),
                recipe="language_model.perplexity")
    return Case(name, call, verdict)


def perplexity_cases() -> list[Case]:
    return [
        perplexity_case("LSTM, three batches, the last one shorter", perplexity_inputs(50, "lstm", 36, 3, 4)),
        perplexity_case("GRU, the state carried across five batches", perplexity_inputs(51, "gru", 64, 4, 3)),
        perplexity_case("called in train mode: eval mode without gradients inside, train mode restored",
                        perplexity_inputs(52, "lstm", 30, 2, 5), training=True),
    ]


# ---------------------------------------------------------------- sample

SAMPLE_MISTAKES = {
    "ignore_temperature": N_("sampling that ignores the temperature: divide the logits by it, softmax(logits / "
                             "temperature); at temperature 0 take the argmax"),
    "times_temperature": N_("the logits multiplied by the temperature; divide them by it"),
    "keep_end": N_('the final "." kept; the sample stops at "." without including it'),
    "no_prefix": N_("the prefix left out of the result; return prefix + the new characters"),
    "no_start": N_('the prefix fed without the "." in front; feed "." + prefix'),
    "no_state": N_("every new character fed from a fresh state; carry the state from one step to the next"),
    "first_logits": N_("the first new character drawn from the logits of the first input step; use the last, "
                       "logits[-1, 0]"),
    "max_len_total": N_("max_len counted with the prefix; it limits the number of new characters"),
}
DRAW_AFTER_END = N_("draws from the generator after the end symbol (all max_len characters drawn, the name then cut "
                     "at the first \".\"): the first sample is right, but the generator has moved on further than it "
                     "should, so the next sample from it differs; stop drawing at \".\"")
@cache
def _bigram_counts() -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for name in data.load_split("train"):
        text = data.END + name + data.END
        for pair in zip(text, text[1:]):
            counts[pair] = counts.get(pair, 0) + 1
    return counts


def bigram_state(vocab: dict[str, int], seed: int, recurrent: float = 0.5) -> dict[str, torch.Tensor]:
    """A CharLM(V, V, V, "rnn") that predicts like the names' bigram statistics, so its samples look like names.

    The embedding is the identity and W_ih = 3 I, so h_t ≈ tanh(3) · one_hot(x_t); the read-out holds
    log P(next | current) (add-one smoothed). A random W_hh makes the carried state matter a little.
    """
    V = len(vocab)
    counts = torch.ones(V, V, dtype=torch.float64)
    for (current, following), count in _bigram_counts().items():
        counts[vocab[current], vocab[following]] += count
    log_probs = (counts / counts.sum(1, keepdim=True)).log()
    eye = torch.eye(V, dtype=torch.float64)
    zeros = torch.zeros(V, dtype=torch.float64)
    return {"embed.weight": eye.clone(), "rnn.weight_ih_l0": 3 * eye,
            "rnn.weight_hh_l0": recurrent * torch.randn(V, V, generator=seeded(seed), dtype=torch.float64) / V**0.5,
            "rnn.bias_ih_l0": zeros.clone(), "rnn.bias_hh_l0": zeros.clone(),
            "readout.weight": log_probs.t() / math.tanh(3.0), "readout.bias": zeros.clone()}


def sample_model(kind: str, vocab: dict[str, int], seed: int = 60) -> tuple[tuple, dict[str, torch.Tensor]]:
    """(sizes, state): the bigram model ("bigram"), or a randomly initialised "lstm" or "gru" CharLM."""
    V = len(vocab)
    if kind == "bigram":
        return (V, V, V, "rnn"), bigram_state(vocab, seed)
    sizes = (V, 8, 16, kind)
    return sizes, random_state(sizes, seed, 4.0)


def sample_case(name: str, prefix: str, max_len: int, temperature: float, seed: int, model: str = "bigram",
                vocab: dict[str, int] | None = None) -> Case:
    vocab = vocab or data.char_vocab()
    sizes, state = sample_model(model, vocab)
    judge_model = loaded_model(sizes, state).eval()
    want = REF.sample_reference(judge_model, vocab, prefix, max_len, temperature, seed)
    mistakes = _lazy(lambda: {text: REF.sample_reference(judge_model, vocab, prefix, max_len, temperature, seed, key)
                              for key, text in SAMPLE_MISTAKES.items()})
    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, SAMPLE)
        if problem:
            return problem
        text = outcome.value.get("text") if isinstance(outcome.value, dict) else None
        if not isinstance(text, str):
            return _("`{stub}` returned {what}; expected a str").format(stub=SAMPLE, what=describe(text))
        if text == want:
            return None
        named = _matching({k: v for k, v in mistakes().items() if v != want}, lambda wrong: text == wrong)
        setting = _("prefix {prefix}, max_len {max_len}, temperature {temperature}, generator seeded with "
                    "{seed}").format(prefix=repr(prefix), max_len=max_len, temperature=f"{temperature:g}", seed=seed)
        message = _("`{stub}` returned {got}; expected {expected} ({setting})").format(
            stub=SAMPLE, got=repr(text), expected=repr(want), setting=setting)
        if not named and temperature == 0:
            message = _("{message} — at temperature 0 every step takes the argmax of the logits and draws nothing "
                        "from the generator").format(message=message)
        elif not named:
            message = _("{message} — with the same generator, every step must draw exactly once: "
                        "torch.multinomial(probs, 1, generator=generator) on softmax(logits[-1, 0] / "
                        "temperature)").format(message=message)
        return _with_mistake(message, named)

    call = Call(SAMPLE, (sizes, state, vocab, prefix, max_len, temperature, seed), recipe="language_model.sample")
    return Case(name, call, verdict)


def samples_case(name: str, prefix: str, max_len: int, temperature: float, seed: int, count: int = 2) -> Case:
    """`count` samples in a row from one generator: a sampler that draws more than once per character, or goes on
    drawing after the end symbol, gets the first right and the later ones wrong."""
    vocab = data.char_vocab()
    sizes, state = sample_model("bigram", vocab)
    judge_model = loaded_model(sizes, state).eval()
    want = REF.samples_reference(judge_model, vocab, prefix, max_len, temperature, seed, count)
    mistakes = _lazy(lambda: {DRAW_AFTER_END: REF.samples_reference(judge_model, vocab, prefix, max_len, temperature,
                                                                    seed, count, "draw_after_end")})
    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, SAMPLE)
        if problem:
            return problem
        texts = outcome.value.get("texts") if isinstance(outcome.value, dict) else None
        if not isinstance(texts, list) or not all(isinstance(text, str) for text in texts):
            return _("`{stub}` returned {what}; expected a str").format(
                stub=SAMPLE, what=describe(next((t for t in texts or [] if not isinstance(t, str)), texts)))
        if texts == want:
            return None
        first = next(i for i, (got, expected) in enumerate(zip(texts, want)) if got != expected)
        setting = _("{count} samples in a row from one generator seeded with {seed}: prefix {prefix}, max_len "
                    "{max_len}, temperature {temperature}").format(count=count, seed=seed, prefix=repr(prefix),
                                                                    max_len=max_len, temperature=f"{temperature:g}")
        message = _("sample {n} returned {got}; expected {expected} ({setting})").format(
            n=first + 1, got=repr(texts[first]), expected=repr(want[first]), setting=setting)
        named = _matching({k: v for k, v in mistakes().items() if v != want}, lambda wrong: texts == wrong)
        if not named and first > 0:
            message = _("{message} — the first sample is right, so the generator was left in another state than the "
                        "reference leaves it: draw exactly once per new character, and stop drawing at "
                        "\".\"").format(message=message)
        return _with_mistake(message, named)

    call = Call(SAMPLE, (sizes, state, vocab, prefix, max_len, temperature, seed, count),
                recipe="language_model.samples")
    return Case(name, call, verdict)


def sample_mode_case(name: str) -> Case:
    sizes, state = sample_model("gru", data.char_vocab(), 61)

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, SAMPLE)
        if problem:
            return problem
        if not isinstance(outcome.value, dict) or not isinstance(outcome.value.get("text"), str):
            return _("`{stub}` returned {what}; expected a str").format(stub=SAMPLE,
                                                                      what=describe(outcome.value.get("text")))
        if outcome.value.get("ran_in_train_mode"):
            return _("`{stub}` ran the model in train mode — call model.eval() first").format(stub=SAMPLE)
        if outcome.value.get("ran_with_gradients"):
            return _("`{stub}` ran the model with gradients enabled — sample inside `with "
                     "torch.no_grad():`").format(stub=SAMPLE)
        return None

    return Case(name, Call(SAMPLE, (sizes, state, data.char_vocab(), "", 10, 1.0, 0),
                           recipe="language_model.sample"), verdict, kind=FORM)


def sample_cases() -> list[Case]:
    return [
        sample_case("greedy (temperature 0)", "", 12, 0.0, 0),
        sample_case("greedy after the prefix 'ch'", "ch", 12, 0.0, 0),
        sample_case("temperature 1", "", 12, 1.0, 22),
        sample_case("temperature 0.5 after the prefix 'el'", "el", 15, 0.5, 0),
        sample_case("temperature 2", "", 15, 2.0, 11),
        samples_case("two samples in a row from one generator", "", 12, 1.0, 22),
        sample_mode_case("runs the model in eval mode without gradients"),
    ]


# The titles are marked for the catalogs (N_); the feedback page, the report and results.json translate them.
GROUPS = [
    CheckGroup("encode_names_values", ENCODE, N_("encode_names: indices vs the reference"), encode_cases),
    CheckGroup("make_batches_values", BATCHES, N_("make_batches: time-major (inputs, targets) pairs"), batches_cases),
    CheckGroup("train_char_lm_steps", TRAIN, N_("train_char_lm: losses and weights vs a reference run"), train_cases),
    CheckGroup("perplexity_values", PERPLEXITY, N_("perplexity: value, eval mode, no gradients"), perplexity_cases),
    CheckGroup("train_char_lm_perplexity", TRAIN, N_("train_char_lm: the grading run's validation perplexity"),
               grading_run_cases),
    CheckGroup("sample_values", SAMPLE, N_("sample: the same string as the reference with the same generator"),
               sample_cases),
]

# By hand: nothing is forbidden here. This assignment puts the earlier pieces together with torch's own: the
# model is the provided CharLM (nn.Embedding, nn.LSTM), training uses F.cross_entropy, autograd and
# clip_grad_norm_ as documented, perplexity is exp of the cross-entropy, and sample draws with
# torch.multinomial. What 06 practises is the data layout, the training loop and sampling, which the checks'
# values decide.
FORBIDDEN: dict = {}
