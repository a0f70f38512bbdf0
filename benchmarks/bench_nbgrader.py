"""Benchmark: `nbgrader autograde` against `autograder grade-batch` on one class of 01_rnn submissions.

    .venv/bin/python benchmarks/bench_nbgrader.py [--students 50] [--workers N] [--keep DIR] [--skip-nbgrader]

Builds N submissions (a fixed, deterministic mix of reference solutions, different-but-correct
solutions and plausible bugs; every one well behaved: no hangs, crashes or exits), sets up an nbgrader
course around them, times `nbgrader autograde` and `autograder grade-batch` on them (wall clock, each
as a subprocess so start-up counts), and compares the scores test cell by test cell.
Exit status: 0 when the scores agree (or with --skip-nbgrader), 1 when they disagree, 2 when a step failed
or when they disagree and the grader's code changed during the run (the graders may have run different checks).

Run it with the venv's python: the notebooks' kernel is that interpreter (it must import torch and
`autograder`), and nbgrader, alembic and autograder are taken from its bin/ directory.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from examples import samples  # noqa: E402

A = "01_rnn"
TOLERANCE = 1e-3  # both executors round a cell's points to 4 decimals

# ---------------------------------------------------------------- the submissions

ALT_CELL_EINSUM = '''def rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One step, with einsum and the biases summed in a loop."""
    activations = {"tanh": torch.tanh, "relu": torch.relu}
    if nonlinearity not in activations:
        raise ValueError(f"unknown nonlinearity {nonlinearity!r}")
    z = torch.einsum("ni,hi->nh", x, W_ih) + torch.einsum("nk,hk->nh", h_prev, W_hh)
    for b in (b_ih, b_hh):
        if b is not None:
            z = z + b
    return activations[nonlinearity](z)
