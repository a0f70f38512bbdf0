"""Grading submissions with the split executor: plan the checks once, run each notebook in a probe."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from autograder import checks, i18n, notebook
from autograder.course import hidden_paths, released_grade_ids, released_notebook
from autograder.i18n import _
from autograder.judge import byhand, evaluate, supervise
from autograder.judge.deadlines import MAX_TIMESTAMP_BYTES, TIMESTAMP_FILE, Deadlines, assess
from autograder.judge.runner import Launcher, Limits, OutputBuffer, make_launcher
from autograder.notebook import LAYOUT, LayoutError, find_notebook, list_students  # noqa: F401 - named here too
from autograder.reports.results import SubmissionResult, read_result, results_path, write_grades_csv, write_result
from autograder.wire import Call


@dataclass
class GroupPlan:
    group: checks.CheckGroup
    points: float
    planned: list[evaluate.PlannedCase]
    first_call: int


@dataclass
class AssignmentPlan:
    """Everything the judge prepares once per batch: the source notebook, cases, inputs and references."""

    assignment: str
    source: dict
    groups: list[GroupPlan]
    calls: list[Call]
    checks_hash: str
    limits: Limits
    call_frames: dict = field(default_factory=dict)  # the encoded calls, shared by every submission
    hidden_checks: bool = False  # whether hidden cases are part of this plan
    others: dict[str, set[str]] = field(default_factory=dict)  # other assignments' grade_ids, to tell them apart
    # the released notebook's run, when one is needed
    canary: supervise.Canary = field(default_factory=supervise.Canary)


def fingerprint(assignment: str, limits: Limits) -> str:
    """What decides a grade, hashed: the check definitions and grading code (`checks.definitions_hash`), the
    released notebook (its cells are merged in, its metadata holds the points), the limits, the by-hand
    policy and torch's version. A batch resumed under a different one grades its submissions again."""
    import torch

    digest = hashlib.sha256(checks.definitions_hash(assignment).encode())
    digest.update(Path(released_notebook(assignment)).read_bytes())
    digest.update(repr(sorted(vars(limits).items())).encode())
    digest.update(f"byhand={byhand.policy()} torch={torch.__version__}".encode())
    return digest.hexdigest()[:16]


def plan_assignment(assignment: str, include_hidden: bool = True, limits: Limits | None = None) -> AssignmentPlan:
    """Cases, inputs and references of every test cell, built once; `limits` overrides the assignment's own."""
    source = notebook.read(released_notebook(assignment))  # never solutions/: the probe gets no solution text
    defined = checks.groups(assignment)
    plans, calls = [], []
    for cell in notebook.test_cells(source):
        group = defined.get(cell.grade_id)
        if group is None:
            raise KeyError(_("test cell {grade_id} of {assignment} has no check group of that name").format(
                grade_id=repr(cell.grade_id), assignment=assignment))
        planned = evaluate.plan(assignment, group, include_hidden)
        plans.append(GroupPlan(group, cell.points, planned, len(calls)))
        calls.extend(byhand.watched(assignment, p.case.call) for p in planned)
    hidden = include_hidden and checks.hidden_available(assignment)
    limits = limits or checks.limits(assignment)
    return AssignmentPlan(assignment, source, plans, calls, fingerprint(assignment, limits), limits,
                          hidden_checks=hidden,
                          others={k: v for k, v in released_grade_ids().items() if k != assignment})


def grade_notebook(plan: AssignmentPlan, path: Path, launcher: Launcher, student: str = "student", slot: int = 0,
                   scratch_root: str | None = None, root: Path | None = None) -> SubmissionResult:
    """Grade the notebook at `path`; with `root` (the submissions folder) it is opened from there, following
    no link (see `notebook.read_bytes`). The recorded sha256 is of the very bytes that were parsed."""
    started = time.monotonic()
    result = SubmissionResult(student, plan.assignment, [], checks_hash=plan.checks_hash,
                              hidden_checks=plan.hidden_checks, language=i18n.default_language())
    submission = None
    try:
        raw = notebook.read_bytes(path, root)
        result.notebook_sha256 = hashlib.sha256(raw).hexdigest()
        submission = notebook.parse(raw)
        result.language = i18n.for_notebook(submission)  # its messages are in its notebook's language
        with i18n.language(result.language):
            notebook.identify(plan.source, submission, plan.assignment, plan.others)
            notebook.check_grading_metadata(plan.source, submission)
    except (notebook.NotebookError, OSError) as exc:
        with i18n.language(result.language):
            result.error = (str(exc) if isinstance(exc, notebook.NotebookError)
                            else _("cannot read {path}: {reason}").format(path=path, reason=exc.strerror))
        result.groups = [evaluate.GroupResult(g.group.id, g.group.title, g.points) for g in plan.groups]
        result.execution_time = time.monotonic() - started
        return result
    with i18n.language(result.language):
        return _grade_cells(plan, submission, result, launcher, slot, scratch_root, started)


