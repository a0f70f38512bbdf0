"""HTML feedback pages: the submitted notebook with each check's result beside the test cell it belongs to.

Everything a student wrote is untrusted and the page is opened by instructors, so the notebook is
rebuilt from an allowlist before nbconvert sees it (plain cells, known output types, no metadata),
nbconvert sanitizes markdown and HTML outputs with a cleaner that keeps ordinary markdown, the page
carries a Content-Security-Policy that forbids scripts and remote loads, and a last pass removes any
script, frame or event-handler attribute that might still have slipped through. The page needs
neither JavaScript nor the network: the CSS is inline and MathJax, require.js and the widget
loaders of nbconvert's lab template are left out. Math in markdown is converted to MathML on the
server (latex2mathml), which browsers lay out themselves, so formulas read as formulas without a script.

Nothing a student writes may make one page cost more than its budget (PAGE_BUDGET seconds): each
formula, cell and rendered part checks the page's clock and counts the HTML tags it made, a page
typesets at most MAX_FORMULAS formulas, and a page past its time or size is written with the results
alone and a line that says why. A batch renders pages in processes it can stop, so a page that does
not come back in time is written that way too, and never holds up another student's page.
"""

from __future__ import annotations

import html
import os
import re
import threading
import time
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from autograder import i18n, notebook
from autograder.i18n import _, ngettext
from autograder.reports import sanitize
from autograder.reports.results import as_number, language_of, read_tests
from autograder.reports.sanitize import CSP, HEAD, MATHML_ATTRIBUTES, MATHML_TAGS, scrub, tex_to_mathml  # noqa: F401 - named here too

GROUP_KEY = "autograder_group"  # set by this module only: all student metadata is dropped first
SAFE_MIME = ("text/plain", "text/html", "text/markdown", "text/latex", "image/png", "image/jpeg", "image/svg+xml")
MAX_OUTPUT_CHARS = 200_000  # per output: a flood of prints must not make a page too big to open
MAX_IMAGE_CHARS = 4_000_000  # per image, base64: about 3 MB
BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")

PAGE_BUDGET = 10.0  # seconds one feedback page may take; past it the page holds the results alone
PAGE_MARGIN = 5.0  # a batch stops a page process that has not answered within budget + this
PROCESS_START = 120.0  # seconds a page process may take to import nbconvert, on a loaded machine
MAX_FORMULAS = 2_000  # typeset per page; the rest stay as the TeX written
MAX_FORMULA_CHARS = 10_000  # per formula; a longer one stays as the TeX written
MAX_FRAGMENT_TAGS = 40_000  # per cell or output: bleach's time grows with the square of an element's children
MAX_PAGE_TAGS = 200_000  # per page: nbconvert parses the whole page once more after rendering it
CELL_TAGS, OUTPUT_TAGS = 20, 8  # the tags nbconvert's template wraps a cell and an output in
LATE_NOTES = "<!-- autograder: notes known once the cells are rendered -->"

