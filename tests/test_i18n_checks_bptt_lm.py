"""The 04_bptt and 06_language_model checks, their hidden references and their probe recipes speak Chinese under
zh_CN.

Each message comes from the real path: a buggy solution graded in process, a verdict on an outcome, a recipe
on what a stub returned; once in Chinese and once in English. The Chinese keeps the names and numbers of the
English; the English is the source text, unchanged; the case names stay English (hints, tests and results
match on them). The hints that used to look for English words in the messages decide the same in Chinese.
"""

from __future__ import annotations

import re

import pytest
import torch
from conftest import chinese, edit_cell, failing_message, function, graded_in
from test_bptt_checks import CLIP_IN_PLACE

from autograder import i18n
from autograder.checks import bptt
from autograder.checks import language_model as lm
from autograder.checks.hidden import bptt as hidden_bptt
from autograder.probe import recipes
from autograder.probe.recipes import bptt as bptt_recipes
from autograder.probe.recipes import language_model as lm_recipes
from autograder.wire import Outcome

NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?")
BPTT, LM = "04_bptt", "06_language_model"
STEP_BACKWARD, LOSS, CLIP = "rnn_step_backward", "sequence_cross_entropy", "clip_grad_norm"
SB, LOSS_G, CLIP_G = "rnn_step_backward_gradients", "sequence_cross_entropy_values", "clip_grad_norm_values"



def graded(lang: str, group_id: str, overrides: dict[str, str], include_hidden: bool = False):
    return graded_in(lang, BPTT, group_id, overrides, include_hidden)


message = failing_message


def test_a_named_backward_mistake_is_reported_in_chinese_with_its_numbers_and_no_hint():
    bug = edit_cell(BPTT, STEP_BACKWARD, ("(1 - h_next ** 2)", "(1 - h_prev ** 2)"))
    en_result, zh_result = graded("en", SB, bug), graded("zh_CN", SB, bug)
    case = "random inputs, weights and upstream gradient"
    en, zh = message(en_result, case), message(zh_result, case)
    assert en.startswith("dx differs from the reference (autograd): max abs error ")
    assert en.endswith(" — it matches the tanh derivative taken at the wrong state, 1 − h_prev²; it is 1 − h_next², "
                       "at the step's own output")
    chinese(zh)
    assert zh.startswith("dx 与参考结果（autograd）不一致：最大绝对误差 ")
    assert "tanh 的导数取在了错误的状态上" in zh and "1 − h_prev²" in zh and "1 − h_next²" in zh
    assert NUMBER.findall(zh) == NUMBER.findall(en)
    # A named mistake explains itself, in either language: no hint.
    assert en_result.hint is None and zh_result.hint is None
    assert [c.name for c in zh_result.cases] == [c.name for c in en_result.cases]  # case names stay English


def test_an_unexplained_wrong_gradient_gets_the_grad_check_hint_in_chinese():
    bug = edit_cell(BPTT, STEP_BACKWARD, ("(1 - h_next ** 2)", "(1 - torch.tanh(h_next) ** 2)"))
    en, zh = graded("en", SB, bug).hint, graded("zh_CN", SB, bug).hint
    assert en == ("check each gradient on a tiny input with the notebook's `grad_check` helper: the first one that "
                  "disagrees with the numeric gradient shows which formula to revisit")
    assert "`grad_check`" in chinese(zh) and "数值梯度" in zh


def test_a_bias_gradient_not_summed_says_so_in_chinese_and_gets_no_hint():
    bug = edit_cell(BPTT, STEP_BACKWARD, ("db_ih = da.sum(dim=0)", "db_ih = da"))
    en_result, zh_result = graded("en", SB, bug), graded("zh_CN", SB, bug)
    case = "random inputs, weights and upstream gradient"
    en, zh = message(en_result, case), message(zh_result, case)
    assert en.startswith("db_ih has shape (3, 6); expected (H) = (6,) — sum da over the batch axis")
    assert "db_ih" in chinese(zh) and "(3, 6)" in zh and "(6,)" in zh and "沿批量维求和" in zh
    assert en_result.hint is None and zh_result.hint is None  # a wrong shape explains itself


