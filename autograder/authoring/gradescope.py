"""Gradescope's autograder package for one assignment, and the grading step its `run_autograder` calls.

`autograder gradescope -a ID -o autograder.zip` writes the zip Gradescope takes: `setup.sh` and
`run_autograder` at its root, a wheel of this package without its hidden modules, the requirements it
declares, the released notebooks and datasets (`course/`), and the hidden checks as `autograder
export-hidden` writes them (`hidden/`). Gradescope's autograder is the instructor's side, so the hidden
checks travel inside it; no solution notebook or solution code does (searched for after writing).

On Gradescope, `setup.sh` builds the image once; for each submission `run_autograder` calls `autograder
gradescope-run`, which finds the one notebook in /autograder/submission, grades it with `autograder grade`
in a process of its own (so that even a crash of the grader is a result), adds what
submission_metadata.json tells (lateness, a penalty only where a late policy was packaged, the best
earlier score) and writes /autograder/reports/results/results.json. No grading logic lives here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import io
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.course import PACKAGE_DIR, course_root
from autograder.files import write_atomic
from autograder.i18n import _
from autograder.reports import textsafe

if TYPE_CHECKING:
    from autograder.judge.deadlines import LatePolicy

ROOT_ENV = "AUTOGRADER_GRADESCOPE_ROOT"
DEFAULT_ROOT = "/autograder"
# As the Makefile installs torch (its TORCH_SPEC): the CPU wheel, from PyTorch's own index.
TORCH_SPEC = "torch==2.13.0"
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
POLICY_FILE = "late_policy.json"
GRADE_TIMEOUT = 900  # seconds; the assignment's own limits end a submission's grading long before
TEMPLATES = PACKAGE_DIR / "templates"
EXECUTABLES = ("setup.sh", "run_autograder")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".ipynb_checkpoints")


class PackageError(Exception):
    """The autograder package cannot be built as asked; the message says why."""


class SubmissionError(Exception):
    """The submission holds no notebook to grade, or several; the message is meant for the student."""


def default_root() -> Path:
    return Path(os.environ.get(ROOT_ENV) or DEFAULT_ROOT)


def _points(value: float) -> str:
    return f"{round(value, 2):g}"


def max_points(released: Path) -> float:
    """The points of the released notebook's test cells (their nbgrader metadata holds them)."""
    from autograder.notebook import test_cells

    return round(sum(cell.points for cell in test_cells(json.loads(released.read_text(encoding="utf-8")))), 4)


# ---------------------------------------------------------------- the late policy

def packed_policy(course_file: Path | None, root: Path) -> dict | None:
    """The course's late policy (autograder.judge.deadlines: the [late] table of the course file given, else of
    course.toml at the course root where there is one) as the package stores it; None where it deducts nothing.
    Gradescope's own due dates (extensions included) are the ones applied; the file's [due] is not used."""
    from autograder.judge import deadlines

    path = course_file or root / "course.toml"
    if course_file is None and not path.is_file():
        return None
    try:
        policy = deadlines.load(path).late
    except deadlines.DeadlineError as exc:
        raise PackageError(str(exc)) from None
    return dataclasses.asdict(policy) if policy.penalty or policy.zero_after_hours is not None else None


def read_policy(path: Path) -> LatePolicy:
    """The late policy stored in the package (see `packed_policy`), as a deadlines.LatePolicy."""
    from autograder.judge.deadlines import LatePolicy

    return LatePolicy(**json.loads(Path(path).read_text(encoding="utf-8")))


# ---------------------------------------------------------------- building the package

@dataclass
class Package:
    path: Path
    assignment: str
    max_score: float
    files: list[str]
    policy: dict | None  # the late policy packed, if any


