"""What the 04_bptt checks must do: full marks for right code, lost points (in the right group) for wrong code.

Every submission here is the reference solution with one cell replaced or one line edited, graded in
process (public and hidden cases) by the same check definitions the split grader uses; the backward
passes, the training loop and the gradient norms go through their probe-side recipes. A bug must cost
points in the groups it breaks and nowhere else, and where the grader knows the bug it must name it.
"""

from __future__ import annotations

import textwrap
from functools import cache

import pytest
from conftest import (
    Bug,
    assert_loses_exactly,
    assert_reference_full,
    assert_released_stubs_score_zero,
    edit_cell,
    failures,
    function,
    grade_assignment,
    grade_in_process,
    released_solution_cells,
    solution_namespace,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import checks, inline
from autograder.checks import bptt
from autograder.judge.evaluate import GroupResult

A = "04_bptt"
STEP_FORWARD, STEP_BACKWARD = "rnn_step_forward", "rnn_step_backward"
SEQ_FORWARD, SEQ_BACKWARD = "rnn_sequence_forward", "rnn_sequence_backward"
LOSS, CLIP, TRAIN, NORMS = "sequence_cross_entropy", "clip_grad_norm", "train_truncated_bptt", "hidden_grad_norms"

SF, SB = "rnn_step_forward_values", "rnn_step_backward_gradients"
QF, QB = "rnn_sequence_forward_values", "rnn_sequence_backward_gradients"
LOSS_G, CLIP_G = "sequence_cross_entropy_values", "clip_grad_norm_values"
TRAIN_G, NORMS_G = "train_truncated_bptt_parameters", "hidden_grad_norms_values"
GROUPS = (SF, SB, QF, QB, LOSS_G, CLIP_G, TRAIN_G, NORMS_G)


def edit(grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    return edit_cell(A, grade_id, *replacements)



def message_of(result: GroupResult, case_name: str) -> str:
    case = next(c for c in result.cases if c.name == case_name)
    assert not case.passed, f"case {case_name!r} of {result.group_id} passed"
    return case.message or ""


# ---------------------------------------------------------------- the reference and the released stubs

def test_every_test_cell_of_the_notebook_has_a_check_group():
    assert tuple(checks.groups(A)) == GROUPS


def test_points_add_up_to_twenty():
    assert sum(inline.points_of(A, group) for group in GROUPS) == 20


def test_reference_solution_scores_full_points_in_every_public_and_hidden_case():
    assert_reference_full(grade_assignment(A))


def test_released_stubs_score_zero_and_say_not_implemented_yet():
    stubs = {STEP_FORWARD, STEP_BACKWARD, SEQ_FORWARD, SEQ_BACKWARD, LOSS, CLIP, TRAIN, NORMS}
    assert_released_stubs_score_zero(A, stubs)


def test_a_backward_pass_is_judged_even_when_only_the_forward_pass_is_written():
    stubs = released_solution_cells(A)
    result = grade_in_process(SB, solution_namespace(A, {STEP_BACKWARD: stubs[STEP_BACKWARD]}))
    assert result.score == 0
    assert all(c.message.startswith("`rnn_step_backward` is not implemented yet") for c in result.cases)


# ---------------------------------------------------------------- plausible bugs

NO_CARRY = edit(SEQ_BACKWARD, ("rnn_step_backward(dh_all[t] + dh_prev, cache[t])",
                               "rnn_step_backward(dh_all[t], cache[t])"))
BACKWARDS = (SB, QB)  # rnn_sequence_backward calls rnn_step_backward, so a wrong step costs both

CLIP_IN_PLACE = """
def clip_grad_norm(grads, max_norm):
    total_norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    factor = torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)
    for g in grads:
        g.mul_(factor)
    return grads, total_norm
"""

CLIP_PER_TENSOR = """
def clip_grad_norm(grads, max_norm):
    total_norm = torch.sqrt(sum((g ** 2).sum() for g in grads))
    return [g * torch.clamp(max_norm / (g.norm() + 1e-6), max=1.0) for g in grads], total_norm
"""

BUGS = [
    Bug("tanh derivative at h_prev", edit(STEP_BACKWARD, ("(1 - h_next ** 2)", "(1 - h_prev ** 2)")), BACKWARDS,
        "the tanh derivative taken at the wrong state, 1 − h_prev²"),
    Bug("tanh derivative omitted", edit(STEP_BACKWARD, ("da = dh_next * (1 - h_next ** 2)", "da = dh_next")),
        BACKWARDS, "the tanh derivative left out"),
    Bug("tanh derivative of tanh(h_next)", edit(STEP_BACKWARD, ("(1 - h_next ** 2)", "(1 - torch.tanh(h_next) ** 2)")),
        BACKWARDS, "the notebook's `grad_check` helper"),
    Bug("dh_prev = da @ W_hh.T", edit(STEP_BACKWARD, ("dh_prev = da @ W_hh", "dh_prev = da @ W_hh.T")), BACKWARDS,
        "dh_prev = da @ W_hh.T"),
    Bug("dW_hh transposed", edit(STEP_BACKWARD, ("dW_hh = da.T @ h_prev", "dW_hh = h_prev.T @ da")), BACKWARDS,
        "dW_hh transposed"),
    Bug("db not summed over the batch", edit(STEP_BACKWARD, ("db_ih = da.sum(dim=0)", "db_ih = da")), BACKWARDS,
        "db_ih has shape (3, 6); expected (H) = (6,) — sum da over the batch axis"),
    Bug("step forward without tanh",
        edit(STEP_FORWARD, ("h_next = torch.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)",
                            "h_next = x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh")),
        (SF, SB, QF, QB), "comes from your `rnn_step_forward`: fix it first"),
    Bug("sequence forward restarting from h_0 at every step",
        edit(SEQ_FORWARD, ("rnn_step_forward(x[t], h, ", "rnn_step_forward(x[t], h_0, ")), (QF, QB),
        "every step started from h_0"),
    Bug("upstream gradient of the intermediate steps ignored",
        edit(SEQ_BACKWARD, ("rnn_step_backward(dh_all[t] + dh_prev, cache[t])",
                            "rnn_step_backward((dh_all[t] if t == num_steps - 1 else 0) + dh_prev, cache[t])")),
        (QB,), "the upstream gradient of the intermediate steps ignored"),
    Bug("gradient from step t+1 not carried back",
        NO_CARRY, (QB,), "the gradient from step t+1 not carried back"),
    Bug("weight gradients overwritten instead of summed",
        edit(SEQ_BACKWARD, ("weight_grads = [total + grad for total, grad in zip(weight_grads, step_grads)]",
                            "weight_grads = step_grads")),
        (QB,), "weight gradients overwritten at every step"),
    Bug("dx in reverse time order",
        edit(SEQ_BACKWARD, ("dx_steps[t], dh_prev", "dx_steps[num_steps - 1 - t], dh_prev")), (QB,),
        "dx in reverse time order"),
    Bug("loss averaged over time",
        edit(LOSS, ("(picked * weights).sum() / batch", "(picked * weights).sum() / (batch * num_steps)"),
             ("weights.unsqueeze(-1) / batch", "weights.unsqueeze(-1) / (batch * num_steps)")),
        (LOSS_G,), "the loss averaged over time"),
    Bug("mask ignored", edit(LOSS, ("if mask is None else mask.to(logits.dtype)", "")), (LOSS_G,),
        "the mask ignored"),
    Bug("dlogits not divided by the batch size",
        edit(LOSS, ("* weights.unsqueeze(-1) / batch", "* weights.unsqueeze(-1)")), (LOSS_G,),
        "dlogits not divided by the batch size N"),
    Bug("divided by the number of unmasked positions",
        edit(LOSS, ("loss = -(picked * weights).sum() / batch", "loss = -(picked * weights).sum() / weights.sum()"),
             ("weights.unsqueeze(-1) / batch", "weights.unsqueeze(-1) / weights.sum()")),
        (LOSS_G,), "divided by the number of unmasked positions"),
    Bug("log-softmax without subtracting the maximum",
        edit(LOSS, ("log_probs = torch.log_softmax(logits, dim=-1)",
                    "log_probs = logits - logits.exp().sum(-1, keepdim=True).log()")),
        (LOSS_G,), "subtract each position's largest logit"),
    Bug("clipping in place", function(CLIP, CLIP_IN_PLACE), (CLIP_G,), "modified one of its input tensors in place"),
    Bug("clipping per tensor", function(CLIP, CLIP_PER_TENSOR), (CLIP_G,), "each tensor clipped by its own norm"),
    Bug("clipping scales small gradients up",
        edit(CLIP, ("torch.clamp(max_norm / (total_norm + 1e-6), max=1.0)", "max_norm / (total_norm + 1e-6)")),
        (CLIP_G,), "gradients scaled up to max_norm"),
    Bug("truncated BPTT without detach", edit(TRAIN, ("        h = h.detach()\n", "")), (TRAIN_G,),
        "detach the hidden state between chunks"),
    Bug("truncated BPTT without detach, with retain_graph",
        edit(TRAIN, ("        h = h.detach()\n", ""), ("loss.backward()", "loss.backward(retain_graph=True)")),
        (TRAIN_G,), "detach the hidden state between chunks"),
    Bug("truncated BPTT resetting the state every chunk",
        edit(TRAIN, ("model(inputs[start:start + k], h)", "model(inputs[start:start + k], None)")), (TRAIN_G,),
        "the hidden state reset at every chunk"),
    Bug("truncated BPTT dropping the last short chunk",
        edit(TRAIN, ("range(0, inputs.shape[0], k)", "range(0, inputs.shape[0] - k + 1, k)")), (TRAIN_G,),
        "the last, shorter chunk dropped"),
    Bug("truncated BPTT without zero_grad", edit(TRAIN, ("        optimizer.zero_grad()\n", "")), (TRAIN_G,),
        "call optimizer.zero_grad() before every backward"),
    Bug("hidden_grad_norms with the mean of the last state",
        edit(NORMS, ("states[-1].sum()", "states[-1].mean()")), (NORMS_G,), "loss = h_{T−1}.mean()"),
    Bug("hidden_grad_norms with the sum of every state",
        edit(NORMS, ("states[-1].sum()", "torch.stack(states).sum()")), (NORMS_G,),
        "the sum of every step's hidden state"),
    Bug("hidden_grad_norms on the LSTM's cell state",
        edit(NORMS, ("states.append(h)", "states.append(c if isinstance(cell, nn.LSTMCell) else h)"),
             ("states[-1].sum()", "h.sum()")), (NORMS_G,), "the LSTM's cell state c_t"),
]


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_plausible_bug_loses_points_in_its_groups_only_and_names_the_culprit(bug: Bug):
    assert_loses_exactly(bug, grade_assignment(A, bug.overrides))


def test_a_dropped_last_chunk_costs_only_the_cases_whose_k_does_not_divide_t():
    bug = next(bug for bug in BUGS if bug.name == "truncated BPTT dropping the last short chunk")
    result = grade_in_process(TRAIN_G, solution_namespace(A, bug.overrides))
    failed = {c.name for c in result.cases if not c.passed}
    passed = {c.name for c in result.cases if c.passed}
    assert passed == {"T=8, k=4: two full chunks", "k=1"}
    assert "k >= T: one chunk" in failed  # range(0, T - k + 1, k) is empty there: no update at all


def test_a_wrong_state_derivative_fails_the_numeric_check_too():
    bug = next(bug for bug in BUGS if bug.name == "tanh derivative at h_prev")
    result = grade_in_process(SB, solution_namespace(A, bug.overrides))
    assert "the numeric gradient (central differences)" in message_of(result, "numeric gradient check (tiny)")


# ---------------------------------------------------------------- differently written correct code

DICT_CACHE = {
    STEP_FORWARD: '''
def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):
    a = torch.addmm(b_ih + b_hh, x, W_ih.t()) + h_prev @ W_hh.t()
    return torch.tanh(a), {"a": a, "inputs": (x, h_prev), "weights": (W_ih, W_hh)}
''',
    STEP_BACKWARD: '''
def rnn_step_backward(dh_next, cache):
    x, h_prev = cache["inputs"]
    W_ih, W_hh = cache["weights"]
    da = dh_next / torch.cosh(cache["a"]) ** 2
    db = torch.einsum("nh->h", da)
    return (torch.einsum("nh,hi->ni", da, W_ih), torch.einsum("nh,hk->nk", da, W_hh),
            torch.einsum("nh,ni->hi", da, x), torch.einsum("nh,nk->hk", da, h_prev), db, db.clone())
''',
}

VECTORISED_SEQUENCE = {
    SEQ_FORWARD: '''
def rnn_sequence_forward(x, h_0, W_ih, W_hh, b_ih, b_hh):
    h_all = x.new_empty(x.shape[0], x.shape[1], W_hh.shape[0])
    h = h_0
    for t in range(x.shape[0]):
        h = torch.tanh(x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        h_all[t] = h
    return h_all, {"x": x, "h_0": h_0, "h_all": h_all, "W_ih": W_ih, "W_hh": W_hh}
''',
    SEQ_BACKWARD: '''
def rnn_sequence_backward(dh_all, cache):
    x, h_all, W_ih, W_hh = cache["x"], cache["h_all"], cache["W_ih"], cache["W_hh"]
    h_before = torch.cat([cache["h_0"].unsqueeze(0), h_all[:-1]])
    da_all = torch.empty_like(h_all)
    carried = torch.zeros_like(dh_all[0])
    for t in range(dh_all.shape[0] - 1, -1, -1):
        da_all[t] = (dh_all[t] + carried) * (1 - h_all[t] ** 2)
        carried = da_all[t] @ W_hh
    dW_ih = torch.einsum("tnh,tni->hi", da_all, x)
    dW_hh = torch.einsum("tnh,tnk->hk", da_all, h_before)
    db = da_all.sum(dim=(0, 1))
    return da_all @ W_ih, carried, dW_ih, dW_hh, db, db
''',
}

HAND_WRITTEN_LOG_SOFTMAX = {
    LOSS: '''
def sequence_cross_entropy(logits, targets, mask=None):
    T, N, V = logits.shape
    shifted = logits - logits.max(dim=-1, keepdim=True).values
    log_probs = shifted - shifted.exp().sum(dim=-1, keepdim=True).log()
    losses = -log_probs.gather(2, targets[..., None])[..., 0]
    if mask is not None:
        losses = losses.masked_fill(~mask, 0.0)
    probs = torch.softmax(logits, dim=-1)
    dlogits = probs - F.one_hot(targets, V).to(logits.dtype)
    if mask is not None:
        dlogits = dlogits.masked_fill(~mask[..., None], 0.0)
    return losses.sum() / N, dlogits / N
''',
}

CLIP_IN_FLOAT64 = {
    CLIP: '''
def clip_grad_norm(grads, max_norm):
    total = torch.cat([g.double().reshape(-1) for g in grads]).norm()
    factor = min(1.0, max_norm / (total.item() + 1e-6))
    return [(g.double() * factor).to(g.dtype) for g in grads], total.to(grads[0].dtype)
''',
}

TRAIN_DETACHING_AT_THE_START = {
    TRAIN: '''
def train_truncated_bptt(model, inputs, targets, k, optimizer):
    state, losses = None, []
    for chunk_inputs, chunk_targets in zip(inputs.split(k), targets.split(k)):
        if state is not None:
            state = state.detach()
        model.zero_grad()
        logits, state = model(chunk_inputs, state)
        loss = F.cross_entropy(logits.flatten(0, 1), chunk_targets.flatten())
        loss.backward(retain_graph=True)
        optimizer.step()
        losses.append(loss.item())
    return losses
''',
}

NORMS_WITH_RETAIN_GRAD = {
    NORMS: '''
def hidden_grad_norms(cell, x, h_0):
    state = (h_0, torch.zeros_like(h_0)) if isinstance(cell, nn.LSTMCell) else h_0
    hs = []
    for t in range(x.shape[0]):
        state = cell(x[t], state)
        h = state[0] if isinstance(state, tuple) else state
        h.retain_grad()
        hs.append(h)
    hs[-1].sum().backward()
    return torch.tensor([h.grad.norm().item() for h in hs], dtype=x.dtype)
''',
}

CORRECT = [
    pytest.param(DICT_CACHE, id="step with a dict cache holding the pre-activation, einsum backward"),
    pytest.param(VECTORISED_SEQUENCE, id="sequence with stacked tensors and vectorised weight gradients"),
    pytest.param(HAND_WRITTEN_LOG_SOFTMAX, id="loss with a hand-written log-softmax and masked_fill"),
    pytest.param(CLIP_IN_FLOAT64, id="clipping computed in float64"),
    pytest.param(TRAIN_DETACHING_AT_THE_START, id="training with split chunks, detach at the start, retain_graph"),
    pytest.param(NORMS_WITH_RETAIN_GRAD, id="gradient norms with retain_grad and backward"),
]


@pytest.mark.parametrize("overrides", CORRECT)
def test_differently_written_correct_code_keeps_full_marks(overrides: dict[str, str]):
    assert not failures(grade_assignment(A, {k: textwrap.dedent(v) for k, v in overrides.items()}))


# ---------------------------------------------------------------- hostile or malformed return values

def grade_one(group: str, grade_id: str, source: str) -> GroupResult:
    return grade_in_process(group, solution_namespace(A, function(grade_id, source)), include_hidden=False)


def test_a_backward_returning_five_gradients_is_told_to_return_six():
    source = textwrap.dedent(bptt_source(STEP_BACKWARD)).replace(
        "return dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh", "return dx, dh_prev, dW_ih, dW_hh, db_ih")
    message = message_of(grade_one(SB, STEP_BACKWARD, source), "other sizes")
    assert message == ("`rnn_step_backward` should return a tuple of 6 gradients (dx, dh_prev, dW_ih, dW_hh, db_ih, "
                       "db_hh); it returned a tuple of length 5")


def test_a_forward_returning_only_h_next_is_told_to_return_the_cache_too():
    source = "def rnn_step_forward(x, h_prev, W_ih, W_hh, b_ih, b_hh):\n" \
             "    return torch.tanh(x @ W_ih.T + b_ih + h_prev @ W_hh.T + b_hh)\n"
    namespace = solution_namespace(A, function(STEP_FORWARD, source))
    forward = grade_in_process(SF, namespace, include_hidden=False)
    assert "expected a tuple (h_next, cache)" in message_of(forward, "other sizes")
    backward = grade_in_process(SB, namespace, include_hidden=False)
    assert message_of(backward, "other sizes") == (
        "`rnn_step_forward` should return a pair (h_next, cache); it returned a Tensor")


def test_a_loss_returned_as_a_float_is_told_to_be_a_tensor():
    source = bptt_source(LOSS).replace("return loss, dlogits", "return loss.item(), dlogits")
    assert message_of(grade_one(LOSS_G, LOSS, source), "no mask") == "loss is a float; expected a tensor of shape ()"


def test_losses_returned_as_tensors_are_told_to_use_item():
    source = bptt_source(TRAIN).replace("losses.append(loss.item())", "losses.append(loss)")
    result = grade_one(TRAIN_G, TRAIN, source)
    assert [c.name for c in result.cases if not c.passed] == ["returns one loss per chunk"]
    assert "expected a Python float — append loss.item()" in message_of(result, "returns one loss per chunk")


def test_norms_returned_as_a_list_are_told_to_be_a_tensor():
    source = bptt_source(NORMS).replace("return torch.stack([grad.norm() for grad in grads])",
                                        "return [grad.norm().item() for grad in grads]")
    message = message_of(grade_one(NORMS_G, NORMS, source), "nn.GRUCell")
    assert message == "the gradient norms is a list; expected a tensor of shape (6,)"


def test_a_crash_in_the_students_backward_names_that_function_and_its_line():
    source = bptt_source(STEP_BACKWARD).replace("dx = da @ W_ih", "dx = da @ W_ih.T")
    message = message_of(grade_one(SB, STEP_BACKWARD, source), "other sizes")
    assert message.startswith("`rnn_step_backward` raised RuntimeError")
    assert "<cell rnn_step_backward>" in message


def bptt_source(grade_id: str) -> str:
    return edit(grade_id)[grade_id]


# ---------------------------------------------------------------- verdicts separate right from wrong at any size

@cache
def namespace_of(name: str) -> dict:
    """Namespaces shared by the examples of the property test."""
    return solution_namespace(A, {"reference": None, "no carry": NO_CARRY}[name])


@settings(max_examples=15, deadline=None, database=None, derandomize=True)
@given(T=st.integers(2, 5), N=st.integers(1, 4), I=st.integers(1, 5), H=st.integers(1, 5), seed=st.integers(0, 2**16))
def test_sequence_backward_case_passes_the_reference_and_names_the_uncarried_gradient(T, N, I, H, seed):
    case = bptt.sequence_backward_case("property", bptt.sequence_inputs(seed, T=T, N=N, I=I, H=H))
    assert case.verdict(inline.run_call_in_process(namespace_of("reference"), case.call)) is None
    message = case.verdict(inline.run_call_in_process(namespace_of("no carry"), case.call))
    assert message is not None and "not carried back" in message


def test_the_numeric_reference_agrees_with_autograd_and_rejects_a_wrong_oracle():
    from autograder.checks.hidden import bptt as references

    inputs = bptt.step_inputs(5, N=2, I=3, H=2)
    oracle = references.step_gradients(*inputs)
    numeric = references.numeric_reference(references.step_forward_reference, bptt.STEP_GRADS, list(inputs[:6]),
                                           inputs[6].double(), oracle)
    assert all((a - b).abs().max() < bptt.NUMERIC_ATOL for a, b in zip(oracle, numeric))
    with pytest.raises(AssertionError, match="grader error"):
        references.numeric_reference(references.step_forward_reference, bptt.STEP_GRADS, list(inputs[:6]),
                                     inputs[6].double(), [g * 1.01 for g in oracle])


def test_the_backward_tolerance_is_tight_enough_to_catch_a_float32_intermediate():
    case = bptt.step_backward_case("float64", bptt.step_inputs(6))
    source = bptt_source(STEP_BACKWARD).replace("da = dh_next * (1 - h_next ** 2)",
                                                "da = (dh_next * (1 - h_next ** 2)).float().double()")
    namespace = solution_namespace(A, function(STEP_BACKWARD, source))
    message = case.verdict(inline.run_call_in_process(namespace, case.call))
    assert message is not None and "(allowed 1e-10)" in message


def test_inputs_modified_by_the_backward_pass_are_reported():
    source = bptt_source(SEQ_BACKWARD).replace("rnn_step_backward(dh_all[t] + dh_prev, cache[t])",
                                               "rnn_step_backward(dh_all[t].add_(dh_prev), cache[t])")
    result = grade_one(QB, SEQ_BACKWARD, source)
    assert [c.name for c in result.cases if not c.passed] == ["inputs unchanged"]
    assert "modified one of its input tensors in place" in message_of(result, "inputs unchanged")


# ---------------------------------------------------------------- the notebook's text

def test_the_notebook_lays_out_bptt_in_five_numbered_steps_in_english_and_chinese():
    import json
    import re

    from conftest import ROOT

    from autograder import notebook
    from autograder.authoring import release

    cells = json.loads((ROOT / "solutions" / A / f"{A}.ipynb").read_text(encoding="utf-8"))["cells"]
    ids = [notebook.grade_id(c) for c in cells]
    steps = cells[ids.index("md_bptt_steps")]
    assert ids.index("md_bptt") < ids.index("md_bptt_steps") < ids.index("md_step_forward")  # before Part 1
    english, chinese = "".join(steps["source"]), release.translation(steps, "zh")
    for text, words in ((english, ("Unroll", "loss", "last time step", "W_{hh}", "vanish", "explode", "sum",
                                   "detached")),
                        (chinese, ("展开", "损失", "最后一个时间步", "W_{hh}", "消失", "爆炸", "和", "分离"))):
        numbered = re.findall(r"^(\d)\. ", text, re.M)
        assert numbered == ["1", "2", "3", "4", "5"], numbered
        assert all(word in text for word in words), [word for word in words if word not in text]
    assert "通过时间的反向传播" in chinese and "\\sum_{t=1}^{T} E_t" in english and "\\sum_{t=1}^{T} E_t" in chinese
