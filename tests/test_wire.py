"""The wire format: values round-trip, nothing executable crosses, malformed input is a WireError."""

from __future__ import annotations

import io
import json
import struct
import time

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import wire


def roundtrip(value):
    frame = wire.encode({"op": "result"}, value)
    body = wire.read_frame(io.BytesIO(frame))
    return wire.decode(body)[1]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64,
                                   torch.int32, torch.uint8, torch.bool, torch.complex64])
def test_tensors_round_trip_with_dtype_and_shape(dtype):
    t = (torch.arange(24).reshape(2, 3, 4) % 5).to(dtype)
    back = roundtrip(t)
    assert back.dtype == dtype and back.shape == t.shape and torch.equal(back, t)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.int64, torch.bool])
def test_zero_dim_tensors_round_trip(dtype):
    """A loss or a norm is a 0-dim tensor: it crosses as one, with its value."""
    t = torch.tensor(3.25).to(dtype)
    back = roundtrip(t)
    assert back.shape == () and back.dtype == dtype and torch.equal(back, t)


def test_non_contiguous_and_empty_tensors_round_trip():
    t = torch.randn(4, 5, dtype=torch.float64).T
    assert torch.equal(roundtrip(t), t)
    assert roundtrip(torch.empty(0, 3)).shape == (0, 3)


def test_nested_python_values_round_trip():
    value = {"a": (1, 2.5, None, True), "b": ["x", float("nan")], "size": torch.Size([2, 3])}
    back = roundtrip(value)
    assert back["a"] == (1, 2.5, None, True)
    assert back["b"][0] == "x" and back["b"][1] != back["b"][1]
    assert back["size"] == (2, 3) and isinstance(back["size"], tuple)


def test_meta_tensor_crosses_as_shape_dtype_and_device_only():
    back = roundtrip(torch.empty(2, 3, dtype=torch.float64, device="meta"))
    assert isinstance(back, wire.TensorInfo)
    assert back.shape == (2, 3) and back.dtype == "float64" and back.device == "meta"


def test_tensor_subclass_and_unknown_objects_cross_as_descriptions():
    class Liar(torch.Tensor):
        def __eq__(self, other):
            return True

    assert isinstance(roundtrip(torch.zeros(2).as_subclass(Liar)), wire.Opaque)
    assert "Foo" in roundtrip(type("Foo", (), {})()).description
    assert isinstance(roundtrip(lambda: 1), wire.Opaque)


def test_a_tensor_over_the_byte_cap_is_described_not_sent():
    frame = wire.encode({"op": "result"}, torch.zeros(1000, dtype=torch.float64), byte_cap=4000)
    back = wire.decode(wire.read_frame(io.BytesIO(frame)))[1]
    assert isinstance(back, wire.TensorInfo) and "cap" in back.reason


def test_a_frame_over_the_limit_is_refused_before_reading_it():
    frame = struct.pack("<Q", wire.MAX_FRAME_BYTES + 1) + b"x" * 10
    with pytest.raises(wire.WireError, match="limit"):
        wire.read_frame(io.BytesIO(frame))


def test_tensor_bytes_that_do_not_match_the_shape_are_refused():
    frame = bytearray(wire.encode({"op": "result"}, torch.zeros(4)))
    body = bytes(frame[8:])
    header_len, _ = struct.unpack_from("<II", body)
    tampered = body.replace(b'"shape": [4]', b'"shape": [5]')
    with pytest.raises(wire.WireError):
        wire.decode(tampered)
    assert header_len > 0


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_decode_to_a_value_or_a_wire_error(data):
    try:
        wire.decode(data)
    except wire.WireError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers(-2**62, 2**62) | st.text(max_size=20),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children,
                                                                                      max_size=4), max_leaves=20))
def test_plain_values_round_trip(value):
    assert roundtrip(value) == value


# ---------------------------------------------------------------- messages a hostile probe may send


def body_of(value: object, blobs: tuple[bytes, ...] = ()) -> bytes:
    """A frame body written by hand, as a submission that took over its probe could write it."""
    head = json.dumps({"op": "result", "value": value}).encode()
    parts = [struct.pack("<II", len(head), len(blobs)), head]
    for blob in blobs:
        parts += [struct.pack("<Q", len(blob)), blob]
    return b"".join(parts)


def tensor_node(shape: object, **extra: object) -> dict:
    return {"t": "tensor", "shape": shape, "dtype": "float64", "device": "cpu", **extra}


