"""Hidden cases for 05_embeddings, and the references that compute their answers.

The tokenizer, the vocabulary, nearest neighbours and analogies have no torch oracle. Their
references live here, with the hidden checks, so that they never ship to students with the
public checks (whose answers are data).
"""

from __future__ import annotations

import random
import re
from collections import Counter

import torch
import torch.nn.functional as F

from autograder.checks import embeddings as E
from autograder.checks.base import randn, seeded
from autograder.checks.embeddings import ASSIGNED, PADDING_TRAINED, PADDING_ZEROED, Step
from autograder.checks.recurrent import unchanged_case

# torchtext 0.18, torchtext/data/utils.py: `_patterns` and `_replacements` of `_basic_english_normalize`,
# applied in this order to the lowercased line, which is then split on whitespace.
_BASIC_ENGLISH = [(re.compile(pattern), replacement) for pattern, replacement in zip(
    [r"\'", r"\"", r"\.", r"<br \/>", r",", r"\(", r"\)", r"\!", r"\?", r"\;", r"\:", r"\s+"],
    [" '  ", "", " . ", " ", " , ", " ( ", " ) ", " ! ", " ? ", " ", " ", " "],
)]


def reference_tokenize(line: str) -> list[str]:
    line = line.lower()
    for pattern, replacement in _BASIC_ENGLISH:
        line = pattern.sub(replacement, line)
    return line.split()


def reference_itos(token_lists: list[list[str]], min_freq: int = 1,
                   specials: tuple[str, ...] = E.DEFAULT_SPECIALS) -> list[str]:
    """torchtext's build_vocab_from_iterator: descending count, ties lexicographic, specials first."""
    counts = Counter(token for tokens in token_lists for token in tokens)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return list(specials) + [token for token, count in ranked if count >= min_freq and token not in specials]


def reference_neighbors(weight: torch.Tensor, index: int, k: int) -> list[int]:
    similarity = F.cosine_similarity(weight.double(), weight[index].double().unsqueeze(0), dim=1)
    similarity[index] = -float("inf")
    return similarity.topk(k).indices.tolist()


def analogy_scores(weight: torch.Tensor, itos: list[str], a: str, b: str, c: str) -> torch.Tensor:
    """cos(w, b - a + c) for every word w, with a, b and c themselves at -inf."""
    ia, ib, ic = (itos.index(word) for word in (a, b, c))
    w = weight.double()
    similarity = F.cosine_similarity(w, (w[ib] - w[ia] + w[ic]).unsqueeze(0), dim=1)
    similarity[[ia, ib, ic]] = -float("inf")
    return similarity


def reference_analogy(weight: torch.Tensor, itos: list[str], a: str, b: str, c: str, k: int) -> list[str]:
    return [itos[i] for i in analogy_scores(weight, itos, a, b, c).topk(k).indices.tolist()]


def well_separated(scores: torch.Tensor, k: int, gap: float = 1e-3) -> bool:
    """The top k + 1 scores differ by more than `gap`, so the answer does not hinge on rounding."""
    top = scores.topk(min(k + 1, scores.numel())).values
    return bool((top[:-1] - top[1:] > gap).all()) if top.numel() > 1 else True


# ---------------------------------------------------------------- basic_english_tokenize

PIECES = ["The", "cat", "SAT", "on", "the", "mat", "don't", "\"quoted\"", "(aside)", "end.", "wait,", "what?!",
          "semi;colon", "key:value", "<br />", "x-ray", "3.14", "é", "O'Neil", "$5", "...", "¡hola!"]


def random_line(seed: int, length: int = 12) -> str:
    rng = random.Random(seed)
    separators = [" ", " ", " ", "", "\t", "  ", "\n"]
    return "".join(rng.choice(PIECES) + rng.choice(separators) for _ in range(length))


def tokenize_case(name: str, line: str) -> E.Case:
    return E.tokenize_case(name, line, reference_tokenize(line))


# ---------------------------------------------------------------- chinese_tokenize

def reference_chinese_tokenize(line: str) -> list[str]:
    """Every Chinese character and Chinese punctuation mark a token of its own; each run of other text between
    them tokenized by basic_english on its own."""
    tokens: list[str] = []
    run: list[str] = []
    for ch in line:
        if E.is_chinese_character(ch) or ch in E.CHINESE_PUNCTUATION:
            tokens += reference_tokenize("".join(run))
            tokens.append(ch)
            run = []
        else:
            run.append(ch)
    return tokens + reference_tokenize("".join(run))


