"""The class report: what an instructor reads after a deadline, built from a batch's results files.

Per assignment: the score histogram, every check group by failure rate with its most common failing
message, the time each submission took, the submissions that hit a limit or could not be graded, and
every forbidden call the by-hand rules found (zeroed, or flagged for review).
Everything is computed from OUT_DIR/<student>/<ID>/results.json, so a report can be rebuilt at any
time (after a resumed or merged batch) without grading again.
"""

from __future__ import annotations

import functools
import html
import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from autograder import i18n
from autograder.i18n import _
from autograder.reports.results import REPORT_DIR, as_number, read_result, read_tests, result_files

SLOWEST = 5
# A number standing alone (not part of a name like h_0 or float32): error magnitudes, indices, values.
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?!\w)")


@dataclass
class Submission:
    student: str
    assignment: str
    data: dict

    @property
    def extra(self) -> dict:
        extra = self.data.get("extra_data")
        return extra if isinstance(extra, dict) else {}

    @property
    def score(self) -> float:
        return as_number(self.data.get("score"))

    @property
    def max_score(self) -> float:
        return as_number(self.extra.get("max_score"))

    @property
    def execution_time(self) -> float:
        return as_number(self.data.get("execution_time"))

    @property
    def error(self) -> str | None:
        return str(self.extra["error"]) if self.extra.get("error") else None

    @property
    def grader_error(self) -> bool:
        return bool(self.extra.get("grader_error"))

    @property
    def by_hand(self) -> list[dict]:
        """The forbidden calls found in this submission, as results.json records them (well-formed ones only)."""
        found = self.extra.get("by_hand")
        keys = ("check_group", "stub", "policy", "message")
        return [{k: str(f[k]) for k in keys} for f in found if isinstance(f, dict) and all(k in f for k in keys)] \
            if isinstance(found, list) else []

    @property
    def limits_hit(self) -> list[str]:
        value = self.extra.get("limits_hit") or []
        return [str(v) for v in value] if isinstance(value, list) else [str(value)]

    @property
    def graded(self) -> bool:
        """Its checks ran: a submission that could not be read, or was cut short by the grader, tells nothing."""
        return not self.error


def message_key(message: str) -> str:
    """A failing message with its numbers replaced, so the same mistake with other magnitudes counts once."""
    return " ".join(NUMBER.sub("#", message).split())


def load(out_dir: Path, assignments: list[str] | None = None) -> tuple[dict[str, list[Submission]], list[str]]:
    """Submissions per assignment, and the results files that could not be read (relative paths)."""
    out_dir = Path(out_dir)
    found: dict[str, list[Submission]] = {}
    unreadable: list[str] = []
    for path in result_files(out_dir):
        student, assignment = path.parent.parent.name, path.parent.name
        if student == REPORT_DIR or (assignments is not None and assignment not in assignments):
            continue
        data = read_result(path)
        if data is None:
            unreadable.append(str(path.relative_to(out_dir)))
            continue
        found.setdefault(assignment, []).append(Submission(student, assignment, data))
    for assignment in assignments or []:
        found.setdefault(assignment, [])
    return dict(sorted(found.items())), unreadable


def _check_table(submissions: list[Submission]) -> list[dict]:
    """Every check group, worst first: failure rate over graded submissions, and its most common failing message."""
    order: dict[str, dict] = {}
    graded = [s for s in submissions if s.graded]
    for sub in graded:
        failed_here: dict[str, set[str]] = {}
        tests = read_tests(sub.data)
        for test in tests:
            row = order.setdefault(test.group_id, {"group_id": test.group_id, "title": test.title, "points": 0.0,
                                                   "failed": 0, "graded": 0, "messages": Counter(), "raw": {}})
            if not test.hidden:
                row["title"] = test.title
            if test.status != "failed":
                continue
            messages = [c.message for c in test.cases if not c.passed and c.message] + test.notes
            bucket = failed_here.setdefault(test.group_id, set())
            for message in messages or [_("(no message)")]:
                key = message_key(message)
                bucket.add(key)
                row["raw"].setdefault(key, Counter())[message] += 1
        for gid in {t.group_id for t in tests}:
            order[gid]["graded"] += 1
        for gid, keys in failed_here.items():
            order[gid]["failed"] += 1
            order[gid]["messages"].update(keys)
    max_points = _points_per_group(graded)
    rows = []
    for index, row in enumerate(order.values()):
        common = row["messages"].most_common(1)
        key, count = common[0] if common else (None, 0)
        rows.append({
            "group_id": row["group_id"], "title": row["title"].removesuffix(" (hidden cases)"),
            "points": max_points.get(row["group_id"], 0.0), "failed": row["failed"], "graded": row["graded"],
            "failure_rate": row["failed"] / row["graded"] if row["graded"] else 0.0,
            "common_message": key, "common_count": count,
            "common_message_raw": row["raw"][key].most_common(1)[0][0] if key is not None else None,
            "order": index})
    rows.sort(key=lambda r: (-r["failure_rate"], r["order"]))
    for row in rows:
        del row["order"]
    return rows


