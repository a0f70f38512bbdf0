"""Points that mean what they say: explicit weights, value-gated form cases, inconclusive notes, one number in
every view, and hints that name the right function.

Submissions are the reference solution with one cell replaced, graded in-process (the notebook's executor) or
through the CLI and the split grader, which must agree with it.
"""

from __future__ import annotations

import csv
import html
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, edit_cell, function, grade_assignment, grade_in_process, solution_namespace

from autograder import checks, inline
from autograder.checks.base import FORM, VALUE, Call, Case, CheckGroup, Inconclusive, Outcome
from autograder.judge import evaluate
from autograder.judge.evaluate import CaseResult, GroupResult, PlannedCase
from autograder.reports import report
from autograder.reports.results import SubmissionResult

RNN = "01_rnn"

WRONG_CELL_SAME_SHAPE = function("rnn_cell_forward", """
    import torch

    def rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(nonlinearity)
        return h_prev.new_zeros(x.shape[0], W_hh.shape[0])  # right shape, dtype and device; no value right
    """)

# ---------------------------------------------------------------- a wholly wrong function earns nothing

WHOLLY_WRONG = [
    pytest.param("02_lstm", edit_cell("02_lstm", "lstm_cell_forward", ("a_i, a_f, a_g, a_o =", "a_i, a_f, a_o, a_g =")),
                 "lstm_cell_forward", id="LSTM gates in the order i, f, o, g"),
    pytest.param("04_bptt", edit_cell("04_bptt", "rnn_step_backward",
                                      ("da = dh_next * (1 - h_next ** 2)", "da = dh_next")),
                 "rnn_step_backward", id="BPTT step backward without the tanh derivative"),
    pytest.param("04_bptt", edit_cell("04_bptt", "rnn_step_backward", ("(1 - h_next ** 2)", "(1 - h_prev ** 2)")),
                 "rnn_sequence_backward", id="BPTT sequence backward through a wrong step backward"),
    pytest.param(RNN, WRONG_CELL_SAME_SHAPE, "rnn_cell_forward", id="RNN cell of zeros that raises ValueError"),
]


@pytest.mark.parametrize(("assignment", "overrides", "stub"), WHOLLY_WRONG)
def test_a_function_whose_value_cases_all_fail_earns_none_of_its_points(assignment, overrides, stub):
    results = grade_assignment(assignment, overrides)
    mine = {g: r for g, r in results.items() if r.stub == stub}
    assert mine and all(not c.passed for r in mine.values() for c in r.cases if c.kind == VALUE)
    assert any(c.passed for r in mine.values() for c in r.cases if c.kind == FORM), "no form case passed: no test"
    for group, result in mine.items():
        assert result.score == 0, (group, result.score)
        assert result.share(hidden=False)[0] == result.share(hidden=True)[0] == 0


def test_form_cases_in_the_shape_group_earn_nothing_when_no_value_case_of_the_stub_passed():
    result = grade_in_process("rnn_cell_forward_shape", solution_namespace(RNN, WRONG_CELL_SAME_SHAPE))
    assert all(c.passed for c in result.cases)
    assert result.score == 0
    assert "earn points only once one of its value cases passes" in report.format_group(result)


def test_the_notebook_check_of_a_shape_cell_sees_the_value_cases_of_its_stub():
    namespace = solution_namespace(RNN, WRONG_CELL_SAME_SHAPE)
    assert inline.check("rnn_cell_forward_shape", namespace=namespace) == 0
    assert inline.check("rnn_cell_forward_shape", namespace=solution_namespace(RNN)) > 0


def test_a_correct_function_keeps_full_marks():
    for group, result in grade_assignment(RNN).items():
        assert result.score == result.points, group
        assert not result.notes()


def test_a_partly_right_function_keeps_its_form_cases_and_partial_credit():
    ignores_relu = edit_cell(RNN, "rnn_cell_forward", ('nonlinearity == "tanh"', "True"))
    results = grade_assignment(RNN, ignores_relu)
    values = results["rnn_cell_forward_values"]
    assert 0 < values.score < values.points
    assert any(c.kind == FORM and c.passed for c in values.cases)
    assert results["rnn_cell_forward_shape"].score == results["rnn_cell_forward_shape"].points


