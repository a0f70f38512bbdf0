"""Loaders for the course's offline data (datasets/) and generators for its synthetic tasks.

Nothing here downloads: the names ship in datasets/names/ (see its README for source and licence),
and the adding problem is generated from a seeded torch.Generator. datasets/ is data, not a package,
so the loaders find it on disk: next to the course's notebooks, next to this package, or above the
current directory (a student's checkout, where the notebook runs from assignments/<id>/).
"""

from __future__ import annotations

import hashlib
import os
import string
from functools import cache
from pathlib import Path

import torch

from autograder.course import PACKAGE_DIR

NAMES_FILE = Path("names") / "first_names.txt"
END = "."  # ends every name; index 0 of the character vocabulary
SPLITS = ("train", "validation", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


def datasets_dir() -> Path:
    """The course's datasets/ folder: $AUTOGRADER_COURSE/datasets, the checkout's, or one above the cwd."""
    candidates = []
    if os.environ.get("AUTOGRADER_COURSE"):
        candidates.append(Path(os.environ["AUTOGRADER_COURSE"]) / "datasets")
    candidates.append(PACKAGE_DIR.parent / "datasets")
    here = Path.cwd().resolve()
    candidates += [folder / "datasets" for folder in (here, *here.parents)]
    for candidate in candidates:
        if (candidate / NAMES_FILE).is_file():
            return candidate
    raise FileNotFoundError("cannot find datasets/names/first_names.txt: run from inside the course folder, "
                            "or set AUTOGRADER_COURSE to the folder that holds datasets/")


@cache
def load_names() -> tuple[str, ...]:
    """Every first name, lowercase a–z, unique and sorted, as stored in datasets/names/first_names.txt."""
    text = (datasets_dir() / NAMES_FILE).read_text(encoding="ascii")
    return tuple(line for line in text.splitlines() if line)


def _split_key(name: str) -> str:
    return hashlib.sha256(name.encode("ascii")).hexdigest()


@cache
def _splits() -> dict[str, tuple[str, ...]]:
    # Ordering by a hash of the name fixes the split without a random generator (the same on every
    # machine and torch version) and also shuffles the names, so no split is alphabetical.
    shuffled = sorted(load_names(), key=_split_key)
    n_train = round(SPLIT_FRACTIONS[0] * len(shuffled))
    n_validation = round(SPLIT_FRACTIONS[1] * len(shuffled))
    return {"train": tuple(shuffled[:n_train]),
            "validation": tuple(shuffled[n_train:n_train + n_validation]),
            "test": tuple(shuffled[n_train + n_validation:])}


def name_splits() -> dict[str, list[str]]:
    """{"train", "validation", "test"} → names (80/10/10, disjoint, in a fixed shuffled order)."""
    return {split: list(names) for split, names in _splits().items()}


def load_split(split: str) -> list[str]:
    """One split of the names: "train", "validation" or "test"."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
    return list(_splits()[split])


def char_vocab() -> dict[str, int]:
    """The names' 27 symbols: "." (the end of a name) is 0, then "a" … "z" are 1 … 26."""
    return {symbol: index for index, symbol in enumerate(END + string.ascii_lowercase)}


def adding_problem(batch_size: int, seq_len: int = 50, generator: torch.Generator | None = None,
                   dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of the adding problem (Hochreiter & Schmidhuber, 1997), time-major.

    Each sequence has two channels: a value drawn uniformly from [0, 1) and a marker that is 1 at
    exactly two steps, one in the first half and one in the second, and 0 elsewhere. The target is
    the sum of the two marked values, so a model must remember the first one for up to seq_len steps.
    Always predicting the mean (1.0) gives a mean squared error of Var(U1 + U2) = 1/6 ≈ 0.167.

    Returns (x, y): x of shape (seq_len, batch_size, 2), y of shape (batch_size,).
    """
    if seq_len < 2:
        raise ValueError("seq_len must be at least 2")
    values = torch.rand(seq_len, batch_size, generator=generator, dtype=torch.float64)
    half = seq_len // 2
    first = torch.randint(0, half, (batch_size,), generator=generator)
    second = torch.randint(half, seq_len, (batch_size,), generator=generator)
    markers = torch.zeros(seq_len, batch_size, dtype=torch.float64)
    columns = torch.arange(batch_size)
    markers[first, columns] = 1.0
    markers[second, columns] = 1.0
    x = torch.stack([values, markers], dim=2)
    y = values[first, columns] + values[second, columns]
    return x.to(dtype), y.to(dtype)
