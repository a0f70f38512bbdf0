"""`autograder gradescope`: the zip Gradescope takes, and its run_autograder grading real submissions in a
simulated /autograder tree (the install step skipped: the current interpreter stands in for setup.sh's)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import jsonschema  # nbformat's own dependency, so always installed with this package
import pytest

from autograder.authoring import gradescope
from autograder.judge.deadlines import LatePolicy
from examples import samples

ROOT = Path(__file__).resolve().parent.parent
A = "01_rnn"
MAX = 12.0
# A course file (judge.deadlines): its [due] is the course's own; on Gradescope, Gradescope's due dates apply.
COURSE_FILE = '[due]\n01_rnn = "2026-03-09 23:59"\n\n[late]\nper = "day"\npenalty = 0.1\ncap = 0.5\n'
POLICY = LatePolicy(per="day", penalty=0.1, cap=0.5)

# Gradescope's documented results.json fields (gradescope-autograders.readthedocs.io, "Autograder Specifications").
VISIBILITY = {"enum": ["hidden", "after_due_date", "after_published", "visible"]}
FORMAT = {"enum": ["text", "html", "simple_format", "md", "ansi"]}
TEST_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "max_score": {"type": "number"},
        "status": {"enum": ["passed", "failed"]},
        "name": {"type": "string"},
        "name_format": FORMAT,
        "number": {"type": "string"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": VISIBILITY,
        "extra_data": {"type": "object"},
    },
    "additionalProperties": False,
}
RESULTS_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number"},
        "output": {"type": "string"},
        "output_format": FORMAT,
        "test_output_format": FORMAT,
        "test_name_format": FORMAT,
        "visibility": VISIBILITY,
        "stdout_visibility": VISIBILITY,
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": TEST_SCHEMA},
        "leaderboard": {"type": "array", "items": {
            "type": "object", "required": ["name", "value"], "additionalProperties": False,
            "properties": {"name": {"type": "string"}, "value": {"type": ["number", "string"]},
                           "order": {"enum": ["asc", "desc"]}}}},
    },
    "additionalProperties": False,
    # the score is required at the top level unless every test case has one
    "anyOf": [{"required": ["score"]},
              {"required": ["tests"], "properties": {"tests": {"items": {"required": ["score"]}}}}],
}

ON_TIME = {"id": 1, "created_at": "2026-03-01T10:00:00.123456-08:00",
           "assignment": {"due_date": "2026-03-02T23:00:00.000000-08:00", "late_due_date": None, "id": 25828,
                          "title": "01 RNN", "total_points": "12.0",
                          "release_date": "2026-02-20T00:00:00.000000-08:00"},
           "users": [{"email": "ada@example.edu", "id": 1234, "name": "Ada"}], "previous_submissions": []}


def late_by(hours: float, previous: list[dict] | None = None) -> dict:
    """ON_TIME's metadata, submitted `hours` after the due date."""
    metadata = json.loads(json.dumps(ON_TIME))
    due = datetime.fromisoformat(metadata["assignment"]["due_date"])
    metadata["created_at"] = (due + timedelta(hours=hours)).isoformat(timespec="microseconds")
    metadata["previous_submissions"] = previous or []
    return metadata


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> dict[str, Path]:
    """autograder.zip built by the CLI (with a late policy), unpacked, and its wheel installed where setup.sh
    installs it."""
    work = tmp_path_factory.mktemp("gradescope")
    (work / "course.toml").write_text(COURSE_FILE, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "autograder", "gradescope", "-a", A,
                           "-o", str(work / "autograder.zip"), "--deadlines", str(work / "course.toml")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "worth 12 autograder points" in done.stdout
    with zipfile.ZipFile(work / "autograder.zip") as archive:
        archive.extractall(work / "source")
    wheel = next((work / "source").glob("*.whl"))
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                                "--target", str(work / "grader"), str(wheel)], capture_output=True, text=True,
                               timeout=300)
    assert installed.returncode == 0, installed.stderr
    return {"zip": work / "autograder.zip", "source": work / "source", "grader": work / "grader"}


