"""`autograder release -o DIR`: the student bundle holds everything students need and nothing secret."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from autograder import bundle
from autograder.course import PACKAGE_DIR
from examples import samples

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENTS = sorted(p.name for p in (ROOT / "solutions").iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def student_bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "course"
    result = subprocess.run([sys.executable, "-m", "autograder", "release", "-o", str(out)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out


def test_bundle_has_what_students_need(student_bundle: Path):
    for assignment in ASSIGNMENTS:
        assert (student_bundle / "assignments" / assignment / f"{assignment}.ipynb").is_file()
    assert (student_bundle / "autograder" / "inline.py").is_file()
    assert (student_bundle / "autograder" / "checks" / "base.py").is_file()
    assert (student_bundle / "datasets" / "README.md").is_file()
    assert (student_bundle / ".github" / "workflows" / "grade.yml").is_file()
    assert "autograder check" in (student_bundle / "README.md").read_text(encoding="utf-8")


def test_bundle_leaves_out_solutions_tests_examples_and_hidden_checks(student_bundle: Path):
    names = {p.name for p in student_bundle.iterdir()}
    assert not names & {"solutions", "tests", "examples", "benchmarks", ".git"}
    hidden = student_bundle / "autograder" / "checks" / "hidden"
    assert [p.name for p in hidden.iterdir()] == ["__init__.py"]
    assert bundle.leaks(student_bundle, ROOT) == []


def test_every_solution_block_and_hidden_module_is_searched_for():
    found = bundle.secrets(ROOT)
    for assignment in ASSIGNMENTS:
        for gid in samples.solution_sources(assignment):
            if len(samples.solution_sources(assignment)[gid].split()) > 3:
                assert any(label.startswith(f"{assignment}/{gid} ") for label in found), (assignment, gid)
    hidden = sorted(p.name for p in (PACKAGE_DIR / "checks" / "hidden").glob("*.py") if p.name != "__init__.py")
    assert [label for label in found if label.startswith("hidden checks")] == [f"hidden checks {n}" for n in hidden]


def test_the_leak_search_finds_a_planted_solution_and_a_planted_hidden_module(student_bundle: Path, tmp_path: Path):
    planted = tmp_path / "planted"
    shutil.copytree(student_bundle, planted)
    solution = samples.solution_sources("01_rnn")["rnn_cell_forward"]
    notes = planted / "assignments" / "notes.py"
    notes.write_text("# copied from a friend\n" + solution.replace("\n", "\n\n"), encoding="utf-8")
    shutil.copyfile(PACKAGE_DIR / "checks" / "hidden" / "rnn.py", planted / "autograder" / "checks" / "hidden" / "x.py")
    found = bundle.leaks(planted, ROOT)
    assert any("01_rnn/rnn_cell_forward" in f and "notes.py" in f for f in found), found
    assert any("hidden check module x.py" in f for f in found), found


def test_release_refuses_to_overwrite_a_folder_that_is_not_a_bundle(tmp_path: Path):
    (tmp_path / "precious.txt").write_text("keep me", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "autograder", "release", "-o", str(tmp_path)], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode != 0 and "not a bundle" in result.stderr
    assert (tmp_path / "precious.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.slow
def test_autograder_check_works_inside_the_bundle_alone_in_a_fresh_venv(student_bundle: Path, tmp_path: Path):
    """A fresh venv sees this environment's third-party packages but not this checkout's autograder;
    the bundle is installed into it like a student would (`pip install .`), and graded from outside."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    fresh_site = next((venv / "lib").glob("python3*/site-packages"))
    # Only the directory goes on sys.path: .pth files in it (this checkout's editable install) do not run;
    # pip and setuptools come from there too.
    (fresh_site / "parent-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    work = tmp_path / "student"
    shutil.copytree(student_bundle, work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOGRADER", "PYTHON"))}
    install = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                              "--no-build-isolation", "--no-index", str(work)], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stderr + install.stdout
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import autograder; print(autograder.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert str(venv) in where.stdout, where.stdout + where.stderr

    env["AUTOGRADER_COURSE"] = str(work)
    released = work / "assignments" / "01_rnn" / "01_rnn.ipynb"
    stubs = subprocess.run([str(venv / "bin" / "autograder"), "check", str(released)], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert stubs.returncode == 1, stubs.stdout + stubs.stderr
    assert "not implemented yet" in stubs.stdout and " 0 / " in stubs.stdout

    # Every assignment's public checks are planned from the bundle alone (no hidden module, no solutions/)...
    plan = ("import sys; from autograder import grading\n"
            "for a in sys.argv[1:]:\n"
            "    p = grading.plan_assignment(a, include_hidden=True)\n"
            "    assert p.calls and not p.hidden_checks, a\n")
    planned = subprocess.run([str(venv / "bin" / "python"), "-c", plan, *ASSIGNMENTS], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert planned.returncode == 0, planned.stderr
    # ... and a whole check passes for the first assignment and for the one that reads datasets/.
    for assignment in ("01_rnn", "06_language_model"):
        solved = samples.write_notebook(samples.make_notebook(assignment),
                                        tmp_path / "solved" / assignment / f"{assignment}.ipynb")
        full = subprocess.run([str(venv / "bin" / "autograder"), "check", str(solved)], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=300)
        assert full.returncode == 0, full.stdout + full.stderr
    solved = tmp_path / "solved" / "01_rnn" / "01_rnn.ipynb"

    graded = subprocess.run([str(venv / "bin" / "autograder"), "grade", str(solved), "-o", str(tmp_path / "out")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    data = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    assert data["extra_data"]["hidden_checks"] is False
    assert "public checks only" in data["output"]
    assert all(t["visibility"] == "visible" for t in data["tests"])
    assert data["score"] == data["extra_data"]["max_score"]
