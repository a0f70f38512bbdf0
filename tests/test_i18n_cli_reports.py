"""The CLI, the feedback page, the class report, the similarity page and the CI summary in Chinese.

A feedback page speaks its submission's language (results.json's extra_data.language) and says so in
`<html lang>`; the class report and the CLI speak the default language (AUTOGRADER_LANG). The English text
is unchanged, and a student's text is escaped the same in both languages.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from autograder import cli, i18n
from autograder.judge.evaluate import CaseResult, GroupResult
from autograder.reports import ci, class_report, feedback
from autograder.reports.results import SubmissionResult

A = "01_rnn"
HAN = re.compile(r"[\u4e00-\u9fff]")
HOSTILE_MESSAGE = "expected <tensor> & got None <script>alert(1)</script>"
HOSTILE_NAME = '<img src=x onerror="alert(1)">'
FORGED = "boom\n✓ hidden: all passed\nHint: nothing to fix"


def _result(language: str, student: str = "zoe", **extra) -> dict:
    groups = [GroupResult("g", "a check", 2.0, [
        CaseResult("small", False, HOSTILE_MESSAGE, False),
        CaseResult("large", True, None, True)], hint="look at the <b>bias</b>"),
        GroupResult("h", "another check", 1.0, [CaseResult("forged", False, FORGED, False)])]
    data = SubmissionResult(student, A, groups, execution_time=0.5, language=language, **extra).to_json()
    return json.loads(json.dumps(data))


def _page(language: str, show_hidden: bool = False, **extra) -> tuple[str, BeautifulSoup]:
    page = feedback.render_feedback(None, _result(language, **extra), show_hidden=show_hidden)
    return page, BeautifulSoup(page, "html.parser")


def _no_student_markup(page: str, soup: BeautifulSoup) -> None:
    assert "<script>alert" not in page and 'onerror="alert' not in page and "<b>bias</b>" not in page
    assert not soup.find("script") and not soup.find("img", onerror=True)
    assert HOSTILE_MESSAGE in soup.get_text() and "look at the <b>bias</b>" in soup.get_text()
    assert "all passed" in soup.find(id="check-h").find("pre").get_text()


def test_a_chinese_submissions_feedback_page_is_in_chinese():
    page, soup = _page("zh_CN")
    assert soup.html["lang"] == "zh-CN"
    header = soup.find("header").get_text()
    assert "公开检查得分" in header and "运行时间" in header and "隔离方式" in header
    assert [th.get_text() for th in soup.find(class_="ag-toc").find_all("th")] == ["检查", "分值"]
    section = soup.find(id="check-g")
    assert "1 个隐藏用例（1 分），截止日期后显示" in section.get_text()
    assert section.find(class_="ag-hint").strong.get_text() == "提示："
    assert "没有找到这份提交的笔记本。" in soup.get_text()
    assert soup.title.get_text() == "反馈：zoe — 01_rnn"
    _no_student_markup(page, soup)


def test_the_same_result_in_english_is_unchanged():
    page, soup = _page("en")
    assert soup.html["lang"] == "en" and not HAN.search(page)
    header = soup.find("header").get_text()
    assert "3 / 3 points from the public checks" not in header  # two of the three public cases failed
    assert "0 / 2 points from the public checks; 1 more points from hidden cases after the due date" in header
    assert "Execution time" in header and soup.title.get_text() == "Feedback: zoe — 01_rnn"
    section = soup.find(id="check-g")
    assert "1 hidden case (1 point), shown after the due date" in section.get_text()
    assert section.find(class_="ag-hint").strong.get_text() == "Hint:"
    assert "No notebook was found for this submission." in soup.get_text()
    _no_student_markup(page, soup)


def test_the_instructors_view_in_chinese_tags_hidden_cases_and_totals_in_chinese():
    page, soup = _page("zh_CN", show_hidden=True, error="boom <b>", grader_error=True)
    assert soup.find(class_="ag-tag").get_text() == "隐藏"
    assert soup.find(class_="ag-total").get_text() == "1 / 3 分"
    alert = soup.find("header").find(class_="ag-alert")
    assert alert.strong.get_text().startswith("评分器错误") and "boom <b>" in alert.get_text()
    assert "<b>" not in str(alert).replace("<strong>", "").split("</strong>", 1)[1]


def _graded(tmp_path: Path, language: str) -> Path:
    out = tmp_path / "graded"
    for student in ("ada", HOSTILE_NAME.replace("/", "_")):
        folder = out / student / A
        folder.mkdir(parents=True)
        (folder / "results.json").write_text(json.dumps(_result(language, student)), encoding="utf-8")
    return out


@pytest.mark.parametrize("language", ["en", "zh_CN"])
def test_the_class_report_speaks_the_current_language_and_escapes_student_text(tmp_path, language):
    out = _graded(tmp_path, "en")
    with i18n.language(language):
        index = class_report.write_class_report(out)
    page = index.read_text(encoding="utf-8")
    soup = BeautifulSoup(page, "html.parser")
    assert soup.html["lang"] == i18n.html_lang(language)
    headings = [h.get_text() for h in soup.find_all(["h3", "th"])]
    if language == "zh_CN":
        assert soup.title.get_text() == "班级报告 — 01_rnn"
        assert "按失分率排列的检查" in headings and "最常见的失败信息" in headings and "学生" in headings
        assert "共 2 份提交，已评分 2 份" in soup.get_text()
    else:
        assert soup.title.get_text() == "Class report — 01_rnn" and not HAN.search(page)
        assert "Checks by failure rate" in headings and "Most common failing message" in headings
        assert "2 submissions, 2 graded" in soup.get_text()
    assert "<script>alert" not in page and 'onerror="alert' not in page and not soup.find("script")
    assert HOSTILE_MESSAGE in soup.get_text() and HOSTILE_NAME.replace("/", "_") in soup.get_text()


def test_the_ci_summary_is_chinese_and_its_machine_lines_stay_english(tmp_path, monkeypatch, capsys):
    data = _result("zh_CN")
    hidden = next(t for t in data["tests"] if t["visibility"] == "after_due_date")
    hidden["extra_data"]["not_run"] = True  # the student's own run: the hidden cases wait for the due date
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    monkeypatch.delenv("GITHUB_OUTPUT", raising=False)
    monkeypatch.setenv("AUTOGRADER_LANG", "zh_CN")
    assert cli.main(["ci-report", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "::notice title=Autograding complete::Points 1/3" in printed  # GitHub Classroom reads this line
    assert "### 自动评分" in printed and "| 检查 | 得分 | 状态 |" in printed and "⏳ 截止日期后评定" in printed
    with i18n.language("en"):
        assert "| check | score | status |" in ci.markdown_summary([_result("en")])


def test_the_clis_help_and_errors_are_chinese_under_autograder_lang(monkeypatch, capsys):
    monkeypatch.setenv("AUTOGRADER_LANG", "zh_CN")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert text.startswith("用法：autograder") and "在你的笔记本上运行公开检查" in text
    assert "显示此帮助信息并退出" in text
    with pytest.raises(SystemExit) as stop:
        cli.main(["export-grades", "graded", "-a", A])
    assert str(stop.value.code) == "autograder: export-grades 需要 --gradebook DB_URL、--csv FILE，或两者都给"
    with pytest.raises(SystemExit):
        cli.main(["grade-batch", "--help"])
    assert "并行的探针数" in capsys.readouterr().out


def test_the_clis_help_in_english_is_unchanged(monkeypatch, capsys):
    monkeypatch.setenv("AUTOGRADER_LANG", "en")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: autograder") and "run the public checks on your notebook" in text
    assert "options:" in text and "show this help message and exit" in text and not HAN.search(text)
    with pytest.raises(SystemExit) as stop:
        cli.main(["export-grades", "graded", "-a", A])
    assert str(stop.value.code) == "autograder: export-grades needs --gradebook DB_URL, --csv FILE or both"


def test_a_batchs_results_only_pages_say_why_in_the_submissions_language(tmp_path):
    page = tmp_path / "feedback.html"
    feedback._write_results_only(page, _result("zh_CN"), False, lambda: feedback._over_budget_note(2.0))
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    assert soup.html["lang"] == "zh-CN" and "笔记本渲染用时超过 2 秒：只显示结果。" in soup.get_text()
