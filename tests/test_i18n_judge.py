"""The judge's own messages in Chinese: a probe that crashed, a by-hand finding, a notebook that cannot be
graded, the terminal report. Each is produced through the code that makes it (a scripted probe stands in for
the sandboxed process), in Chinese and in English; names and numbers are the same in both, English is unchanged,
and what other code reads in these messages (a by-hand policy, "not run", an invalid reply, a stub not written
yet, the stub a failure names) still works in Chinese."""

from __future__ import annotations

import json
import re
import struct

import pytest

from autograder import i18n, notebook, wire
from autograder.judge import byhand, evaluate, grading, runner, supervise
from autograder.reports import report
from autograder.reports.results import CaseResult, GroupResult, SubmissionResult
from autograder.wire import Call
from examples import samples

ZH = "zh_CN"
CJK = re.compile(r"[\u4e00-\u9fff]")
LIMITS = runner.Limits(call_seconds=5, cell_seconds=15, submission_seconds=60, memory_bytes=1024**3)


def chinese(text: str | None) -> bool:
    return bool(text) and CJK.search(text) is not None


# ---------------------------------------------------------------- a scripted probe

class ScriptedProbe:
    """Answers the job it is sent as an honest probe would: every cell runs, every call raises RuntimeError,
    except the call numbered `crash_on`, where the process dies with `code`."""

    oom_killed = False
    reply_limit = 0

    def __init__(self, crash_on: int | None = None, code: int = -11) -> None:
        self.crash_on, self.code, self.events = crash_on, code, []

    def send(self, data: bytes) -> bool:
        frames, pos = [], 0
        while pos < len(data):
            (size,) = struct.unpack_from("<Q", data, pos)
            frames.append(wire.decode(data[pos + 8:pos + 8 + size]))
            pos += 8 + size
        (_h, cells), (_c, calls) = frames
        events = [("frame", {"op": "hello", "isolation": "scripted"}, None, 16)]
        events += [("frame", {"op": "cell", "index": c["index"], "error": None}, None, 16) for c in cells]
        events.append(("frame", {"op": "cells_done"}, None, 16))
        for number in calls["call_numbers"]:
            if number == self.crash_on:
                events.append(("eof", None, None, 0))
                break
            events.append(("frame", {"op": "result", "call": number, "status": "raised", "exception": "RuntimeError",
                                     "message": "RuntimeError: 42", "traceback": ""}, None, 16))
        else:
            events.append(("frame", {"op": "done"}, None, 16))
        self.events = events
        return True

    def next_event(self, timeout: float):
        return self.events.pop(0) if self.events else ("eof", None, None, 0)

    def rss_bytes(self) -> int:
        return 0

    def exit_code(self, timeout: float = 2.0) -> int | None:
        return self.code

    def close(self) -> None:
        pass


class ScriptedLauncher:
    isolation_note = ""

    def __init__(self, crash_on: int | None = None) -> None:
        self.crash_on, self.starts = crash_on, 0

    def start(self, sink, slot, scratch, memory_bytes=None) -> ScriptedProbe:
        self.starts += 1
        return ScriptedProbe(self.crash_on if self.starts == 1 else None)


def crashed(lang: str) -> supervise.Collected:
    """Two calls of one stub; the first kills the process with SIGSEGV."""
    with i18n.language(lang):
        return supervise.collect(ScriptedLauncher(crash_on=0), [{"index": 0, "source": "x = 1"}],
                                 [Call("rnn_cell_forward", ()), Call("rnn_cell_forward", ())], LIMITS,
                                 runner.OutputBuffer(1024))


def test_a_probe_that_crashed_says_so_in_chinese_and_the_same_in_english():
    zh, en = crashed(ZH), crashed("en")
    assert [o.status for o in zh.outcomes] == [o.status for o in en.outcomes] == ["crashed", "not_run"]
    assert en.outcomes[0].message == "`rnn_cell_forward`: the process was killed by SIGSEGV (a segmentation fault)"
    assert en.outcomes[1].message == "not run: `rnn_cell_forward` crashed the process in an earlier case"
    for outcome in zh.outcomes:
        assert chinese(outcome.message) and "`rnn_cell_forward`" in outcome.message, outcome.message
    assert "SIGSEGV" in zh.outcomes[0].message
    with i18n.language(ZH):  # the "not run" opening is known in Chinese too
        assert supervise.without_not_run(zh.outcomes[1].message) != zh.outcomes[1].message
        assert supervise.without_not_run("not run: the grader could not run this submission") == \
            "the grader could not run this submission"


@pytest.mark.parametrize(("code", "number"), [(-9, "SIGKILL"), (3, "3")])
def test_how_a_process_ended_keeps_its_signal_or_status(code, number):
    with i18n.language(ZH):
        said = runner.describe_exit(code)
    assert chinese(said) and number in said
    assert runner.describe_exit(code) in ("the process was killed by SIGKILL",
                                          "the process exited with status 3 (os._exit or a crash)")


