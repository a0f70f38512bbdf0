"""The result of grading one submission, and how it is written: results.json and grades.csv."""

from __future__ import annotations

import csv
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import __version__, textsafe
from autograder.evaluate import GroupResult
from autograder.files import write_atomic


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

    @property
    def score(self) -> float:
        return round(sum(g.score for g in self.groups), 4)

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
                lines += [f"{'✓' if c.passed else '✗'} {c.name}" + ("" if c.passed else f": {c.message}")
                          + (f"\nnote: {c.note}" if c.passed and c.note else "") for c in cases]
                if not cases:
                    lines = [self.error or ("the hidden cases are graded after the due date: not run here"
                                            if hidden else "no case of this check was run")]
                if group.hint and any(not c.passed for c in cases):
                    lines.append(f"Hint: {group.hint}")
                entry = {
                    "name": f"{group.title}{' (hidden cases)' if hidden else ''}",
                    "score": score,
                    "max_score": max_score,
                    "status": "passed" if cases and all(c.passed for c in cases) else "failed",
                    "output": "\n".join(lines),
                    "visibility": "after_due_date" if hidden else "visible",
                    "extra_data": {"check_group": group.group_id},
                }
                if hidden and not cases and not self.error:  # a share graded elsewhere: neither passed nor failed
                    del entry["status"]
                    entry["extra_data"]["not_run"] = True
                entries.append(entry)
        return entries

    def to_json(self) -> dict:
        """The Gradescope results.json object; every string passes through `textsafe.for_file`, so student text
        (messages, output, notes, the folder name) can always be written, and reads back as what was shown."""
        summary = [f"{self.assignment}: {self.score:g} / {self.max_score:g}"]
        if self.error:
            summary.append(f"Error: {self.error}")
        summary += self.notes
        if not self.hidden_checks:
            summary.append("Graded with the public checks only: the hidden checks were not available here.")
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
                "captured_output": self.output,
            },
        })


def results_path(out_dir: Path, student: str, assignment: str) -> Path:
    return out_dir / student / assignment / "results.json"


def write_result(out_dir: Path, result: SubmissionResult) -> Path:
    path = results_path(out_dir, result.student, result.assignment)
    write_atomic(path, json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n")
    return path


def load_results(out_dir: Path, assignment: str) -> list[dict]:
    found = []
    for path in sorted(out_dir.glob(f"*/{assignment}/results.json")):
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
    return found


def write_grades_csv(out_dir: Path, assignment: str, group_ids: list[str]) -> Path:
    """One row a student, one column a check group, and the total; rebuilt from the results files.

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
               "total": data.get("score", 0), "max_score": extra.get("max_score", ""),
               "error": extra.get("error") or ""}
        rows.append(row)
    out_dir.mkdir(parents=True, exist_ok=True)
    fields = ["student", *group_ids, "total", "max_score", "error"]
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
