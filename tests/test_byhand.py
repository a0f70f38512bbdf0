"""By hand means by hand: each stub's forbidden calls, found in the source and in the trace, cost its points."""

from __future__ import annotations

import html
import json
import re
import sys
import textwrap

import pytest
from conftest import ROOT, _setup_source, function, grade_in_process, solution_namespace

from autograder import checks, notebook
from autograder.authoring import release
from autograder.judge import byhand, grading
from autograder.reports import class_report
from examples import samples

ALL = ("01_rnn", "02_lstm", "03_gru", "04_bptt", "05_embeddings")


def history_namespace(assignment: str, overrides: dict[str, str] | None = None,
                      extra: tuple[str, ...] = ()) -> dict:
    """The reference with overrides run as a kernel would, with IPython's input history (`In`) beside it."""
    namespace = solution_namespace(assignment, overrides)
    sources = samples.solution_sources(assignment)
    sources.update(overrides or {})
    for source in extra:
        exec(compile(source, "<extra>", "exec"), namespace)
    namespace["In"] = ["", _setup_source(assignment), *sources.values(), *extra]
    return namespace


def scores(assignment: str, namespace: dict) -> dict[str, tuple[float, float, list[str]]]:
    results = {}
    for group in checks.groups(assignment):
        result = grade_in_process(group, namespace)
        results[group] = (result.score, result.points, [c.message or "" for c in result.cases if not c.passed])
    return results


def findings(sources: list[str], stub: str, assignment: str = "02_lstm") -> list[byhand.Finding]:
    program = byhand.Program.from_cells([{"index": i, "source": textwrap.dedent(s)} for i, s in enumerate(sources)])
    return program.findings(stub, byhand.rules_for(assignment, stub))


SETUP = "import torch\nfrom torch import nn\n"
CELL_ARGS = "(x, state, W_ih, W_hh, b_ih=None, b_hh=None)"


# ---------------------------------------------------------------- every forbidden call of the issue costs its points

LSTM_CELL_CHEAT = function("lstm_cell_forward", """
    def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None):
        return torch.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh)
""")
LSTM_CHEAT = function("lstm_forward", """
    def lstm_forward(x, state_0, layers, batch_first=False):
        weights = [w for layer in layers for w in layer if w is not None]
        if state_0 is None:
            L, N, H = len(layers), x.shape[1 - batch_first], layers[0][1].shape[1]
            state_0 = (x.new_zeros(L, N, H), x.new_zeros(L, N, H))
        out, h, c = torch.lstm(x, state_0, weights, layers[0][2] is not None, len(layers), 0.0, False, False,
                               batch_first)
        return out, (h, c)
""")
GRU_CELL_CHEAT = function("gru_cell_forward", """
    def gru_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
        return torch.gru_cell(x, h_prev, W_ih, W_hh, b_ih, b_hh)
""")
GRU_CHEAT = function("gru_forward", """
    def gru_forward(x, h_0, layers, batch_first=False):
        weights = [w for layer in layers for w in layer if w is not None]
        if h_0 is None:
            h_0 = x.new_zeros(len(layers), x.shape[1 - batch_first], layers[0][1].shape[1])
        out, h = torch.gru(x, h_0, weights, layers[0][2] is not None, len(layers), 0.0, False, False, batch_first)
        return out, h
""")
BIDI_CHEAT = function("bidirectional_gru_forward", """
    def bidirectional_gru_forward(x, h_0, params_fwd, params_bwd):
        H, I = params_fwd[1].shape[1], params_fwd[0].shape[1]
        gru = nn.GRU(I, H, bidirectional=True, bias=params_fwd[2] is not None, dtype=x.dtype, device=x.device)
        with torch.no_grad():
            for suffix, params in (("", params_fwd), ("_reverse", params_bwd)):
                for name, value in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), params):
                    if value is not None:
                        getattr(gru, f"{name}_l0{suffix}").copy_(value)
            return gru(x, h_0)
""")
STEP_BACKWARD_CHEAT = function("rnn_step_backward", """
    def rnn_step_backward(dh_next, cache):
        x, h_prev, W_ih, W_hh, h_next = cache
        inputs = [t.detach().requires_grad_() for t in (x, h_prev, W_ih, W_hh)]
        b = torch.zeros(W_hh.shape[0], dtype=x.dtype, device=x.device, requires_grad=True)
        b2 = torch.zeros_like(b, requires_grad=True)
        pre = inputs[0] @ inputs[2].T + b + inputs[1] @ inputs[3].T + b2
        out = torch.tanh(pre + (torch.atanh(h_next) - pre).detach())  # the biases are not in the cache
        return torch.autograd.grad(out, [*inputs, b, b2], dh_next)
""")
CLIP_CHEAT = function("clip_grad_norm", """
    def clip_grad_norm(grads, max_norm):
        params = [torch.nn.Parameter(torch.zeros_like(g)) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm)
        return [p.grad for p in params], total
""")
LOSS_CHEAT = function("sequence_cross_entropy", """
    import torch.nn.functional as F

    def sequence_cross_entropy(logits, targets, mask=None):
        T, N, V = logits.shape
        leaf = logits.detach().requires_grad_()
        weights = torch.ones(T, N, dtype=logits.dtype) if mask is None else mask.to(logits.dtype)
        per_step = F.cross_entropy(leaf.reshape(-1, V), targets.reshape(-1), reduction="none")
        loss = (per_step * weights.reshape(-1)).sum() / N
        loss.backward()
        return loss.detach(), leaf.grad
""")
ONE_HOT_CHEAT = function("one_hot_solution", """
    import torch.nn.functional as F

    def one_hot(indices, num_classes):
        return F.one_hot(indices, num_classes).to(torch.float32)
""")
EMBEDDING_BACKWARD_CHEAT = function("embedding_backward_solution", """
    import torch.nn.functional as F

    def embedding_backward(indices, grad_output, num_embeddings, padding_idx=None):
        weight = grad_output.new_zeros(num_embeddings, grad_output.shape[-1]).requires_grad_()
        F.embedding(indices, weight, padding_idx).backward(grad_output)
        return weight.grad
""")
COSINE_CHEAT = function("cosine_similarity_matrix_solution", """
    import torch.nn.functional as F

    def cosine_similarity_matrix(A, B):
        return F.cosine_similarity(A[:, None, :], B[None, :, :], dim=-1)
""")

