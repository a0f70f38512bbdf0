"""Reading submissions: every malformed file is a clear message; cells merge by grade_id, not position."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograder import notebook

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "solutions" / "01_rnn" / "01_rnn.ipynb"


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"   \n", "empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
    (b'{"cells": [', "not valid JSON"),
    (b"[1, 2, 3]", "not a notebook"),
    (b'{"cells": [], "nbformat": 3, "nbformat_minor": 0, "metadata": {}}', "version 3"),
    (b'{"cells": [], "nbformat": 5, "nbformat_minor": 0, "metadata": {}}', "version 5"),
    (b'{"cells": [{"cell_type": "code"}], "nbformat": 4, "nbformat_minor": 5, "metadata": {}}', "malformed"),
    ("caf\u00e9".encode("latin-1"), "UTF-8"),
])
def test_unreadable_notebooks_give_a_clear_message(tmp_path, content, message):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(notebook.NotebookError, match=message):
        notebook.read(path)


def test_a_missing_file_is_a_notebook_error(tmp_path):
    with pytest.raises(notebook.NotebookError, match="could not be read"):
        notebook.read(tmp_path / "nope.ipynb")


def _source() -> dict:
    return json.loads(SOURCE.read_text(encoding="utf-8"))


def _ids(cells: list[dict]) -> list[str | None]:
    return [c["grade_id"] for c in cells]


def test_locked_cells_come_from_the_source_even_when_the_student_edits_them():
    source = _source()
    submission = _source()
    setup = next(c for c in submission["cells"] if notebook.grade_id(c) == "setup")
    setup["source"] = "import torch\nraise RuntimeError('edited a locked cell')"
    merged = notebook.merge(source, submission)
    run_setup = next(c for c in merged if c["grade_id"] == "setup")
    assert "edited a locked cell" not in run_setup["source"]


def test_solution_cells_and_added_cells_come_from_the_submission_in_its_order():
    source, submission = _source(), _source()
    cells = submission["cells"]
    at = next(i for i, c in enumerate(cells) if notebook.grade_id(c) == "rnn_cell_forward")
    cells[at]["source"] = "def rnn_cell_forward(*args):\n    return 'mine'"
    cells.insert(at, {"cell_type": "code", "metadata": {}, "source": "def helper():\n    return 1", "outputs": [],
                      "execution_count": None})
    merged = notebook.merge(source, submission)
    sources = [c["source"] for c in merged]
    helper = sources.index("def helper():\n    return 1")
    mine = sources.index("def rnn_cell_forward(*args):\n    return 'mine'")
    assert helper < mine


def test_test_cells_are_not_run_by_the_probe():
    merged = notebook.merge(_source(), _source())
    test_ids = {c.grade_id for c in notebook.test_cells(_source())}
    assert not test_ids & set(_ids(merged))


def test_a_deleted_locked_cell_is_put_back_in_place():
    source, submission = _source(), _source()
    submission["cells"] = [c for c in submission["cells"] if notebook.grade_id(c) != "nn_rnn_demo"]
    full = _ids(notebook.merge(source, source))
    assert _ids(notebook.merge(source, submission)) == full


def test_reordered_cells_are_matched_by_grade_id_not_position():
    source, submission = _source(), _source()
    submission["cells"] = list(reversed(submission["cells"]))
    merged = notebook.merge(source, submission)
    assert set(_ids(merged)) == set(_ids(notebook.merge(source, source)))
