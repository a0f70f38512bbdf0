"""The zygote: a warm process that holds torch and the probe-side code, and forks one probe a submission.

It is started by the judge as its own program, never forked from it, so a probe's memory holds
nothing but public code: no references, no solutions, no hidden checks. It imports what a probe
needs once (torch, matplotlib's font cache, IPython's transformer) and runs torch single-threaded,
since a child of a process that ran a multi-threaded op hangs in its first parallel op.

Control messages travel on a SOCK_SEQPACKET socket as JSON; each fork request carries two file
descriptors (the probe's protocol socket and the write end of its output pipe).
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys

# Any availability question torch asks in this process uses NVML, which leaves CUDA uninitialised here
# (see warm_up): probes are forked from this process and initialise CUDA themselves.
os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

from autograder.probe import sandbox, serve  # noqa: E402 - after the thread setting, on purpose


def warm_up() -> None:
    """Run what a graded notebook will run, so lazy imports and first-call costs are paid once here."""
    sandbox.prepare_plotting()
    import torch.nn.functional  # noqa: F401

    x = torch.randn(3, 2, 4, dtype=torch.float64)
    torch.nn.RNN(4, 5, 2).double()(x)
    torch.nn.LSTM(4, 5).double()(x)
    torch.nn.GRU(4, 5).double()(x)
    # Each op's first use on the meta device imports its meta kernels (over a second for tanh).
    for device in ("cpu", "meta"):
        t = torch.ones(2, 3, dtype=torch.float64, device=device)
        (t @ t.T).tanh().relu().sigmoid().exp().log().softmax(-1).log_softmax(-1)
        torch.stack([t, t]).sum(0).mean().sqrt()
        torch.cat([t, t], 1).chunk(2, 1)[0].clamp(min=0).mul(t).sub(t).div(t.add(1)).abs().max()
        torch.einsum("ij,kj->ik", t, t).transpose(0, 1).contiguous().reshape(-1)
        torch.nn.functional.linear(t, t, t[:, 0])
        torch.where(t > 0, t, t.new_zeros(t.shape)).norm()
    torch.nn.functional.cross_entropy(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
    # Recipes run the student's training and backward passes: pay autograd's and the optimizers' first use here.
    import autograder.models as models
    import autograder.probe.recipes  # noqa: F401

    model = models.CharLM(5, 3, 4)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    # Adam's step asks whether an accelerator is available; on a CUDA build that initialises CUDA here and
    # every forked probe then fails with "Cannot re-initialize CUDA in forked subprocess". The question
    # is about graph capture, which a CPU warm-up never does: skip it for this optimizer only.
    optimizer._accelerator_graph_capture_health_check = _no_graph_capture
    optimizer._cuda_graph_capture_health_check = _no_graph_capture  # its older name
    logits, _ = model(torch.zeros(2, 1, dtype=torch.long))
    logits.sum().backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    torch.optim.SGD(model.parameters(), lr=0.1).step()


def _no_graph_capture() -> None:
    return None


def _child(control: socket.socket, proto_fd: int, out_fd: int, spec: dict) -> None:
    code = 0
    try:
        control.close()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.closerange(3, proto_fd)
        os.closerange(proto_fd + 1, 65536)
        proto = socket.socket(fileno=proto_fd)
        inbox = proto.makefile("rb")
        outbox = proto.makefile("wb")
        isolation = sandbox.enter(sandbox.SandboxSpec(**spec))
        serve.reply(outbox, {"op": "hello", "isolation": isolation, "pid": os.getpid()})
        serve.serve(inbox, outbox)
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the child must not return to the loop
        print(f"probe failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        code = 70
    finally:
        try:
            sys.stdout.flush()
        finally:
            os._exit(code)


def _reap(control: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        control.send(json.dumps({"exit": pid, "code": os.waitstatus_to_exitcode(status)}).encode())


def fork_on_request(control: socket.socket) -> None:
    """Fork a probe for each request on the control socket (two descriptors: its inbox and outbox)."""
    control.send(json.dumps({"ready": os.getpid()}).encode())
    while True:
        readable, _, _ = select.select([control], [], [], 0.02)
        _reap(control)
        if not readable:
            continue
        data, fds, _, _ = socket.recv_fds(control, 65536, 2)
        if not data:
            return
        request = json.loads(data)
        if len(fds) != 2:
            for fd in fds:
                os.close(fd)
            control.send(json.dumps({"id": request.get("id"), "error": "expected two descriptors"}).encode())
            continue
        pid = os.fork()
        if pid == 0:
            _child(control, fds[0], fds[1], request["spec"])
        for fd in fds:
            os.close(fd)
        control.send(json.dumps({"id": request["id"], "pid": pid}).encode())


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    warm_up()
    fork_on_request(control)


if __name__ == "__main__":
    main()
