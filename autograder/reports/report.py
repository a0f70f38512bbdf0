"""Plain-text tables of results, for a terminal and for a notebook's check cell."""

from __future__ import annotations

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
    return f"{points(later)} of {points(total)} points are graded after the due date"


def format_group(group: GroupResult, show_hidden: bool = True) -> str:
    """A test cell's result as text. Where its hidden cases did not run (or are not to be shown), the public
    share is shown with the hidden share stated next to it: the same numbers results.json holds."""
    public_only = not show_hidden or not group.hidden_run
    score, max_score = group.share(False if public_only else None)
    later = group.share(True)[1] if public_only else 0.0
    head = f"{group.title}: {points(score)} / {points(max_score)} points"
    if later:
        head += f" ({hidden_statement(later, group.points)})"
    lines = [head, *(f"  {note}" for note in group.notes())]
    shown = [case for case in group.cases if show_hidden or not case.hidden]
    if shown and group.unwritten():
        lines.append(f"  ✗ `{group.stub}` is not implemented yet: {len(shown)} case(s) wait for it")
        return "\n".join(lines)
    for case in shown:
        mark = "✓" if case.passed else "✗"
        tag = " [hidden]" if case.hidden else ""
        line = f"  {mark} {case.name}{tag}"
        if not case.passed:
            line += f"\n      {_wrap(case.message or '', '      ')}"
        elif case.note:
            line += f"\n      note: {_wrap(case.note, '      ')}"
        lines.append(line)
    if group.hint and any(not c.passed for c in shown):
        lines.append(f"  Hint: {group.hint}")
    return "\n".join(lines)


def score_table(rows: list[tuple[str, float, float, str]]) -> str:
    """rows: (student, score, max, note); student folder names and notes are shown as plain text."""
    rows = [(textsafe.for_terminal(s).replace("\n", " "), score, max_score, textsafe.for_terminal(n).replace("\n", " "))
            for s, score, max_score, n in rows]
    width = max([len("student")] + [len(r[0]) for r in rows])
    out = [f"{'student':<{width}}  {'score':>7}  {'max':>5}  note", f"{'-' * width}  {'-' * 7}  {'-' * 5}  ----"]
    for student, score, max_score, note in rows:
        out.append(f"{student:<{width}}  {score:>7.2f}  {max_score:>5g}  {note}")
    return "\n".join(out)