def _group(cases: list[CaseResult], points: float = 4.0, withheld: float = 0.0) -> GroupResult:
    return GroupResult("g", "a check", points, cases, stub="f", withheld=withheld)


def test_weights_split_a_cell_between_its_cases():
    group = _group([CaseResult("heavy", True, None, False, weight=3.0),
                    CaseResult("light", False, "wrong", False, weight=1.0)])
    assert group.share() == (3.0, 4.0)


def test_the_public_share_is_the_same_whether_or_not_the_hidden_cases_ran():
    public = [CaseResult("a", True, None, False), CaseResult("b", False, "wrong", False)]
    ran = _group([*public, CaseResult("h", True, None, True), CaseResult("i", True, None, True)])
    not_ran = _group(list(public), withheld=2.0)
    assert ran.share(hidden=False) == not_ran.share(hidden=False) == (1.0, 2.0)
    assert not_ran.share(hidden=True) == (0.0, 2.0)
    assert ran.share(hidden=True) == (2.0, 2.0)


def test_hidden_value_cases_that_pass_earn_their_points_even_when_the_public_ones_fail():
    group = _group([CaseResult("v", False, "wrong", False), CaseResult("shape", True, None, False, kind=FORM),
                    CaseResult("hv", True, None, True)])
    assert group.share() == (round(4 / 3, 4), 4.0)  # the hidden value case; the form case waits for a public one


def test_every_shape_meta_and_unchanged_case_is_a_form_case_and_every_stub_has_value_cases():
    for assignment in checks.ASSIGNMENTS:
        stubs_with_values = set()
        for group_id, group in checks.groups(assignment).items():
            factory = checks.hidden_cases(assignment, group_id)
            for case in [*checks.public_cases(assignment, group), *(factory() if factory else [])]:
                assert case.kind in (VALUE, FORM), (group_id, case.name)
                if group_id.endswith("_shape") or case.call.device == "meta" or case.call.return_args \
                        or "unchanged" in case.name or "raises" in case.name:
                    assert case.kind == FORM, (group_id, case.name)
                if case.kind == VALUE and not case.diagnostic:
                    stubs_with_values.add(group.stub)
                assert case.weight > 0, (group_id, case.name)
        assert {g.stub for g in checks.groups(assignment).values()} == stubs_with_values, assignment


def test_cuda_twins_share_their_case_weight_so_a_gpu_moves_no_point_between_public_and_hidden():
    assignment, group = checks.find_group("rnn_cell_forward_shape")
    planned = evaluate.plan(assignment, group, include_hidden=True)
    before = {hidden: sum(p.case.weight for p in planned if p.hidden == hidden) for hidden in (False, True)}
    twins = evaluate.cuda_twins(planned)
    assert twins
    after = {hidden: sum(p.case.weight for p in [*planned, *twins] if p.hidden == hidden) for hidden in (False, True)}
    assert after == before
    assert all(t.case.kind == FORM for t in twins if "meta" in t.case.name)


def test_the_hidden_weight_recorded_for_the_student_bundle_is_the_hidden_cases_weight():
    from autograder.checks import answers

    groups = list(checks.groups(RNN).values())
    recorded = answers.record("rnn", groups)["hidden_weights"]
    assert recorded == {g.id: checks.hidden_weight(RNN, g.id) for g in groups}
    assert all(weight > 0 for weight in recorded.values())


# ---------------------------------------------------------------- inconclusive cases


def _judge(message: str | None) -> GroupResult:
    case = Case("meta device", Call("f", device="meta"), lambda outcome: message, kind=FORM)
    value = Case("values", Call("f"), lambda outcome: None)
    group = CheckGroup("g", "f", "f: a check", lambda: [case, value])
    planned = [PlannedCase(case, False), PlannedCase(value, False)]
    return evaluate.judge_group(group, planned, [Outcome("ok"), Outcome("ok")], 2.0)


