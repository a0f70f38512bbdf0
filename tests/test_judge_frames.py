"""Replies a submission forges on its probe's own socket: each costs only its own points, none ends the batch.

A cell runs in the probe's process, so it can find the probe's socket (/proc/self/fd) and write anything on
it: replies of the wrong types, for calls that were not asked, with unknown statuses, a forged "device"
status, tensors that claim gigabytes, floods. One batch holds a submission per forgery beside honest
controls: the controls keep their exact score, the batch finishes without waiting out a limit, results stay
small, and no forgery turns the submission into a grader error.
"""

from __future__ import annotations

import io
import json
import os
import struct
from pathlib import Path

import pytest

from autograder import wire
from autograder.judge import grading, supervise
from autograder.judge.runner import Limits, OutputBuffer, Probe
from autograder.reports.gradebook import group_scores  # check group → points
from autograder.wire import Call, Outcome
from examples import samples

A = "01_rnn"
CELL = "rnn_cell_forward"
FULL = 12.0
CELL_GROUPS = ("rnn_cell_forward_shape", "rnn_cell_forward_values")
UNTOUCHED = ("rnn_shapes", "count_rnn_params")  # groups whose stubs never call rnn_cell_forward
LIMITS = Limits(call_seconds=5, cell_seconds=15, submission_seconds=60, memory_bytes=1024**3,
                output_bytes=256 * 1024, reply_bytes=4 * 1024**2, case_reply_bytes=4 * 1024**2,
                submission_reply_bytes=16 * 1024**2, submission_replies=2000)

# What a hostile cell starts with: the probe's socket, a way to write replies on it, and the running call or cell.
FORGE = """
import json, os, socket, struct, sys
from autograder import wire

def _socket():
    for fd in os.listdir('/proc/self/fd'):
        try:
            if os.readlink(f'/proc/self/fd/{fd}').startswith('socket:'):
                return socket.socket(fileno=os.dup(int(fd)))
        except OSError:
            pass
    raise RuntimeError('no socket found')

PAD = 'x' * (1 << 20)

def _raw(data):
    with _socket() as s:
        s.sendall(data)

def _send(header, payload=None):
    _raw(wire.encode(header, payload))

def _frame(header, blobs=()):
    head = json.dumps(header).encode()
    body = struct.pack('<II', len(head), len(blobs)) + head
    for blob in blobs:
        body += struct.pack('<Q', len(blob)) + blob
    return struct.pack('<Q', len(body)) + body

def forge_before_replies(stub, forge):
    # forge(header) runs before the probe sends each honest result of `stub`'s calls (the header holds its id)
    import autograder.probe.serve as probe
    honest_reply, honest_call, running = probe.reply, probe.perform_call, []

    def perform_call(namespace, call):
        running[:] = [call["stub"]]
        return honest_call(namespace, call)

    def reply(stream, header, payload=None):
        if header.get("op") == "result" and running == [stub]:
            forge(header)
        return honest_reply(stream, header, payload)

    probe.perform_call, probe.reply = perform_call, reply
"""


def top_level(code: str) -> dict:
    """A submission with full solutions and one added cell (after rnn_cell_forward) that forges replies."""
    return {"added": [(CELL, FORGE + code)]}


def in_function(code: str) -> dict:
    """Full solutions, and a cell that forges replies (`code`, with `header` the honest reply about to be sent)
    while each call of rnn_cell_forward runs: only that stub's cases may lose points."""
    forge = "def _forge(header):\n" + "".join(f"    {line}\n" for line in code.strip().splitlines())
    return {"added": [(CELL, FORGE + forge + f"forge_before_replies({CELL!r}, _forge)")], "lose": CELL_GROUPS}


