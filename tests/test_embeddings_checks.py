"""What the 05_embeddings checks must do: full marks for right code, lost points (in the right group) for wrong code.

Every submission here is the reference solution with one cell replaced or one line edited, graded in
process (public and hidden cases) by the same check definitions the split grader uses. A bug must cost
points in the groups it breaks and nowhere else (a bug in cosine_similarity_matrix may also cost the
groups whose reference solution calls it), and where the grader knows the bug it must name it.
"""

from __future__ import annotations

from functools import cache

import pytest
import torch
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
    released_solution_cells,
    solution_namespace,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import checks, inline
from autograder.checks import embeddings
from autograder.checks.base import Inconclusive, Outcome, needs_values
from autograder.checks.hidden import embeddings as hidden
from autograder.judge import evaluate
from autograder.probe.recipes.embeddings import ListVocab

A = "05_embeddings"
TOKENIZE, VOCAB, BUILD = "basic_english_tokenize_solution", "vocab_solution", "build_vocab_solution"
CHINESE = "chinese_tokenize_solution"
ONE_HOT, FORWARD, BACKWARD = "one_hot_solution", "embedding_forward_solution", "embedding_backward_solution"
COSINE, NEIGHBORS, ANALOGY = ("cosine_similarity_matrix_solution", "nearest_neighbors_solution",
                              "analogy_solution")
GROUPS = ("basic_english_tokenize", "chinese_tokenize", "vocab", "build_vocab", "one_hot", "embedding_forward",
          "embedding_backward", "cosine_similarity_matrix", "nearest_neighbors", "analogy")


def edit(grade_id: str, *replacements: tuple[str, str]) -> dict[str, str]:
    return edit_cell(A, grade_id, *replacements)



# ---------------------------------------------------------------- the reference and the released stubs

def test_every_test_cell_of_the_notebook_has_a_check_group():
    assert tuple(checks.groups(A)) == GROUPS


def test_reference_solution_scores_full_points_in_every_public_and_hidden_case():
    results = grade_assignment(A)
    assert sum(result.points for result in results.values()) == 22
    assert_reference_full(results)


def test_released_stubs_score_zero_and_say_not_implemented_yet():
    stubs = {TOKENIZE, CHINESE, VOCAB, BUILD, ONE_HOT, FORWARD, BACKWARD, COSINE, NEIGHBORS, ANALOGY}
    assert_released_stubs_score_zero(A, stubs)


def test_a_vocab_with_only_some_methods_written_earns_the_cases_of_those_methods():
    stubs = released_solution_cells(A)[VOCAB]
    reference = edit_cell(A, VOCAB)[VOCAB]
    marker = "    def lookup_indices"
    half_written = reference.split(marker)[0] + marker + stubs.split(marker)[1]
    result = grade_assignment(A, {VOCAB: half_written})["vocab"]
    passed = {c.name for c in result.cases if c.passed}
    assert {"len(v)", 'v["cat"] and v["<pad>"]', '"cat" in v, "dog" not in v',
            "unknown word without a default index raises KeyError"} <= passed
    assert 0 < result.score < result.points
    failing = [c.message for c in result.cases if not c.passed]
    assert all("`Vocab." in message and "is not implemented yet" in message for message in failing), failing


# ---------------------------------------------------------------- plausible bugs (the list first)

COSINE_A_ONLY = edit(COSINE, ("B_unit = B / B.norm(dim=1, keepdim=True).clamp_min(eps)", "B_unit = B"))