def build(assignment: str, output: Path, course_file: Path | None = None, root: Path | None = None) -> Package:
    """Write Gradescope's autograder zip for `assignment` to `output`, with the course file's late policy (see
    `packed_policy`); PackageError when it cannot be built."""
    from autograder import checks

    root = root or course_root()
    try:
        module = checks.module_name(assignment)
    except KeyError as exc:
        raise PackageError(exc.args[0]) from None
    released = root / "assignments" / assignment / f"{assignment}.ipynb"
    if not released.is_file():
        raise PackageError(_("no released notebook at {path}: run `autograder release` first").format(path=released))
    policy = packed_policy(course_file, root)
    output = Path(output)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as tmp:
        stage = Path(tmp) / "zip"
        shutil.copytree(root / "assignments", stage / "course" / "assignments", ignore=_IGNORE)
        if (root / "datasets").is_dir():
            shutil.copytree(root / "datasets", stage / "course" / "datasets", ignore=_IGNORE)
        _export_hidden(stage / "hidden")
        if not (stage / "hidden" / f"{module}.py").is_file():
            raise PackageError(_("there are no hidden checks for {assignment} ({path})").format(
                assignment=assignment, path=f"autograder/checks/hidden/{module}.py"))
        wheel = _build_wheel(Path(tmp) / "wheel-source", stage)
        (stage / "requirements.txt").write_text(requirements(wheel), encoding="utf-8")
        if policy is not None:
            (stage / POLICY_FILE).write_text(json.dumps(policy, indent=2) + "\n", encoding="utf-8")
        _render("gradescope_setup.sh", stage / "setup.sh",
                {"TORCH_SPEC": TORCH_SPEC, "TORCH_INDEX": TORCH_INDEX, "WHEEL": wheel.name, "ASSIGNMENT": assignment})
        _render("gradescope_run_autograder", stage / "run_autograder",
                {"ASSIGNMENT": assignment,
                 "POLICY_ARGS": f' --late-policy "$ROOT/source/{POLICY_FILE}"' if policy is not None else ""})
        files = _write_zip(stage, output)
    found = leaks(output, root)
    if found:
        output.unlink()
        raise PackageError(_("the package would hold solution code; it was not written:\n  {found}").format(
            found="\n  ".join(found)))
    return Package(output, assignment, max_points(released), files, policy)


def _export_hidden(folder: Path) -> None:
    """The hidden check modules, written by `autograder export-hidden` itself."""
    from autograder.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        status = main(["export-hidden", "-o", str(folder)])
    if status:
        raise PackageError(_("`autograder export-hidden` failed (exit status {status})").format(status=status))


def _build_wheel(source: Path, out: Path) -> Path:
    """A wheel of this package without its hidden check modules (they travel beside it, in hidden/)."""
    checkout = PACKAGE_DIR.parent
    if not (checkout / "pyproject.toml").is_file():
        raise PackageError(_("no pyproject.toml beside the package in {folder}: build the Gradescope package from a "
                             "checkout of the course repository").format(folder=checkout))
    shutil.copytree(PACKAGE_DIR, source / "autograder", ignore=_IGNORE)
    hidden = source / "autograder" / "checks" / "hidden"
    shutil.rmtree(hidden)
    hidden.mkdir()
    (hidden / "__init__.py").write_text('"""The hidden checks are not in this package: AUTOGRADER_HIDDEN_CHECKS names '
                                        'their folder."""\n', encoding="utf-8")
    for name in ("pyproject.toml", "README.md"):
        if (checkout / name).is_file():
            shutil.copyfile(checkout / name, source / name)
    # With setuptools here (torch and nbgrader need it) the wheel is built offline; else pip fetches the backend.
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *offline, "--quiet",
                           "--wheel-dir", str(out), str(source)], capture_output=True, text=True)
    wheels = sorted(out.glob("*.whl"))
    if done.returncode or len(wheels) != 1:
        raise PackageError(_("building the wheel failed:\n{output}").format(
            output=(done.stderr or done.stdout)[-2000:]))
    return wheels[0]