TENSOR = {"t": "tensor", "dtype": "float64", "device": "cpu"}
HOSTILE: dict[str, dict] = {
    # While cells run: the forged reply is refused and noted on its cell; every point is kept.
    "cell_index_a_list": {**top_level("_send({'op': 'cell', 'index': [0], 'error': None})"), "expect": FULL},
    "cell_index_not_sent": {**top_level("_send({'op': 'cell', 'index': 10**6, 'error': None})"), "expect": FULL},
    "unknown_op": {**top_level("_send({'op': 'score', 'score': 1e9})"), "expect": FULL},
    "done_before_the_calls": {**top_level("_send({'op': 'cells_done'})\n_send({'op': 'done'})"), "expect": FULL},
    "error_not_text": {**top_level("_send({'op': 'cell', 'index': 0, 'error': {'a': 1}})"),
                       "expect": FULL},
    "header_not_json": {**top_level("_raw(struct.pack('<Q', 12) + b'\\xff' * 12)"), "expect": FULL},
    "header_not_an_object": {**top_level("_raw(_frame([1, 2, 3]))"), "expect": FULL},
    "claims_a_10_gb_tensor": {**top_level(
        f"_raw(_frame({{'op': 'result', 'call': 0, 'status': 'ok', "
        f"'value': {{**{TENSOR!r}, 'shape': [10**10, 10**10], 'blob': 0}}}}, [b'x' * 8]))"), "expect": FULL},
    "absurd_shape": {**top_level(
        f"_raw(_frame({{'op': 'result', 'call': 0, 'status': 'ok', 'value': {{**{TENSOR!r}, 'shape': [2**70]}}}}))\n"
        f"_raw(_frame({{'op': 'result', 'call': 0, 'status': 'ok', 'value': {{**{TENSOR!r}, 'shape': [1] * 1000}}}}))"),
        "expect": FULL},
    "one_blob_for_many_tensors": {**top_level(
        f"_raw(_frame({{'op': 'result', 'call': 0, 'status': 'ok', 'value': {{'t': 'list', 'items': "
        f"[{{**{TENSOR!r}, 'shape': [128, 1024], 'blob': 0}}] * 64}}}}, [b'x' * 1024 * 1024]))"),
        "expect": FULL},
    # A length that cannot be read on from: the process is stopped, the cell skipped, the notebook run again.
    "claims_a_10_gb_reply": {**top_level("_raw(struct.pack('<Q', 10 * 1024**3) + b'x' * 64)"), "expect": FULL},
    "floods_one_cell": {**top_level("for _ in range(6):\n    _send({'op': 'noise', 'pad': PAD})"),
                        "expect": FULL},
    # Past the submission's own caps: that submission stops, with a message.
    "floods_replies": {**top_level("for _ in range(3000):\n    _send({'op': 'noise'})"), "expect": 0.0,
                       "limit": "replies"},
    "floods_bytes": {"added": [(CELL, f"{FORGE}# cell {i}\nfor _ in range(3):\n    _send({{'op': 'x', 'pad': PAD}})")
                               for i in range(7)], "expect": 0.0, "limit": "replies"},
    # While a stub runs: its own cases fail, with the reason; stubs that do not call it keep their points.
    "call_id_a_float": in_function("_send({'op': 'result', 'call': float(header['call']), 'status': 'ok'})"),
    "call_id_a_bool": in_function("_send({'op': 'result', 'call': True, 'status': 'ok'})"),
    "call_id_huge": in_function("_send({'op': 'result', 'call': 10**30, 'status': 'ok'})"),
    "call_id_not_requested": in_function("_send({'op': 'result', 'call': 123456, 'status': 'ok'})"),
    "call_answered_twice": in_function("_send({'op': 'result', 'call': header['call'], 'status': 'ok'}, {'out': 0})"),
    "status_unknown": in_function("_send({'op': 'result', 'call': header['call'], 'status': 'passed'})"),
    "message_not_text": in_function(
        "_send({'op': 'result', 'call': header['call'], 'status': 'raised', 'message': {'a': [1] * 100}})"),
    "done_too_early": in_function("_send({'op': 'done'})"),
    "hello_again": in_function("_send({'op': 'hello', 'isolation': 'none at all'})"),
    # The probe's own reply, rewritten: valid in every field, so only the canary tells it from the grader's fault.
    "forged_device_status": {**in_function(
        "header.update(status='device', message='not run: the grading process could not use the cpu device (forged)')"),
        "says": "input preparation"},
    "long_messages_with_surrogates": in_function(
        "_send({'op': 'result', 'call': header['call'], 'status': 'raised', 'exception': 'E' * 10**6, "
        "'message': '\\ud800' + 'x' * 3_000_000, 'traceback': 'y' * 500_000})"),
    # The probe's input preparation broken by the notebook: its own failure, not the grader's.
    "patched_tensor_to": {"added": [(CELL, "import torch\n\ndef _refuse(*args, **kwargs):\n"
                                           "    raise RuntimeError('moved nowhere')\n\ntorch.Tensor.to = _refuse")],
                          "expect_below": FULL, "says": "input preparation"},
}
CONTROLS = ["control_a", "control_b"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict], dict[str, int]]:
    base = tmp_path_factory.mktemp("frames")
    submitted, out = base / "submitted", base / "out"
    for name, spec in HOSTILE.items():
        nb = samples.make_notebook(A, spec.get("overrides"), spec.get("added"))
        samples.write_notebook(nb, submitted / name / A / f"{A}.ipynb")
    for name in CONTROLS:
        samples.write_notebook(samples.make_notebook(A), submitted / name / A / f"{A}.ipynb")
    grading.grade_batch(submitted, A, out, workers=2, progress=False, limits=LIMITS)
    paths = {p.parent.parent.name: p for p in out.glob(f"*/{A}/results.json")}
    results = {name: json.loads(p.read_text(encoding="utf-8")) for name, p in paths.items()}
    return out, results, {name: p.stat().st_size for name, p in paths.items()}