BUGS = [
    Bug("vocabulary ties broken by first occurrence",
        edit(BUILD, ("sorted(counts.items(), key=lambda item: (-item[1], item[0]))", "counts.most_common()")),
        ("build_vocab",), "ties are broken by first occurrence"),
    Bug("min_freq off by one", edit(BUILD, ("count >= min_freq", "count > min_freq")), ("build_vocab",),
        "keep every token with count >= min_freq"),
    Bug("specials appended at the end", edit(BUILD, ("Vocab(list(specials) + words)", "Vocab(words + list(specials))")),
        ("build_vocab",), "the specials are at the end"),
    Bug("whitespace-only tokenizer",
        edit(TOKENIZE, ("    for pattern, replacement in substitutions:\n"
                        "        line = re.sub(pattern, replacement, line)\n", "")),
        ("basic_english_tokenize", "chinese_tokenize"), "it matches splitting on whitespace only"),
    Bug("case-preserving tokenizer", edit(TOKENIZE, ("    line = line.lower()\n", "")),
        ("basic_english_tokenize", "chinese_tokenize"), "without lowercasing"),
    Bug("one-hot returning integers", edit(ONE_HOT, ("== classes).float()", "== classes).long()")), ("one_hot",),
        "one_hot(...) has dtype int64; expected float32"),
    Bug("lookup that zeroes the padding row's output",
        edit(FORWARD, ("    return weight[indices]",
                       "    out = weight[indices]\n"
                       "    if padding_idx is not None:\n"
                       "        out = out.masked_fill((indices == padding_idx).unsqueeze(-1), 0.0)\n"
                       "    return out")),
        ("embedding_forward",), "the padding row's output zeroed"),
    Bug("backward that assigns instead of accumulating",
        edit(BACKWARD, ("grad_weight = grad_weight.index_add(0, indices.reshape(-1), grad_output.reshape(-1, D))",
                        "grad_weight[indices.reshape(-1)] = grad_output.reshape(-1, D)")),
        ("embedding_backward",), "written with ="),
    Bug("padding row gradient not zeroed",
        edit(BACKWARD, ("    if padding_idx is not None:\n        grad_weight[padding_idx] = 0\n", "")),
        ("embedding_backward",), "the padding row's gradient left in"),
    Bug("cosine similarity that normalises only A (the functions built on it go wrong too)", COSINE_A_ONLY,
        ("cosine_similarity_matrix", "nearest_neighbors", "analogy"), "only the rows of A normalised"),
    Bug("cosine similarity that normalises only B",
        edit(COSINE, ("A_unit = A / A.norm(dim=1, keepdim=True).clamp_min(eps)", "A_unit = A")),
        ("cosine_similarity_matrix",), "only the rows of B normalised"),
    Bug("nearest neighbours that include the word itself", edit(NEIGHBORS, ('    similarity[index] = float("-inf")\n',
                                                                            "")),
        ("nearest_neighbors",), "it includes the word itself"),
    Bug("analogy that can return one of its inputs", edit(ANALOGY, ('    similarity[[ia, ib, ic]] = float("-inf")\n',
                                                                    "")),
        ("analogy",), "a, b and c themselves must be excluded"),
    Bug("float and out-of-range indices not rejected",
        edit(FORWARD, ("    if indices.dtype not in (torch.int64, torch.int32):\n", "    if False:\n"),
             ("if low < 0 or high >= num_embeddings:", "if False:")),
        ("embedding_forward",), "expected TypeError — indices must be integers"),
    Bug("negative indices not rejected", edit(FORWARD, ("if low < 0 or high >= num_embeddings:",
                                                        "if high >= num_embeddings:")),
        ("embedding_forward",), "weight[-1] is the last row"),
    # ---- further plausible mistakes
    Bug("one_hot makes its arange on the CPU",
        edit(ONE_HOT, ("torch.arange(num_classes, device=indices.device)", "torch.arange(num_classes)")),
        ("one_hot",), "Make every new tensor on the inputs' device"),
    Bug("one_hot built on the CPU from torch.eye and moved afterwards",
        function(ONE_HOT, "def one_hot(indices, num_classes):\n"
                          "    return torch.eye(num_classes)[indices].to(indices.device)\n"),
        ("one_hot",), "indexing (t[...]) combined a CPU tensor of shape (10, 10) with tensors on the meta device"),
    Bug("one_hot scattered into a CPU tensor and moved afterwards",
        function(ONE_HOT, "def one_hot(indices, num_classes):\n"
                          "    out = torch.zeros(*indices.shape, num_classes)\n"
                          "    return out.scatter_(-1, indices.unsqueeze(-1), 1.0).to(indices.device)\n"),
        ("one_hot",), "torch.scatter_ combined a CPU tensor"),
    Bug("one_hot written into a CPU buffer and moved afterwards",
        function(ONE_HOT, "def one_hot(indices, num_classes):\n"
                          "    out = torch.zeros(*indices.shape, num_classes)\n"
                          "    out[:] = (indices.unsqueeze(-1) == torch.arange(num_classes, device=indices.device))\n"
                          "    return out.to(indices.device)\n"),
        ("one_hot",), "was copied into a CPU tensor of shape (2, 4, 10)"),
    Bug("embedding_backward accumulating into a CPU table",
        edit(BACKWARD, ("grad_weight = grad_output.new_zeros(num_embeddings, D)",
                        "grad_weight = torch.zeros(num_embeddings, D, dtype=grad_output.dtype)")),
        ("embedding_backward",), "torch.index_add combined a CPU tensor"),
    Bug("nearest neighbours that drop the top hit instead of excluding the word",
        edit(NEIGHBORS, ('    similarity[index] = float("-inf")\n    return similarity.topk(k).indices',
                         "    return similarity.topk(k + 1).indices[1:]")),
        ("nearest_neighbors",), "dropping the first hit does not remove it"),
    Bug("a special that is also a word appears twice", edit(BUILD, (" and token not in specials", "")),
        ("build_vocab",), "the tokens of a vocabulary must be distinct"),
    Bug("build_vocab that goes through token_lists twice",
        edit(BUILD, ("    counts = Counter()\n", "    lines = sum(1 for _ in token_lists)\n    counts = Counter()\n")),
        ("build_vocab",), "go through token_lists once"),
    Bug("Vocab without its default index", edit(VOCAB, ("self._stoi.get(token, self._default_index)",
                                                         "self._stoi.get(token)")),
        ("vocab", "build_vocab"), "an unknown word gives the default index"),
    Bug("__contains__ that counts the default index",
        edit(VOCAB, ("return token in self._stoi", "return self._stoi.get(token, self._default_index) is not None")),
        ("vocab",), "'dog' in v returned True; expected False"),
    Bug("cosine similarity without eps", edit(COSINE, ("A.norm(dim=1, keepdim=True).clamp_min(eps)",
                                                       "A.norm(dim=1, keepdim=True)"),
                                              ("B.norm(dim=1, keepdim=True).clamp_min(eps)",
                                               "B.norm(dim=1, keepdim=True)")),
        ("cosine_similarity_matrix", "nearest_neighbors"), "its similarity came out as NaN"),
    Bug("nearest neighbours in ascending order", edit(NEIGHBORS, ("similarity.topk(k).indices",
                                                                  "similarity.topk(k).indices.flip(0)")),
        ("nearest_neighbors",), "the right words in the wrong order"),
]


@pytest.mark.parametrize("bug", BUGS, ids=lambda bug: bug.name)
def test_plausible_bug_loses_points_in_its_groups_only_and_names_the_culprit(bug: Bug):
    assert_loses_exactly(bug, grade_assignment(A, bug.overrides))


