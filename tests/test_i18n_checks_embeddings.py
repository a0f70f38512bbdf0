"""The 05_embeddings checks and the probe's own messages speak Chinese under zh_CN.

Each message comes from the real path: a buggy solution graded in process (the probe's recipes and device
watch included), a cell run by the probe's cell runner, once in Chinese and once in English. The Chinese
keeps every name, list, shape and number of the English; the English is the source text, unchanged; the
case names (keys that hints and results.json match on) stay English.
"""

from __future__ import annotations

import re

import pytest
import torch
from conftest import chinese, edit_cell, failing_message, function, graded_in

from autograder import checks, i18n
from autograder.checks import embeddings
from autograder.probe import execute
from autograder.probe.recipes.embeddings import ListVocab

A = "05_embeddings"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def graded(lang: str, group_id: str, overrides: dict[str, str] | None = None, drop: str | None = None):
    return graded_in(lang, A, group_id, overrides, drop=drop)


message = failing_message


def both(group_id: str, case_name: str, overrides: dict[str, str] | None = None, drop: str | None = None):
    en, zh = (graded(lang, group_id, overrides, drop) for lang in ("en", "zh_CN"))
    assert [c.name for c in zh.cases] == [c.name for c in en.cases]  # case names are keys: never translated
    return message(en, case_name), chinese(message(zh, case_name))


def test_a_whitespace_only_tokenizer_is_named_in_chinese_with_the_same_tokens():
    bug = edit_cell(A, "basic_english_tokenize_solution", ("    for pattern, replacement in substitutions:\n"
                                                           "        line = re.sub(pattern, replacement, line)\n", ""))
    en, zh = both("basic_english_tokenize", "punctuation becomes tokens", bug)
    assert en == ("basic_english_tokenize('Hello, World. (Really?) Yes!') returned ['hello,', 'world.', '(really?)', "
                  "'yes!']; expected ['hello', ',', 'world', '.', '(', 'really', '?', ')', 'yes', '!'] — it matches "
                  "splitting on whitespace only; punctuation must be cut off into tokens of its own (basic_english "
                  "puts spaces around . , ( ) ! ? and ')")
    assert "只按空白切分" in zh and "basic_english_tokenize('Hello, World. (Really?) Yes!')" in zh
    assert "['hello,', 'world.', '(really?)', 'yes!']" in zh and "'really', '?', ')', 'yes', '!']" in zh


def test_vocabulary_mistakes_and_notes_are_in_chinese():
    bug = edit_cell(A, "build_vocab_solution", ("count >= min_freq", "count > min_freq"))
    en, zh = both("build_vocab", "min_freq=2 keeps the tokens seen twice", bug)
    assert en.endswith(" — the tokens that occur exactly min_freq=2 times are missing: keep every token with "
                       "count >= min_freq")
    assert "恰好出现 min_freq=2 次的词元缺失了" in zh and "count >= min_freq" in zh
    assert "min_freq=2" in zh and "'<unk>', '<pad>', 'the', 'cat', 'sat', 'dog', 'on'" in zh

    no_default = edit_cell(A, "vocab_solution", ("self._stoi.get(token, self._default_index)", "self._stoi.get(token)"))
    en, zh = both("vocab", "set_default_index: unknown words get it", no_default)
    steps = "v.set_default_index(0); v['dog']; v.lookup_indices(['dog', 'cat']); v.get_default_index()"
    assert en.startswith("`Vocab.__getitem__` raised KeyError: ")
    assert en.endswith(f"\nwhile running: {steps} (an unknown word gives the default index)")
    assert zh.endswith(f"\n当时正在运行：{steps}（未知词应得到默认索引）")


def test_a_device_mix_seen_by_the_probe_is_reported_in_chinese():
    bug = function("one_hot_solution", "def one_hot(indices, num_classes):\n"
                                       "    return torch.eye(num_classes)[indices].to(indices.device)\n")
    en, zh = both("one_hot", "meta device", bug)
    assert en.startswith("`one_hot` mixes devices: indexing (t[...]) combined a CPU tensor of shape (10, 10) with "
                         "tensors on the meta device — on a GPU")
    assert "`one_hot` 混用了设备" in zh and "形状为 (10, 10) 的 CPU 张量" in zh and "meta 设备" in zh
    assert "torch.arange(C, device=indices.device)" in zh and "每个新建的张量都要放在输入所在的设备上" in zh


def test_a_named_tensor_mistake_and_a_missing_raise_are_explained_in_chinese():
    cosine = edit_cell(A, "cosine_similarity_matrix_solution",
                       ("B_unit = B / B.norm(dim=1, keepdim=True).clamp_min(eps)", "B_unit = B"))
    en, zh = both("cosine_similarity_matrix", "rows of different lengths, (3, 4) against (5, 4)", cosine)
    assert en.endswith(" — it matches only the rows of A normalised; divide by the norms of both rows")
    assert "只对 A 的行做了归一化" in zh
    assert NUMBER.findall(zh.split("——")[0]) == NUMBER.findall(en.split(" — ")[0])

    lenient = edit_cell(A, "embedding_forward_solution",
                        ("    if indices.dtype not in (torch.int64, torch.int32):\n", "    if False:\n"),
                        ("if low < 0 or high >= num_embeddings:", "if False:"))
    en, zh = both("embedding_forward", "float indices raise TypeError", lenient)
    assert en.endswith("expected TypeError — indices must be integers: check indices.dtype and raise TypeError for "
                       "any other dtype")
    assert "索引必须是整数" in zh and "indices.dtype" in zh and "TypeError" in zh


