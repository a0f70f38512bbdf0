"""Taking submissions in safely: only regular files inside the submissions folder are read, every malformed
notebook is its student's clear error, and student text is made safe wherever it is written or printed."""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder import notebook, textsafe
from examples import samples

ROOT = Path(__file__).resolve().parent.parent
A = "01_rnn"
RELEASED = ROOT / "assignments" / A / f"{A}.ipynb"
SOLUTION = ROOT / "solutions" / A / f"{A}.ipynb"


@contextmanager
def no_hang(seconds: int = 10):
    """Fail instead of hanging (a FIFO opened for reading blocks until a writer comes)."""
    def alarm(*_):
        raise AssertionError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def released() -> dict:
    return json.loads(RELEASED.read_text(encoding="utf-8"))


def cell_index(nb: dict, gid: str) -> int:
    return next(i for i, c in enumerate(nb["cells"]) if notebook.grade_id(c) == gid)


# ------------------------------------------------------------------ opening: regular files only

def _special_files(folder: Path) -> dict[str, Path]:
    """One of each thing that is not a regular file, under a notebook's name."""
    made = {}
    made["symbolic link"] = folder / "link.ipynb"
    made["symbolic link"].symlink_to(SOLUTION)
    made["symbolic link to a device"] = folder / "zero.ipynb"
    made["symbolic link to a device"].symlink_to("/dev/zero")
    made["dangling symbolic link"] = folder / "dangling.ipynb"
    made["dangling symbolic link"].symlink_to(folder / "nowhere")
    made["named pipe"] = folder / "fifo.ipynb"
    os.mkfifo(made["named pipe"])
    made["folder"] = folder / "dir.ipynb"
    made["folder"].mkdir()
    made["socket"] = folder / "sock.ipynb"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(made["socket"]))
    listener.close()
    return made


EXPECTED = {"symbolic link": "is a symbolic link; submit the file itself",
            "symbolic link to a device": "is a symbolic link; submit the file itself",
            "dangling symbolic link": "is a symbolic link; submit the file itself",
            "named pipe": "is a named pipe (FIFO)", "folder": "is a folder", "socket": "is a socket"}


@pytest.mark.parametrize("root", [False, True], ids=["alone", "inside the submissions folder"])
def test_anything_but_a_regular_file_is_refused_without_reading_or_blocking(tmp_path, root):
    for kind, path in _special_files(tmp_path).items():
        with no_hang(), pytest.raises(notebook.NotebookError) as caught:
            notebook.read_bytes(path, tmp_path if root else None)
        assert EXPECTED[kind] in str(caught.value), kind


def test_a_device_itself_is_refused_by_fstat():
    with no_hang(), pytest.raises(notebook.NotebookError, match="is a device"):
        notebook.read_bytes("/dev/null")


def test_the_size_cap_holds_before_the_read_and_during_it(tmp_path):
    sparse = tmp_path / "huge.ipynb"
    with sparse.open("wb") as handle:
        handle.truncate(notebook.MAX_NOTEBOOK_BYTES + 1)  # no disk used: refused on fstat's size alone
    with pytest.raises(notebook.NotebookError, match="MiB limit"):
        notebook.read(sparse)
    # /proc files report a size of 0 and then hold more: only the cap during the read sees them
    assert os.stat("/proc/self/status").st_size == 0
    with pytest.raises(notebook.NotebookError, match="limit"):
        notebook.read_bytes("/proc/self/status", limit=64)


def test_inside_the_submissions_folder_no_folder_on_the_way_is_followed(tmp_path):
    submitted = tmp_path / "submitted"
    honest = samples.write_notebook(released(), submitted / "ada" / A / f"{A}.ipynb")
    assert notebook.read_bytes(honest, submitted) == honest.read_bytes()
    (submitted / "mallory").symlink_to(ROOT / "solutions")  # mallory/01_rnn/01_rnn.ipynb is the solution
    (submitted / "eve").mkdir()
    (submitted / "eve" / A).symlink_to(SOLUTION.parent)
    with pytest.raises(notebook.NotebookError, match="student folder is a symbolic link"):
        notebook.read_bytes(submitted / "mallory" / A / f"{A}.ipynb", submitted)
    with pytest.raises(notebook.NotebookError, match="assignment folder is a symbolic link"):
        notebook.read_bytes(submitted / "eve" / A / f"{A}.ipynb", submitted)
    with pytest.raises(notebook.NotebookError, match="assignment folder is a symbolic link"):
        notebook.list_folder(submitted / "eve" / A, submitted)
    for outside in (SOLUTION, submitted / "ada" / ".." / ".." / "x.ipynb"):
        with pytest.raises(notebook.NotebookError, match="submissions folder"):
            notebook.read_bytes(outside, submitted)