def test_a_cosine_bug_that_cascades_is_named_in_nearest_neighbors_too():
    results = grade_assignment(A, COSINE_A_ONLY)
    assert any("ranking by the dot product" in text for text in feedback(results["nearest_neighbors"]))


def test_a_cosine_without_eps_is_named_in_nearest_neighbors_by_its_zero_row():
    bug = next(bug for bug in BUGS if bug.name == "cosine similarity without eps")
    results = grade_assignment(A, bug.overrides)
    assert any("contain NaN" in text for text in feedback(results["cosine_similarity_matrix"]))


# ---------------------------------------------------------------- the meta device: code that needs values

ONE_HOT_RANGE_CHECKED = '''
def one_hot(indices, num_classes):
    if indices.numel() and (int(indices.min()) < 0 or int(indices.max()) >= num_classes):
        raise IndexError("class index out of range")
    return (indices.unsqueeze(-1) == torch.arange(num_classes, device=indices.device)).float()
'''

ONE_HOT_MASKED = '''
def one_hot(indices, num_classes):
    bad = indices[(indices < 0) | (indices >= num_classes)]
    if bad.numel():
        raise IndexError(f"class indices out of range: {bad}")
    out = torch.zeros(*indices.shape, num_classes, device=indices.device)
    out[indices.unsqueeze(-1) == torch.arange(num_classes, device=indices.device)] = 1.0
    return out
'''

FORWARD_RANGE_CHECKED_EVERYWHERE = '''
def embedding_forward(indices, weight, padding_idx=None):
    if indices.dtype not in (torch.int64, torch.int32):
        raise TypeError("indices must be integers")
    if indices.numel() and ((indices < 0).any() or (indices >= weight.shape[0]).any()):
        raise IndexError("index out of range")
    return weight[indices]
'''

FORWARD_WITH_TOLIST = '''
def embedding_forward(indices, weight, padding_idx=None):
    if indices.dtype not in (torch.int64, torch.int32):
        raise TypeError("indices must be integers")
    flat = indices.reshape(-1).tolist()
    if any(i < 0 or i >= weight.shape[0] for i in flat):
        raise IndexError("index out of range")
    return weight[indices]
'''

BACKWARD_LOOPING_OVER_NUMBERS = '''
def embedding_backward(indices, grad_output, num_embeddings, padding_idx=None):
    D = grad_output.shape[-1]
    rows = grad_output.reshape(-1, D)
    grad_weight = grad_output.new_zeros(num_embeddings, D)
    for position, row in enumerate(indices.reshape(-1).tolist()):
        if row != padding_idx:
            grad_weight[row] += rows[position]
    return grad_weight
'''

BACKWARD_OVER_UNIQUE_WORDS = '''
def embedding_backward(indices, grad_output, num_embeddings, padding_idx=None):
    D = grad_output.shape[-1]
    flat, rows = indices.reshape(-1), grad_output.reshape(-1, D)
    grad_weight = grad_output.new_zeros(num_embeddings, D)
    for word in torch.unique(flat):
        if word != padding_idx:
            grad_weight[word] = rows[flat == word].sum(0)
    return grad_weight
'''

NEEDS_VALUES = [
    pytest.param(ONE_HOT, ONE_HOT_RANGE_CHECKED, "one_hot", id="one_hot range-checked with int(...)"),
    pytest.param(ONE_HOT, ONE_HOT_MASKED, "one_hot", id="one_hot range-checked through a boolean mask"),
    pytest.param(FORWARD, FORWARD_RANGE_CHECKED_EVERYWHERE, "embedding_forward",
                 id="forward range-checked on every device"),
    pytest.param(FORWARD, FORWARD_WITH_TOLIST, "embedding_forward", id="forward range-checked over .tolist()"),
    pytest.param(BACKWARD, BACKWARD_LOOPING_OVER_NUMBERS, "embedding_backward", id="backward looping over .tolist()"),
    pytest.param(BACKWARD, BACKWARD_OVER_UNIQUE_WORDS, "embedding_backward", id="backward over torch.unique"),
]
TORCH_INTERNALS = ("torch.fx", "_config", "register_meta", "fake impl", "Traceback", "pytorch.org", "aten::",
                   "GuardOnDataDependentSymNode")


@pytest.mark.parametrize(("cell", "source", "group"), NEEDS_VALUES)
def test_correct_code_that_needs_values_keeps_full_marks_and_its_meta_cases_are_noted(cell, source, group):
    result = grade_in_process(group, solution_namespace(A, function(cell, source)))
    assert result.score == result.points, failures({group: result})
    notes = [c.message for c in result.cases if "meta" in c.name]
    assert notes and all(isinstance(note, Inconclusive) for note in notes), notes
    for note in notes:
        assert "not decided on the meta device" in note and "keeps its points" in note
        assert not any(text in note for text in TORCH_INTERNALS), note


def _meta_error(op) -> Outcome:
    try:
        op()
    except Exception as exc:  # noqa: BLE001 - the test wants whatever torch raises
        return Outcome("raised", exception=type(exc).__name__, message=f"{type(exc).__name__}: {exc}")
    raise AssertionError("the op ran on the meta device")


