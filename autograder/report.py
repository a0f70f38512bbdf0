"""Plain-text tables of results, for a terminal and for a notebook's check cell."""

from __future__ import annotations

from autograder.evaluate import GroupResult


def _wrap(message: str, indent: str) -> str:
    return message.replace("\n", "\n" + indent)


def format_group(group: GroupResult, show_hidden: bool = True) -> str:
    score, max_score = group.share(None if show_hidden else False)
    lines = [f"{group.title}: {score:g} / {max_score:g} points"]
    for case in group.cases:
        if case.hidden and not show_hidden:
            continue
        mark = "✓" if case.passed else "✗"
        tag = " [hidden]" if case.hidden else ""
        line = f"  {mark} {case.name}{tag}"
        if not case.passed:
            line += f"\n      {_wrap(case.message or '', '      ')}"
        lines.append(line)
    if group.hint and any(not c.passed for c in group.cases):
        lines.append(f"  Hint: {group.hint}")
    return "\n".join(lines)


def score_table(rows: list[tuple[str, float, float, str]]) -> str:
    """rows: (student, score, max, note)."""
    width = max([len("student")] + [len(r[0]) for r in rows])
    out = [f"{'student':<{width}}  {'score':>7}  {'max':>5}  note", f"{'-' * width}  {'-' * 7}  {'-' * 5}  ----"]
    for student, score, max_score, note in rows:
        out.append(f"{student:<{width}}  {score:>7.2f}  {max_score:>5g}  {note}")
    return "\n".join(out)
