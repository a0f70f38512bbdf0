"""Messages in Chinese: how the language is chosen, that the catalogs are whole, and that grading is the same.

The catalogs are checked against the sources (every message has a translation with the same placeholders,
and the .mo files are compiled from the .po files), every translatable call is checked to be a literal that
Babel can extract and that is filled with the placeholders it names, and the bug tables of all six
assignments and the hostile submissions are graded in both languages: the points are identical, and what a
student reads is in Chinese.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import re
import string
import sys
import threading
from pathlib import Path

import pytest

from autograder import i18n
from autograder.course import PACKAGE_DIR
from examples import samples
from tests.conftest import grade_assignment

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
ZH = "zh_CN"


def _messages_tool():
    spec = importlib.util.spec_from_file_location("messages_tool", ROOT / "scripts" / "messages.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("messages_tool", module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- choosing the language

@pytest.mark.parametrize("value, expected", [
    ("zh_CN", ZH), ("zh", ZH), ("zh-CN", ZH), ("zh_CN.UTF-8", ZH), ("ZH_cn", ZH), ("zh-Hans", ZH),
    ("en", "en"), ("en_US.UTF-8", "en"), ("C", "en"), ("POSIX", "en"),
    ("fr_FR", None), ("", None), (None, None), (3, None), ("zh_TW", None)])
def test_a_setting_names_a_catalog_language_or_none(value, expected):
    assert i18n.normalize(value) == expected


def test_the_environment_overrides_the_notebook_which_overrides_the_bundle_default(monkeypatch):
    zh_notebook = {"metadata": {"autograder": {"lang": "zh"}}}
    monkeypatch.delenv(i18n.ENV, raising=False)
    assert i18n.for_notebook(zh_notebook) == ZH
    assert i18n.for_notebook({"metadata": {}}) == i18n.bundle_default() == "en"
    monkeypatch.setenv(i18n.ENV, "en_US.UTF-8")
    assert i18n.for_notebook(zh_notebook) == "en"
    monkeypatch.setenv(i18n.ENV, "klingon")  # unknown: as if unset
    assert i18n.for_notebook(zh_notebook) == ZH


def test_a_bundle_released_in_chinese_defaults_to_it(tmp_path, monkeypatch):
    monkeypatch.delenv(i18n.ENV, raising=False)
    default = tmp_path / "default"
    default.write_text("zh_CN\n", encoding="utf-8")
    monkeypatch.setattr(i18n, "DEFAULT_FILE", default)
    i18n.bundle_default.cache_clear()
    try:
        assert i18n.default_language() == i18n.current() == ZH
        assert i18n.for_notebook({"metadata": {"autograder": {"lang": "en"}}}) == "en"
    finally:
        i18n.bundle_default.cache_clear()


def test_each_thread_keeps_its_own_language():
    """A batch grades several notebooks at once on worker threads: one's language never leaks into another's."""
    message = "cannot read {path}: {reason}"
    barrier, seen, errors = threading.Barrier(8), {}, []

    def work(number: int) -> None:
        lang = ZH if number % 2 else "en"
        try:
            with i18n.language(lang):
                barrier.wait(timeout=10)
                for _ in range(200):
                    seen.setdefault(number, set()).add(i18n._(message))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for number, texts in seen.items():
        assert len(texts) == 1, texts
        assert bool(CJK.search(next(iter(texts)))) == bool(number % 2), (number, texts)
    assert i18n._(message) == message  # outside every block: the default, English


# ---------------------------------------------------------------- the catalogs

def test_every_message_has_a_chinese_translation_with_the_same_placeholders_and_the_mo_files_are_current():
    problems = _messages_tool().problems()
    assert not problems, f"{len(problems)} problems, first: " + "\n".join(problems[:30])


KEYWORDS = {"_", "N_", "ngettext", "gettext"}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) and node.func.attr in ("gettext", "ngettext") \
                else None
            if name in KEYWORDS:
                yield node


def _placeholders(text: str) -> set[str]:
    return {field.split(".")[0].split("[")[0] for _, field, _, _ in string.Formatter().parse(text) if field}


def test_every_translatable_call_is_a_literal_filled_with_the_placeholders_it_names():
    """Babel extracts literals only: `_(f"...")` or `_("a" + b)` would be English in every language. A message
    with `{name}` placeholders is filled by `.format(name=...)` right after translation, with exactly those names."""
    found = []
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        where = path.relative_to(ROOT)
        for call in _calls(tree):
            first = call.args[0] if call.args else None
            built = isinstance(first, (ast.JoinedStr, ast.BinOp)) or (
                isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute)
                and isinstance(first.func.value, (ast.Constant, ast.JoinedStr)))  # "...".format(...) inside
            if built:
                found.append(f"{where}:{call.lineno}: not a literal message")
                continue
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
                continue  # a constant marked with N_ where it is defined
            texts = [first.value] + [a.value for a in call.args[1:2] if isinstance(a, ast.Constant)]
            if any(re.search(r"(?<!\{)\{\}|%[sdr]", text) for text in texts):
                found.append(f"{where}:{call.lineno}: positional placeholder in {first.value!r}")
            wanted = set().union(*map(_placeholders, texts))
            parent = parents.get(call)
            formatted = isinstance(parent, ast.Attribute) and parent.attr == "format"
            if not wanted or getattr(call.func, "id", None) == "N_":
                continue  # N_ marks a constant: it is filled where it is translated
            if isinstance(parent, (ast.Assign, ast.AnnAssign)):
                continue  # held in a name and filled further on
            if not formatted:
                found.append(f"{where}:{call.lineno}: {first.value!r} has placeholders but is not .format()ed")
                continue
            fill = parents[parent]
            if any(k.arg is None for k in fill.keywords):
                continue  # **values: checked at run time
            given = {k.arg for k in fill.keywords}
            if given != wanted or fill.args:
                found.append(f"{where}:{call.lineno}: {first.value!r} names {sorted(wanted)}, filled with "
                             f"{sorted(given)}{' and positional values' if fill.args else ''}")
    assert not found, "\n".join(found)


def test_the_hidden_checks_text_is_in_its_own_catalog_and_not_in_the_public_one():
    tool = _messages_tool()
    public, hidden = tool.domains()
    public_ids = {m.id for m in tool.extract(public) if m.id}
    hidden_only = {m.id for m in tool.extract(hidden) if m.id} - public_ids
    catalog = tool.read(public.po(ZH), ZH, "autograder")
    assert not [m.id for m in catalog if m.id in hidden_only]
    assert all(HIDDEN_LOCALE not in p.parents for p in public.sources)


HIDDEN_LOCALE = PACKAGE_DIR / "checks" / "hidden" / "locale"


def test_the_chinese_bundle_defaults_to_chinese_and_carries_no_hidden_catalog(tmp_path):
    from autograder.authoring.bundle import write_bundle

    if not (ROOT / "assignments-zh").is_dir():
        pytest.skip("assignments-zh/ is not released here")
    files = write_bundle(ROOT, tmp_path / "bundle", lang="zh")
    names = {p.relative_to(tmp_path / "bundle").as_posix() for p in files}
    assert (tmp_path / "bundle" / "autograder" / "locale" / "default").read_text().strip() == ZH
    assert "autograder/locale/zh_CN/LC_MESSAGES/autograder.mo" in names
    hidden = [n for n in names if n.startswith("autograder/checks/hidden/")]
    assert hidden == ["autograder/checks/hidden/__init__.py"], hidden


# ---------------------------------------------------------------- the bug tables in both languages

CHECK_TESTS = ["test_rnn_checks", "test_lstm_checks", "test_gru_checks", "test_bptt_checks", "test_embeddings_checks",
               "test_language_model_checks"]


def _bugs():
    for name in CHECK_TESTS:
        module = importlib.import_module(f"tests.{name}")
        for bug in module.BUGS:
            yield pytest.param(module.A, bug, id=f"{module.A}:{bug.name}")


def _read(results) -> dict:
    return {group: (result.score, [(c.name, c.passed, c.message) for c in result.cases], result.hint)
            for group, result in results.items()}


@pytest.mark.parametrize("assignment, bug", list(_bugs()))
def test_a_bug_costs_the_same_points_in_chinese_and_every_message_about_it_is_chinese(assignment, bug):
    with i18n.language("en"):
        english = _read(grade_assignment(assignment, bug.overrides))
    with i18n.language(ZH):
        chinese = _read(grade_assignment(assignment, bug.overrides))
    assert set(english) == set(chinese)
    for group in english:
        (en_score, en_cases, en_hint), (zh_score, zh_cases, zh_hint) = english[group], chinese[group]
        assert en_score == zh_score, group
        assert [(n, p) for n, p, _ in en_cases] == [(n, p) for n, p, _ in zh_cases], group
        for (name, passed, en_message), (_, _, zh_message) in zip(en_cases, zh_cases):
            if not passed and en_message:
                assert CJK.search(zh_message or ""), (group, name, en_message, zh_message)
        assert (en_hint is None) == (zh_hint is None), group
        if en_hint:
            assert CJK.search(zh_hint), (group, en_hint, zh_hint)


# ---------------------------------------------------------------- the hostile submissions in both languages

@pytest.mark.slow
def test_hostile_submissions_cost_the_same_in_chinese_and_say_so_in_chinese(tmp_path):
    """The hostile table, graded once with English notebooks and once with the same notebooks marked Chinese
    (`autograder.lang`), in one batch: identical points per test cell; the Chinese results say it in Chinese."""
    from autograder.judge import grading
    from autograder.judge.runner import Limits
    from tests import test_hostile as hostile

    submitted, out = tmp_path / "submitted", tmp_path / "out"
    a = hostile.A
    for name, spec in hostile.HOSTILE.items():
        if "SOLUTIONS_FILE" in json.dumps(spec) or "OTHER_RESULTS" in json.dumps(spec):
            continue  # these read planted files: covered in English by tests/test_hostile.py
        nb = samples.make_notebook(a, spec.get("overrides", {}), spec.get("added"))
        samples.write_notebook(nb, submitted / name / a / f"{a}.ipynb")
        nb.setdefault("metadata", {}).setdefault("autograder", {})["lang"] = "zh"
        samples.write_notebook(nb, submitted / f"{name}-zh" / a / f"{a}.ipynb")
    limits = Limits(call_seconds=5, cell_seconds=15, submission_seconds=90, memory_bytes=1024**3)
    grading.grade_batch(submitted, a, out, workers=2, progress=False, limits=limits)
    results = {p.parent.parent.name: json.loads(p.read_text()) for p in out.glob(f"*/{a}/results.json")}
    pairs = [(name, results[name], results[f"{name}-zh"]) for name in results if not name.endswith("-zh")]
    assert len(pairs) >= 10
    for name, en, zh in pairs:
        assert zh["extra_data"]["language"] == ZH and en["extra_data"]["language"] == "en", name
        def scores(result):
            return [(t["extra_data"]["check_group"], t.get("visibility"), t["score"]) for t in result["tests"]]

        assert scores(en) == scores(zh), name
        for en_test, zh_test in zip(en["tests"], zh["tests"]):
            for en_case, zh_case in zip(en_test["extra_data"].get("cases", []), zh_test["extra_data"].get("cases", [])):
                if not en_case["passed"] and en_case.get("message"):
                    assert CJK.search(zh_case.get("message") or ""), (name, en_case, zh_case)
        if en["extra_data"].get("error"):
            assert CJK.search(zh["extra_data"]["error"]), (name, zh["extra_data"]["error"])
