"""Reporting a grading run to CI: a job summary, GitHub Classroom's payload, annotations.

All of it is rendered from results.json files, the one result model, so the summary, the Classroom
points and the Gradescope entries can never disagree.
"""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from autograder.i18n import _
from autograder.reports.results import read_result


def _fmt(value: float) -> str:
    return f"{value:g}"


def find_results(paths: list[Path]) -> list[Path]:
    """results.json files: given directly, or anywhere under given folders."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(path.rglob("results.json"))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(_("no such file or folder: {path}").format(path=path))
    return found


def load(paths: list[Path]) -> list[dict]:
    results = []
    for path in find_results(paths):
        data = read_result(path)
        if data is None:
            raise ValueError(_("{path} is not a readable results.json (not JSON, or no list of tests)").format(
                path=path))
        results.append(data)
    return results


def classroom_payload(results: list[dict]) -> dict:
    """GitHub Classroom's runner payload (the python grader's `version: 3` format).

    One test per results.json entry (a test cell's public or hidden cases). A test's status is "pass"
    exactly when it earned all its points ("skipped" for a hidden share not run here), so the reporter's
    passed count and its points agree; the top-level max_score is the sum of the tests' max_score, so its
    total is the sum of their scores.
    """
    tests = []
    status = "pass"
    for data in results:
        extra = data.get("extra_data", {})
        if extra.get("grader_error"):
            status = "error"
        for entry in data.get("tests", []):
            score, max_score = float(entry.get("score", 0)), float(entry.get("max_score", 0))
            passed = entry.get("status") == "passed" and score >= max_score
            not_run = bool(entry.get("extra_data", {}).get("not_run"))
            if not passed and not not_run and status == "pass":
                status = "fail"
            tests.append({
                "name": f"{extra.get('assignment', '')}: {entry.get('name', '')}",
                "status": "skipped" if not_run else "pass" if passed else "fail",
                "score": score,
                "max_score": max_score,
                "message": entry.get("output", ""),
                "test_code": entry.get("extra_data", {}).get("check_group", ""),
                "filename": extra.get("assignment", ""),
                "line_no": 0,
                "execution_time": f"{float(data.get('execution_time', 0)):.2f}s",
            })
        if extra.get("error") and not data.get("tests"):
            status = "error" if extra.get("grader_error") else "fail"
    max_score = round(sum(t["max_score"] for t in tests), 4)
    return {"version": 3, "status": status, "max_score": max_score, "tests": tests}


def markdown_summary(results: list[dict]) -> str:
    """A Markdown table for a CI job summary: one section per graded notebook."""
    heading = "### " + _("Autograder")
    if not results:
        return f"{heading}\n\n" + _("No notebook was graded (no changed assignment notebook in this push).") + "\n"
    lines = [heading, ""]
    total = sum(float(d.get("score", 0)) for d in results)
    maximum = sum(float(d.get("extra_data", {}).get("max_score", 0)) for d in results)
    points = _("{score} / {max_score} points").format(score=_fmt(round(total, 4)), max_score=_fmt(round(maximum, 4)))
    lines += [f"**{points}**", ""]
    for data in results:
        extra = data.get("extra_data", {})
        lines += [f"#### {extra.get('assignment', '?')}: {_fmt(data.get('score', 0))} / "
                  f"{_fmt(extra.get('max_score', 0))}", ""]
        if extra.get("error"):
            if extra.get("grader_error"):
                error = _("Grader error: {error}")
            else:
                error = _("Error: {error}")
            lines += ["> " + error.format(error=extra["error"]), ""]
        if not extra.get("hidden_checks", True):
            lines += ["> " + _("Public checks only: the hidden checks were not available to this run."), ""]
        lines += ["| " + " | ".join((_("check"), _("score"), _("status"))) + " |", "| --- | ---: | --- |"]
        for entry in data.get("tests", []):
            name = str(entry.get("name", "")).replace("|", "\\|")
            mark = ("⏳ " + _("after the due date") if entry.get("extra_data", {}).get("not_run")
                    else "✅" if entry.get("status") == "passed" else "❌")
            lines.append(f"| {name} | {_fmt(entry.get('score', 0))} / {_fmt(entry.get('max_score', 0))} | {mark} |")
        lines.append("")
    return "\n".join(lines)


def annotations(payload: dict) -> list[str]:
    """Workflow commands GitHub Classroom reads: the points as a notice, and the same as JSON."""
    total = round(sum(t["score"] for t in payload["tests"]), 4)
    maximum = payload["max_score"]
    summary = json.dumps({"totalPoints": total, "maxPoints": maximum})
    return [f"::notice title=Autograding complete::Points {_fmt(total)}/{_fmt(maximum)}",
            f"::notice title=Autograding report::{summary}"]


def report(paths: list[Path], fail_below: float | None = None) -> int:
    """Print annotations, append the summary to $GITHUB_STEP_SUMMARY and the payload to $GITHUB_OUTPUT.

    Exit status: 2 when a grader error occurred, 1 when `fail_below` is given and the score is below it,
    else 0 — a low score is not a CI failure unless the course asks for one.
    """
    results = load(paths)
    payload = classroom_payload(results)
    summary = markdown_summary(results)
    for line in annotations(payload):
        print(line)
    if os.environ.get("GITHUB_STEP_SUMMARY"):
        with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
            handle.write(summary + "\n")
    else:
        print(summary)
    encoded = base64.b64encode(json.dumps(payload).encode()).decode()
    if os.environ.get("GITHUB_OUTPUT"):
        with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as handle:
            handle.write(f"result={encoded}\n")
    if any(d.get("extra_data", {}).get("grader_error") for d in results):
        return 2
    total = sum(float(d.get("score", 0)) for d in results)
    if fail_below is not None and total < fail_below:
        return 1
    return 0
