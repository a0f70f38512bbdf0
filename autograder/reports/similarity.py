"""Similar submissions: how much of each student's own code another student's also holds. A lead, never a grade.

`autograder similarity SUBMITTED -a ID -o OUT` reads SUBMITTED/<student>/<ID>/<ID>.ipynb as grading
does (`notebook.find_notebook`, `notebook.read`: no link followed, no FIFO opened, size-capped), keeps
the solution cells only (the released notebook's solution grade_ids), removes every fingerprint of the
code the released notebook already holds (signature lines, docstrings, `raise NotImplementedError()`
stubs, every other released code cell), compares every pair of students, and writes
OUT/similarity/<ID>.json (the top pairs, the students with no own code, the skipped notebooks and why)
and OUT/similarity/<ID>.html (each top pair's code side by side, matched regions marked). A notebook
that cannot be read, or is another assignment's, is listed as skipped with its reason.

The comparison is copydetect's (MIT; https://github.com/blingenf/copydetect): Pygments tokenises the
code and replaces every name with V, function names with F, class names with O and strings with S, so
renamed variables change nothing; the fingerprints are the hashes of every k-gram of those tokens
(winnowing with a window of one, so the result is the same on every run), compared as sets, so functions
moved around still match; it reports where each match lies in both texts, which the page highlights.
It needs no browser and no network, and its dependencies (numpy, matplotlib, jinja2, pygments, tqdm)
are already this project's. It was chosen over:
- compare50 1.2.15 (CS50; released recently): GPLv3 where this project is MIT, and it pins attrs<21,
  which would downgrade the attrs that jsonschema (nbformat's validator) needs; it also pulls in lib50
  (git, requests, cryptography: CS50's submission tool), and its report is a JavaScript page (d3);
- pycode-similar 1.4 (last release 2020): AST-based, so also blind to renames, but it has no
  boilerplate subtraction, compares one reference with the others (all pairs means one run a student,
  function by function through difflib), marks no regions (it names which function matched which),
  and stops on the first cell that does not parse.
Of copydetect, the tokeniser, the fingerprints (`CodeFingerprint`) and the pairwise comparison
(`compare_files`) are used. Its HTML report and its file walking are not: the report loads Bootstrap
from a CDN and opens a browser, and the walker opens paths itself (a link would be followed). Its
boilerplate filter is not used either: 0.5.0 passes a fingerprint list with repeats to
`np.intersect1d(assume_unique=True)`, which then also drops repeated k-grams of the student's own code;
the released code's fingerprints are removed from each `CodeFingerprint` here, by hash, instead.

What is compared: a student's solution cells as one text, without the k-grams the released notebook's
code cells hold (each cell fingerprinted on its own) and without those that span two cells (the end of
one function joined to the next one's signature). A pair's score is the larger of its two shares: the
share of A's compared tokens that B's code also holds, and the reverse, so one who copied a part of a
longer solution is found too. A student whose solution cells hold nothing past the released code (or
too little to fingerprint: no run of NOISE_THRESHOLD filtered tokens of their own) is listed as having
no own code and takes part in no pair. On the page the lines of the released cells are greyed, never
marked as matched, even where a match runs into them.
"""

from __future__ import annotations

import html
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import i18n
from autograder.i18n import N_, _
from autograder.reports import textsafe

NOISE_THRESHOLD = 25  # k: matches shorter than this many filtered tokens (characters of V, F, S, operators) are noise
TOP = 10
MAX_CODE_CHARS = 200_000  # a whole notebook's solution cells are ~5,000 characters; past this, skipped with a reason
FOLDER = "similarity"
LEAD = N_("A lead for the instructor to look into, never a grade: similar code can be honest (a common idiom, "
          "the lecture's example, allowed collaboration), and different code can still be copied.")  # shown as _(LEAD)


@dataclass
class Pair:
    students: tuple[str, str]
    shares: tuple[float, float]  # the share of each one's compared tokens that the other's code holds too
    matched_tokens: int
    slices: tuple = field(repr=False)  # where the matches lie in each one's text: copydetect's (2, n) start/end arrays

    @property
    def score(self) -> float:
        return max(self.shares)


