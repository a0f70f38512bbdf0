"""The result model: one submission's result, how it is written (results.json, grades.csv), and the one
reader every output uses (feedback pages, the class report, CI, merge, gradebooks, resume).

Cases are data from end to end: each results.json test carries its cases under `extra_data.cases` (name,
passed, message, weight, kind, visibility, note), and readers take them from there, never from the
test's `output` text (which a student's message could fill with lines that look like passed cases).
Nothing here imports torch or the checks.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import __version__, i18n
from autograder.files import write_atomic
from autograder.i18n import _, ngettext
from autograder.reports import textsafe

VALUE = "value"  # a case that compares what the function computes with the oracle
FORM = "form"  # a case on the answer's form (shape, dtype, device, inputs unchanged, a contract)
NOT_IMPLEMENTED = "is not implemented yet (it raises NotImplementedError)"
UNWRITTEN = "`{stub}` " + NOT_IMPLEMENTED  # the check's message for a stub not written yet (checks.base), a msgid
REPORT_DIR = "report"  # the class report's folder in a graded folder: never a student's


@dataclass
class CaseResult:
    name: str
    passed: bool
    message: str | None
    hidden: bool
    weight: float = 1.0
    kind: str = VALUE
    note: str | None = None  # an inconclusive verdict: the case keeps its points and this is shown with it


@dataclass
class GroupResult:
    """One test cell's result. Its numbers are computed here, from the cases' passed flags, and nowhere else.

    `withheld` is the weight of the cell's hidden cases when they were not run (the student's check): the
    public share is the same whether or not they ran, so every view shows the same public number and
    states the hidden share up front. `gate` holds the cases of every group of the same stub (see `link`).
    """

    group_id: str
    title: str
    points: float
    cases: list[CaseResult] = field(default_factory=list)
    hint: str | None = None
    stub: str = ""
    withheld: float = 0.0
    gate: list[CaseResult] | None = None

    @property
    def hidden_run(self) -> bool:
        """Whether this result holds the hidden cases (or the cell has none)."""
        return not self.withheld

    def values_shown(self) -> bool:
        """Whether the stub's form cases count: a function whose value cases all fail earns none of its points.

        The public value cases of the stub, over all its groups, decide (so `autograder check` and the notebook
        show the number the grade will have); a stub with no public value case is decided by its hidden ones,
        and a stub with no value case at all is not gated."""
        cases = self.gate if self.gate is not None else self.cases
        values = [c for c in cases if c.kind == VALUE]
        deciding = [c for c in values if not c.hidden] or values
        return not deciding or any(c.passed for c in deciding)

    def _earned(self, cases: list[CaseResult]) -> float:
        counts = self.values_shown()
        return sum(c.weight for c in cases if c.passed and (counts or c.kind == VALUE))

    def share(self, hidden: bool | None = None) -> tuple[float, float]:
        """(score, max) of this group's points: over every case run (max: the cell's points), or only the public
        (hidden=False) or hidden (hidden=True) ones. Points are split over the cases by weight, hidden cases
        counted whether or not they ran; the two entries of a test cell add up to its score exactly."""
        if not self.cases:
            return 0.0, (0.0 if hidden else self.points)
        public = [c for c in self.cases if not c.hidden]
        hidden_cases = [c for c in self.cases if c.hidden]
        public_weight = sum(c.weight for c in public)
        total_weight = public_weight + sum(c.weight for c in hidden_cases) + self.withheld
        unit = self.points / total_weight if total_weight else 0.0
        public_share = (round(unit * self._earned(public), 4), round(unit * public_weight, 4))
        total = (round(unit * (self._earned(public) + self._earned(hidden_cases)), 4), round(self.points, 4))
        if hidden is None:
            return total
        if not hidden:
            return public_share
        return round(total[0] - public_share[0], 4), round(total[1] - public_share[1], 4)

    def case_share(self, index: int) -> tuple[float, float]:
        """(score, max) of one case: its weight's part of the cell's points, earned when it passed and counts
        (a form case counts once the stub's values are shown). The cases' scores add up to `score`."""
        total_weight = sum(c.weight for c in self.cases) + self.withheld
        case = self.cases[index]
        unit = self.points / total_weight if total_weight else 0.0
        earned = case.passed and (case.kind == VALUE or self.values_shown())
        # six places: a cell's many cases, each rounded, still add up to its score (rounded to four)
        return round(unit * case.weight if earned else 0.0, 6), round(unit * case.weight, 6)

    @property
    def score(self) -> float:
        return self.share()[0]

    def notes(self) -> list[str]:
        """Lines about the group as a whole, shown in every view above its cases."""
        notes = []
        form = [c for c in self.cases if c.kind == FORM and c.passed]
        if form and not self.values_shown():
            notes.append(ngettext(
                "The shape, dtype, device and contract cases of `{stub}` earn points only once one of its value "
                "cases passes: {count} passed here, 0 points so far.",
                "The shape, dtype, device and contract cases of `{stub}` earn points only once one of its value "
                "cases passes: {count} passed here, 0 points so far.", len(form)).format(stub=self.stub,
                                                                                     count=len(form)))
        return notes

    def unwritten(self) -> bool:
        """Whether the stub has not been written: every case failed because it raises NotImplementedError (the
        check's message, autograder.checks.base, in English or in a language of the catalogs)."""
        unwritten = set()
        for lang in i18n.LANGUAGES:
            with i18n.language(lang):
                unwritten.add(_(UNWRITTEN).format(stub=self.stub))
        return bool(self.cases) and all(c.message in unwritten for c in self.cases)



@dataclass
class SubmissionResult:
    student: str
    assignment: str
    groups: list[GroupResult]
    execution_time: float = 0.0
    output: str = ""
    notes: list[str] = field(default_factory=list)
    isolation: str = ""
    error: str | None = None  # the notebook could not be graded at all (unreadable, grader failure)
    grader_error: bool = False  # the fault is the grader's, not the submission's
    notebook_sha256: str = ""
    checks_hash: str = ""
    limits_hit: list[str] = field(default_factory=list)
    hidden_checks: bool = True  # False: graded with the public checks only (hidden ones were not available)
    by_hand: list[dict] = field(default_factory=list)  # forbidden calls found: check_group, stub, policy, message
    late: dict | None = None  # deadlines.Lateness.to_json(): due, submitted, hours_late, penalty (points), note
    language: str = i18n.ENGLISH  # the language of its messages and feedback page (autograder.i18n)

    @property
    def raw_score(self) -> float:
        """The points the checks gave, before any late penalty."""
        return round(sum(g.score for g in self.groups), 4)

    @property
    def score(self) -> float:
        """The grade: the checks' points less the late penalty (never below 0)."""
        penalty = float((self.late or {}).get("penalty") or 0.0)
        return round(max(0.0, self.raw_score - penalty), 4)

    @property
    def max_score(self) -> float:
        return round(sum(g.points for g in self.groups), 4)

    def tests(self) -> list[dict]:
        """Gradescope test entries: a test cell's public cases are visible, its hidden ones after the due date."""
        entries = []
        for group in self.groups:
            for hidden in (False, True):
                cases = [c for c in group.cases if c.hidden == hidden]
                if hidden and not cases and not group.withheld:
                    continue
                score, max_score = group.share(hidden)
                lines = [] if hidden else group.notes()
                lines += [_case_line(c) for c in cases]
                if not cases:
                    lines = [self.error or (_("the hidden cases are graded after the due date: not run here")
                                            if hidden else _("no case of this check was run"))]
                if group.hint and any(not c.passed for c in cases):
                    lines.append(_("Hint: {hint}").format(hint=group.hint))
                shown_hint = group.hint if group.hint and any(not c.passed for c in cases) else None
                entry = {
                    "name": f"{group.title}{' (hidden cases)' if hidden else ''}",
                    "score": score,
                    "max_score": max_score,
                    "status": "passed" if cases and all(c.passed for c in cases) else "failed",
                    "output": "\n".join(lines),
                    "visibility": "after_due_date" if hidden else "visible",
                    "extra_data": {
                        "check_group": group.group_id,
                        # the same content as data: what every reader uses (see read_tests)
                        "cases": [{"name": c.name, "passed": c.passed, "message": c.message, "weight": c.weight,
                                   "kind": c.kind, "note": c.note} for c in cases],
                        "notes": ([] if hidden else group.notes()) if cases else lines,
                        "hint": shown_hint,
                    },
                }
                if hidden and not cases and not self.error:  # a share graded elsewhere: neither passed nor failed
                    del entry["status"]
                    entry["extra_data"]["not_run"] = True
                entries.append(entry)
        return entries

    def to_json(self) -> dict:
        """The Gradescope results.json object; every string passes through `textsafe.for_file`, so student text
        (messages, output, notes, the folder name) can always be written, and reads back as what was shown.
        Its own text is in the submission's language."""
        with i18n.language(self.language):
            return self._to_json()

    def _to_json(self) -> dict:
        summary = [f"{self.assignment}: {self.score:g} / {self.max_score:g}"]
        if self.error:
            summary.append(_("Error: {error}").format(error=self.error))
        summary += self.notes
        if not self.hidden_checks:
            summary.append(_("Graded with the public checks only: the hidden checks were not available here."))
        return textsafe.deep({
            "score": self.score,
            "execution_time": round(self.execution_time, 3),
            "output": "\n".join(summary),
            "tests": self.tests(),
            "extra_data": {
                "student": self.student,
                "assignment": self.assignment,
                "max_score": self.max_score,
                "grader_version": __version__,
                "checks_hash": self.checks_hash,
                "notebook_sha256": self.notebook_sha256,
                "seeds": "fixed per case in the check definitions named by checks_hash",
                "isolation": self.isolation,
                "error": self.error,
                "grader_error": self.grader_error,
                "limits_hit": self.limits_hit,
                "hidden_checks": self.hidden_checks,
                "by_hand": self.by_hand,
                "raw_score": self.raw_score,
                "late": self.late,
                "language": self.language,
                "captured_output": self.output,
            },
        })


def _case_line(case: CaseResult) -> str:
    """One case in a test's output text: its mark and name, and why it failed (or its note)."""
    mark = "✓" if case.passed else "✗"
    if not case.passed:
        return _("{mark} {name}: {message}").format(mark=mark, name=case.name, message=case.message)
    if case.note:
        return _("{mark} {name}\nnote: {note}").format(mark=mark, name=case.name, note=case.note)
    return f"{mark} {case.name}"


def results_path(out_dir: Path, student: str, assignment: str) -> Path:
    return out_dir / student / assignment / "results.json"


def write_result(out_dir: Path, result: SubmissionResult) -> Path:
    path = results_path(out_dir, result.student, result.assignment)
    write_atomic(path, json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    return path


# ---------------------------------------------------------------- reading results back

@dataclass
class CaseRecord:
    """One case as results.json records it."""

    name: str
    passed: bool
    message: str
    hidden: bool
    weight: float = 1.0
    kind: str = VALUE
    note: str | None = None


@dataclass
class TestRecord:
    """One results.json test (a test cell's public or hidden share), read back as data."""

    group_id: str
    title: str  # without " (hidden cases)"
    hidden: bool
    score: float
    max_score: float
    status: str | None  # "passed", "failed", or None for a share not run here
    cases: list[CaseRecord]
    hint: str | None
    notes: list[str]  # lines about the test that are not cases (an error, the value gate's note)


def as_number(value: object) -> float:
    """A number read from results.json, 0 where it is missing, not a number, or not finite."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return number if number == number and abs(number) != float("inf") else 0.0


def _text(value: object) -> str:
    return value if isinstance(value, str) else "" if value is None else str(value)


def is_hidden(test: dict) -> bool:
    """Gradescope's default visibility is "visible"; anything else waits for the due date or the instructor."""
    return test.get("visibility", "visible") != "visible"


def read_tests(data: dict) -> list[TestRecord]:
    """The tests of one results.json, cases and all, from the data fields only: never from `output`, whose text a
    submission's own messages fill (a message holding "\n✓ hidden: all passed" stays one failed case). A file
    written without case data (by an older grader) gives its tests with their output as a note, and no cases."""
    records = []
    tests = data.get("tests") if isinstance(data, dict) else None
    for test in tests if isinstance(tests, list) else []:
        if not isinstance(test, dict):
            continue
        extra = test.get("extra_data") if isinstance(test.get("extra_data"), dict) else {}
        hidden = is_hidden(test)
        group_id = _text(extra.get("check_group") or test.get("name") or "check")
        raw = extra.get("cases")
        cases = [CaseRecord(_text(c.get("name")), c.get("passed") is True, _text(c.get("message")), hidden,
                            as_number(c.get("weight", 1.0)), _text(c.get("kind") or VALUE),
                            c.get("note") if isinstance(c.get("note"), str) else None)
                 for c in (raw if isinstance(raw, list) else []) if isinstance(c, dict)]
        notes = extra.get("notes")
        notes = [_text(n) for n in notes] if isinstance(notes, list) else []
        if not isinstance(raw, list):
            notes = [line for line in _text(test.get("output")).split("\n") if line.strip()]
        status = test.get("status") if test.get("status") in ("passed", "failed") else None
        records.append(TestRecord(group_id, _text(test.get("name") or group_id).removesuffix(" (hidden cases)"),
                                  hidden, as_number(test.get("score")), as_number(test.get("max_score")), status,
                                  cases, extra.get("hint") if isinstance(extra.get("hint"), str) else None, notes))
    return records


def read_result(path: Path) -> dict | None:
    """One results.json, or None where it cannot be read or is not a result (an object with a list of tests)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("tests"), list) else None


def result_files(out_dir: Path, assignment: str | None = None) -> list[Path]:
    """OUT_DIR/<student>/<assignment>/results.json, in order (every assignment when none is given)."""
    return sorted(Path(out_dir).glob(f"*/{assignment or '*'}/results.json"))


def load_results(out_dir: Path, assignment: str) -> list[dict]:
    """Every readable result of one assignment in a graded folder."""
    return [data for data in map(read_result, result_files(out_dir, assignment)) if data is not None]


def language_of(data: dict) -> str:
    """The language a results.json's messages are in (older results, and unknown values: English)."""
    extra = data.get("extra_data") if isinstance(data.get("extra_data"), dict) else {}
    return i18n.normalize(extra.get("language")) or i18n.ENGLISH


def late_penalty(data: dict) -> float:
    """The late penalty a results.json records, in points (0 where there is none)."""
    extra = data.get("extra_data") if isinstance(data.get("extra_data"), dict) else {}
    late = extra.get("late") if isinstance(extra.get("late"), dict) else {}
    return round(as_number(late.get("penalty")), 4)


def write_grades_csv(out_dir: Path, assignment: str, group_ids: list[str]) -> Path:
    """One row a student, one column a check group, the late penalty and the total (after it); rebuilt from
    the results files.

    Each cell passes through `textsafe.csv_cell`: a student folder or error text that would start a formula
    stays text, and results files written before their text was escaped are written safely too."""
    rows = []
    for data in load_results(out_dir, assignment):
        extra = data.get("extra_data", {})
        per_group: dict[str, float] = {}
        for test in data.get("tests", []):
            gid = test.get("extra_data", {}).get("check_group")
            per_group[gid] = per_group.get(gid, 0.0) + float(test.get("score", 0))
        row = {"student": extra.get("student", ""), **{g: round(per_group.get(g, 0.0), 4) for g in group_ids},
               "late_submission_penalty": late_penalty(data),
               "total": data.get("score", 0), "max_score": extra.get("max_score", ""),
               "error": extra.get("error") or ""}
        rows.append(row)
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = ["student", *group_ids, "late_submission_penalty", "total", "max_score", "error"]
    # grades.csv is the batch just graded; grades-<ID>.csv keeps each assignment's when several share a folder.
    for path in (out_dir / f"grades-{assignment}.csv", out_dir / "grades.csv"):
        with tempfile.NamedTemporaryFile("w", dir=out_dir, delete=False, newline="", encoding="utf-8",
                                         prefix=".tmp-", suffix=".csv") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields)
            writer.writeheader()
            writer.writerows({k: textsafe.csv_cell(v) for k, v in row.items()}
                             for row in sorted(rows, key=lambda r: str(r["student"])))
        os.replace(handle.name, path)
    return out_dir / "grades.csv"