CHEATS = [
    # A stub that reaches a forbidden call through another stub loses its points too: it ran the call.
    ("02_lstm", LSTM_CELL_CHEAT, {"lstm_cell_forward_shape", "lstm_cell_forward_values", "lstm_forward_shape",
                                  "lstm_forward_values"}, "torch.lstm_cell"),
    ("02_lstm", LSTM_CHEAT, {"lstm_forward_shape", "lstm_forward_values"}, "torch.lstm"),
    ("03_gru", GRU_CELL_CHEAT, {"gru_cell_forward_shape", "gru_cell_forward_values", "gru_forward_shape",
                                "gru_forward_values", "bidirectional_gru_forward_shape",
                                "bidirectional_gru_forward_values"}, "torch.gru_cell"),
    ("03_gru", GRU_CHEAT, {"gru_forward_shape", "gru_forward_values", "bidirectional_gru_forward_shape",
                           "bidirectional_gru_forward_values"}, "torch.gru"),
    ("03_gru", BIDI_CHEAT, {"bidirectional_gru_forward_shape", "bidirectional_gru_forward_values"},
     "torch.nn.GRU"),
    ("04_bptt", STEP_BACKWARD_CHEAT, {"rnn_step_backward_gradients", "rnn_sequence_backward_gradients"},
     "torch.autograd.grad"),
    ("04_bptt", CLIP_CHEAT, {"clip_grad_norm_values"}, "clip_grad_norm_"),
    ("04_bptt", LOSS_CHEAT, {"sequence_cross_entropy_values"}, "torch.nn.functional.cross_entropy"),
    ("05_embeddings", ONE_HOT_CHEAT, {"one_hot"}, "torch.nn.functional.one_hot"),
    ("05_embeddings", EMBEDDING_BACKWARD_CHEAT, {"embedding_backward"}, "torch.nn.functional.embedding"),
    ("05_embeddings", COSINE_CHEAT, {"cosine_similarity_matrix"}, "torch.nn.functional.cosine_similarity"),
]


def _groups_of(assignment: str, stub_groups: set[str]) -> set[str]:
    return {g for g in checks.groups(assignment) if g in stub_groups}


@pytest.mark.parametrize(("assignment", "overrides", "loses", "named"), CHEATS,
                         ids=[c[3] + "@" + sorted(c[2])[0] for c in CHEATS])
def test_a_forbidden_call_scored_full_marks_without_the_rule_and_scores_zero_with_it(
        assignment, overrides, loses, named, monkeypatch):
    assert _groups_of(assignment, loses) == loses
    with monkeypatch.context() as patch:  # the same code, graded as if the stub had no rules
        patch.setattr(byhand, "rules_for", lambda a, s: ())
        before = scores(assignment, history_namespace(assignment, overrides))
    assert all(before[g][0] == before[g][1] for g in loses), {g: before[g] for g in loses}
    after = scores(assignment, history_namespace(assignment, overrides))
    for group, (score, points, messages) in after.items():
        if group in loses:
            assert score == 0, (group, messages)
            assert messages and all(named in m and "line " in m for m in messages), messages
            assert f"`{checks.groups(assignment)[group].stub}` " in messages[0]
        else:
            assert score == points, (group, messages)


