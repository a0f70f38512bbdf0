"""The probe's trace of a stub call: which of the watched torch functions, aten operators and autograd
hooks it ran. Public, probe-side code: the judge sends the names to watch with each call (a stub's
forbidden calls, see autograder.judge.byhand) and reads the names seen in the reply.

Three watchers, entered only for a call that has something to watch:
- a TorchFunctionMode sees the torch functions and Tensor methods the student's code calls (torch.lstm_cell,
  F.embedding, Tensor.backward, torch.autograd.grad), matched by identity, so any alias is the same object;
- a TorchDispatchMode sees the aten operators below them (aten::embedding, fused cells on CUDA), entered
  only when the watch names one;
- saved-tensor hooks are autograd's own: packing a tensor means a graph is being built (something requires
  grad), unpacking one means a backward pass ran — however the engine was reached.
A student owns this process, so the trace can be defeated; the judge's reading of the source does not
depend on it. The modes are context managers: they exit when the call raises too.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

AUTOGRAD_BACKWARD = "autograd:backward"  # the same names as autograder.judge.byhand's
AUTOGRAD_GRAPH = "autograd:graph"
MAX_NAMES = 16

_current: list[str] = []  # the stub whose code is running (recipes.call pushes the stub it calls)


@contextlib.contextmanager
def within(stub: str) -> Iterator[None]:
    """Mark the code run inside as `stub`'s, so a recipe's calls of other stubs are not counted against it."""
    _current.append(stub)
    try:
        yield
    finally:
        _current.pop()


def _resolve(name: str) -> Any:
    parts = name.split(".")
    if parts[0] != "torch":
        return None
    value: Any = torch
    try:
        for part in parts[1:]:
            module = sys.modules.get(f"{value.__name__}.{part}") if isinstance(value, type(torch)) else None
            value = module if module is not None else getattr(value, part)
    except Exception:  # noqa: BLE001 - a name this torch does not have is not watched
        return None
    return value


class _Seen:
    def __init__(self, stub: str, scoped: bool) -> None:
        self.stub, self.scoped = stub, scoped
        self.names: list[str] = []

    def add(self, name: str) -> None:
        if name not in self.names and len(self.names) < MAX_NAMES and (not self.scoped or
                                                                        (_current and _current[-1] == self.stub)):
            self.names.append(name)


class _Functions(TorchFunctionMode):
    def __init__(self, table: dict, seen: _Seen) -> None:
        super().__init__()
        self.table, self.seen = table, seen

    def __torch_function__(self, func, types, args=(), kwargs=None):
        try:
            name = self.table.get(func)
        except TypeError:
            name = None
        if name is not None:
            self.seen.add(name)
        return func(*args, **(kwargs or {}))


class _Operators(TorchDispatchMode):
    def __init__(self, ops: set[str], seen: _Seen) -> None:
        super().__init__()
        self.ops, self.seen = ops, seen

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket._qualified_op_name
        if name in self.ops:
            self.seen.add(name)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def watching(watch: Sequence[str] | None, stub: str, scoped: bool = False) -> Iterator[list[str]]:
    """Run the body under the watchers for `watch`; yields the list of names seen (filled as they are).

    `scoped`: count only what runs inside `within(stub)` (a recipe, which also calls other stubs)."""
    names = [n for n in (watch or []) if isinstance(n, str)]
    seen = _Seen(stub, scoped)
    if not names:
        yield seen.names
        return
    table = {}
    for name in names:
        obj = _resolve(name)
        if obj is not None:
            with contextlib.suppress(TypeError):
                table[obj] = name
    ops = {n for n in names if n.startswith("aten::")}
    with contextlib.ExitStack() as stack:
        if AUTOGRAD_BACKWARD in names or AUTOGRAD_GRAPH in names:
            def pack(tensor):
                seen.add(AUTOGRAD_GRAPH)
                return tensor

            def unpack(tensor):
                seen.add(AUTOGRAD_BACKWARD)
                return tensor

            stack.enter_context(torch.autograd.graph.saved_tensors_hooks(pack, unpack))
        if table:
            stack.enter_context(_Functions(table, seen))
        if ops:
            stack.enter_context(_Operators(ops, seen))
        yield seen.names
