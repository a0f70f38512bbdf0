"""The recurrent checks (01_rnn, 02_lstm, 03_gru) and their shared verdicts speak Chinese under zh_CN.

Each message comes from the real path: a buggy solution graded in process, its verdicts, hints and titles,
once in Chinese and once in English. The Chinese keeps every name, shape and number of the English; the
English is the source text, unchanged; the case names (keys that hints and results.json match on) stay English.
"""

from __future__ import annotations

import re

import pytest
from conftest import (
    chinese,
    edit_cell,
    failing_message,
    graded_in,
    released_solution_cells,
)

from autograder import i18n
from autograder.checks import answers, gru, rnn
from autograder.checks.base import Call, Case, check_tensor, expect_raises
from autograder.wire import Outcome

RNN_CELL, RNN_FORWARD = "rnn_cell_forward", "rnn_forward"
LSTM_CELL = "lstm_cell_forward"
BIDI = "bidirectional_gru_forward"


def graded(lang: str, assignment: str, group_id: str, overrides: dict[str, str] | None = None,
           include_hidden: bool = False):
    return graded_in(lang, assignment, group_id, overrides, include_hidden)


message = failing_message


def test_a_named_lstm_mistake_is_reported_in_chinese_with_its_names_and_numbers():
    bug = edit_cell("02_lstm", LSTM_CELL, ("output_gate * torch.tanh(c_next)", "output_gate * c_next"))
    zh = message(graded("zh_CN", "02_lstm", "lstm_cell_forward_values", bug), "random weights, biases and state")
    en = message(graded("en", "02_lstm", "lstm_cell_forward_values", bug), "random weights, biases and state")
    assert en.startswith("h_next differs from the reference: max abs error ")
    assert en.endswith(" — it matches h_next = o * c_next, without tanh on the cell state")
    chinese(zh)
    assert "与参考结果不一致" in zh and "细胞状态上漏掉了 tanh" in zh and "h_next = o * c_next" in zh
    assert re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", zh) == re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", en)


def test_permuted_axes_are_reported_in_chinese_with_the_same_shapes():
    bug = edit_cell("01_rnn", RNN_FORWARD, ("output = layer_input.transpose(0, 1) if batch_first else layer_input",
                                            "output = layer_input.transpose(0, 1)"))
    en = message(graded("en", "01_rnn", "rnn_forward_shape", bug), "time-major")
    zh = message(graded("zh_CN", "01_rnn", "rnn_forward_shape", bug), "time-major")
    assert en == ("output has shape (3, 5, 6); expected (T, N, H) = (5, 3, 6) — the axes look permuted: "
                  "you have (N, T, H)")
    assert zh == "output 的形状为 (3, 5, 6)；应为 (T, N, H) = (5, 3, 6)——维度的顺序似乎被打乱了：你的是 (N, T, H)"


def test_a_stub_not_written_yet_says_so_in_chinese_and_its_group_title_and_hint_follow():
    stubs = released_solution_cells("01_rnn")
    zh = graded("zh_CN", "01_rnn", "rnn_cell_forward_values", {RNN_CELL: stubs[RNN_CELL]})
    en = graded("en", "01_rnn", "rnn_cell_forward_values", {RNN_CELL: stubs[RNN_CELL]})
    assert message(en, "tanh") == "`rnn_cell_forward` is not implemented yet (it raises NotImplementedError)"
    assert message(zh, "tanh") == "`rnn_cell_forward` 还没有实现（会抛出 NotImplementedError）"
    assert en.title == "rnn_cell_forward: values vs nn.RNNCell"
    assert zh.title == "rnn_cell_forward：数值与 nn.RNNCell 对比"
    assert [c.name for c in zh.cases] == [c.name for c in en.cases]  # case names are keys: never translated


def test_a_forward_hint_is_given_in_chinese():
    bug = edit_cell("02_lstm", "lstm_forward",
                    ("    if state_0 is None:\n        h_0 = c_0 = x.new_zeros(len(layers), batch, hidden_size)\n"
                     "    else:\n        h_0, c_0 = state_0\n", "    h_0, c_0 = state_0\n"))
    en = graded("en", "02_lstm", "lstm_forward_values", bug)
    zh = graded("zh_CN", "02_lstm", "lstm_forward_values", bug)
    assert en.hint == "state_0=None means h_0 and c_0 are zeros: make them with x.new_zeros((L, N, H))"
    assert zh.hint == "state_0=None 表示 h_0 和 c_0 全为零：用 x.new_zeros((L, N, H)) 创建"
    assert chinese(message(zh, "state_0=None")).startswith("`lstm_forward` 抛出了 ")