@pytest.mark.parametrize(("assignment", "overrides", "loses", "named"), CHEATS,
                         ids=[c[3] + "@" + sorted(c[2])[0] for c in CHEATS])
def test_the_trace_alone_catches_every_forbidden_call(assignment, overrides, loses, named):
    namespace = solution_namespace(assignment, overrides)  # no input history: only the trace can tell
    for group in loses:
        result = grade_in_process(group, namespace)
        assert result.score == 0, group
        assert all("seen while it ran" in c.message for c in result.cases), [c.message for c in result.cases]


# 05's Chinese tokenizer may not hand its work to a segmenter or to torchtext. Neither is installed here: each cheat
# imports a stand-in module that answers as the reference does, so the code would earn full marks without the rule.
SEGMENTER_CHEATS = [
    pytest.param("05_embeddings", ("jieba",), """
        import jieba

        def chinese_tokenize(line):
            return jieba.lcut(line)
    """, "lcut", "jieba.lcut", id="jieba"),
    pytest.param("05_embeddings", ("torchtext", "torchtext.data", "torchtext.data.utils"), """
        from torchtext.data.utils import get_tokenizer

        def chinese_tokenize(line):
            return get_tokenizer("chinese")(line)
    """, "get_tokenizer", "torchtext.data.utils.get_tokenizer", id="torchtext"),
    pytest.param("05_embeddings", ("transformers",), """
        def chinese_tokenize(line):
            from transformers import BertTokenizer as Tokenizer
            return Tokenizer.tokenize(line)
    """, "BertTokenizer", "transformers.BertTokenizer.tokenize", id="a BERT tokenizer imported inside the function"),
]


@pytest.mark.parametrize(("assignment", "modules", "source", "attribute", "named"), SEGMENTER_CHEATS)
def test_a_segmenter_or_torchtext_in_the_chinese_tokenizer_costs_its_points(assignment, modules, source, attribute,
                                                                            named, monkeypatch):
    import types

    from autograder.checks.hidden import embeddings as hidden

    for name in modules:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    stand_in = types.SimpleNamespace(tokenize=hidden.reference_chinese_tokenize)
    answers = {"lcut": hidden.reference_chinese_tokenize, "BertTokenizer": stand_in,
               "get_tokenizer": lambda kind: hidden.reference_chinese_tokenize}
    setattr(sys.modules[modules[-1]], attribute, answers[attribute])
    overrides = function("chinese_tokenize_solution", source)
    with monkeypatch.context() as patch:
        patch.setattr(byhand, "rules_for", lambda a, s: ())
        before = grade_in_process("chinese_tokenize", history_namespace(assignment, overrides))
    assert before.score == before.points
    after = grade_in_process("chinese_tokenize", history_namespace(assignment, overrides))
    assert after.score == 0
    messages = [c.message or "" for c in after.cases]
    assert all(f"`chinese_tokenize` calls {named} (" in m and "line " in m and "one token per Chinese character" in m
               for m in messages), messages
    others = scores(assignment, history_namespace(assignment, overrides))
    assert all(score == points for group, (score, points, _) in others.items() if group != "chinese_tokenize")


def test_the_message_names_the_stub_the_call_its_line_and_what_to_do():
    namespace = history_namespace("02_lstm", LSTM_CELL_CHEAT)
    result = grade_in_process("lstm_cell_forward_values", namespace)
    assert result.cases[0].message == ("`lstm_cell_forward` calls torch.lstm_cell (line 3): write the four gates "
                                       "yourself")
    assert result.hint is None


def test_a_stub_that_reaches_a_forbidden_call_through_its_helper_names_the_helper():
    namespace = history_namespace("02_lstm", LSTM_CELL_CHEAT)
    message = grade_in_process("lstm_forward_values", namespace).cases[0].message
    assert "torch.lstm_cell" in message and "in `lstm_cell_forward`" in message and "of input [" in message


# ---------------------------------------------------------------- the source: aliases