CHINESE_PIECES = ["我", "爱", "深度学习", "RNN", "的", "隐藏状态", "h_t", "LSTM", "和", "GRU", "，", "。", "！", "？",
                  "、", "；", "：", "“引号”", "‘单引号’", "（括号）", "《书名》", "〈篇名〉", "【注】", "「對話」",
                  "『引文』", "……", "——", "·", "PyTorch", "don't", "3.14", "ＧＰＵ", "\u3000", "𠮷", "䶮", "\uf900",
                  "<br />", "Hello,", "(yes!)", "a;b:c", '"q"']


def random_chinese_line(seed: int, length: int = 14) -> str:
    rng = random.Random(seed)
    separators = ["", "", "", " ", "\t", "\u3000", "\n"]
    return "".join(rng.choice(CHINESE_PIECES) + rng.choice(separators) for _ in range(length))


def chinese_case(name: str, line: str) -> E.Case:
    return E.chinese_case(name, line, reference_chinese_tokenize(line))


# ---------------------------------------------------------------- build_vocab

def zipf_corpus(seed: int, vocabulary: int = 14, lines: int = 6, length: int = 7) -> list[list[str]]:
    """Token lists whose counts fall off like word counts do, with many ties among the rare words."""
    rng = random.Random(seed)
    words = [f"w{rng.randrange(1000):03d}" for _ in range(vocabulary)]
    weights = [1 / (rank + 1) for rank in range(vocabulary)]
    return [rng.choices(words, weights, k=length) for _ in range(lines)]


def build_vocab_case(name: str, token_lists: list[list[str]], kwargs: dict, once: bool = False) -> E.Case:
    expected = reference_itos(token_lists, kwargs.get("min_freq", 1), tuple(kwargs.get("specials",
                                                                                      E.DEFAULT_SPECIALS)))
    return E.build_vocab_case(name, token_lists, kwargs, expected, once=once)


# ---------------------------------------------------------------- nearest_neighbors and analogy

def neighbors_case(name: str, seed: int, V: int, D: int, index: int, k: int, dtype: torch.dtype = torch.float64,
                   noncontiguous: bool = False, copy_at: int | None = None, zero_at: int | None = None) -> E.Case:
    """A random table; `copy_at`: that row is the query's row scaled by 2.5 (similarity 1, a tie with the query
    itself); `zero_at`: that row is zero (similarity 0 with every row)."""
    g = seeded(seed)
    weight = randn(g, V, D, dtype=dtype) * (0.5 + 2 * torch.rand(V, 1, generator=g)).to(dtype)
    if copy_at is not None:
        weight[copy_at] = 2.5 * weight[index]
    if zero_at is not None:
        weight[zero_at] = 0.0
    similarity = F.cosine_similarity(weight.double(), weight[index].double().unsqueeze(0), dim=1)
    similarity[index] = -float("inf")
    assert well_separated(similarity, k), f"pick another seed for {name!r}"
    dots = weight.double() @ weight[index].double()
    dots[index] = -float("inf")
    return E.neighbors_case(name, weight, index, k, reference_neighbors(weight, index, k), noncontiguous,
                            by_dot=dots.topk(k).indices.tolist(), ties=None if copy_at is None else [copy_at])


def analogy_case(name: str, weight: torch.Tensor, itos: list[str], words: tuple[str, str, str], k: int) -> E.Case:
    assert well_separated(analogy_scores(weight, itos, *words), k), f"pick other words for {name!r}"
    return E.analogy_case(name, weight, itos, words, k, reference_analogy(weight, itos, *words, k))


def random_analogy_case(name: str, seed: int, V: int, D: int, k: int, dtype: torch.dtype = torch.float64) -> E.Case:
    g = seeded(seed)
    weight = randn(g, V, D, dtype=dtype)
    itos = [f"word{i}" for i in range(V)]
    a, b, c = (itos[i] for i in torch.randperm(V, generator=g)[:3].tolist())
    return analogy_case(name, weight, itos, (a, b, c), k)


def shuffled_features(seed: int) -> tuple[torch.Tensor, list[str]]:
    order = list(E.FEATURE_WORDS)
    random.Random(seed).shuffle(order)
    return E.feature_table(order)