def test_limits_and_bad_replies_are_in_chinese_and_keep_their_numbers():
    run = supervise._Run(probe=None, cells=[], pending=[3, 4], calls=[Call("f", ())] * 5)  # type: ignore[arg-type]
    run.phase = "calls"
    with i18n.language(ZH):
        problem = supervise._problem(run, {"op": "result", "call": 4, "status": "ok"})
        timeout = supervise._timeout("calls", LIMITS, submission=False)
        memory = supervise._memory(LIMITS)
        result = supervise.Collected([None] * 5)  # type: ignore[list-item]
        supervise._blame(run, result, supervise._invalid(problem), {})
        assert supervise.is_invalid(result.outcomes[3].message)
    assert chinese(problem) and "4" in problem
    assert chinese(timeout) and "5" in timeout
    assert chinese(memory) and "1.0 GiB" in memory
    assert result.outcomes[3].status == "bad_reply" and chinese(result.outcomes[3].message)
    assert supervise._timeout("calls", LIMITS, submission=False) == "the call ran past the 5 s limit and was stopped"


# ---------------------------------------------------------------- by hand, graded through the judge

CHEAT = {"lstm_cell_forward": "def lstm_cell_forward(x, state, W_ih, W_hh, b_ih=None, b_hh=None):\n"
                              "    return torch.lstm_cell(x, state, W_ih, W_hh, b_ih, b_hh)\n"}


@pytest.fixture(scope="module")
def lstm_plan() -> grading.AssignmentPlan:
    return grading.plan_assignment("02_lstm", include_hidden=False)


def graded(plan: grading.AssignmentPlan, lang: str, tmp_path, name: str) -> SubmissionResult:
    nb = samples.make_notebook("02_lstm", CHEAT)
    nb.setdefault("metadata", {}).setdefault("autograder", {})["lang"] = lang
    path = tmp_path / f"{name}.ipynb"
    samples.write_notebook(nb, path)
    return grading.grade_notebook(plan, path, ScriptedLauncher(), student=name)


@pytest.mark.parametrize("policy", ["zero", "review"])
def test_a_by_hand_finding_is_in_chinese_and_keeps_its_policy(lstm_plan, tmp_path, monkeypatch, policy):
    monkeypatch.delenv(i18n.ENV, raising=False)
    monkeypatch.setenv(byhand.POLICY_ENV, policy)
    zh, en = graded(lstm_plan, "zh", tmp_path, "zh"), graded(lstm_plan, "en", tmp_path, "en")
    assert zh.language == ZH and en.language == "en"
    found_zh = [f for f in zh.by_hand if f["stub"] == "lstm_cell_forward"]
    found_en = [f for f in en.by_hand if f["stub"] == "lstm_cell_forward"]
    assert found_zh and len(found_zh) == len(found_en)
    for mine, theirs in zip(found_zh, found_en):
        assert mine["policy"] == theirs["policy"] == policy
        assert theirs["message"].startswith("`lstm_cell_forward` calls torch.lstm_cell (line 2): ")
        assert chinese(mine["message"]) and "torch.lstm_cell" in mine["message"] and "2" in mine["message"]
        assert not mine["message"].startswith(("for review", "待"))
    reviewed = [n for n in zh.notes if "lstm_cell_forward" in n and "torch.lstm_cell" in n]
    assert bool(reviewed) == (policy == "review") and all(chinese(n) for n in reviewed)
    assert [g.score for g in zh.groups] == [g.score for g in en.groups]
    written = json.loads(json.dumps(zh.to_json()))
    assert written["extra_data"]["by_hand"][0]["policy"] == policy


def test_a_finding_read_from_the_source_names_its_line_and_cell_in_chinese():
    cells = [{"index": i, "source": source} for i, source in enumerate(
        ["import torch\n", "def gates(x):\n    return torch.lstm_cell(x)\n",
         CHEAT["lstm_cell_forward"].replace("torch.lstm_cell", "gates")])]
    rules = byhand.rules_for("02_lstm", "lstm_cell_forward")
    with i18n.language(ZH):
        message = byhand.Program.from_cells(cells).findings("lstm_cell_forward", rules)[0].message
    assert chinese(message) and "torch.lstm_cell" in message and "`gates`" in message and "2" in message
    assert byhand.Program.from_cells(cells).findings("lstm_cell_forward", rules)[0].message.startswith(
        "`lstm_cell_forward` calls torch.lstm_cell (line 2 of cell 2, in `gates`): ")


# ---------------------------------------------------------------- a notebook that cannot be graded