ALIASES = {
    "attribute": "def lstm_cell_forward{a}:\n    return torch.lstm_cell(x, state, W_ih, W_hh)\n",
    "import as": "import torch.nn.functional as F\nimport torch as T\n"
                 "def lstm_cell_forward{a}:\n    return T.lstm_cell(x, state, W_ih, W_hh)\n",
    "from import as": "from torch import lstm_cell as f\n"
                      "def lstm_cell_forward{a}:\n    return f(x, state, W_ih, W_hh)\n",
    "local alias of the module": "def lstm_cell_forward{a}:\n    T = torch\n"
                                 "    return T._VF.lstm_cell(x, state, W_ih, W_hh)\n",
    "module-level chain": "a = torch\nb = a._VF\nc = b.lstm_cell\n"
                          "def lstm_cell_forward{a}:\n    return c(x, state, W_ih, W_hh)\n",
    "nn alias": "nn2 = torch.nn\ndef lstm_cell_forward{a}:\n    return nn2.LSTMCell(4, 6)(x, state)\n",
    "the module's own path": "from torch.nn.modules.rnn import LSTMCell as Cell\n"
                             "def lstm_cell_forward{a}:\n    return Cell(4, 6)(x, state)\n",
    "getattr with a constant": "def lstm_cell_forward{a}:\n"
                               "    return getattr(torch, 'lstm_cell')(x, state, W_ih, W_hh)\n",
    "a default argument": "def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None, f=torch.lstm_cell):\n"
                          "    return f(x, state, W_ih, W_hh)\n",
    "a tuple assignment": "f, g = torch.lstm_cell, torch.tanh\ndef lstm_cell_forward{a}:\n"
                          "    return f(x, state, W_ih, W_hh)\n",
    "a class attribute": "class Ops:\n    cell = torch.lstm_cell\n"
                         "def lstm_cell_forward{a}:\n    return Ops.cell(x, state, W_ih, W_hh)\n",
    "an object set up in another cell": "class Runner:\n    def __init__(self):\n        self.f = torch._VF.lstm_cell\n"
                                        "    def __call__(self, *args):\n        return self.f(*args)\n"
                                        "runner = Runner()\n"
                                        "def lstm_cell_forward{a}:\n    return runner(x, state, W_ih, W_hh)\n",
    "a lambda": "lstm_cell_forward = lambda x, state, W_ih, W_hh, b_ih=None, b_hh=None: torch.lstm_cell(x, state, "
                "W_ih, W_hh)\n",
    "a star import": "from torch.nn.modules.rnn import *\n"
                     "def lstm_cell_forward{a}:\n    return LSTMCell(4, 6)(x, state)\n",
    "an aten op": "def lstm_cell_forward{a}:\n    return torch.ops.aten._thnn_fused_lstm_cell(x, state, W_ih)\n",
    "a decorator": "def lstm_cell_forward{a}:\n    pass\n"
                   "lstm_cell_forward = (lambda f: torch.lstm_cell)(lstm_cell_forward)\n",
}


@pytest.mark.parametrize("form", sorted(ALIASES))
def test_every_alias_of_a_forbidden_call_is_read(form):
    found = findings([SETUP, ALIASES[form].replace("{a}", CELL_ARGS)], "lstm_cell_forward")
    assert found and all(f.verb in ("calls", "uses") for f in found), found
    assert any(f.what.startswith(("torch.lstm_cell", "torch.nn.LSTMCell", "aten::_thnn_fused_lstm_cell"))
               for f in found), found


def test_a_helper_in_another_cell_is_read_and_its_cell_named():
    helper = "def gates(x, state, W_ih, W_hh):\n    return torch.lstm_cell(x, state, W_ih, W_hh)\n"
    stub = f"def lstm_cell_forward{CELL_ARGS}:\n    return gates(x, state, W_ih, W_hh)\n"
    (found,) = findings([SETUP, helper, stub], "lstm_cell_forward")
    assert found.message == ("`lstm_cell_forward` calls torch.lstm_cell (line 2 of cell 2, in `gates`): write the four "
                             "gates yourself")


# ---------------------------------------------------------------- the source: what cannot be read

DYNAMIC = {
    "getattr with a computed name": "name = 'lstm' + '_cell'\ndef lstm_cell_forward{a}:\n"
                                    "    return getattr(torch, name)(x, state, W_ih, W_hh)\n",
    "__import__": "def lstm_cell_forward{a}:\n    return __import__('torch').lstm_cell(x, state, W_ih, W_hh)\n",
    "importlib": "import importlib\ndef lstm_cell_forward{a}:\n"
                 "    return importlib.import_module('torch').lstm_cell(x, state, W_ih, W_hh)\n",
    "exec": "def lstm_cell_forward{a}:\n    exec('r = 1')\n",
    "eval": "def lstm_cell_forward{a}:\n    return eval('torch.lstm_' + 'cell')(x, state, W_ih, W_hh)\n",
    "compile": "def lstm_cell_forward{a}:\n    code = compile('1', 'x', 'eval')\n",
    "globals()": "def lstm_cell_forward{a}:\n    return globals()['tor' + 'ch'].lstm_cell(x, state, W_ih, W_hh)\n",
    "vars()": "def lstm_cell_forward{a}:\n    return vars(torch)['lstm_cell'](x, state, W_ih, W_hh)\n",
    "__dict__": "def lstm_cell_forward{a}:\n    return torch.__dict__['lstm_cell'](x, state, W_ih, W_hh)\n",
    "sys.modules": "import sys\n"
                   "def lstm_cell_forward{a}:\n    return sys.modules['torch'].lstm_cell(x, state, W_ih, W_hh)\n",
    "an alias of getattr": "g = getattr\nname = 'lstm_cell'\ndef lstm_cell_forward{a}:\n"
                           "    return g(torch, name)(x, state, W_ih, W_hh)\n",
    "a stub made by exec": "exec('def lstm_cell_forward(*a): return torch.lstm_cell(*a)')\n",
}


