"""The pytest plugin: every check of a submission is a test item, graded by the same probe and judge."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from examples import samples

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
A = "01_rnn"


def run_plugin(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """pytest --submission ... --junitxml in a fresh process; returns the run and one dict per test case."""
    report = tmp_path / "junit.xml"
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                           *args], capture_output=True, text=True, cwd=tmp_path, timeout=600)
    cases = []
    for case in ET.parse(report).getroot().iter("testcase"):
        properties = {p.get("name"): float(p.get("value")) for p in case.iter("property")}
        failure = case.find("failure")
        cases.append({"file": case.get("classname"), "name": case.get("name"), "passed": failure is None,
                      "message": "" if failure is None else (failure.get("message") or "") + (failure.text or ""),
                      **properties})
    return done, cases


def grade_with_cli(tmp_path: Path, notebook: Path) -> dict:
    out = tmp_path / "cli"
    subprocess.run([sys.executable, "-m", "autograder", "grade", str(notebook), "-o", str(out)], check=True,
                   capture_output=True, timeout=600)
    return json.loads((out / "results.json").read_text())


def test_every_item_passes_for_the_solutions_and_the_scores_add_up(tmp_path):
    notebook = samples.write_notebook(samples.make_notebook(A), tmp_path / "full.ipynb")
    done, cases = run_plugin(tmp_path, "--submission", str(notebook))
    assert done.returncode == 0, done.stdout[-2000:]
    assert cases and all(c["passed"] for c in cases)
    assert sum(c["score"] for c in cases) == pytest.approx(12.0, abs=1e-3)
    assert {c["name"].split("[")[0] for c in cases} == {"test_rnn_cell_forward", "test_rnn_forward",
                                                       "test_rnn_shapes", "test_count_rnn_params"}


def test_every_item_fails_for_the_released_stubs(tmp_path):
    done, cases = run_plugin(tmp_path, "--submission", str(ROOT / "assignments" / A / f"{A}.ipynb"))
    assert done.returncode == 1
    assert cases and not any(c["passed"] for c in cases)
    assert all("not implemented yet" in c["message"] for c in cases)


def test_a_bug_fails_exactly_the_items_the_cli_fails_and_totals_match_results_json(tmp_path):
    bug = samples.replace_in(A, "rnn_cell_forward", "return torch.tanh(pre_activation)", "return pre_activation")
    notebook = samples.write_notebook(samples.make_notebook(A, bug), tmp_path / "bug.ipynb")
    done, cases = run_plugin(tmp_path, "--submission", str(notebook))
    assert done.returncode == 1
    failed = {c["name"] for c in cases if not c["passed"]}
    assert failed and all(name.startswith(("test_rnn_cell_forward[values", "test_rnn_forward[values"))
                          for name in failed)
    results = grade_with_cli(tmp_path, notebook)
    cli_failed = sum(t["output"].count("✗") for t in results["tests"])
    assert len(failed) == cli_failed
    assert sum(c["score"] for c in cases) == pytest.approx(results["score"], abs=1e-3)
    messages = "\n".join(c["message"] for c in cases)
    assert "h_next differs from the reference" in messages


def test_markers_and_keywords_select_checks(tmp_path):
    notebook = samples.write_notebook(samples.make_notebook(A), tmp_path / "full.ipynb")
    _, public = run_plugin(tmp_path, "--submission", str(notebook), "-m", "public")
    assert public and all("-hidden" not in c["name"] for c in public)
    _, shapes = run_plugin(tmp_path, "--submission", str(notebook), "-k", "rnn_shapes")
    assert shapes and all(c["name"].startswith("test_rnn_shapes[") for c in shapes)


def test_the_plugin_and_the_cli_agree_on_every_bundled_example(tmp_path, demo_run):
    submitted = ROOT / "examples" / "submitted"
    _, cases = run_plugin(tmp_path, "--submission", str(submitted))
    scores: dict[tuple[str, str], float] = {}
    for case in cases:
        # JUnit's classname is the notebook's path with dots: ....submitted.<student>.<id>.<id>.ipynb
        student, assignment = case["file"].split(".")[-4:-2]
        scores[(student, assignment)] = scores.get((student, assignment), 0.0) + case["score"]
    done, demo_out = demo_run  # `autograder demo` graded every example with grade-batch
    assert done.returncode == 0, done.stderr
    expected = {}
    for assignment in sorted({p.name for p in submitted.glob("*/*")}):
        for path in (demo_out / assignment).glob(f"*/{assignment}/results.json"):
            expected[(path.parent.parent.name, assignment)] = json.loads(path.read_text())["score"]
    assert set(scores) == set(expected)
    for key, score in expected.items():
        assert scores[key] == pytest.approx(score, abs=1e-3), key