# ---------------------------------------------------------------- the tensor stubs: other shapes, devices, dtypes

def _indices(seed: int, shape: tuple[int, ...], V: int) -> torch.Tensor:
    return torch.randint(0, V, shape, generator=seeded(seed))


HIDDEN = {
    "basic_english_tokenize": lambda: [
        tokenize_case("all capitals", "THE END. REALLY!"),
        tokenize_case("only '<br />' with its space is a line break", "<BR />one<br/>two<br />three"),
        tokenize_case("several apostrophes and quotes", "It's O'Neil's \"book\", isn't it?"),
        tokenize_case("non-ASCII letters and dashes", "Café — naïve résumé…"),
        tokenize_case("a mix of everything, seed 1", random_line(1)),
        tokenize_case("a mix of everything, seed 2", random_line(2, 20)),
    ],
    "chinese_tokenize": lambda: [
        chinese_case("traditional characters and the corner quotes 「」『』", "他說：「我喜歡『深度學習』。」"),
        chinese_case("characters beyond U+FFFF (Extension B), next to English and to each other", "RNN𠮷𪚥的教程"),
        chinese_case("compatibility ideographs next to each other and to English", "\uf900\uf901與豈ab"),
        chinese_case("capitals and digits between Chinese characters", "LSTM和GRU都有门控，RNN没有。共3种"),
        chinese_case("ASCII punctuation beside Chinese punctuation", "真的?！(对)。"),
        chinese_case("full-width letters and digits are text; the full-width colon is punctuation", "ＧＰＵ：２块"),
        chinese_case("<br />, quotes and the dash between Chinese characters", '他说"好"<br />然后——走了'),
        chinese_case("a mix of everything, seed 1", random_chinese_line(1)),
        chinese_case("a mix of everything, seed 2", random_chinese_line(2, 24)),
    ],
    "vocab": lambda: [
        E.vocab_case("a vocabulary without specials", ["b", "a", "c"],
                     [("__len__", []), ("get_itos", []), ("lookup_indices", [["c", "b", "a"]])]),
        E.vocab_case("set_default_index to the last index", ["b", "a", "c"],
                     [("set_default_index", [2]), ("lookup_indices", [["zz", "a", "yy"]]),
                      ("get_default_index", [])]),
        E.vocab_case("empty lookups", E.VOCAB_ITOS, [("lookup_indices", [[]]), ("lookup_tokens", [[]])]),
        E.vocab_case("non-ASCII tokens", ["<unk>", "café", "naïve", "—"],
                     [("__getitem__", ["naïve"]), ("get_stoi", []), ("__contains__", ["cafe"])]),
        E.vocab_case("lookup_tokens round trip", E.VOCAB_ITOS,
                     [("lookup_tokens", [[6, 5, 4, 3, 2, 1, 0]]), ("lookup_indices", [E.VOCAB_ITOS[::-1]])]),
    ],
    "build_vocab": lambda: [
        build_vocab_case("capitals sort before lowercase letters", [["cat", "Cat", "bat", "Bat", "cat", "Cat"]], {}),
        build_vocab_case("min_freq above every count leaves only the specials", E.CORPUS, {"min_freq": 5}),
        build_vocab_case("no token lists at all", [], {"specials": ("<unk>",)}),
        build_vocab_case("a special that is a frequent word", E.CORPUS, {"specials": ("<unk>", "the")}),
        build_vocab_case("word counts like a text's, seed 1", zipf_corpus(1), {"min_freq": 2, "specials": ("<pad>",)}),
        build_vocab_case("word counts like a text's, seed 2", zipf_corpus(2, 20, 9, 9), {}),
        build_vocab_case("a one-pass iterable with min_freq=2", zipf_corpus(3), {"min_freq": 2}, once=True),
        E.default_index_case("no <unk> among the specials leaves no default index", E.CORPUS,
                             {"specials": ("<pad>", "<bos>")}, None),
    ],
    "one_hot": lambda: [
        E.one_hot_case("indices (2, 3, 4), C=5", _indices(201, (2, 3, 4), 5), 5),
        E.one_hot_case("C=1", torch.zeros(3, dtype=torch.long), 1),
        E.one_hot_case("non-contiguous indices", _indices(202, (4, 3), 6), 6, noncontiguous=True),
        E.one_hot_case("meta device, (7,) indices", _indices(203, (7,), 9), 9, device="meta"),
    ],
    "embedding_forward": lambda: [
        E.forward_value_case("indices (2, 3, 4)", _indices(211, (2, 3, 4), 8), E.table(211, 8, 5)),
        E.forward_value_case("a single index (0-dim)", torch.tensor(3), E.table(212, 6, 4)),
        E.forward_value_case("non-contiguous table and indices", _indices(213, (3, 5), 9), E.table(213, 9, 4),
                             noncontiguous=True),
        E.forward_value_case("padding_idx=0 among repeats", torch.tensor([[0, 0, 1], [2, 0, 3]]), E.table(214, 4, 7),
                             padding_idx=0),
        E.forward_shape_case("meta device, float32, padding_idx", _indices(215, (4, 2), 5),
                             E.table(215, 5, 3, torch.float32), padding_idx=1),
        E.forward_raises_case("float64 indices raise TypeError", torch.tensor([0.0, 1.0], dtype=torch.float64),
                              E.table(216, 4, 2), "TypeError", E.FLOAT_INDICES),
        E.forward_raises_case("a far too large index raises IndexError", torch.tensor([[0, 1], [2, 1000]]),
                              E.table(217, 4, 2), "IndexError", E.INDEX_TOO_LARGE),
        E.forward_raises_case("the index -V raises IndexError", torch.tensor([-4]), E.table(218, 4, 2),
                              "IndexError", E.NEGATIVE_INDEX),
    ],
    "embedding_backward": lambda: [
        E.backward_value_case("indices (2, 3, 4)", E.backward_inputs(221, (2, 3, 4), 6, 5)),
        E.backward_value_case("padding_idx among repeats", E.backward_inputs(222, (3, 6), 4, 3), padding_idx=1),
        E.backward_value_case("one word repeated everywhere",
                              E.backward_inputs(223, (5,), 3, 2, indices=torch.full((5,), 2))),
        E.backward_value_case("a single index (0-dim)", E.backward_inputs(224, (), 5, 3, indices=torch.tensor(4))),
        E.backward_value_case("non-contiguous grad_output", E.backward_inputs(225, (4, 3), 7, 5), noncontiguous=True),
        E.backward_shape_case("meta device, float32", E.backward_inputs(226, (3, 2), 8, 4, dtype=torch.float32)),
    ],
    "cosine_similarity_matrix": lambda: [
        E.cosine_value_case("a single row against many", E.cosine_inputs(231, n_A=1, n_B=6, D=3)),
        E.cosine_value_case("D=1: every similarity is ±1", E.cosine_inputs(232, n_A=3, n_B=4, D=1)),
        E.cosine_value_case("larger sizes", E.cosine_inputs(233, n_A=9, n_B=11, D=16)),
        E.cosine_value_case("non-contiguous inputs", E.cosine_inputs(234), noncontiguous=True),
        E.cosine_shape_case("meta device, float32", E.cosine_inputs(235, n_A=2, n_B=7, dtype=torch.float32)),
    ],
    "nearest_neighbors": lambda: [
        neighbors_case("random table, k=4", 241, V=9, D=4, index=3, k=4),
        neighbors_case("random table, the first row, k=1", 242, V=7, D=5, index=0, k=1),
        neighbors_case("random table, k = V - 1", 245, V=6, D=3, index=5, k=5),
        neighbors_case("non-contiguous float32 table", 244, V=8, D=6, index=2, k=3, dtype=torch.float32,
                       noncontiguous=True),
        neighbors_case("a scaled copy of the word earlier in the table", 246, V=8, D=4, index=5, k=3, copy_at=1),
        neighbors_case("a scaled copy of the word later in the table, float32", 247, V=8, D=4, index=2, k=3,
                       dtype=torch.float32, copy_at=6),
        neighbors_case("a zero row among random rows", 248, V=9, D=3, index=4, k=8, zero_at=2),
        unchanged_case("inputs unchanged, float32", E.NEIGHBORS, (E.NEIGHBOR_TABLE.float(), 3, 4)),
    ],
    "analogy": lambda: [
        analogy_case("the words in another order", *shuffled_features(251), ("summer", "hot", "winter"), 1),
        analogy_case("queen : king :: woman : ?", *E.feature_table(), ("queen", "king", "woman"), 1),
        analogy_case("winter : cold :: summer : ?, k=2", *shuffled_features(252), ("winter", "cold", "summer"), 2),
        random_analogy_case("random vectors, k=2", 253, V=12, D=5, k=2),
        random_analogy_case("random float32 vectors, k=3", 254, V=15, D=6, k=3, dtype=torch.float32),
    ],
}


