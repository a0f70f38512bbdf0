"""Feedback pages and the class report: what they show, where, to whom, and that student text cannot script them."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from autograder.judge import grading
from autograder.judge.evaluate import CaseResult, GroupResult
from autograder.judge.runner import Limits
from autograder.reports import class_report, feedback
from autograder.reports.results import SubmissionResult, read_tests
from examples import samples

ROOT = Path(__file__).resolve().parent.parent
A = "01_rnn"
CELL_BUG = samples.replace_in(A, "rnn_cell_forward", "return torch.tanh(pre_activation)", "return pre_activation")


def _load_script():
    spec = importlib.util.spec_from_file_location("screenshot_reports", ROOT / "scripts" / "screenshot_reports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


shots = _load_script()


# ---------------------------------------------------------------- a small class, graded once for the module

@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    """ada and eve correct, ben and bea with the same cell bug, dev unfinished, mallory hostile, jo unreadable."""
    base = tmp_path_factory.mktemp("class")
    submitted, out = base / "submitted", base / "out"
    notebooks = {"ada": samples.make_notebook(A), "eve": samples.make_notebook(A),
                 "ben": samples.make_notebook(A, CELL_BUG), "bea": samples.make_notebook(A, CELL_BUG),
                 "dev": samples.make_notebook(A, filled=False), "mallory": shots.hostile_notebook(A)}
    for student, nb in notebooks.items():
        samples.write_notebook(nb, submitted / student / A / f"{A}.ipynb")
    broken = submitted / "jo" / A / f"{A}.ipynb"
    broken.parent.mkdir(parents=True)
    broken.write_text(json.dumps(samples.make_notebook(A))[:5000], encoding="utf-8")
    # Generous limits: on a busy machine a correct submission must not time out and skew the numbers.
    limits = Limits(call_seconds=60, cell_seconds=120, submission_seconds=300)
    grading.grade_batch(submitted, A, out, workers=2, progress=False, limits=limits)
    feedback.write_batch_feedback(submitted, A, out, show_hidden=True)
    return out


def page(out: Path, student: str, name: str = "feedback.html") -> BeautifulSoup:
    return BeautifulSoup((out / student / A / name).read_text(encoding="utf-8"), "html.parser")


def results(out: Path, student: str) -> dict:
    return json.loads((out / student / A / "results.json").read_text(encoding="utf-8"))


def student_view(out: Path, student: str) -> BeautifulSoup:
    nb = out.parent / "submitted" / student / A / f"{A}.ipynb"
    return BeautifulSoup(feedback.render_feedback(nb, results(out, student), show_hidden=False), "html.parser")


def group_ids(result: dict) -> list[str]:
    return list(dict.fromkeys(t["extra_data"]["check_group"] for t in result["tests"]))


def case_names(section, hidden: bool | None = None) -> list[str]:
    names = []
    for item in section.select("li"):
        tagged = item.find("span", class_="ag-tag") is not None
        if hidden is None or tagged == hidden:
            names.append(next(item.stripped_strings))
    return names


# ---------------------------------------------------------------- the feedback page

@pytest.mark.slow
def test_each_group_result_sits_right_after_its_test_cell_in_notebook_order(graded):
    soup = page(graded, "ben")
    blocks = soup.find_all(lambda t: "jp-Cell" in (t.get("class") or []) or "ag-result" in (t.get("class") or []))
    placed = []
    for index, block in enumerate(blocks):
        if "ag-result" in block["class"]:
            gid = block["id"].removeprefix("check-")
            assert f'check("{gid}"' in blocks[index - 1].get_text(), f"{gid} is not right after its test cell"
            placed.append(gid)
    assert placed == group_ids(results(graded, "ben"))
    values = soup.find(id="check-rnn_cell_forward_values")
    assert "ag-partial" in values["class"] and "max abs error" in values.get_text()
    assert "Hint:" in values.get_text()


@pytest.mark.slow
def test_hidden_cases_are_shown_to_the_instructor_and_counted_but_withheld_from_the_student(graded):
    result = results(graded, "ben")
    hidden_entries = [t for t in result["tests"] if t["visibility"] == "after_due_date"]
    instructor, student = page(graded, "ben"), student_view(graded, "ben")
    for entry in hidden_entries:
        gid = entry["extra_data"]["check_group"]
        names = [line[2:].partition(": ")[0] for line in entry["output"].split("\n") if line[:1] in "✓✗"]
        assert case_names(instructor.find(id=f"check-{gid}"), hidden=True) == names
        withheld = student.find(id=f"check-{gid}")
        assert case_names(withheld, hidden=True) == []
        assert f"{len(names)} hidden case" in withheld.get_text() and "after the due date" in withheld.get_text()
    assert f"{round(result['score'], 2):g} / 12 points" in instructor.find(class_="ag-total").get_text()
    assert "from the public checks" in student.find(class_="ag-total").get_text()
    assert student.find("details") is None  # the probe's output includes prints made by hidden cases


def _unsafe(soup: BeautifulSoup) -> list[str]:
    found = [f"<{t.name}>" for t in soup.find_all(["script", "iframe", "object", "embed", "base", "form", "link"])]
    for tag in soup.find_all(True):
        for name, value in tag.attrs.items():
            text = " ".join(value) if isinstance(value, list) else str(value)
            if name.lower().startswith("on"):
                found.append(f"{tag.name} {name}=")
            if name in ("href", "src", "action", "formaction") and text.strip().lower().startswith(
                    ("javascript:", "vbscript:", "data:text")):
                found.append(f"{tag.name} {name}={text[:30]}")
        if tag.name == "meta" and tag.get("http-equiv", "").lower() == "refresh":
            found.append("meta refresh")
    return found


def test_student_markdown_outputs_and_metadata_cannot_put_script_or_handlers_in_the_page(tmp_path):
    path = samples.write_notebook(shots.hostile_notebook(A), tmp_path / "mallory.ipynb")
    result = SubmissionResult("mallory", A, [GroupResult("rnn_cell_forward_shape", "cell shape", 1.0,
                                                         [CaseResult("float64", True, None, False)])]).to_json()
    html = feedback.render_feedback(path, result, show_hidden=True)
    soup = BeautifulSoup(html, "html.parser")
    assert _unsafe(soup) == []
    assert shots.PWNED not in soup.title.get_text()
    assert soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"] == feedback.CSP
    notes = soup.find("h2", string="Notes from mallory")  # ordinary markdown still renders as markdown
    assert notes is not None and notes.find_next("table") is not None
    assert "<script>document.title" in soup.get_text()  # the payload is shown as text, not dropped silently
    assert all(t.name == "section" for t in soup.select(".ag-result"))  # no fake "passed" block from markdown
    assert soup.find(id="check-rnn_forward_values") is None
    assert any(img["src"].startswith("data:image/png;base64,") for img in soup.find_all("img", src=True))
    maths = soup.find_all(feedback.MATHML_TAGS)  # the TeX became MathML, with no link or handler left on it
    assert maths and not [m.attrs for m in maths if set(m.attrs) - feedback.MATHML_ATTRIBUTES]


def test_math_in_markdown_becomes_mathml_and_tex_in_code_stays_as_written(tmp_path):
    nb = samples.make_notebook(A)
    source = ("The update is $h_t = \\tanh(x_t W_{ih}^\\top + b_{ih})$ and\n\n"
              "$$\\Big\\| \\frac{\\partial h_t}{\\partial h_s} \\Big\\| \\le \\prod_{u=s+1}^{t} \\|W_{hh}\\|$$\n\n"
              "\\begin{aligned} a &= b \\\\ c &= d \\end{aligned}\n\n"
              "In code: `cost = \"$5 and $6\"`, and $\\left( x^$ is TeX no one can read.")
    nb["cells"].insert(0, {"cell_type": "markdown", "id": "maths", "metadata": {}, "source": source})
    path = samples.write_notebook(nb, tmp_path / "ada.ipynb")
    soup = BeautifulSoup(feedback.render_feedback(path, SubmissionResult("ada", A, []).to_json(), True), "html.parser")
    cell = soup.find(string=lambda t: t and "The update is" in t).find_parent("div")
    maths = cell.find_all("math")
    assert [m["display"] for m in maths[:3]] == ["inline", "block", "block"]
    assert maths[0].find("msub") is not None and "tanh" in maths[0].get_text()
    assert "\u2016" in maths[1].get_text() and "\\" not in maths[1].get_text()  # \Big\| is a norm bar
    assert cell.find("code").get_text() == 'cost = "$5 and $6"'
    assert "$\\left( x^$ is TeX" in cell.get_text()  # shown as written, and the page still renders


def _class_to_render(base: Path, students: int) -> tuple[Path, Path]:
    """A submitted/ folder and an out/ folder with a results.json each, as grade-batch leaves them."""
    submitted, out = base / "submitted", base / "out"
    for i in range(students):
        student = f"s{i:02d}"
        samples.write_notebook(samples.make_notebook(A), submitted / student / A / f"{A}.ipynb")
        result = SubmissionResult(student, A, [GroupResult("rnn_cell_forward_shape", "cell shape", 1.0,
                                                           [CaseResult("float64", i % 2 == 0, "wrong", False)])])
        (out / student / A).mkdir(parents=True)
        (out / student / A / "results.json").write_text(json.dumps(result.to_json()), encoding="utf-8")
    return submitted, out


def test_a_class_s_pages_written_by_several_processes_are_the_pages_one_process_writes(tmp_path):
    submitted, out = _class_to_render(tmp_path, 9)
    alone = {p.parent.parent.name: p.read_bytes()
             for p in feedback.write_batch_feedback(submitted, A, out, show_hidden=True, workers=1)}
    shared = {p.parent.parent.name: p.read_bytes()
              for p in feedback.write_batch_feedback(submitted, A, out, show_hidden=True, workers=2)}
    assert len(alone) == 9 and shared == alone
    assert b"s04" in shared["s04"] and b"s05" not in shared["s04"]


def test_pages_a_worker_could_not_write_are_written_by_the_batch_itself(tmp_path, monkeypatch):
    import multiprocessing

    class NoProcesses:  # a locked-down machine: no page process can start
        Pipe = staticmethod(multiprocessing.Pipe)

        def Process(self, *args, **kwargs):  # noqa: N802 - the name multiprocessing gives it
            raise OSError("no process may start here")

    monkeypatch.setattr(multiprocessing, "get_context", lambda method: NoProcesses())
    submitted, out = _class_to_render(tmp_path, 8)
    pages = feedback.write_batch_feedback(submitted, A, out, show_hidden=True, workers=2)
    assert len(pages) == 8 and all(p.exists() and b"<html" in p.read_bytes() for p in pages)


def test_the_last_pass_strips_whatever_reaches_it():
    dirty = ('<p onclick="x()">a</p><script>x()</script><a href=" javascript:x()">b</a><iframe src="y"></iframe>'
             '<img src="https://tracker.example/p.gif"><meta http-equiv="refresh" content="0;url=y">')
    clean = BeautifulSoup(feedback.scrub(dirty), "html.parser")
    assert _unsafe(clean) == [] and clean.find("img").get("src") is None and clean.get_text() == "ab"


def test_a_notebook_nbconvert_cannot_render_still_gets_its_results(tmp_path):
    nb = samples.make_notebook(A)
    missing = "![plot](attachment:gone.png)"  # nbconvert raises on an attachment the cell does not carry
    nb["cells"].insert(0, {"cell_type": "markdown", "id": "lost", "metadata": {}, "source": missing})
    path = samples.write_notebook(nb, tmp_path / "lost.ipynb")
    result = SubmissionResult("lee", A, [GroupResult("g", "a check", 1.0, [CaseResult("c", True, None, False)])])
    soup = BeautifulSoup(feedback.render_feedback(path, result.to_json(), show_hidden=True), "html.parser")
    assert "could not be rendered" in soup.get_text() and soup.find(id="check-g") is not None


def test_the_page_loads_nothing_from_the_network_and_needs_no_javascript(tmp_path):
    path = samples.write_notebook(samples.make_notebook(A), tmp_path / "ada.ipynb")
    html = feedback.render_feedback(path, SubmissionResult("ada", A, []).to_json(), show_hidden=True)
    soup = BeautifulSoup(html, "html.parser")
    assert soup.find("script") is None and soup.find("link") is None
    assert not [t for t in soup.find_all(src=True) if not t["src"].startswith("data:")]
    assert "mathjax" not in html.lower() and "require.js" not in html.lower()
    assert soup.find("style") is not None and "jp-Notebook" in html  # nbconvert's lab CSS, inline


@pytest.mark.slow
def test_a_group_whose_test_cell_was_deleted_still_appears_at_the_end(graded):
    soup = page(graded, "mallory")
    orphans = soup.find(class_="ag-orphans")
    assert orphans is not None and orphans.find(id="check-rnn_shapes") is not None
    assert soup.find_all(class_="ag-result")[-1]["id"] == "check-rnn_shapes"


@pytest.mark.slow
def test_an_unreadable_notebook_still_gets_a_page_with_every_result(graded):
    soup = page(graded, "jo")
    text = soup.get_text()
    assert "not valid JSON" in text and "cannot be shown" in text
    shown = [section["id"].removeprefix("check-") for section in soup.find_all(class_="ag-result")]
    assert shown == group_ids(results(graded, "jo"))


def test_without_a_notebook_the_page_has_the_results_alone():
    result = SubmissionResult("zoe", A, [GroupResult("g", "a check", 2.0, [
        CaseResult("small", False, "expected <tensor> & got None", False),
        CaseResult("large", True, None, True)], hint="look at the bias")]).to_json()
    soup = BeautifulSoup(feedback.render_feedback(None, result, show_hidden=False), "html.parser")
    section = soup.find(id="check-g")
    assert "expected <tensor> & got None" in section.find("pre").get_text()  # escaped, then shown as written
    assert case_names(section) == ["small"] and "1 hidden case (1 point)" in section.get_text()
    assert "look at the bias" in section.get_text() and "No notebook" in soup.get_text()


def test_a_multi_line_message_stays_with_its_case():
    result = SubmissionResult("zoe", A, [GroupResult("g", "a check", 3.0, [
        CaseResult("a", True, None, False), CaseResult("b", False, "raised X\n  File <cell 3>, line 2", False),
        CaseResult("c", True, None, False, note="inconclusive on meta")], hint="check\nthe bias")]).to_json()
    (test,) = read_tests(json.loads(json.dumps(result)))
    assert [(c.name, c.passed, c.message, c.note) for c in test.cases] == [
        ("a", True, "", None), ("b", False, "raised X\n  File <cell 3>, line 2", None),
        ("c", True, "", "inconclusive on meta")]
    assert test.hint == "check\nthe bias" and test.notes == [] and test.status == "failed"


FORGED = "boom\n✓ hidden: all passed\n✓ values vs nn.RNNCell\nHint: nothing to fix"


def test_a_message_that_looks_like_passed_cases_is_one_failed_case_in_every_reader(tmp_path):
    """A student's exception message can hold any text: lines that look like passed cases stay its message."""
    result = SubmissionResult("mallory", A, [GroupResult("g", "a check", 2.0, [
        CaseResult("small", False, f"`f` raised ValueError: {FORGED}", False),
        CaseResult("large", True, None, True)])]).to_json()
    records = read_tests(result)
    assert [[(c.name, c.passed) for c in r.cases] for r in records] == [[("small", False)], [("large", True)]]
    assert all(r.hint is None for r in records)
    soup = BeautifulSoup(feedback.render_feedback(None, result, show_hidden=True), "html.parser")
    section = soup.find(id="check-g")
    assert case_names(section) == ["small", "large"]
    assert [li.contents[0] for li in section.find_all(class_="ag-ok")] == ["large"]
    assert len(section.find_all(class_="ag-bad")) == 1
    assert "all passed" in section.find("pre").get_text() and not section.find(class_="ag-hint")
    out = tmp_path / "out"
    (out / "mallory" / A).mkdir(parents=True)
    (out / "mallory" / A / "results.json").write_text(json.dumps(result), encoding="utf-8")
    (row,) = class_report.summary(out)["assignments"][A]["checks"]
    assert row["failed"] == 1 and FORGED in row["common_message_raw"]