'''

ALT_CELL_ADDMM = '''def rnn_cell_forward(x, h_prev, W_ih, W_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    if nonlinearity == "tanh":
        act = torch.tanh
    elif nonlinearity == "relu":
        act = torch.relu
    else:
        raise ValueError("nonlinearity must be tanh or relu")
    bias = x.new_zeros(W_ih.shape[0])
    if b_ih is not None:
        bias = bias + b_ih
    if b_hh is not None:
        bias = bias + b_hh
    return act(torch.addmm(bias, x, W_ih.t()) + h_prev.matmul(W_hh.t()))
'''

ALT_FORWARD_PREALLOCATED = '''def rnn_forward(x, h_0, layers, batch_first=False, nonlinearity="tanh"):
    """Writes each layer's states into a preallocated tensor instead of stacking a list."""
    seq = x.transpose(0, 1) if batch_first else x
    T, N, _ = seq.shape
    H = layers[0][1].shape[0]
    h_n = seq.new_zeros(len(layers), N, H)
    for k, (W_ih, W_hh, b_ih, b_hh) in enumerate(layers):
        h = h_0[k] if h_0 is not None else seq.new_zeros(N, H)
        out = seq.new_empty(T, N, H)
        for t in range(T):
            h = rnn_cell_forward(seq[t], h, W_ih, W_hh, b_ih, b_hh, nonlinearity)
            out[t] = h
        h_n[k] = h
        seq = out
    return (seq.transpose(0, 1) if batch_first else seq), h_n
'''

ALT_SHAPES = '''def rnn_shapes(input_size, hidden_size, num_layers, seq_len, batch, batch_first=False):
    lead = (batch, seq_len) if batch_first else (seq_len, batch)
    state = (num_layers, batch, hidden_size)
    return dict(input=(*lead, input_size), h_0=state, output=(*lead, hidden_size), h_n=state)
'''

ALT_COUNT = '''def count_rnn_params(mode, input_size, hidden_size, num_layers=1, bias=True, bidirectional=False):
    gates = {"RNN": 1, "GRU": 3, "LSTM": 4}
    if mode not in gates:
        raise ValueError(f"unknown mode {mode!r}")
    G, D = gates[mode], 2 if bidirectional else 1
    total = 0
    for k in range(num_layers):
        in_k = input_size if k == 0 else D * hidden_size
        per_direction = G * hidden_size * (in_k + hidden_size) + (2 * G * hidden_size if bias else 0)
        total += D * per_direction
    return total
'''


def _released_stub(grade_id: str) -> str:
    """The unfilled cell exactly as released (docstring, `# YOUR CODE HERE`, `raise NotImplementedError()`)."""
    nb = json.loads((ROOT / "assignments" / A / f"{A}.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _edit(grade_id: str, old: str, new: str) -> dict:
    return {"overrides": samples.replace_in(A, grade_id, old, new)}


def variants() -> dict[str, dict]:
    """name → make_notebook keyword arguments; dict order is the order students cycle through."""
    cell, fwd, shapes, count = "rnn_cell_forward", "rnn_forward", "rnn_shapes_solution", "count_rnn_params_solution"
    return {
        "reference": {},
        "no_tanh": _edit(cell, "return torch.tanh(pre_activation)", "return pre_activation"),
        "alt_einsum_cell": {"overrides": {cell: ALT_CELL_EINSUM}},
        "batch_first_ignored": _edit(fwd, "    if batch_first:\n        x = x.transpose(0, 1)\n", ""),
        "h0_none_crash": _edit(fwd, "    if h_0 is None:\n        h_0 = x.new_zeros(len(layers), batch, hidden_size)\n",
                               ""),
        "alt_all": {"overrides": {cell: ALT_CELL_ADDMM, fwd: ALT_FORWARD_PREALLOCATED, shapes: ALT_SHAPES,
                                  count: ALT_COUNT}},
        "float32_cast": _edit(cell, "return torch.tanh(pre_activation)", "return torch.tanh(pre_activation).float()"),
        "stub_rnn_forward": {"overrides": {fwd: _released_stub(fwd)}},
        "missing_b_hh": _edit(cell, "    if b_hh is not None:\n        pre_activation = pre_activation + b_hh\n", ""),
        "count_raises_keyerror": _edit(count, "gates_per_mode[mode] * hidden_size",
                                       '{"RNN": 1, "LSTM": 4}[mode] * hidden_size'),
        "alt_preallocated_forward": {"overrides": {fwd: ALT_FORWARD_PREALLOCATED}},
        "relu_ignored": _edit(cell, "return torch.relu(pre_activation)", "return torch.tanh(pre_activation)"),
        "shapes_as_lists": _edit(shapes, "state_shape = (num_layers, batch, hidden_size)",
                                 "state_shape = [num_layers, batch, hidden_size]"),
        "count_unidirectional_only": _edit(count, "num_directions * hidden_size + hidden_size",
                                           "hidden_size + hidden_size"),
        "cell_raises_after_def": {"overrides": {shapes: samples.solution_sources(A)[shapes]
                                                + "\n\nrnn_shapes(20, 50, 2)  # a stray try-out call: TypeError\n"}},
        "stub_count_rnn_params": {"overrides": {count: _released_stub(count)}},
        "not_started": {"filled": False},
    }


def build_submissions(submitted: Path, count: int) -> dict[str, str]:
    """Write `count` submissions in nbgrader's layout; returns student → variant."""
    specs = variants()
    names = list(specs)
    # Reference solutions recur more often than any one bug, as in a real class.
    order = []
    for i, name in enumerate(names):
        order.append(name)
        if i % 4 == 3:
            order.append("reference")
    chosen = {}
    for i in range(count):
        variant = order[i % len(order)]
        student = f"s{i + 1:03d}_{variant}"
        spec = specs[variant]
        nb = samples.make_notebook(A, spec.get("overrides"), spec.get("added"), spec.get("filled", True))
        samples.write_notebook(nb, submitted / student / A / f"{A}.ipynb")
        chosen[student] = variant
    return chosen


# ---------------------------------------------------------------- running the graders

def fail(message: str) -> None:
    print(f"bench_nbgrader: {message}", file=sys.stderr)
    raise SystemExit(2)


def run(cmd: list[str], cwd: Path, env: dict, log: Path) -> tuple[int, float]:
    """Run a command, its output to a log file; returns (exit status, wall seconds)."""
    started = time.perf_counter()
    with open(log, "ab") as handle:
        handle.write(f"$ {' '.join(cmd)}\n".encode())
        handle.flush()
        rc = subprocess.run(cmd, cwd=cwd, env=env, stdout=handle, stderr=subprocess.STDOUT).returncode
    return rc, time.perf_counter() - started


def tail(path: Path, lines: int = 30) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return "\n".join(text[-lines:])


def setup_nbgrader(course: Path, students: list[str], env: dict, log: Path) -> None:
    # A kernelspec of our own, found first through JUPYTER_PATH: the notebooks' "python3" kernel is
    # this very interpreter, whatever other python3 kernels the machine has.
    kernel_dir = course / "jupyter" / "kernels" / "python3"
    kernel_dir.mkdir(parents=True)
    (kernel_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (benchmark venv)", "language": "python"}, indent=1), encoding="utf-8")
    env["JUPYTER_PATH"] = str(course / "jupyter")
    (course / "nbgrader_config.py").write_text(
        "c = get_config()\n"
        f"c.CourseDirectory.root = {str(course)!r}\n"
        "c.ExecutePreprocessor.timeout = 60\n"
        "c.Execute.timeout = 60\n", encoding="utf-8")
    source = course / "source" / A / f"{A}.ipynb"
    source.parent.mkdir(parents=True)
    shutil.copyfile(ROOT / "solutions" / A / f"{A}.ipynb", source)
    with open(course / "students.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id"])
        writer.writerows([s] for s in students)
    for cmd in (["nbgrader", "generate_assignment", A, "--force"],
                ["nbgrader", "db", "student", "import", "students.csv"]):
        rc, _ = run(cmd, course, env, log)
        if rc != 0:
            fail(f"`{' '.join(cmd)}` failed ({rc}); the end of {log}:\n{tail(log)}")


def read_gradebook(course: Path, students: list[str]) -> dict[str, dict]:
    """student → {"cells": {grade_id: score}, "total": score, "max": max_score}, from nbgrader's database."""
    from nbgrader.api import Gradebook, MissingEntry

    found = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            try:
                nb = gb.find_submission_notebook(A, A, student)
            except MissingEntry:
                continue
            found[student] = {"cells": {g.name: float(g.score) for g in nb.grades},
                              "total": float(nb.score), "max": float(nb.max_score)}
    return found


def read_grades_csv(path: Path) -> tuple[list[str], dict[str, dict]]:
    """(check group ids, student → {"cells", "total", "max", "error"}) from autograder's grades.csv."""
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        # the test cells' columns: between the student and the late penalty (or the total, in older files)
        end = fields.index("late_submission_penalty") if "late_submission_penalty" in fields else fields.index("total")
        groups = fields[fields.index("student") + 1:end]
        rows = {}
        for row in reader:
            rows[row["student"]] = {"cells": {g: float(row[g]) for g in groups}, "total": float(row["total"]),
                                    "max": float(row["max_score"]) if row["max_score"] else None,
                                    "error": row.get("error", "")}
    return groups, rows


def grader_files() -> dict[str, str]:
    """path → sha256 of what decides a 01_rnn score: the executors, this assignment's checks, its notebooks."""
    package = ROOT / "autograder"
    checks = package / "checks"
    paths = sorted(package.glob("*.py"))
    paths += [checks / name for name in ("__init__.py", "base.py", "recurrent.py", "rnn.py", "hidden/__init__.py",
                                         "hidden/rnn.py")]
    paths += [ROOT / folder / A / f"{A}.ipynb" for folder in ("solutions", "assignments")]
    return {str(p.relative_to(ROOT)): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def compare(students: list[str], groups: list[str], nbg: dict, ag: dict) -> list[tuple[str, str, str, str]]:
    """Disagreements as (student, cell, nbgrader score, autograder score); cell "total" for the totals."""
    problems = []
    for student in students:
        left, right = nbg.get(student), ag.get(student)
        if left is None or right is None:
            problems.append((student, "(submission)", "graded" if left else "missing",
                             "graded" if right else "missing"))
            continue
        for cell in groups + sorted(set(left["cells"]) - set(groups)):
            a, b = left["cells"].get(cell), right["cells"].get(cell)
            if a is None or b is None or abs(a - b) > TOLERANCE:
                problems.append((student, cell, fmt(a), fmt(b)))
        if abs(left["total"] - right["total"]) > TOLERANCE:
            problems.append((student, "total", fmt(left["total"]), fmt(right["total"])))
    return problems


# ---------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=50, help="number of submissions (default 50)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(),
                        help="autograder grade-batch workers (default: number of cores)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR (new or empty) and keep it afterwards")
    parser.add_argument("--skip-nbgrader", action="store_true", help="time autograder only; no comparison")
    args = parser.parse_args(argv)
    if args.students < 1 or (args.workers or 1) < 1:
        parser.error("--students and --workers must be at least 1")

    bin_dir = Path(sys.executable).parent  # not resolved: a venv's python is a link to the base interpreter
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", AUTOGRADER_COURSE=str(ROOT),
               PYTHONUNBUFFERED="1")
    for tool in ("nbgrader", "alembic", "autograder"):
        if tool == "autograder" or not args.skip_nbgrader:
            if not (bin_dir / tool).exists() and not shutil.which(tool, path=env["PATH"]):
                fail(f"`{tool}` is not installed next to {sys.executable}; run this script with the venv's python")

    if args.keep:
        work = Path(args.keep).resolve()
        if work.exists() and any(work.iterdir()):
            fail(f"--keep {work} must be a new or empty directory")
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="bench-nbgrader-"))
    log = work / "bench.log"
    try:
        return bench(args, work, env, log)
    finally:
        if args.keep:
            print(f"\nwork directory kept: {work} (commands' output in {log.name})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def bench(args: argparse.Namespace, work: Path, env: dict, log: Path) -> int:
    course = work / "course"
    submitted = course / "submitted"
    files_before = grader_files()
    chosen = build_submissions(submitted, args.students)
    students = sorted(chosen)
    print(f"submissions: {len(students)} of {A} ({len(set(chosen.values()))} variants) in {submitted}")

    # Warm the page cache for torch once, so neither grader pays for the first cold import alone.
    subprocess.run([sys.executable, "-c", "import torch, nbformat"], env=env, check=True)

    nbg: dict[str, dict] = {}
    nb_wall = None
    if not args.skip_nbgrader:
        setup_nbgrader(course, students, env, log)
        print("running nbgrader autograde ...", flush=True)
        rc, nb_wall = run(["nbgrader", "autograde", A, "--force"], course, env, log)
        if rc != 0:
            print(f"warning: nbgrader autograde exited with {rc}; the end of {log}:\n{tail(log, 15)}")
        nbg = read_gradebook(course, students)

    out = work / "graded"
    print(f"running autograder grade-batch --workers {args.workers} ...", flush=True)
    rc, ag_wall = run(["autograder", "grade-batch", str(submitted), "-a", A, "-o", str(out), "--workers",
                       str(args.workers), "-q"], work, env, log)
    if rc not in (0, 2) or not (out / "grades.csv").exists():
        print(f"autograder grade-batch failed ({rc}); the end of {log}:\n{tail(log)}")
        return 2
    if rc == 2:
        print("warning: autograder reported a grader error (exit 2) for some submission")
    groups, ag = read_grades_csv(out / "grades.csv")

    n = len(students)
    print()
    print(f"{'variant':<26} {'n':>3} {'nbgrader':>9} {'autograder':>10}")
    by_variant: dict[str, list[str]] = {}
    for student in students:
        by_variant.setdefault(chosen[student], []).append(student)
    for variant in variants():
        members = by_variant.get(variant)
        if not members:
            continue
        first = members[0]
        left = nbg.get(first, {}).get("total")
        right = ag.get(first, {}).get("total")
        print(f"{variant:<26} {len(members):>3} {fmt(left) if not args.skip_nbgrader else '':>9} {fmt(right):>10}")
    max_score = next((r["max"] for r in ag.values() if r["max"] is not None), None)
    print(f"(score of the first submission of each variant, out of {fmt(max_score)})")

    print()
    print(f"submissions:               {n}")
    if nb_wall is not None:
        print(f"nbgrader autograde:        {nb_wall:8.1f} s wall, {nb_wall / n:6.3f} s per submission (serial)")
    print(f"autograder grade-batch:    {ag_wall:8.1f} s wall, {ag_wall / n:6.3f} s per submission "
          f"(--workers {args.workers}, {os.cpu_count()} cores)")
    if nb_wall is None:
        return 0
    print(f"ratio nbgrader/autograder: {nb_wall / ag_wall:8.1f}x")

    problems = compare(students, groups, nbg, ag)
    bad_students = sorted({p[0] for p in problems})
    files_after = grader_files()
    changed = sorted(p for p in files_before.keys() | files_after.keys() if files_before.get(p) != files_after.get(p))
    if changed:
        # Each nbgrader kernel imports the checks afresh: an edit mid-run grades early and late students differently.
        print(f"note: the grader or the {A} notebooks changed while this ran ({', '.join(changed)})"
              + ("; the graders may have run different checks: rerun" if problems else
                 "; the scores agree all the same"))
    if not problems:
        print(f"scores agree: {n}/{n} students, totals and all {len(groups)} test cells each "
              f"(nbgrader cell name == autograder check group)")
        return 0
    print(f"scores DISAGREE for {len(bad_students)}/{n} students ({len(problems)} differences):")
    width = max(len(p[0]) for p in problems)
    print(f"  {'student':<{width}}  {'cell':<24} {'nbgrader':>9} {'autograder':>10}")
    for student, cell, left, right in problems:
        print(f"  {student:<{width}}  {cell:<24} {left:>9} {right:>10}")
    return 2 if changed else 1


if __name__ == "__main__":
    sys.exit(main())
