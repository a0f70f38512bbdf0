"""The probe: the untrusted side. It runs a submission's cells, calls its functions, sends outputs.

The probe holds only public code: how to run cells, how to call a stub on the inputs it is given,
and how to frame what comes back. It never holds expected values, references or solutions, so a
submission that takes over this process can still only send values it computed itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Iterator
from typing import Any, BinaryIO

import torch

from autograder import i18n, wire
from autograder.i18n import _
from autograder.probe import execute, recipes, trace


def _prepare(value: Any, device: str, noncontiguous: bool) -> Any:
    """Inputs as the call asks for them: on `device`, and as non-contiguous views if asked."""
    if isinstance(value, torch.Tensor):
        value = value.to(device)
        if noncontiguous and value.dim() >= 2:
            value = value.transpose(0, 1).contiguous().transpose(0, 1)
        return value
    if isinstance(value, tuple):
        return tuple(_prepare(v, device, noncontiguous) for v in value)
    if isinstance(value, list):
        return [_prepare(v, device, noncontiguous) for v in value]
    if isinstance(value, dict):
        return {k: _prepare(v, device, noncontiguous) for k, v in value.items()}
    return value


@contextlib.contextmanager
def _exact_cuda() -> Iterator[None]:
    """CUDA as exact as the CPU reference allows, for one call: no TF32 in matmuls or convolutions,
    deterministic kernels. The previous settings come back afterwards, since in a notebook's own kernel
    (the in-notebook check) they are the student's. The zygote never initialises CUDA (a forked child of
    a process that did cannot use it): the probe does, in its first CUDA call."""
    cuda, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (cuda.allow_tf32, cudnn.allow_tf32, cudnn.deterministic, torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # what deterministic cuBLAS needs
    cuda.allow_tf32 = cudnn.allow_tf32 = False
    cudnn.deterministic = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        cuda.allow_tf32, cudnn.allow_tf32, cudnn.deterministic = saved[:3]
        torch.use_deterministic_algorithms(saved[3], warn_only=saved[4])
        if saved[5] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        else:
            os.environ["CUBLAS_WORKSPACE_CONFIG"] = saved[5]


def _free_cuda() -> None:
    """After a failed CUDA call (out of memory, say): give the memory back so the next check can run."""
    try:
        import gc

        gc.collect()
        torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - a broken CUDA context fails the following calls with their own message
        pass


def _unusable_device(exc: BaseException, device: str, stub: str) -> dict:
    """The reply when the inputs could not be put on `device`, before any of the student's code ran.

    Out of memory there is the notebook's doing (its cells hold the memory), so the case fails as if the
    stub had raised it. Anything else (no device, a driver or initialisation error) is the grader's fault:
    status "device" makes it a grader error, not a lost point, when a clean probe of the released notebook
    fails the same way (judge.confirm_grader_error); otherwise the notebook broke this preparation itself."""
    if device.startswith("cuda"):
        _free_cuda()
    if type(exc).__name__ == "OutOfMemoryError":
        return {"status": "raised", "exception": "OutOfMemoryError", "stub": stub, "traceback": "",
                "message": _("OutOfMemoryError before `{stub}` was called: the case's inputs did not fit on "
                             "{device}, whose memory the notebook's cells hold (free large tensors, or del them)"
                             ).format(stub=stub, device=device)}
    # The same opening as the judge's "not run: {reason}", so that it can be taken off in either language.
    reason = _("the grading process could not use the {device} device ({error})").format(
        device=device, error=execute.describe_exception(exc))
    return {"status": "device", "message": _("not run: {reason}").format(reason=reason)}


def _student_traceback(exc: BaseException) -> str:
    """The frames of the student's own code (cells), not the probe's."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith("<cell")]
    if not frames:
        return ""
    return "".join(traceback.format_list(frames[-3:]))


def _raised(exc: BaseException, stub: str | None = None) -> dict:
    header = {
        "status": "raised",
        "exception": type(exc).__name__,
        "message": execute.describe_exception(exc),
        "traceback": _student_traceback(exc),
    }
    if stub:
        header["stub"] = stub
    return header


