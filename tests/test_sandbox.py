"""The probe's world is allow-listed: what a determined submission can see, keep, spawn or hold.

One batch holds every hostile submission beside honest controls. A submission searches the host for
another copy of the course, reads other processes' command lines and its own environment, leaves System
V segments and temporary files behind, hides memory in a double-forked orphan, forks children that share
a tensor (honestly), forks until refused, and spins in new sessions. The batch must finish, the controls
keep their exact scores, and nothing outlives the batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import PACKAGE_DIR, course_root
from autograder.judge import grading
from autograder.judge.runner import Limits, _pids_of_uid
from autograder.probe import sandbox
from autograder.reports.gradebook import group_scores as _group_scores  # check group → points
from examples import samples

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                       reason="the full sandbox (namespaces, cgroups, a uid per probe) needs Linux and a root grader"),
]

A = "01_rnn"
CELL = "rnn_cell_forward"
FULL = 12.0
CELL_GROUPS = ("rnn_cell_forward_shape", "rnn_cell_forward_values")
TOKEN = "tok-3b1f0c9a7e55-do-not-leak"
ARGV_SECRET = "hunter2-argv-password-4c2e"
SHM_KEY = 0x5EC0DE01
TAG = "sandbox-leftover-7d1a"
SPIN_SECONDS = 2.0

SEARCH = '''
import hashlib, os, time
found, seen, walked, started = [], 0, set(), time.monotonic()
for top in ("/tmp", "/work", "/root", "/home", "/srv", "/opt", "/var", "/"):
    for folder, dirs, files in os.walk(top):
        real = os.path.realpath(folder)
        if real in walked or time.monotonic() - started > 20:
            dirs.clear()
            continue
        walked.add(real)
        for name in files:
            path = os.path.join(folder, name)
            if not name.endswith((".ipynb", ".py")):
                continue
            seen += 1
            try:
                with open(path, errors="replace") as handle:
                    lines = handle.read(4 << 20).splitlines()
            except OSError:
                continue
            if any(hashlib.sha256(line.strip().encode()).hexdigest() in LEAK_HASHES for line in lines):
                found.append(path)
for path in KNOWN:
    try:
        found.append(path + " " + open(path).read())
    except OSError as exc:
        print("REFUSED", type(exc).__name__)
for path in found:
    print("FOUND", path)
print(f"SEARCHED {seen} files in {time.monotonic() - started:.1f} s, FOUND {len(found)}")
'''

PROCESSES = '''
import os
pids = [p for p in os.listdir("/proc") if p.isdigit()]
print("VISIBLE PIDS", len(pids))
for pid in pids:
    try:
        print("CMDLINE", pid, open(f"/proc/{pid}/cmdline").read().replace("\\0", " "))
    except OSError:
        pass
'''

SET_BY_TORCH = {"TORCHINDUCTOR_CACHE_DIR"}  # torch._inductor sets it on import when it is unset
ENVIRONMENT = '''
import json, os
print("ENVKEYS " + json.dumps(sorted(os.environ)))
print("ENVITEMS " + json.dumps(dict(os.environ)))
for path in ("/proc/self/environ", "/proc/1/environ"):
    try:
        print("RAWENV", open(path).read().replace("\\0", " "))
    except OSError:
        pass
'''

LEFTOVERS = f'''
import ctypes, ctypes.util
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
segment = libc.shmget({SHM_KEY}, 1 << 20, 0o1000 | 0o666)
print("SHM SEGMENT", segment)
for folder in ("/dev/shm", "/var/tmp", "/tmp"):
    with open(f"{{folder}}/{TAG}", "wb") as handle:
        handle.write(b"x" * (1 << 20))
    print("WROTE", folder)
'''

ORPHAN_HOG = '''
import os, time
if not globals().get("_orphans_started"):
    globals()["_orphans_started"] = True
    for _ in range(2):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                hoard = b"\\x01" * (600 << 20)
                time.sleep(120)
            os._exit(0)
    time.sleep(8)
'''

HONEST_FORK = '''
import os, time, torch
shared = torch.ones(100_000_000)  # 400 MB, read by every child: five processes, one copy
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        shared.sum()
        time.sleep(1.5)
        os._exit(0)
    children.append(pid)
codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
print("FORKED CHILDREN EXITED", codes)
del shared
'''

FORK_BOMB = '''
import os, time
forked = 0
try:
    while forked < 5000:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        forked += 1
except OSError as exc:
    print(f"FORK REFUSED after {forked}: {exc}")
'''

SPINNERS = f'''
import os, subprocess, sys, time
code = ("import time\\nend = time.monotonic() + {SPIN_SECONDS}\\nwhile time.monotonic() < end: pass\\n"
        "print(time.process_time())")
started = time.monotonic()
spinners = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
            for _ in range(4)]
cpu = sum(float(p.communicate()[0]) for p in spinners)
print(f"SPIN cpu={{cpu:.2f}} wall={{time.monotonic() - started:.2f}}")
'''

HOSTILE = {
    "searches_the_host": {"added": [(CELL, SEARCH)], "expect": FULL},
    "reads_host_processes": {"added": [(CELL, PROCESSES)], "expect": FULL},
    "dumps_its_environment": {"added": [(CELL, ENVIRONMENT)], "expect": FULL},
    "leaves_segments_and_files": {"added": [(CELL, LEFTOVERS)], "expect": FULL},
    "honest_fork_sharing_a_tensor": {"added": [(CELL, HONEST_FORK)], "expect": FULL},
    "fork_bomb": {"added": [(CELL, FORK_BOMB)], "expect": FULL},
    "spinners_in_new_sessions": {"added": [(CELL, SPINNERS)], "expect": FULL},
}
CONTROLS = ["control_a", "control_b"]
LIMITS = Limits(call_seconds=5, cell_seconds=40, submission_seconds=120, memory_bytes=1024**3, processes=64)


def _orphan_hog_cell() -> dict[str, str]:
    source = samples.solution_sources(A)[CELL]
    marker = '    if nonlinearity not in ("tanh", "relu"):'
    indented = "".join(f"    {line}\n" for line in ORPHAN_HOG.strip("\n").splitlines())
    return {CELL: source.replace(marker, indented + marker, 1)}


def _second_copy(base: Path) -> list[str]:
    """Another copy of the course on the host, as a second clone or nbgrader's source/ would leave it."""
    root = course_root()
    clone = base / "second-clone"
    shutil.copytree(root / "solutions", clone / "solutions")
    shutil.copytree(PACKAGE_DIR / "checks", clone / "autograder" / "checks")
    shutil.copytree(root / "solutions", base / "nbgrader-course" / "source")
    return [str(clone / "solutions" / A / f"{A}.ipynb"), str(clone / "autograder" / "checks" / "hidden" / "rnn.py"),
            str(root / "solutions" / A / f"{A}.ipynb"), str(PACKAGE_DIR / "checks" / "hidden" / "rnn.py"),
            str(PACKAGE_DIR / "checks" / "rnn.py")]