# ---------------------------------------------------------------- the class report

def test_messages_that_differ_only_in_numbers_group_together():
    one = "output differs: max abs error 2.44; first mismatch at index (0, 1): got -1.18147, expected 1e-05"
    two = "output differs: max abs error 0.5; first mismatch at index (3, 0): got 7, expected -0.827913"
    assert class_report.message_key(one) == class_report.message_key(two)
    assert class_report.message_key("float32 h_0 stays") == "float32 h_0 stays"


@pytest.mark.slow
def test_class_report_numbers_come_from_the_graded_batch(graded):
    numbers = class_report.summary(graded)["assignments"][A]
    assert (numbers["submissions"], numbers["graded"], numbers["errors"]) == (7, 6, 1)
    counts, edges = numbers["histogram"]["counts"], numbers["histogram"]["edges"]
    assert edges[0] == 0 and edges[-1] == 12 and sum(counts) == 7
    scores = {s: results(graded, s)["score"] for s in ("ada", "eve", "mallory", "ben", "bea", "dev", "jo")}
    assert counts[-1] == 3 and counts[0] == 2  # three full marks; dev and jo at 0
    assert counts[int(scores["ben"])] == 2  # ben and bea, the same bug, the same score
    checks = {row["group_id"]: row for row in numbers["checks"]}
    assert checks["rnn_cell_forward_values"]["failed"] == 3 and checks["rnn_cell_forward_values"]["graded"] == 6
    assert checks["rnn_shapes"]["failure_rate"] == pytest.approx(1 / 6)  # only dev; mallory's is right
    assert [r["failure_rate"] for r in numbers["checks"]] == sorted((r["failure_rate"] for r in numbers["checks"]),
                                                                    reverse=True)
    common = checks["rnn_cell_forward_values"]
    assert common["common_count"] == 2 and "h_next differs from the reference" in common["common_message_raw"]
    assert "#" in common["common_message"]
    assert [(r["student"], r["limits_hit"]) for r in numbers["limits"]] == [("jo", [])]
    assert numbers["time"]["median"] > 0 and len(numbers["time"]["slowest"]) == 5