def everything_said(result: dict) -> str:
    return json.dumps(result, ensure_ascii=False)


@pytest.mark.slow
def test_every_submission_is_graded(graded):
    _, results, _ = graded
    assert set(results) == set(HOSTILE) | set(CONTROLS)


@pytest.mark.slow
@pytest.mark.parametrize("name", CONTROLS)
def test_controls_keep_their_exact_score(graded, name):
    _, results, _ = graded
    assert results[name]["score"] == FULL
    assert "invalid reply" not in everything_said(results[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_forged_reply_is_never_a_grader_error(graded, name):
    _, results, _ = graded
    assert not results[name]["extra_data"]["grader_error"], results[name]["extra_data"].get("error")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_forged_reply_never_waits_out_a_limit(graded, name):
    _, results, _ = graded
    assert results[name]["execution_time"] < LIMITS.cell_seconds, results[name]["execution_time"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_results_stay_small_whatever_the_replies_claim(graded, name):
    _, results, sizes = graded
    assert sizes[name] < 1024**2, sizes[name]
    for test in results[name]["tests"]:
        assert len(test["output"]) < 4 * supervise.MAX_TEXT, test["name"]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_forged_reply_costs_only_its_own_points(graded, name):
    _, results, _ = graded
    spec, result = HOSTILE[name], results[name]
    if "expect" in spec:
        assert result["score"] == spec["expect"], everything_said(result)[-3000:]
    elif "expect_below" in spec:
        assert result["score"] < spec["expect_below"]
    else:
        scores = group_scores(result)
        for gid in spec["lose"]:
            assert scores[gid] < 1.0, f"{gid} kept {scores[gid]} points"
        for gid in UNTOUCHED:
            full = sum(t["max_score"] for t in result["tests"] if t["extra_data"]["check_group"] == gid)
            assert scores[gid] == full, f"{gid} lost points"


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n, s in HOSTILE.items() if "limit" not in s and "says" not in s))
def test_the_student_is_told_their_process_sent_an_invalid_reply(graded, name):
    _, results, _ = graded
    assert supervise.INVALID in everything_said(results[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(n for n, s in HOSTILE.items() if "limit" in s))
def test_a_flood_of_replies_stops_only_its_submission_and_says_so(graded, name):
    _, results, _ = graded
    assert HOSTILE[name]["limit"] in results[name]["extra_data"]["limits_hit"]
    assert "replies for this submission" in everything_said(results[name])


@pytest.mark.slow
def test_a_notebook_that_breaks_the_probes_input_preparation_fails_as_its_own(graded):
    _, results, _ = graded
    said = everything_said(results["patched_tensor_to"])
    assert "broke the grading process's input preparation" in said and "moved nowhere" in said


@pytest.mark.slow
def test_a_forged_device_status_is_the_submissions_own_failure(graded):
    _, results, _ = graded
    said = everything_said(results["forged_device_status"])
    assert "broke the grading process's input preparation" in said


# ---------------------------------------------------------------- the canary's rule, without probes


def collected(*statuses: str, before_cells: bool = False, error: str | None = None) -> supervise.Collected:
    result = supervise.Collected([Outcome(s, message=f"not run: {s} case") for s in statuses])
    result.before_cells = before_cells
    result.grader_error = error
    if not before_cells:
        supervise._device_failure(result)
    return result


def never() -> supervise.Collected:
    raise AssertionError("not to be run")


def test_a_device_failure_the_canary_shares_stays_a_grader_error():
    result = supervise.confirm_grader_error(collected("ok", "device"), lambda: collected("raised", "device"), never)
    assert result.grader_error and result.outcomes[1].status == "device"


def test_device_cases_the_canary_runs_are_the_submissions_own_failures():
    result = supervise.confirm_grader_error(collected("device", "device"), lambda: collected("raised", "device"), never)
    assert result.grader_error and result.outcomes[0].status == "broken" and result.outcomes[1].status == "device"
    result = supervise.confirm_grader_error(collected("device", "ok"), lambda: collected("raised", "raised"), never)
    assert result.grader_error is None and result.outcomes[0].status == "broken"
    assert "input preparation" in result.outcomes[0].message


def test_a_canary_that_cannot_start_leaves_the_grader_error():
    failed = collected("not_run", before_cells=True, error="could not start a probe: no fork")
    result = supervise.confirm_grader_error(failed, lambda: collected("not_run", before_cells=True, error="same"),
                                            never)
    assert result is failed and result.grader_error


def test_a_probe_that_fails_before_any_cell_is_graded_again_when_the_canary_starts():
    failed = collected("not_run", before_cells=True, error="the probe failed before running any cell")
    result = supervise.confirm_grader_error(failed, lambda: collected("raised"), lambda: collected("ok"))
    assert result.grader_error is None and result.outcomes[0].status == "ok"
    twice = supervise.confirm_grader_error(failed, lambda: collected("raised"),
                                       lambda: collected("not_run", before_cells=True, error="again"))
    assert twice.grader_error is None and "released notebook does not" in twice.outcomes[0].message


def test_the_canary_runs_once_per_launcher():
    canary, runs = supervise.Canary(), []
    launcher = object()

    def run() -> supervise.Collected:
        runs.append(1)
        return collected("raised")

    canary.verdict(launcher, run)
    canary.verdict(launcher, run)
    assert len(runs) == 1
    canary.verdict(object(), run)
    assert len(runs) == 2


def test_a_bad_reply_fails_the_running_call_and_not_the_next():
    run = supervise._Run(probe=None, cells=[], pending=[3, 4], calls=[Call("f", ())] * 5)  # type: ignore[arg-type]
    run.phase = "calls"
    result = supervise.Collected([None] * 5)  # type: ignore[list-item]
    for forged in ({"op": "result", "call": 3.0, "status": "ok"}, {"op": "result", "call": True, "status": "ok"},
                   {"op": "result", "call": 4, "status": "ok"}, {"op": "result", "call": 3, "status": "passed"},
                   {"op": "result", "call": [3], "status": "ok"}, {"op": "cell", "index": 0},
                   {"op": "done"}, {"op": None}, {"op": "result", "call": 3, "status": "raised", "message": 1}):
        assert supervise._problem(run, forged), forged
    assert supervise._problem(run, {"op": "result", "call": 3, "status": "ok"}) is None
    supervise._blame(run, result, f"{supervise.INVALID}: forged", {})
    assert result.outcomes[3].status == "bad_reply" and result.outcomes[4] is None


class _NoLauncher:
    def kill(self, probe: Probe) -> None:
        pass


class _Failing(io.BytesIO):
    def read(self, size: int = -1) -> bytes:
        raise RuntimeError("something no one foresaw")


def events_of(inbox: io.BytesIO) -> list[tuple]:
    probe = Probe(0, inbox, io.BytesIO(), io.BytesIO(), OutputBuffer(10), _NoLauncher(), None)  # type: ignore[arg-type]
    found = []
    while not found or found[-1][0] not in ("eof", "broken"):
        event = probe.next_event(5.0)
        assert event is not None, f"the reader stopped without saying so after {found}"
        found.append(event)
    probe.close()
    return found


def test_the_reader_turns_every_reply_into_an_event_and_never_dies():
    good = wire.encode({"op": "hello"})
    garbage = struct.pack("<Q", 4) + b"\xff" * 4
    kinds = [e[0] for e in events_of(io.BytesIO(good + garbage + good))]
    assert kinds == ["frame", "unreadable", "frame", "eof"]
    assert events_of(io.BytesIO(good + struct.pack("<Q", 10 * 1024**3)))[-1][0] == "broken"
    assert events_of(io.BytesIO(good + struct.pack("<Q", 100) + b"short"))[-1][0] == "broken"
    assert events_of(_Failing())[-1][0] == "broken"


def test_the_reader_counts_the_bytes_of_each_reply():
    frame = wire.encode({"op": "hello"}, "x" * 1000)
    (kind, _, value, size), _ = events_of(io.BytesIO(frame))
    assert kind == "frame" and value == "x" * 1000 and size == len(frame)


def test_a_reply_over_the_judges_own_cap_is_refused_from_its_length():
    read_end, write_end = os.pipe()
    inbox = os.fdopen(read_end, "rb")
    probe = Probe(0, inbox, io.BytesIO(), io.BytesIO(), OutputBuffer(10), _NoLauncher(), None)  # type: ignore[arg-type]
    probe.reply_limit = 1000  # what the judge sets from Limits.reply_bytes before it sends the job
    with os.fdopen(write_end, "wb") as outbox:
        outbox.write(wire.encode({"op": "hello"}, "x" * 100) + wire.encode({"op": "hello"}, "x" * 2000))
    first, second = probe.next_event(5.0), probe.next_event(5.0)
    probe.close()
    assert first[0] == "frame" and second[0] == "broken" and "limit" in second[1]