# ------------------------------------------------------------------ parsing: every malformed notebook is a message

def _raw(nb: object) -> bytes:
    return json.dumps(nb).encode()


def _mutated(edit) -> bytes:
    nb = released()
    edit(nb)
    return _raw(nb)


def _setcell(key, value, gid="rnn_cell_forward"):
    def edit(nb):
        nb["cells"][cell_index(nb, gid)][key] = value
    return edit


def _setmeta(key, value, gid="rnn_cell_forward"):
    def edit(nb):
        nb["cells"][cell_index(nb, gid)]["metadata"]["nbgrader"][key] = value
    return edit


def _wrong(path: str, value):
    return lambda nb: nb.__setitem__(path, value)


MALFORMED = {
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    "deep nesting within the recursion limit": (
        b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": ' + b"[" * 500 + b"]" * 500 + b'}, "cells": []}',
        "nested more than"),
    "a 5000-digit integer": (
        b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": ' + b"7" * 5000 + b'}, "cells": []}', "digits"),
    "NaN": (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": NaN}, "cells": []}', "NaN"),
    "invalid UTF-8": (b'{"cells": [], "x": "\xff\xfe"}', "not UTF-8"),
    "a number as a source": (_mutated(_setcell("source", 42)), "source is not text"),
    "an object as a source": (_mutated(_setcell("source", {"a": "b"})), "source is not text"),
    "a list of numbers as a source": (_mutated(_setcell("source", [1, 2])), "source is not text"),
    "cells not a list": (_mutated(_wrong("cells", {"0": {}})), "'cells' is not a list"),
    "a cell not an object": (_mutated(lambda nb: nb["cells"].insert(0, "cell")), "cell 1 is not an object"),
    "notebook metadata a list": (_mutated(_wrong("metadata", [])), "its metadata"),
    "cell metadata a list": (_mutated(_setcell("metadata", [])), "metadata is missing or not an object"),
    "outputs not a list": (_mutated(_setcell("outputs", "x")), "outputs are not a list"),
    "no cell type": (_mutated(_setcell("cell_type", "python")), "cell_type"),
    "nbgrader a string": (_mutated(lambda nb: nb["cells"][cell_index(nb, "rnn_cell_forward")]["metadata"]
                                   .__setitem__("nbgrader", "solution")), "nbgrader metadata is not an object"),
    "grade_id a number": (_mutated(_setmeta("grade_id", 7)), "nbgrader 'grade_id' is a int"),
    "grade a string": (_mutated(_setmeta("grade", "yes")), "nbgrader 'grade' is a str"),
    "points a string": (_mutated(_setmeta("points", "12")), "nbgrader 'points' is a str"),
    "points a boolean": (_mutated(_setmeta("points", True)), "nbgrader 'points' is a bool"),
    "a duplicated cell": (_mutated(lambda nb: nb["cells"].append(copy.deepcopy(
        nb["cells"][cell_index(nb, "rnn_cell_forward")]))), "grade_id 'rnn_cell_forward': a cell was copied; "
                                                             "delete the copy"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_notebook_is_a_clear_message(name):
    raw, message = MALFORMED[name]
    with pytest.raises(notebook.NotebookError, match=message.replace("(", r"\(").replace(")", r"\)")):
        notebook.parse(raw)


def test_a_list_source_is_valid_nbformat_and_is_read_as_text():
    raw = released()
    lines = raw["cells"][cell_index(raw, "rnn_cell_forward")]["source"]
    assert isinstance(lines, list), "Jupyter saves sources as lists of lines"
    node = notebook.parse(_raw(raw))
    assert node["cells"][cell_index(node, "rnn_cell_forward")]["source"] == "".join(lines)


def test_unpaired_surrogates_are_replaced_and_the_rest_is_kept():
    text = _raw(released()).replace(b'"cells": [', b'"cells": [{"cell_type": "markdown", "metadata": {"\\udc80": 1}, '
                                                  b'"source": "a\\ud800b \\ud83d\\ude00"}, ', 1)
    node = notebook.parse(text)
    assert node["cells"][0]["source"] == "a\ufffdb \U0001f600"  # a paired one is a character, kept
    assert list(node["cells"][0]["metadata"]) == ["\ufffd"]
    json.dumps(node, ensure_ascii=False).encode("utf-8")  # every writer can write it


def test_a_byte_order_mark_is_accepted():
    assert notebook.parse(b"\xef\xbb\xbf" + RELEASED.read_bytes())["cells"]


def _claims(edit) -> dict:
    nb = released()
    edit(nb)
    return notebook.parse(_raw(nb))


@pytest.mark.parametrize("edit", [
    _setmeta("points", 100, "rnn_cell_forward_values"),
    _setmeta("points", 0.5, "rnn_cell_forward_values"),
    _setmeta("grade", True, "rnn_cell_forward"),
    _setmeta("points", 5, "rnn_cell_forward"),
    _setmeta("grade_id", "bonus", "rnn_cell_forward_values"),
    lambda nb: nb["cells"].append({"cell_type": "code", "execution_count": None, "outputs": [], "source": "1",
                                   "metadata": {"nbgrader": {"grade": True, "points": 3, "grade_id": "extra"}}}),
], ids=["more points", "other points", "a solution cell made graded", "points on a solution cell",
        "a test cell renamed", "a new graded cell"])
def test_metadata_that_claims_points_is_refused(edit):
    with pytest.raises(notebook.NotebookError, match="grading metadata was edited"):
        notebook.check_grading_metadata(released(), _claims(edit))


def test_the_released_notebook_claims_nothing():
    notebook.check_grading_metadata(released(), notebook.parse(RELEASED.read_bytes()))


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_anywhere_is_a_notebook_or_a_clear_error(data):
    """Replace one value anywhere in the released notebook with any JSON value: reading it either works or
    raises NotebookError, and what it returns holds what the grader relies on."""
    nb = released()
    node, key = nb, None
    for _ in range(data.draw(st.integers(1, 5))):
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        if not children:
            break
        key, child = data.draw(st.sampled_from(children))
        if not isinstance(child, (dict, list)):
            break
        parent, node = node, child
    target = node if isinstance(node, (dict, list)) and not isinstance(node, str) else parent
    if isinstance(target, dict):
        target[data.draw(st.sampled_from([*target.keys(), "source", "metadata", "nbgrader", "grade_id"]))] = \
            data.draw(JSON)
    elif target:
        target[data.draw(st.integers(0, len(target) - 1))] = data.draw(JSON)
    try:
        read = notebook.parse(_raw(nb))
    except notebook.NotebookError:
        return
    for cell in read["cells"]:
        assert isinstance(cell["source"], str) and isinstance(cell["metadata"], dict)
        notebook.grade_id(cell), notebook.is_test_cell(cell), notebook.is_solution_cell(cell)
    notebook.merge(notebook.parse(RELEASED.read_bytes()), read)


# ------------------------------------------------------------------ student text where it lands

@given(st.text())
def test_text_for_a_file_always_encodes_and_has_no_control_but_tab_newline_cr(text):
    safe = textsafe.for_file(text)
    safe.encode("utf-8")
    assert not any(ord(c) < 0x20 and c not in "\t\n\r" or 0x7f <= ord(c) <= 0x9f for c in safe)


@given(st.text(alphabet=st.sampled_from(["\x1b", "[", "]", "5", "2", ";", "c", "\x07", "\\", "\r", "\b", "\x9b",
                                         "\n", "\t", "a", "\ud800", "\u202e", "P", "m"])) | st.text())
def test_text_for_a_terminal_holds_no_escape_or_control_but_newline_and_tab(text):
    safe = textsafe.for_terminal(text)
    safe.encode("utf-8")
    assert not any(ord(c) < 0x20 and c not in "\t\n" or 0x7f <= ord(c) <= 0x9f or c in "\u202a\u202b\u202c\u202d"
                   "\u202e\u2066\u2067\u2068\u2069" for c in safe)


def test_terminal_text_keeps_what_a_reader_should_see():
    attack = "shape (2, 3)\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\x1b[1;1H12 / 12 points\x1b[0m\rfake\tok\nnext\b!"
    assert textsafe.for_terminal(attack) == "shape (2, 3)12 / 12 points\nfake\tok\nnext!"


@pytest.mark.parametrize(("value", "cell"), [
    ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'), ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
    ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"), ("alice", "alice"),
    ("-3", "-3"), ("-0.5", "-0.5"), ("+1e3", "+1e3"), (-2.5, -2.5), (12, 12), ("", ""),
])
def test_csv_cells_that_would_start_a_formula_are_kept_as_text(value, cell):
    assert textsafe.csv_cell(value) == cell
