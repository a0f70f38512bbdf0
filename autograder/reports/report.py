"""Plain-text tables of results, for a terminal and for a notebook's check cell."""

from __future__ import annotations

import unicodedata

from autograder.i18n import _
from autograder.reports import textsafe
from autograder.reports.results import GroupResult


def _wrap(message: str, indent: str) -> str:
    """A student's message, indented under its case, with nothing in it a terminal would act on."""
    return textsafe.for_terminal(message).replace("\n", "\n" + indent)


def points(value: float) -> str:
    """A number of points as every text view shows it (the feedback page too): at most two decimals."""
    return f"{round(value, 2):g}"


def hidden_statement(later: float, total: float) -> str:
    """The hidden share, said before any public number: what the public checks cannot show yet."""
    return _("{later} of {total} points are graded after the due date").format(later=points(later),
                                                                                total=points(total))


def format_group(group: GroupResult, show_hidden: bool = True) -> str:
    """A test cell's result as text. Where its hidden cases did not run (or are not to be shown), the public
    share is shown with the hidden share stated next to it: the same numbers results.json holds."""
    public_only = not show_hidden or not group.hidden_run
    score, max_score = group.share(False if public_only else None)
    later = group.share(True)[1] if public_only else 0.0
    head = _("{title}: {score} / {max_score} points").format(title=group.title, score=points(score),
                                                             max_score=points(max_score))
    if later:
        head = _("{head} ({hidden})").format(head=head, hidden=hidden_statement(later, group.points))
    lines = [head, *(f"  {note}" for note in group.notes())]
    shown = [case for case in group.cases if show_hidden or not case.hidden]
    if shown and group.unwritten():
        lines.append("  ✗ " + _("`{stub}` is not implemented yet: {count} case(s) wait for it").format(
            stub=group.stub, count=len(shown)))
        return "\n".join(lines)
    for case in shown:
        mark = "✓" if case.passed else "✗"
        line = f"  {mark} " + (_("{name} [hidden]").format(name=case.name) if case.hidden else case.name)
        if not case.passed:
            line += f"\n      {_wrap(case.message or '', '      ')}"
        elif case.note:
            line += "\n      " + _("note: {note}").format(note=_wrap(case.note, "      "))
        lines.append(line)
    if group.hint and any(not c.passed for c in shown):
        lines.append("  " + _("Hint: {hint}").format(hint=group.hint))
    return "\n".join(lines)


def score_table(rows: list[tuple[str, float, float, str]]) -> str:
    """rows: (student, score, max, note); student folder names and notes are shown as plain text."""
    rows = [(textsafe.for_terminal(s).replace("\n", " "), score, max_score, textsafe.for_terminal(n).replace("\n", " "))
            for s, score, max_score, n in rows]
    heads = (_("student"), _("score"), _("max"), _("note"))
    width = max([_width(heads[0])] + [_width(r[0]) for r in rows])
    out = [f"{_pad(heads[0], width)}  {_pad(heads[1], 7, True)}  {_pad(heads[2], 5, True)}  {heads[3]}",
           f"{'-' * width}  {'-' * 7}  {'-' * 5}  {'-' * max(4, _width(heads[3]))}"]
    for student, score, max_score, note in rows:
        out.append(f"{_pad(student, width)}  {score:>7.2f}  {max_score:>5g}  {note}")
    return "\n".join(out)


def _width(text: str) -> int:
    """The columns `text` takes in a terminal: a wide (CJK) character takes two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    space = " " * max(0, width - _width(text))
    return space + text if right else text + space