CSS = """
.ag { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; font-size: 14px;
      color: #1f2328; line-height: 1.45; }
.ag a { color: #0969da; }
.ag pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; white-space: pre-wrap;
          word-break: break-word; margin: 2px 0 4px 0; padding: 4px 8px; background: #f6f8fa; border-radius: 4px; }
.ag-summary { margin: 16px 16px 24px 16px; padding: 16px 20px; border: 1px solid #d0d7de; border-radius: 8px;
              background: #ffffff; }
.ag-summary h1 { font-size: 22px; margin: 0 0 4px 0; }
.ag-total { font-size: 18px; font-weight: 600; margin: 4px 0 12px 0; }
.ag-meta { border-collapse: collapse; margin: 8px 0; }
.ag-meta th { text-align: left; font-weight: 600; padding: 2px 16px 2px 0; vertical-align: top; color: #57606a; }
.ag-meta td { padding: 2px 0; vertical-align: top; }
.ag-toc { border-collapse: collapse; margin: 8px 0; min-width: 50%; }
.ag-toc th, .ag-toc td { border-bottom: 1px solid #eaeef2; padding: 3px 12px 3px 0; text-align: left; }
.ag-toc td.ag-num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ag-alert { border-left: 4px solid #cf222e; background: #ffebe9; padding: 6px 10px; margin: 8px 0; }
.ag-note { border-left: 4px solid #9a6700; background: #fff8c5; padding: 6px 10px; margin: 8px 0; }
.ag-result { margin: 6px 16px 22px 16px; padding: 10px 14px; border: 1px solid #d0d7de;
             border-left: 6px solid #8c959f; border-radius: 6px; background: #ffffff; }
.ag-result.ag-pass { border-left-color: #1a7f37; background: #f6fff8; }
.ag-result.ag-fail { border-left-color: #cf222e; background: #fff8f7; }
.ag-result.ag-partial { border-left-color: #bf8700; background: #fffcf0; }
.ag-result h2 { font-size: 15px; margin: 0 0 6px 0; display: flex; justify-content: space-between; gap: 16px; }
.ag-score { font-variant-numeric: tabular-nums; white-space: nowrap; }
.ag-cases { list-style: none; margin: 0; padding: 0; }
.ag-cases li { margin: 2px 0; }
.ag-ok::before { content: "\\2713\\00a0"; color: #1a7f37; font-weight: 700; }
.ag-bad::before { content: "\\2717\\00a0"; color: #cf222e; font-weight: 700; }
.ag-tag { font-size: 11px; border: 1px solid #8c959f; border-radius: 8px; padding: 0 6px; margin-left: 6px;
          color: #57606a; }
.ag-hidden-note { color: #57606a; font-style: italic; margin: 6px 0 0 0; }
.ag-note { color: #57606a; font-size: 90%; }
.ag-hint { margin: 8px 0 0 0; padding: 6px 10px; background: #ddf4ff; border-left: 4px solid #0969da; }
.ag details summary { cursor: pointer; font-weight: 600; margin-top: 8px; }
.jp-Notebook .ag-result { margin: 6px var(--jp-cell-padding, 5px) 22px
                          calc(var(--jp-cell-prompt-width, 64px) + 2 * var(--jp-cell-padding, 5px) + 8px); }
.ag-orphans { margin: 24px 0; }
.ag-orphans > h2 { margin: 0 16px 8px 16px; font-size: 18px; }
"""

TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head -%}
{{ resources.autograder.head }}
{{ super() }}
{%- endblock html_head -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block input -%}
<div class="jp-CodeMirrorEditor jp-Editor jp-InputArea-editor" data-type="inline">
<div class="cm-editor cm-s-jupyter">
{{ cell.source | highlight_code(metadata=cell.metadata) | within_budget }}
</div>
</div>
{%- endblock input -%}
{%- block extra_css -%}<style type="text/css">{{ resources.autograder.css }}</style>{%- endblock extra_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.autograder.summary }}
{%- endblock body_header -%}
{%- block any_cell scoped -%}
{{ super() }}
{%- set group = cell.metadata.get('autograder_group') -%}
{%- if group %}{{ resources.autograder.blocks[group] }}{% endif -%}
{%- endblock any_cell -%}
{%- block body_footer -%}
{{ resources.autograder.orphans }}
{{ super() }}
{%- endblock body_footer -%}
"""


# ---------------------------------------------------------------- reading results.json back

@dataclass
class CaseLine:
    name: str
    passed: bool
    message: str
    hidden: bool


@dataclass
class GroupView:
    """One check group of results.json: its public and hidden entries joined again."""

    group_id: str
    title: str
    cases: list[CaseLine] = field(default_factory=list)
    hints: dict[bool, str] = field(default_factory=dict)  # hidden? → hint shown in that entry
    notes: dict[bool, list[str]] = field(default_factory=dict)  # lines that are not cases (e.g. the error)
    scores: dict[bool, tuple[float, float]] = field(default_factory=dict)  # hidden? → (score, max)

    def share(self, show_hidden: bool) -> tuple[float, float]:
        chosen = [v for hidden, v in self.scores.items() if show_hidden or not hidden]
        return sum(s for s, _ in chosen), sum(m for _, m in chosen)


def group_views(result: dict) -> list[GroupView]:
    """The check groups of one results.json, read through `results.read_tests` (cases as data, never parsed
    back from the output text)."""
    views: dict[str, GroupView] = {}
    for test in read_tests(result):
        view = views.setdefault(test.group_id, GroupView(test.group_id, test.title))
        if not test.hidden:
            view.title = test.title
        for case in test.cases:
            message = case.message if not case.passed else (_("note: {note}").format(note=case.note) if case.note
                                                            else "")
            view.cases.append(CaseLine(case.name, case.passed, message, test.hidden))
        if test.hint:
            view.hints[test.hidden] = test.hint
        if test.notes:
            view.notes.setdefault(test.hidden, []).extend(test.notes)
        score, max_score = view.scores.get(test.hidden, (0.0, 0.0))
        view.scores[test.hidden] = (score + test.score, max_score + test.max_score)
    return list(views.values())


def _points(value: float) -> str:
    return f"{round(value, 2):g}"


def _form(value: float) -> int:
    """The count that picks a message's form for `value` points or lines (English: singular for exactly 1)."""
    return 1 if value == 1 else 2


