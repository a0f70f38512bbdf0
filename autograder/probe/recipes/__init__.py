"""Probe-side call recipes: how to exercise stubs that take or return the student's own objects.

Most checks call one stub on tensors and compare what it returns. Some stubs return an object only
the student's code understands (a BPTT cache, a `Vocab`) or take one that must be built first (a model,
an optimizer). For those a check names a recipe, `"<module>.<function>"` in this package: a small
public script that the probe runs instead of a single call. It calls the stubs in order, exercises
what they return, and hands back only plain values (tensors, numbers, strings, lists, dicts).

Recipes are public code, like the rest of the probe: they never see expected values. They are
written for an untrusted namespace: anything the student's code returns is validated before use,
and a failure says which stub returned what.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

import torch

from autograder.i18n import _
from autograder.probe import trace

_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")


class MissingStub(Exception):
    """The namespace has no callable of that name."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class StubRaised(Exception):
    """A student's function raised; carries which one and the original exception."""

    def __init__(self, stub: str, error: BaseException) -> None:
        super().__init__(stub)
        self.stub = stub
        self.error = error


class InvalidReturn(Exception):
    """A student's function returned something the recipe cannot go on with; the message says what."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def find(name: str) -> Callable[..., Any]:
    """The recipe called `name` ("module.function"), imported from this package only."""
    if not _NAME.match(name):
        raise LookupError(_("not a recipe name: {name}").format(name=repr(name)))
    module_name, function = name.split(".")
    module = importlib.import_module(f"{__name__}.{module_name}")
    fn = getattr(module, function, None)
    if fn is None or not getattr(fn, "is_recipe", False):
        raise LookupError(_("no recipe {name}").format(name=repr(name)))
    return fn


def recipe(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a function of a recipes module as callable by name from a check."""
    fn.is_recipe = True  # type: ignore[attr-defined]
    return fn


def stub(namespace: dict, name: str) -> Callable[..., Any]:
    fn = namespace.get(name)
    if fn is None:
        raise MissingStub(_("`{name}` is not defined — was its cell deleted, renamed or not run?").format(name=name))
    if not callable(fn):
        raise MissingStub(_("`{name}` is a {type}, not a function").format(name=name, type=type(fn).__name__))
    return fn


def call(namespace: dict, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call the student's `name`; an exception it raises is reported as raised by `name`."""
    fn = stub(namespace, name)
    try:
        with trace.within(name):
            return fn(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - the student's code may raise anything
        raise StubRaised(name, exc) from exc


def method(obj: Any, owner: str, name: str, *args: Any, **kwargs: Any) -> Any:
    """Call a method of an object the student's `owner` returned; failures name both."""
    fn = getattr(type(obj), name, None)
    if fn is None or not callable(fn):
        raise InvalidReturn(_("the object `{owner}` returned ({type}) has no method `{name}`").format(
            owner=owner, type=type(obj).__name__, name=name))
    try:
        return fn(obj, *args, **kwargs)
    except BaseException as exc:  # noqa: BLE001
        raise StubRaised(f"{type(obj).__name__}.{name}", exc) from exc


def pair(value: Any, stub_name: str, what: str) -> tuple[Any, Any]:
    """`value` unpacked as the 2-tuple `stub_name` must return (`what` names its items)."""
    if not isinstance(value, (tuple, list)):
        raise InvalidReturn(_("`{stub}` should return a pair {what}; it returned a {type}").format(
            stub=stub_name, what=what, type=type(value).__name__))
    if len(value) != 2:
        raise InvalidReturn(_("`{stub}` should return a pair {what}; it returned a {type} of length {length}").format(
            stub=stub_name, what=what, type=type(value).__name__, length=len(value)))
    return value[0], value[1]


def state_of(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A module's parameters and buffers as a plain dict of detached copies (what crosses the wire)."""
    return {key: value.detach().clone() for key, value in module.state_dict().items()}
