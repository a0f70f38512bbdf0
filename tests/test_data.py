"""The course's offline data: the names as shipped in datasets/names/, their split, and the adding problem."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
import torch

from autograder import data

ROOT = Path(__file__).resolve().parent.parent
NAMES = ROOT / "datasets" / "names" / "first_names.txt"


def test_the_names_file_is_what_its_readme_says():
    text = NAMES.read_text(encoding="ascii")
    names = text.splitlines()
    assert text.endswith("\n") and all(names)
    assert all(re.fullmatch("[a-z]+", name) for name in names)
    assert names == sorted(set(names)), "one name a line, unique and sorted"
    readme = (NAMES.parent / "README.md").read_text(encoding="utf-8")
    assert f"{len(names):,}" in readme
    assert hashlib.sha256(text.encode()).hexdigest() in readme
    for needed in ("pypi.org/project/names/0.3.0", "MIT", "public domain", "dist.male.first", "dist.female.first"):
        assert needed in readme


def test_the_loader_reads_the_shipped_file():
    names = data.load_names()
    assert len(names) == 5163
    assert names[:3] == ("aaron", "abbey", "abbie")
    assert data.datasets_dir() == ROOT / "datasets"


def test_the_split_is_80_10_10_disjoint_complete_and_fixed():
    splits = data.name_splits()
    assert tuple(splits) == data.SPLITS
    sizes = {split: len(names) for split, names in splits.items()}
    assert sizes == {"train": 4130, "validation": 516, "test": 517}
    together = [name for names in splits.values() for name in names]
    assert sorted(together) == list(data.load_names())
    # Fixed by a hash of each name: the first training names never change (the grading run depends on them).
    assert splits["train"][:4] == ["grady", "leida", "anita", "tomi"]
    assert splits["validation"][0] == "dara"
    assert data.load_split("test") == splits["test"]


def test_split_lists_are_copies():
    data.name_splits()["train"].clear()
    assert len(data.load_split("train")) == 4130


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split must be one of"):
        data.load_split("dev")


def test_the_vocabulary_is_the_end_symbol_then_the_letters():
    vocab = data.char_vocab()
    assert len(vocab) == 27
    assert vocab["."] == 0 and vocab["a"] == 1 and vocab["z"] == 26
    assert set(vocab) == {"."} | {ch for name in data.load_names() for ch in name}


def test_the_loader_finds_datasets_above_the_working_directory(tmp_path, monkeypatch):
    folder = tmp_path / "course" / "datasets" / "names"
    folder.mkdir(parents=True)
    (folder / "first_names.txt").write_text("ann\nbo\n", encoding="ascii")
    work = tmp_path / "course" / "assignments" / "06_language_model"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    monkeypatch.setenv("AUTOGRADER_COURSE", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(data, "PACKAGE_DIR", tmp_path / "site-packages" / "autograder")
    assert data.datasets_dir() == tmp_path / "course" / "datasets"


def test_adding_problem_shapes_markers_and_targets():
    x, y = data.adding_problem(64, 50, torch.Generator().manual_seed(0))
    assert x.shape == (50, 64, 2) and y.shape == (64,) and x.dtype == y.dtype == torch.float32
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert torch.equal(markers.sum(0), torch.full((64,), 2.0))
    assert (markers[:25].sum(0) == 1).all() and (markers[25:].sum(0) == 1).all(), "one marker in each half"
    assert torch.allclose((values * markers).sum(0), y)


def test_adding_problem_is_seeded_and_its_mean_predictor_scores_one_sixth():
    first = data.adding_problem(8, 10, torch.Generator().manual_seed(3))
    again = data.adding_problem(8, 10, torch.Generator().manual_seed(3))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    _, y = data.adding_problem(20000, 50, torch.Generator().manual_seed(1), dtype=torch.float64)
    assert abs(y.mean().item() - 1.0) < 0.02
    assert abs(((y - 1.0) ** 2).mean().item() - 1 / 6) < 0.01


def test_adding_problem_needs_two_steps():
    with pytest.raises(ValueError):
        data.adding_problem(4, 1)