# ---------------------------------------------------------------- the result blocks

def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def render_group(view: GroupView, show_hidden: bool, error: str | None = None) -> str:
    """One check group's result: title, score, each case with its message, the hint.

    `error` is the submission's own error, already in the header: a group that only repeats it says so briefly.
    """
    score, max_score = view.share(show_hidden)
    shown = [c for c in view.cases if show_hidden or not c.hidden]
    if shown and all(c.passed for c in shown) and score >= max_score:
        status = "ag-pass"
    elif score <= 0:
        status = "ag-fail"
    else:
        status = "ag-partial"
    parts = [f'<section class="ag ag-result {status}" id="check-{_e(view.group_id)}">',
             f'<h2><span>{_e(view.title)}</span><span class="ag-score">{_points(score)} / {_points(max_score)}'
             "</span></h2>"]
    for hidden in (False, True):
        for note in view.notes.get(hidden, []) if show_hidden or not hidden else []:
            text = _("not graded: see the error at the top of the page") if error and note == error else note
            parts.append(f'<div class="ag-alert">{_e(text)}</div>')
    if shown:
        parts.append('<ul class="ag-cases">')
        for case in shown:
            tag = '<span class="ag-tag">' + _e(_("hidden")) + "</span>" if case.hidden else ""
            if case.passed and case.message.strip():  # a note kept with a passed case (an inconclusive one)
                parts.append(f'<li class="ag-ok">{_e(case.name)}{tag}<div class="ag-note">'
                             f"{_e(case.message.strip())}</div></li>")
            elif case.passed:
                parts.append(f'<li class="ag-ok">{_e(case.name)}{tag}</li>')
            else:
                parts.append(f'<li class="ag-bad">{_e(case.name)}{tag}<pre>{_e(case.message)}</pre></li>')
        parts.append("</ul>")
    withheld = [c for c in view.cases if c.hidden and not show_hidden]
    if withheld:
        hidden_max = view.scores.get(True, (0.0, 0.0))[1]
        points = ngettext("{count} point", "{count} points", _form(hidden_max)).format(count=_points(hidden_max))
        note = ngettext("{count} hidden case ({points}), shown after the due date",
                        "{count} hidden cases ({points}), shown after the due date",
                        len(withheld)).format(count=len(withheld), points=points)
        parts.append(f'<p class="ag-hidden-note">{_e(note)}</p>')
    hints = [view.hints[h] for h in (False, True) if h in view.hints and (show_hidden or not h)]
    for hint in dict.fromkeys(hints):
        parts.append('<div class="ag-hint"><strong>' + _e(_("Hint:")) + f"</strong> {_e(hint)}</div>")
    parts.append("</section>")
    return "\n".join(parts)


