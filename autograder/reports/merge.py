"""`autograder merge`: join the outputs of `grade-batch --shard K/N` runs into one graded folder.

Each shard wrote OUT/<student>/<ID>/results.json (and a feedback page) for its own students. Merging
copies those folders side by side and rebuilds grades.csv from them, so the result is the same as an
unsharded run: the shards are a partition of the students, and grades.csv is always derived from the
results files, never accumulated.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from autograder.i18n import _
from autograder.reports.results import read_result, read_tests, write_grades_csv


def _group_ids(paths: list[Path]) -> list[str]:
    """Check group ids in the order the results list them (the notebook's order of test cells)."""
    ordered: list[str] = []
    for path in paths:
        data = read_result(path)
        for test in read_tests(data) if data is not None else []:
            if test.group_id not in ordered:
                ordered.append(test.group_id)
        if ordered:
            break
    return ordered


def merge(shards: list[Path], out_dir: Path, assignment: str | None = None) -> dict[str, int]:
    """Copy every shard's <student>/<ID>/ folder into out_dir and rebuild grades.csv; returns students per ID.

    A student found in two shards is an error unless both results are identical (a shard merged twice).
    """
    out_dir = Path(out_dir)
    found: dict[tuple[str, str], Path] = {}
    for shard in shards:
        shard = Path(shard)
        if not shard.is_dir():
            raise FileNotFoundError(_("no such shard folder: {folder}").format(folder=shard))
        for path in sorted(shard.glob("*/*/results.json")):
            student, assignment_id = path.parent.parent.name, path.parent.name
            if assignment and assignment_id != assignment:
                continue
            key = (student, assignment_id)
            if key in found and found[key].read_bytes() != path.read_bytes():
                first = found[key].parent.parent.parent
                raise ValueError(_("{student}/{assignment} was graded in two shards ({first} and {second}) with "
                                   "different results; were the shards made with different N?").format(
                    student=student, assignment=assignment_id, first=first, second=shard))
            found[key] = path
    assignments = sorted({a for _, a in found})
    if not assignments:
        raise FileNotFoundError(_("no results.json under {folders}").format(folders=", ".join(str(s) for s in shards)))
    if len(assignments) > 1 and assignment is None:
        raise ValueError(_("the shards hold several assignments ({assignments}); merge one with -a ID").format(
            assignments=", ".join(assignments)))
    for (student, assignment_id), path in sorted(found.items()):
        target = out_dir / student / assignment_id
        if target.resolve() == path.parent.resolve():
            continue
        target.mkdir(parents=True, exist_ok=True)
        for item in path.parent.iterdir():
            if item.is_file():
                shutil.copy2(item, target / item.name)
    counts = {}
    for assignment_id in assignments:
        paths = [p for (s, a), p in sorted(found.items()) if a == assignment_id]
        write_grades_csv(out_dir, assignment_id, _group_ids(paths))
        counts[assignment_id] = len(paths)
    return counts