def test_overflowing_logits_get_the_log_sum_exp_advice_in_chinese():
    bug = edit_cell(BPTT, LOSS, ("log_probs = torch.log_softmax(logits, dim=-1)",
                                 "log_probs = logits - logits.exp().sum(-1, keepdim=True).log()"))
    case = "large logits (+1000): subtract the maximum"
    en = message(graded("en", LOSS_G, bug, include_hidden=True), case)
    zh = message(graded("zh_CN", LOSS_G, bug, include_hidden=True), case)
    assert " contains inf or NaN (first at index " in en
    assert en.endswith(" — exp() overflows for large logits: subtract each position's largest logit before "
                       "exponentiating (the log-sum-exp trick), or use torch.log_softmax")
    assert "inf 或 NaN" in chinese(zh) and "溢出" in zh and "log-sum-exp" in zh and "torch.log_softmax" in zh
    assert NUMBER.findall(zh) == NUMBER.findall(en)


def test_clipping_in_place_is_told_to_return_new_tensors_in_chinese():
    bug = function(CLIP, CLIP_IN_PLACE)
    en = message(graded("en", CLIP_G, bug), "inputs unchanged")
    zh = message(graded("zh_CN", CLIP_G, bug), "inputs unchanged")
    assert "modified one of its input tensors in place" in en
    assert en.endswith(" — return new tensors g * coefficient; do not scale the gradients with g.mul_()")
    assert "`clip_grad_norm`" in chinese(zh) and "原地" in zh and "g * coefficient" in zh and "g.mul_()" in zh


def test_the_backward_recipe_says_in_chinese_what_a_stub_returned_instead_of_its_gradients():
    names = bptt.STEP_GRADS
    for lang, expected in (("en", "`rnn_step_backward` should return a tuple of 6 gradients (dx, dh_prev, dW_ih, "
                                  "dW_hh, db_ih, db_hh); it returned a tuple of length 2"), ("zh_CN", None)):
        with i18n.language(lang), pytest.raises(recipes.InvalidReturn) as raised:
            bptt_recipes.gradients((1, 2), STEP_BACKWARD, names)
        if expected:
            assert raised.value.message == expected
        else:
            text = chinese(raised.value.message)
            assert "`rnn_step_backward`" in text and "6" in text and "dx, dh_prev, dW_ih, dW_hh, db_ih, db_hh" in text
            assert "tuple" in text and "2" in text


def test_the_hidden_oracle_check_speaks_chinese():
    inputs = bptt.step_inputs(22, N=2, I=3, H=2)
    wrong_oracle = [torch.zeros_like(t, dtype=torch.float64) for t in inputs[:6]]
    for lang in ("en", "zh_CN"):
        with i18n.language(lang), pytest.raises(AssertionError) as raised:
            hidden_bptt.numeric_reference(hidden_bptt.step_forward_reference, bptt.STEP_GRADS, list(inputs[:6]),
                                          inputs[6].double(), wrong_oracle)
        text = str(raised.value)
        if lang == "en":
            assert text.startswith("grader error: the autograd oracle disagrees with central differences: dx differs "
                                   "from the reference: max abs error ")
        else:
            assert text.startswith("评分器错误：") and "dx 与参考结果不一致" in text