def _host_segments() -> set[str]:
    with open("/proc/sysvipc/shm") as handle:
        return {line.split()[0] for line in handle.readlines()[1:]}


def _host_leftovers() -> list[str]:
    return [f"{folder}/{TAG}" for folder in ("/dev/shm", "/var/tmp", "/tmp") if os.path.exists(f"{folder}/{TAG}")]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    base = tmp_path_factory.mktemp("sandbox")
    submitted, out = base / "submitted", base / "out"
    known = _second_copy(base)
    samples_of_each = [line for lines in _leak_lines().values() for line in sorted(lines)[:20]]
    hashes = {hashlib.sha256(line.encode()).hexdigest() for line in samples_of_each}
    search = SEARCH.replace("KNOWN", repr(known)).replace("LEAK_HASHES", repr(hashes))
    for name, spec in HOSTILE.items():
        added = [(gid, search if source is SEARCH else source) for gid, source in spec["added"]]
        samples.write_notebook(samples.make_notebook(A, None, added), submitted / name / A / f"{A}.ipynb")
    samples.write_notebook(samples.make_notebook(A, _orphan_hog_cell()), submitted / "orphan_hog" / A / f"{A}.ipynb")
    for name in CONTROLS:
        samples.write_notebook(samples.make_notebook(A), submitted / name / A / f"{A}.ipynb")
    segments_before = _host_segments()
    witness = subprocess.Popen([sys.executable, "-c", "import sys, time; time.sleep(600)", ARGV_SECRET])
    planted = {"AUTOGRADER_SECRET_TOKEN": TOKEN, **{name: str(base / f"grader-only-{TOKEN}") for name in SET_BY_TORCH}}
    saved = {name: os.environ.get(name) for name in planted}
    os.environ.update(planted)
    grader_env = dict(os.environ)
    try:
        grading.grade_batch(submitted, A, out, workers=2, progress=False, limits=LIMITS)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        witness.kill()
        witness.wait()
    results = {p.parent.parent.name: json.loads(p.read_text()) for p in out.glob(f"*/{A}/results.json")}
    texts = {name: json.dumps(result) for name, result in results.items()}
    return {"results": results, "texts": texts, "out": out, "segments_before": segments_before,
            "segments_after": _host_segments(), "leftovers": _host_leftovers(), "grader_env": grader_env}


