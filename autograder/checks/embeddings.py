"""Checks for 05_embeddings: the English and the Chinese tokenizer, vocabulary, one-hot, embedding lookup and
its gradient, cosine similarity, nearest neighbours and analogies.

Where torch has an oracle the checks use it in float64: `F.one_hot`, `F.embedding` and its autograd
gradient, `F.cosine_similarity`. The tokenizers, the vocabulary, nearest neighbours and analogies have
none, and this module ships to students with the public checks, so their public cases carry their
answers as data: worked out by hand, on hand-built vectors where vectors are involved, and compared
with torchtext in tests/test_torchtext_compat.py (the English tokenizer and the vocabulary) and with
the references in tests/test_embeddings_checks.py. Hidden cases compute their answers with the
references in checks/hidden/embeddings.py. A wrong answer is named by what it shares with a classic
mistake (split on whitespace only, a run of Chinese characters taken as one word, ties broken by first
occurrence, the word itself among its neighbours, ...), which takes no reference to see.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import torch

from autograder.checks import answers
from autograder.checks.base import (
    FORM,
    VALUE,
    Call,
    Case,
    CheckGroup,
    Outcome,
    check_tensor,
    describe,
    expect_raises,
    failure_of_call,
    randn,
    seeded,
)
from autograder.checks.recurrent import unchanged_case
from autograder.i18n import N_, _
from autograder.judge import byhand

REF = answers.references("embeddings")  # references and mistake models: grading side only

TOKENIZE = "basic_english_tokenize"
CHINESE = "chinese_tokenize"
VOCAB = "Vocab"
BUILD = "build_vocab"
ONE_HOT = "one_hot"
FORWARD = "embedding_forward"
BACKWARD = "embedding_backward"
COSINE = "cosine_similarity_matrix"
NEIGHBORS = "nearest_neighbors"
ANALOGY = "analogy"

DEFAULT_SPECIALS = ("<unk>", "<pad>")


def _short(value: Any, limit: int = 70) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _with_reason(message: str, reason: str | None) -> str:
    """`message`, followed by what the wrong answer has in common with a classic mistake (where there is one)."""
    if not reason:
        return message
    # TRANSLATORS: a verdict, then what the wrong answer has in common with a classic mistake.
    return _("{message} — {reason}").format(message=message, reason=reason)


# ---------------------------------------------------------------- basic_english_tokenize

# (case name, line, the tokens torchtext's get_tokenizer("basic_english") gives for it)
TOKENIZE_EXAMPLES = [
    ("torchtext's own example", "You can now install TorchText using pip!",
     ["you", "can", "now", "install", "torchtext", "using", "pip", "!"]),
    ("punctuation becomes tokens", "Hello, World. (Really?) Yes!",
     ["hello", ",", "world", ".", "(", "really", "?", ")", "yes", "!"]),
    ("apostrophes split off, double quotes dropped", 'She said "don\'t" twice.',
     ["she", "said", "don", "'", "t", "twice", "."]),
    ("<br />, semicolons and colons become spaces", "One<br />two; three: four",
     ["one", "two", "three", "four"]),
    ("runs of whitespace", "  tabs\tand\nnewlines   ", ["tabs", "and", "newlines"]),
    ("the empty line", "", []),
    ("hyphens and other symbols stay inside words", "State-of-the-art costs $3.50 & more",
     ["state-of-the-art", "costs", "$3", ".", "50", "&", "more"]),
]


def tokenizer_mistake(line: str, got: list[str], expected: list[str]) -> str:
    """What a wrong token list has in common with a classic tokenizer mistake (see `_with_reason`)."""
    if [token.lower() for token in got] == expected:
        return _("it matches the right tokens without lowercasing: basic_english lowercases the line first")
    if got in (line.split(), line.lower().split()):
        return _("it matches splitting on whitespace only; punctuation must be cut off into tokens of its "
                 "own (basic_english puts spaces around . , ( ) ! ? and ')")
    joined = " ".join(got)
    if '"' in joined:
        return _('double quotes " are removed, not kept')
    if "<br" in joined:
        return _("the HTML line break <br /> is replaced by a space")
    if any(token in (";", ":") for token in got):
        return _("; and : are replaced by spaces, not kept as tokens")
    for position, (mine, theirs) in enumerate(zip(got, expected)):
        if mine != theirs:
            return _("first difference at token {position}: {got} instead of {expected}").format(
                position=position, got=repr(mine), expected=repr(theirs))
    return _("{got} tokens instead of {expected}").format(got=len(got), expected=len(expected))


def token_list_case(stub: str, name: str, line: str, expected: list[str],
                    mistake: Callable[[str, list[str], list[str]], str]) -> Case:
    """`stub(line)` must return `expected`; a wrong list is told what it has in common with a classic `mistake`."""
    shown = f"{stub}({_short(line, 50)})"

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, stub)
        if problem:
            return problem
        got = outcome.value
        if not isinstance(got, list):
            return _("{call} returned {got}; expected a list of strings").format(call=shown, got=describe(got))
        strange = next((token for token in got if not isinstance(token, str)), None)
        if strange is not None:
            return _("{call} returned a list holding {item}; expected strings only").format(
                call=shown, item=describe(strange))
        if got == expected:
            return None
        message = _("{call} returned {got}; expected {expected}").format(
            call=shown, got=_short(got, 140), expected=_short(expected, 140))
        return _with_reason(message, mistake(line, got, expected))

    return Case(name, Call(stub, (line,)), verdict)


def tokenize_case(name: str, line: str, expected: list[str]) -> Case:
    return token_list_case(TOKENIZE, name, line, expected, tokenizer_mistake)


def tokenize_cases() -> list[Case]:
    return [tokenize_case(name, line, expected) for name, line, expected in TOKENIZE_EXAMPLES]


# ---------------------------------------------------------------- chinese_tokenize

# What a Chinese character is, for chinese_tokenize: a code point in a block of CJK ideographs (the notebook's
# table). Planes 2 and 3 hold CJK ideographs only (Extensions B and later, the compatibility supplement).
HAN_BLOCKS = (
    (0x4E00, 0x9FFF),  # CJK Unified Ideographs
    (0x3400, 0x4DBF),  # Extension A
    (0xF900, 0xFAFF),  # CJK Compatibility Ideographs
    (0x20000, 0x3FFFF),  # planes 2 and 3: Extension B and later
)
# The marks that are tokens of their own, one per character; the notebook's setup cell defines the same string.
CHINESE_PUNCTUATION = "，。！？、；：“”‘’（）《》〈〉【】「」『』…"


def is_chinese_character(ch: str) -> bool:
    return len(ch) == 1 and any(low <= ord(ch) <= high for low, high in HAN_BLOCKS)


def _stands_alone(ch: str) -> bool:
    """A character that chinese_tokenize makes a token of its own."""
    return is_chinese_character(ch) or (len(ch) == 1 and ch in CHINESE_PUNCTUATION)


# (case name, line, its tokens, worked out by hand from the notebook's rules; the reference agrees)
CHINESE_EXAMPLES = [
    ("the notebook's example", "我爱PyTorch！", ["我", "爱", "pytorch", "！"]),
    ("every Chinese character is a token", "循环神经网络", ["循", "环", "神", "经", "网", "络"]),
    ("English words and names inside Chinese text, lowercased", "RNN的隐藏状态h_t。",
     ["rnn", "的", "隐", "藏", "状", "态", "h_t", "。"]),
    ("Chinese punctuation, one token per mark", "“你好，”他说：（真的？）《论语》……",
     ["“", "你", "好", "，", "”", "他", "说", "：", "（", "真", "的", "？", "）", "《", "论", "语", "》", "…", "…"]),
    ("the text between Chinese characters follows basic_english", "学习率是0.01，batch大小为32。Don't stop!",
     ["学", "习", "率", "是", "0", ".", "01", "，", "batch", "大", "小", "为", "32", "。", "don", "'", "t", "stop",
      "!"]),
    ("whitespace, the full-width space too, separates and is dropped", " 你好\t世界\u3000LSTM  和 GRU\n",
     ["你", "好", "世", "界", "lstm", "和", "gru"]),
    ("English alone: basic_english's tokens", "Hello, World. (Really?)",
     ["hello", ",", "world", ".", "(", "really", "?", ")"]),
    ("Extension A characters, next to each other and to English", "㐀㐁是Extension A的前两个字",
     ["㐀", "㐁", "是", "extension", "a", "的", "前", "两", "个", "字"]),
    ("the empty line", "", []),
]


def _in_main_block(ch: str) -> bool:
    return 0x4E00 <= ord(ch) <= 0x9FFF


def _outside_main_block(token: str) -> str:
    """What to say of a token holding a Chinese character of another block than the main one."""
    ch = next(ch for ch in token if is_chinese_character(ch) and not _in_main_block(ch))
    return _("{char} (U+{code}) is a Chinese character too, outside the main block U+4E00–U+9FFF: check "
             "every block of the notebook's table").format(char=repr(ch), code=f"{ord(ch):04X}")


def chinese_mistake(line: str, got: list[str], expected: list[str]) -> str:
    """What a wrong token list has in common with a classic mistake of a Chinese tokenizer (see `_with_reason`)."""
    spaced = any(ch.isspace() for ch in line)
    if got == list(line) and (spaced or line != line.lower()) or got == list(line.lower()) and spaced:
        return _("it matches list(line): every character of the line, spaces and the letters of English words "
                 "included; only Chinese characters and punctuation marks are tokens of their own")
    blank = next((token for token in got if not token.strip()), None)
    if blank is not None:
        return _("it holds the whitespace token {token}: whitespace only separates tokens, and is dropped "
                 "(str.split() without an argument drops it)").format(token=repr(blank))
    if got in (line.split(), line.lower().split()):
        return _("it matches splitting on whitespace only; Chinese is written without spaces, so every Chinese "
                 "character and punctuation mark must be cut off as a token of its own")
    if [token.lower() for token in got] == expected:
        return _("it matches the right tokens without lowercasing: the text between Chinese characters is "
                 "tokenized as basic_english_tokenize does, which lowercases it")
    if got == [token for token in expected if token not in CHINESE_PUNCTUATION] != expected:
        return _("the Chinese punctuation marks are missing: each of them is a token of its own, as . and ! are "
                 "in basic_english")
    if got in ([ch for token in expected for ch in token], [ch for ch in line.lower() if not ch.isspace()]):
        return _("the English words are split into their letters: only Chinese characters are tokens of their "
                 "own; the text between them goes through basic_english_tokenize")
    merged = next((token for token in got if len(token) > 1 and all(map(is_chinese_character, token))), None)
    if merged is not None:
        if any(map(_in_main_block, merged)):
            return _("{token} is a run of Chinese characters taken as one word: without a segmenter we cannot tell "
                     "where Chinese words end, so every Chinese character is a token of its own").format(
                token=repr(merged))
        return _("{token} is a run of Chinese characters taken as one word: without a segmenter we cannot tell "
                 "where Chinese words end, so every Chinese character is a token of its own; or {other}").format(
            token=repr(merged), other=_outside_main_block(merged))
    for token in got:
        if len(token) > 1 and any(map(is_chinese_character, token)) and not any(map(_in_main_block, token)):
            return _outside_main_block(token)
    for token in got:
        alone = next((ch for ch in token if _stands_alone(ch)), None)
        if alone is not None and len(token) > 1:
            if is_chinese_character(alone):
                text = _("the Chinese character {char} is stuck to other text in {token}; it is a token of its "
                         "own, so cut the line on both sides of it")
            else:
                text = _("the Chinese punctuation mark {char} is stuck to other text in {token}; it is a token "
                         "of its own, so cut the line on both sides of it")
            return text.format(char=repr(alone), token=repr(token))
    for position, (mine, theirs) in enumerate(zip(got, expected)):
        if mine != theirs:
            return _("first difference at token {position}: {got} instead of {expected}").format(
                position=position, got=repr(mine), expected=repr(theirs))
    return _("{got} tokens instead of {expected}").format(got=len(got), expected=len(expected))


def chinese_case(name: str, line: str, expected: list[str]) -> Case:
    return token_list_case(CHINESE, name, line, expected, chinese_mistake)


def chinese_cases() -> list[Case]:
    return [chinese_case(name, line, expected) for name, line, expected in CHINESE_EXAMPLES]


# ---------------------------------------------------------------- Vocab: torchtext's API

Step = tuple[str, list]


def show_step(step: Step) -> str:
    """A step as the Python a student would write: len(v), "cat" in v, v["cat"], v.get_itos()."""
    name, args = step
    if name == "__len__":
        return "len(v)"
    if name == "__contains__":
        return f"{args[0]!r} in v"
    if name == "__getitem__":
        return f"v[{args[0]!r}]"
    return f"v.{name}({', '.join(_short(a, 60) for a in args)})"


def same_plain(got: Any, want: Any) -> bool:
    """Equal, and of the same plain types all the way down (True is not 1, a tuple is not a list)."""
    if type(got) is not type(want):
        return False
    if isinstance(want, list):
        return len(got) == len(want) and all(same_plain(g, w) for g, w in zip(got, want))
    if isinstance(want, dict):
        return set(got) == set(want) and all(same_plain(got[key], want[key]) for key in want)
    return got == want


def check_steps(owner: str, outcome: Outcome, steps: list[Step], expected: list,
                notes: dict[int, str] | None = None) -> str | None:
    """Each step's result against its expected value; `notes[i]` explains what step i is about (marked with
    N_, translated here)."""
    problem = failure_of_call(outcome, owner)
    if problem and outcome.status == "raised" and outcome.exception != "NotImplementedError":
        about = "; ".join(_(note) for note in dict.fromkeys((notes or {}).values()))
        ran = "; ".join(show_step(step) for step in steps)
        if about:
            return _("{problem}\nwhile running: {steps} ({about})").format(problem=problem, steps=ran, about=about)
        return _("{problem}\nwhile running: {steps}").format(problem=problem, steps=ran)
    if problem:
        return problem
    results = outcome.value
    if not isinstance(results, list) or len(results) != len(steps):
        return _("grader error: the recipe for `{owner}` returned {value}").format(owner=owner,
                                                                                   value=describe(results))
    for position, (step, got, want) in enumerate(zip(steps, results, expected)):
        if same_plain(got, want):
            continue
        note = (notes or {}).get(position)
        if type(got) is not type(want):
            fields = {"step": show_step(step), "got_type": describe(got), "got": _short(got),
                      "expected_type": describe(want), "expected": _short(want)}
            if note:
                return _("{step} returned {got_type}, {got}; expected {expected_type}, {expected} ({note})").format(
                    note=_(note), **fields)
            return _("{step} returned {got_type}, {got}; expected {expected_type}, {expected}").format(**fields)
        fields = {"step": show_step(step), "got": _short(got, 120), "expected": _short(want, 120)}
        if note:
            return _("{step} returned {got}; expected {expected} ({note})").format(note=_(note), **fields)
        return _("{step} returned {got}; expected {expected}").format(**fields)
    return None


def vocab_case(name: str, itos: list[str], steps: list[Step], notes: dict[int, str] | None = None) -> Case:
    """Vocab(itos), then `steps`; every expected value follows from itos and the steps (torchtext's API)."""
    expected = REF.expected_steps(itos, steps)
    call = Call(VOCAB, (list(itos), steps), recipe="embeddings.vocab_api")
    return Case(name, call, lambda outcome: check_steps(VOCAB, outcome, steps, expected, notes))


def raises_case(name: str, call: Call, owner: str, steps: list[Step], exception: str, why: str) -> Case:
    """The last step must raise `exception` (the steps before it must not); `why` is marked with N_."""

    def verdict(outcome: Outcome) -> str | None:
        if outcome.status == "raised" and outcome.exception == exception:
            return None
        if outcome.status == "raised" and outcome.exception != "NotImplementedError":
            return _("`{stub}` raised {message}; expected {step} to raise {exception} ({why})").format(
                stub=outcome.stub or owner, message=outcome.message, step=show_step(steps[-1]), exception=exception,
                why=_(why))
        problem = failure_of_call(outcome, owner)
        if problem:
            return problem
        returned = outcome.value[-1] if isinstance(outcome.value, list) and outcome.value else outcome.value
        return _("{step} returned {value}; expected it to raise {exception} ({why})").format(
            step=show_step(steps[-1]), value=_short(returned), exception=exception, why=_(why))

    return Case(name, call, verdict, kind=FORM)


VOCAB_ITOS = ["<unk>", "<pad>", "the", "cat", "sat", "on", "mat"]
NO_DEFAULT = N_("a new Vocab has no default index")


def vocab_cases() -> list[Case]:
    itos = VOCAB_ITOS
    unknown = [("__getitem__", ["dog"])]
    return [
        vocab_case("len(v)", itos, [("__len__", [])]),
        vocab_case('v["cat"] and v["<pad>"]', itos, [("__getitem__", ["cat"]), ("__getitem__", ["<pad>"])]),
        vocab_case('"cat" in v, "dog" not in v', itos, [("__contains__", ["cat"]), ("__contains__", ["dog"])]),
        vocab_case("lookup_indices", itos, [("lookup_indices", [["the", "cat", "sat", "on", "the", "mat"]])]),
        vocab_case("lookup_tokens", itos, [("lookup_tokens", [[3, 0, 6, 3]])]),
        vocab_case("get_itos", itos, [("get_itos", [])]),
        vocab_case("get_stoi", itos, [("get_stoi", [])]),
        vocab_case("no default index at first", itos, [("get_default_index", [])], {0: NO_DEFAULT}),
        raises_case("unknown word without a default index raises KeyError",
                    Call(VOCAB, (list(itos), unknown), recipe="embeddings.vocab_api"), VOCAB, unknown, "KeyError",
                    N_("there is no default index yet")),
        vocab_case("set_default_index: unknown words get it", itos,
                   [("set_default_index", [0]), ("__getitem__", ["dog"]), ("lookup_indices", [["dog", "cat"]]),
                    ("get_default_index", [])], {1: N_("an unknown word gives the default index")}),
        vocab_case("the default index does not make unknown words members", itos,
                   [("set_default_index", [0]), ("__contains__", ["dog"])],
                   {1: N_("the default index does not make an unknown word a member")}),
    ]


# ---------------------------------------------------------------- build_vocab

CORPUS = [  # counts: the 4; cat 3, sat 3; dog 2, on 2; a 1, mat 1, ran 1 — first occurrences not in lexicographic order
    ["the", "sat", "cat", "on"],
    ["the", "dog", "sat", "on", "the", "mat"],
    ["a", "cat", "ran"],
    ["the", "dog", "sat", "cat"],
]
CORPUS_WORDS = ["the", "cat", "sat", "dog", "on", "a", "mat", "ran"]


def vocab_mistake(got: list, expected: list, token_lists: list[list[str]], min_freq: int,
                  specials: tuple[str, ...], once: bool) -> str:
    """What a wrong get_itos() has in common with a classic build_vocab mistake (see `_with_reason`)."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    words = [token for token in expected if token not in specials]
    got_words = [token for token in got if token not in specials]
    if specials and got == words + list(specials):
        return _("the specials are at the end; they come first, in the order given")
    if specials and got[: len(specials)] != list(specials):
        return _("the vocabulary must start with the specials {specials}, in that order").format(
            specials=list(specials))
    if len(set(got)) != len(got):
        twice = sorted({token for token in got if got.count(token) > 1})
        return _("{tokens} appear more than once; a token that is also a special appears once, as the "
                 "special").format(tokens=twice)
    if once and not got_words and words:
        return _("token_lists was a one-pass iterable (like a generator) and no word was counted: "
                 "go through token_lists once")
    if sorted(got_words) == sorted(words):
        got_counts = [counts[token] for token in got_words]
        if got_counts == sorted(got_counts, reverse=True):
            first_seen = list(dict.fromkeys(token for tokens in token_lists for token in tokens))
            if got_words == sorted(words, key=lambda t: (-counts[t], first_seen.index(t))):
                return _("ties are broken by first occurrence (the order Counter.most_common keeps); "
                         "torchtext breaks ties between equal counts in lexicographic order")
            return _("tokens with equal counts must be in lexicographic order")
        if got_counts == sorted(got_counts):
            return _("the counts go up; the most frequent token comes first")
        return _("the words must be sorted by descending count")
    missing = set(words) - set(got_words)
    extra = set(got_words) - set(words)
    if missing and not extra and all(counts[t] == min_freq for t in missing):
        return _("the tokens that occur exactly min_freq={min_freq} times are missing: keep every token with "
                 "count >= min_freq").format(min_freq=min_freq)
    if extra and not missing and all(counts[t] == min_freq - 1 for t in extra):
        return _("tokens that occur only {count} times are included: min_freq={min_freq} means "
                 "count >= {min_freq}").format(count=min_freq - 1, min_freq=min_freq)
    return ""


def build_vocab_case(name: str, token_lists: list[list[str]], kwargs: dict, expected_itos: list[str],
                     once: bool = False) -> Case:
    steps: list[Step] = [("get_itos", [])]
    call = Call(BUILD, (token_lists, kwargs, steps), {"once": once}, recipe="embeddings.built_vocab")
    shown = f"build_vocab({_short(token_lists, 60)}{''.join(f', {k}={v!r}' for k, v in kwargs.items())})"
    min_freq = kwargs.get("min_freq", 1)
    specials = tuple(kwargs.get("specials", DEFAULT_SPECIALS))

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, BUILD)
        if problem:
            return problem
        (got,) = outcome.value
        if not isinstance(got, list) or not all(isinstance(token, str) for token in got):
            return _("v.get_itos() of {call} returned {got_type} {got}; expected a list of strings").format(
                call=shown, got_type=describe(got), got=_short(got))
        if got == expected_itos:
            return None
        message = _("v.get_itos() of {call} is {got}; expected {expected}").format(
            call=shown, got=_short(got, 140), expected=_short(expected_itos, 140))
        return _with_reason(message, vocab_mistake(got, expected_itos, token_lists, min_freq, specials, once))

    return Case(name, call, verdict)


def default_index_case(name: str, token_lists: list[list[str]], kwargs: dict, expected: int | None) -> Case:
    """get_default_index() and an unknown word's index after build_vocab: "<unk>"'s index where it is a special."""
    steps: list[Step] = [("get_default_index", []), ("__getitem__", ["never-seen-before"])]
    if expected is None:
        steps = steps[:1]
    call = Call(BUILD, (token_lists, kwargs, steps), recipe="embeddings.built_vocab")
    note = (N_("build_vocab sets the default index to the index of \"<unk>\"") if expected is not None
            else NO_UNK)
    values = [expected, expected][: len(steps)]
    return Case(name, call, lambda outcome: check_steps(BUILD, outcome, steps, values, {0: note, 1: note}))


NO_UNK = N_("without \"<unk>\" there is no default index")
LEXICOGRAPHIC = "default specials, ties in lexicographic order"
ONE_PASS = "token_lists is a one-pass iterable (like a generator)"


def build_vocab_cases() -> list[Case]:
    words = CORPUS_WORDS
    unknown: list[Step] = [("__getitem__", ["never-seen-before"])]
    return [
        build_vocab_case(LEXICOGRAPHIC, CORPUS, {}, ["<unk>", "<pad>"] + words),
        build_vocab_case("min_freq=2 keeps the tokens seen twice", CORPUS, {"min_freq": 2},
                         ["<unk>", "<pad>", "the", "cat", "sat", "dog", "on"]),
        build_vocab_case("min_freq=3", CORPUS, {"min_freq": 3}, ["<unk>", "<pad>", "the", "cat", "sat"]),
        build_vocab_case("specials first, in the order given", CORPUS, {"specials": ("<pad>", "<bos>", "<unk>")},
                         ["<pad>", "<bos>", "<unk>"] + words),
        build_vocab_case("a token that is also a special appears once, as the special",
                         [["<unk>", "cat", "<unk>"], ["cat", "dog"]], {}, ["<unk>", "<pad>", "cat", "dog"]),
        build_vocab_case("no specials", CORPUS, {"specials": ()}, words),
        build_vocab_case(ONE_PASS, CORPUS, {}, ["<unk>", "<pad>"] + words, once=True),
        default_index_case("the default index is <unk>'s", CORPUS, {}, 0),
        default_index_case("the default index follows <unk> to position 1", CORPUS,
                           {"specials": ("<pad>", "<unk>")}, 1),
        default_index_case("specials=() leaves no default index", CORPUS, {"specials": ()}, None),
        raises_case("specials=(): an unknown word raises KeyError",
                    Call(BUILD, (CORPUS, {"specials": ()}, unknown), recipe="embeddings.built_vocab"), BUILD,
                    unknown, "KeyError", NO_UNK),
    ]


# ---------------------------------------------------------------- the meta device

def device_call(stub: str, args: tuple, kwargs: dict | None, device: str) -> Call:
    """The call of a device case: off the CPU, through the recipe that watches which devices its ops mix (the meta
    device lets a CPU tensor be indexed or scattered into with meta tensors, which CUDA refuses)."""
    if device == "cpu":
        return Call(stub, args, kwargs or {})
    return Call(stub, (stub, *args), kwargs or {}, device=device, recipe="devices.watched")


def device_failure(outcome: Outcome, stub: str, device: str) -> tuple[str | None, Any]:
    """(the message, or None, and the value the stub returned) for a case built by `device_call`."""
    problem = failure_of_call(outcome, stub)
    if problem and device != "cpu" and outcome.status == "raised" and "device" in outcome.message:
        problem = f"{problem}\n{_(META_DEVICE)}"
    if problem or device == "cpu":
        return problem, outcome.value
    report = outcome.value
    if not isinstance(report, dict) or not isinstance(report.get("mixed"), list):
        return _("grader error: the device watch for `{stub}` returned {value}").format(
            stub=stub, value=describe(report)), None
    if report["mixed"]:
        if report.get("raised"):
            return _("`{stub}` mixes devices: {mix} (and then raised {raised}) — on a GPU that fails or leaves the "
                     "work on the CPU, and moving the result with .to(...) afterwards does not help. {advice}").format(
                stub=stub, mix=report["mixed"][0], raised=report["raised"], advice=_(META_DEVICE)), None
        return _("`{stub}` mixes devices: {mix} — on a GPU that fails or leaves the work on the CPU, and moving the "
                 "result with .to(...) afterwards does not help. {advice}").format(
            stub=stub, mix=report["mixed"][0], advice=_(META_DEVICE)), None
    return None, report.get("out")


META_DEVICE = N_("Make every new tensor on the inputs' device (torch.arange(C, device=indices.device), "
                 "x.new_zeros(...)); the grader runs your function on the meta device too, and on CUDA where there "
                 "is a GPU.")


# ---------------------------------------------------------------- one_hot

def index_dims(shape: tuple[int, ...], last: str) -> tuple[str, ...]:
    names = {1: ("N",), 2: ("N", "T"), 3: ("B", "N", "T")}.get(len(shape), tuple(f"d{i}" for i in range(len(shape))))
    return (*names, last)


def _dtype_name(got: Any) -> str | None:
    dtype = getattr(got, "dtype", None)
    return None if dtype is None else str(dtype).replace("torch.", "")


def one_hot_case(name: str, indices: torch.Tensor, num_classes: int, device: str = "cpu",
                 noncontiguous: bool = False) -> Case:
    expected = REF.one_hot_reference(indices, num_classes)
    shape = tuple(expected.shape)
    call = replace(device_call(ONE_HOT, (indices, num_classes), None, device), noncontiguous=noncontiguous)
    dims = index_dims(tuple(indices.shape), "C")

    def verdict(outcome: Outcome) -> str | None:
        problem, got = device_failure(outcome, ONE_HOT, device)
        if problem:
            return problem
        problem = check_tensor(got, "one_hot(...)", shape=shape, dtype=torch.float32, device=device, dims=dims)
        if problem and _dtype_name(got) not in (None, "float32") and tuple(got.shape) == shape:
            return _("one_hot(...) has dtype {dtype}; expected float32 — one-hot vectors are multiplied "
                     "with float weight matrices, so convert with .float()").format(dtype=_dtype_name(got))
        if problem or device == "meta":
            return problem
        return check_tensor(got, "one_hot(...)", shape=shape, dtype=torch.float32, values=expected, dims=dims)

    return Case(name, call, verdict, kind=FORM if device == "meta" else VALUE)


def one_hot_cases() -> list[Case]:
    return [
        one_hot_case("indices (5,) with repeats, C=7", torch.tensor([3, 0, 6, 3, 1]), 7),
        one_hot_case("indices (2, 4), C=10", torch.tensor([[1, 2, 4, 5], [4, 3, 2, 9]]), 10),
        one_hot_case("num_classes beyond the largest index: zero columns", torch.tensor([[0, 1, 2]]), 6),
        one_hot_case("meta device", torch.tensor([[1, 2, 4, 5], [4, 3, 2, 9]]), 10, device="meta"),
        unchanged_case("inputs unchanged", ONE_HOT, (torch.tensor([[2, 0, 1]]), 4)),
    ]


# ---------------------------------------------------------------- embedding_forward

# The classic mistakes' descriptions (check_tensor's "it matches ..."): the references key what each mistake
# produces by them (in a student bundle: the recorded answers), so they stay English keys; check_tensor translates
# them when it writes the message.
PADDING_ZEROED = N_("the padding row's output zeroed — padding_idx only keeps that row from being trained; "
                    "the forward pass returns weight[padding_idx] as it is")


def table(seed: int, V: int, D: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A random embedding table (every row, the padding row too, non-zero)."""
    return randn(seeded(seed), V, D, dtype=dtype)


def forward_value_case(name: str, indices: torch.Tensor, weight: torch.Tensor, padding_idx: int | None = None,
                       noncontiguous: bool = False) -> Case:
    expected = REF.forward_reference(indices, weight, padding_idx)
    mistakes = REF.forward_mistakes(indices, weight, padding_idx)
    kwargs = {} if padding_idx is None else {"padding_idx": padding_idx}
    call = Call(FORWARD, (indices, weight), kwargs, noncontiguous=noncontiguous)
    dims = index_dims(tuple(indices.shape), "D")

    def verdict(outcome: Outcome) -> str | None:
        return failure_of_call(outcome, FORWARD) or check_tensor(
            outcome.value, "output", shape=tuple(expected.shape), dtype=weight.dtype, values=expected, dims=dims,
            mistakes=mistakes)

    return Case(name, call, verdict)


def forward_shape_case(name: str, indices: torch.Tensor, weight: torch.Tensor, device: str = "meta",
                       padding_idx: int | None = None) -> Case:
    shape = (*indices.shape, weight.shape[1])
    kwargs = {} if padding_idx is None else {"padding_idx": padding_idx}
    dims = index_dims(tuple(indices.shape), "D")

    def verdict(outcome: Outcome) -> str | None:
        problem, got = device_failure(outcome, FORWARD, device)
        return problem or check_tensor(got, "output", shape=shape, dtype=weight.dtype, device=device, dims=dims)

    return Case(name, device_call(FORWARD, (indices, weight), kwargs, device), verdict, kind=FORM)


def forward_raises_case(name: str, indices: torch.Tensor, weight: torch.Tensor, exception: str, why: str) -> Case:
    """`why` is marked with N_; expect_raises translates it in the verdict."""
    return Case(name, Call(FORWARD, (indices, weight)), expect_raises(FORWARD, exception, why=why), kind=FORM)


FLOAT_INDICES = N_("indices must be integers: check indices.dtype and raise TypeError for any other dtype")
NEGATIVE_INDEX = N_("weight[-1] is the last row in Python and torch, but a negative word index is a bug in the "
                    "caller's data: raise IndexError for indices outside [0, V)")
INDEX_TOO_LARGE = N_("the table has V rows, so indices must lie in [0, V): raise IndexError otherwise")

COURSE_INDICES = torch.tensor([[1, 2, 4, 5], [4, 3, 2, 9]])


COURSE_EXAMPLE = "course example: (2, 4) indices into a (10, 3) table"
BAD_INDEX_CASES = ("float indices raise TypeError", "index V raises IndexError", "negative index raises IndexError")


def forward_cases() -> list[Case]:
    weight = table(50, 10, 3)
    float_indices, too_large, negative = BAD_INDEX_CASES
    return [
        forward_value_case(COURSE_EXAMPLE, COURSE_INDICES, weight),
        forward_value_case("indices (5,) with repeats", torch.tensor([6, 0, 6, 2, 5]), table(51, 7, 4)),
        forward_value_case("padding_idx=2: its row is returned as it is", torch.tensor([[2, 0, 1], [3, 2, 2]]),
                           table(52, 5, 6), padding_idx=2),
        forward_value_case("int32 indices", COURSE_INDICES.to(torch.int32), weight),
        forward_value_case("float32 table", COURSE_INDICES, table(53, 10, 3, torch.float32)),
        forward_shape_case("meta device", COURSE_INDICES, weight),
        forward_raises_case(float_indices, torch.tensor([[1.0, 2.0], [0.0, 3.0]]), weight, "TypeError", FLOAT_INDICES),
        forward_raises_case(too_large, torch.tensor([1, 10, 2]), weight, "IndexError", INDEX_TOO_LARGE),
        forward_raises_case(negative, torch.tensor([[1, 2], [-1, 3]]), weight, "IndexError", NEGATIVE_INDEX),
        unchanged_case("inputs unchanged", FORWARD, (COURSE_INDICES, table(54, 10, 3)), {"padding_idx": 4}),
    ]


# ---------------------------------------------------------------- embedding_backward

ASSIGNED = N_("each row's gradient written with = (g[indices] = grad_output), so a word that appears twice "
              "keeps only one of its gradients; they must be added (index_add_, or +=, one occurrence at a time)")
PADDING_TRAINED = N_("the padding row's gradient left in: with padding_idx set, row padding_idx gets no gradient "
                     "(all zeros), so padding never changes the table")


def backward_inputs(seed: int, shape: tuple[int, ...], V: int, D: int, dtype: torch.dtype = torch.float64,
                    indices: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    g = seeded(seed)
    if indices is None:
        indices = torch.randint(0, V, shape, generator=g)
    return indices, randn(g, *indices.shape, D, dtype=dtype), V


def backward_value_case(name: str, inputs: tuple, padding_idx: int | None = None, noncontiguous: bool = False) -> Case:
    indices, grad_output, V = inputs
    expected = REF.backward_reference(indices, grad_output, V, padding_idx)
    mistakes = REF.backward_mistakes(indices, grad_output, V, padding_idx)
    kwargs = {} if padding_idx is None else {"padding_idx": padding_idx}
    call = Call(BACKWARD, (indices, grad_output, V), kwargs, noncontiguous=noncontiguous)

    def verdict(outcome: Outcome) -> str | None:
        return failure_of_call(outcome, BACKWARD) or check_tensor(
            outcome.value, "grad_weight", shape=tuple(expected.shape), dtype=grad_output.dtype, values=expected,
            dims=("V", "D"), mistakes=mistakes)

    return Case(name, call, verdict)


def backward_shape_case(name: str, inputs: tuple, padding_idx: int | None = None, device: str = "meta") -> Case:
    indices, grad_output, V = inputs
    kwargs = {} if padding_idx is None else {"padding_idx": padding_idx}

    def verdict(outcome: Outcome) -> str | None:
        problem, got = device_failure(outcome, BACKWARD, device)
        return problem or check_tensor(got, "grad_weight", shape=(V, grad_output.shape[-1]), dtype=grad_output.dtype,
                                       device=device, dims=("V", "D"))

    return Case(name, device_call(BACKWARD, (indices, grad_output, V), kwargs, device), verdict, kind=FORM)


def backward_cases() -> list[Case]:
    return [
        backward_value_case("distinct indices; rows never looked up get zeros",
                            backward_inputs(60, (4,), 7, 3, indices=torch.tensor([5, 0, 3, 1]))),
        backward_value_case("course example: repeated indices accumulate",
                            backward_inputs(61, (2, 4), 10, 3, indices=COURSE_INDICES)),
        backward_value_case("padding_idx=2 gets no gradient",
                            backward_inputs(62, (2, 3), 5, 6, indices=torch.tensor([[2, 0, 1], [3, 2, 2]])),
                            padding_idx=2),
        backward_value_case("float32 gradients", backward_inputs(63, (3, 5), 6, 4, dtype=torch.float32)),
        backward_shape_case("meta device", backward_inputs(64, (2, 4), 10, 3, indices=COURSE_INDICES), padding_idx=0),
        unchanged_case("inputs unchanged", BACKWARD, backward_inputs(65, (3, 4), 5, 2), {"padding_idx": 1}),
    ]


# ---------------------------------------------------------------- cosine_similarity_matrix


def cosine_inputs(seed: int, n_A: int = 3, n_B: int = 5, D: int = 4, dtype: torch.dtype = torch.float64,
                  zero_row: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of different lengths (scaled by 0.5 to 3), so that forgetting a norm changes the answer."""
    g = seeded(seed)
    A = randn(g, n_A, D) * (0.5 + 2.5 * torch.rand(n_A, 1, generator=g, dtype=torch.float64))
    B = randn(g, n_B, D) * (0.5 + 2.5 * torch.rand(n_B, 1, generator=g, dtype=torch.float64))
    if zero_row is not None:
        B[zero_row] = 0.0
    return A.to(dtype), B.to(dtype)


COSINE_ONLY_A = N_("only the rows of A normalised; divide by the norms of both rows")
COSINE_ONLY_B = N_("only the rows of B normalised; divide by the norms of both rows")
COSINE_DOT = N_("plain dot products, without dividing by the norms")
COSINE_COLUMNS = N_("the columns normalised instead of the rows (norm over dim=0; each row is a vector)")


def cosine_value_case(name: str, inputs: tuple[torch.Tensor, torch.Tensor], noncontiguous: bool = False) -> Case:
    A, B = inputs
    expected = REF.cosine_reference(A, B)
    mistakes = {k: v.to(A.dtype) for k, v in REF.cosine_mistakes(A, B).items()}

    def verdict(outcome: Outcome) -> str | None:
        got = outcome.value
        problem = failure_of_call(outcome, COSINE)
        if problem:
            return problem
        if isinstance(got, torch.Tensor) and torch.isnan(got.double()).any() and not torch.isnan(expected).any():
            return _("the similarities contain NaN — a zero row has norm 0: clamp each norm to at least a small eps "
                     "(1e-8, as F.cosine_similarity does), so a zero row has similarity 0 with everything")
        return check_tensor(got, "similarity", shape=tuple(expected.shape), dtype=A.dtype, values=expected,
                            dims=("n_A", "n_B"), mistakes=mistakes)

    return Case(name, Call(COSINE, (A, B), noncontiguous=noncontiguous), verdict)


def cosine_shape_case(name: str, inputs: tuple[torch.Tensor, torch.Tensor], device: str = "meta") -> Case:
    A, B = inputs

    def verdict(outcome: Outcome) -> str | None:
        problem, got = device_failure(outcome, COSINE, device)
        return problem or check_tensor(got, "similarity", shape=(A.shape[0], B.shape[0]), dtype=A.dtype,
                                       device=device, dims=("n_A", "n_B"))

    return Case(name, device_call(COSINE, (A, B), None, device), verdict, kind=FORM)


def cosine_cases() -> list[Case]:
    A = cosine_inputs(71, n_A=4)[0]
    return [
        cosine_value_case("rows of different lengths, (3, 4) against (5, 4)", cosine_inputs(70)),
        cosine_value_case("A against itself: ones on the diagonal", (A, A.clone())),
        cosine_value_case("a zero row has similarity 0, not NaN", cosine_inputs(72, zero_row=1)),
        cosine_value_case("float32", cosine_inputs(73, dtype=torch.float32)),
        cosine_shape_case("meta device", cosine_inputs(74)),
        unchanged_case("inputs unchanged", COSINE, cosine_inputs(75)),
    ]


# ---------------------------------------------------------------- nearest_neighbors

# Hand-built: rows at known angles and of very different lengths. Cosine similarities with row 0:
# 1: 0.95, 2: 0.71, 3: 0.64 (but the largest dot product, 10), 4: 0, 5: -0.98.
NEIGHBOR_TABLE = torch.tensor([
    [1.0, 0.0, 0.0],
    [3.0, 1.0, 0.0],
    [0.5, 0.5, 0.0],
    [10.0, 12.0, 1.0],
    [0.0, 1.0, 0.0],
    [-1.0, 0.2, 0.0],
], dtype=torch.float64)

# Hand-built, with rows that tie with others. Row 0 is a copy of row 3, row 4 is a zero row. Cosine similarities
# with row 3 (and with row 0): the copy 1, 5: 0.89, 1: 0.45, the zero row 0, 2: -0.63, 6: -0.95.
# A zero row has no direction: by torch's eps convention (each norm clamped to at least 1e-8, as
# cosine_similarity_matrix does) its similarity with every row, itself included, is 0.
TIE_TABLE = torch.tensor([
    [2.0, 1.0, 0.0],
    [0.0, 1.0, 0.0],
    [-1.0, 0.0, 1.0],
    [2.0, 1.0, 0.0],
    [0.0, 0.0, 0.0],
    [1.0, 0.0, 0.0],
    [-1.0, -1.0, 0.0],
], dtype=torch.float64)


def neighbors_mistake(got: list[int], expected: list[int], index: int, by_dot: list[int] | None,
                      ties: list[int] | None = None, zero_rows: frozenset[int] = frozenset()) -> str:
    """What a wrong list of neighbours has in common with a classic mistake (see `_with_reason`)."""
    if index in got and ties:
        return _("it includes the word itself (index {index}): row {row} has the same direction, so the word "
                 "is not always the first hit of topk, and dropping the first hit does not remove it; exclude the "
                 "word by its index (similarity[index] = -inf before topk)").format(index=index, row=ties[0])
    if index in got:
        return _("it includes the word itself (index {index}); leave it out, as it is always its own best "
                 "match").format(index=index)
    if got == by_dot:
        return _("it matches ranking by the dot product, where long vectors win because of their length; "
                 "rank by cosine similarity")
    if got and got[0] in zero_rows and expected[0] not in zero_rows:
        return _("the zero row {row} comes first: its similarity came out as NaN (0 / 0), which topk ranks above "
                 "every number; clamp each norm to at least eps (1e-8) so that a zero row has similarity 0").format(
            row=got[0])
    if len(got) > 1 and sorted(got) == sorted(expected) and got != expected:
        return _("the right words in the wrong order: the most similar comes first")
    return ""


def neighbors_case(name: str, weight: torch.Tensor, index: int, k: int, expected: list[int] | None,
                   noncontiguous: bool = False, by_dot: list[int] | None = None,
                   ties: list[int] | None = None) -> Case:
    """`by_dot`: what ranking by the dot product instead of the cosine gives, where it differs; `ties`: the rows
    with the query's own direction (similarity 1). `expected` None: every row ties (a zero query row), so any k
    distinct rows other than the query are right."""
    shown = f"nearest_neighbors(weight, {index}, {k})"
    zero_rows = frozenset(i for i, row in enumerate(weight.tolist()) if not any(row))

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, NEIGHBORS)
        if problem:
            return problem
        got = outcome.value
        problem = check_tensor(got, shown, shape=(k,), dtype=torch.int64, dims=("k",))
        if problem and _dtype_name(got) not in (None, "int64") and tuple(got.shape) == (k,):
            return _("{call} has dtype {dtype}; expected int64 indices (a LongTensor, as topk returns)").format(
                call=shown, dtype=_dtype_name(got))
        if problem:
            return problem
        found = got.tolist()
        if expected is None:
            if index in found or len(set(found)) != k:
                return _("{call} returned {got}; expected {k} distinct rows other than {index} — row {index} is a "
                         "zero row, whose similarity with every row is 0, so any other rows will do, but never the "
                         "word itself").format(call=shown, got=found, k=k, index=index)
            return None
        if found == expected:
            return None
        message = _("{call} returned {got}; expected {expected}").format(call=shown, got=found, expected=expected)
        return _with_reason(message, neighbors_mistake(found, expected, index, by_dot, ties, zero_rows))

    return Case(name, Call(NEIGHBORS, (weight, index, k), noncontiguous=noncontiguous), verdict)


def neighbors_cases() -> list[Case]:
    table_ = NEIGHBOR_TABLE
    return [
        neighbors_case("k=3 by cosine, not by dot product", table_, 0, 3, [1, 2, 3], by_dot=[3, 1, 2]),
        neighbors_case("k=1", table_, 0, 1, [1]),
        neighbors_case("the last row", table_, 5, 2, [4, 3]),
        neighbors_case("k = V - 1: every other row, most similar first", table_, 1, 5, [0, 2, 3, 4, 5]),
        neighbors_case("float32 table", table_.float(), 4, 2, [3, 2]),
        neighbors_case("a copy of the word comes first; the word itself never", TIE_TABLE, 3, 5, [0, 5, 1, 4, 2],
                       ties=[0]),
        neighbors_case("a zero row has similarity 0: after the positive rows, before the negative", TIE_TABLE, 0, 5,
                       [3, 5, 1, 4, 2], ties=[3]),
        neighbors_case("a zero row as the word: every other row is as near (similarity 0)", TIE_TABLE, 4, 6, None),
        unchanged_case("inputs unchanged", NEIGHBORS, (table_.clone(), 1, 2)),
    ]


# ---------------------------------------------------------------- analogy

# Hand-built features, the notebook's table: season, temperature word, warmth, royal, gender (+1 male, -1 female),
# person. Their answers can be read off the table; the hidden checks' reference agrees (tests/test_embeddings_checks).
FEATURE_WORDS = {
    "summer": [1, 0, 1.0, 0, 0, 0],
    "winter": [1, 0, -1.0, 0, 0, 0],
    "spring": [1, 0, 0.3, 0, 0, 0],
    "autumn": [1, 0, -0.3, 0, 0, 0],
    "hot": [0, 1, 1.0, 0, 0, 0],
    "cold": [0, 1, -1.0, 0, 0, 0],
    "warm": [0, 1, 0.4, 0, 0, 0],
    "cool": [0, 1, -0.4, 0, 0, 0],
    "king": [0, 0, 0, 1, 1, 1],
    "queen": [0, 0, 0, 1, -1, 1],
    "man": [0, 0, 0, 0, 1, 1],
    "woman": [0, 0, 0, 0, -1, 1],
}


def feature_table(order: list[str] | None = None) -> tuple[torch.Tensor, list[str]]:
    itos = order or list(FEATURE_WORDS)
    return torch.tensor([FEATURE_WORDS[word] for word in itos], dtype=torch.float64), itos


def analogy_case(name: str, weight: torch.Tensor, itos: list[str], words: tuple[str, str, str], k: int,
                 expected: list[str]) -> Case:
    a, b, c = words
    shown = f"analogy(weight, vocab, {a!r}, {b!r}, {c!r}, k={k})"
    call = Call(ANALOGY, (weight, list(itos), a, b, c, k), recipe="embeddings.analogy_with")

    def verdict(outcome: Outcome) -> str | None:
        problem = failure_of_call(outcome, ANALOGY)
        if problem:
            return problem
        got = outcome.value
        if not isinstance(got, list) or not all(isinstance(word, str) for word in got):
            return _("{call} returned {got}; expected a list of {k} word(s), such as {expected}").format(
                call=shown, got=describe(got), k=k, expected=expected)
        if got == expected:
            return None
        message = _("{call} returned {got}; expected {expected}").format(call=shown, got=got, expected=expected)
        if set(got) & {a, b, c}:
            return _with_reason(message, _("a, b and c themselves must be excluded from the answers"))
        if len(got) != k:
            return _with_reason(message, _("return exactly k={k} words, best first").format(k=k))
        return message

    return Case(name, call, verdict)


def analogy_cases() -> list[Case]:
    weight, itos = feature_table()
    return [
        analogy_case("summer : hot :: winter : cold", weight, itos, ("summer", "hot", "winter"), 1, ["cold"]),
        analogy_case("hot : summer :: cold : winter", weight, itos, ("hot", "summer", "cold"), 1, ["winter"]),
        analogy_case("king : queen :: man : woman", weight, itos, ("king", "queen", "man"), 1, ["woman"]),
        analogy_case("hot : warm :: cold : cool — the raw best match is cold itself", weight, itos,
                     ("hot", "warm", "cold"), 1, ["cool"]),
        analogy_case("k=3, best first", weight, itos, ("summer", "hot", "winter"), 3, ["cold", "cool", "warm"]),
    ]


# ---------------------------------------------------------------- hints

def build_vocab_hint(results: dict[str, str | None]) -> str | None:
    if results.get(ONE_PASS) and not results.get(LEXICOGRAPHIC):
        return _("token_lists may be a generator, which can be gone through only once: count the tokens in one "
                 "pass")
    return None


def forward_hint(results: dict[str, str | None]) -> str | None:
    if any(results.get(name) for name in BAD_INDEX_CASES) and not results.get(COURSE_EXAMPLE):
        return _("check the indices before the lookup: their dtype (integers only, else TypeError), then their "
                 "range (every index in [0, V), else IndexError; skip the range check on the meta device, where "
                 "there are no values to compare)")
    return None


# The titles are marked for the catalogs; they are translated where a result shows them.
GROUPS = [
    CheckGroup("basic_english_tokenize", TOKENIZE, N_("basic_english_tokenize: torchtext's basic_english rules"),
               tokenize_cases),
    CheckGroup("chinese_tokenize", CHINESE,
               N_("chinese_tokenize: every Chinese character a token, the text between them as basic_english"),
               chinese_cases),
    CheckGroup("vocab", VOCAB, N_("Vocab: torchtext's Vocab API"), vocab_cases),
    CheckGroup("build_vocab", BUILD, N_("build_vocab: specials, min_freq, ordering and default index"),
               build_vocab_cases, build_vocab_hint),
    CheckGroup("one_hot", ONE_HOT, N_("one_hot: vs F.one_hot(...).float()"), one_hot_cases),
    CheckGroup("embedding_forward", FORWARD, N_("embedding_forward: vs F.embedding, and bad indices"), forward_cases,
               forward_hint),
    CheckGroup("embedding_backward", BACKWARD, N_("embedding_backward: vs the autograd gradient of F.embedding"),
               backward_cases),
    CheckGroup("cosine_similarity_matrix", COSINE, N_("cosine_similarity_matrix: vs F.cosine_similarity"),
               cosine_cases),
    CheckGroup("nearest_neighbors", NEIGHBORS, N_("nearest_neighbors: by cosine similarity, the word itself excluded"),
               neighbors_cases),
    CheckGroup("analogy", ANALOGY, N_("analogy: a is to b as c is to ?"), analogy_cases),
]

# By hand: what each stub may not use (see autograder.judge.byhand; the notebook shows it before each task).
# nearest_neighbors and analogy practise the search itself: the cosine similarity they use is the student's
# own cosine_similarity_matrix (whose rules are its own), so they have none.
# Each rule's advice is marked for the catalogs and translated where a finding is reported.
_NO_TORCHTEXT = "torchtext.*"  # shown as `torchtext`: all of it
# Word segmenters and the tokenizers of NLP libraries (a BERT tokenizer cuts Chinese into characters, too).
_SEGMENTERS = ("jieba.*", "pkuseg.*", "spacy_pkuseg.*", "thulac.*", "hanlp.*", "pyhanlp.*", "snownlp.*", "LAC.*",
               "pynlpir.*", "spacy.*", "nltk.*", "stanza.*", "transformers.*", "tokenizers.*")
_SEGMENTERS_SHOWN = (N_("a word segmenter or another library's tokenizer (`jieba`, `pkuseg`, `thulac`, `hanlp`, "
                        "`snownlp`, `LAC`, `spacy`, `nltk`, `stanza`, `transformers`, `tokenizers`)"),)
_NO_LOOKUP = ("torch.nn.functional.embedding", "torch.nn.Embedding", "torch.embedding",
              "torch.nn.functional.embedding_bag", "torch.nn.EmbeddingBag", "torch.embedding_bag")
_LOOKUP_OPS = ("aten::embedding", "aten::embedding_bag", "aten::_embedding_bag", "aten::embedding_backward",
               "aten::embedding_dense_backward", "aten::embedding_sparse_backward")
_NO_AUTOGRAD = byhand.autograd_rule(N_("accumulate the gradient into the rows yourself (index_add_ is allowed)"))
FORBIDDEN = {
    TOKENIZE: (byhand.Rule((_NO_TORCHTEXT,), N_("write the tokenizer's rules yourself")),),
    CHINESE: (byhand.Rule((_NO_TORCHTEXT, *_SEGMENTERS), N_("cut the line yourself, one token per Chinese character"),
                          shown=("`torchtext`", *_SEGMENTERS_SHOWN)),),
    VOCAB: (byhand.Rule((_NO_TORCHTEXT,), N_("keep the two mappings yourself")),),
    BUILD: (byhand.Rule((_NO_TORCHTEXT,), N_("count and sort the tokens yourself")),),
    ONE_HOT: (byhand.Rule(("torch.nn.functional.one_hot",),
                          N_("compare the indices with torch.arange(num_classes) yourself")),),
    FORWARD: (byhand.Rule(_NO_LOOKUP, N_("index the rows of weight yourself"), _LOOKUP_OPS),
              byhand.autograd_rule(N_("index the rows of weight yourself"))),
    BACKWARD: (byhand.Rule(_NO_LOOKUP, N_("accumulate the gradient into the rows yourself (index_add_ is allowed)"),
                           _LOOKUP_OPS), _NO_AUTOGRAD),
    COSINE: (byhand.Rule(("torch.nn.functional.cosine_similarity", "torch.nn.functional.pairwise_distance",
                          "torch.cosine_similarity", "torch.pairwise_distance", "torch.cdist", "torch.pdist",
                          "torch.nn.CosineSimilarity", "torch.nn.PairwiseDistance"),
                         N_("normalise the rows and take their dot products yourself (F.normalize is allowed)"),
                         ("aten::_cdist_forward", "aten::_pdist_forward")),),
}