@dataclass
class Outcome:
    assignment: str
    codes: dict[str, str]  # student → their solution cells as one text, as the page shows it
    given: dict[str, list[tuple[int, int]]]  # student → where that text holds the released cells' own lines
    compared: list[str]
    no_own_code: list[str]
    skipped: list[tuple[str, str]]  # (student, reason)
    pairs: list[Pair]  # every pair with a match, highest score first
    seconds: float = 0.0


def result_path(out_dir: Path, assignment: str) -> Path:
    """OUT/similarity/<ID>.json: what `autograder similarity -o OUT` writes, and what the class report reads."""
    return Path(out_dir) / FOLDER / f"{assignment}.json"


def page_path(out_dir: Path, assignment: str) -> Path:
    return Path(out_dir) / FOLDER / f"{assignment}.html"


def _cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source if isinstance(source, str) else ""


def solution_cells(nb: dict, solution_ids: list[str]) -> list[tuple[str, str]]:
    """(grade_id, source) of the notebook's solution cells, in the released order; a deleted one is left out."""
    from autograder.notebook import grade_id

    by_id = {grade_id(c): c for c in nb["cells"] if grade_id(c) in solution_ids}
    return [(gid, _cell_source(by_id[gid])) for gid in solution_ids if gid in by_id]


def document(cells: list[tuple[str, str]]) -> str:
    """The cells as one text, each under a comment naming its grade_id (comments are not compared)."""
    return "".join(f"{_header(gid)}{source.rstrip()}\n\n" for gid, source in cells)


def _header(gid: str) -> str:
    return f"# --- {gid} ---\n"


def released_cells(release: dict) -> list[tuple[str | None, str]]:
    """(grade_id, source) of every code cell of the released notebook: what every student was handed."""
    from autograder.notebook import grade_id

    return [(grade_id(c), _cell_source(c)) for c in release["cells"] if c.get("cell_type") == "code"]


def released_spans(cells: list[tuple[str, str]], released: dict[str, str]) -> list[tuple[int, int]]:
    """Where `document(cells)` holds lines of the released cell of the same grade_id (its signature, docstring
    and stub), and the headers `document` adds, as (start, end) offsets: the page greys them, never marks them."""
    import difflib

    spans, position = [], 0
    for gid, source in cells:
        spans.append((position, position + len(_header(gid))))
        position += len(_header(gid))
        text = source.rstrip()
        lines = text.splitlines(keepends=True)
        starts = [0]
        for line in lines:
            starts.append(starts[-1] + len(line))
        theirs = released.get(gid, "").rstrip().splitlines(keepends=True)
        matcher = difflib.SequenceMatcher(None, theirs, lines, autojunk=False)
        for block in matcher.get_matching_blocks():
            if block.size:
                spans.append((position + starts[block.b], position + starts[block.b + block.size]))
        position += len(text) + 2
    return spans


