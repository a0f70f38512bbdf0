"""Submissions that crash, hang, flood, escape or try to fool the grader: each costs only its own points.

One batch holds every hostile submission plus correct controls graded in the same run; the batch must
finish, the controls keep full marks, and every hostile one gets the points its working code earned.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from autograder.judge import grading
from autograder.judge.runner import Limits
from autograder.reports.gradebook import group_scores  # check group → points
from examples import samples

pytestmark = pytest.mark.slow

A = "01_rnn"
CELL = "rnn_cell_forward"
SECRET = "the-solutions-folder-is-readable"

FULL = 12.0
CELL_GROUPS = ("rnn_cell_forward_shape", "rnn_cell_forward_values")
# rnn_forward calls rnn_cell_forward, so these two groups are the ones a broken cell cannot touch.
UNTOUCHED = ("rnn_shapes", "count_rnn_params")


def cell_fn(body: str) -> dict[str, str]:
    """Replace rnn_cell_forward by a function whose body is `body`."""
    code = "def rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity='tanh'):\n"
    return {CELL: code + "".join(f"    {line}\n" for line in body.splitlines())}


def correct_cell_then(extra: str) -> dict[str, str]:
    """The reference rnn_cell_forward, with `extra` run first on every call."""
    source = samples.solution_sources(A)[CELL]
    marker = '    if nonlinearity not in ("tanh", "relu"):'
    assert marker in source
    indented = "".join(f"    {line}\n" for line in extra.splitlines())
    return {CELL: source.replace(marker, indented + marker, 1)}


def correct_cell_followed_by(extra: str) -> dict[str, str]:
    """The reference rnn_cell_forward cell, with `extra` run at the end of the same cell."""
    return {CELL: samples.solution_sources(A)[CELL].rstrip("\n") + "\n\n" + extra + "\n"}


SWALLOW = "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"

HOSTILE: dict[str, dict] = {
    # The process ends in a top-level cell: the cell is skipped, everything else keeps its points.
    "exit_in_cell": {"added": [(CELL, "import os\nos._exit(3)")], "expect": FULL},
    "segfault_in_cell": {"added": [(CELL, "import ctypes\nctypes.string_at(0)")], "expect": FULL},
    "sys_exit_in_cell": {"added": [(CELL, "import sys\nsys.exit(1)")], "expect": FULL},
    "keyboard_interrupt_in_cell": {"added": [(CELL, "raise KeyboardInterrupt")], "expect": FULL},
    "hanging_cell": {"added": [(CELL, "while True:\n    pass")], "expect": FULL},
    "input_in_cell": {"added": [(CELL, "name = input('your name? ')")], "expect": FULL},
    # A cell that hangs after defining the function is interrupted, as a kernel would: the function stays.
    "hang_after_the_function": {"overrides": correct_cell_followed_by("while True:\n    pass"), "expect": FULL},
    "sleep_after_the_function": {"overrides": correct_cell_followed_by("import time\ntime.sleep(10**6)"),
                                 "expect": FULL},
    # One that will not be interrupted (it catches the interrupt, again and again) is ended by the judge.
    "swallows_the_interrupt": {"overrides": correct_cell_followed_by(SWALLOW), "lose": CELL_GROUPS},
    # The process ends inside a checked function: only that function's checks fail.
    "exit_in_function": {"overrides": cell_fn("import os\nos._exit(0)"), "lose": CELL_GROUPS},
    "segfault_in_function": {"overrides": cell_fn("import ctypes\nctypes.string_at(0)"), "lose": CELL_GROUPS},
    "sys_exit_in_function": {"overrides": cell_fn("import sys\nsys.exit(0)"), "lose": CELL_GROUPS},
    "recursion_in_function": {"overrides": cell_fn("return rnn_cell_forward(x, h_prev, W_ih, W_hh)"),
                              "lose": CELL_GROUPS},
    "keyboard_interrupt_in_function": {"overrides": cell_fn("raise KeyboardInterrupt"), "lose": CELL_GROUPS},
    "sigterm_ignored_and_hang": {"overrides": cell_fn(
        "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nwhile True:\n    pass"), "lose": CELL_GROUPS},
    "children_left_behind": {"overrides": cell_fn(
        "import subprocess\nsubprocess.Popen(['sleep', '300'], start_new_session=True)\nwhile True:\n    pass"),
        "lose": CELL_GROUPS},
    "huge_return_value": {"overrides": cell_fn("return x.new_zeros(60_000_000)"), "lose": CELL_GROUPS},
    "memory_hog": {"overrides": cell_fn("return torch.ones(400_000_000, dtype=torch.float64)"), "lose": CELL_GROUPS},
    "wrong_return_type": {"overrides": cell_fn("return 'h_next'"), "lose": CELL_GROUPS},
    "deleted_function": {"overrides": {CELL: "# I deleted it\n"}, "lose": CELL_GROUPS},
    # Attempts to fool the verdict: they change nothing, the wrong function still loses.
    "patched_allclose": {"overrides": cell_fn(
        "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.testing.assert_close = lambda *a, **k: None\n"
        "torch.equal = lambda *a, **k: True\nreturn x.new_zeros(x.shape[0], W_ih.shape[0])"),
        "lose": ("rnn_cell_forward_values",)},
    "always_equal_subclass": {"overrides": cell_fn(
        "class Liar(torch.Tensor):\n    def __eq__(self, other):\n        return True\n"
        "return x.new_zeros(x.shape[0], W_ih.shape[0]).as_subclass(Liar)"), "lose": CELL_GROUPS},
    "prints_fake_pass": {"added": [(CELL, "print('{\"score\": 12, \"tests\": []}')\nprint('All checks passed')")],
                         "overrides": cell_fn("return h_prev"), "lose": ("rnn_cell_forward_values",)},
    # Attempts to read or write what a probe must not reach: the function only works if the attempt succeeds.
    "reads_solutions": {"overrides": correct_cell_then(
        "open(SOLUTIONS_FILE).read()"), "lose": CELL_GROUPS},
    "writes_other_results": {"overrides": correct_cell_then(
        "open(OTHER_RESULTS, 'w').write('{\"score\": 0}')"), "lose": CELL_GROUPS},
    "reaches_network": {"overrides": correct_cell_then(
        "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1).close()"), "lose": CELL_GROUPS},
    "floods_output": {"added": [(CELL, "import sys\nfor _ in range(64):\n    sys.stdout.write('x' * (1 << 20))")],
                      "expect": FULL},
    "fills_the_disk": {"added": [(CELL, "with open('big.bin', 'wb') as f:\n    f.write(b'x' * (100 << 20))")],
                       "expect": FULL},
}
CONTROLS = ["control_a", "control_b", "control_c"]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict]]:
    base = tmp_path_factory.mktemp("hostile")
    submitted, out = base / "submitted", base / "out"
    secret = base / "secret.txt"
    secret.write_text(SECRET)
    paths = {"SOLUTIONS_FILE": str(secret), "OTHER_RESULTS": str(out / "control_a" / A / "results.json")}
    for name, spec in HOSTILE.items():
        overrides = {}
        for gid, source in spec.get("overrides", {}).items():
            for placeholder, path in paths.items():
                source = source.replace(placeholder, repr(path))
            overrides[gid] = source
        nb = samples.make_notebook(A, overrides, spec.get("added"))
        samples.write_notebook(nb, submitted / name / A / f"{A}.ipynb")
    for name in CONTROLS:
        samples.write_notebook(samples.make_notebook(A), submitted / name / A / f"{A}.ipynb")
    limits = Limits(call_seconds=5, cell_seconds=15, submission_seconds=90, memory_bytes=1024**3)
    # The secret file stands for solutions/: it is hidden from probes like the real folder.
    original = grading.hidden_paths
    grading.hidden_paths = lambda extra: original([*extra, base])
    try:
        grading.grade_batch(submitted, A, out, workers=2, progress=False, limits=limits)
    finally:
        grading.hidden_paths = original
    results = {p.parent.parent.name: json.loads(p.read_text()) for p in out.glob(f"*/{A}/results.json")}
    return out, results


def test_every_submission_has_a_result(graded):
    _, results = graded
    assert set(results) == set(HOSTILE) | set(CONTROLS)


@pytest.mark.parametrize("name", CONTROLS)
def test_controls_graded_beside_hostile_submissions_keep_full_marks(graded, name):
    _, results = graded
    assert results[name]["score"] == pytest.approx(FULL)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_submission_costs_only_its_own_points(graded, name):
    _, results = graded
    spec, result = HOSTILE[name], results[name]
    if "expect" in spec:
        assert result["score"] == pytest.approx(spec["expect"]), result["output"]
    else:
        scores = group_scores(result)
        for gid in spec["lose"]:
            assert scores[gid] < 1.0, f"{gid} kept {scores[gid]} points"
        for gid in UNTOUCHED:
            full = sum(t["max_score"] for t in result["tests"] if t["extra_data"]["check_group"] == gid)
            assert scores[gid] == pytest.approx(full), f"{gid} lost points"


def test_a_cell_that_kills_the_process_is_named_in_the_output(graded):
    _, results = graded
    assert "skipped" in results["exit_in_cell"]["output"]
    assert "SIGSEGV" in results["segfault_in_cell"]["output"]


def test_a_cell_past_its_limit_is_interrupted_and_keeps_what_it_defined(graded):
    _, results = graded
    for name in ("hang_after_the_function", "sleep_after_the_function"):
        output = results[name]["output"]
        assert "ran past the 15 s limit and was interrupted; what it defined before that is kept" in output, output
        assert "skipped" not in output
    # the cell that swallowed every interrupt was ended from outside, skipped, and the notebook run without it
    output = results["swallows_the_interrupt"]["output"]
    assert "ran past the 15 s limit and was stopped; the cell was skipped" in output, output


def test_a_write_past_the_file_size_cap_fails_in_its_cell_without_ending_the_process(graded):
    _, results = graded
    output = results["fills_the_disk"]["output"]
    assert "File too large" in output and "skipped" not in output, output[-2000:]


def test_a_crash_inside_a_function_is_reported_on_its_checks(graded):
    _, results = graded
    text = "\n".join(t["output"] for t in results["segfault_in_function"]["tests"])
    assert "SIGSEGV" in text
    text = "\n".join(t["output"] for t in results["sigterm_ignored_and_hang"]["tests"])
    assert "limit" in text


def test_memory_and_size_limits_are_reported(graded):
    _, results = graded
    hog = "\n".join(t["output"] for t in results["memory_hog"]["tests"])
    assert "memory" in hog
    huge = "\n".join(t["output"] for t in results["huge_return_value"]["tests"])
    assert "cap" in huge or "memory" in huge


def test_flooded_output_is_capped(graded):
    _, results = graded
    captured = results["floods_output"]["extra_data"]["captured_output"]
    assert len(captured) < 2 * 1024 * 1024
    assert "dropped" in captured


def test_results_of_others_are_not_overwritten(graded):
    out, _ = graded
    control = json.loads((out / "control_a" / A / "results.json").read_text())
    assert control["score"] == pytest.approx(FULL)


def test_isolation_in_force_is_recorded(graded):
    _, results = graded
    isolation = results["control_a"]["extra_data"]["isolation"]
    assert isolation
    if "namespaces" in isolation and "no namespaces" not in isolation:
        text = "\n".join(t["output"] for t in results["reads_solutions"]["tests"])
        assert "No such file" in text or "Permission denied" in text or "ermission" in text


def test_no_process_is_left_behind(graded):
    import os
    import re

    from autograder.judge.runner import _pids_of_uid

    if os.geteuid() != 0:
        pytest.skip("probes run under the grader's own uid here")
    _, results = graded
    # The uids this batch's probes ran as (other graders on the machine hold others).
    uids = {int(m) for r in results.values() for m in re.findall(r"uid (\d+)", r["extra_data"]["isolation"])}
    assert uids
    assert not [pid for uid in uids for pid in _pids_of_uid(uid)]


def test_the_memory_watch_counts_what_a_process_allocates_not_the_libraries_it_maps():
    from autograder.judge.runner import _memory_of

    with open("/proc/self/statm") as handle:
        resident = int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    before = _memory_of(os.getpid())
    assert 0 < before < resident, "torch's mapped libraries are not the process's own memory"
    block = torch.ones(64 * 1024**2 // 8, dtype=torch.float64)  # 64 MiB, written
    grown = _memory_of(os.getpid()) - before
    del block
    assert 60 * 1024**2 <= grown <= 80 * 1024**2, grown