def requirements(wheel: Path) -> str:
    """The wheel's own dependencies (its Requires-Dist, extras left out), one a line, for pip install -r."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(name).decode("utf-8")
    needed = [line.split(":", 1)[1].strip() for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    return "".join(f"{spec}\n" for spec in needed if "extra ==" not in spec)


def _render(template: str, target: Path, values: dict[str, str]) -> None:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise PackageError(_("the template {template} has unfilled fields {fields}").format(template=template,
                                                                                             fields=left))
    target.write_text(text, encoding="utf-8")


def _write_zip(stage: Path, output: Path) -> list[str]:
    """Every file of `stage` at the same place in the zip; the two scripts executable, the hidden checks private."""
    names = sorted(p.relative_to(stage).as_posix() for p in stage.rglob("*") if p.is_file())
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=output.parent, prefix=".tmp-", suffix=".zip")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name in names:
                info = zipfile.ZipInfo.from_file(stage / name, name)
                info.compress_type = zipfile.ZIP_DEFLATED
                mode = 0o755 if name in EXECUTABLES else 0o600 if name.startswith("hidden/") else 0o644
                info.external_attr = (0o100000 | mode) << 16
                archive.writestr(info, (stage / name).read_bytes())
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return names


def zip_texts(path: Path) -> dict[str, str]:
    """Each text member of the zip, and of each wheel inside it (named 'wheel.whl!member'); a notebook as its
    cells' sources (its JSON would escape the quotes and newlines of a line of code)."""
    texts: dict[str, str] = {}

    def read(archive: zipfile.ZipFile, prefix: str) -> None:
        for name in archive.namelist():
            data = archive.read(name)
            if name.endswith(".whl"):
                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    read(inner, f"{prefix}{name}!")
                continue
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if name.endswith(".ipynb"):
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                                     for c in json.loads(text)["cells"])
            texts[prefix + name] = text

    with zipfile.ZipFile(path) as archive:
        read(archive, "")
    return texts


def leaks(path: Path, root: Path) -> list[str]:
    """What must not be in the package, as 'what in member': a solution block or line of the course's solution
    notebooks anywhere, a solutions/ folder, a hidden check module's source anywhere but hidden/."""
    from autograder.authoring import bundle

    texts = zip_texts(path)
    found = [_("a solution notebook at {member}").format(member=name) for name in texts
             if name.split("!")[-1].startswith("solutions/")]
    flat = {name: re.sub(r"\s+", " ", text) for name, text in texts.items()}
    for label, secret in bundle.secrets(root).items():
        needle = re.sub(r"\s+", " ", secret).strip()
        allowed = "hidden/" if label.startswith("hidden checks") else None
        found += [_("{what} in {member}").format(what=label, member=name) for name, text in flat.items()
                  if needle in text and not (allowed and name.startswith(allowed))]
    outside = {name: text for name, text in texts.items() if not name.startswith("hidden/")}
    for line, origin in bundle.solution_lines(root).items():
        found += [_("a line of {origin}'s solution ({line}) in {member}").format(origin=origin, line=repr(line[:60]),
                                                                                 member=name)
                  for name, text in outside.items() if line in text]
    return found


# ---------------------------------------------------------------- grading one submission on Gradescope

def find_submission(folder: Path, assignment: str) -> tuple[Path, list[str]]:
    """The notebook to grade under `folder`: the only .ipynb file, else the only one named <assignment>.ipynb
    (a whole repository submitted holds every assignment's). Returns it and the other notebooks' names.

    Links to folders are not followed; hidden files and folders (.ipynb_checkpoints) and __MACOSX are skipped.
    """
    found: list[Path] = []
    for current, folders, files in os.walk(folder):
        folders[:] = sorted(f for f in folders if not f.startswith(".") and f != "__MACOSX")
        found += [Path(current) / f for f in sorted(files) if f.endswith(".ipynb") and not f.startswith(".")]
    names = [p.relative_to(folder).as_posix() for p in found]
    if not found:
        raise SubmissionError(f"your submission holds no notebook (.ipynb file): upload {assignment}.ipynb")
    if len(found) == 1:
        return found[0], []
    named = [p for p in found if p.name == f"{assignment}.ipynb"]
    if len(named) == 1:
        return named[0], [n for p, n in zip(found, names) if p != named[0]]
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    raise SubmissionError(f"your submission holds {len(found)} notebooks ({shown}), so it is not clear which one to "
                          f"grade: submit only {assignment}.ipynb")