def test_training_timeouts_read_in_chinese_whatever_language_the_limit_message_is_in():
    case = lm.grading_run_case()
    with i18n.language("zh_CN"):
        whole = case.verdict(Outcome("timeout", message="`train_char_lm`：调用超过了整份提交 180 秒的时限，已被终止"))
        per_call = case.verdict(Outcome("timeout", message="`train_char_lm`：调用超过了 60 秒的时限，已被终止"))
        english_limit = case.verdict(Outcome("timeout", message="`train_char_lm` ran past the 60 s limit and was "
                                                                "stopped"))
    assert chinese(whole).startswith("训练超过了整份提交 180 秒的时间限制") and "400" in whole
    assert chinese(per_call).startswith("训练运行超过了 60 秒") and f"{lm.REFERENCE_SECONDS} 秒" in per_call
    assert english_limit == per_call
    with i18n.language("en"):
        en = case.verdict(Outcome("timeout", message="`train_char_lm`: the call ran past the 60 s limit and was "
                                                     "stopped"))
    assert en.startswith(f"training ran past 60 s and was stopped (the reference takes about {lm.REFERENCE_SECONDS} "
                         "s for these 400 steps on one CPU thread) — does the loop stop after `steps` steps")


def test_a_wrong_sample_is_reported_in_chinese_with_its_setting():
    case = lm.sample_case("greedy (temperature 0)", "", 12, 0.0, 0)
    outcome = Outcome("ok", value={"text": "zzz"})
    with i18n.language("en"):
        en = case.verdict(outcome)
    with i18n.language("zh_CN"):
        zh = case.verdict(outcome)
    assert en.startswith("`sample` returned 'zzz'; expected '")
    assert en.endswith("(prefix '', max_len 12, temperature 0, generator seeded with 0) — at temperature 0 every step "
                       "takes the argmax of the logits and draws nothing from the generator")
    assert chinese(zh).startswith("`sample` 返回了 'zzz'；应为 '")
    assert "max_len 12" in zh and "温度 0" in zh and "argmax" in zh
    assert NUMBER.findall(zh) == NUMBER.findall(en)


def test_a_named_sampling_mistake_is_translated():
    case = lm.sample_case("temperature 1", "", 12, 1.0, 22)
    wrong = lm.REF.sample_reference(lm.loaded_model(*lm.sample_model("bigram", lm.data.char_vocab())).eval(),
                                    lm.data.char_vocab(), "", 12, 1.0, 22, "no_state")
    outcome = Outcome("ok", value={"text": wrong})
    with i18n.language("en"):
        en = case.verdict(outcome)
    with i18n.language("zh_CN"):
        zh = case.verdict(outcome)
    assert en.endswith(" — it matches every new character fed from a fresh state; carry the state from one step to "
                       "the next")
    assert "全新的状态" in chinese(zh) and repr(wrong) in zh


def test_what_the_language_model_recipes_send_back_reads_in_chinese():
    with i18n.language("en"):
        assert lm_recipes._number(torch.zeros(3)) == "a Tensor of shape (3,)"
        assert lm_recipes._losses([1.0, "x"]) == "a list whose item 1 is a str"
    with i18n.language("zh_CN"):
        described = lm_recipes._number(torch.zeros(3))
        losses = lm_recipes._losses([1.0, "x"])
        case = lm.perplexity_case("LSTM, three batches, the last one shorter",
                                  lm.perplexity_inputs(50, "lstm", 36, 3, 4))
        verdict = case.verdict(Outcome("ok", value={"value": described}))
    assert "Tensor" in chinese(described) and "(3,)" in described
    assert "list" in chinese(losses) and "1" in losses and "str" in losses
    assert verdict.startswith("`perplexity` 返回了 ") and described in verdict and "float" in verdict


def test_group_titles_read_in_chinese_and_ids_stay():
    with i18n.language("zh_CN"):
        titles = {group.id: group.title for group in bptt.GROUPS + lm.GROUPS}
    assert "梯度" in titles["rnn_step_backward_gradients"] and "autograd" in titles["rnn_step_backward_gradients"]
    assert "困惑度" in titles["train_char_lm_perplexity"]
    with i18n.language("en"):
        assert bptt.GROUPS[1].title == "rnn_step_backward: gradients vs autograd"
        assert lm.GROUPS[-1].title == "sample: the same string as the reference with the same generator"