def read_class(submitted: Path, assignment: str, release: dict,
               root: Path | None = None) -> tuple[dict[str, list[tuple[str, str]]], list[tuple[str, str]]]:
    """Each student's solution cells, and the students skipped with the reason (unreadable, another assignment's).

    A folder that is not laid out as SUBMITTED/<student>/<ID>/ raises notebook.LayoutError, as grade-batch does."""
    from autograder import notebook
    from autograder.course import released_grade_ids

    submitted = Path(submitted).resolve()
    solution_ids = [notebook.grade_id(c) for c in release["cells"] if notebook.is_solution_cell(c)
                    and notebook.grade_id(c)]
    others = {a: ids for a, ids in released_grade_ids(root).items() if a != assignment}
    found: dict[str, list[tuple[str, str]]] = {}
    skipped: list[tuple[str, str]] = []
    for student in notebook.list_students(submitted, assignment):  # as grade-batch lists them; LayoutError if none
        try:
            path = notebook.find_notebook(submitted / student / assignment, assignment, submitted)
            if path is None:
                skipped.append((student, _("no .ipynb file in {folder}").format(folder=f"{student}/{assignment}")))
                continue
            nb = notebook.read(path, submitted)
            notebook.identify(release, nb, assignment, others)
            cells = solution_cells(nb, solution_ids)
        except notebook.NotebookError as exc:
            skipped.append((student, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - one strange notebook must not stop the comparison of the rest
            skipped.append((student, _("could not be read ({kind}: {error})").format(kind=type(exc).__name__,
                                                                                     error=str(exc)[:200])))
            continue
        size = sum(len(source) for _, source in cells)
        if size > MAX_CODE_CHARS:
            skipped.append((student, _("its solution cells hold {size} characters, past the {limit} compared").format(
                size=f"{size:,}", limit=f"{MAX_CODE_CHARS:,}")))
            continue
        found[student] = cells
    return found, skipped


def _hashes(code: str) -> set:
    """copydetect's fingerprints of one piece of code: every k-gram of its filtered tokens, hashed."""
    from copydetect import CodeFingerprint

    return CodeFingerprint("cell.py", NOISE_THRESHOLD, 1, filter=True, language="python", fp=io.StringIO(code)).hashes


def _fingerprint(cells: list[tuple[str, str]], boilerplate: set):
    """copydetect's fingerprint of a student's cells as one text, keeping only the k-grams that lie inside one
    cell (one that spans two cells joins the end of one function to the next one's signature) and that the
    released code does not hold."""
    from copydetect import CodeFingerprint
    from copydetect.utils import get_token_coverage

    inside = set().union(*(_hashes(source) for _, source in cells))
    fingerprint = CodeFingerprint("solution.py", NOISE_THRESHOLD, 1, filter=True, language="python",
                                  fp=io.StringIO(document(cells)))
    fingerprint.hashes = (fingerprint.hashes & inside) - boilerplate
    fingerprint.hash_idx = {h: i for h, i in fingerprint.hash_idx.items() if h in fingerprint.hashes}
    fingerprint.token_coverage = get_token_coverage(fingerprint.hash_idx, NOISE_THRESHOLD,
                                                    len(fingerprint.filtered_code))
    return fingerprint


def spans(slices) -> list[tuple[int, int]]:
    """copydetect's slices (an array of starts and one of ends, or empty) as (start, end) pairs."""
    if len(slices) != 2 or not len(slices[0]):
        return []
    return [(int(start), int(end)) for start, end in zip(slices[0], slices[1])]


def compare(assignment: str, students: dict[str, list[tuple[str, str]]], released: list[tuple[str | None, str]],
            skipped: list[tuple[str, str]] | None = None) -> Outcome:
    """Fingerprint each student's solution cells without the released code, then compare every pair.

    students: student → (grade_id, source) of their solution cells; released: the same of every released code cell.
    """
    from copydetect import compare_files

    started = time.monotonic()
    skipped = list(skipped or [])
    boilerplate = set().union(*(_hashes(source) for _, source in released))
    prints = {}
    for student, cells in students.items():
        try:
            prints[student] = _fingerprint(cells, boilerplate)
        except Exception as exc:  # noqa: BLE001 - a tokeniser failure on one student's code skips that student
            skipped.append((student, _("its code could not be fingerprinted ({kind})").format(kind=type(exc).__name__)))
    compared = sorted(s for s, p in prints.items() if p.hashes)
    no_own_code = sorted(s for s, p in prints.items() if not p.hashes)
    pairs = []
    for i, a in enumerate(compared):
        for b in compared[i + 1:]:
            if prints[a].hashes.isdisjoint(prints[b].hashes):
                continue
            tokens, shares, slices = compare_files(prints[a], prints[b])
            pairs.append(Pair((a, b), (round(float(shares[0]), 4), round(float(shares[1]), 4)), int(tokens),
                              slices))
    pairs.sort(key=lambda p: (-p.score, -min(p.shares), p.students))
    by_id = {gid: source for gid, source in released if gid}
    return Outcome(assignment, {s: prints[s].raw_code for s in prints},
                   {s: released_spans(students[s], by_id) for s in prints}, compared, no_own_code, sorted(skipped),
                   pairs, time.monotonic() - started)


def find_similar(submitted: Path, assignment: str, root: Path | None = None) -> Outcome:
    """Read the class in SUBMITTED and compare every pair of students' own code in `assignment`.

    root: the course whose released notebooks are used (default: `course.course_root()`)."""
    from autograder import notebook
    from autograder.course import released_notebook

    started = time.monotonic()
    release = notebook.read(released_notebook(assignment, root))
    students, skipped = read_class(submitted, assignment, release, root)
    outcome = compare(assignment, students, released_cells(release), skipped)
    outcome.seconds = time.monotonic() - started
    return outcome


# ---------------------------------------------------------------- outputs

def _percent(value: float) -> str:
    return f"{100 * value:.0f}%"


def to_json(outcome: Outcome, top: int = TOP) -> dict:
    from copydetect import __version__

    return textsafe.deep({
        "assignment": outcome.assignment, "note": _(LEAD), "library": f"copydetect {__version__}",
        "noise_threshold": NOISE_THRESHOLD, "compared": outcome.compared, "no_own_code": outcome.no_own_code,
        "skipped": [{"student": s, "reason": r} for s, r in outcome.skipped],
        "pairs": [{"students": list(p.students), "score": p.score, "shares": list(p.shares),
                   "matched_tokens": p.matched_tokens} for p in outcome.pairs[:top]],
        "page": page_path(Path("."), outcome.assignment).name, "seconds": round(outcome.seconds, 3)})


def text_table(outcome: Outcome, top: int = TOP) -> str:
    """The top pairs as a plain-text table; student folder names are shown as plain text."""
    def name(text: str) -> str:
        return textsafe.for_terminal(text).replace("\n", " ")

    rows = [(str(rank), name(p.students[0]), name(p.students[1]), _percent(p.score), _percent(p.shares[0]),
             _percent(p.shares[1]), str(p.matched_tokens)) for rank, p in enumerate(outcome.pairs[:top], 1)]
    head = ("#", _("student A"), _("student B"), _("score"), _("of A"), _("of B"), _("matched"))
    widths = [max(_width(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(_pad(c, w, left=i in (1, 2)) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [head, tuple("-" * w for w in widths), *rows]]
    if not rows:
        lines.append(_("(no two students' own code shares a match)"))
    if outcome.no_own_code:
        lines.append("\n" + _("no own code (only the released stubs, or too little to compare): {students}").format(
            students=", ".join(map(name, outcome.no_own_code))))
    for student, reason in outcome.skipped:
        lines.append(_("skipped {student}: {reason}").format(student=name(student), reason=name(reason)))
    return "\n".join(lines)


def _width(text: str) -> int:
    """The columns `text` takes in a terminal: a wide character (Chinese) takes two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, left: bool) -> str:
    space = " " * max(0, width - _width(text))
    return text + space if left else space + text


def _e(text: object) -> str:
    return html.escape(textsafe.for_file(str(text)), quote=True)


def _t(text: str) -> str:
    """A translated heading or sentence as the text of an element (its values are escaped where they are filled in)."""
    return html.escape(text, quote=False)


def _highlighted(code: str, matched: list[tuple[int, int]], given: list[tuple[int, int]]) -> str:
    """`code` escaped for HTML: matched regions in <mark>, the released cells' own lines greyed (never marked)."""
    import itertools

    kinds = bytearray(len(code))  # 0 the student's, 1 matched, 2 released
    for spans, kind in ((matched, 1), (given, 2)):
        for start, end in spans:
            start, end = max(0, start), min(len(code), end)
            if start < end:
                kinds[start:end] = bytes([kind]) * (end - start)
    wrap = ("{}", "<mark>{}</mark>", '<span class="given">{}</span>')
    parts, position = [], 0
    for kind, run in itertools.groupby(kinds):
        length = sum(1 for _ in run)
        parts.append(wrap[kind].format(_e(code[position:position + length])))
        position += length
    return "".join(parts)


CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; font-size: 14px;
       color: #1f2328; margin: 0 auto; padding: 16px 24px 48px 24px; max-width: 1400px; line-height: 1.45; }
h1 { font-size: 24px; margin: 8px 0; }
h2 { font-size: 18px; margin: 28px 0 8px 0; padding-top: 10px; border-top: 2px solid #d0d7de; }
table { border-collapse: collapse; margin: 6px 0 12px 0; }
th, td { border-bottom: 1px solid #eaeef2; padding: 4px 12px 4px 0; text-align: left; vertical-align: top; }
th { font-weight: 600; color: #57606a; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.lead { border-left: 4px solid #9a6700; background: #fff8c5; padding: 8px 12px; margin: 10px 0; font-weight: 600; }
.muted { color: #57606a; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.side h3 { font-size: 14px; margin: 4px 0; }
pre { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; white-space: pre-wrap;
      word-break: break-word; margin: 0; background: #f6f8fa; padding: 6px 8px; border-radius: 4px; }
mark { background: #ffd8b5; }
.given { color: #8c959f; }
"""
CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def render_page(outcome: Outcome, top: int = TOP) -> str:
    """The page: the lead notice, the top pairs, then each pair's code side by side with the matches marked."""
    from copydetect import __version__

    pairs = outcome.pairs[:top]
    title = _("Similar submissions — {assignment}")
    title = _t(title).format(assignment=_e(outcome.assignment))
    method = _("{count} students compared on their solution cells, with the code the released notebook already "
               "holds taken out; copydetect {version}, matches of at least {tokens} tokens (names do not count: "
               "renamed variables still match). A pair's score is the larger of its two shares: how much of one's "
               "own code the other's holds too.")
    method = _t(method).format(count=len(outcome.compared), version=_e(__version__), tokens=NOISE_THRESHOLD)
    parts = [f"<h1>{title}</h1>", f'<p class="lead">{_e(_(LEAD))}</p>', f"<p>{method}</p>"]
    if pairs:
        headings = ("#", _("Student A"), _("Student B"), _("Score"), _("Of A"), _("Of B"), _("Matched tokens"))
        parts.append("<table><tr>" + "".join(f"<th>{_t(h)}</th>" for h in headings) + "</tr>" + "".join(
                         f'<tr><td><a href="#pair-{rank}">{rank}</a></td><td>{_e(p.students[0])}</td>'
                         f'<td>{_e(p.students[1])}</td><td class="num">{_percent(p.score)}</td>'
                         f'<td class="num">{_percent(p.shares[0])}</td><td class="num">{_percent(p.shares[1])}</td>'
                         f'<td class="num">{p.matched_tokens}</td></tr>' for rank, p in enumerate(pairs, 1))
                     + "</table>")
    else:
        parts.append('<p class="muted">' + _t(_("No two students' own code shares a match.")) + "</p>")
    if outcome.no_own_code:
        # the message's own markup (<b>) is the catalog's, trusted; the student names are escaped
        parts.append("<p>" + _("<b>No own code</b> (only the released stubs, or too little to compare): "
                               "{students}").format(students=", ".join(_e(s) for s in outcome.no_own_code)) + "</p>")
    if outcome.skipped:
        parts.append("<p><b>" + _t(_("Skipped")) + "</b></p><table><tr><th>" + _t(_("Student")) + "</th><th>"
                     + _t(_("Why")) + "</th></tr>" + "".join(
            f"<tr><td>{_e(s)}</td><td>{_e(r)}</td></tr>" for s, r in outcome.skipped) + "</table>")
    matched = _("{student} — {share} of their code matched")
    for rank, pair in enumerate(pairs, 1):
        columns = "".join(
            "<div><h3>" + _t(matched).format(student=_e(student), share=_percent(share)) + "</h3>"
            f"<pre>{_highlighted(outcome.codes[student], spans(slices), outcome.given[student])}</pre></div>"
            for student, share, slices in zip(pair.students, pair.shares, pair.slices))
        heading = _("{rank}. {first} and {second}: {score}")
        heading = _t(heading).format(
            rank=rank, first=_e(pair.students[0]), second=_e(pair.students[1]), score=_percent(pair.score))
        parts.append(f'<h2 id="pair-{rank}">{heading}</h2><div class="side">{columns}</div>')
    return (f"<!DOCTYPE html>\n<html lang=\"{i18n.html_lang()}\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1.0">\n'
            f"<title>{title}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(parts) + "\n</body>\n</html>\n")


def write(outcome: Outcome, out_dir: Path, top: int = TOP) -> tuple[Path, Path]:
    """Write OUT/similarity/<ID>.json and <ID>.html; returns their paths."""
    from autograder.files import write_atomic

    data, page = result_path(out_dir, outcome.assignment), page_path(out_dir, outcome.assignment)
    write_atomic(page, render_page(outcome, top))
    write_atomic(data, json.dumps(to_json(outcome, top), indent=2, ensure_ascii=False) + "\n")
    return data, page