def parse_time(text: object) -> datetime | None:
    """A Gradescope timestamp ('2018-07-01T14:22:32.365935-07:00'), aware; None where there is none."""
    if not isinstance(text, str) or not text.strip():
        return None
    text = text.strip()
    text = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    fraction = re.match(r"(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", text)
    if fraction:  # Python 3.10 reads exactly 3 or 6 digits of a fraction
        text = f"{fraction[1]}.{(fraction[2] + '000000')[:6]}{fraction[3]}"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _due(metadata: dict, key: str) -> datetime | None:
    """The assignment's `key` date, or the latest of the submitters' own (an extension), where they have one."""
    own = [parse_time(user.get("assignment", {}).get(key)) for user in metadata.get("users") or []
           if isinstance(user, dict) and isinstance(user.get("assignment"), dict)]
    own = [value for value in own if value]
    if own:
        return max(own)
    assignment = metadata.get("assignment")
    return parse_time(assignment.get(key)) if isinstance(assignment, dict) else None


def _duration(seconds: float) -> str:
    left, parts = int(seconds), []
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count} {unit}{'s' if count != 1 else ''}")
    return " ".join(parts[:2]) or f"{left} second{'s' if left != 1 else ''}"


def _when(value: datetime) -> str:
    return value.isoformat(sep=" ", timespec="minutes")


def lateness(metadata: dict) -> dict | None:
    """How late the submission is: seconds past the due date (≤ 0 when on time), the dates; None without dates."""
    created, due = parse_time(metadata.get("created_at")), _due(metadata, "due_date")
    if created is None or due is None:
        return None
    late_due = _due(metadata, "late_due_date")
    return {"seconds": round((created - due).total_seconds(), 3), "submitted": created.isoformat(),
            "due_date": due.isoformat(), "late_due_date": late_due.isoformat() if late_due else None,
            "after_late_due_date": bool(late_due and created > late_due)}


def best_previous(metadata: dict) -> dict | None:
    """The best score among the earlier submissions, when, and how many there were; None for a first one."""
    earlier = metadata.get("previous_submissions")
    scored = []
    for entry in earlier if isinstance(earlier, list) else []:
        with contextlib.suppress(AttributeError, TypeError, ValueError):
            score = float(entry.get("score"))
            if math.isfinite(score):
                scored.append((score, parse_time(entry.get("submission_time"))))
    if not scored:
        return None
    score, when = max(scored, key=lambda item: item[0])
    return {"count": len(earlier), "best_score": score, "submitted": when.isoformat() if when else None}


def error_results(assignment: str, message: str, grader_error: bool = False) -> dict:
    """A results object for a submission that was not graded: score 0 and the reason, in Gradescope's format."""
    from autograder.course import released_notebook

    try:
        total = max_points(released_notebook(assignment))
    except (OSError, ValueError, KeyError):
        total = 0.0
    return {"score": 0.0, "execution_time": 0.0, "output": f"{assignment}: 0 / {_points(total)}\nError: {message}",
            "tests": [], "extra_data": {"assignment": assignment, "max_score": total, "error": message,
                                        "grader_error": grader_error}}