def test_the_rnn_cell_hint_and_shapes_messages_are_chinese():
    with i18n.language("zh_CN"):
        hint = rnn.cell_hint({"only x": "wrong"})
        params = rnn.params_hint({"RNN(4, 6, bidirectional=True)": "wrong"})
    assert "x @ W_ih.T" in chinese(hint) and "(H, I)" in hint
    assert "2 * hidden_size" in chinese(params)

    case = rnn.shapes_case("batch_first", 20, 50, 2, 100, 32, batch_first=True)
    wrong = {"input": (100, 32, 20), "h_0": (2, 32, 50), "output": (100, 32, 50), "h_n": (2, 32, 50)}
    with i18n.language("zh_CN"):
        zh = case.verdict(Outcome("ok", value=wrong))
    with i18n.language("en"):
        en = case.verdict(Outcome("ok", value=wrong))
    assert en == ("rnn_shapes(20, 50, 2, 100, 32) with batch_first=True['input'] is (100, 32, 20); "
                  "expected (32, 100, 20)")
    assert zh == "rnn_shapes(20, 50, 2, 100, 32)（batch_first=True）['input'] 为 (100, 32, 20)；应为 (32, 100, 20)"


def test_a_bidirectional_mistake_recorded_by_its_english_key_is_named_in_chinese():
    bug = edit_cell("03_gru", BIDI, ("[h_n_fwd, h_n_bwd]", "[h_n_bwd, h_n_fwd]"))
    zh = message(graded("zh_CN", "03_gru", "bidirectional_gru_forward_values", bug), "random weights, biases and h_0")
    en = message(graded("en", "03_gru", "bidirectional_gru_forward_values", bug), "random weights, biases and h_0")
    assert en.endswith(" — it matches " + gru.BIDI_MISTAKES["h_n_swapped"])
    assert chinese(zh).endswith("——这与以下错误的结果一致：h_n 的两半对调了；h_n[0] 是前向方向，h_n[1] 是后向方向")


def test_shared_verdicts_of_base_in_chinese_and_english():
    raises = expect_raises(RNN_CELL, "ValueError", "TypeError", why="an unknown nonlinearity is a mistake")
    returned = Outcome("ok", value=None)
    with i18n.language("zh_CN"):
        zh = raises(returned)
        dtype = check_tensor(_tensor("float32"), "h_next", shape=(3, 6), dtype=_dtype("float64"))
    with i18n.language("en"):
        en = raises(returned)
    assert en == ("`rnn_cell_forward` returned instead of raising ValueError or TypeError — an unknown "
                  "nonlinearity is a mistake")
    assert zh.startswith("`rnn_cell_forward` 正常返回了，但应抛出 ValueError 或 TypeError——")
    assert "float32" in chinese(dtype) and "float64" in dtype and "dtype=x.dtype" in dtype


def test_a_case_only_the_grader_decides_says_so_in_chinese():
    with i18n.language("zh_CN"), pytest.raises(answers.NotShipped, match="由评分器计算") as raised:
        answers._answer("no_such_module", "cell_reference", (), {})
    assert "cell_reference" in str(raised.value)


def test_case_verdicts_follow_the_language_current_when_they_run():
    case: Case = next(c for c in rnn.cell_value_cases() if c.name == "inputs unchanged")  # built once, judged twice
    outcome = Outcome("ok", value=None, args=None)
    with i18n.language("zh_CN"):
        zh = case.verdict(outcome)
    with i18n.language("en"):
        en = case.verdict(outcome)
    assert en == "`rnn_cell_forward` did not return its arguments for inspection"
    assert zh == "`rnn_cell_forward` 没有把它的参数交回以供检查"
    assert isinstance(case.call, Call)


def _dtype(name: str):
    import torch

    return getattr(torch, name)


def _tensor(dtype: str):
    import torch

    return torch.zeros(3, 6, dtype=_dtype(dtype))
