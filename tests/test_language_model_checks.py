"""What the 06_language_model checks must do: full marks for right code, lost points (in the right group) for
wrong code.

Every submission here is the reference solution with one cell replaced or one line edited, graded in
process (public and hidden cases) by the same check definitions the split grader uses. Each check group
calls only its own stub (the grading run trains on batches the judge makes, not on the student's
make_batches), so a group whose stub's cell is untouched keeps the reference's result and is not graded
again: the grading run, a few seconds of training, runs only for the bugs that edit train_char_lm and
are expected to lose it (the others are marked `grading_run=False`: they lose points in the short,
exact runs, and the grading run is not repeated for them).
"""

from __future__ import annotations

from functools import cache

import pytest
from conftest import (
    Bug,
    assert_loses_exactly,
    assert_reference_full,
    assert_released_stubs_score_zero,
    edit_cell,
    failures,
    feedback,
    function,
    grade_assignment,
    grade_in_process,
    solution_namespace,
)

from autograder import checks, inline
from autograder.checks import language_model as lm
from autograder.checks.base import Outcome
from autograder.judge.evaluate import GroupResult

A = "06_language_model"
ENCODE, BATCHES, TRAIN, PERPLEXITY, SAMPLE = "encode_names", "make_batches", "train_char_lm", "perplexity", "sample"
ENCODE_VALUES, BATCH_VALUES = "encode_names_values", "make_batches_values"
STEPS, RUN = "train_char_lm_steps", "train_char_lm_perplexity"
PERPLEXITY_VALUES, SAMPLE_VALUES = "perplexity_values", "sample_values"
GROUPS = (ENCODE_VALUES, BATCH_VALUES, STEPS, PERPLEXITY_VALUES, RUN, SAMPLE_VALUES)