META_I = torch.tensor([[1, 2], [0, 3]]).to("meta")
META_W = torch.randn(4, 3).to("meta")
NEEDS_VALUES_OPS = {
    ".item()": lambda: META_I.max().item(),
    "int()": lambda: int(META_I[0, 0]),
    "a comparison in an if": lambda: 1 if (META_I < 0).any() else 0,
    ".tolist()": lambda: META_I.tolist(),
    ".numpy()": lambda: META_I.numpy(),
    "torch.nonzero": lambda: torch.nonzero(META_I),
    "a boolean mask": lambda: META_W[META_I[:, 0] > 0],
    "masked_select": lambda: torch.masked_select(META_W, META_W > 0),
    "torch.unique": lambda: torch.unique(META_I),
    "torch.bincount": lambda: torch.bincount(META_I.reshape(-1)),
    "torch.where with one argument": lambda: torch.where(META_I > 0),
    "repeat_interleave": lambda: torch.repeat_interleave(META_I.reshape(-1)),
    "torch.equal": lambda: torch.equal(META_W, META_W),
}


@pytest.mark.parametrize("op", NEEDS_VALUES_OPS.values(), ids=list(NEEDS_VALUES_OPS))
def test_every_way_torch_refuses_values_on_meta_is_inconclusive_and_said_in_plain_words(op):
    note = needs_values(_meta_error(op), "one_hot")
    assert isinstance(note, Inconclusive)
    assert "`one_hot` needs the values of its inputs" in note
    assert not any(text in note for text in TORCH_INTERNALS), note


DEVICE_ERRORS = {
    "a CPU tensor with a meta one": lambda: torch.ones(4) * torch.ones(4, device="meta"),
    "torch.cat across devices": lambda: torch.cat([torch.ones(2), torch.ones(2, device="meta")]),
    "a CPU arange against meta indices": lambda: META_I.unsqueeze(-1) == torch.arange(4),
}


@pytest.mark.parametrize("op", DEVICE_ERRORS.values(), ids=list(DEVICE_ERRORS))
def test_a_device_error_on_meta_is_not_inconclusive(op):
    assert needs_values(_meta_error(op), "one_hot") is None


def test_on_a_gpu_machine_the_cuda_twin_of_an_inconclusive_meta_case_judges_normally(monkeypatch):
    monkeypatch.setattr(evaluate, "cuda_available", lambda: True)
    assignment, group = checks.find_group("one_hot")
    planned = evaluate.plan(assignment, group, include_hidden=False)
    meta = next(p.case for p in planned if p.case.call.device == "meta")
    twin = next(p.case for p in planned if p.case.name == f"{meta.name} [cuda]")
    item = _meta_error(NEEDS_VALUES_OPS[".item()"])
    assert isinstance(meta.verdict(item), Inconclusive)
    failed = Outcome("raised", exception="RuntimeError", message="RuntimeError: CUDA error: an illegal memory access")
    assert twin.verdict(failed) is not None and not isinstance(twin.verdict(failed), Inconclusive)
    on_cpu = {"out": torch.zeros(2, 4, 10), "mixed": []}
    assert "expected cuda" in twin.verdict(Outcome("ok", value=on_cpu))

    def on_cuda(mixed: list[str]) -> Outcome:
        out = torch.zeros(2, 4, 10)
        out.wire_device = "cuda:0"
        return Outcome("ok", value={"out": out, "mixed": mixed})

    assert twin.verdict(on_cuda([])) is None
    note = "indexing (t[...]) combined a CPU tensor of shape (10, 10) with tensors on the cuda device"
    assert "mixes devices" in twin.verdict(on_cuda([note]))


# ---------------------------------------------------------------- differently written correct code

TOKENIZE_WITH_REPLACE = '''
def basic_english_tokenize(line):
    line = line.lower().replace("'", " ' ").replace('"', "").replace(".", " . ").replace("<br />", " ")
    for mark in ",()!?":
        line = line.replace(mark, f" {mark} ")
    for mark in ";:":
        line = line.replace(mark, " ")
    return line.split()
'''

VOCAB_WITH_LISTS = '''
class Vocab:
    def __init__(self, itos):
        self.tokens = list(itos)
        self.default = None

    def __len__(self):
        return len(self.tokens)

    def __contains__(self, token):
        return token in self.tokens

    def __getitem__(self, token):
        if token in self.tokens:
            return self.tokens.index(token)
        if self.default is None:
            raise KeyError(token)
        return self.default

    def lookup_indices(self, tokens):
        return [self[t] for t in tokens]

    def lookup_tokens(self, indices):
        return [self.tokens[i] for i in indices]

    def get_itos(self):
        return self.tokens[:]

    def get_stoi(self):
        from collections import OrderedDict
        return OrderedDict((t, i) for i, t in enumerate(self.tokens))

    def set_default_index(self, index):
        self.default = index

    def get_default_index(self):
        return self.default
'''

BUILD_WITH_TWO_SORTS = '''
def build_vocab(token_lists, min_freq=1, specials=("<unk>", "<pad>")):
    counts = {}
    for tokens in token_lists:
        for token in tokens:
            counts[token] = counts.get(token, 0) + 1
    words = sorted(sorted(counts), key=counts.get, reverse=True)  # stable: ties stay in lexicographic order
    vocab = Vocab(list(specials) + [w for w in words if counts[w] >= min_freq and w not in specials])
    if "<unk>" in specials:
        vocab.set_default_index(list(specials).index("<unk>"))
    return vocab
'''

ONE_HOT_WITH_SCATTER = '''
def one_hot(indices, num_classes):
    out = torch.zeros(*indices.shape, num_classes, device=indices.device)
    return out.scatter(-1, indices.unsqueeze(-1), 1.0)
'''

