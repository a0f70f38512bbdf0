"""Similar submissions: planted copies rank first, independent work below, released stubs never count."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.cli import main
from autograder.reports import class_report, similarity
from examples import samples

A = "01_rnn"
STUB = "    # YOUR CODE HERE\n    raise NotImplementedError()"


def filled(grade_id: str, body: str, helpers: str = "") -> str:
    """The released cell with its stub replaced by `body` (indented as written) and `helpers` above the function."""
    nb = samples.make_notebook(A, filled=False)
    released = next(samples._source(c) for c in nb["cells"] if samples._gid(c) == grade_id)
    assert STUB in released
    return helpers + released.replace(STUB, body.rstrip("\n"))


# One student's own implementation, unlike the reference: helpers for the cell, a list-based loop, a table.
ORIGINAL = {
    "rnn_cell_forward": filled("rnn_cell_forward", '''\
    return _squash(_affine(x, W_ih, b_ih) + _affine(h_prev, W_hh, b_hh), nonlinearity)
''', helpers='''\
def _affine(inputs, weight, offset):
    result = torch.matmul(inputs, weight.t())
    if offset is not None:
        result = result + offset.unsqueeze(0)
    return result


def _squash(values, kind):
    table = {"tanh": torch.tanh, "relu": torch.relu}
    if kind not in table:
        raise ValueError("unsupported nonlinearity: " + str(kind))
    return table[kind](values)


'''),
    "rnn_forward": filled("rnn_forward", '''\
    sequence = x.permute(1, 0, 2) if batch_first else x
    count, width = sequence.size(0), sequence.size(1)
    current = list(sequence.unbind(0))
    finals = []
    for index, (w_in, w_rec, bias_in, bias_rec) in enumerate(layers):
        state = sequence.new_zeros(width, w_rec.size(0)) if h_0 is None else h_0[index]
        collected = []
        for step in current:
            state = rnn_cell_forward(step, state, w_in, w_rec, bias_in, bias_rec, nonlinearity)
            collected.append(state)
        current = collected
        finals.append(state)
    stacked = torch.stack(current, dim=0)
    if batch_first:
        stacked = stacked.permute(1, 0, 2)
    return stacked, torch.stack(finals, dim=0)
'''),
    "rnn_shapes_solution": filled("rnn_shapes_solution", '''\
    outer, inner = (batch, seq_len) if batch_first else (seq_len, batch)
    answer = dict()
    answer["input"] = tuple([outer, inner, input_size])
    answer["output"] = tuple([outer, inner, hidden_size])
    answer["h_0"] = answer["h_n"] = tuple([num_layers, batch, hidden_size])
    return answer
'''),
    "count_rnn_params_solution": filled("count_rnn_params_solution", '''\
    per_gate = _gate_count(mode)
    sides = 1 + int(bidirectional)
    total = 0
    for depth in range(num_layers):
        fan_in = input_size if depth == 0 else sides * hidden_size
        total += sides * _layer_size(per_gate * hidden_size, fan_in, hidden_size, bias)
    return total
''', helpers='''\
def _gate_count(mode):
    if mode == "RNN":
        return 1
    if mode == "GRU":
        return 3
    if mode == "LSTM":
        return 4
    raise ValueError("unknown mode " + repr(mode))


def _layer_size(rows, fan_in, hidden, with_bias):
    weights = rows * fan_in + rows * hidden
    return weights + (2 * rows if with_bias else 0)


'''),
}

RENAMES = [("_affine", "_project"), ("_squash", "_activate"), ("inputs", "a"), ("weight", "w"), ("offset", "b_vec"),
           ("result", "out"), ("values", "z"), ("kind", "how"), ("table", "funcs"), ("sequence", "seq"),
           ("count", "n_steps"), ("width", "n_batch"), ("current", "layer_in"), ("finals", "last_h"),
           ("index", "li"), ("w_in", "wx"), ("w_rec", "wh"), ("bias_in", "bx"), ("bias_rec", "bh"),
           ("state", "hidden"), ("collected", "outs"), ("step", "xt"), ("stacked", "full"), ("outer", "d0"),
           ("inner", "d1"), ("answer", "shapes"), ("per_gate", "g"), ("sides", "dirs"), ("total", "acc"),
           ("depth", "layer"), ("fan_in", "in_dim"), ("_gate_count", "_gates"), ("_layer_size", "_params_of"),
           ("rows", "r"), ("hidden", "hid"), ("with_bias", "use_b"), ("weights", "ws")]


def renamed(cells: dict[str, str]) -> dict[str, str]:
    """The same code with every local name, helper and helper parameter renamed (the released signature kept)."""
    out = {}
    for gid, source in cells.items():
        start = source.index(f"def {gid.removesuffix('_solution')}(")
        end = source.index('"""', source.index('"""', start) + 3) + 3  # the released signature and docstring
        outside = [source[:start], source[end:]]
        for old, new in RENAMES:
            outside = [re.sub(rf"(?<![\w.]){re.escape(old)}(?!\w)", new, part) for part in outside]
        out[gid] = outside[0] + source[start:end] + outside[1]
        assert out[gid] != source
    return out


def reordered(cells: dict[str, str]) -> dict[str, str]:
    """The same code with the helper functions of each cell defined in the opposite order."""
    out = dict(cells)
    for gid, (first, second) in {"rnn_cell_forward": ("def _affine", "def _squash"),
                                 "count_rnn_params_solution": ("def _gate_count", "def _layer_size")}.items():
        source = cells[gid]
        a, b, rest = source.index(first), source.index(second), source.index("def ", source.index(second) + 4)
        out[gid] = source[b:rest] + source[a:b] + source[rest:]
        assert out[gid] != source and sorted(out[gid]) == sorted(source)
    return out


# Two more students who wrote their own, each in another style.
EINSUM = {
    "rnn_cell_forward": filled("rnn_cell_forward", '''\
    if nonlinearity == "tanh":
        act = torch.tanh
    elif nonlinearity == "relu":
        act = torch.relu
    else:
        raise ValueError(f"bad nonlinearity {nonlinearity}")
    z = torch.einsum("ni,hi->nh", x, W_ih) + torch.einsum("nk,hk->nh", h_prev, W_hh)
    for b in (b_ih, b_hh):
        if b is not None:
            z = z + b
    return act(z)
'''),
    "rnn_forward": filled("rnn_forward", '''\
    xs = x.transpose(0, 1) if batch_first else x
    T, N = xs.shape[:2]
    H = layers[0][0].shape[0]
    hs = torch.zeros(len(layers), N, H, dtype=xs.dtype) if h_0 is None else h_0
    outputs = xs
    last = []
    for l in range(len(layers)):
        W_ih, W_hh, b_ih, b_hh = layers[l]
        h = hs[l]
        ys = []
        t = 0
        while t < T:
            h = rnn_cell_forward(outputs[t], h, W_ih, W_hh, b_ih, b_hh, nonlinearity=nonlinearity)
            ys.append(h.unsqueeze(0))
            t += 1
        outputs = torch.cat(ys, 0)
        last.append(h.unsqueeze(0))
    if batch_first:
        outputs = outputs.transpose(0, 1)
    return outputs, torch.cat(last, 0)
'''),
    "rnn_shapes_solution": filled("rnn_shapes_solution", '''\
    io = (batch, seq_len) if batch_first else (seq_len, batch)
    return {
        "input": io + (input_size,),
        "h_0": (num_layers, batch, hidden_size),
        "output": io + (hidden_size,),
        "h_n": (num_layers, batch, hidden_size),
    }
'''),
    "count_rnn_params_solution": filled("count_rnn_params_solution", '''\
    try:
        g = {"RNN": 1, "GRU": 3, "LSTM": 4}[mode] * hidden_size
    except KeyError:
        raise ValueError(mode) from None
    d = 2 if bidirectional else 1
    b = 2 * g if bias else 0
    n = d * (g * (input_size + hidden_size) + b)
    n += (num_layers - 1) * d * (g * (d * hidden_size + hidden_size) + b)
    return n
'''),
}

LINEAR = {
    "rnn_cell_forward": "import torch.nn.functional as F\n\n\n" + filled("rnn_cell_forward", '''\
    funcs = dict(tanh=torch.tanh, relu=torch.relu)
    if nonlinearity not in funcs:
        raise ValueError("nonlinearity must be tanh or relu")
    return funcs[nonlinearity](F.linear(x, W_ih, b_ih) + F.linear(h_prev, W_hh, b_hh))
'''),
    "rnn_forward": filled("rnn_forward", '''\
    if batch_first:
        x = x.movedim(1, 0)
    h_init = h_0.unbind(0) if h_0 is not None else [None] * len(layers)
    ends = []
    for params, start in zip(layers, h_init):
        if start is None:
            start = torch.zeros(x.shape[1], params[1].shape[0], dtype=x.dtype, device=x.device)
        seq = []
        for x_t in x:
            start = rnn_cell_forward(x_t, start, *params, nonlinearity)
            seq += [start]
        x = torch.stack(seq)
        ends += [start]
    return (x.movedim(0, 1) if batch_first else x), torch.stack(ends)
'''),
    "rnn_shapes_solution": filled("rnn_shapes_solution", '''\
    shapes = {}
    for key, size in (("input", input_size), ("output", hidden_size)):
        shapes[key] = (batch, seq_len, size) if batch_first else (seq_len, batch, size)
    for key in ("h_0", "h_n"):
        shapes[key] = (num_layers, batch, hidden_size)
    return shapes
'''),
    "count_rnn_params_solution": filled("count_rnn_params_solution", '''\
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}.get(mode)
    if gates is None:
        raise ValueError(f"mode {mode!r}?")
    count = 0
    dirs = 2 if bidirectional else 1
    for layer in range(num_layers):
        in_features = input_size if layer == 0 else hidden_size * dirs
        per_direction = gates * hidden_size * (in_features + hidden_size)
        if bias:
            per_direction += 2 * gates * hidden_size
        count += dirs * per_direction
    return count
'''),
}

COPIES = ("ora", "ren", "reo")  # the original and its two near-copies


def make_class(base: Path) -> Path:
    """Eight readable submissions (three of them one implementation), and two hostile ones."""
    submitted = base / "submitted"
    spec = {"ora": {"overrides": ORIGINAL}, "ren": {"overrides": renamed(ORIGINAL)},
            "reo": {"overrides": reordered(ORIGINAL)}, "ref": {}, "ein": {"overrides": EINSUM},
            "lin": {"overrides": LINEAR}, "stub1": {"filled": False}, "stub2": {"filled": False}}
    for student, kwargs in spec.items():
        samples.write_notebook(samples.make_notebook(A, **kwargs), submitted / student / A / f"{A}.ipynb")
    linked = submitted / "link" / A
    linked.mkdir(parents=True)
    (linked / f"{A}.ipynb").symlink_to(submitted / "ora" / A / f"{A}.ipynb")
    broken = submitted / "garbage" / A
    broken.mkdir(parents=True)
    (broken / f"{A}.ipynb").write_text("this is not JSON {", encoding="utf-8")
    return submitted


@pytest.fixture(scope="module")
def outcome(tmp_path_factory) -> similarity.Outcome:
    return similarity.find_similar(make_class(tmp_path_factory.mktemp("class")), A)


def test_the_planted_copies_are_the_top_pairs_and_independent_work_ranks_below(outcome):
    top = [set(p.students) for p in outcome.pairs[:3]]
    assert all(pair <= set(COPIES) for pair in top), [p.students for p in outcome.pairs[:5]]
    assert min(p.score for p in outcome.pairs[:3]) >= 0.9
    others = [p for p in outcome.pairs if not set(p.students) <= set(COPIES)]
    assert others and max(p.score for p in others) < 0.6 * min(p.score for p in outcome.pairs[:3])


def test_renamed_variables_and_reordered_helpers_still_match_almost_everything(outcome):
    score = {frozenset(p.students): p for p in outcome.pairs}
    assert min(score[frozenset(("ora", "ren"))].shares) >= 0.99  # names are not compared
    assert min(score[frozenset(("ora", "reo"))].shares) >= 0.9  # only the joins between functions differ


def test_students_who_handed_in_the_released_stubs_have_no_own_code_and_no_pair(outcome):
    assert outcome.no_own_code == ["stub1", "stub2"]
    assert not any({"stub1", "stub2"} & set(p.students) for p in outcome.pairs)
    assert set(outcome.compared) == {"ora", "ren", "reo", "ref", "ein", "lin"}


def test_the_released_signature_and_docstring_are_shown_as_given_never_as_matched(outcome):
    pair = next(p for p in outcome.pairs if set(p.students) == {"ora", "ren"})
    page = similarity._highlighted(outcome.codes["ora"], similarity.spans(pair.slices[0]), outcome.given["ora"])
    marked = " ".join(re.findall(r"<mark>(.*?)</mark>", page, re.DOTALL))
    given = " ".join(re.findall(r'<span class="given">(.*?)</span>', page, re.DOTALL))
    assert "_affine(x, W_ih, b_ih)" in marked and "sequence.new_zeros" in marked
    assert "Run one time step of a vanilla recurrent cell" in given and "h_prev: torch.Tensor," in given
    assert "Run one time step" not in marked and "h_prev: torch.Tensor," not in marked


def test_a_symlinked_notebook_and_a_non_json_file_are_skipped_with_their_reasons(outcome):
    reasons = dict(outcome.skipped)
    assert set(reasons) == {"link", "garbage"}
    assert "symbolic link" in reasons["link"]
    assert "not valid JSON" in reasons["garbage"]


def test_the_scores_do_not_depend_on_the_process_s_hash_seed(outcome, tmp_path):
    """copydetect hashes k-grams with Python's hash(), seeded per process; with a winnowing window of one every
    k-gram is kept, so another seed gives the same scores (a wider window would pick other fingerprints)."""
    submitted, out = make_class(tmp_path), tmp_path / "graded"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-m", "autograder", "similarity", str(submitted), "-a", A, "-o", str(out),
                    "--top", "100"], check=True, env=env, capture_output=True, timeout=300)
    again = json.loads(similarity.result_path(out, A).read_text(encoding="utf-8"))["pairs"]
    assert [(tuple(p["students"]), tuple(p["shares"])) for p in again] == \
        [(p.students, p.shares) for p in outcome.pairs]


def test_the_command_prints_the_table_and_writes_the_page_and_the_class_report_section(tmp_path, capsys):
    submitted = make_class(tmp_path)
    hostile = submitted / "<img src=x onerror=alert(1)>\x1b[2J" / A
    hostile.mkdir(parents=True)
    samples.write_notebook(samples.make_notebook(A, {"rnn_forward": ORIGINAL["rnn_forward"].replace(
        "return stacked", "# </pre><script>alert(1)</script>\n    return stacked")}), hostile / f"{A}.ipynb")
    out = tmp_path / "graded"
    assert main(["similarity", str(submitted), "-a", A, "-o", str(out), "--top", "4"]) == 0
    printed = capsys.readouterr().out
    assert "never a grade" in printed and "\x1b" not in printed
    rows = [line.split() for line in printed.splitlines() if line.split()[:1] and line.split()[0].isdigit()]
    assert len(rows) == 4 and {rows[0][1], rows[0][2]} == {"ora", "ren"}
    assert "stub1, stub2" in printed and "skipped garbage" in printed

    data = json.loads(similarity.result_path(out, A).read_text(encoding="utf-8"))
    assert len(data["pairs"]) == 4 and data["no_own_code"] == ["stub1", "stub2"]
    page = similarity.page_path(out, A).read_text(encoding="utf-8")
    assert "never a grade" in page and "<mark>" in page
    assert "<script" not in page and "<img" not in page and "&lt;script&gt;" in page

    section = class_report.similarity_section(out, A)
    assert "Similar submissions" in section and "never a grade" in section
    assert 'href="../similarity/01_rnn.html"' in section and "<img" not in section
    assert class_report.similarity_section(out, "02_lstm") == ""


def test_the_class_report_shows_the_section_when_a_result_exists(tmp_path):
    out = tmp_path / "graded"
    result = {"score": 12.0, "execution_time": 0.5, "tests": [], "extra_data": {"student": "ora", "max_score": 12.0}}
    (out / "ora" / A).mkdir(parents=True)
    (out / "ora" / A / "results.json").write_text(json.dumps(result), encoding="utf-8")
    page = class_report.write_class_report(out).read_text(encoding="utf-8")
    assert "Similar submissions" not in page
    similarity.write(similarity.compare(A, {"ora": [("rnn_forward", ORIGINAL["rnn_forward"])],
                                            "ren": [("rnn_forward", renamed(ORIGINAL)["rnn_forward"])]}, []), out)
    page = class_report.write_class_report(out).read_text(encoding="utf-8")
    assert "Similar submissions" in page and "ora" in page and "100%" in page


def test_an_unreadable_similarity_result_is_said_so_in_the_class_report(tmp_path):
    path = similarity.result_path(tmp_path, A)
    path.parent.mkdir(parents=True)
    path.write_text("{not json", encoding="utf-8")
    assert "could not be read" in class_report.similarity_section(tmp_path, A)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_in_place_of_the_notebook_is_skipped_without_blocking(tmp_path):
    folder = tmp_path / "submitted" / "pipe" / A
    folder.mkdir(parents=True)
    os.mkfifo(folder / f"{A}.ipynb")
    samples.write_notebook(samples.make_notebook(A), tmp_path / "submitted" / "ref" / A / f"{A}.ipynb")
    found = similarity.find_similar(tmp_path / "submitted", A)
    assert "named pipe" in dict(found.skipped)["pipe"] and found.compared == ["ref"] and not found.pairs


def test_a_folder_not_laid_out_as_student_and_assignment_folders_is_a_clear_error(tmp_path, capsys):
    samples.write_notebook(samples.make_notebook(A), tmp_path / "submitted" / "ada.ipynb")
    with pytest.raises(SystemExit) as stopped:
        main(["similarity", str(tmp_path / "submitted"), "-a", A, "-o", str(tmp_path / "out")])
    assert "holds notebooks directly" in str(stopped.value) and "<student>/<ID>/<ID>.ipynb" in str(stopped.value)