def _points_per_group(submissions: list[Submission]) -> dict[str, float]:
    if not submissions:
        return {}
    points: dict[str, float] = {}
    for test in read_tests(submissions[0].data):
        points[test.group_id] = round(points.get(test.group_id, 0.0) + test.max_score, 4)
    return points


def _histogram(scores: list[float], max_score: float) -> dict:
    """Equal bins from 0 to the maximum: one a point for small maxima, at most 20."""
    import numpy as np

    bins = int(min(20, max(5, round(max_score)))) if max_score > 0 else 5
    top = max_score if max_score > 0 else max(scores + [1.0])
    counts, edges = np.histogram(np.clip(scores, 0, top), bins=bins, range=(0, top))
    return {"edges": [round(float(e), 4) for e in edges], "counts": [int(c) for c in counts]}


def _times(submissions: list[Submission]) -> dict:
    import numpy as np

    times = [s.execution_time for s in submissions]
    if not times:
        return {"median": None, "p90": None, "max": None, "slowest": []}
    slowest = sorted(submissions, key=lambda s: -s.execution_time)[:SLOWEST]
    return {"median": round(float(np.median(times)), 3), "p90": round(float(np.percentile(times, 90)), 3),
            "max": round(max(times), 3),
            "slowest": [{"student": s.student, "seconds": round(s.execution_time, 3)} for s in slowest]}


def _feedback_link(out_dir: Path, sub: Submission) -> str | None:
    if (out_dir / sub.student / sub.assignment / "feedback.html").is_file():
        return f"../{quote(sub.student)}/{quote(sub.assignment)}/feedback.html"
    return None


def _assignment_summary(out_dir: Path, submissions: list[Submission]) -> dict:
    scored = [s for s in submissions if not s.grader_error]
    maxima = Counter(s.max_score for s in submissions if s.max_score > 0)
    max_score = maxima.most_common(1)[0][0] if maxima else 0.0
    scores = [s.score for s in scored]
    return {
        "submissions": len(submissions),
        "graded": sum(s.graded for s in submissions),
        "errors": sum(bool(s.error) and not s.grader_error for s in submissions),
        "grader_errors": sum(s.grader_error for s in submissions),
        "max_score": max_score,
        "mean": round(statistics.fmean(scores), 4) if scores else None,
        "median": round(statistics.median(scores), 4) if scores else None,
        "full_marks": sum(s.score >= max_score > 0 for s in scored),
        "histogram": _histogram(scores, max_score),
        "checks": _check_table(submissions),
        "time": _times(submissions),
        "limits": [{"student": s.student, "limits_hit": s.limits_hit, "error": s.error, "score": s.score,
                    "feedback": _feedback_link(out_dir, s)}
                   for s in submissions if (s.limits_hit or s.error) and not s.grader_error],
        "grader_error_list": [{"student": s.student, "error": s.error, "feedback": _feedback_link(out_dir, s)}
                              for s in submissions if s.grader_error],
        "by_hand": [{"student": s.student, "feedback": _feedback_link(out_dir, s), **finding}
                    for s in submissions for finding in s.by_hand],
        "students": [{"student": s.student, "score": s.score, "max_score": s.max_score,
                      "execution_time": s.execution_time, "error": s.error, "grader_error": s.grader_error,
                      "limits_hit": s.limits_hit, "feedback": _feedback_link(out_dir, s)} for s in submissions],
    }