def _grade_cells(plan: AssignmentPlan, submission: dict, result: SubmissionResult, launcher: Launcher, slot: int,
                 scratch_root: str | None, started: float) -> SubmissionResult:
    """Run a parsed submission's cells and calls in probes and judge what came back (in its language)."""
    cells = notebook.merge(plan.source, submission)
    sink = OutputBuffer(plan.limits.output_bytes)
    scratch = tempfile.mkdtemp(prefix=f"probe-{slot}-", dir=scratch_root)
    try:
        collected = supervise.collect(launcher, cells, plan.calls, plan.limits, sink, slot, scratch, plan.call_frames)
        if collected.grader_error:  # the grader's fault only if the released notebook fails the same way
            collected = supervise.confirm_grader_error(
                collected, lambda: plan.canary.verdict(launcher, lambda: _canary(plan, launcher, slot, scratch_root)),
                lambda: supervise.collect(launcher, cells, plan.calls, plan.limits, sink, slot, scratch,
                                          plan.call_frames))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result.isolation = collected.isolation or getattr(launcher, "isolation_note", "")
    result.limits_hit = sorted(set(collected.limits_hit))
    if collected.grader_error:
        result.error = collected.grader_error
        result.grader_error = True
    for index, note in sorted(collected.cell_notes.items()):
        cell_id = next((c["grade_id"] for c in cells if c["index"] == index), None)
        if cell_id:
            result.notes.append(_("cell {number} ({grade_id}): {note}").format(number=index + 1, grade_id=cell_id,
                                                                               note=note))
        else:
            result.notes.append(_("cell {number}: {note}").format(number=index + 1, note=note))
    program = byhand.Program.from_cells(cells)  # by hand: the source the probe ran, read here, never run
    for group_plan in plan.groups:
        end = group_plan.first_call + len(group_plan.planned)
        outcomes = collected.outcomes[group_plan.first_call:end]
        group_result = evaluate.judge_group(group_plan.group, group_plan.planned, outcomes, group_plan.points,
                                            evaluate.withheld_weight(plan.assignment, group_plan.group,
                                                                     group_plan.planned))
        found = byhand.enforce(plan.assignment, group_plan.group, group_result, outcomes, program, result.notes)
        if found:
            result.by_hand.append({"check_group": group_plan.group.id, "stub": group_plan.group.stub,
                                   "policy": found.policy, "message": found.message})
        result.groups.append(group_result)
    stubs = {g.group.stub for g in plan.groups}
    evaluate.link(result.groups, evaluate.calls_in_sources([c["source"] for c in cells], stubs))
    result.output = sink.text()
    result.execution_time = time.monotonic() - started
    return result


def _canary(plan: AssignmentPlan, launcher: Launcher, slot: int, scratch_root: str | None) -> supervise.Collected:
    """The released notebook as is, graded the way a submission is (see supervise.Canary)."""
    scratch = tempfile.mkdtemp(prefix=f"canary-{slot}-", dir=scratch_root)
    try:
        return supervise.collect(launcher, notebook.merge(plan.source, plan.source), plan.calls, plan.limits,
                             OutputBuffer(plan.limits.output_bytes), slot, scratch, plan.call_frames)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def shard_of(student: str, count: int) -> int:
    """A stable shard for a student id: the same on every machine and every run."""
    return zlib.crc32(student.encode()) % count


def _is_current(out_dir: Path, student: str, assignment: str, sha: str, checks_hash: str) -> bool:
    from autograder import __version__

    data = read_result(results_path(out_dir, student, assignment))
    extra = data.get("extra_data") if data is not None else None
    if not isinstance(extra, dict):
        return False
    return (extra.get("notebook_sha256") == sha and extra.get("checks_hash") == checks_hash
            and extra.get("grader_version") == __version__ and not extra.get("grader_error"))


