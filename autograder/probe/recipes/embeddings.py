"""Probe-side scripts for 05_embeddings: the student's `Vocab` and `build_vocab`, and `analogy`.

`Vocab` and `build_vocab` return an object only the student's code understands, so a check sends a
list of method calls ("steps") and gets back what each returned. `analogy` takes a vocabulary; it is
handed `ListVocab`, a plain stand-in, so that `analogy` is graded on its own, whatever the state of
the student's `Vocab`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from autograder.i18n import _
from autograder.probe import recipes
from autograder.probe.recipes import InvalidReturn, recipe

# What a check may ask a vocabulary to do: torchtext's Vocab API.
VOCAB_METHODS = frozenset({
    "__len__", "__contains__", "__getitem__", "lookup_indices", "lookup_tokens", "get_itos", "get_stoi",
    "set_default_index", "get_default_index",
})


def _plain(value: Any) -> Any:
    """A dict subclass (OrderedDict, defaultdict) as a dict, so that it can cross the wire; the rest as is."""
    return dict(value) if isinstance(value, dict) and type(value) is not dict else value


def _run_steps(vocab: Any, owner: str, steps: Iterable) -> list:
    results = []
    for name, args in steps:
        if name not in VOCAB_METHODS:
            raise InvalidReturn(_("grader error: {name} is not a Vocab method").format(name=repr(name)))
        results.append(_plain(recipes.method(vocab, owner, name, *args)))
    return results


@recipe
def vocab_api(namespace: dict, itos: list, steps: list) -> list:
    """`Vocab(itos)`, then each (method, args) of `steps` in order; returns what each call returned."""
    vocab = recipes.call(namespace, "Vocab", list(itos))
    return _run_steps(vocab, "Vocab", steps)


class _Once:
    """An iterable that can be gone through only once, like a generator of token lists."""

    def __init__(self, items: list) -> None:
        self._items: Iterator | None = iter(items)

    def __iter__(self) -> Iterator:
        items, self._items = self._items, iter(())
        return items


@recipe
def built_vocab(namespace: dict, token_lists: list, kwargs: dict, steps: list, once: bool = False) -> list:
    """`build_vocab(token_lists, **kwargs)`, then `steps` on what it returned; `once`: a single-pass iterable."""
    source = _Once(token_lists) if once else token_lists
    vocab = recipes.call(namespace, "build_vocab", source, **kwargs)
    return _run_steps(vocab, "build_vocab", steps)


class ListVocab:
    """A minimal vocabulary over a list of distinct tokens, with torchtext's API; no default index."""

    def __init__(self, itos: list[str]) -> None:
        self.tokens = tuple(itos)
        self.positions = {token: position for position, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self.positions

    def __getitem__(self, token: str) -> int:
        return self.positions[token]

    def __call__(self, tokens: list[str]) -> list[int]:
        return self.lookup_indices(tokens)

    def lookup_indices(self, tokens: Iterable[str]) -> list[int]:
        return [self.positions[token] for token in tokens]

    def lookup_tokens(self, indices: Iterable[int]) -> list[str]:
        found = []
        for i in indices:
            position = int(i)
            if not 0 <= position < len(self.tokens):
                raise IndexError(_("index {index} is out of range for a vocabulary of {size} tokens").format(
                    index=position, size=len(self.tokens)))
            found.append(self.tokens[position])
        return found

    def get_itos(self) -> list[str]:
        return [*self.tokens]

    def get_stoi(self) -> dict[str, int]:
        return {**self.positions}

    def get_default_index(self) -> None:
        return None


@recipe
def analogy_with(namespace: dict, weight, itos: list, a: str, b: str, c: str, k: int = 1) -> Any:
    """`analogy(weight, ListVocab(itos), a, b, c, k=k)`."""
    return recipes.call(namespace, "analogy", weight, ListVocab(itos), a, b, c, k=k)