FORWARD_WITH_INDEX_SELECT = '''
def embedding_forward(indices, weight, padding_idx=None):
    if indices.is_floating_point() or indices.is_complex():
        raise TypeError("indices must be integers")
    if indices.device.type != "meta" and ((indices < 0).any() or (indices >= weight.shape[0]).any()):
        raise IndexError("index out of range")
    rows = weight.index_select(0, indices.reshape(-1).long())
    return rows.reshape(*indices.shape, weight.shape[1])
'''

BACKWARD_WITH_ONE_HOT_MATMUL = '''
def embedding_backward(indices, grad_output, num_embeddings, padding_idx=None):
    D = grad_output.shape[-1]
    E = one_hot(indices.reshape(-1), num_embeddings).to(grad_output.dtype)   # (M, V)
    grad_weight = E.T @ grad_output.reshape(-1, D)
    if padding_idx is not None:
        keep = torch.ones(num_embeddings, 1, dtype=grad_output.dtype, device=grad_output.device)
        keep[padding_idx] = 0
        grad_weight = grad_weight * keep
    return grad_weight
'''

BACKWARD_WITH_INDEX_ADD_ = '''
def embedding_backward(indices, grad_output, num_embeddings, padding_idx=None):
    rows = grad_output.reshape(-1, grad_output.shape[-1])
    flat = indices.reshape(-1)
    if padding_idx is not None:
        rows = rows.masked_fill((flat == padding_idx).unsqueeze(1), 0)
    grad_weight = torch.zeros(num_embeddings, rows.shape[1], dtype=rows.dtype, device=rows.device)
    grad_weight.index_add_(0, flat, rows)
    return grad_weight
'''

BACKWARD_WITH_SCATTER_ADD = '''
def embedding_backward(indices, grad_output, num_embeddings, padding_idx=None):
    D = grad_output.shape[-1]
    rows = grad_output.reshape(-1, D)
    target = indices.reshape(-1, 1).expand(-1, D)
    grad_weight = grad_output.new_zeros(num_embeddings, D).scatter_add(0, target, rows)
    if padding_idx is not None:
        grad_weight[padding_idx] = 0.0
    return grad_weight
'''

COSINE_WITH_NORMALIZE = '''
import torch.nn.functional as F


def cosine_similarity_matrix(A, B):
    return F.normalize(A, dim=1) @ F.normalize(B, dim=1).T
'''

COSINE_WITH_EINSUM = '''
def cosine_similarity_matrix(A, B):
    dots = torch.einsum("id,jd->ij", A, B)
    norms = torch.outer(A.norm(dim=1), B.norm(dim=1))
    return dots / norms.clamp_min(1e-16)
'''

NEIGHBORS_WITH_ARGSORT = '''
def nearest_neighbors(weight, index, k):
    order = cosine_similarity_matrix(weight, weight[index].unsqueeze(0))[:, 0].argsort(descending=True)
    return order[order != index][:k]
'''

ANALOGY_WITH_ITOS = '''
def analogy(weight, vocab, a, b, c, k=1):
    itos = vocab.get_itos()
    ranked = cosine_similarity_matrix((weight[vocab[b]] - weight[vocab[a]] + weight[vocab[c]])[None], weight)[0]
    answers = [itos[i] for i in ranked.argsort(descending=True).tolist() if itos[i] not in (a, b, c)]
    return answers[:k]
'''

CORRECT = [
    pytest.param(function(TOKENIZE, TOKENIZE_WITH_REPLACE), id="tokenizer with str.replace"),
    pytest.param(function(VOCAB, VOCAB_WITH_LISTS), id="Vocab on a list, get_stoi an OrderedDict"),
    pytest.param(function(BUILD, BUILD_WITH_TWO_SORTS), id="build_vocab with two stable sorts"),
    pytest.param(function(ONE_HOT, ONE_HOT_WITH_SCATTER), id="one_hot with scatter"),
    pytest.param(function(FORWARD, FORWARD_WITH_INDEX_SELECT), id="forward with index_select"),
    pytest.param(function(BACKWARD, BACKWARD_WITH_ONE_HOT_MATMUL), id="backward as a one-hot matmul"),
    pytest.param(function(BACKWARD, BACKWARD_WITH_INDEX_ADD_), id="backward with index_add_ on masked rows"),
    pytest.param(function(BACKWARD, BACKWARD_WITH_SCATTER_ADD), id="backward with scatter_add"),
    pytest.param(function(COSINE, COSINE_WITH_NORMALIZE), id="cosine with F.normalize"),
    pytest.param(function(COSINE, COSINE_WITH_EINSUM), id="cosine with einsum and an outer product of norms"),
    pytest.param(function(NEIGHBORS, NEIGHBORS_WITH_ARGSORT), id="neighbours with argsort"),
    pytest.param(function(ANALOGY, ANALOGY_WITH_ITOS), id="analogy filtering get_itos"),
]


@pytest.mark.parametrize("overrides", CORRECT)
def test_differently_written_correct_code_keeps_full_marks(overrides: dict[str, str]):
    assert not failures(grade_assignment(A, overrides))


# ---------------------------------------------------------------- hostile or malformed return values