@pytest.mark.parametrize("form", sorted(DYNAMIC))
def test_dynamic_access_is_reported_as_cannot_be_checked(form):
    found = findings([SETUP, DYNAMIC[form].replace("{a}", CELL_ARGS)], "lstm_cell_forward")
    assert any(f.verb == "dynamic" for f in found), found
    assert any("cannot be checked: written so that the calls cannot be read" in f.message for f in found)


def test_dynamic_access_costs_the_points_in_grading():
    source = ("def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None):\n"
              "    import importlib\n"
              "    return importlib.import_module('torch').lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh)\n")
    result = grade_in_process("lstm_cell_forward_values",
                              history_namespace("02_lstm", {"lstm_cell_forward": source}))
    assert result.score == 0
    assert "cannot be checked" in result.cases[0].message


# ---------------------------------------------------------------- the source: as Python binds it

def test_only_the_last_definition_of_a_stub_counts():
    cheat = f"def lstm_cell_forward{CELL_ARGS}:\n    return torch.lstm_cell(x, state, W_ih, W_hh)\n"
    by_hand = f"def lstm_cell_forward{CELL_ARGS}:\n    return x @ W_ih.T\n"
    assert findings([SETUP, cheat, by_hand], "lstm_cell_forward") == []
    assert findings([SETUP, by_hand, cheat], "lstm_cell_forward")


def test_both_branches_of_a_conditional_definition_count():
    source = (f"if torch.__version__:\n    def lstm_cell_forward{CELL_ARGS}:\n        return torch.lstm_cell(x, state, "
              f"W_ih, W_hh)\nelse:\n    def lstm_cell_forward{CELL_ARGS}:\n        return x\n")
    assert findings([SETUP, source], "lstm_cell_forward")


def test_a_local_variable_shadows_a_module_level_name():
    demo = "output = nn.LSTM(10, 20)(torch.randn(5, 3, 10))\ncell = nn.LSTMCell(4, 6)\n"
    stub = f"def lstm_cell_forward{CELL_ARGS}:\n    cell = x @ W_ih.T\n    output = cell.tanh()\n    return output\n"
    assert findings([SETUP, demo, stub], "lstm_cell_forward") == []


def test_annotations_strings_and_comments_are_not_calls():
    stub = ("def lstm_cell_forward(x: 'torch.lstm_cell', state: nn.LSTMCell, W_ih, W_hh, b_ih=None, b_hh=None)"
            " -> nn.LSTM:\n    \"\"\"Like torch.lstm_cell, by hand.\"\"\"\n    gates: nn.LSTMCell = x @ W_ih.T  "
            "# not nn.LSTMCell\n    return gates\n")
    assert findings([SETUP, stub], "lstm_cell_forward") == []


def test_a_method_call_named_backward_is_autograd_unless_the_notebook_defines_one():
    stub = "def rnn_step_backward(dh_next, cache):\n    cache.out.backward(dh_next)\n"
    assert findings([SETUP, stub], "rnn_step_backward", "04_bptt")
    own = "class Step:\n    def backward(self, d):\n        return d\n"
    assert findings([SETUP, own, stub], "rnn_step_backward", "04_bptt") == []


@pytest.mark.parametrize(("source", "forbidden"), [
    ("w = torch.zeros(3, requires_grad=True)", True),
    ("w = torch.zeros(3, requires_grad=flag)", True),
    ("w = torch.zeros(3)\n    w.requires_grad = True", True),
    ("w = torch.zeros(3).requires_grad_()", True),
    ("w = torch.zeros(3, requires_grad=False)", False),
    ("with torch.no_grad():\n        w = torch.zeros(3)", False),
])
def test_asking_for_gradients_is_autograd(source, forbidden):
    stub = f"def rnn_step_backward(dh_next, cache, flag=True):\n    {source}\n    return w\n"
    assert bool(findings([SETUP, stub], "rnn_step_backward", "04_bptt")) == forbidden


def test_a_demo_outside_the_stubs_costs_nothing():
    demo = ("rnn = nn.LSTM(10, 20, 2)\noutput, (h_n, c_n) = rnn(torch.randn(5, 3, 10))\n"
            "cell_out = torch.lstm_cell(torch.randn(3, 4), (torch.randn(3, 6),) * 2, torch.randn(24, 4), "
            "torch.randn(24, 6))\n")
    namespace = history_namespace("02_lstm", extra=(demo,))
    assert all(score == points for score, points, _ in scores("02_lstm", namespace).values())


