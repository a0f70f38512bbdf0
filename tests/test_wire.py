"""The wire format: values round-trip, nothing executable crosses, malformed input is a WireError."""

from __future__ import annotations

import io
import struct

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
