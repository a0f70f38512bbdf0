"""05_embeddings' tokenizer and vocabulary against torchtext itself, on the same inputs.

torchtext is frozen at 0.18.0 and loads only with torch 2.3.x, so these tests are skipped in the
project's environment; `scripts/torchtext_env.sh` builds one with torch 2.3.1 and torchtext 0.18.0
and runs them. Three things are compared with torchtext: the reference solution in
solutions/05_embeddings (what students must match), the judge's references in
autograder/checks/hidden/embeddings.py (which grade the hidden cases) and the answers that the
public checks carry as data.

Where the rules come from: torchtext 0.18's torchtext/data/utils.py (`_patterns`, `_replacements`
and `_basic_english_normalize`, which `get_tokenizer("basic_english")` returns) and
torchtext/vocab/vocab_factory.py (`build_vocab_from_iterator`: sort by `(-count, token)`, drop the
specials from the counts, keep `count >= min_freq`, specials first).

One deliberate difference: looking up an unknown token without a default index raises
RuntimeError in torchtext (an error from its C++ core) and KeyError in the course's Vocab, as a
Python mapping does. The test below pins both.
"""

from __future__ import annotations

import random
from functools import cache

import pytest

try:  # a torchtext built for another torch fails with OSError (undefined symbols), not ImportError
    torchtext = pytest.importorskip("torchtext", reason="torchtext is not installed: run scripts/torchtext_env.sh")
    torchtext.disable_torchtext_deprecation_warning()  # 0.18 warns on import that it is the last release
    from torchtext.data.utils import get_tokenizer
    from torchtext.vocab import build_vocab_from_iterator
except OSError as exc:
    pytest.skip(f"torchtext cannot be loaded with this torch ({exc}): run scripts/torchtext_env.sh",
                allow_module_level=True)

from conftest import solution_namespace  # noqa: E402 - only once torchtext is known to load

from autograder.checks import embeddings  # noqa: E402
from autograder.checks.hidden import embeddings as hidden  # noqa: E402
from autograder.data_text import pydoc_topics  # noqa: E402

A = "05_embeddings"
torchtext_tokenize = get_tokenizer("basic_english")


@cache
def reference() -> dict:
    """The reference solution's functions (solutions/05_embeddings), run in one namespace."""
    return solution_namespace(A)


# ---------------------------------------------------------------- basic_english

PIECES = ["a", "B", "cat", "Ünïcode", "x-ray", "3.14", "$5", "don't", "'", '"', ".", ",", "(", ")", "!", "?", ";",
          ":", "<br />", "<BR />", "<br/>", "<br  />", "...", "?!", "'s", "\t", "\n", " ", "  ", "\u00a0", "—"]


def random_lines(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randrange(0, 16))) for _ in range(count)]


def corpus_lines() -> list[str]:
    return [line for text in pydoc_topics().values() for line in text.splitlines()]


LINES = ([line for _, line, _ in embeddings.TOKENIZE_EXAMPLES] + [hidden.random_line(seed, 14) for seed in range(20)]
         + random_lines(300))


@pytest.mark.parametrize("line", LINES)
def test_tokenizers_agree_with_torchtext(line: str):
    expected = torchtext_tokenize(line)
    assert reference()["basic_english_tokenize"](line) == expected
    assert hidden.reference_tokenize(line) == expected


def test_tokenizers_agree_with_torchtext_on_every_line_of_the_corpus():
    ours = reference()["basic_english_tokenize"]
    for line in corpus_lines():
        expected = torchtext_tokenize(line)
        assert ours(line) == expected, line
        assert hidden.reference_tokenize(line) == expected, line


def test_the_public_tokenizer_answers_are_torchtexts():
    for name, line, expected in embeddings.TOKENIZE_EXAMPLES:
        assert torchtext_tokenize(line) == expected, name


# ---------------------------------------------------------------- build_vocab_from_iterator

CORPORA = {
    "the public checks' corpus": embeddings.CORPUS,
    "capitals": [["cat", "Cat", "bat", "Bat", "cat", "Cat", "_x", "~y", "10", "9"]],
    "a special in the text": [["<unk>", "cat", "<unk>"], ["cat", "dog", "<pad>"]],
    "no text": [],
    "word counts like a text's": hidden.zipf_corpus(5, 30, 20, 12),
    "the help topics": [torchtext_tokenize(line) for line in corpus_lines()[:400]],
}
SPECIALS = [(), ("<unk>",), ("<unk>", "<pad>"), ("<pad>", "<bos>", "<unk>"), ("<unk>", "the", "cat")]