# ---------------------------------------------------------------- references and mistake models
# What the public cases' expected values are computed by; never shipped to students.

def expected_steps(itos: list[str], steps: list[Step], default: int | None = None) -> list:
    """What torchtext's Vocab over `itos` returns for each step (no default index unless set)."""
    stoi = {token: index for index, token in enumerate(itos)}
    results: list = []
    for name, args in steps:
        if name == "__len__":
            results.append(len(itos))
        elif name == "__contains__":
            results.append(args[0] in stoi)
        elif name == "__getitem__":
            results.append(stoi.get(args[0], default))
        elif name == "lookup_indices":
            results.append([stoi.get(token, default) for token in args[0]])
        elif name == "lookup_tokens":
            results.append([itos[i] for i in args[0]])
        elif name == "get_itos":
            results.append(list(itos))
        elif name == "get_stoi":
            results.append(dict(stoi))
        elif name == "set_default_index":
            default = args[0]
            results.append(None)
        elif name == "get_default_index":
            results.append(default)
        else:
            raise ValueError(f"unknown step {name!r}")
    return results


def one_hot_reference(indices: torch.Tensor, num_classes: int) -> torch.Tensor:
    return F.one_hot(indices, num_classes).float()


def forward_reference(indices: torch.Tensor, weight: torch.Tensor, padding_idx: int | None) -> torch.Tensor:
    return F.embedding(indices, weight, padding_idx=padding_idx)