def _captured(graded: dict, name: str) -> str:
    return graded["results"][name]["extra_data"].get("captured_output", "")


def _needs(graded: dict, feature: str) -> None:
    isolation = graded["results"]["control_a"]["extra_data"]["isolation"]
    if feature not in isolation:
        pytest.skip(f"this platform refused {feature!r}: {isolation}")


def test_the_batch_finishes_with_a_result_for_everyone(graded):
    assert set(graded["results"]) == {*HOSTILE, "orphan_hog", *CONTROLS}


def test_controls_keep_their_exact_scores(graded):
    reference = [(t["name"], t["score"]) for t in graded["results"]["control_a"]["tests"]]
    assert graded["results"]["control_a"]["score"] == pytest.approx(FULL)
    for name in CONTROLS:
        assert [(t["name"], t["score"]) for t in graded["results"][name]["tests"]] == reference


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_hostile_cell_beside_correct_functions_keeps_full_marks(graded, name):
    result = graded["results"][name]
    assert result["score"] == pytest.approx(HOSTILE[name]["expect"]), result["output"]


def test_a_search_of_the_host_finds_no_solutions_or_hidden_checks(graded):
    _needs(graded, "allow-listed")
    captured = _captured(graded, "searches_the_host")
    searched = re.search(r"SEARCHED (\d+) files in [\d.]+ s, FOUND (\d+)", captured)
    assert searched, captured[-2000:]
    assert int(searched.group(1)) > 100, "the search ran over the probe's file system"
    assert searched.group(2) == "0", captured[-4000:]
    assert captured.count("REFUSED") == 5


