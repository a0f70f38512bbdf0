"""Taking submissions in safely: only regular files inside the submissions folder are read, every malformed
notebook is its student's clear error, and student text is made safe wherever it is written or printed."""

from __future__ import annotations

import copy
import csv
import json
import os
import signal
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder import notebook
from autograder.reports import textsafe
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


# ------------------------------------------------------------------ a batch of hostile submissions beside a control

FULL = 12.0
OSC52 = "\\x1b]52;c;ZWNobyBvd25lZA==\\x07\\x1b[2J\\x1b[1;1H"  # as written in a cell's source: escapes, not bytes
RAISES = ("def rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity='tanh'):\n"
          f"    raise ValueError('\\udc80 half a pair {OSC52}12 / 12 points\\r')\n")
HOSTILE_NAMES = ['=HYPERLINK("evil.example?id=1","open me")', "+1+2", "@SUM(A1)", "-2+3", "bell\x07\x1b[2Jname"]


def solution_lines() -> set[str]:
    """Lines of 25 characters or more of the instructor's solutions and hidden tests that the release lacks."""
    released_text = RELEASED.read_text(encoding="utf-8")
    found, inside = set(), False
    for cell in json.loads(SOLUTION.read_text(encoding="utf-8"))["cells"]:
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        for line in source.splitlines():
            marker = line.strip()
            if marker in ("### BEGIN SOLUTION", "### BEGIN HIDDEN TESTS"):
                inside = True
            elif marker in ("### END SOLUTION", "### END HIDDEN TESTS"):
                inside = False
            elif inside and len(marker) >= 25 and json.dumps(marker)[1:-1] not in released_text:
                found.add(marker)
    assert len(found) >= 5
    return found


@pytest.fixture(scope="module")
def hostile_batch(tmp_path_factory):
    """One class: an honest control and every kind of hostile submission, graded (and given feedback pages)
    in one batch. Returns (submitted, out, expected error text per student, results per student)."""
    from autograder.judge import grading
    from autograder.reports import feedback

    base = tmp_path_factory.mktemp("hostile")
    submitted = base / "submitted"
    nb_name = f"{A}.ipynb"

    def folder(student: str) -> Path:
        path = submitted / student / A
        path.mkdir(parents=True)
        return path

    samples.write_notebook(samples.make_notebook(A), submitted / "control" / A / nb_name)
    expected = {"control": None}
    (folder("link") / nb_name).symlink_to(SOLUTION)
    expected["link"] = "the submitted notebook is a symbolic link; submit the file itself"
    (folder("zero") / nb_name).symlink_to("/dev/zero")
    expected["zero"] = "the submitted notebook is a symbolic link"
    os.mkfifo(folder("fifo") / nb_name)
    expected["fifo"] = "the submitted notebook is a named pipe (FIFO)"
    (folder("directory") / nb_name).mkdir()
    expected["directory"] = "the submitted notebook is a folder"
    with (folder("oversized") / nb_name).open("wb") as handle:
        handle.truncate(notebook.MAX_NOTEBOOK_BYTES + 1)
    expected["oversized"] = "MiB limit"
    (submitted / "linked_student").symlink_to(ROOT / "solutions")
    expected["linked_student"] = "student folder is a symbolic link"
    (submitted / "linked_assignment").mkdir(parents=True)
    (submitted / "linked_assignment" / A).symlink_to(SOLUTION.parent)
    expected["linked_assignment"] = "assignment folder is a symbolic link"
    for kind, (raw, message) in MALFORMED.items():
        (folder(f"malformed, {kind}") / nb_name).write_bytes(raw)
        expected[f"malformed, {kind}"] = message
    claims = samples.make_notebook(A)
    claims["cells"][cell_index(claims, "rnn_cell_forward_values")]["metadata"]["nbgrader"]["points"] = 100
    samples.write_notebook(claims, submitted / "claims" / A / nb_name)
    expected["claims"] = "grading metadata was edited"
    samples.write_notebook(samples.make_notebook(A, {"rnn_cell_forward": RAISES}), submitted / "raises" / A / nb_name)
    expected["raises"] = None
    for name in HOSTILE_NAMES:
        samples.write_notebook(samples.make_notebook(A), submitted / name / A / nb_name)
        expected[name] = None

    out = base / "out"
    results = {r.student: r for r in grading.grade_batch(submitted, A, out, workers=2, progress=False)}
    feedback.write_batch_feedback(submitted, A, out, workers=1)
    return submitted, out, expected, results