def summary(out_dir: Path, assignments: list[str] | None = None) -> dict:
    """The report's numbers: per assignment scores, histogram, checks by failure rate, times, limits."""
    return _summarise(Path(out_dir), *load(out_dir, assignments))


def _summarise(out_dir: Path, found: dict[str, list[Submission]], unreadable: list[str]) -> dict:
    return {"out_dir": str(out_dir), "unreadable": len(unreadable), "unreadable_files": unreadable,
            "assignments": {a: _assignment_summary(out_dir, subs) for a, subs in found.items()}}


# ---------------------------------------------------------------- plots

CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "Noto Sans SC", "WenQuanYi Zen Hei", "WenQuanYi Micro Hei",
             "Microsoft YaHei", "SimHei", "PingFang SC", "Hiragino Sans GB", "Noto Sans CJK JP", "Droid Sans Fallback")


@functools.cache
def _fallback_fonts() -> tuple[str, ...]:
    """The Chinese fonts the charts fall back on for characters DejaVu Sans lacks (Chinese check titles, labels).

    matplotlib's font list is cached on disk: a font installed after it was written is added here."""
    from matplotlib import font_manager

    def known() -> list[str]:
        names = {font.name for font in font_manager.fontManager.ttflist}
        return [name for name in CJK_FONTS if name in names]

    if not known():
        for path in font_manager.findSystemFonts():
            if any(hint in Path(path).name.lower() for hint in ("cjk", "sourcehan", "wqy", "droidsansfallback")):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
    return tuple(known()[:1])


def _fonts():
    """The charts' fonts: matplotlib's default, then a Chinese one where the machine has one."""
    import matplotlib

    return matplotlib.rc_context({"font.family": ["DejaVu Sans", *_fallback_fonts()]})


def _figure(width: float = 5.0, height: float = 2.6):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=110, layout="constrained")
    return figure, figure.add_subplot()


def _plot_histogram(numbers: dict, path: Path) -> None:
    from matplotlib.ticker import MaxNLocator

    figure, ax = _figure()
    edges, counts = numbers["histogram"]["edges"], numbers["histogram"]["counts"]
    widths = [b - a for a, b in zip(edges, edges[1:])]
    ax.bar(edges[:-1], counts, width=widths, align="edge", color="#4c72b0", edgecolor="white")
    if numbers["max_score"]:
        ax.axvline(numbers["max_score"], color="#c44e52", linestyle="--", linewidth=1.5,
                   label=_("max score {score}").format(score=f"{numbers['max_score']:g}"))
    if numbers["median"] is not None:
        ax.axvline(numbers["median"], color="#55a868", linewidth=1.5,
                   label=_("median {score}").format(score=_p(numbers["median"])))
    ax.set_xlabel(_("score"))
    ax.set_ylabel(_("submissions"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, (numbers["max_score"] or edges[-1]) * 1.04)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False, fontsize=9)
    figure.savefig(path)


def _plot_checks(numbers: dict, path: Path) -> None:
    rows = numbers["checks"]
    figure, ax = _figure(5.0, max(1.6, 0.3 * len(rows) + 0.8))
    labels = [_shorten(r["title"], 48) for r in rows][::-1]
    rates = [100 * r["failure_rate"] for r in rows][::-1]
    ax.barh(range(len(rows)), rates, color=["#c44e52" if r >= 50 else "#dd8452" if r > 0 else "#55a868"
                                             for r in rates])
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel(_("submissions that lost points (%)"))
    figure.savefig(path)


def _plot_times(numbers: dict, submissions: list[Submission], path: Path) -> None:
    from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

    times = sorted((s.execution_time for s in submissions), reverse=True)
    figure, ax = _figure()
    ax.bar(range(1, len(times) + 1), times, width=0.8, color="#8172b3")
    stats = numbers["time"]
    if stats["median"] is not None:
        ax.axhline(stats["median"], color="#55a868", linewidth=1.2,
                   label=_("median {seconds} s").format(seconds=f"{stats['median']:.2f}"))
        ax.axhline(stats["p90"], color="#dd8452", linewidth=1.2, linestyle="--",
                   label=_("p90 {seconds} s").format(seconds=f"{stats['p90']:.2f}"))
        if stats["median"] > 0 and stats["max"] > 20 * stats["median"]:
            ax.set_yscale("log")  # one hung submission would otherwise flatten every other bar
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(_("submissions, slowest first"))
    ax.set_ylabel(_("seconds"))
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1), ncols=2, frameon=False, fontsize=9)
    figure.savefig(path)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# ---------------------------------------------------------------- the page

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; font-size: 14px;
       color: #1f2328; margin: 0 auto; padding: 16px 24px 48px 24px; max-width: 1200px; line-height: 1.45; }