def forward_mistakes(indices: torch.Tensor, weight: torch.Tensor, padding_idx: int | None) -> dict[str, torch.Tensor]:
    if padding_idx is None:
        return {}
    expected = forward_reference(indices, weight, padding_idx)
    return {PADDING_ZEROED: expected.masked_fill((indices == padding_idx).unsqueeze(-1), 0.0)}


def backward_reference(indices: torch.Tensor, grad_output: torch.Tensor, num_embeddings: int,
                       padding_idx: int | None = None) -> torch.Tensor:
    """d(sum(output * grad_output)) / d weight for output = F.embedding(indices, weight, padding_idx), by autograd."""
    weight = torch.zeros(num_embeddings, grad_output.shape[-1], dtype=torch.float64, requires_grad=True)
    F.embedding(indices, weight, padding_idx=padding_idx).backward(grad_output.double())
    return weight.grad.to(grad_output.dtype)


def backward_mistakes(indices: torch.Tensor, grad_output: torch.Tensor, num_embeddings: int,
                      padding_idx: int | None) -> dict[str, torch.Tensor]:
    flat, rows = indices.reshape(-1), grad_output.double().reshape(-1, grad_output.shape[-1])
    assigned = rows.new_zeros(num_embeddings, rows.shape[1]).index_put((flat,), rows, accumulate=False)
    summed = rows.new_zeros(num_embeddings, rows.shape[1]).index_add(0, flat, rows)
    mistakes = {}
    if flat.unique().numel() < flat.numel():
        if padding_idx is not None:
            assigned[padding_idx] = 0
        mistakes[ASSIGNED] = assigned
    if padding_idx is not None and bool((flat == padding_idx).any()):
        mistakes[PADDING_TRAINED] = summed
    return {description: value.to(grad_output.dtype) for description, value in mistakes.items()}


def cosine_reference(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    return F.cosine_similarity(A.double().unsqueeze(1), B.double().unsqueeze(0), dim=-1).to(A.dtype)


def cosine_mistakes(A: torch.Tensor, B: torch.Tensor) -> dict[str, torch.Tensor]:
    A, B = A.double(), B.double()
    unit_A, unit_B = F.normalize(A, dim=1), F.normalize(B, dim=1)
    return {  # keyed by the public module's descriptions (English; its verdict translates them)
        E.COSINE_ONLY_A: unit_A @ B.T,
        E.COSINE_ONLY_B: A @ unit_B.T,
        E.COSINE_DOT: A @ B.T,
        E.COSINE_COLUMNS: F.normalize(A, dim=0) @ F.normalize(B, dim=0).T,
    }