def grade_batch(submitted: Path, assignment: str, out_dir: Path, workers: int | None = None,
                shard: tuple[int, int] | None = None, fork: bool | None = None, progress: bool = True,
                limits: Limits | None = None, launcher: Launcher | None = None,
                only: list[str] | None = None, deadlines: Deadlines | None = None) -> list[SubmissionResult]:
    """Grade SUBMITTED/<student>/<assignment>/*.ipynb; resumes: current results are not graded again.

    `only`: regrade just these students, whether or not their results are current (a regrade request).
    `deadlines`: the course's due dates and late policy, applied with each submission's timestamp.txt.
    A `launcher` given by the caller (to share one zygote across assignments) is used and left open.
    A results file written anew makes the feedback page beside it stale: it is removed (written again
    when feedback is asked for).
    """
    submitted, out_dir = Path(submitted).resolve(), Path(out_dir).resolve()
    students = list_students(submitted, assignment)
    if only:
        unknown = sorted(set(only) - set(students))
        if unknown:
            raise LayoutError(_("no submission of {assignment} for {students} in {folder}").format(
                assignment=assignment, students=", ".join(unknown), folder=submitted))
        students = sorted(set(only))
    plan = plan_assignment(assignment, limits=limits)
    if deadlines is not None and assignment in deadlines.due:
        combined = hashlib.sha256((plan.checks_hash + deadlines.digest(assignment)).encode()).hexdigest()[:16]
        plan = dataclasses.replace(plan, checks_hash=combined)
    if shard:
        students = [s for s in students if shard_of(s, shard[1]) == shard[0] - 1]
    todo: list[tuple[str, Path | None, str | None]] = []
    for student in students:
        folder = submitted / student / assignment
        try:
            path = find_notebook(folder, assignment, submitted)
        except notebook.NotebookError as exc:
            todo.append((student, None, str(exc)))
            continue
        if path is None:
            todo.append((student, None, _("no .ipynb file in {folder}").format(folder=folder)))
            continue
        try:
            sha = hashlib.sha256(notebook.read_bytes(path, submitted)).hexdigest()
        except notebook.NotebookError:
            sha = ""
        if sha and not only and _is_current(out_dir, student, assignment, sha, plan.checks_hash):
            continue
        todo.append((student, path, None))
    results: list[SubmissionResult] = []
    if todo:
        workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
        owned = launcher is None
        if owned:
            launcher = make_launcher(hidden_paths([submitted, out_dir]), plan.limits, fork)
        # The probe side's start-up (the zygote importing torch) is the batch's, not the first students' time.
        getattr(launcher, "wait_ready", lambda: None)()
        scratch_root = tempfile.mkdtemp(prefix="autograder-")
        os.chmod(scratch_root, 0o711)
        slots = list(range(workers))
        slot_lock = threading.Lock()
        bar = _progress(len(todo), progress)

        def grade_one(item: tuple[str, Path | None, str | None]) -> SubmissionResult:
            student, path, error = item
            with slot_lock:
                slot = slots.pop()
            try:
                if path is None:
                    result = SubmissionResult(student, assignment, [
                        evaluate.GroupResult(g.group.id, g.group.title, g.points) for g in plan.groups],
                        checks_hash=plan.checks_hash, hidden_checks=plan.hidden_checks, error=error,
                        language=i18n.default_language())
                else:
                    try:
                        result = grade_notebook(plan, path, launcher, student, slot, scratch_root, submitted)
                    except Exception as exc:  # noqa: BLE001 - a fault of the grader's costs this submission only
                        result = SubmissionResult(student, assignment, [
                            evaluate.GroupResult(g.group.id, g.group.title, g.points) for g in plan.groups],
                            checks_hash=plan.checks_hash, hidden_checks=plan.hidden_checks, grader_error=True,
                            language=i18n.default_language(),
                            error=_("the grader failed on this submission ({error}); it is graded again on the "
                                    "next run").format(error=f"{type(exc).__name__}: {str(exc)[:300]}"))
                if deadlines is not None:
                    with i18n.language(result.language):  # its late note is in its language
                        _apply_deadline(result, deadlines, submitted / student / assignment, submitted)
                written = write_result(out_dir, result)
                (written.parent / "feedback.html").unlink(missing_ok=True)  # it showed the old result
                return result
            finally:
                with slot_lock:
                    slots.append(slot)
                bar.update(1)

        try:
            with ThreadPoolExecutor(workers) as pool:
                results = list(pool.map(grade_one, todo))
        finally:
            bar.close()
            if owned:
                launcher.close()
            shutil.rmtree(scratch_root, ignore_errors=True)
    write_grades_csv(out_dir, assignment, [g.group.id for g in plan.groups])
    return results


def _apply_deadline(result: SubmissionResult, deadlines: Deadlines, folder: Path, submitted: Path) -> None:
    """The late penalty from the submission's timestamp.txt (read like a notebook: a regular file only)."""
    if deadlines.due_for(result.student, result.assignment) is None:
        return
    timestamp = None
    path = folder / TIMESTAMP_FILE
    if os.path.lexists(path):
        try:
            timestamp = notebook.read_bytes(path, submitted, limit=MAX_TIMESTAMP_BYTES).decode("utf-8", "replace")
        except notebook.NotebookError as exc:
            timestamp = _("unreadable: {reason}").format(reason=exc)  # not a date: assess says it cannot be read
    late = assess(deadlines, result.student, result.assignment, timestamp, result.max_score, result.raw_score)
    result.late = late.to_json()
    if late.note:
        result.notes.append(_("late work: {note}").format(note=late.note))


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="notebook", disable=not enabled, file=sys.stderr, dynamic_ncols=True)