def _leak_lines() -> dict[str, set[str]]:
    """Per solution notebook and hidden check module, the lines only it holds: not in any released notebook,
    any submission of the batch or any module a probe may import."""
    root = course_root()
    private: dict[str, set[str]] = {}
    for path in (root / "solutions").glob("*/*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        private[str(path)] = {line.strip() for cell in cells for line in "".join(cell["source"]).splitlines()}
    for path in (PACKAGE_DIR / "checks" / "hidden").glob("*.py"):
        private[str(path)] = {line.strip() for line in path.read_text().splitlines()}
    public = set()
    for path in [*(root / "assignments").glob("*/*.ipynb"),
                 *(p for p in PACKAGE_DIR.rglob("*.py") if "hidden" not in p.relative_to(PACKAGE_DIR).parts)]:
        public.update(line.strip() for line in path.read_text().splitlines())
    for cell in samples.make_notebook(A)["cells"]:
        public.update(line.strip() for line in "".join(cell["source"]).splitlines())
    return {path: {line for line in lines - public if len(line) >= 25} for path, lines in private.items()}


def test_no_line_of_a_solution_or_hidden_check_appears_in_any_output(graded):
    lines = set().union(*_leak_lines().values())
    assert len(lines) > 50
    outputs = [p.read_text(errors="replace") for p in graded["out"].rglob("*") if p.is_file()]
    leaked = {line for line in lines for text in outputs if line in text}
    assert not leaked, sorted(leaked)[:5]


def test_other_processes_and_their_command_lines_are_invisible(graded):
    _needs(graded, "PID")
    captured = _captured(graded, "reads_host_processes")
    visible = re.search(r"VISIBLE PIDS (\d+)", captured)
    assert visible and int(visible.group(1)) <= 3, captured[-2000:]
    assert ARGV_SECRET not in json.dumps(graded["results"])


def test_the_environment_holds_only_allow_listed_names(graded):
    captured = _captured(graded, "dumps_its_environment")
    items = json.loads(re.search(r"ENVITEMS (\{.*\})", captured).group(1))
    grader_env = graded["grader_env"]
    refused = {k for k in grader_env if k not in sandbox.ENV_NAMES and not k.startswith(sandbox.ENV_PREFIXES)}
    assert "AUTOGRADER_SECRET_TOKEN" in refused and SET_BY_TORCH <= refused
    # torch writes a few names itself when the probe imports it; those must hold the probe's own values
    assert not (items.keys() & refused) - SET_BY_TORCH, (items.keys() & refused) - SET_BY_TORCH
    assert all(items[k] != grader_env[k] for k in items.keys() & refused), {k: items[k] for k in items.keys() & refused}
    assert all(TOKEN not in text for text in graded["texts"].values())


def test_segments_and_temporary_files_do_not_outlive_the_probe(graded):
    _needs(graded, "IPC")
    captured = _captured(graded, "leaves_segments_and_files")
    segment = re.search(r"SHM SEGMENT (-?\d+)", captured)
    assert segment and int(segment.group(1)) >= 0, captured[-2000:]
    assert captured.count("WROTE") == 3
    assert str(SHM_KEY) not in graded["segments_before"] | graded["segments_after"]
    assert graded["leftovers"] == []


def test_a_double_forked_orphan_holding_memory_is_counted_and_killed(graded):
    _needs(graded, "cgroup")
    result = graded["results"]["orphan_hog"]
    scores = _group_scores(result)
    assert all(scores[gid] < 1.0 for gid in CELL_GROUPS), scores
    messages = "\n".join(t["output"] for t in result["tests"])
    assert "memory" in messages, messages[:2000]


def test_an_honest_fork_sharing_a_tensor_is_counted_once(graded):
    captured = _captured(graded, "honest_fork_sharing_a_tensor")
    assert "FORKED CHILDREN EXITED [0, 0, 0, 0]" in captured, captured[-2000:]


def test_a_fork_bomb_is_stopped_by_the_process_cap(graded):
    captured = _captured(graded, "fork_bomb")
    refused = re.search(r"FORK REFUSED after (\d+)", captured)
    assert refused and int(refused.group(1)) < LIMITS.processes, captured[-2000:]


def test_spinners_in_their_own_sessions_share_one_core(graded):
    _needs(graded, "CPU")
    captured = _captured(graded, "spinners_in_new_sessions")
    spin = re.search(r"SPIN cpu=([\d.]+) wall=([\d.]+)", captured)
    assert spin, captured[-2000:]
    cpu, wall = float(spin.group(1)), float(spin.group(2))
    assert cpu <= LIMITS.cpu_cores * wall * 1.25, (cpu, wall)


def test_nothing_of_a_probe_is_left_behind(graded):
    uids = {int(m) for r in graded["results"].values() for m in re.findall(r"uid (\d+)", r["extra_data"]["isolation"])}
    assert uids
    assert not [pid for uid in uids for pid in _pids_of_uid(uid)]
    assert _cgroups_of_this_grader() == []


def _cgroups_of_this_grader() -> list[str]:
    found = []
    for folder, dirs, _ in os.walk("/sys/fs/cgroup"):
        found += [os.path.join(folder, d) for d in dirs if d.startswith(f"autograder-{os.getpid()}-")]
        if folder.count("/") >= 6:
            dirs.clear()
    return found


def test_probes_started_at_once_each_get_a_group_of_their_own():
    """Worker threads start probes concurrently: every probe group is its own directory, with every cap."""
    import threading

    from autograder.probe import cgroups

    groups = cgroups.Groups.create()
    if not groups.parents:
        pytest.skip(f"no writable cgroup controller here: {groups.note}")
    made, barrier = [], threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        for _ in range(25):
            made.append(groups.probe_group(256 * 1024**2, 64, 1.0))

    threads = [threading.Thread(target=start) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(made) == 200 and all(g is not None and set(g.dirs) == set(groups.parents) for g in made)
        assert len({folder for g in made for folder in g.dirs.values()}) == 200 * len(set(groups.parents.values()))
    finally:
        for group in made:
            if group is not None:
                group.remove()
        groups.close()
