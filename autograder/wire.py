"""The wire format between the judge and a probe: framed JSON plus raw tensor bytes.

Nothing here can execute code when decoding: a message is a JSON header that describes a tree
of plain values (None, bools, numbers, strings, lists, tuples, string-keyed dicts, tensors) and
the raw bytes of each tensor. Unknown types travel as a description ("a Foo object"), so the judge
can say what a function returned without ever rebuilding the object.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any, BinaryIO

import torch

# The two messages the contract is about: what the judge asks a probe to run, and what came back.

@dataclass
class Call:
    """A call of one student function, as data the probe can carry out."""

    stub: str
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    device: str = "cpu"
    return_args: bool = False
    noncontiguous: bool = False  # the probe hands over every 2-D+ tensor as a transposed view
    recipe: str | None = None  # "module.function" in autograder.probe.recipes: a probe-side script instead of one call
    watch: tuple[str, ...] = ()  # names the probe's trace watches for (the stub's forbidden calls: judge.byhand)

    def to_wire(self) -> dict:
        wire = {"stub": self.stub, "args": list(self.args), "kwargs": dict(self.kwargs),
                "device": self.device, "return_args": self.return_args, "noncontiguous": self.noncontiguous}
        if self.recipe:
            wire["recipe"] = self.recipe
        if self.watch:
            wire["watch"] = list(self.watch)
        return wire


@dataclass
class Outcome:
    """What came back from one call."""

    # ok | raised | missing | invalid | device | unsendable | timeout | crashed | memory | not_run, and from the judge:
    # bad_reply (the process sent an invalid reply) | broken (the notebook broke the probe's input preparation)
    status: str
    value: Any = None
    args: list | None = None
    kwargs: dict | None = None
    exception: str | None = None
    message: str = ""
    traceback: str = ""
    stub: str | None = None  # for a recipe: the stub that raised, when it was not the case's own
    ops: tuple[str, ...] = ()  # the watched names the probe's trace saw during the call (autograder.judge.byhand)


MAX_FRAME_BYTES = 64 * 1024 * 1024
MAX_ITEMS = 10_000
MAX_DEPTH = 16
MAX_STR = 100_000
_HEADER = struct.Struct("<II")  # JSON length, number of blobs

_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "complex64": torch.complex64,
    "complex128": torch.complex128,
    "uint8": torch.uint8,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "bool": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in _DTYPES.items()}


class WireError(Exception):
    """A message that cannot be read: truncated, oversized or malformed."""


class Opaque:
    """A value the probe could not send as data; only its description crossed the pipe."""

    def __init__(self, description: str) -> None:
        self.description = description

    def __repr__(self) -> str:
        return f"<{self.description}>"


class TensorInfo:
    """A tensor whose values did not cross the pipe (a meta tensor, or one over the byte cap)."""

    def __init__(self, shape: tuple[int, ...], dtype: str, device: str, reason: str) -> None:
        self.shape = shape
        self.dtype = dtype
        self.device = device
        self.reason = reason

    def __repr__(self) -> str:
        return f"<tensor of shape {self.shape}, {self.dtype} on {self.device}: {self.reason}>"


def describe_type(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__name__


class _Encoder:
    def __init__(self, byte_cap: int) -> None:
        self.blobs: list[bytes] = []
        self.byte_cap = byte_cap
        self.total = 0

    def tensor(self, t: torch.Tensor) -> dict:
        if type(t) not in (torch.Tensor, torch.nn.Parameter):
            return {"t": "opaque", "d": f"a tensor subclass ({describe_type(t)}), which is not accepted"}
        node = {
            "t": "tensor",
            "shape": list(t.shape),
            "dtype": DTYPE_NAMES.get(t.dtype, str(t.dtype)),
            "device": str(t.device),
        }
        if t.dtype not in DTYPE_NAMES:
            node["reason"] = f"unsupported dtype {t.dtype}"
            return node
        if t.device.type == "meta":
            node["reason"] = "meta tensor (no values)"
            return node
        if t.is_sparse or t.layout != torch.strided:
            node["reason"] = f"layout {t.layout} is not supported"
            return node
        nbytes = t.numel() * t.element_size()
        if self.total + nbytes > self.byte_cap:
            node["reason"] = f"{nbytes} bytes is over the {self.byte_cap}-byte cap"
            return node
        data = t.detach().to("cpu").clone(memory_format=torch.contiguous_format)
        raw = data.reshape(-1).view(torch.uint8) if data.numel() else data  # a 0-dim tensor cannot be viewed as bytes
        self.blobs.append(raw.numpy().tobytes() if data.numel() else b"")
        self.total += nbytes
        node["blob"] = len(self.blobs) - 1
        return node

    def value(self, v: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            return {"t": "opaque", "d": "a structure nested too deeply"}
        if v is None:
            return {"t": "none"}
        if isinstance(v, torch.Tensor):
            return self.tensor(v)
        kind = type(v)
        if kind is bool:
            return {"t": "bool", "v": v}
        if kind is int:
            if abs(v) > 2**63:
                return {"t": "opaque", "d": "an integer too large to send"}
            return {"t": "int", "v": v}
        if kind is float:
            return {"t": "float", "v": repr(v)}
        if kind is str:
            if len(v) > MAX_STR:
                return {"t": "str", "v": v[:MAX_STR], "truncated": len(v)}
            return {"t": "str", "v": v}
        if kind in (list, tuple, torch.Size):
            name = "list" if kind is list else "tuple"  # torch.Size is a tuple of ints
            if len(v) > MAX_ITEMS:
                return {"t": "opaque", "d": f"a {name} of {len(v)} items (more than {MAX_ITEMS})"}
            return {"t": name, "items": [self.value(x, depth + 1) for x in v]}
        if kind is dict:
            if len(v) > MAX_ITEMS or not all(type(k) is str for k in v):
                return {"t": "opaque", "d": "a dict with non-string keys or too many items"}
            return {"t": "dict", "items": [[k, self.value(x, depth + 1)] for k, x in v.items()]}
        return {"t": "opaque", "d": f"a {describe_type(v)} object"}


def encode(message: dict, payload: Any = None, byte_cap: int = MAX_FRAME_BYTES // 2) -> bytes:
    """One frame: a JSON header (with the encoded payload under "value") and the tensors' bytes."""
    enc = _Encoder(byte_cap)
    header = dict(message)
    if payload is not None or "value" not in header:
        header["value"] = enc.value(payload)
    head = json.dumps(header, allow_nan=False).encode()
    parts = [_HEADER.pack(len(head), len(enc.blobs)), head]
    for blob in enc.blobs:
        parts.append(struct.pack("<Q", len(blob)))
        parts.append(blob)
    body = b"".join(parts)
    return struct.pack("<Q", len(body)) + body