def render_summary(result: dict, views: list[GroupView], show_hidden: bool, note: str | None = None) -> str:
    """The header: who, which assignment, the total, how it was graded, what went wrong, the captured output."""
    extra = result.get("extra_data") or {}
    student, assignment = extra.get("student", "?"), extra.get("assignment", "?")
    score = sum(v.share(show_hidden)[0] for v in views)
    max_score = sum(v.share(show_hidden)[1] for v in views)
    parts = ['<header class="ag ag-summary">', f"<h1>{_e(assignment)} — {_e(student)}</h1>"]
    if show_hidden:
        total = _("{score} / {max_score} points").format(score=_points(as_number(result.get("score", score))),
                                                          max_score=_points(as_number(extra.get("max_score",
                                                                                                max_score))))
        parts.append(f'<p class="ag-total">{_e(total)}</p>')
    else:
        withheld = sum(v.scores.get(True, (0.0, 0.0))[1] for v in views)
        if withheld:
            total = _("{score} / {max_score} points from the public checks; {withheld} more points from hidden cases "
                      "after the due date").format(score=_points(score), max_score=_points(max_score),
                                                   withheld=_points(withheld))
        else:
            total = _("{score} / {max_score} points from the public checks").format(score=_points(score),
                                                                                     max_score=_points(max_score))
        parts.append(f'<p class="ag-total">{_e(total)}</p>')
    if extra.get("error"):
        kind = _("Grader error (not the submission's fault; it will be graded again):") if extra.get("grader_error") \
            else _("Error:")
        parts.append(f'<div class="ag-alert"><strong>{html.escape(kind, quote=False)}</strong> '
                     f'{_e(extra["error"])}</div>')
    if note:
        parts.append(f'<div class="ag-note">{_e(note)}</div>')
    for line in str(result.get("output", "")).split("\n")[1:]:
        if line.strip() and not line.startswith((_("Error: {error}").format(error=""), "Error: ")):
            parts.append(f'<div class="ag-note">{_e(line)}</div>')
    rows = [(_("Limits hit"), ", ".join(map(str, extra.get("limits_hit") or [])) or _("none")),
            (_("Execution time"), _("{seconds} s").format(seconds=f"{as_number(result.get('execution_time')):.2f}")),
            (_("Isolation"), extra.get("isolation") or "—"),
            (_("Grader version"), extra.get("grader_version") or "—"),
            (_("Checks hash"), extra.get("checks_hash") or "—")]
    parts.append('<table class="ag-meta">' + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
                 + "</table>")
    parts.append('<table class="ag-toc"><tr><th>' + _e(_("Check")) + "</th><th>" + _e(_("Points")) + "</th></tr>")
    for view in views:
        got, out_of = view.share(show_hidden)
        parts.append(f'<tr><td><a href="#check-{_e(view.group_id)}">{_e(view.title)}</a></td>'
                     f'<td class="ag-num">{_points(got)} / {_points(out_of)}</td></tr>')
    parts.append("</table>")
    captured = str(extra.get("captured_output") or "")
    if captured and show_hidden:
        lines = captured.count("\n") + (not captured.endswith("\n"))
        heading = ngettext("Captured output ({count} line)", "Captured output ({count} lines)", lines).format(
            count=lines)
        parts.append(f"<details><summary>{_e(heading)}</summary><pre>{_e(captured)}</pre></details>")
    elif captured:
        # The probe's output includes prints made while hidden cases ran, so it waits with them.
        later = _("The output your code printed while graded is shown after the due date.")
        parts.append(f'<p class="ag-hidden-note">{_e(later)}</p>')
    parts.append("</header>")
    return "\n".join(parts)


def _orphans(views: list[GroupView], blocks: dict[str, str]) -> str:
    if not views:
        return ""
    return ('<section class="ag ag-orphans"><h2>' + _e(_("Checks whose test cell is not in the notebook")) + "</h2>\n"
            + "\n".join(blocks[v.group_id] for v in views) + "</section>")


# ---------------------------------------------------------------- the notebook, rebuilt from an allowlist

def _text(value: object) -> str:
    text = "".join(map(str, value)) if isinstance(value, list) else str(value or "")
    if len(text) > MAX_OUTPUT_CHARS:
        text = text[:MAX_OUTPUT_CHARS] + "\n" + _("… [{count} more characters not shown]").format(
            count=len(text) - MAX_OUTPUT_CHARS)
    return text