def edit(grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    return edit_cell(A, grade_id, *replacements)



@cache
def reference_results() -> dict[str, GroupResult]:
    return grade_assignment(A)


def grade(overrides: dict[str, str], grading_run: bool = True) -> dict[str, GroupResult]:
    """Every group's result: regraded where `overrides` touch the group's stub, the reference's elsewhere."""
    namespace = solution_namespace(A, overrides)
    results = dict(reference_results())
    for group_id, group in checks.groups(A).items():
        if group.stub in overrides and (grading_run or group_id != RUN):
            results[group_id] = grade_in_process(group_id, namespace)
    return results


# ---------------------------------------------------------------- the reference and the released stubs

def test_every_test_cell_of_the_notebook_has_a_check_group():
    assert tuple(checks.groups(A)) == GROUPS


def test_reference_solution_scores_full_points_in_every_public_and_hidden_case():
    # The grading run is one fixed, public training run: it has no hidden cases.
    assert_reference_full(reference_results(), without_hidden=(RUN,))


def test_released_stubs_score_zero_and_say_not_implemented_yet():
    assert_released_stubs_score_zero(A, {ENCODE, BATCHES, TRAIN, PERPLEXITY, SAMPLE})


def test_the_grading_run_is_the_one_the_curriculum_fixes():
    call = lm.grading_run_case().call
    sizes, seed, dtype, batches, steps, lr, clip = call.args
    assert (sizes, seed, dtype, steps, lr, clip) == ((27, 24, 64, "lstm"), 0, "float32", 400, 0.01, 5.0)
    assert all(tuple(x.shape)[1] == 32 for x, _ in batches) and tuple(batches[0][0].shape) == (25, 32)
    assert lm.PASS_PERPLEXITY == 8.5


def test_sample_cases_cover_both_ways_a_name_ends():
    from autograder.checks.hidden import language_model as hidden

    ends = set()
    for case in lm.sample_cases()[:-1] + hidden.HIDDEN[SAMPLE_VALUES]():
        if case.call.recipe != "language_model.sample":
            continue
        sizes, state, vocab, prefix, max_len, temperature, seed = case.call.args
        text = hidden.sample_reference(lm.loaded_model(sizes, state).eval(), vocab, prefix, max_len, temperature,
                                       seed)
        ends.add("max_len" if len(text) - len(prefix) == max_len else "end symbol")
    assert ends == {"max_len", "end symbol"}


def test_every_run_of_samples_from_one_generator_has_a_first_sample_that_ends_early():
    """Else drawing on after the end symbol leaves the generator where the reference leaves it, and goes unseen."""
    from autograder.checks.hidden import language_model as hidden

    runs = [case for case in lm.sample_cases() + hidden.HIDDEN[SAMPLE_VALUES]()
            if case.call.recipe == "language_model.samples"]
    assert len(runs) >= 2
    for case in runs:
        sizes, state, vocab, prefix, max_len, temperature, seed, count = case.call.args
        texts = hidden.samples_reference(lm.loaded_model(sizes, state).eval(), vocab, prefix, max_len, temperature,
                                         seed, count)
        assert len(texts[0]) - len(prefix) < max_len and temperature > 0, case.name


# ---------------------------------------------------------------- plausible bugs

NOT_DETACHED = edit(TRAIN, ("        state = detach_state(state)\n", ""))

DRAWS_AFTER_END = """
def sample(model, vocab, prefix, max_len, temperature=1.0, generator=None):
    symbols = {index: symbol for symbol, index in vocab.items()}
    model.eval()
    drawn = []
    with torch.no_grad():
        logits, state = model(torch.tensor([[vocab[ch]] for ch in "." + prefix]))
        for _ in range(max_len):  # draw max_len characters, then cut the name at its end symbol
            scores = logits[-1, 0]
            if temperature == 0:
                index = int(scores.argmax())
            else:
                index = int(torch.multinomial(torch.softmax(scores / temperature, dim=-1), 1, generator=generator))
            drawn.append(symbols[index])
            logits, state = model(torch.tensor([[index]]), state)
    return prefix + "".join(drawn).split(".")[0]
"""

BUGS = [
    Bug("targets not shifted",
        edit(BATCHES, ("streams[start + 1:start + 1 + length]", "streams[start:start + length]")), (BATCH_VALUES,),
        "targets equal to the inputs"),
    Bug("streams laid out batch-major", edit(BATCHES, (".view(batch_size, n).T", ".view(n, batch_size)")),
        (BATCH_VALUES,), "data.view(n, batch_size)"),
    Bug("the last, shorter pair dropped",
        edit(BATCHES, ("        length = min(seq_len, n - 1 - start)\n",
                       "        length = seq_len\n        if start + length > n - 1:\n            break\n")),
        (BATCH_VALUES,), "the last, shorter pair dropped"),
    Bug("no end symbol after a name", edit(ENCODE, ('        indices.append(vocab["."])\n', "")), (ENCODE_VALUES,),
        'no "." after the names'),
    Bug("indices from the letters, not from vocab",
        edit(ENCODE, ("vocab[ch] for ch in name", "ord(ch) - 96 for ch in name")), (ENCODE_VALUES,),
        "instead of looked up in vocab"),
    Bug("perplexity from the summed instead of the mean loss",
        edit(PERPLEXITY, ("math.exp(total / count)", "math.exp(total)")), (PERPLEXITY_VALUES,),
        "exp of the summed cross-entropy"),
    Bug("perplexity from per-batch means",
        edit(PERPLEXITY, ('targets.reshape(-1),\n' + " " * 37 + 'reduction="sum").item()',
                          "targets.reshape(-1)).item()"), ("count += targets.numel()", "count += 1")),
        (PERPLEXITY_VALUES,), "the mean of per-batch mean losses"),
    Bug("perplexity resets the state at every batch",
        edit(PERPLEXITY, ("state = model(inputs, state)", "state = model(inputs)")), (PERPLEXITY_VALUES,),
        "the state reset at every batch"),
    Bug("perplexity leaves the model in eval mode", edit(PERPLEXITY, ("    model.train(was_training)\n", "")),
        (PERPLEXITY_VALUES,), "left it in eval mode"),
    Bug("perplexity with gradients", edit(PERPLEXITY, ("    with torch.no_grad():\n", "    if True:\n")),
        (PERPLEXITY_VALUES,), "with gradients enabled"),
    Bug("sampling that ignores the temperature", edit(SAMPLE, ("softmax(scores / temperature", "softmax(scores")),
        (SAMPLE_VALUES,), "ignores the temperature"),
    Bug("greedy decoding by sampling",
        edit(SAMPLE, ("index = int(scores.argmax())",
                      "index = int(torch.multinomial(torch.softmax(scores, dim=-1), 1, generator=generator))")),
        (SAMPLE_VALUES,), "at temperature 0 take the argmax"),
    Bug("the final end symbol kept",
        edit(SAMPLE, ('            if symbols[index] == ".":\n                break\n'
                      '            new.append(symbols[index])\n',
                      '            new.append(symbols[index])\n'
                      '            if symbols[index] == ".":\n                break\n')),
        (SAMPLE_VALUES,), 'the final "." kept'),
    Bug("sampling without the carried state", edit(SAMPLE, ("device=device), state)", "device=device))")),
        (SAMPLE_VALUES,), "fed from a fresh state"),
    Bug("the prefix fed without the end symbol in front",
        edit(SAMPLE, ('for ch in "." + prefix]', "for ch in prefix or \".\"]")), (SAMPLE_VALUES,), 'feed "." + prefix'),
    Bug("a sampler that goes on drawing after the end symbol", function(SAMPLE, DRAWS_AFTER_END), (SAMPLE_VALUES,),
        "draws from the generator after the end symbol"),
    Bug("training that never steps the optimizer", edit(TRAIN, ("        adam.step()\n", "")), (STEPS, RUN),
        "exactly the initial weights"),
    Bug("the carried state not detached", NOT_DETACHED, (STEPS, RUN), "detach the carried state"),
    Bug("no zero_grad: gradients pile up", edit(TRAIN, ("        adam.zero_grad()\n", "")), (STEPS, RUN),
        "gradients accumulated over steps"),
]

STEP_BUGS = [  # subtler loops: they lose the exact short runs; the grading run still passes (measured, not repeated)
    Bug("the state reset at every batch", edit(TRAIN, ("        if position == 0:\n", "        if True:\n")), (STEPS,),
        "the state reset to None at every batch"),
    Bug("the state never reset at the start of a pass",
        edit(TRAIN, ("        if position == 0:\n", "        if step == 0:\n")), (STEPS,),
        "reset it to None at the start of every pass"),
    Bug("no gradient clipping",
        edit(TRAIN, ("        nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)\n", "")), (STEPS,),
        "unclipped gradients"),
    Bug("a new optimizer at every step",
        edit(TRAIN, ("        inputs, targets = batches[position]\n", "        inputs, targets = batches[position]\n"
                     "        adam = torch.optim.Adam(model.parameters(), lr=lr)\n")),
        (STEPS,), "a new Adam optimizer at every step"),
    Bug("the summed loss", edit(TRAIN, ("targets.reshape(-1))\n", "targets.reshape(-1), reduction='sum')\n")),
        (STEPS,), "the summed cross-entropy"),
    Bug("clipping to half the given norm", edit(TRAIN, ("max_norm=clip)", "max_norm=clip / 2)")), (STEPS,),
        "after 12 steps differs from the reference"),
    Bug("one loss too few", edit(TRAIN, ("    for step in range(steps):", "    for step in range(steps - 1):")),
        (STEPS,), "one per step"),
]


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_plausible_bug_loses_points_in_its_groups_only_and_names_the_culprit(bug: Bug):
    assert_loses_exactly(bug, grade(bug.overrides))


@pytest.mark.parametrize("bug", STEP_BUGS, ids=lambda bug: bug.name)
def test_subtle_training_bug_loses_the_exact_runs_and_names_the_culprit(bug: Bug):
    assert_loses_exactly(bug, grade(bug.overrides, grading_run=False))


def test_training_that_never_steps_says_the_weights_did_not_change():
    bug = next(bug for bug in BUGS if bug.name == "training that never steps the optimizer")
    results = grade(bug.overrides)
    assert results[RUN].score == 0
    assert "the optimizer never changed them" in feedback(results[RUN])[0]
    assert any("never calls optimizer.step()" in text for text in feedback(results[STEPS]))


# ---------------------------------------------------------------- the time limit

SLOW_TRAIN = """
import time as _time


def train_char_lm(model, batches, steps, lr, clip=5.0):
    _time.sleep(30)
    return []
"""


def test_training_past_the_time_limit_fails_with_a_message_that_says_so():
    case = lm.grading_run_case()
    namespace = solution_namespace(A, function(TRAIN, SLOW_TRAIN))
    message = case.verdict(inline.run_call_in_process(namespace, case.call, seconds=1))
    assert message.startswith("training ran past 1 s and was stopped (the reference takes about")
    assert "400 steps" in message


def test_the_split_graders_timeouts_read_the_same():
    case = lm.grading_run_case()
    per_call = case.verdict(Outcome("timeout", message="`train_char_lm`: the call ran past the 60 s limit and was "
                                                       "stopped"))
    assert per_call.startswith(f"training ran past 60 s and was stopped (the reference takes about "
                               f"{lm.REFERENCE_SECONDS} s")
    whole = case.verdict(Outcome("timeout", message="`train_char_lm`: the call ran past the submission's 180 s limit "
                                                    "and was stopped"))
    assert whole.startswith("training ran past the submission's time limit of 180 s")


SLOW_STEPS = """
import time as _time


def train_char_lm(model, batches, steps, lr, clip=5.0):
    losses = []
    for step in range(steps):
        _time.sleep(0.05)
        losses.append(1.0)
    return losses
"""


@pytest.mark.slow
def test_the_split_grader_stops_a_slow_grading_run_and_says_why(tmp_path):
    """Quick enough for the short runs, too slow for the grading run: only the grading run times out."""
    from autograder.course import hidden_paths
    from autograder.judge import grading
    from autograder.judge.runner import Limits, make_launcher
    from examples import samples

    limits = Limits(call_seconds=4.0, cell_seconds=60.0, submission_seconds=60.0, memory_bytes=4 * 1024**3)
    plan = grading.plan_assignment(A, limits=limits)
    path = samples.write_notebook(samples.make_notebook(A, function(TRAIN, SLOW_STEPS)), tmp_path / f"{A}.ipynb")
    launcher = make_launcher(hidden_paths([]), limits)
    try:
        result = grading.grade_notebook(plan, path, launcher)
    finally:
        launcher.close()
    run = next(group for group in result.groups if group.group_id == RUN)
    assert run.score == 0 and result.limits_hit == ["timeout"]
    assert run.cases[0].message.startswith("training ran past 4 s and was stopped (the reference takes about")
    others = [group for group in result.groups if group.group_id not in (STEPS, RUN)]
    assert all(group.score == group.points for group in others)


def test_limits_leave_room_for_the_grading_run():
    limits = checks.limits(A)
    assert limits.call_seconds >= 10 * lm.REFERENCE_SECONDS
    assert limits.submission_seconds >= 2 * limits.call_seconds
    assert limits.memory_bytes == 4 * 1024**3


# ---------------------------------------------------------------- differently written correct code

ENCODE_JOINED = """
def encode_names(names, vocab):
    text = "".join(name + "." for name in names)
    return torch.tensor([vocab[ch] for ch in text], dtype=torch.int64)
"""

BATCHES_SLICED = """
def make_batches(data, batch_size, seq_len):
    n = len(data) // batch_size
    streams = data[: n * batch_size].reshape(batch_size, n).T
    return [(streams[i:min(i + seq_len, n - 1)], streams[i + 1:min(i + seq_len, n - 1) + 1])
            for i in range(0, n - 1, seq_len)]
"""

TRAIN_OTHERWISE = """
import torch.nn.functional as F


def train_char_lm(model, batches, steps, lr, clip=5.0):
    optimizer = torch.optim.Adam(model.parameters(), lr)
    losses, state = [], None
    for step in range(steps):
        if step % len(batches) == 0:
            state = None
        x, y = batches[step % len(batches)]
        logits, state = model(x, state)
        state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        loss = F.nll_loss(F.log_softmax(logits, dim=-1).flatten(0, 1), y.flatten())
        model.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses
"""

TRAIN_CLIPPED_AS_D2L = TRAIN_OTHERWISE.replace(
    "        nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip)\n",
    "        norm = torch.sqrt(sum(torch.sum(p.grad ** 2) for p in model.parameters()))\n"
    "        if norm > clip:\n"
    "            for p in model.parameters():\n"
    "                p.grad[:] *= clip / norm\n")

PERPLEXITY_AS_TENSOR = """
def perplexity(model, batches):
    mode = model.training
    model.eval()
    total, count, state = torch.zeros(()), 0, None
    with torch.inference_mode():
        for x, y in batches:
            logits, state = model(x, state)
            total = total + nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()) * y.numel()
            count += y.numel()
    model.train(mode)
    return torch.exp(total / count)
"""

SAMPLE_FROM_SCRATCH = """
def sample(model, vocab, prefix, max_len, temperature=1.0, generator=None):
    itos = {i: ch for ch, i in vocab.items()}
    model.eval()
    text = prefix
    with torch.no_grad():
        for _ in range(max_len):
            x = torch.tensor([vocab[ch] for ch in "." + text]).unsqueeze(1)
            logits, _ = model(x)  # the whole text again: slower, same distribution
            if temperature == 0:
                index = torch.argmax(logits[-1, 0]).item()
            else:
                probs = F.softmax(logits[-1, 0] / temperature, dim=0)
                index = torch.multinomial(probs, num_samples=1, generator=generator).item()
            if itos[index] == ".":
                break
            text += itos[index]
    return text
"""

CORRECT = [
    pytest.param(function(ENCODE, ENCODE_JOINED), id="encode_names by joining the names"),
    pytest.param(function(BATCHES, BATCHES_SLICED), id="make_batches with slices and a comprehension"),
    pytest.param(function(TRAIN, TRAIN_OTHERWISE), id="train_char_lm with nll_loss and model.zero_grad"),
    pytest.param(function(TRAIN, TRAIN_CLIPPED_AS_D2L), id="train_char_lm clipping with theta / norm, as d2l does"),
    pytest.param(function(PERPLEXITY, PERPLEXITY_AS_TENSOR), id="perplexity as a 0-dim tensor, inference_mode"),
    pytest.param(function(SAMPLE, SAMPLE_FROM_SCRATCH), id="sample that re-reads the whole text every step"),
]


@pytest.mark.parametrize("overrides", CORRECT)
def test_differently_written_correct_code_keeps_full_marks(overrides: dict[str, str]):
    assert not failures(grade(overrides, grading_run=False))


# ---------------------------------------------------------------- what a student returns instead

HOSTILE = [
    (ENCODE_VALUES, function(ENCODE, "def encode_names(names, vocab):\n"
                                     "    return [vocab[c] for n in names for c in n + '.']"),
     "the encoded names is a list; expected a LongTensor of shape"),
    (ENCODE_VALUES, function(ENCODE, "def encode_names(names, vocab):\n"
                                     "    return torch.tensor([float(vocab[c]) for n in names for c in n + '.'])"),
     "has dtype float32; expected int64"),
    (BATCH_VALUES, function(BATCHES, "def make_batches(data, batch_size, seq_len):\n"
                                     "    yield data[:-1].view(-1, 1), data[1:].view(-1, 1)"),
     "`make_batches` returned a generator"),
    (STEPS, function(TRAIN, "def train_char_lm(model, batches, steps, lr, clip=5.0):\n    pass"),
     "`train_char_lm` returned a NoneType; expected a list of 12 floats"),
    (PERPLEXITY_VALUES, function(PERPLEXITY, "def perplexity(model, batches):\n    return torch.ones(2)"),
     "`perplexity` returned a Tensor of shape (2,); expected a float"),
    (SAMPLE_VALUES, function(SAMPLE, "def sample(model, vocab, prefix, max_len, temperature=1.0, generator=None):\n"
                                     "    return list(prefix)"),
     "`sample` returned a list; expected a str"),
]


@pytest.mark.parametrize(("group", "overrides", "says"), HOSTILE, ids=[h[2][:40] for h in HOSTILE])
def test_a_wrong_kind_of_return_value_gets_a_clear_message(group: str, overrides: dict[str, str], says: str):
    result = grade_in_process(group, solution_namespace(A, overrides))
    assert result.score < result.points
    assert any(says in text for text in feedback(result)), feedback(result)