# ---------------------------------------------------------------- the trace: what the source cannot show

def test_a_call_hidden_from_the_source_is_caught_by_the_trace():
    setup = "import torch as T\nregistry = []\nregistry.append(T.lstm_cell)\n"
    stub = function("lstm_cell_forward", """
        def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None):
            return registry[0](x, state, W_ih, W_hh, b_ih, b_hh)
    """)
    namespace = history_namespace("02_lstm", stub, extra=(setup,))
    assert findings([setup, stub["lstm_cell_forward"]], "lstm_cell_forward") == []  # the source shows nothing
    result = grade_in_process("lstm_cell_forward_values", namespace)
    assert result.score == 0
    assert "ran torch.lstm_cell (seen while it ran)" in result.cases[0].message


def test_an_autograd_backward_reached_without_naming_it_is_caught_by_the_trace():
    setup = "import torch as T\nengine = [T.autograd.grad]\n"
    stub = function("rnn_step_backward", """
        def rnn_step_backward(dh_next, cache):
            x, h_prev, W_ih, W_hh, h_next = cache
            leaves = [t.detach().clone() for t in (x, h_prev, W_ih, W_hh)]
            for t in leaves:
                t.requires_grad = bool(len(leaves))
            a = leaves[0] @ leaves[2].T + leaves[1] @ leaves[3].T
            da = dh_next * (1 - h_next ** 2)
            dx, dh, dW_ih, dW_hh = engine[0](a, leaves, da)
            return dx, dh, dW_ih, dW_hh, da.sum(0), da.sum(0)
    """)
    namespace = solution_namespace("04_bptt", stub)
    exec(compile(setup, "<setup>", "exec"), namespace)
    result = grade_in_process("rnn_step_backward_gradients", namespace)
    assert result.score == 0
    assert "seen while it ran" in result.cases[0].message


def test_the_trace_ends_when_the_stub_raises():
    import torch

    from autograder.probe import trace

    def boom():
        with trace.watching(["torch.lstm_cell", "aten::embedding", byhand.AUTOGRAD_BACKWARD], "stub"):
            raise ValueError("student error")

    with pytest.raises(ValueError):
        boom()
    assert not torch._C._is_torch_function_mode_enabled()
    assert torch._C._len_torch_dispatch_stack() == 0
    assert torch._C._autograd._top_saved_tensors_default_hooks(False) is None


def test_the_trace_reports_names_only_and_the_judge_caps_them():
    assert byhand.trace_names(["a"] * 100) == ("a",) * byhand.MAX_TRACE_NAMES
    assert byhand.trace_names(["x" * 500, 3, None, "torch.lstm_cell"]) == ("torch.lstm_cell",)
    assert byhand.trace_names("torch.lstm_cell") == ()


# ---------------------------------------------------------------- no false positives

VARIANTS = [
    ("02_lstm", function("lstm_cell_forward", """
        from torch import tanh as th, sigmoid as sg

        def _gates(x, h, W_ih, W_hh, b_ih, b_hh):
            z = torch.einsum("ni,gi->ng", x, W_ih) + torch.einsum("nh,gh->ng", h, W_hh)
            if b_ih is not None:
                z = z + b_ih + b_hh
            return z.chunk(4, dim=1)

        def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None):
            h, c = state
            i, f, g, o = _gates(x, h, W_ih, W_hh, b_ih, b_hh)
            c_next = sg(f) * c + sg(i) * th(g)
            return sg(o) * th(c_next), c_next
    """)),
    ("02_lstm", function("lstm_cell_forward", """
        import torch.nn.functional as F

        class Cell:
            def __init__(self, W_ih, W_hh, b_ih, b_hh):
                self.W_ih, self.W_hh, self.b_ih, self.b_hh = W_ih, W_hh, b_ih, b_hh

            def step(self, x, h, c):
                z = F.linear(x, self.W_ih, self.b_ih) + F.linear(h, self.W_hh, self.b_hh)
                i, f, g, o = torch.split(z, z.shape[1] // 4, dim=1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                return torch.sigmoid(o) * torch.tanh(c), c

        def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None):
            return Cell(W_ih, W_hh, b_ih, b_hh).step(x, *state)
    """)),
    ("03_gru", function("gru_cell_forward", """
        def gru_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None):
            gi = torch.addmm(b_ih, x, W_ih.t()) if b_ih is not None else x.matmul(W_ih.t())
            gh = torch.addmm(b_hh, h_prev, W_hh.t()) if b_hh is not None else h_prev.matmul(W_hh.t())
            H = h_prev.shape[1]
            r = torch.sigmoid(gi[:, :H] + gh[:, :H])
            z = torch.sigmoid(gi[:, H:2 * H] + gh[:, H:2 * H])
            n = torch.tanh(gi[:, 2 * H:] + r * gh[:, 2 * H:])
            return torch.lerp(n, h_prev, z)
    """)),
    ("05_embeddings", function("one_hot_solution", """
        def one_hot(indices, num_classes):
            return torch.eye(num_classes, device=indices.device)[indices]
    """)),
    ("05_embeddings", function("cosine_similarity_matrix_solution", """
        import torch.nn.functional as F

        def cosine_similarity_matrix(A, B):
            return F.normalize(A, dim=1, eps=1e-8) @ F.normalize(B, dim=1, eps=1e-8).T
    """)),
    ("05_embeddings", function("embedding_backward_solution", """
        def embedding_backward(indices, grad_output, num_embeddings, padding_idx=None):
            flat = grad_output.reshape(-1, grad_output.shape[-1])
            grad = flat.new_zeros(num_embeddings, flat.shape[1])
            grad.index_add_(0, indices.reshape(-1), flat)
            if padding_idx is not None:
                grad[padding_idx].zero_()
            return grad
    """)),
]


