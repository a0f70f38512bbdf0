"""Checks on a CUDA device: the same cases with inputs on the GPU, outputs required to stay there.

The first tests run everywhere (the twin cases are built and judged with CUDA simulated); the ones
marked `gpu` run the student's code on a real CUDA device and are skipped without one
(benchmarks/gpu_selftest.sh runs them on a GPU machine).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, edit_cell, grade_in_process, solution_namespace

from autograder import checks
from autograder.checks.base import Outcome
from autograder.course import hidden_paths, source_notebook
from autograder.judge import evaluate, grading
from autograder.judge.runner import make_launcher

A = "01_rnn"
# Built at import, so a CPU-only run still fails if the reference no longer has the edited lines.
CPU_STATE = edit_cell(A, "rnn_forward", ("h_0 = x.new_zeros(len(layers), batch, hidden_size)",
                                         "h_0 = torch.zeros(len(layers), batch, hidden_size, dtype=x.dtype)"))
GREEDY = edit_cell(A, "rnn_cell_forward", (
    "    pre_activation = x @ W_ih.T",
    "    if x.is_cuda and x.shape[0] == 3:\n"
    "        torch.empty(2**45, dtype=torch.uint8, device=x.device)  # 32 TiB: out of memory\n"
    "    pre_activation = x @ W_ih.T"))
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture
def simulated_cuda(monkeypatch):
    monkeypatch.setattr(evaluate, "cuda_available", lambda: True)


def test_tensor_only_stubs_get_cuda_twins_of_their_meta_cases_and_one_value_case(simulated_cuda):
    group = checks.groups(A)["rnn_cell_forward_shape"]
    planned = evaluate.plan(A, group, include_hidden=True)
    twins = [p for p in planned if p.case.name.endswith("[cuda]")]
    metas = [p for p in planned if p.case.call.device == "meta"]
    assert metas and len(twins) == len(metas) + 1
    assert all(p.case.call.device == "cuda" for p in twins)
    values = evaluate.plan(A, checks.groups(A)["rnn_cell_forward_values"], include_hidden=False)
    assert sum(p.case.name.endswith("[cuda]") for p in values) == 1


def test_stubs_that_need_values_get_no_cuda_cases(simulated_cuda):
    planned = evaluate.plan(A, checks.groups(A)["count_rnn_params"], include_hidden=True)
    assert not [p for p in planned if p.case.call.device == "cuda"]


def test_no_cuda_cases_without_a_device_or_when_told_not_to(monkeypatch):
    monkeypatch.setenv("AUTOGRADER_DEVICE", "cpu")
    assert not evaluate.cuda_available()
    planned = evaluate.plan(A, checks.groups(A)["rnn_cell_forward_shape"], include_hidden=True)
    assert not [p for p in planned if p.case.call.device == "cuda"]


def _result(shape, device: str) -> torch.Tensor:
    t = torch.zeros(shape, dtype=torch.float64)
    t.wire_device = device
    return t


def test_a_cuda_twin_requires_the_output_on_cuda_then_applies_the_original_verdict(simulated_cuda):
    planned = evaluate.plan(A, checks.groups(A)["rnn_cell_forward_shape"], include_hidden=False)
    twin = next(p.case for p in planned if p.case.name == "meta device [cuda]")
    x, W_ih = twin.call.args[0], twin.call.args[2]
    shape = (x.shape[0], W_ih.shape[0])
    assert twin.verdict(Outcome("ok", value=_result(shape, "cuda:0"))) is None
    moved = twin.verdict(Outcome("ok", value=_result(shape, "cpu")))
    assert "on the cpu device; expected cuda" in moved and "new_zeros" in moved
    wrong_shape = twin.verdict(Outcome("ok", value=_result((shape[1], shape[0]), "cuda:0")))
    assert wrong_shape and "shape" in wrong_shape
    raised = twin.verdict(Outcome("raised", exception="OutOfMemoryError", message="OutOfMemoryError: CUDA out of"))
    assert "OutOfMemoryError" in raised


# A CUDA build of torch, as far as the warm-up can tell: the accelerator it was built for is CUDA, and every
# question that would initialise CUDA (and so poison the probes forked from the zygote) is recorded.
CUDA_BUILD_WARM_UP = """
import sys, traceback
import torch, torch._dynamo, torch._inductor  # imported as the CPU build they are

asked = []
def recorder(name, answer):
    def record(*args, **kwargs):
        asked.append(name + " from " + traceback.format_stack(limit=4)[0].strip().splitlines()[0])
        return answer
    return record

