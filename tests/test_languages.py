"""English and Chinese notebooks: one source, two releases, the same grade.

Every markdown cell of a source notebook carries its Chinese text in `metadata.autograder.zh`. `autograder
release` writes the English notebooks (assignments/, nbgrader's own output), `autograder release --lang zh`
the Chinese ones (assignments-zh/): markdown replaced, code cells, grade_ids and points untouched.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import notebook
from autograder.authoring import bundle, release
from autograder.judge import grading
from examples import samples

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if (p / f"{p.name}.ipynb").is_file())
GLOSSARY_LINK = "../../docs/glossary-zh.md"
# The terms the course uses throughout, in the translation every notebook and the glossary use.
STANDARD_TERMS = ("隐藏状态", "遗忘门", "输入门", "输出门", "候选记忆", "更新门", "重置门", "词嵌入",
                  "通过时间的反向传播", "梯度裁剪", "截断")
DISPLAYED = re.compile(r"\$\$\n.*?\n\$\$|```.*?```", re.S)  # display formulas and code blocks
CODE_SPAN = re.compile(r"`[^`\n]+`")


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _source(assignment: str) -> Path:
    return ROOT / "solutions" / assignment / f"{assignment}.ipynb"


def _released(assignment: str, lang: str) -> Path:
    return ROOT / release.release_folder(lang) / assignment / f"{assignment}.ipynb"


def _text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _markdown(assignment: str) -> list[dict]:
    return [c for c in _load(_source(assignment))["cells"] if c["cell_type"] == "markdown"]


# ---------------------------------------------------------------- the source notebooks

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_markdown_cell_has_its_chinese_text(assignment):
    assert release.untranslated(_load(_source(assignment)), "zh") == []


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_chinese_text_keeps_every_formula_code_block_and_code_span(assignment):
    for cell in _markdown(assignment):
        english, chinese = _text(cell), release.translation(cell, "zh")
        where = notebook.grade_id(cell)
        assert DISPLAYED.findall(chinese) == DISPLAYED.findall(english), where
        spans = [set(CODE_SPAN.findall(DISPLAYED.sub("", t).replace("\n", " "))) for t in (english, chinese)]
        assert spans[0] == spans[1], f"{where}: English only {spans[0] - spans[1]}, Chinese only {spans[1] - spans[0]}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_first_cell_links_the_glossary_in_both_languages(assignment):
    first = _markdown(assignment)[0]
    assert GLOSSARY_LINK in _text(first)
    assert GLOSSARY_LINK in release.translation(first, "zh")
    assert (ROOT / "solutions" / assignment / GLOSSARY_LINK).resolve() == (ROOT / "docs" / "glossary-zh.md")


def test_the_glossary_gives_the_standard_terms_and_the_notebooks_use_them():
    glossary = (ROOT / "docs" / "glossary-zh.md").read_text(encoding="utf-8")
    chinese = "\n".join(release.translation(c, "zh") or "" for a in ASSIGNMENTS for c in _markdown(a))
    for term in STANDARD_TERMS:
        assert term in glossary, term
        assert term in chinese, term


def test_the_gru_example_states_the_tutorials_two_slips_in_both_languages():
    cell = next(c for c in _markdown("03_gru") if notebook.grade_id(c) == "md_nn_gru")
    for text in (_text(cell), release.translation(cell, "zh")):
        assert "`nn.GRU(10, 20, 2)`" in text
        for name in ("`h_0`", "`h0`", "`h0.size()`", "`hn.size()`"):
            assert name in text, name
        assert "NameError" not in text  # the tutorial's call runs: `h0` is the LSTM example's state


# ---------------------------------------------------------------- the two releases

@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_chinese_release_is_in_sync_with_solutions(assignment):
    released = _released(assignment, "zh")
    assert released.exists(), "run `autograder release --lang zh`"
    assert released.read_text(encoding="utf-8") == release.released_text(_source(assignment), "zh"), (
        f"{released} differs from what `autograder release --lang zh` makes from solutions/: run it")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_two_releases_differ_in_markdown_text_only(assignment):
    english, chinese = _load(_released(assignment, "en")), _load(_released(assignment, "zh"))
    assert "lang" not in english["metadata"]["autograder"]
    assert chinese["metadata"]["autograder"] == {**english["metadata"]["autograder"], "lang": "zh"}
    assert {k: v for k, v in chinese["metadata"].items() if k != "autograder"} == {
        k: v for k, v in english["metadata"].items() if k != "autograder"}
    assert len(english["cells"]) == len(chinese["cells"])
    for en, zh in zip(english["cells"], chinese["cells"]):
        assert notebook.grade_id(en) == notebook.grade_id(zh) and en["cell_type"] == zh["cell_type"]
        if en["cell_type"] != "markdown":
            assert en == zh, notebook.grade_id(en)
            continue
        assert _text(zh) == release.translation(en, "zh")
        # A locked cell's checksum covers its text, so each release's fits its own text; nothing else differs.
        bare = [copy.deepcopy(c["metadata"]) for c in (en, zh)]
        for meta in bare:
            meta["nbgrader"].pop("checksum", None)
        assert bare[0] == bare[1]
    assert notebook.test_cells(english) == notebook.test_cells(chinese)  # the same grade cells and points


def test_a_cell_without_chinese_text_keeps_its_english_and_the_release_lists_it(tmp_path):
    course = tmp_path / "course"
    shutil.copytree(ROOT / "solutions" / "01_rnn", course / "solutions" / "01_rnn")
    source = course / "solutions" / "01_rnn" / "01_rnn.ipynb"
    nb = _load(source)
    cell = next(c for c in nb["cells"] if notebook.grade_id(c) == "md_rnn_shapes")
    del cell["metadata"]["autograder"]
    source.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    result = subprocess.run([sys.executable, "-m", "autograder", "release", "--course", str(course), "--lang", "zh"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "01_rnn: 1 markdown cell(s) have no zh text and stay in English: md_rnn_shapes" in result.stdout
    assert not (course / "assignments").exists()  # the English release is not touched by --lang zh
    released = _load(course / "assignments-zh" / "01_rnn" / "01_rnn.ipynb")
    by_id = {notebook.grade_id(c): c for c in released["cells"]}
    assert _text(by_id["md_rnn_shapes"]) == _text(cell)
    assert _text(by_id["md_rnn_cell"]).startswith("## 循环单元")


def test_an_unknown_language_is_refused():
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        release.release_notebook(_source("01_rnn"), "fr")


# ---------------------------------------------------------------- grading does not depend on the language

# A one-line bug in each of 01–03, so that the grades compared are partial, not only full or zero.
PARTIAL = {
    "01_rnn": ("rnn_forward", "output = layer_input.transpose(0, 1) if batch_first else layer_input",
               "output = layer_input"),
    "02_lstm": ("lstm_forward", "output = layer_input.transpose(0, 1) if batch_first else layer_input",
                "output = layer_input"),
    "03_gru": ("bidirectional_gru_forward", "output_bwd.flip(0)], dim=2)", "output_bwd], dim=2)"),
}


def _submissions(assignment: str) -> dict[str, dict]:
    """name → the English notebook of some answers; the reference (filled), and a partial or an unfinished one."""
    made = {"correct": samples.make_notebook(assignment)}
    if assignment in PARTIAL:
        made["partial"] = samples.make_notebook(assignment, samples.replace_in(assignment, *PARTIAL[assignment]))
    else:
        made["unfinished"] = samples.make_notebook(assignment, filled=False)
    return made


def _in_chinese(assignment: str, english: dict) -> dict:
    """The Chinese released notebook with the solution cells of `english` typed in."""
    answers = {notebook.grade_id(c): c["source"] for c in english["cells"] if notebook.is_solution_cell(c)}
    chinese = copy.deepcopy(_load(_released(assignment, "zh")))
    for cell in chinese["cells"]:
        if notebook.grade_id(cell) in answers:
            cell["source"] = answers[notebook.grade_id(cell)]
    return chinese


def _graded(result: dict) -> dict:
    """What a grade is made of in results.json: the score, and every test's score and cases (its title and the
    messages are in the notebook's language; that each case has a message or none is not)."""
    return {"score": result["score"], "max_score": result["extra_data"]["max_score"],
            "error": result["extra_data"].get("error") is not None,
            "tests": [(t["extra_data"]["check_group"], t.get("visibility"), t["score"], t["max_score"], t.get("status"),
                       [(c["name"], c["passed"], bool(c.get("message"))) for c in t["extra_data"]["cases"]])
                      for t in result["tests"]]}


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_the_same_answers_in_either_language_get_the_same_grade(assignment, tmp_path):
    submitted, out = tmp_path / "submitted", tmp_path / "graded"
    for name, english in _submissions(assignment).items():
        zh = _in_chinese(assignment, english)
        assert zh["metadata"]["autograder"]["lang"] == "zh"
        assert [_text(c) for c in zh["cells"] if c["cell_type"] == "markdown"] != [
            _text(c) for c in english["cells"] if c["cell_type"] == "markdown"]
        samples.write_notebook(english, submitted / f"{name}-en" / assignment / f"{assignment}.ipynb")
        samples.write_notebook(zh, submitted / f"{name}-zh" / assignment / f"{assignment}.ipynb")
    grading.grade_batch(submitted, assignment, out, workers=2, progress=False)
    results = {p.parent.parent.name: _load(p) for p in out.glob(f"*/{assignment}/results.json")}
    assert len(results) == 2 * len(_submissions(assignment))
    for name in _submissions(assignment):
        english, chinese = _graded(results[f"{name}-en"]), _graded(results[f"{name}-zh"])
        assert english["error"] is False
        assert chinese == english, name
        assert results[f"{name}-zh"]["extra_data"]["language"] == "zh_CN"
        assert results[f"{name}-en"]["extra_data"]["language"] == "en"
        said = [c["message"] for t in results[f"{name}-zh"]["tests"] for c in t["extra_data"]["cases"]
                if c.get("message")] + [t["name"] for t in results[f"{name}-zh"]["tests"]]
        assert all(re.search(r"[\u4e00-\u9fff]", text) for text in said), name
    correct = results["correct-en"]
    assert correct["score"] == correct["extra_data"]["max_score"] > 0
    other = next(results[k] for k in results if not k.startswith("correct"))
    assert other["score"] < correct["score"]
    if assignment in PARTIAL:
        assert other["score"] > 0


@pytest.mark.slow
def test_the_chinese_bundle_holds_the_chinese_notebooks_and_no_secret(tmp_path):
    out = tmp_path / "bundle-zh"
    result = subprocess.run([sys.executable, "-m", "autograder", "release", "--lang", "zh", "-o", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for assignment in ASSIGNMENTS:
        shipped = out / "assignments" / assignment / f"{assignment}.ipynb"
        assert shipped.read_text(encoding="utf-8") == _released(assignment, "zh").read_text(encoding="utf-8")
    assert (out / "docs" / "glossary-zh.md").read_text(encoding="utf-8") == (
        ROOT / "docs" / "glossary-zh.md").read_text(encoding="utf-8")
    assert not (out / "assignments-zh").exists()
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "你的作业" in readme and "(docs/glossary-zh.md)" in readme and "autograder check" in readme
    assert bundle.leaks(out, ROOT) == []