@pytest.mark.parametrize("assignment", ALL)
def test_the_reference_solutions_keep_full_marks_with_their_source_read(assignment):
    results = scores(assignment, history_namespace(assignment))
    assert all(score == points for score, points, _ in results.values()), results


@pytest.mark.parametrize(("assignment", "overrides"), VARIANTS, ids=[f"{a}-{i}" for i, (a, _) in enumerate(VARIANTS)])
def test_differently_written_correct_solutions_keep_full_marks(assignment, overrides):
    results = scores(assignment, history_namespace(assignment, overrides))
    assert all(score == points for score, points, _ in results.values()), results


def test_a_course_can_flag_for_review_instead_of_zeroing(monkeypatch, capsys):
    monkeypatch.setenv(byhand.POLICY_ENV, "review")
    result = grade_in_process("lstm_cell_forward_values", history_namespace("02_lstm", LSTM_CELL_CHEAT))
    assert result.score == result.points
    assert "for review: `lstm_cell_forward` calls torch.lstm_cell (line 3)" in capsys.readouterr().out


# ---------------------------------------------------------------- the notebook shows the rules

ZH_NOTICE = "**不得使用：**"


def shows_rules(text: str, rules: tuple[byhand.Rule, ...], lang: str) -> bool:
    """English: the very line `byhand.notice` makes. Chinese: one line that starts with ZH_NOTICE and names the
    same code spans, in the same order."""
    if lang == "en":
        return byhand.notice(rules) in text
    lines = [line for line in text.splitlines() if line.startswith(ZH_NOTICE)]
    spans = re.compile(r"`[^`]+`")
    return len(lines) == 1 and spans.findall(lines[0]) == spans.findall(byhand.notice(rules))


