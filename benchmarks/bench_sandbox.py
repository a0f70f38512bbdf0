"""Benchmark: what the probe sandbox costs per submission, against the grader of an earlier commit.

    .venv/bin/python benchmarks/bench_sandbox.py --baseline REV [--students 40] [--workers N] [--rounds 2]

Grades the same N well-behaved 01_rnn submissions (bench_nbgrader's mix) with `autograder grade-batch` from
this tree and from REV (extracted with `git archive`, run with the same interpreter), each as a subprocess so
start-up counts, alternating the two `--rounds` times, and prints the best wall time of each, per submission,
and the difference. Run it as root to measure the full sandbox (namespaces, cgroups, a uid per probe).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_nbgrader import A, build_submissions  # noqa: E402


def extract(rev: str, into: Path) -> Path:
    """The tree of `rev`, written under `into` (git archive: nothing in this checkout's .git changes)."""
    archive = into / "baseline.tar"
    with archive.open("wb") as handle:
        subprocess.run(["git", "archive", rev], cwd=ROOT, stdout=handle, check=True)
    tree = into / "baseline"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def grade(tree: Path, submitted: Path, out: Path, workers: int) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "autograder", "grade-batch", str(submitted), "-a", A,
                           "-o", str(out), "--workers", str(workers)], cwd=tree, env=env, capture_output=True,
                          text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        sys.exit(f"grade-batch in {tree} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", required=True, help="the commit to compare with")
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        work = Path(tmp)
        submitted = work / "submitted"
        build_submissions(submitted, args.students)
        trees = {"this tree": ROOT, f"baseline {args.baseline}": extract(args.baseline, work)}
        best = {name: float("inf") for name in trees}
        for round_number in range(args.rounds):
            for name, tree in trees.items():
                out = work / f"out-{round_number}-{len(name)}"
                best[name] = min(best[name], grade(tree, submitted, out, args.workers))
        for name, seconds in best.items():
            print(f"{name:>24}: {seconds:6.2f} s for {args.students} submissions, "
                  f"{seconds / args.students * 1000:6.1f} ms each")
        mine, base = best["this tree"], best[f"baseline {args.baseline}"]
        print(f"{'difference':>24}: {(mine - base) / args.students * 1000:+6.1f} ms per submission")
    return 0


if __name__ == "__main__":
    sys.exit(main())