def test_a_tensor_claiming_more_bytes_than_it_carries_is_refused_before_anything_is_allocated():
    started = time.perf_counter()
    for shape in ([10**10, 10**10], [10**5] * 6, [2**40]):
        with pytest.raises(wire.WireError, match="do not match"):
            wire.decode(body_of(tensor_node(shape, blob=0), (b"x" * 8,)))
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("shape", [[2**70], [-1], [1.5], [True], ["3"], [1] * 65, "3", None, {"a": 1}])
def test_an_absurd_shape_is_refused(shape):
    for extra in ({}, {"blob": 0}):
        with pytest.raises(wire.WireError):
            wire.decode(body_of(tensor_node(shape, **extra), (b"x" * 8,)))


@pytest.mark.parametrize("blob", [1, -1, 0.0, True, "0", None])
def test_a_tensor_must_name_bytes_that_were_sent(blob):
    with pytest.raises(wire.WireError):
        wire.decode(body_of(tensor_node([1], blob=blob), (b"x" * 8,)))


def test_one_blob_cannot_back_many_tensors():
    """A blob named by many tensors multiplies memory in the judge (9 000 tensors over one 32 MiB blob, under the
    frame cap, would be 280 GiB); here 64 over 1 MiB."""
    node = {"t": "list", "items": [tensor_node([128, 1024], blob=0)] * 64}
    with pytest.raises(wire.WireError, match="bytes of its own"):
        wire.decode(body_of(node, (b"x" * 1024 * 1024,)))


@pytest.mark.parametrize("node", [
    {"t": "bool", "v": 1}, {"t": "int", "v": 1.0}, {"t": "int", "v": True}, {"t": "int", "v": 2**64},
    {"t": "float", "v": 1.0}, {"t": "float", "v": "1" * 41}, {"t": "str", "v": 3}, {"t": "str", "v": None},
    {"t": "str", "v": "x" * (wire.MAX_STR + 1)}, {"t": "list", "items": "abc"}, {"t": "list", "items": None},
    {"t": "list", "items": [{"t": "none"}] * (wire.MAX_ITEMS + 1)}, {"t": "dict", "items": [["k"]]},
    {"t": "dict", "items": [[1, {"t": "none"}]]}, {"t": "dict", "items": {"k": {"t": "none"}}}, {"t": "frozenset"},
    {"t": None}, ["t", "none"], "none", {"t": "tensor", "shape": [1], "dtype": 3, "device": "cpu"},
    {"t": "tensor", "shape": [1], "dtype": "float64", "device": ["cpu"]},
    {"t": "tensor", "shape": [1], "dtype": "object", "device": "cpu", "blob": 0},
])
def test_a_field_of_the_wrong_type_is_a_wire_error(node):
    with pytest.raises(wire.WireError):
        wire.decode(body_of(node, (b"x" * 8,)))


def test_a_header_over_the_readers_limit_is_refused():
    body = body_of({"t": "str", "v": "x" * 50_000})
    assert wire.decode(body)[1] == "x" * 50_000
    with pytest.raises(wire.WireError, match="too large"):
        wire.decode(body, header_limit=10_000)


def test_a_header_longer_than_its_frame_is_refused():
    body = body_of({"t": "none"})
    with pytest.raises(wire.WireError):
        wire.decode(struct.pack("<II", len(body) * 10, 0) + body[8:])


def test_a_message_of_too_many_values_is_refused():
    wide = {"t": "list", "items": [{"t": "list", "items": [{"t": "none"}] * 1000}] * 1001}
    with pytest.raises(wire.WireError, match="values"):
        wire.decode(body_of(wide))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children,
                                                                                      max_size=4), max_leaves=25)
NODE_KEYS = st.sampled_from(["t", "v", "items", "shape", "dtype", "device", "blob", "d", "reason"])
KINDS = st.sampled_from(["none", "bool", "int", "float", "str", "list", "tuple", "dict", "opaque", "tensor"])


@settings(max_examples=400, deadline=None)
@given(st.recursive(st.fixed_dictionaries({"t": KINDS}, optional={"v": JSON, "shape": JSON, "blob": JSON}),
                    lambda children: st.fixed_dictionaries({"t": KINDS}, optional={
                        "items": st.lists(children | st.lists(JSON | children, max_size=3), max_size=4),
                        "dtype": JSON, "device": JSON}) | st.dictionaries(NODE_KEYS, JSON | children, max_size=4),
                    max_leaves=20),
       st.lists(st.binary(max_size=16), max_size=3))
def test_any_json_a_probe_can_send_decodes_to_a_value_or_a_wire_error(node, blobs):
    try:
        wire.decode(body_of(node, tuple(blobs)), header_limit=wire.MAX_HEADER_BYTES)
    except wire.WireError:
        pass