@pytest.mark.parametrize("folder", ["solutions", "assignments", "assignments-zh"])
@pytest.mark.parametrize("assignment", ALL)
def test_the_markdown_before_each_stub_lists_what_it_may_not_use(folder, assignment):
    """In English and in Chinese: the cell's text in this folder, and the Chinese text its metadata carries."""
    nb = json.loads((ROOT / folder / assignment / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    cells = nb["cells"]
    shown = 0
    for i, cell in enumerate(cells):
        if not notebook.is_solution_cell(cell):
            continue
        for stub in notebook.defined_names("".join(cell["source"])):
            rules = byhand.rules_for(assignment, stub)
            markdown = cells[i - 1] if cells[i - 1]["cell_type"] == "markdown" else None
            before = "".join(markdown["source"]) if markdown else ""
            zh = release.translation(markdown, "zh") if markdown else None
            texts = [(before, "zh" if folder.endswith("-zh") and zh is not None else "en")]
            texts += [(zh, "zh")] if zh is not None else []
            for text, lang in texts:
                if rules:
                    assert shows_rules(text, rules, lang), (stub, lang)
                else:
                    assert "You may not use" not in text and ZH_NOTICE not in text, (stub, lang)
            shown += bool(rules)
    assert shown


def test_every_rule_names_a_stub_of_its_assignment():
    for assignment in (*ALL, "06_language_model"):
        stubs = {g.stub for g in checks.groups(assignment).values()}
        module = __import__(f"autograder.checks.{checks.module_name(assignment)}", fromlist=["FORBIDDEN"])
        assert set(module.FORBIDDEN) <= stubs, assignment


# ---------------------------------------------------------------- end to end: the split grader, one batch

E2E = "02_lstm"
E2E_CLASS = {
    "reference": {},
    "alias_cheat": function("lstm_cell_forward", """
        import torch as T

        def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None):
            return T._VF.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh)
    """),
    # The student switches the trace off before the calls: the source still shows the call.
    "trace_defeated": function("lstm_cell_forward", """
        import contextlib
        import autograder.probe.trace

        autograder.probe.trace.watching = lambda *args, **kwargs: contextlib.nullcontext([])

        def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None):
            return torch.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh)
    """),
    # The function is reached through a list filled in another cell: only the trace sees it.
    "hidden_from_source": function("lstm_cell_forward", """
        import torch as T
        registry = []
        registry.append(T.lstm_cell)

        def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None):
            return registry[0](x, state, W_ih, W_hh, b_ih, b_hh)
    """),
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict[str, dict]:
    base = tmp_path_factory.mktemp("byhand")
    for student, overrides in E2E_CLASS.items():
        added = [("nn_lstm_demo", "demo = nn.LSTM(10, 20, 2)(torch.randn(5, 3, 10))\n")] if student == "reference" \
            else None
        nb = samples.make_notebook(E2E, overrides, added)
        samples.write_notebook(nb, base / "submitted" / student / E2E / f"{E2E}.ipynb")
    grading.grade_batch(base / "submitted", E2E, base / "out", workers=2, progress=False)
    results = {s: json.loads((base / "out" / s / E2E / "results.json").read_text()) for s in E2E_CLASS}
    results["report"] = class_report.write_class_report(base / "out").read_text(encoding="utf-8")
    return results


def _cell_tests(result: dict, group: str) -> list[dict]:
    return [t for t in result["tests"] if t["extra_data"]["check_group"] == group]


@pytest.mark.slow
def test_end_to_end_the_reference_with_a_demo_of_nn_lstm_keeps_full_marks(batch):
    assert batch["reference"]["score"] == batch["reference"]["extra_data"]["max_score"]


@pytest.mark.slow
@pytest.mark.parametrize(("student", "says"), [
    ("alias_cheat", "calls torch.lstm_cell (as `T._VF.lstm_cell`, line 5)"),
    ("trace_defeated", "calls torch.lstm_cell (line 8)"),
    ("hidden_from_source", "ran torch.lstm_cell (seen while it ran)"),
])
def test_end_to_end_a_forbidden_call_zeroes_the_stub_in_results_json(batch, student, says):
    result = batch[student]
    for group in ("lstm_cell_forward_shape", "lstm_cell_forward_values", "lstm_forward_shape", "lstm_forward_values"):
        tests = _cell_tests(result, group)
        assert tests and all(t["score"] == 0 for t in tests), group
    outputs = "\n".join(t["output"] for t in _cell_tests(result, "lstm_cell_forward_values"))
    assert says in outputs, outputs



@pytest.mark.slow
def test_end_to_end_every_finding_is_recorded_and_listed_in_the_class_report(batch):
    assert batch["reference"]["extra_data"]["by_hand"] == []
    report = batch["report"]
    section = report[report.index("By hand: forbidden calls found"):]
    for student in ("alias_cheat", "trace_defeated", "hidden_from_source"):
        found = batch[student]["extra_data"]["by_hand"]
        stubs = {f["stub"] for f in found}
        assert "lstm_cell_forward" in stubs and all(f["policy"] == "zero" for f in found), found
        assert all(f["message"] and f["check_group"].startswith(f["stub"]) for f in found), found
        assert student in section
    cell = next(f for f in batch["alias_cheat"]["extra_data"]["by_hand"] if f["stub"] == "lstm_cell_forward")
    assert html.escape(cell["message"], quote=False) in section or cell["message"] in section
    table = section.split("</table>")[0]
    assert "points zeroed" in table and ">reference<" not in table


def test_sources_are_parsed_one_at_a_time_across_the_batchs_threads(monkeypatch):
    """CPython 3.11's AST constructor keeps one recursion counter for all threads: two workers parsing at once
    can fail with "SystemError: AST constructor recursion depth mismatch" (a grader error, seen in a batch)."""
    import ast
    import sys
    import threading
    import time

    from autograder.judge import evaluate

    real, inside, most, elsewhere = ast.parse, [0], [0], set()
    lock = threading.Lock()

    def watched(*args, **kwargs):
        caller = sys._getframe(1).f_code
        if "autograder" not in caller.co_filename:  # pytest's own parsing (assertion rewriting) is not ours
            return real(*args, **kwargs)
        if caller.co_name != "parse_python":
            elsewhere.add(caller.co_name)
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])
        time.sleep(0.002)
        try:
            return real(*args, **kwargs)
        finally:
            with lock:
                inside[0] -= 1

    monkeypatch.setattr(ast, "parse", watched)
    source = "def lstm_cell_forward(x):\n    return torch.lstm_cell(x)\n"

    def work() -> None:
        for _ in range(20):
            findings([SETUP, source], "lstm_cell_forward")
            evaluate.referenced_names(source, "lstm_cell_forward")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most[0] == 1 and not elsewhere, elsewhere