@pytest.mark.slow
def test_class_report_page_links_feedback_and_lists_limits_and_unreadable_results(graded, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(graded, out)
    (out / "zed" / A).mkdir(parents=True)
    (out / "zed" / A / "results.json").write_text("{not json", encoding="utf-8")
    hog = results(out, "ada")
    hog["extra_data"].update(student="hog", limits_hit=["memory"])
    crash = results(out, "ada")
    crash["extra_data"].update(student="kit", error="the probe could not start", grader_error=True)
    for name, data in (("hog", hog), ("kit", crash)):
        (out / name / A).mkdir(parents=True)
        (out / name / A / "results.json").write_text(json.dumps(data), encoding="utf-8")
    index = class_report.write_class_report(out)
    numbers = class_report.summary(out)
    assert numbers["unreadable"] == 1 and numbers["unreadable_files"] == [f"zed/{A}/results.json"]
    data = numbers["assignments"][A]
    assert [r["student"] for r in data["limits"]] == ["hog", "jo"]
    assert [r["student"] for r in data["grader_error_list"]] == ["kit"] and data["grader_errors"] == 1
    assert data["histogram"]["counts"][-1] == 4  # kit is left out of the scores until it is graded again
    soup = BeautifulSoup(index.read_text(encoding="utf-8"), "html.parser")
    assert soup.find("a", href=f"../ben/{A}/feedback.html") is not None
    for img in soup.find_all("img"):
        assert (index.parent / img["src"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(soup.find_all("img")) == 3 and "could not be read" in soup.get_text()


# ---------------------------------------------------------------- in a real browser

@pytest.mark.slow
@pytest.mark.skipif(shots.find_chromium() is None, reason="no Chromium on PATH (scripts/screenshot_reports.py has it)")
def test_pages_render_in_headless_chromium_and_no_student_script_runs(graded, tmp_path):
    browser = shots.find_chromium()
    hostile = graded / "mallory" / A / "feedback.html"
    report = class_report.write_class_report(graded)
    for name, html in (("mallory", hostile), ("report", report)):
        assert not shots.is_blank(shots.screenshot(browser, html, tmp_path / f"{name}.png", height=1600)), name
    dom = BeautifulSoup(shots.dump_dom(browser, hostile), "html.parser")
    assert dom.find(class_="ag-summary") is not None
    assert shots.PWNED not in dom.title.get_text() and dom.find(attrs={"data-pwned": True}) is None


def test_the_output_modules_import_neither_torch_nor_the_checks():
    """Feedback, class report, CI, merge and gradebooks render what results.json holds: nothing that decides."""
    code = ("import importlib, pkgutil, sys\n"
            "import autograder.reports\n"
            "for info in pkgutil.iter_modules(autograder.reports.__path__, 'autograder.reports.'):\n"
            "    importlib.import_module(info.name)\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'autograder.checks',\n"
            "      'autograder.judge', 'autograder.probe'))))\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[]", run.stdout