def autograder_tree(package: dict[str, Path], base: Path, files: dict[str, bytes], metadata: dict) -> Path:
    """/autograder as Gradescope lays it out: source/ (the zip), run_autograder copied beside it, what setup.sh
    installed (grader/), the submission, its metadata and an empty results/."""
    root = base / "autograder"
    shutil.copytree(package["source"], root / "source")
    shutil.copytree(package["grader"], root / "grader")
    shutil.copyfile(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    for name, data in files.items():
        (root / "submission" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "submission" / name).write_bytes(data)
    (root / "submission").mkdir(exist_ok=True)
    (root / "results").mkdir()
    (root / "submission_metadata.json").write_text(json.dumps(metadata), encoding="utf-8")
    return root


def run_autograder(root: Path, python: str = sys.executable) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER_") and k != "PYTHONPATH"}
    env.update({gradescope.ROOT_ENV: str(root), "AUTOGRADER_GRADESCOPE_PYTHON": python})
    done = subprocess.run([str(root / "run_autograder")], cwd=root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    results = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    jsonschema.validate(results, RESULTS_SCHEMA)
    return results


def notebook_bytes(nb: dict) -> bytes:
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode()


def assert_gradescope_conventions(results: dict) -> None:
    """Student text is shown as text, the grader's log to instructors only, hidden cases after the due date."""
    assert results["output_format"] == "text" and results["stdout_visibility"] == "hidden"
    for test in results["tests"]:
        assert test["output_format"] == test["name_format"] == "text"
        hidden = test["name"].endswith("(hidden cases)")
        assert test["visibility"] == ("after_due_date" if hidden else "visible"), test["name"]
        assert test["tags"][-1] == ("hidden" if hidden else "public")
    assert len({t["number"] for t in results["tests"]}) == len(results["tests"])


# ---------------------------------------------------------------- the package

def test_zip_has_gradescopes_two_scripts_at_its_root_executable(package):
    with zipfile.ZipFile(package["zip"]) as archive:
        infos = {info.filename: info for info in archive.infolist()}
    for script in ("setup.sh", "run_autograder"):
        assert script in infos
        assert (infos[script].external_attr >> 16) & 0o111 == 0o111, script
    assert json.loads((package["source"] / "late_policy.json").read_text()) == dataclasses.asdict(POLICY)
    assert '--late-policy "$ROOT/source/late_policy.json"' in (package["source"] / "run_autograder").read_text()


def test_zip_holds_the_hidden_checks_and_the_released_notebooks(package):
    source = package["source"]
    for module in (ROOT / "autograder" / "checks" / "hidden").glob("*.py"):
        if module.name != "__init__.py":
            assert (source / "hidden" / module.name).read_bytes() == module.read_bytes(), module.name
    for notebook in (ROOT / "assignments").glob("*/*.ipynb"):
        assert (source / "course" / "assignments" / notebook.parent.name / notebook.name).read_bytes() \
            == notebook.read_bytes()
    assert (source / "course" / "datasets" / "names" / "first_names.txt").is_file()
    # the wheel carries the package without its hidden modules: those are the hidden/ folder's alone
    hidden_in_wheel = sorted(p.name for p in (package["grader"] / "autograder" / "checks" / "hidden").glob("*.py"))
    assert hidden_in_wheel == ["__init__.py"]
    assert "torch" in (source / "requirements.txt").read_text()


def test_zip_holds_no_solution_notebook_or_solution_code(package):
    texts = gradescope.zip_texts(package["zip"])
    assert not [name for name in texts if "solutions/" in name]
    outside_hidden = {name: re.sub(r"\s+", " ", text) for name, text in texts.items() if not name.startswith("hidden/")}
    for assignment in (p.name for p in (ROOT / "solutions").iterdir() if p.is_dir()):
        for grade_id, code in samples.solution_sources(assignment).items():
            body = re.sub(r"\s+", " ", code).strip()
            if len(body) >= 40:
                assert not [name for name, text in outside_hidden.items() if body in text], (assignment, grade_id)
    assert gradescope.leaks(package["zip"], ROOT) == []


def test_setup_script_parses_and_installs_the_pinned_cpu_torch(package):
    for script in ("setup.sh", "run_autograder"):
        done = subprocess.run(["bash", "-n", str(package["source"] / script)], capture_output=True, text=True)
        assert done.returncode == 0, (script, done.stderr)
    if shutil.which("shellcheck"):
        done = subprocess.run(["shellcheck", "-s", "bash", "setup.sh", "run_autograder"], cwd=package["source"],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stdout
    setup = (package["source"] / "setup.sh").read_text()
    assert f'TORCH_SPEC="{gradescope.TORCH_SPEC}"' in setup and "https://download.pytorch.org/whl/cpu" in setup
    wheel = next(package["source"].glob("*.whl")).name
    assert f'--target "$ROOT/grader" "$SOURCE/{wheel}"' in setup
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^TORCH_SPEC \?= (\S+)$", makefile, re.M)[1] == gradescope.TORCH_SPEC


# ---------------------------------------------------------------- grading real submissions

@pytest.mark.slow
def test_reference_solution_scores_full_marks(package, tmp_path):
    root = autograder_tree(package, tmp_path, {f"{A}.ipynb": notebook_bytes(samples.make_notebook(A))}, ON_TIME)
    results = run_autograder(root)
    assert results["score"] == MAX
    assert results["tests"] and all(t["status"] == "passed" for t in results["tests"])
    assert any(t["visibility"] == "after_due_date" for t in results["tests"])  # the hidden cases ran
    assert results["extra_data"]["hidden_checks"] is True
    assert sum(t["score"] for t in results["tests"]) == pytest.approx(MAX, abs=1e-3)
    assert "after the due date" not in results["output"]
    assert results["extra_data"]["gradescope"]["notebook"] == f"{A}.ipynb"
    assert_gradescope_conventions(results)


@pytest.mark.slow
def test_late_buggy_submission_loses_points_and_the_late_penalty_and_best_earlier_score_are_shown(package, tmp_path):
    buggy = samples.make_notebook(A, samples.replace_in(A, "rnn_cell_forward", "return torch.tanh(pre_activation)",
                                                        "return pre_activation"))
    previous = [{"submission_time": "2026-03-01T09:00:00.000000-08:00", "score": 4.5, "results": {}},
                {"submission_time": "2026-03-01T09:30:00.000000-08:00", "score": 7.25, "results": {}}]
    root = autograder_tree(package, tmp_path, {"work/rnn.ipynb": notebook_bytes(buggy)}, late_by(26, previous))
    results = run_autograder(root)
    raw = sum(t["score"] for t in results["tests"])
    assert 0 < raw < MAX
    assert any(t["status"] == "failed" for t in results["tests"] if t["name"].startswith("rnn_cell_forward"))
    late = results["extra_data"]["gradescope"]["late"]
    assert late["seconds"] == 26 * 3600 and late["penalty"] == pytest.approx(2.4)  # two days begun: 20% of 12 points
    assert late["score_before_penalty"] == pytest.approx(raw, abs=1e-3)
    assert results["score"] == pytest.approx(raw - 2.4, abs=1e-3)
    assert "Submitted 1 day 2 hours after the due date" in results["output"]
    assert ("The course's late policy: submitted 26.0 h after the due date: 2 day(s) late, 20% of the points (2.4) "
            "deducted, so") in results["output"]
    assert "Earlier submissions: 2; the best scored 7.25 / 12" in results["output"]
    assert_gradescope_conventions(results)


@pytest.mark.slow
def test_untouched_released_notebook_scores_zero(package, tmp_path):
    released = (ROOT / "assignments" / A / f"{A}.ipynb").read_bytes()
    results = run_autograder(autograder_tree(package, tmp_path, {f"{A}.ipynb": released}, ON_TIME))
    assert results["score"] == 0
    assert results["tests"] and all(t["score"] == 0 for t in results["tests"])
    assert_gradescope_conventions(results)


def test_submission_without_a_notebook_gets_a_clear_error_and_zero(package, tmp_path):
    root = autograder_tree(package, tmp_path, {"rnn.py": b"print('hello')\n"}, ON_TIME)
    results = run_autograder(root)
    assert results["score"] == 0 and results["tests"] == []
    assert f"Error: your submission holds no notebook (.ipynb file): upload {A}.ipynb" in results["output"]
    assert results["extra_data"]["grader_error"] is False


def test_submission_with_two_notebooks_gets_a_clear_error_and_zero(package, tmp_path):
    nb = notebook_bytes(samples.make_notebook(A))
    root = autograder_tree(package, tmp_path, {"rnn_v1.ipynb": nb, "rnn_v2.ipynb": nb}, ON_TIME)
    results = run_autograder(root)
    assert results["score"] == 0 and results["tests"] == []
    assert "holds 2 notebooks (rnn_v1.ipynb, rnn_v2.ipynb)" in results["output"]
    assert f"submit only {A}.ipynb" in results["output"]


def test_run_autograder_writes_a_result_even_when_the_grader_cannot_start(package, tmp_path):
    root = autograder_tree(package, tmp_path, {f"{A}.ipynb": b"{}"}, ON_TIME)
    results = run_autograder(root, python=str(tmp_path / "no-such-python"))
    assert results["score"] == 0 and results["extra_data"]["grader_error"] is True
    assert "could not start" in results["output"]


# ---------------------------------------------------------------- the parts, without a grader

def test_a_grader_that_fails_on_a_submission_leaves_a_result_that_says_so(tmp_path, monkeypatch):
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / f"{A}.ipynb").write_text("{}")
    monkeypatch.setattr(gradescope, "_grade", lambda *args: (None, "it stopped with exit status 3 and wrote no result"))
    gradescope.run(tmp_path, A)
    results = json.loads((tmp_path / "results" / "results.json").read_text())
    jsonschema.validate(results, RESULTS_SCHEMA)
    assert results["score"] == 0 and results["extra_data"]["grader_error"] is True
    assert "the grader failed on this submission: it stopped with exit status 3" in results["output"]


def test_a_whole_repository_submitted_is_graded_by_its_assignment_notebook(tmp_path):
    for name in (f"assignments/{A}/{A}.ipynb", "assignments/02_lstm/02_lstm.ipynb",
                 f"assignments/{A}/.ipynb_checkpoints/{A}-checkpoint.ipynb", f"__MACOSX/._{A}.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("{}")
    path, ignored = gradescope.find_submission(tmp_path, A)
    assert path == tmp_path / "assignments" / A / f"{A}.ipynb"
    assert ignored == ["assignments/02_lstm/02_lstm.ipynb"]


def test_two_notebooks_named_after_the_assignment_are_refused(tmp_path):
    for name in (f"a/{A}.ipynb", f"b/{A}.ipynb"):
        (tmp_path / name).parent.mkdir(parents=True)
        (tmp_path / name).write_text("{}")
    with pytest.raises(gradescope.SubmissionError, match=f"2 notebooks \\(a/{A}.ipynb, b/{A}.ipynb\\)"):
        gradescope.find_submission(tmp_path, A)


def graded(score: float) -> dict:
    return {"score": score, "output": f"{A}: {score:g} / 12", "extra_data": {"max_score": 12.0},
            "tests": [{"name": "cell", "score": score, "max_score": 12.0, "status": "failed", "output": "✗ x",
                       "visibility": "visible", "extra_data": {"check_group": "cell"}}]}


def test_lateness_is_reported_without_a_penalty_when_no_policy_is_packaged():
    results = gradescope.for_gradescope(graded(10), late_by(3))
    assert results["score"] == 10
    assert "Submitted 3 hours after the due date (2026-03-02 23:00-08:00)." in results["output"]
    assert "penalty" not in results["output"].lower()
    jsonschema.validate(results, RESULTS_SCHEMA)


def test_on_time_and_extended_submissions_are_not_late():
    assert gradescope.for_gradescope(graded(10), ON_TIME)["extra_data"]["gradescope"]["late"]["seconds"] < 0
    extended = late_by(30)
    extended["users"][0]["assignment"] = {"due_date": "2026-03-05T23:00:00-08:00"}
    results = gradescope.for_gradescope(graded(10), extended, POLICY)
    assert results["score"] == 10 and "after the due date" not in results["output"]


def test_the_course_late_policy_deducts_from_the_score_and_says_how_much():
    results = gradescope.for_gradescope(graded(10), late_by(50), POLICY)
    assert results["score"] == pytest.approx(6.4)  # three days begun: 30% of the 12 points
    assert ("The course's late policy: submitted 2.1 days after the due date: 3 day(s) late, 30% of the points (3.6) "
            "deducted, so 10 → 6.4 points.") in results["output"]
    late = results["extra_data"]["gradescope"]["late"]
    assert late["penalty"] == pytest.approx(3.6) and late["score_before_penalty"] == 10
    jsonschema.validate(results, RESULTS_SCHEMA)
    zero = gradescope.for_gradescope(graded(10), late_by(49), LatePolicy(penalty=0.01, per="hour", zero_after_hours=48))
    assert zero["score"] == 0 and "after which late work scores 0" in zero["output"]


def test_the_course_files_late_table_is_packed_and_its_absence_packs_none(tmp_path):
    course = tmp_path / "course.toml"
    course.write_text(COURSE_FILE)
    assert gradescope.packed_policy(course, tmp_path) == dataclasses.asdict(POLICY)
    assert gradescope.packed_policy(None, tmp_path) == dataclasses.asdict(POLICY)  # course.toml at the course root
    course.write_text('[due]\n01_rnn = "2026-03-09 23:59"\n')  # due dates only: nothing is deducted
    assert gradescope.packed_policy(course, tmp_path) is None
    assert gradescope.packed_policy(None, tmp_path / "elsewhere") is None


def test_a_malformed_course_file_is_refused_when_the_package_is_built(tmp_path):
    course = tmp_path / "course.toml"
    course.write_text('[late]\nper = "week"\npenalty = 0.1\n')
    with pytest.raises(gradescope.PackageError, match='per = "hour" or "day"'):
        gradescope.build(A, tmp_path / "autograder.zip", course)
    assert not (tmp_path / "autograder.zip").exists()


def test_gradescope_timestamps_are_read_on_every_supported_python():
    read = gradescope.parse_time
    assert read("2018-07-01T14:22:32.365935-07:00") == read("2018-07-01T21:22:32.365935Z")
    assert read("2018-07-01T14:22:32.36-07:00").microsecond == 360000
    assert read(None) is None and read("soon") is None