torch._C._accelerator_getAccelerator = lambda: torch.device("cuda")  # what a CUDA wheel was built for
for name, answer in [("is_available", False), ("device_count", 0), ("init", None), ("_lazy_init", None),
                     ("current_device", 0), ("current_stream", None), ("synchronize", None)]:
    setattr(torch.cuda, name, recorder("torch.cuda." + name, answer))
torch._C._cuda_getDeviceCount = recorder("cudaGetDeviceCount", 0)
from autograder.probe import zygote  # what the zygote imports, then what it runs
zygote.warm_up()
print("\\n".join(asked))
sys.exit(1 if asked else 0)
"""


def test_the_zygote_warm_up_never_asks_cuda_anything_on_a_cuda_build(tmp_path):
    """A zygote that initialised CUDA (even by asking whether it is there) leaves every probe it forks
    unable to use it. Adam's step asks; the warm-up must not let it."""
    script = tmp_path / "warm_up.py"
    script.write_text(CUDA_BUILD_WARM_UP)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, f"the warm-up asked CUDA:\n{done.stdout}{done.stderr[-2000:]}"


@pytest.mark.slow
def test_a_device_the_probe_cannot_use_is_a_grader_error_and_the_cpu_cases_keep_their_points(simulated_cuda,
                                                                                          monkeypatch):
    """On a machine whose probes cannot use CUDA (here they see no device), the CUDA cases are reported as
    not graded, the submission is flagged as a grader error, and every other case is graded as usual."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # inherited by the zygote, so by every probe
    plan = grading.plan_assignment(A, include_hidden=False)
    assert any(c.device == "cuda" for c in plan.calls)
    launcher = make_launcher(hidden_paths([]), plan.limits)
    try:
        result = grading.grade_notebook(plan, source_notebook(A), launcher)
    finally:
        launcher.close()
    assert result.grader_error and "AUTOGRADER_DEVICE=cpu" in result.error, result.error
    assert "could not use the cuda device" in result.error
    cases = [c for g in result.groups for c in g.cases]
    cuda = [c for c in cases if c.name.endswith("[cuda]")]
    assert cuda and not any(c.passed for c in cuda)
    assert all("could not use the cuda device" in c.message for c in cuda)
    assert all(c.passed for c in cases if not c.name.endswith("[cuda]"))


def test_a_gpu_is_recognised_by_its_device_files_or_by_torch(monkeypatch):
    """Where a GPU is, the probes get no address-space cap (CUDA reserves large ranges) but a GPU memory cap."""
    from autograder.judge import runner

    def recognised(files: set[str], available: bool) -> bool:
        monkeypatch.setattr(runner.os.path, "exists", lambda path: path in files)
        monkeypatch.setattr(torch.cuda, "is_available", lambda: available)
        runner.gpu_machine.cache_clear()
        try:
            return runner.gpu_machine()
        finally:
            monkeypatch.undo()
            runner.gpu_machine.cache_clear()

    assert recognised({"/proc/driver/nvidia"}, False) and recognised({"/dev/dxg"}, False)
    assert recognised(set(), True)  # a container without the driver's files, where torch sees the device
    assert not recognised(set(), False)


def test_a_probe_on_a_cuda_machine_caps_its_gpu_memory_when_cuda_starts(monkeypatch):
    from autograder.probe import sandbox

    queued, fractions = [], []
    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "_lazy_call", queued.append)
    assert sandbox.cap_gpu_memory(2 * 1024**3) and len(queued) == 1  # queued, CUDA not started
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda d: type("P", (), {"total_memory": 8 * 1024**3}))
    monkeypatch.setattr(torch.cuda, "set_per_process_memory_fraction", lambda f, d: fractions.append((f, d)))
    queued[0]()  # what torch does on its first CUDA use
    assert fractions == [(0.25, 0), (0.25, 1)]


# ---------------------------------------------------------------- on a real CUDA device

@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("assignment", ["01_rnn", "02_lstm", "03_gru"])
def test_reference_solutions_keep_full_marks_with_the_cuda_cases(assignment):
    namespace = solution_namespace(assignment)
    for group_id in checks.groups(assignment):
        result = grade_in_process(group_id, namespace)
        assert result.score == result.points, [(c.name, c.message) for c in result.cases if not c.passed]


@pytest.mark.slow
@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("assignment", ["01_rnn", "05_embeddings"])
def test_forked_probes_run_the_cuda_cases_of_a_reference_notebook(assignment):
    """The tests above run the checks in this process; this one goes through the zygote and its forked,
    sandboxed probes, where CUDA must be usable (see the warm-up test) and every CUDA case must pass."""
    plan = grading.plan_assignment(assignment, include_hidden=True)
    launcher = make_launcher(hidden_paths([]), plan.limits)
    try:
        result = grading.grade_notebook(plan, source_notebook(assignment), launcher)
    finally:
        launcher.close()
    assert not result.error, result.error
    cuda = [c for g in result.groups for c in g.cases if c.name.endswith("[cuda]")]
    assert cuda and all(c.passed for c in cuda), [(c.name, c.message) for c in cuda if not c.passed]
    assert result.score == result.max_score


@pytest.mark.slow
@pytest.mark.gpu
@needs_cuda
def test_a_notebook_that_fills_the_gpu_gets_an_out_of_memory_error_and_keeps_its_points(submission):
    """Probes share the GPU: one may hold no more on it than the submission's memory limit."""
    hog = "hog = torch.empty(3 * 1024**3, dtype=torch.uint8, device='cuda')  # 3 GiB, over the 2 GiB limit"
    path = submission(added=[("count_rnn_params", hog)])
    plan = grading.plan_assignment(A, include_hidden=True)
    assert plan.limits.memory_bytes < 3 * 1024**3
    launcher = make_launcher(hidden_paths([]), plan.limits)
    try:
        result = grading.grade_notebook(plan, path, launcher)
    finally:
        launcher.close()
    assert any("OutOfMemoryError" in note for note in result.notes), result.notes
    assert result.score == result.max_score and not result.error