MAX_NODES = 1_000_000  # values in one message; a frame under the byte cap holds fewer when honestly encoded
MAX_DIMS = 64  # torch's own limit on a tensor's dimensions
MAX_HEADER_BYTES = 8 * 1024 * 1024  # a reply's JSON (tensors travel as raw bytes beside it)


class _Decoder:
    """Rebuilds a value from its description, trusting nothing in it.

    A message can come from a submission that took over the probe, so every field is checked for its type
    and range before use, each tensor's bytes are used once (a blob shared by many tensors would multiply
    the judge's memory) and their size must match the shape before anything is allocated."""

    def __init__(self, blobs: list[bytes]) -> None:
        self.blobs = blobs
        self.used: set[int] = set()
        self.nodes = 0

    def value(self, node: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise WireError(f"a message of more than {MAX_NODES} values")
        if depth > MAX_DEPTH + 2 or not isinstance(node, dict):
            raise WireError("malformed value")
        kind = node.get("t")
        if kind == "none":
            return None
        if kind == "bool":
            return _typed(node.get("v"), bool, "bool")
        if kind == "int":
            number = _typed(node.get("v"), int, "int")
            if abs(number) > 2**63:
                raise WireError("an int out of range")
            return number
        if kind == "float":
            text = node.get("v")
            if not isinstance(text, str) or len(text) > 40:
                raise WireError("malformed float")
            return float(text)
        if kind == "str":
            text = _typed(node.get("v"), str, "str")
            if len(text) > MAX_STR:
                raise WireError(f"a string of more than {MAX_STR} characters")
            return text
        if kind in ("list", "tuple", "dict"):
            items = node.get("items")
            if not isinstance(items, list) or len(items) > MAX_ITEMS:
                raise WireError(f"malformed {kind}")
            if kind != "dict":
                decoded = [self.value(x, depth + 1) for x in items]
                return decoded if kind == "list" else tuple(decoded)
            if not all(isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str) for pair in items):
                raise WireError("malformed dict")
            return {k: self.value(x, depth + 1) for k, x in items}
        if kind == "opaque":
            return Opaque(_short(node.get("d", "an unknown object")))
        if kind == "tensor":
            return self.tensor(node)
        raise WireError(f"unknown value type {_short(kind)!r}")

    def tensor(self, node: dict) -> Any:
        shape = node.get("shape")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(type(s) is int and 0 <= s < 2**63 for s in shape)):
            raise WireError("malformed tensor shape")
        dtype_name, device = node.get("dtype"), node.get("device")
        if not isinstance(dtype_name, str) or not isinstance(device, str) or len(dtype_name) + len(device) > 200:
            raise WireError("malformed tensor dtype or device")
        if "blob" not in node:
            return TensorInfo(tuple(shape), dtype_name, device, _short(node.get("reason", "")))
        dtype = _DTYPES.get(dtype_name)
        if dtype is None:
            raise WireError(f"unknown dtype {dtype_name!r}")
        index = node["blob"]
        if type(index) is not int or not 0 <= index < len(self.blobs) or index in self.used:
            raise WireError("a tensor without bytes of its own")
        self.used.add(index)
        blob = self.blobs[index]
        numel = math.prod(shape)
        if numel * torch.empty((), dtype=dtype).element_size() != len(blob):
            raise WireError("tensor bytes do not match its shape")
        if numel == 0:
            t = torch.empty(shape, dtype=dtype)
        else:
            t = torch.frombuffer(bytearray(blob), dtype=torch.uint8).view(dtype).reshape(shape)
        t.wire_device = device  # where the probe's tensor lived
        return t