HOSTILE = [
    pytest.param(TOKENIZE, "def basic_english_tokenize(line):\n    return line.lower()\n", "basic_english_tokenize",
                 "returned a str; expected a list of strings", id="tokenizer returns a string"),
    pytest.param(TOKENIZE, "def basic_english_tokenize(line):\n    return tuple(line.lower().split())\n",
                 "basic_english_tokenize", "returned a tuple; expected a list", id="tokenizer returns a tuple"),
    pytest.param(BUILD, "def build_vocab(token_lists, min_freq=1, specials=('<unk>', '<pad>')):\n    return {}\n",
                 "build_vocab", "the object `build_vocab` returned (dict) has no method `get_itos`",
                 id="build_vocab returns a dict"),
    pytest.param(NEIGHBORS, "def nearest_neighbors(weight, index, k):\n    return [1, 2, 3][:k]\n", "nearest_neighbors",
                 "is a list; expected a tensor of shape", id="neighbours as a list"),
    pytest.param(NEIGHBORS, "def nearest_neighbors(weight, index, k):\n    return torch.arange(k, dtype=torch.int32)\n",
                 "nearest_neighbors", "expected int64 indices", id="neighbours as int32"),
    pytest.param(BACKWARD, "def embedding_backward(indices, grad_output, num_embeddings, padding_idx=None):\n"
                 "    return grad_output, None\n", "embedding_backward", "grad_weight is a tuple",
                 id="backward returns a tuple"),
    pytest.param(ANALOGY, "def analogy(weight, vocab, a, b, c, k=1):\n    return 'cold'\n", "analogy",
                 "returned a str; expected a list of 1 word(s)", id="analogy returns a string"),
    pytest.param(VOCAB, VOCAB_WITH_LISTS.replace("return [self[t] for t in tokens]",
                                                 "return tuple(self[t] for t in tokens)"),
                 "vocab", "returned a tuple, (2, 3, 4, 5, 2, 6); expected a list", id="lookup_indices as a tuple"),
]


@pytest.mark.parametrize(("cell", "source", "group", "says"), HOSTILE)
def test_a_malformed_return_value_gets_a_clear_message(cell, source, group, says):
    namespace = solution_namespace(A, {cell: source})
    result = grade_in_process(group, namespace)
    assert result.score < result.points
    assert any(says in text for text in feedback(result)), feedback(result)


# ---------------------------------------------------------------- the answers the public checks carry as data

def test_public_tokenizer_answers_are_the_references():
    for _, line, expected in embeddings.TOKENIZE_EXAMPLES:
        assert hidden.reference_tokenize(line) == expected, line


def test_public_vocabulary_answers_are_the_references():
    for case in embeddings.build_vocab_cases():
        if case.call.recipe == "embeddings.built_vocab" and case.call.args[2] == [("get_itos", [])]:
            token_lists, kwargs, _ = case.call.args
            expected = hidden.reference_itos(token_lists, kwargs.get("min_freq", 1),
                                             tuple(kwargs.get("specials", embeddings.DEFAULT_SPECIALS)))
            outcome = embeddings.Outcome("ok", value=[expected])
            assert case.verdict(outcome) is None, case.name


def test_public_neighbour_and_analogy_answers_are_the_references():
    for case in embeddings.neighbors_cases():
        if not case.call.return_args:
            weight, index, k = case.call.args
            got = torch.tensor(hidden.reference_neighbors(weight, index, k))
            assert case.verdict(embeddings.Outcome("ok", value=got)) is None, case.name
    for case in embeddings.analogy_cases():
        weight, itos, a, b, c, k = case.call.args
        answer = hidden.reference_analogy(weight, itos, a, b, c, k)
        assert case.verdict(embeddings.Outcome("ok", value=answer)) is None, case.name


def test_the_stand_in_vocabulary_has_torchtexts_api():
    vocab = ListVocab(["<unk>", "a", "b"])
    assert (len(vocab), vocab["b"], "a" in vocab, "z" in vocab) == (3, 2, True, False)
    assert vocab.lookup_tokens(torch.tensor([2, 0])) == ["b", "<unk>"]
    assert vocab.lookup_indices(["a", "b"]) == [1, 2] and vocab.get_default_index() is None
    with pytest.raises(KeyError):
        vocab["z"]
    with pytest.raises(IndexError):
        vocab.lookup_tokens([-1])


# ---------------------------------------------------------------- verdicts separate right from wrong on any text

WORDS = st.sampled_from(["the", "The", "cat", "don't", "end.", "(a)", "b,c", "why?!", "x;y", "k:v", "<br />",
                         '"q"', "é", "$5", "3.14", "-", " ", "\t", "\n", ""])


@cache
def namespace_of(name: str) -> dict:
    overrides = {"reference": None, "case-preserving": edit(TOKENIZE, ("    line = line.lower()\n", ""))}[name]
    return solution_namespace(A, overrides)


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(pieces=st.lists(WORDS, max_size=12), glue=st.sampled_from(["", " ", "  "]))
def test_tokenize_case_passes_the_reference_and_fails_a_case_preserving_tokenizer(pieces, glue):
    line = glue.join(pieces)
    case = hidden.tokenize_case("property", line)
    assert case.verdict(inline.run_call_in_process(namespace_of("reference"), case.call)) is None
    message = case.verdict(inline.run_call_in_process(namespace_of("case-preserving"), case.call))
    if line.lower() == line:
        assert message is None
    else:
        assert message is not None and "without lowercasing" in message


