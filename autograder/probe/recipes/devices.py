"""Probe-side script: a tensor stub called with a watch on the devices its ops mix.

The meta device is lenient where CUDA is strict: `torch.eye(C)[indices]` with meta indices, or a CPU
tensor scattered into with a meta index, runs and returns a meta tensor, so a case that only looks at
the output's device passes code that fails on a GPU. The watch is a dispatch mode that sees every op the
stub runs and notes those that combine a CPU tensor with a tensor on the inputs' device, by CUDA's own
rule: all tensors of an op on one device, except 0-dim CPU tensors (scalars), CPU indices into a tensor
on the device, and copies between devices (`.to(device)` is how a tensor gets there) — but a copy into
a CPU tensor from the device is noted: it is how a buffer made without `device=` gets filled. The check sees
the notes, so a device-mixing bug is caught on any machine, with or without a GPU.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from autograder.i18n import _
from autograder.probe.recipes import StubRaised, call, recipe

_COPIES = {"aten::_to_copy", "aten::copy_", "aten::to", "aten::_copy_from", "aten::_copy_from_and_resize"}
_INDEXING = {"aten::index", "aten::index_put", "aten::index_put_", "aten::_index_put_impl_", "aten::_unsafe_index"}
MAX_NOTES = 5


class DeviceWatch(TorchDispatchMode):
    """Notes each op that mixes a non-scalar CPU tensor with a tensor on another device."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[str] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        name = func._schema.name
        if len(self.notes) < MAX_NOTES:
            if name == "aten::copy_":
                self._note_copy(args)
            elif name not in _COPIES:
                self._note(name, args, kwargs)
        return func(*args, **kwargs)

    def _note_copy(self, args: tuple) -> None:
        """A copy into a CPU tensor from another device: an assignment into a buffer made without device=."""
        target, source = args[0], args[1]
        if (isinstance(source, torch.Tensor) and target.device.type == "cpu" and target.dim() > 0
                and source.device.type != "cpu"):
            self.notes.append(_("a tensor on the {device} device was copied into a CPU tensor of shape {shape} (an "
                                "assignment into a tensor made without device=...)").format(
                device=source.device.type, shape=tuple(target.shape)))

    def _note(self, name: str, args: tuple, kwargs: dict) -> None:
        leaves = [leaf for leaf in tree_leaves((args, kwargs)) if isinstance(leaf, torch.Tensor)]
        if name in _INDEXING and leaves and leaves[0].device.type != "cpu":
            leaves = leaves[:1]  # CPU indices into a tensor on the device are allowed
        cpu = [t for t in leaves if t.device.type == "cpu" and t.dim() > 0]
        other = next((t.device.type for t in leaves if t.device.type != "cpu"), None)
        if cpu and other:
            shape = tuple(cpu[0].shape)
            if name in _INDEXING:
                note = _("indexing (t[...]) combined a CPU tensor of shape {shape} with tensors on the {device} device")
            else:
                note = _("{op} combined a CPU tensor of shape {shape} with tensors on the {device} device")
            self.notes.append(note.format(op=name.replace("aten::", "torch."), shape=shape, device=other))


@recipe
def watched(namespace: dict, stub: str, *args: Any, **kwargs: Any) -> dict:
    """The student's `stub(*args, **kwargs)` under a DeviceWatch: {"out": what it returned, "mixed": the notes}.

    Where the stub raised after mixing devices, the notes still come back (with "raised" saying what it
    raised), since the mix is the first thing that went wrong; otherwise its exception is reported as usual."""
    watch = DeviceWatch()
    try:
        with watch:
            out = call(namespace, stub, *args, **kwargs)
    except StubRaised as exc:
        if not watch.notes:
            raise
        return {"out": None, "mixed": watch.notes, "raised": f"{type(exc.error).__name__}: {exc.error}"[:300]}
    return {"out": out, "mixed": watch.notes}