def torchtext_vocab(token_lists, min_freq=1, specials=("<unk>", "<pad>")):
    return build_vocab_from_iterator(iter(token_lists), min_freq=min_freq, specials=list(specials))


@pytest.mark.parametrize("corpus", list(CORPORA))
@pytest.mark.parametrize("min_freq", [1, 2, 3])
@pytest.mark.parametrize("specials", SPECIALS, ids=str)
def test_vocabulary_order_agrees_with_torchtext(corpus: str, min_freq: int, specials: tuple[str, ...]):
    token_lists = CORPORA[corpus]
    expected = torchtext_vocab(token_lists, min_freq, specials).get_itos()
    ours = reference()["build_vocab"](iter(token_lists), min_freq=min_freq, specials=specials)
    assert ours.get_itos() == expected
    assert hidden.reference_itos(token_lists, min_freq, specials) == expected


def test_the_public_vocabulary_answers_are_torchtexts():
    for case in embeddings.build_vocab_cases():
        token_lists, kwargs, steps = case.call.args
        if steps != [("get_itos", [])]:
            continue
        vocab = torchtext_vocab(token_lists, kwargs.get("min_freq", 1), kwargs.get("specials", ("<unk>", "<pad>")))
        assert case.verdict(embeddings.Outcome("ok", value=[vocab.get_itos()])) is None, case.name


# ---------------------------------------------------------------- the Vocab API

def both_vocabs(token_lists, **kwargs):
    """torchtext's vocabulary with set_default_index(v["<unk>"]) as its users write it, and ours."""
    theirs = torchtext_vocab(token_lists, **kwargs)
    if "<unk>" in theirs:
        theirs.set_default_index(theirs["<unk>"])
    return theirs, reference()["build_vocab"](token_lists, **kwargs)


@pytest.mark.parametrize("corpus", ["the public checks' corpus", "the help topics"])
def test_vocab_api_agrees_with_torchtext(corpus: str):
    theirs, ours = both_vocabs(CORPORA[corpus], min_freq=2)
    probe = ["the", "cat", "never-seen", "<unk>", "<pad>", "", "The"]
    assert len(ours) == len(theirs)
    assert [ours[token] for token in probe] == [theirs[token] for token in probe]
    assert [token in ours for token in probe] == [token in theirs for token in probe]
    assert ours.lookup_indices(probe) == theirs.lookup_indices(probe)
    indices = list(range(len(theirs)))[::-1]
    assert ours.lookup_tokens(indices) == theirs.lookup_tokens(indices)
    assert ours.get_itos() == theirs.get_itos()
    assert ours.get_stoi() == theirs.get_stoi()
    assert ours.get_default_index() == theirs.get_default_index() == 0
    ours.set_default_index(1)
    theirs.set_default_index(1)
    assert (ours["never-seen"], ours.get_default_index()) == (theirs["never-seen"], theirs.get_default_index())


def test_the_expected_values_of_the_vocab_checks_are_torchtexts():
    """The expected_steps reference, which the Vocab checks use, against a torchtext Vocab over the same itos."""
    from torchtext.vocab import vocab as vocab_from_dict

    steps = [("__len__", []), ("__getitem__", ["cat"]), ("__contains__", ["dog"]),
             ("lookup_indices", [["the", "cat", "mat"]]), ("lookup_tokens", [[3, 0, 6]]), ("get_itos", []),
             ("get_stoi", []), ("get_default_index", []), ("set_default_index", [0]), ("__getitem__", ["dog"]),
             ("lookup_indices", [["dog", "on"]]), ("__contains__", ["dog"]), ("get_default_index", [])]
    theirs = vocab_from_dict({token: 1 for token in embeddings.VOCAB_ITOS})
    got = [getattr(theirs, name)(*args) for name, args in steps]
    assert got == hidden.expected_steps(embeddings.VOCAB_ITOS, steps)


def test_an_unknown_word_without_a_default_index_raises_in_both():
    theirs, ours = both_vocabs(CORPORA["the public checks' corpus"], specials=())
    assert theirs.get_default_index() is None and ours.get_default_index() is None
    with pytest.raises(RuntimeError):
        theirs["never-seen"]
    with pytest.raises(KeyError):
        ours["never-seen"]