def test_an_inconclusive_case_keeps_its_points_and_shows_its_note_in_every_view(tmp_path: Path):
    from autograder.reports.feedback import group_views, render_group

    note = Inconclusive("not decided on the meta device: `f` needs the values of its inputs there")
    result = _judge(note)
    assert result.score == 2.0
    assert result.cases[0].note == str(note)
    assert "note: not decided on the meta device" in report.format_group(result)
    data = SubmissionResult("ann", RNN, [result]).to_json()
    assert "note: not decided on the meta device" in data["tests"][0]["output"]
    page = render_group(group_views(data)[0], show_hidden=True)
    assert "not decided on the meta device" in html.unescape(page)


def test_a_failed_case_is_not_mistaken_for_an_inconclusive_one():
    result = _judge("h_next has shape (3, 6); expected (6, 3)")
    assert result.cases[0].note is None and not result.cases[0].passed


# ---------------------------------------------------------------- hints


def test_a_stub_not_written_yet_gets_no_hint_and_says_so_once():
    from conftest import released_solution_cells

    stub = {"rnn_cell_forward": released_solution_cells(RNN)["rnn_cell_forward"]}
    result = grade_in_process("rnn_cell_forward_values", solution_namespace(RNN, stub))
    assert result.unwritten() and result.hint is None
    assert report.format_group(result).count("not implemented yet") == 1


HALF_GRU_CELL = function("gru_cell_forward", "def gru_cell_forward(x, h_prev, *args):\n    return h_prev * 0.5\n")
CASCADES = [
    pytest.param(RNN, {"rnn_cell_forward": "def rnn_cell_forward(*args, **kwargs):\n    raise NotImplementedError\n"},
                 "rnn_forward_values", "rnn_cell_forward", id="rnn_forward over an unwritten cell"),
    pytest.param(RNN, WRONG_CELL_SAME_SHAPE, "rnn_forward_values", "rnn_cell_forward",
                 id="rnn_forward over a wrong cell"),
    pytest.param("02_lstm", edit_cell("02_lstm", "lstm_cell_forward", ("a_i, a_f, a_g, a_o =", "a_i, a_f, a_o, a_g =")),
                 "lstm_forward_values", "lstm_cell_forward", id="lstm_forward over a wrong gate order"),
    pytest.param("03_gru", HALF_GRU_CELL, "gru_forward_values", "gru_cell_forward", id="gru_forward over a wrong cell"),
    pytest.param("03_gru", HALF_GRU_CELL, "bidirectional_gru_forward_values", "gru_cell_forward",
                 id="bidirectional GRU over a wrong cell"),
    pytest.param("04_bptt", edit_cell("04_bptt", "rnn_step_forward", ("torch.tanh(", "(")),
                 "rnn_sequence_forward_values", "rnn_step_forward", id="sequence forward over a step without tanh"),
]


@pytest.mark.parametrize(("assignment", "overrides", "group_id", "callee"), CASCADES)
def test_a_failure_that_cascades_from_a_called_stub_says_fix_that_stub_first(assignment, overrides, group_id, callee):
    result = grade_in_process(group_id, solution_namespace(assignment, overrides))
    assert result.score < result.points
    assert result.hint and f"fix {callee} first" in result.hint, result.hint


def test_a_stub_calling_an_unwritten_stub_is_told_which_one_is_not_written():
    overrides = {"rnn_cell_forward": "def rnn_cell_forward(*args, **kwargs):\n    raise NotImplementedError\n"}
    result = grade_in_process("rnn_forward_values", solution_namespace(RNN, overrides))
    assert not result.unwritten()
    assert any("calls `rnn_cell_forward`, which is not implemented yet" in (c.message or "") for c in result.cases)


def test_a_failure_of_its_own_gets_the_stubs_own_hint_not_a_cascade():
    results = grade_assignment(RNN, edit_cell(RNN, "rnn_forward", ("h_0[k]", "h_0[0]")))
    hint = results["rnn_forward_values"].hint or ""
    assert "first" not in hint