def for_gradescope(results: dict, metadata: dict, policy: LatePolicy | None = None,
                   graded: str | None = None, ignored: list[str] | tuple = ()) -> dict:
    """`autograder grade`'s results.json made Gradescope's: every text shown as plain text (never HTML or
    Markdown: student text is in it), the grader's log for instructors only, each check cell's entries numbered
    and tagged; lateness said, a late penalty applied only under `policy`, the best earlier score noted."""
    results = json.loads(json.dumps(results))
    extra = results.setdefault("extra_data", {})
    lines = [results.get("output", "")]
    if graded and ignored:
        lines.append(f"Graded {graded}; not graded: {', '.join(ignored)}.")
    info: dict = {"notebook": graded, "late": lateness(metadata), "previous": best_previous(metadata)}
    late = info["late"]
    if late and late["seconds"] > 0:
        sentence = f"Submitted {_duration(late['seconds'])} after the due date ({_when(parse_time(late['due_date']))})"
        if late["after_late_due_date"]:
            sentence += f", and after the late due date ({_when(parse_time(late['late_due_date']))})"
        lines.append(sentence + ".")
        if policy is not None:
            from autograder.judge import deadlines

            before, total = float(results.get("score", 0)), float(extra.get("max_score") or 0)
            assignment = str(extra.get("assignment", ""))
            course = deadlines.Deadlines(due={assignment: parse_time(late["due_date"])}, late=policy)
            assessed = deadlines.assess(course, str(extra.get("student", "")), assignment, late["submitted"], total,
                                        before)
            results["score"] = round(before - assessed.penalty, 4)
            late.update(policy=dataclasses.asdict(policy), penalty=assessed.penalty, score_before_penalty=before)
            lines.append(f"The course's late policy: {assessed.note}, so {_points(before)} → "
                         f"{_points(results['score'])} points.")
    previous = info["previous"]
    if previous:
        total = extra.get("max_score")
        when = f", submitted {_when(parse_time(previous['submitted']))}" if previous["submitted"] else ""
        lines.append(f"Earlier submissions: {previous['count']}; the best scored {_points(previous['best_score'])}"
                     + (f" / {_points(total)}" if isinstance(total, (int, float)) else "") + f"{when}.")
    groups: dict[str, int] = {}
    for test in results.get("tests", []):
        group = str(test.get("extra_data", {}).get("check_group", test.get("name", "")))
        number = groups.setdefault(group, len(groups) + 1)
        hidden = test.get("visibility") == "after_due_date"
        test.update(number=f"{number}.{2 if hidden else 1}", tags=[group, "hidden" if hidden else "public"],
                    output_format="text", name_format="text")
    results.update(output="\n".join(line for line in lines if line), output_format="text", visibility="visible",
                   stdout_visibility="hidden")
    extra["gradescope"] = info
    return textsafe.deep(results)


def read_metadata(path: Path) -> dict:
    """submission_metadata.json, or {} where it is missing or unreadable (grading goes on without it)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _grade(notebook: Path, assignment: str, work: Path) -> tuple[dict | None, str]:
    """`autograder grade` in its own process: (its results.json, '') or (None, what went wrong)."""
    command = [sys.executable, "-m", "autograder", "grade", str(notebook), "-a", assignment, "-o", str(work)]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        status = process.wait(timeout=GRADE_TIMEOUT)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return None, f"it did not finish within {GRADE_TIMEOUT // 60} minutes"
    try:
        return json.loads((work / "results.json").read_text(encoding="utf-8")), ""
    except (OSError, ValueError):
        return None, f"it stopped with exit status {status} and wrote no result"


def run(root: Path, assignment: str, late_policy: Path | None = None) -> dict:
    """Grade the submission in `root`/submission as Gradescope asks and write `root`/results/results.json.

    Whatever happens (no notebook, several, a grader that crashes or hangs, a fault here), a results file is
    written; the dict written is returned."""
    started = time.monotonic()
    metadata_path = root / "submission_metadata.json"
    with contextlib.suppress(OSError):  # earlier results (hidden cases' messages) are not for a probe to read
        metadata_path.chmod(0o600)
    metadata = read_metadata(metadata_path)
    try:
        policy = read_policy(late_policy) if late_policy else None
        try:
            path, ignored = find_submission(root / "submission", assignment)
        except SubmissionError as exc:
            results, graded, ignored = error_results(assignment, str(exc)), None, []
        else:
            graded = path.relative_to(root / "submission").as_posix()
            print(textsafe.for_terminal(_("gradescope: grading {notebook}").format(notebook=graded)), flush=True)
            with tempfile.TemporaryDirectory(prefix="gradescope-") as work:
                results, problem = _grade(path, assignment, Path(work))
            if results is None:
                results = error_results(assignment, f"the grader failed on this submission: {problem}. This is not "
                                        "your fault: your instructor can run the autograder on it again.", True)
        final = for_gradescope(results, metadata, policy, graded, ignored)
    except Exception as exc:  # noqa: BLE001 - a fault here must still leave Gradescope a result
        final = for_gradescope(error_results(assignment, f"the autograder failed ({type(exc).__name__}: {exc}). "
                                             "This is not your fault: tell your instructor.", True), {})
    final["execution_time"] = round(time.monotonic() - started, 3)
    out = root / "results" / "results.json"
    write_atomic(out, json.dumps(final, indent=2, ensure_ascii=False) + "\n")
    print(f"gradescope: {assignment}: {final['score']:g} → {out}")
    return final