def _clean_output(output: dict) -> dict | None:
    kind = output.get("output_type")
    if kind == "stream":
        name = output.get("name") if output.get("name") in ("stdout", "stderr") else "stdout"
        return {"output_type": "stream", "name": name, "text": _text(output.get("text"))}
    if kind == "error":
        traceback = output.get("traceback")
        return {"output_type": "error", "ename": _text(output.get("ename")), "evalue": _text(output.get("evalue")),
                "traceback": [_text(line) for line in traceback] if isinstance(traceback, list) else []}
    if kind in ("display_data", "execute_result"):
        raw = output.get("data") if isinstance(output.get("data"), dict) else {}
        data = {}
        for mime in SAFE_MIME:
            if mime not in raw:
                continue
            value = "".join(map(str, raw[mime])) if isinstance(raw[mime], list) else raw[mime]
            if not isinstance(value, str):
                continue
            if mime in ("image/png", "image/jpeg"):
                if len(value) > MAX_IMAGE_CHARS:
                    data["text/plain"] = _("[an image of {size} MiB, too large to show]").format(
                        size=len(value) * 3 // 4 // 2**20)
                elif BASE64.match(value):
                    data[mime] = value
            else:
                data[mime] = _text(value)
        if not data:
            return None
        cleaned = {"output_type": kind, "data": data, "metadata": {}}
        if kind == "execute_result":
            count = output.get("execution_count")
            cleaned["execution_count"] = count if isinstance(count, int) and not isinstance(count, bool) else None
        return cleaned
    return None


def _clean_attachments(attachments: object) -> dict:
    kept = {}
    for name, bundle in (attachments or {}).items() if isinstance(attachments, dict) else []:
        if not isinstance(bundle, dict):
            continue
        images = {m: v for m, v in bundle.items() if m in ("image/png", "image/jpeg", "image/gif")
                  and isinstance(v, str) and BASE64.match(v)}
        if images and re.fullmatch(r"[\w.\- ]{1,100}", str(name)):
            kept[str(name)] = images
    return kept


def clean_notebook(node: dict, marks: dict[int, str], title: str):
    """A new notebook holding only what the page shows; `marks` maps a cell index to its check group."""
    nbformat = notebook._import_nbformat()
    cells = []
    for index, cell in enumerate(node.get("cells", [])):
        _spend(CELL_TAGS)
        kind = cell.get("cell_type")
        source = _text(cell.get("source"))
        metadata = {GROUP_KEY: marks[index]} if index in marks else {}
        if kind == "code":
            count = cell.get("execution_count")
            raw_outputs = cell.get("outputs") if isinstance(cell.get("outputs"), list) else []
            outputs = [o for o in (_clean_output(r) for r in raw_outputs if isinstance(r, dict)) if o]
            _spend(OUTPUT_TAGS * len(outputs))
            cells.append({"cell_type": "code", "id": f"cell-{index}", "metadata": metadata, "source": source,
                          "execution_count": count if isinstance(count, int) and not isinstance(count, bool)
                          else None, "outputs": outputs})
        elif kind in ("markdown", "raw"):
            cleaned = {"cell_type": kind, "id": f"cell-{index}", "metadata": metadata, "source": source}
            if kind == "markdown":
                attachments = _clean_attachments(cell.get("attachments"))
                if attachments:
                    cleaned["attachments"] = attachments
            cells.append(cleaned)
    metadata = {"title": title, "language_info": {"name": "python"},
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    return nbformat.from_dict({"nbformat": 4, "nbformat_minor": 5, "metadata": metadata, "cells": cells})


def mark_test_cells(node: dict, group_ids: list[str]) -> dict[int, str]:
    """cell index → check group, for the first cell of each group's grade_id (a test cell preferred)."""
    marks: dict[int, str] = {}
    cells = node.get("cells", [])
    for gid in group_ids:
        matching = [i for i, c in enumerate(cells) if isinstance(c, dict) and notebook.grade_id(c) == gid]
        tests = [i for i in matching if notebook.is_test_cell(cells[i])]
        chosen = (tests or matching)[:1]
        if chosen:
            marks[chosen[0]] = gid
    return marks


# ---------------------------------------------------------------- what a page may cost

class _OverBudget(Exception):
    """The page's time or size is spent: it is written with the results alone, and this reason."""


@dataclass
class _PageClock:
    """One page's budget: its deadline, and the HTML tags and formulas it has made so far."""

    budget: float
    deadline: float
    tags: int = 0
    formulas: int = 0
    left_as_tex: int = 0

    def spend(self, tags: int = 0) -> None:
        self.tags += tags
        if time.monotonic() > self.deadline:
            raise _OverBudget(_over_budget_note(self.budget))
        if self.tags > MAX_PAGE_TAGS:
            raise _OverBudget(_("The notebook is too large to show (its page would hold more than {tags} HTML "
                                "tags): results only.").format(tags=f"{MAX_PAGE_TAGS:,}"))

    def late_notes(self) -> str:
        if not self.left_as_tex:
            return ""
        note = ngettext("{count} formula is shown as the TeX written: a page typesets at most {formulas} formulas, "
                        "of at most {chars} characters each.",
                        "{count} formulas are shown as the TeX written: a page typesets at most {formulas} formulas, "
                        "of at most {chars} characters each.", self.left_as_tex).format(
            count=f"{self.left_as_tex:,}", formulas=f"{MAX_FORMULAS:,}", chars=f"{MAX_FORMULA_CHARS:,}")
        return f'<div class="ag-note">{_e(note)}</div>'


_page_clock: ContextVar[_PageClock | None] = ContextVar("feedback_page_clock", default=None)


def _over_budget_note(budget: float) -> str:
    return _("The notebook took longer than {seconds} s to render: results only.").format(seconds=f"{budget:g}")


def _spend(tags: int = 0) -> None:
    """Count `tags` against the page being rendered, and stop it once its time or size is spent."""
    clock = _page_clock.get()
    if clock is not None:
        clock.spend(tags)


def within_budget(part: str) -> str:
    """A rendered part of the page, counted against it (a template filter)."""
    _spend(part.count("<"))
    return part


def _page_formula(tex: str, display: bool) -> str | None:
    """MathML for one formula of the page being rendered, or None past the page's formulas."""
    clock = _page_clock.get()
    if clock is not None:
        clock.spend()
        if clock.formulas >= MAX_FORMULAS or len(tex) > MAX_FORMULA_CHARS:
            clock.left_as_tex += 1
            return None
        clock.formulas += 1
    return tex_to_mathml(tex, display)


def _as_written(text: str, what: str) -> str:
    """`text` as written, under a line that says why; `what` is "cell" (a markdown cell) or "part" (any other)."""
    if what == "cell":
        why = _("This cell has more than {tags} HTML tags, too many to lay out: it is shown as written.")
    else:
        why = _("This part of the notebook has more than {tags} HTML tags, too many to lay out: it is shown as "
                "written.")
    return f"<p><em>{_e(why.format(tags=f'{MAX_FRAGMENT_TAGS:,}'))}</em></p><pre>{_e(text)}</pre>"


# ---------------------------------------------------------------- sanitizing and exporting

_export_lock = threading.Lock()
def clean_html(fragment: object) -> str:
    """Student HTML with ordinary markdown markup kept (headings, paragraphs, tables, inline images).

    nbconvert's own cleaner escapes headings and paragraphs, which would turn every markdown cell
    into visible tags; this one keeps them and still drops scripts, handlers, styles and remote URLs.
    """
    text = fragment.decode() if isinstance(fragment, bytes) else str(fragment)
    _spend()
    if text.count("<") > MAX_FRAGMENT_TAGS:
        return within_budget(_as_written(text, "part"))
    return within_budget(sanitize.clean(text))


@lru_cache(maxsize=1)
def _exporter():
    notebook._import_nbformat()  # before nbconvert, which imports jsonschema too
    from jinja2 import DictLoader, pass_context
    from nbconvert import HTMLExporter
    from nbconvert.filters import ansi2html
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath

    class MathMLRenderer(IPythonRenderer):
        """nbconvert's markdown renderer, with the formulas it finds written as MathML instead of TeX."""

        def block_math(self, body: str) -> str:
            return _page_formula(body, display=True) or super().block_math(body)

        def inline_math(self, body: str) -> str:
            return _page_formula(body, display=False) or super().inline_math(body)

        def latex_environment(self, name: str, body: str) -> str:
            return _page_formula(f"\\begin{{{name}}}{body}\\end{{{name}}}", display=True) or \
                super().latex_environment(name, body)

    class FeedbackExporter(HTMLExporter):
        @pass_context  # the cell's attachments come from the template's context, as in nbconvert's own filter
        def markdown2html(self, context, source):
            _spend()
            cell = context.get("cell", {})
            renderer = MathMLRenderer(escape=False, attachments=cell.get("attachments", {}), embed_images=False,
                                      exclude_anchor_links=True)
            rendered = MarkdownWithMath(renderer=renderer).render(source)
            return _as_written(source, "cell") if rendered.count("<") > MAX_FRAGMENT_TAGS else rendered

    exporter = FeedbackExporter(template_name="lab",
                                extra_loaders=[DictLoader({"autograder_feedback.html.j2": TEMPLATE})],
                                template_file="autograder_feedback.html.j2", sanitize_html=True, embed_images=False,
                                exclude_anchor_links=True)
    exporter.register_filter("clean_html", clean_html)
    exporter.register_filter("within_budget", within_budget)
    exporter.register_filter("ansi2html", lambda text: within_budget(ansi2html(text)))  # every text output
    return exporter


def _blocks(result: dict, views: list[GroupView], show_hidden: bool) -> dict[str, str]:
    error = (result.get("extra_data") or {}).get("error")
    return {v.group_id: render_group(v, show_hidden, str(error) if error else None) for v in views}


def _results_only_page(result: dict, views: list[GroupView], show_hidden: bool, note: str | None) -> str:
    extra = result.get("extra_data") or {}
    blocks = _blocks(result, views, show_hidden)
    title = _("Feedback: {student} — {assignment}").format(student=extra.get("student", "?"),
                                                            assignment=extra.get("assignment", "?"))
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n" + HEAD
            + '\n<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
            + f"<title>{_e(title)}</title>\n<style>{CSS}\nbody {{ margin: 0 auto; max-width: 1100px; "
            "background: #f6f8fa; }}</style>\n</head>\n<body>\n"
            + render_summary(result, views, show_hidden, note) + "\n"
            + "\n".join(blocks[v.group_id] for v in views) + "\n</body>\n</html>\n")


def render_feedback(notebook_path: Path | None, result: dict, show_hidden: bool, root: Path | None = None,
                    budget: float | None = None) -> str:
    """The feedback page for one submission: its notebook with results beside the test cells, as one HTML file.

    A notebook that is missing, unreadable or cannot be rendered still gets a page with the results alone
    and a line that says why. `show_hidden` is the instructor's view (or the student's after the due date).
    `root`: the submissions folder, which the notebook is opened from without following a link.
    `budget`: the seconds this page may take (default PAGE_BUDGET); a page that takes longer, or would hold
    more than MAX_PAGE_TAGS tags, has the results alone and says so.
    """
    with i18n.language(language_of(result)):  # the page speaks the submission's language
        page = _render_feedback(notebook_path, result, show_hidden, root, budget)
    return page.replace('<html lang="en">', f'<html lang="{i18n.html_lang(language_of(result))}">', 1)


def _render_feedback(notebook_path: Path | None, result: dict, show_hidden: bool, root: Path | None,
                     budget: float | None) -> str:
    budget = PAGE_BUDGET if budget is None else budget
    clock = _PageClock(budget, time.monotonic() + budget)
    views = group_views(result)
    if notebook_path is None:
        return scrub(_results_only_page(result, views, show_hidden, _("No notebook was found for this submission.")))
    try:
        node = notebook.read(notebook_path, root)
    except notebook.NotebookError as exc:
        same = str(exc) == (result.get("extra_data") or {}).get("error")
        note = _("The notebook cannot be shown, for the same reason.") if same else \
            _("The notebook cannot be shown: {error}").format(error=exc)
        return scrub(_results_only_page(result, views, show_hidden, note))
    extra = result.get("extra_data") or {}
    marks = mark_test_cells(node, [v.group_id for v in views])
    placed = set(marks.values())
    blocks = _blocks(result, views, show_hidden)
    summary = render_summary(result, views, show_hidden).removesuffix("</header>") + LATE_NOTES + "</header>"
    resources = {"autograder": {
        "head": HEAD, "css": CSS, "blocks": blocks, "summary": summary,
        "orphans": _orphans([v for v in views if v.group_id not in placed], blocks)}}
    title = _("Feedback: {student} — {assignment}").format(student=extra.get("student", "?"),
                                                            assignment=extra.get("assignment", "?"))
    token = _page_clock.set(clock)
    try:
        with _export_lock:
            clock.spend()
            page, _resources = _exporter().from_notebook_node(clean_notebook(node, marks, title), resources=resources)
        clock.spend()
    except _OverBudget as exc:
        return scrub(_results_only_page(result, views, show_hidden, str(exc)))
    except Exception as exc:  # noqa: BLE001 - a notebook nbconvert chokes on still gets its results
        note = _("The notebook could not be rendered ({kind}: {error}); results only.").format(
            kind=type(exc).__name__, error=str(exc)[:200])
        return scrub(_results_only_page(result, views, show_hidden, note))
    finally:
        _page_clock.reset(token)
    return scrub(page.replace(LATE_NOTES, clock.late_notes(), 1))


def write_feedback(path: Path, notebook_path: Path | None, result: dict, show_hidden: bool = True,
                   root: Path | None = None, budget: float | None = None) -> Path:
    """Write the feedback page atomically (a batch killed midway leaves no half page)."""
    from autograder.files import write_atomic

    path = Path(path)
    write_atomic(path, render_feedback(notebook_path, result, show_hidden, root, budget))
    return path


def _write_results_only(path: Path, result: dict, show_hidden: bool, note: Any) -> None:
    """The page with the results alone; `note()` says why, in the submission's language."""
    from autograder.files import write_atomic

    with i18n.language(language_of(result)):
        page = _results_only_page(result, group_views(result), show_hidden, note())
    lang = i18n.html_lang(language_of(result))
    write_atomic(path, scrub(page.replace('<html lang="en">', f'<html lang="{lang}">', 1)))


PAGES_PER_PROCESS = 4  # below this many pages a process's start-up (nbconvert's import) costs more than it saves


def write_batch_feedback(submitted: Path, assignment: str, out_dir: Path, show_hidden: bool = True,
                         workers: int | None = None, budget: float | None = None) -> list[Path]:
    """feedback.html next to every OUT_DIR/<student>/<ID>/results.json, from SUBMITTED/<student>/<ID>/*.ipynb.

    Pages are rendered in `workers` processes (default: one a core): nbconvert is pure Python, and a
    class's pages would otherwise take longer than grading it. Each page has `budget` seconds (default
    PAGE_BUDGET); a process that has not finished its page PAGE_MARGIN seconds after that is stopped and the
    page written here with the results alone, as is a page whose process died. A page that fails in a
    worker is written again here, so one bad page never costs another student theirs."""
    from autograder.notebook import find_notebook
    from autograder.reports.results import read_result, result_files

    budget = PAGE_BUDGET if budget is None else budget
    jobs = []
    for results_file in result_files(Path(out_dir), assignment):
        result = read_result(results_file)
        if result is None:
            continue
        student = results_file.parent.parent.name
        folder = Path(submitted) / student / assignment
        try:
            notebook_path = find_notebook(folder, assignment, Path(submitted))
        except notebook.NotebookError:  # a linked folder: the results say so, the page shows no notebook
            notebook_path = None
        jobs.append((results_file.parent / "feedback.html", notebook_path, result, show_hidden, Path(submitted),
                     budget))
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) // PAGES_PER_PROCESS))
    fates = _write_in_processes(jobs, workers, budget + PAGE_MARGIN) if workers > 1 else [None] * len(jobs)
    for job, fate in zip(jobs, fates):
        path, _notebook, result, show_hidden, _root, _budget = job
        if fate == "overdue":
            _write_results_only(path, result, show_hidden, lambda: _over_budget_note(budget))
        elif fate == "lost":
            _write_results_only(path, result, show_hidden, lambda: _(
                "The notebook could not be rendered (the process rendering it stopped); results only."))
        elif fate is None:
            write_feedback(*job)
    return [job[0] for job in jobs]