def test_a_malformed_notebook_is_refused_in_chinese():
    with i18n.language(ZH), pytest.raises(notebook.NotebookError) as zh:
        notebook.parse(b'{"cells": [], "nbformat": 4, ')
    with pytest.raises(notebook.NotebookError) as en:
        notebook.parse(b'{"cells": [], "nbformat": 4, ')
    assert chinese(str(zh.value)) and "1" in str(zh.value)
    assert str(en.value).startswith("the notebook is not valid JSON (line 1, column ")


def test_a_notebook_in_chinese_that_is_not_the_assignment_is_told_so_in_chinese(tmp_path, monkeypatch):
    monkeypatch.delenv(i18n.ENV, raising=False)
    plan = grading.plan_assignment("01_rnn", include_hidden=False)
    nb = samples.make_notebook("01_rnn")
    nb["cells"] = []
    nb["metadata"].setdefault("autograder", {})["lang"] = "zh"
    samples.write_notebook(nb, tmp_path / "empty.ipynb")
    result = grading.grade_notebook(plan, tmp_path / "empty.ipynb", ScriptedLauncher())
    assert result.language == ZH and chinese(result.error)
    output = result.to_json()["output"]
    assert chinese(output.split("\n")[1]) and result.error in output


# ---------------------------------------------------------------- the terminal report and the result's text

def group(lang_message: str, **kwargs) -> GroupResult:
    cases = [CaseResult("values", False, lang_message, False), CaseResult("shape", True, None, False, kind="form"),
             CaseResult("edge", True, None, True)]
    return GroupResult("rnn_cell_forward_values", "rnn_cell_forward values", 4.0, cases, stub="rnn_cell_forward",
                       hint="check the bias", withheld=kwargs.get("withheld", 0.0))


def test_the_terminal_report_is_in_chinese_with_the_same_numbers():
    result = group("wrong", withheld=1.0)
    with i18n.language(ZH):
        zh = report.format_group(result)
    en = report.format_group(result)
    head_zh, head_en = zh.split("\n")[0], en.split("\n")[0]
    assert head_en == "rnn_cell_forward values: 0 / 2 points (2 of 4 points are graded after the due date)"
    assert chinese(head_zh) and "rnn_cell_forward values" in head_zh and "0 / 2" in head_zh and "4" in head_zh
    assert "  Hint: check the bias" in en and "check the bias" in zh and "Hint:" not in zh
    with i18n.language(ZH):
        table = report.score_table([("ada", 3.5, 12.0, "")])
    assert chinese(table.split("\n")[0]) and "3.50" in table


def test_unwritten_and_the_failing_stub_are_recognised_in_chinese():
    with i18n.language(ZH):
        message = i18n._("`{stub}` is not implemented yet (it raises NotImplementedError)").format(
            stub="rnn_cell_forward")
        calls = i18n._("`{stub}` calls `{callee}`, which is not implemented yet (it raises NotImplementedError)"
                       ).format(stub="rnn_forward", callee="rnn_cell_forward")
        result = GroupResult("g", "t", 1.0, [CaseResult("a", False, message, False)], stub="rnn_cell_forward")
        assert result.unwritten()
        assert evaluate.traced_functions(calls) == {"rnn_forward", "rnn_cell_forward"}
        text = report.format_group(result)
    assert chinese(message) and text.count("rnn_cell_forward") >= 1 and chinese(text)
    assert "1" in text.split("\n")[1]


def test_the_results_text_is_in_chinese_and_its_fields_are_not():
    result = SubmissionResult("ada", "01_rnn", [group("错")], error=None, hidden_checks=False, language=ZH)
    data = result.to_json()
    assert chinese(data["output"].split("\n")[1])
    assert data["output"].startswith("01_rnn: ")
    test = data["tests"][0]
    assert test["status"] == "failed" and test["visibility"] == "visible"
    assert "rnn_cell_forward values" in test["name"]
    assert chinese(test["output"])
    english = SubmissionResult("ada", "01_rnn", [group("wrong")], hidden_checks=False).to_json()
    assert english["output"].endswith("Graded with the public checks only: the hidden checks were not available here.")


def test_an_output_left_off_the_gpu_is_told_in_chinese_with_its_place_and_device():
    import torch

    from autograder import checks
    from autograder.wire import Outcome

    case = evaluate.plan("01_rnn", checks.groups("01_rnn")["rnn_cell_forward_shape"], False)[0].case
    twin = evaluate.cuda_twin(case)
    returned = Outcome("ok", value=(torch.zeros(2), torch.zeros(2)))
    with i18n.language(ZH):
        zh = twin.verdict(returned)
    en = twin.verdict(returned)
    assert en.startswith("the output[0] is on the cpu device; expected cuda")
    assert chinese(zh) and "[0]" in zh and "cpu" in zh and "x.new_zeros(...)" in zh