def test_calls_are_read_from_the_source_without_running_it():
    source = "def g(x):\n    return f(x) + os.system('x')\n\ndef f(x):\n    return x\n"
    assert evaluate.calls_in_sources([source, "%matplotlib inline\n"], {"f", "g"}) == {"g": {"f"}, "f": set()}


# ---------------------------------------------------------------- one number in every view

PARTLY_WRONG = {
    **edit_cell(RNN, "rnn_cell_forward", ('nonlinearity == "tanh"', "True")),  # relu ignored: partial values
    **function("count_rnn_params_solution", "def count_rnn_params(*args, **kwargs):\n    return 0\n"),  # wholly wrong
}
TITLE_LINE = re.compile(r"^(?P<title>\S.*): (?P<score>[\d.]+) / (?P<max>[\d.]+) points", re.M)


def _printed(text: str) -> dict[str, tuple[str, str]]:
    return {m["title"]: (m["score"], m["max"]) for m in TITLE_LINE.finditer(text)}


def _shown(pair: tuple[float, float]) -> tuple[str, str]:
    """How a text view writes (score, max): the numbers of results.json to two decimals."""
    return report.points(pair[0]), report.points(pair[1])


@pytest.mark.slow
def test_every_view_shows_the_same_number_for_every_test_cell(submission, tmp_path: Path):
    path = submission(PARTLY_WRONG)
    run = lambda *args: subprocess.run([sys.executable, "-m", "autograder", *args], cwd=ROOT, capture_output=True,  # noqa: E731
                                       text=True, timeout=300)
    checked = run("check", str(path))
    graded = run("grade", str(path), "-o", str(tmp_path / "one"))
    batch = run("grade-batch", str(path.parents[2]), "-a", RNN, "-o", str(tmp_path / "batch"),
                "-q", "--feedback")
    assert graded.returncode == 0 and batch.returncode == 0, graded.stderr + batch.stderr
    data = json.loads((tmp_path / "one" / "results.json").read_text())
    entries: dict[str, dict[str, tuple[float, float]]] = {}
    for test in data["tests"]:
        kind = "hidden" if test["visibility"] == "after_due_date" else "public"
        entries.setdefault(test["extra_data"]["check_group"], {})[kind] = (test["score"], test["max_score"])
    titles = {g.id: g.title for g in checks.groups(RNN).values()}
    student_view, instructor_view = _printed(checked.stdout), _printed(graded.stdout)
    with (tmp_path / "batch" / "grades.csv").open() as handle:
        row = next(csv.DictReader(handle))
    page = html.unescape((tmp_path / "batch" / "student" / RNN / "feedback.html").read_text())
    namespace = solution_namespace(RNN, PARTLY_WRONG)
    total_later = 0.0
    for gid, title in titles.items():
        public, hidden = entries[gid]["public"], entries[gid]["hidden"]
        whole = (round(public[0] + hidden[0], 4), round(public[1] + hidden[1], 4))
        assert student_view[title] == _shown(public), gid
        assert instructor_view[title] == _shown(whole), gid
        assert float(row[gid]) == whole[0], gid
        section = page[page.index(f'id="check-{gid}"'):]
        assert re.search(r'ag-score">([\d.]+) / ([\d.]+)', section).groups() == _shown(whole)
        printed = subprocess_free_check(gid, namespace)
        assert printed[0] == public[0] and _printed(printed[1])[title] == _shown(public), gid
        assert inline.check(gid, include_hidden=True, namespace=namespace) == whole[0], gid
        total_later += hidden[1]
    assert data["score"] == round(sum(sum(e[k][0] for k in e) for e in entries.values()), 4)
    assert report.hidden_statement(total_later, data["extra_data"]["max_score"]) in checked.stdout
    assert any(0 < v["public"][0] < v["public"][1] for v in entries.values()), "no partly right cell: no test"
    assert entries["count_rnn_params"]["public"][0] == 0


def subprocess_free_check(group_id: str, namespace: dict) -> tuple[float, str]:
    """What a student's check cell returns and prints (the public cases only)."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        value = inline.check(group_id, namespace=namespace)
    return value, out.getvalue()
