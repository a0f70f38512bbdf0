"""Checks on a CUDA device: the same cases with inputs on the GPU, outputs required to stay there.

The first tests run everywhere (the twin cases are built and judged with CUDA simulated); the ones
marked `gpu` run the student's code on a real CUDA device and are skipped without one
(benchmarks/gpu_selftest.sh runs them on a GPU machine).
"""

from __future__ import annotations

import pytest
import torch
from conftest import edit_cell, grade_in_process, solution_namespace

from autograder import checks, evaluate
from autograder.checks.base import Outcome

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


# ---------------------------------------------------------------- on a real CUDA device

@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("assignment", ["01_rnn", "02_lstm", "03_gru"])
def test_reference_solutions_keep_full_marks_with_the_cuda_cases(assignment):
    namespace = solution_namespace(assignment)
    for group_id in checks.groups(assignment):
        result = grade_in_process(group_id, namespace)
        assert result.score == result.points, [(c.name, c.message) for c in result.cases if not c.passed]


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