@dataclass
class _PageProcess:
    """A process that writes feedback pages, and the page it is on (None: idle, or still starting)."""

    process: Any
    conn: Any
    ready: bool = False
    job: int | None = None
    since: float = field(default_factory=time.monotonic)  # when it started, or was sent its page

    def due(self, limit: float) -> float | None:
        """When it must have answered, or None while it waits for a page."""
        if not self.ready:
            return self.since + PROCESS_START
        return self.since + limit if self.job is not None else None


def _page_server(conn: Any, write: Any) -> None:
    """A page process: import nbconvert, then write each page it is sent until it is sent None."""
    _exporter()
    conn.send("ready")
    while (job := conn.recv()) is not None:
        try:
            write(*job)
        except Exception:  # noqa: BLE001 - the batch writes this page again itself
            conn.send(False)
        else:
            conn.send(True)


def _write_in_processes(jobs: list[tuple], workers: int, limit: float, write: Any = write_feedback) -> list[str | None]:
    """`write(*job)` for each job in `workers` processes; each job's fate: "written", "overdue" (its process
    took longer than `limit` seconds and was stopped), "lost" (its process died) or None (for the caller to
    write: the process reported a failure, or none could start)."""
    import multiprocessing
    from multiprocessing.connection import wait

    # Never fork the grader (it holds torch's threads): a fresh interpreter that imports only this module.
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    fates: list[str | None] = [None] * len(jobs)
    waiting = deque(range(len(jobs)))
    running: list[_PageProcess] = []

    def start() -> None:
        try:
            conn, child = context.Pipe()
            process = context.Process(target=_page_server, args=(child, write), daemon=True)
            process.start()
        except Exception:  # noqa: BLE001 - no process can start (a locked-down machine): the caller writes the pages
            return
        child.close()
        running.append(_PageProcess(process, conn))

    def stop(worker: _PageProcess) -> None:
        running.remove(worker)
        worker.process.kill()
        worker.process.join()
        worker.conn.close()

    try:
        for _ in range(workers):
            start()
        while running and (waiting or any(w.job is not None for w in running)):
            for worker in list(running):
                if worker.ready and worker.job is None and waiting:
                    worker.job, worker.since = waiting.popleft(), time.monotonic()
                    try:
                        worker.conn.send(jobs[worker.job])
                    except OSError:  # it died while waiting for a page: the page goes to another
                        waiting.appendleft(worker.job)
                        stop(worker)
            dues = [d for d in (w.due(limit) for w in running) if d is not None]
            if not dues:
                continue
            answered = wait([w.conn for w in running], timeout=max(0.0, min(dues) - time.monotonic()))
            now = time.monotonic()
            for worker in list(running):
                due = worker.due(limit)
                if worker.conn in answered:
                    try:
                        reply = worker.conn.recv()
                    except (EOFError, OSError):
                        reply = "lost"
                elif due is not None and due < now:
                    reply = "overdue"
                else:
                    continue
                if reply == "ready":
                    worker.ready = True
                elif reply in (True, False):
                    fates[worker.job], worker.job = ("written" if reply else None), None
                else:  # it died, or outlasted its page: that page is written by the caller, the others go on
                    stop(worker)
                    if worker.job is not None:
                        fates[worker.job] = reply
                        if waiting:
                            start()
    finally:
        for worker in list(running):
            try:
                worker.conn.send(None)
            except OSError:
                pass
            worker.process.join(timeout=5)
            stop(worker)
    return fates