@pytest.mark.gpu
@needs_cuda
def test_a_tensor_made_on_the_cpu_loses_exactly_the_cuda_cases():
    namespace = solution_namespace(A, CPU_STATE)
    failed = [c for g in checks.groups(A) for c in grade_in_process(g, namespace).cases if not c.passed]
    assert failed and all(c.name.endswith("[cuda]") or "meta" in c.name for c in failed), [c.name for c in failed]
    assert any("device" in (c.message or "") for c in failed)


@pytest.mark.gpu
@needs_cuda
def test_cuda_out_of_memory_fails_that_case_with_a_message_and_the_next_cases_run():
    namespace = solution_namespace(A, GREEDY)
    result = grade_in_process("rnn_cell_forward_values", namespace)
    cuda_cases = [c for c in result.cases if c.name.endswith("[cuda]")]
    assert cuda_cases and not cuda_cases[0].passed and "OutOfMemoryError" in cuda_cases[0].message
    cpu_cases = [c for c in result.cases if not c.name.endswith("[cuda]")]
    assert all(c.passed for c in cpu_cases)
    torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() < 2**30, "the failed call's memory was given back"


def _torch_settings() -> tuple:
    return (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.deterministic,
            torch.are_deterministic_algorithms_enabled(), os.environ.get("CUBLAS_WORKSPACE_CONFIG"))


def test_a_cuda_case_in_a_students_own_kernel_leaves_their_torch_settings_as_they_were(simulated_cuda,
                                                                                     monkeypatch):
    """The in-notebook check runs in the student's kernel: TF32 off and deterministic kernels hold for the
    CUDA call only, whether it returns or fails (here it fails: no CUDA on this machine or hidden from it)."""
    from autograder import inline

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    twin = next(p.case for p in evaluate.plan(A, checks.groups(A)["rnn_cell_forward_shape"], include_hidden=False)
                if p.case.name.endswith("[cuda]"))
    seen = []
    namespace = {"rnn_cell_forward": lambda *args, **kwargs: seen.append(_torch_settings())}
    student_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True  # the student's own choice
    try:
        before = _torch_settings()
        outcome = inline.run_call_in_process(namespace, twin.call)
        after = _torch_settings()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = student_tf32
    assert after == before
    # Where the device was hidden too late to matter (CUDA already started in this process) the stub ran.
    assert outcome.status == "device" or seen == [(False, False, True, True, ":4096:8")]


def test_out_of_memory_while_placing_the_inputs_fails_the_case_as_the_notebooks_doing():
    from autograder.probe import serve

    header = serve._unusable_device(torch.cuda.OutOfMemoryError("CUDA out of memory"), "cuda", "rnn_cell_forward")
    assert header["status"] == "raised" and header["exception"] == "OutOfMemoryError"
    assert "rnn_cell_forward" in header["message"] and "cells hold" in header["message"]
    other = serve._unusable_device(RuntimeError("CUDA driver initialization failed"), "cuda", "rnn_cell_forward")
    assert other["status"] == "device" and "driver initialization failed" in other["message"]
