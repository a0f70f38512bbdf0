"""`autograder release -o DIR`: the student bundle holds everything students need and nothing secret."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from autograder.authoring import bundle
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
    plan = ("import sys; from autograder.judge import grading\n"
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
    public = [t for t in data["tests"] if t["visibility"] == "visible"]
    later = [t for t in data["tests"] if t["visibility"] != "visible"]
    assert public and all(t["status"] == "passed" and t["score"] == t["max_score"] for t in public)
    # the hidden share is stated, not run: no status, no points, and it says when it is graded
    assert later and all("status" not in t and t["score"] == 0 and t["extra_data"]["not_run"] for t in later)
    assert all("graded after the due date" in t["output"] for t in later)
    assert data["score"] == pytest.approx(sum(t["max_score"] for t in public))
    assert data["score"] < data["extra_data"]["max_score"]


# ---------------------------------------------------------------- public cases ship as data, not as code

def test_public_answers_are_data_that_loads_without_executing_code(student_bundle: Path):
    import torch

    from autograder import checks

    folder = student_bundle / "autograder" / "checks" / "public_answers"
    for assignment, name in checks.ASSIGNMENTS.items():
        data = torch.load(folder / f"{name}.pt", weights_only=True)
        assert set(data["groups"]) == set(checks.groups(assignment)), assignment
        assert sum(len(entries) for entries in data["groups"].values()) > 0, assignment
    assert not [p for p in (student_bundle / "autograder").rglob("*.p*") if p.suffix in (".pkl", ".pickle")]


# Run with the bundle first on sys.path: every function of its check, recipe, model and data modules (and every
# reference stand-in) is called on every public case's inputs; none may return one of that group's answers.
NO_ANSWER_FUNCTIONS = r'''
import importlib, inspect, json, pkgutil, signal, sys
bundle = sys.argv[1]
sys.path.insert(0, bundle)
import torch
import autograder
assert autograder.__file__.startswith(bundle), autograder.__file__
from autograder import checks
from autograder.checks import answers

def substantial(v):
    if isinstance(v, torch.Tensor):
        return v.numel() >= 2 and v.device.type != "meta"
    if isinstance(v, (list, tuple, dict, str)):
        return len(v) >= 2
    return False

def same(a, b):
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
        return a.shape == b.shape and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return type(a) is type(b) and not isinstance(a, torch.Tensor) and a == b

def leaves(v):
    yield v
    if isinstance(v, (list, tuple)):
        for x in v:
            yield from leaves(x)
    elif isinstance(v, dict):
        for x in v.values():
            yield from leaves(x)

names = [m.name for m in pkgutil.walk_packages(autograder.__path__, "autograder.")
         if m.name.startswith(("autograder.checks", "autograder.probe.recipes")) or m.name in (
             "autograder.models", "autograder.data", "autograder.data_text", "autograder.judge.evaluate")]
functions, stand_ins = {}, []
for name in names:
    module = importlib.import_module(name)
    for attr, obj in vars(module).items():
        if inspect.isfunction(obj) and obj.__module__ == name:
            functions[f"{name}.{attr}"] = obj
        elif isinstance(obj, answers.References):
            stand_ins.append(obj)
recorded = {}
for path in (answers.ANSWERS_DIR).glob("*.pt"):
    recorded[path.stem] = torch.load(path, weights_only=True)["groups"]
for ref in stand_ins:
    for groups in recorded.values():
        for entries in groups.values():
            for entry in entries:
                functions[f"REF.{entry['fn']}"] = getattr(ref, entry["fn"])

def on_alarm(*_):
    raise TimeoutError
signal.signal(signal.SIGALRM, on_alarm)
found, calls = [], 0
for assignment, module in checks.ASSIGNMENTS.items():
    for group in checks.groups(assignment).values():
        expected = [leaf for entry in recorded[module][group.id] for leaf in leaves(entry["value"])
                    if substantial(leaf)]
        for case in checks.public_cases(assignment, group):
            for label, function in functions.items():
                calls += 1
                signal.setitimer(signal.ITIMER_REAL, 0.5)
                try:
                    out = function(*case.call.args, **case.call.kwargs)
                except BaseException:
                    continue
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
                if substantial(out) and any(same(out, want) for want in expected):
                    found.append(f"{label} on {group.id} / {case.name}")
print(json.dumps({"calls": calls, "functions": len(functions), "found": sorted(set(found))}))
'''


def test_no_function_in_the_bundle_computes_a_public_cases_answer(student_bundle: Path, tmp_path: Path):
    done = subprocess.run([sys.executable, "-c", NO_ANSWER_FUNCTIONS, str(student_bundle)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER")},
                               "AUTOGRADER_COURSE": str(student_bundle)})
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["functions"] > 100 and report["calls"] > 10_000
    assert report["found"] == []


def test_the_answer_search_finds_a_reference_left_in_a_public_module(student_bundle: Path, tmp_path: Path):
    planted = tmp_path / "planted"
    shutil.copytree(student_bundle, planted)
    module = planted / "autograder" / "checks" / "rnn.py"
    module.write_text(module.read_text(encoding="utf-8") + (
        "\n\ndef helpful(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity='tanh'):\n"
        "    a = x @ W_ih.T + h_prev @ W_hh.T + (0 if b_ih is None else b_ih + b_hh)\n"
        "    return torch.tanh(a) if nonlinearity == 'tanh' else torch.relu(a)\n"), encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", NO_ANSWER_FUNCTIONS, str(planted)], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600,
                          env={**{k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER")},
                               "AUTOGRADER_COURSE": str(planted)})
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])["found"]
    assert any(f.startswith("autograder.checks.rnn.helpful on rnn_cell_forward_values") for f in found), found


def test_a_single_solution_line_anywhere_in_the_bundle_is_found(student_bundle: Path, tmp_path: Path):
    planted = tmp_path / "planted"
    shutil.copytree(student_bundle, planted)
    line = next(line for line, origin in bundle.solution_lines(ROOT).items() if origin == "02_lstm/lstm_cell_forward")
    helper = planted / "autograder" / "checks" / "recurrent.py"
    helper.write_text(helper.read_text(encoding="utf-8") + f"\n# {line}\n", encoding="utf-8")
    assert any("02_lstm/lstm_cell_forward" in f and "recurrent.py" in f for f in bundle.leaks(planted, ROOT))


def test_replayed_answers_name_a_classic_mistake_and_refuse_other_inputs(student_bundle: Path, monkeypatch):
    """In-process, as in the bundle: no grading side, every answer from the bundle's recorded data."""
    from conftest import edit_cell, grade_in_process, solution_namespace

    from autograder import checks
    from autograder.checks import answers, lstm

    monkeypatch.setattr(checks, "_hidden_module", lambda assignment: None)  # no hidden checks, no references
    monkeypatch.setattr(answers, "ANSWERS_DIR", student_bundle / "autograder" / "checks" / "public_answers")
    checks.hidden_weight.cache_clear()  # weights of hidden cases come from the bundle's record
    monkeypatch.setattr(checks, "hidden_weight", functools.cache(checks.hidden_weight.__wrapped__))
    assert answers.grading_module("lstm") is None
    with pytest.raises(answers.NotShipped):
        answers.references("lstm").cell_reference(*lstm.cell_inputs(10))
    correct = grade_in_process("lstm_cell_forward_values", solution_namespace("02_lstm"), include_hidden=False)
    assert correct.cases and all(c.passed for c in correct.cases)
    ifog = solution_namespace("02_lstm", edit_cell("02_lstm", "lstm_cell_forward",
                                                   ("a_i, a_f, a_g, a_o =", "a_i, a_f, a_o, a_g =")))
    wrong = grade_in_process("lstm_cell_forward_values", ifog, include_hidden=False)
    assert any("the order i, f, o, g" in (c.message or "") for c in wrong.cases)
    built = lstm.cell_inputs
    monkeypatch.setattr(lstm, "cell_inputs", lambda seed, **kwargs: built(seed + 1000, **kwargs))
    with pytest.raises(answers.ReplayMismatch, match="other inputs"):
        checks.public_cases("02_lstm", checks.groups("02_lstm")["lstm_cell_forward_values"])