def test_the_notebooks_feature_table_is_the_one_the_analogy_checks_use():
    import json

    from conftest import ROOT

    nb = json.loads((ROOT / "solutions" / A / f"{A}.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["metadata"]["nbgrader"]["grade_id"] == "features_demo")
    namespace = {"torch": torch, "print": lambda *args: None}
    exec("".join(cell["source"]), namespace)
    assert namespace["feature_words"] == embeddings.FEATURE_WORDS


# ---------------------------------------------------------------- chinese_tokenize (an addition to CURRICULUM.md)

HAN = r"\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\U00020000-\U0003ffff"  # the notebook's four blocks, for the sources

CHINESE_BY_CODE_POINTS = '''
HAN_BLOCKS = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF)]


def is_chinese(ch):
    return any(low <= ord(ch) <= high for low, high in HAN_BLOCKS)


def chinese_tokenize(line):
    tokens, run = [], []
    for ch in line:
        if is_chinese(ch) or ch in CHINESE_PUNCTUATION:
            tokens.extend(basic_english_tokenize("".join(run)))
            tokens.append(ch)
            run = []
        else:
            run.append(ch)
    tokens.extend(basic_english_tokenize("".join(run)))
    return tokens
'''

CHINESE_WITH_RE_SPLIT = r'''
def chinese_tokenize(line):
    pieces = re.split("([" + HAN + CHINESE_PUNCTUATION + "])", line)
    tokens = []
    for position, piece in enumerate(pieces):
        if position % 2:  # what re.split keeps of its separators: one character each
            tokens.append(piece)
        else:
            tokens += basic_english_tokenize(piece)
    return tokens
'''.replace("HAN + ", f'r"{HAN}" + ')

CHINESE_RUNS_AS_WORDS = r'''
def chinese_tokenize(line):
    line = re.sub(r"[HAN]+", r" \g<0> ", line)
    line = re.sub(f"[{CHINESE_PUNCTUATION}]", r" \g<0> ", line)
    return basic_english_tokenize(line)
'''.replace("HAN", HAN)

CHINESE_CASE_PRESERVING = r'''
def chinese_tokenize(line):
    line = re.sub(rf"[HAN{CHINESE_PUNCTUATION}]", r" \g<0> ", line)
    for pattern, replacement in [(r"'", " '  "), (r'"', ""), (r"\.", " . "), (r"<br />", " "), (r",", " , "),
                                 (r"\(", " ( "), (r"\)", " ) "), (r"!", " ! "), (r"\?", " ? "), (r";", " "),
                                 (r":", " ")]:
        line = re.sub(pattern, replacement, line)
    return line.split()
'''.replace("HAN", HAN)

CHINESE_PUNCTUATION_DROPPED = r'''
def chinese_tokenize(line):
    line = re.sub(r"[HAN]", r" \g<0> ", line)
    for mark in CHINESE_PUNCTUATION:  # punctuation is not a word
        line = line.replace(mark, " ")
    return basic_english_tokenize(line)
'''.replace("HAN", HAN)

CHINESE_PUNCTUATION_NOT_CUT = r'''
def chinese_tokenize(line):
    return basic_english_tokenize(re.sub(r"[HAN]", r" \g<0> ", line))
'''.replace("HAN", HAN)

CHINESE_MAIN_BLOCK_ONLY = r'''
def chinese_tokenize(line):
    return basic_english_tokenize(re.sub(rf"[\u4e00-\u9fff{CHINESE_PUNCTUATION}]", r" \g<0> ", line))
'''

CHINESE_KEEPS_WHITESPACE = CHINESE_BY_CODE_POINTS.replace("if is_chinese(ch) or",
                                                          "if ch.isspace() or is_chinese(ch) or")

CHINESE_BUGS = [  # the list
    Bug("Chinese tokenizer that splits on whitespace only",
        function(CHINESE, "def chinese_tokenize(line):\n    return line.lower().split()\n"), ("chinese_tokenize",),
        "it matches splitting on whitespace only"),
    Bug("a run of Chinese characters taken as one word", function(CHINESE, CHINESE_RUNS_AS_WORDS),
        ("chinese_tokenize",), "is a run of Chinese characters taken as one word"),
    Bug("English inside Chinese text not lowercased", function(CHINESE, CHINESE_CASE_PRESERVING),
        ("chinese_tokenize",), "without lowercasing"),
    Bug("Chinese punctuation dropped", function(CHINESE, CHINESE_PUNCTUATION_DROPPED), ("chinese_tokenize",),
        "the Chinese punctuation marks are missing"),
    Bug("English words split into their letters",
        function(CHINESE, "def chinese_tokenize(line):\n    return [ch for ch in line.lower() if not ch.isspace()]\n"),
        ("chinese_tokenize",), "the English words are split into their letters"),
    Bug("whitespace kept as tokens", function(CHINESE, CHINESE_KEEPS_WHITESPACE), ("chinese_tokenize",),
        "whitespace only separates tokens, and is dropped"),
    Bug("list(line)", function(CHINESE, "def chinese_tokenize(line):\n    return list(line)\n"), ("chinese_tokenize",),
        "it matches list(line)"),
    # ---- further plausible mistakes
    Bug("Chinese punctuation not cut off from the text beside it", function(CHINESE, CHINESE_PUNCTUATION_NOT_CUT),
        ("chinese_tokenize",), "the Chinese punctuation mark '！' is stuck to other text in 'pytorch！'"),
    Bug("only the main block of Chinese characters", function(CHINESE, CHINESE_MAIN_BLOCK_ONLY), ("chinese_tokenize",),
        "'㐀' (U+3400) is a Chinese character too, outside the main block"),
]


@pytest.mark.parametrize("bug", CHINESE_BUGS, ids=lambda bug: bug.name)
def test_a_plausible_chinese_tokenizer_bug_loses_points_there_only_and_is_named(bug: Bug):
    assert_loses_exactly(bug, grade_assignment(A, bug.overrides))


@pytest.mark.parametrize("overrides", [
    pytest.param(function(CHINESE, CHINESE_BY_CODE_POINTS), id="a loop over the characters, blocks by ord()"),
    pytest.param(function(CHINESE, CHINESE_WITH_RE_SPLIT), id="re.split keeping the separators"),
])
def test_a_differently_written_chinese_tokenizer_keeps_full_marks(overrides: dict[str, str]):
    assert not failures(grade_assignment(A, overrides))


def test_a_chinese_tokenizer_over_a_broken_basic_english_says_fix_that_first():
    bug = next(bug for bug in BUGS if bug.name == "whitespace-only tokenizer")
    result = grade_assignment(A, bug.overrides)["chinese_tokenize"]
    assert result.score < result.points
    assert result.hint and "fix basic_english_tokenize first" in result.hint, result.hint


def test_a_chinese_tokenizer_over_an_unwritten_basic_english_says_which_is_not_written():
    stub = released_solution_cells(A)[TOKENIZE]
    result = grade_assignment(A, {TOKENIZE: stub})["chinese_tokenize"]
    assert result.score == 0
    assert all("calls `basic_english_tokenize`, which is not implemented yet" in (c.message or "")
               for c in result.cases if c.name != "the empty line"), [c.message for c in result.cases]


def test_a_chinese_tokenizer_returning_a_string_gets_a_clear_message():
    namespace = solution_namespace(A, function(CHINESE, "def chinese_tokenize(line):\n    return ' '.join(line)\n"))
    result = grade_in_process("chinese_tokenize", namespace)
    assert result.score == 0
    assert any("returned a str; expected a list of strings" in text for text in feedback(result))


def test_public_chinese_answers_are_the_references():
    for _, line, expected in embeddings.CHINESE_EXAMPLES:
        assert hidden.reference_chinese_tokenize(line) == expected, line


def test_the_notebooks_examples_of_chinese_tokens_are_what_the_reference_gives():
    import ast
    import json
    import re

    from conftest import ROOT

    from autograder.authoring import release

    nb = json.loads((ROOT / "solutions" / A / f"{A}.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c["metadata"]["nbgrader"]["grade_id"] == "md_chinese")
    example = re.compile(r"`([^`]+)` (?:→|gives|becomes|变成|得到) `(\[[^`]*\])`")
    for text in ("".join(cell["source"]), release.translation(cell, "zh")):
        found = example.findall(text)
        assert len(found) >= 7
        for line, tokens in found:
            assert hidden.reference_chinese_tokenize(line) == ast.literal_eval(tokens), line


def test_the_setup_cell_defines_the_punctuation_marks_the_checks_use():
    namespace = solution_namespace(A)
    assert namespace["CHINESE_PUNCTUATION"] == embeddings.CHINESE_PUNCTUATION
    assert len(set(embeddings.CHINESE_PUNCTUATION)) == len(embeddings.CHINESE_PUNCTUATION) == 24
    assert not any(map(embeddings.is_chinese_character, embeddings.CHINESE_PUNCTUATION))


def test_the_chinese_blocks_are_the_notebooks_table():
    inside = ["\u4e00", "\u9fff", "\u3400", "\u4dbf", "\uf900", "\ufaff", "\U00020000", "\U00020bb7", "\U0003ffff"]
    outside = ["a", "\u3007", "\u3002", "\uff21", "\u4dc0", "\u3000", "\U00040000", "\u2e80", "\u31c0", "ま"]
    assert all(map(embeddings.is_chinese_character, inside))
    assert not any(map(embeddings.is_chinese_character, outside))


CHINESE_TEXT = st.sampled_from([
    "我", "爱", "深", "度", "學", "習", "㐀", "䶮", "\uf900", "𠮷", "𪚥", *embeddings.CHINESE_PUNCTUATION, "——", "·",
    "ＧＰＵ", "RNN", "lstm", "Don't", "end.", "3.14", "(a)", "x;y", "k:v", "<br />", '"q"', "why?!", "é", " ", "  ",
    "\t", "\n", "\u3000", ""])


@cache
def chinese_namespace_of(name: str) -> dict:
    overrides = {"reference": None, "loop": function(CHINESE, CHINESE_BY_CODE_POINTS),
                 "runs as words": function(CHINESE, CHINESE_RUNS_AS_WORDS)}[name]
    return solution_namespace(A, overrides)


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(pieces=st.lists(CHINESE_TEXT, max_size=16))
def test_chinese_tokenize_case_passes_right_code_and_fails_a_run_merging_tokenizer_exactly_when_runs_occur(pieces):
    line = "".join(pieces)
    case = hidden.chinese_case("property", line)
    for right in ("reference", "loop"):
        assert case.verdict(inline.run_call_in_process(chinese_namespace_of(right), case.call)) is None, right
    message = case.verdict(inline.run_call_in_process(chinese_namespace_of("runs as words"), case.call))
    adjacent = any(all(map(embeddings.is_chinese_character, line[i:i + 2])) for i in range(len(line) - 1))
    if not adjacent:
        assert message is None
    else:
        assert message is not None
        assert "taken as one word" in message or "splitting on whitespace only" in message, message


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(pieces=st.lists(WORDS, max_size=12), glue=st.sampled_from(["", " ", "\u3000"]))
def test_without_chinese_characters_or_punctuation_chinese_tokenize_is_basic_english(pieces, glue):
    line = glue.join(pieces)
    assert hidden.reference_chinese_tokenize(line) == hidden.reference_tokenize(line)