h1 { font-size: 24px; margin: 8px 0; }
h2 { font-size: 20px; margin: 32px 0 8px 0; padding-top: 12px; border-top: 2px solid #d0d7de; }
h3 { font-size: 16px; margin: 20px 0 6px 0; }
table { border-collapse: collapse; margin: 6px 0 12px 0; }
th, td { border-bottom: 1px solid #eaeef2; padding: 4px 12px 4px 0; text-align: left; vertical-align: top; }
th { font-weight: 600; color: #57606a; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; white-space: pre-wrap;
      word-break: break-word; margin: 0; background: #f6f8fa; padding: 3px 6px; border-radius: 4px; }
.bar { display: inline-block; height: 10px; background: #c44e52; vertical-align: middle; margin-right: 6px; }
.bar.none { background: #55a868; width: 3px; }
.muted { color: #57606a; }
.alert { border-left: 4px solid #cf222e; background: #ffebe9; padding: 6px 10px; margin: 8px 0; }
.plots { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
.plots img { max-width: 100%; border: 1px solid #eaeef2; border-radius: 6px; }
nav a { margin-right: 14px; }
details summary { cursor: pointer; font-weight: 600; margin: 8px 0; }
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; form-action 'none'"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _t(text: str) -> str:
    """A translated heading or sentence as the text of an element (its values are escaped where they are filled in)."""
    return html.escape(text, quote=False)


def _h3(heading: str) -> str:
    return f"<h3>{_t(heading)}</h3>"


def _muted(text: str) -> str:
    return f'<p class="muted">{_t(text)}</p>'


def _th(*headings: str) -> str:
    """A table's heading row."""
    return "<tr>" + "".join(f"<th>{_t(h)}</th>" for h in headings) + "</tr>"


def _p(value: float | None) -> str:
    return "—" if value is None else f"{round(value, 2):g}"


def _student_cell(row: dict) -> str:
    name = _e(row["student"])
    return f'<a href="{_e(row["feedback"])}">{name}</a>' if row.get("feedback") else name


def _section(assignment: str, numbers: dict, images: dict[str, str]) -> str:
    slug = _e(assignment)
    parts = [f'<h2 id="{slug}">{slug}</h2>',
             "<p>" + _t(_("{submissions} submissions, {graded} graded; mean {mean}, median {median} of {max_score}; "
                          "{full_marks} with full marks.").format(
                 submissions=numbers["submissions"], graded=numbers["graded"], mean=_p(numbers["mean"]),
                 median=_p(numbers["median"]), max_score=_p(numbers["max_score"]),
                 full_marks=numbers["full_marks"])) + "</p>"]
    if numbers["submissions"] == 0:
        return "\n".join(parts + [_muted(_("No results for this assignment."))])
    parts.append('<div class="plots">' + "".join(
        f'<img src="{_e(src)}" alt="{_e(alt)}">' for alt, src in images.items()) + "</div>")

    parts.append(_h3(_("Checks by failure rate")))
    parts.append("<table>" + _th(_("Check"), _("Points"), _("Lost points"), _("Rate"),
                                 _("Most common failing message")))
    for row in numbers["checks"]:
        rate = row["failure_rate"]
        bar = f'<span class="bar" style="width:{round(80 * rate)}px"></span>' if rate else '<span class="bar none">' \
            "</span>"
        message = ""
        if row["common_message_raw"]:
            share = _("in {count} of {failed} failing submissions").format(count=row["common_count"],
                                                                            failed=row["failed"])
            message = f'<pre>{_e(row["common_message_raw"])}</pre><span class="muted">{_t(share)}</span>'
        parts.append(f'<tr><td>{_e(row["title"])}<br><span class="muted">{_e(row["group_id"])}</span></td>'
                     f'<td class="num">{_p(row["points"])}</td><td class="num">{row["failed"]} / {row["graded"]}</td>'
                     f'<td class="num">{bar}{100 * rate:.0f}%</td><td>{message}</td></tr>')
    parts.append("</table>")

    stats = numbers["time"]
    parts.append(_h3(_("Time per submission")))
    times = _("median {median} s, p90 {p90} s, slowest {slowest} s").format(
        median=f'{stats["median"]:.2f}', p90=f'{stats["p90"]:.2f}', slowest=f'{stats["max"]:.2f}')
    parts.append(f"<p>{_t(times)}</p>")
    students = {row["student"]: row for row in numbers["students"]}
    parts.append("<table>" + _th(_("Slowest"), _("Seconds")) + "".join(
        f'<tr><td>{_student_cell(students[r["student"]])}</td><td class="num">{r["seconds"]:.2f}</td></tr>'
        for r in stats["slowest"]) + "</table>")

    none = _muted(_("None."))
    parts.append(_h3(_("Limits hit and submissions that could not be graded")))
    if numbers["limits"]:
        parts.append("<table>" + _th(_("Student"), _("Limits hit"), _("Error"), _("Score")) + "".join(
            f'<tr><td>{_student_cell(r)}</td><td>{_e(", ".join(r["limits_hit"]) or "—")}</td>'
            f'<td>{_e(r["error"] or "—")}</td><td class="num">{_p(r["score"])}</td></tr>' for r in numbers["limits"])
            + "</table>")
    else:
        parts.append(none)
    parts.append(_h3(_("By hand: forbidden calls found")))
    if numbers["by_hand"]:
        verdicts = {"review": _t(_("for review (points kept)")), "zero": _t(_("points zeroed"))}
        parts.append("<table>" + _th(_("Student"), _("Function"), _("Verdict"), _("What was found"))
                     + "".join(f'<tr><td>{_student_cell(r)}</td><td><code>{_e(r["stub"])}</code><br>'
                               f'<span class="muted">{_e(r["check_group"])}</span></td>'
                               f'<td>{verdicts["review" if r["policy"] == "review" else "zero"]}</td>'
                               f'<td>{_e(r["message"])}</td></tr>' for r in numbers["by_hand"]) + "</table>")
    else:
        parts.append(none)
    if numbers["grader_error_list"]:
        heading = _("Grader errors (the grader's fault; these are graded again on the next run)")
        parts.append(_h3(heading))
        parts.append("<table>" + _th(_("Student"), _("Error")) + "".join(
            f'<tr><td>{_student_cell(r)}</td><td><pre>{_e(r["error"] or "")}</pre></td></tr>'
            for r in numbers["grader_error_list"]) + "</table>")

    summary = _("All {count} submissions").format(count=numbers["submissions"])
    parts.append(f"<details><summary>{_t(summary)}</summary>")
    parts.append("<table>" + _th(_("Student"), _("Score"), _("Seconds"), _("Note")) + "".join(
        f'<tr><td>{_student_cell(r)}</td><td class="num">{_p(r["score"])} / {_p(r["max_score"])}</td>'
        f'<td class="num">{r["execution_time"]:.2f}</td><td>{_e(_student_note(r))}</td>'
        "</tr>" for r in numbers["students"]) + "</table></details>")
    return "\n".join(parts)


def _student_note(row: dict) -> str:
    """What the list of all submissions says beside a student: the error, else the limits hit."""
    note = row["error"] or ", ".join(row["limits_hit"])
    return _("grader error: {error}").format(error=note) if row["grader_error"] else note


def similarity_section(out_dir: Path, assignment: str, shown: int = 5) -> str:
    """"Similar submissions": the top pairs from OUT/similarity/<ID>.json, where `autograder similarity` wrote one."""
    from autograder.reports.similarity import FOLDER, LEAD, page_path, result_path

    path = result_path(out_dir, assignment)
    if not path.is_file():
        return ""
    parts = [_h3(_("Similar submissions")), f'<p class="muted">{_e(_(LEAD))}</p>']
    try:
        pairs = json.loads(path.read_text(encoding="utf-8"))["pairs"][:shown]
        rows = [(str(p["students"][0]), str(p["students"][1]), float(p["score"])) for p in pairs]
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, IndexError):
        unread = _("{file} could not be read; run autograder similarity again.")
        return "\n".join(parts + [f'<p class="muted">{_t(unread).format(file=_e(path.name))}</p>'])
    no_match = _("No two students' own code shares a match.")
    parts.append("<table>" + _th(_("Student"), _("Student"), _("Similarity")) + "".join(
        f'<tr><td>{_e(a)}</td><td>{_e(b)}</td><td class="num">{100 * score:.0f}%</td></tr>' for a, b, score in rows)
        + "</table>" if rows else f'<p class="muted">{_t(no_match)}</p>')
    if page_path(out_dir, assignment).is_file():
        parts.append(f'<p><a href="../{FOLDER}/{quote(page_path(out_dir, assignment).name)}">'
                     + _t(_("Their code side by side")) + "</a></p>")
    return "\n".join(parts)


def write_class_report(out_dir: Path, assignments: list[str] | None = None) -> Path:
    """Write OUT_DIR/report/index.html and its PNG plots; returns the page's path."""
    from autograder.files import write_atomic

    out_dir = Path(out_dir)
    report = out_dir / REPORT_DIR
    report.mkdir(parents=True, exist_ok=True)
    found, unreadable = load(out_dir, assignments)
    numbers = _summarise(out_dir, found, unreadable)
    sections = []
    for assignment, data in numbers["assignments"].items():
        images: dict[str, str] = {}
        if data["submissions"]:
            stem = re.sub(r"[^\w.-]", "_", assignment)
            plots = {"scores": lambda p, d=data: _plot_histogram(d, p),
                     "checks": lambda p, d=data: _plot_checks(d, p),
                     "times": lambda p, d=data, a=assignment: _plot_times(d, found[a], p)}
            alts = {"scores": _("{assignment}: score histogram").format(assignment=assignment),
                    "checks": _("{assignment}: failure rate per check").format(assignment=assignment),
                    "times": _("{assignment}: seconds per submission").format(assignment=assignment)}
            for name, plot in plots.items():
                if name == "checks" and not data["checks"]:
                    continue
                with _fonts():
                    plot(report / f"{stem}_{name}.png")
                images[alts[name]] = f"{stem}_{name}.png"
        sections.append(_section(assignment, data, images) + similarity_section(out_dir, assignment))
    title = _("Class report — {assignments}").format(assignments=", ".join(numbers["assignments"])
                                                     or out_dir.resolve().name)
    header = [f"<h1>{_e(title)}</h1>", f'<p class="muted">{_e(str(out_dir.resolve()))}</p>']
    if numbers["assignments"]:
        header.append("<nav>" + "".join(f'<a href="#{_e(a)}">{_e(a)}</a>' for a in numbers["assignments"]) + "</nav>")
        header.append("<table>" + _th(_("Assignment"), _("Submissions"), _("Mean"), _("Median"), _("Max"),
                                      _("Full marks"), _("Limits or errors"), _("Grader errors")) + "".join(
                          f'<tr><td><a href="#{_e(a)}">{_e(a)}</a></td><td class="num">{d["submissions"]}</td>'
                          f'<td class="num">{_p(d["mean"])}</td><td class="num">{_p(d["median"])}</td>'
                          f'<td class="num">{_p(d["max_score"])}</td><td class="num">{d["full_marks"]}</td>'
                          f'<td class="num">{len(d["limits"])}</td><td class="num">{d["grader_errors"]}</td></tr>'
                          for a, d in numbers["assignments"].items()) + "</table>")
    else:
        header.append(_muted(_("No results files found.")))
    if numbers["unreadable"]:
        left_out = _("{count} results file(s) could not be read and are left out: {files}")
        files = ", ".join(_e(p) for p in numbers["unreadable_files"])
        header.append(f'<div class="alert">{_t(left_out).format(count=numbers["unreadable"], files=files)}</div>')
    page = (f"<!DOCTYPE html>\n<html lang=\"{i18n.html_lang()}\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
            f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(header + sections) + "\n</body>\n</html>\n")
    path = report / "index.html"
    write_atomic(path, page)
    return path