def perform_call(namespace: dict, call: dict) -> tuple[dict, Any]:
    """Call one stub, or run the recipe it names (see autograder.probe.recipes), as `call` describes.

    Returns (header fields, payload) for the reply."""
    recipe = call.get("recipe")
    try:
        target = recipes.find(recipe) if recipe else recipes.stub(namespace, call["stub"])
    except recipes.MissingStub as exc:
        return {"status": "missing", "message": exc.message}, None
    except (LookupError, ImportError) as exc:
        return {"status": "invalid", "message": f"grader error: {exc}"}, None
    device, noncontiguous = call.get("device", "cpu"), bool(call.get("noncontiguous"))
    with _exact_cuda() if device.startswith("cuda") else contextlib.nullcontext():
        with trace.watching(call.get("watch"), call["stub"], scoped=bool(recipe)) as seen:
            fields, payload = _call_on(namespace, call, target, device, noncontiguous)
    if seen:
        fields["ops"] = list(seen)
    return fields, payload


def _call_on(namespace: dict, call: dict, target: Any, device: str, noncontiguous: bool) -> tuple[dict, Any]:
    """perform_call, from putting the inputs on `device` to what came back."""
    recipe = call.get("recipe")
    try:
        args = _prepare(list(call.get("args", [])), device, noncontiguous)
        kwargs = _prepare(dict(call.get("kwargs", {})), device, noncontiguous)
    except BaseException as exc:  # noqa: BLE001 - a device the process cannot use fails its calls, not the probe
        return _unusable_device(exc, device, call["stub"]), None
    try:
        out = target(namespace, *args, **kwargs) if recipe else target(*args, **kwargs)
    except recipes.MissingStub as exc:
        return {"status": "missing", "message": exc.message}, None
    except recipes.InvalidReturn as exc:
        return {"status": "invalid", "message": exc.message}, None
    except recipes.StubRaised as exc:
        return _raised(exc.error, exc.stub), None
    except BaseException as exc:  # noqa: BLE001 - the student's code (or an object it returned) may raise anything
        if device.startswith("cuda"):
            _free_cuda()
        # In a recipe, an exception outside the stubs' own calls comes from something the student returned.
        return _raised(exc, call["stub"] if recipe else None), None
    payload = {"out": out}
    if call.get("return_args"):
        payload["args"] = args
        payload["kwargs"] = kwargs
    return {"status": "ok"}, payload


def reply(stream: BinaryIO, header: dict, payload: Any = None) -> None:
    try:
        frame = wire.encode(header, payload)
    except BaseException as exc:  # noqa: BLE001 - a value that breaks encoding costs only its call
        frame = wire.encode({**header, "status": "unsendable", "message": execute.describe_exception(exc)})
    stream.write(frame)
    stream.flush()


def serve(inbox: BinaryIO, outbox: BinaryIO) -> None:
    """Read one job (a frame of cells, then a frame of calls), run it, and reply once per cell and per call."""
    cells_body = wire.read_frame(inbox)
    calls_body = wire.read_frame(inbox)
    if cells_body is None or calls_body is None:
        return
    cells_header, cells = wire.decode(cells_body)
    _, job = wire.decode(calls_body)
    seconds = cells_header.get("cell_seconds")
    with i18n.language(cells_header.get("lang")):  # the submission's language, for what the probe says itself
        _run_job(outbox, cells, job, seconds)


def _run_job(outbox: BinaryIO, cells: list, job: dict, seconds: float | None) -> None:
    # Set as nbgrader's autograde sets it, so a notebook's long ungraded experiments skip themselves here too.
    os.environ["NBGRADER_EXECUTION"] = "autograde"
    namespace = execute.new_namespace()
    for cell in cells:
        outcome = execute.run_cell(cell["index"], cell.get("grade_id"), cell["source"], namespace, seconds)
        sys.stdout.flush()
        reply(outbox, {"op": "cell", "index": outcome.index, "error": outcome.error, "seconds": outcome.seconds})
    reply(outbox, {"op": "cells_done"})
    for number, call in zip(job["call_numbers"], job["calls"]):
        fields, payload = perform_call(namespace, call)
        sys.stdout.flush()
        reply(outbox, {"op": "result", "call": number, **fields}, payload)
    reply(outbox, {"op": "done"})


def spawned_main() -> None:
    """Entry point where there is no zygote (macOS, Windows): protocol on stdin/stdout, output on stderr."""
    from autograder.probe import sandbox

    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    torch.set_num_threads(1)
    sandbox.prepare_plotting()
    reply(proto_out, {"op": "hello", "isolation": "a separate process", "pid": os.getpid()})
    serve(sys.stdin.buffer, proto_out)
    proto_out.flush()


if __name__ == "__main__":
    spawned_main()