def _typed(value: Any, kind: type, name: str) -> Any:
    if type(value) is not kind:
        raise WireError(f"malformed {name}")
    return value


def _short(text: Any, limit: int = 1000) -> str:
    """A description from the message, as a string of bounded length."""
    text = text if isinstance(text, str) else repr(type(text))
    return text if len(text) <= limit else text[:limit] + "…"


def decode(body: bytes, header_limit: int | None = None) -> tuple[dict, Any]:
    """Parse one frame body (without its length prefix) into (header, decoded value).

    Anything malformed is a WireError, never another exception; `header_limit` caps the JSON part (the
    judge's replies are small, a job's cells are not)."""
    try:
        json_len, n_blobs = _HEADER.unpack_from(body, 0)
        pos = _HEADER.size
        if pos + json_len > len(body) or (header_limit is not None and json_len > header_limit):
            raise WireError(f"a message header of {json_len} bytes is too large or truncated")
        if n_blobs > MAX_ITEMS:
            raise WireError(f"a message of {n_blobs} tensors")
        header = json.loads(body[pos : pos + json_len])
        pos += json_len
        blobs = []
        for _ in range(n_blobs):
            (size,) = struct.unpack_from("<Q", body, pos)
            pos += 8
            if pos + size > len(body):
                raise WireError("truncated tensor bytes")
            blobs.append(body[pos : pos + size])
            pos += size
        if not isinstance(header, dict):
            raise WireError("header is not an object")
        return header, _Decoder(blobs).value(header.get("value", {"t": "none"}))
    except WireError:
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a hostile message trips, it is unreadable
        raise WireError(f"unreadable message ({type(exc).__name__})") from exc


def read_frame(stream: BinaryIO, limit: int = MAX_FRAME_BYTES) -> bytes | None:
    """The next frame's body, or None at a clean end of stream."""
    prefix = _read_exact(stream, 8)
    if prefix is None:
        return None
    (size,) = struct.unpack("<Q", prefix)
    if size > limit:
        raise WireError(f"a reply of {size} bytes is over the {limit}-byte limit")
    body = _read_exact(stream, size)
    if body is None:
        raise WireError("the stream ended inside a message")
    return body


def _read_exact(stream: BinaryIO, size: int) -> bytes | None:
    chunks = []
    remaining = size
    while remaining:
        chunk = stream.read(remaining)
        if not chunk:
            return None
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)