def test_neighbours_and_analogies_in_chinese_keep_their_indices_and_words():
    with_itself = edit_cell(A, "nearest_neighbors_solution", ('    similarity[index] = float("-inf")\n', ""))
    en, zh = both("nearest_neighbors", "k=3 by cosine, not by dot product", with_itself)
    assert en == ("nearest_neighbors(weight, 0, 3) returned [0, 1, 2]; expected [1, 2, 3] — it includes the word "
                  "itself (index 0); leave it out, as it is always its own best match")
    assert zh == ("nearest_neighbors(weight, 0, 3) 返回了 [0, 1, 2]；应为 [1, 2, 3]——结果中包含了这个词本身（索引 0）；"
                  "应把它排除，因为它总是与自己最相似")

    own_inputs = edit_cell(A, "analogy_solution", ('    similarity[[ia, ib, ic]] = float("-inf")\n', ""))
    en, zh = both("analogy", "hot : warm :: cold : cool — the raw best match is cold itself", own_inputs)
    assert en.endswith(" — a, b and c themselves must be excluded from the answers")
    assert "analogy(weight, vocab, 'hot', 'warm', 'cold', k=1)" in zh and "a、b、c 本身必须从答案中排除" in zh


def test_a_missing_function_and_a_stand_in_vocabulary_speak_chinese():
    en, zh = both("analogy", "summer : hot :: winter : cold", drop="analogy")
    assert en == "`analogy` is not defined — was its cell deleted, renamed or not run?"
    assert zh == "`analogy` 没有定义——它所在的单元格是否被删除、重命名或没有运行？"
    for lang, expected in (("en", "index 7 is out of range for a vocabulary of 3 tokens"),
                           ("zh_CN", "索引 7 超出了范围：词表只有 3 个词元")):
        with i18n.language(lang), pytest.raises(IndexError) as raised:
            ListVocab(["a", "b", "c"]).lookup_tokens([7])
        assert str(raised.value) == expected


def test_titles_hints_and_by_hand_advice_are_in_chinese_and_group_ids_are_not():
    with i18n.language("zh_CN"):
        titles = {group.id: group.title for group in checks.groups(A).values()}
        hint = embeddings.build_vocab_hint({embeddings.ONE_PASS: "failed", embeddings.LEXICOGRAPHIC: None})
        advice = i18n._(embeddings.FORBIDDEN[embeddings.COSINE][0].advice)
    assert titles["analogy"] == "analogy：a 之于 b，如同 c 之于 ?"
    assert titles["embedding_backward"].startswith("embedding_backward：") and "F.embedding" in titles[
        "embedding_backward"]
    assert all(chinese(title) for title in titles.values())
    assert chinese(hint).startswith("token_lists 可能是生成器")
    assert "F.normalize" in chinese(advice)
    with i18n.language("en"):
        assert checks.groups(A)["analogy"].title == "analogy: a is to b as c is to ?"


def test_the_cell_runner_reports_a_timeout_and_an_exit_in_chinese():
    for lang in ("en", "zh_CN"):
        with i18n.language(lang):
            slow = execute.run_cell(3, "loop", "while True:\n    pass\n", execute.new_namespace(), seconds=0.2)
            ended = execute.run_cell(4, None, "import sys\nsys.exit(2)\n", execute.new_namespace())
            asked = execute.run_cell(5, None, "input('name? ')\n", execute.new_namespace())
        if lang == "en":
            assert slow.error == ("the cell ran past the 0.2 s limit and was interrupted; what it defined before "
                                  "that is kept")
            assert ended.error == "SystemExit (sys.exit(2) was called)"
            assert asked.error == "NoInputError: input() is not available while grading: there is no one to answer it"
        else:
            assert slow.error == "该单元格运行超过了 0.2 s 的时限，已被中断；它在此之前定义的内容仍然保留"
            assert ended.error == "SystemExit（调用了 sys.exit(2)）"
            assert chinese(asked.error).startswith("NoInputError: ") and "input()" in asked.error


def test_a_pair_of_the_wrong_length_is_explained_in_chinese():
    from autograder.probe import recipes

    for lang, expected in (("en", "`rnn_step_forward` should return a pair (h_next, cache); it returned a tuple of "
                                  "length 3"),
                           ("zh_CN", "`rnn_step_forward` 应返回一对值 (h_next, cache)；它返回的是长度为 3 的 tuple")):
        with i18n.language(lang), pytest.raises(recipes.InvalidReturn) as raised:
            recipes.pair((torch.zeros(1), None, None), "rnn_step_forward", "(h_next, cache)")
        assert raised.value.message == expected