@pytest.mark.slow
def test_each_hostile_submission_is_its_own_clear_error_and_the_control_keeps_its_score(hostile_batch):
    _, _, expected, results = hostile_batch
    assert set(results) == set(expected), "every student is graded, none skipped"
    for student, message in expected.items():
        result = results[student]
        if message is None:
            assert result.error is None, (student, result.error)
        else:
            assert result.error and message in result.error, (student, result.error)
            assert result.score == 0 and not result.grader_error, student
    assert results["control"].score == FULL
    for name in HOSTILE_NAMES:
        assert results[name].score == FULL, name
    raised = results["raises"]
    assert raised.score < FULL and any("half a pair" in c.message for g in raised.groups for c in g.cases)


@pytest.mark.slow
def test_every_output_parses_and_holds_no_solution_text(hostile_batch):
    _, out, expected, _ = hostile_batch
    with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(expected)
    written = sorted(p for p in out.rglob("*") if p.is_file())
    for path in written:
        text = path.read_text(encoding="utf-8")  # every file is valid UTF-8: no surrogate got through
        if path.name == "results.json":
            data = json.loads(text)
            assert not any(0xD800 <= ord(c) <= 0xDFFF or c == "\x1b" for c in json.dumps(data, ensure_ascii=False))
    leaks = solution_lines()
    honest = {"control", *HOSTILE_NAMES}  # their own notebooks hold the solution they were built from
    for path in written:
        if path.relative_to(out).parts[0] in honest:
            continue
        text = path.read_text(encoding="utf-8")
        assert not [line for line in leaks if line in text], path
    raised = json.loads((out / "raises" / A / "results.json").read_text(encoding="utf-8"))
    assert "\\udc80 half a pair" in json.dumps(raised, ensure_ascii=False)  # escaped as text, still legible


@pytest.mark.slow
def test_no_cell_of_grades_csv_starts_a_formula(hostile_batch):
    _, out, _, _ = hostile_batch
    with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")) and not (
                cell.startswith("-") and not cell.lstrip("-").replace(".", "").isdigit()), cell
    students = {row[0] for row in rows[1:]}
    assert "'" + HOSTILE_NAMES[0] in students and "'-2+3" in students and "bell\\x07\\x1b[2Jname" in students


@pytest.mark.slow
def test_a_resumed_hostile_batch_finishes_and_keeps_every_result(hostile_batch):
    from autograder.judge import grading

    submitted, out, expected, first = hostile_batch
    again = {r.student: r for r in grading.grade_batch(submitted, A, out, workers=2, progress=False)}
    assert "control" not in again and "raises" not in again, "graded results are current"
    for student, result in again.items():
        assert result.error == first[student].error
    with (out / "grades.csv").open(newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == len(expected)


def test_grades_csv_keeps_formula_text_as_text_and_numbers_as_numbers(tmp_path):
    from autograder.judge import evaluate
    from autograder.reports.results import SubmissionResult, write_grades_csv, write_result

    group = evaluate.GroupResult("rnn_cell_forward_values", "values", 3.0)
    for student, error in (("=1+1", "+cmd|' /C calc'!A0"), ("-42", None), ("sur\udc80rogate", "-x \ud800")):
        write_result(tmp_path, SubmissionResult(student, A, [group], error=error))
    with open(write_grades_csv(tmp_path, A, ["rnn_cell_forward_values"]), newline="", encoding="utf-8") as handle:
        rows = {row["student"]: row for row in csv.DictReader(handle)}
    assert rows["'=1+1"]["error"] == "'+cmd|' /C calc'!A0"
    assert rows["-42"]["total"] == "0.0" and rows["-42"]["error"] == ""
    assert rows["sur\\udc80rogate"]["error"] == "'-x \\ud800"


@pytest.mark.slow
def test_check_prints_no_terminal_escape_from_a_student_message(tmp_path):
    path = samples.write_notebook(samples.make_notebook(A, {"rnn_cell_forward": RAISES}), tmp_path / f"{A}.ipynb")
    done = subprocess.run([sys.executable, "-m", "autograder", "check", str(path)], capture_output=True, cwd=ROOT,
                          timeout=300)
    assert b"half a pair" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    for byte in (b"\x1b", b"\x07", b"\x9b", b"\r"):
        assert byte not in done.stdout, byte
    assert b"\\udc80 half a pair" in done.stdout  # the lone surrogate is shown escaped, not a crash


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["symbolic link", "named pipe"])
def test_check_refuses_a_notebook_that_is_not_a_regular_file_without_hanging(tmp_path, kind):
    path = _special_files(tmp_path)[kind]
    target = tmp_path / f"{A}.ipynb"
    path.rename(target)
    done = subprocess.run([sys.executable, "-m", "autograder", "check", str(target)], capture_output=True, cwd=ROOT,
                          timeout=120)
    assert done.returncode == 1
    assert f"the submitted notebook is {'a symbolic link' if kind == 'symbolic link' else 'a named pipe'}".encode() \
        in done.stdout, done.stdout + done.stderr
    assert b"BEGIN SOLUTION" not in done.stdout and not [line for line in solution_lines() if line.encode()
                                                         in done.stdout]
