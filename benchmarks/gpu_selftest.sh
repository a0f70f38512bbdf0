#!/usr/bin/env bash
# One run on a machine with an NVIDIA GPU: the CUDA tests, the grader's tests with the CUDA cases on,
# and a grading benchmark with and without the CUDA cases. Sized to finish in a few minutes.
#
#   bash benchmarks/gpu_selftest.sh            # uses $PYTHON (default: .venv/bin/python, else python3)
#
# Needs torch with CUDA, nbformat, IPython, matplotlib, tqdm, pytest and hypothesis importable by $PYTHON
# (`make test TORCH_SPEC=...` with a CUDA build, or an existing environment). Prints figures for the README.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python3)}
STUDENTS=${STUDENTS:-200}
status=0

echo "== environment"
"$PYTHON" - <<'PY' || exit 2
import os, torch
assert torch.cuda.is_available(), "no CUDA device visible to torch"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}, "
      f"{os.cpu_count()} CPU cores")
PY

echo "== CUDA tests (marked gpu)"
"$PYTHON" -m pytest -q -p no:cacheprovider -m gpu tests/test_gpu.py || status=1

echo "== 01-03 check tables with the CUDA cases on"
"$PYTHON" -m pytest -q -p no:cacheprovider -x tests/test_rnn_checks.py tests/test_lstm_checks.py \
  tests/test_gru_checks.py tests/test_gpu.py || status=1

echo "== isolation and hostile submissions on this machine"
"$PYTHON" -m pytest -q -p no:cacheprovider tests/test_hostile.py tests/test_uids.py || status=1

echo "== grading benchmark: $STUDENTS submissions of 01_rnn, CUDA cases on, then off"
"$PYTHON" benchmarks/bench_nbgrader.py --skip-nbgrader --students "$STUDENTS" || status=1
AUTOGRADER_DEVICE=cpu "$PYTHON" benchmarks/bench_nbgrader.py --skip-nbgrader --students "$STUDENTS" || status=1

echo "== per-submission cost of CUDA in a probe (one notebook, 5 runs each)"
"$PYTHON" - <<'PY' || status=1
import os, subprocess, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, ".")
from examples import samples
nb = samples.write_notebook(samples.make_notebook("01_rnn"), Path(tempfile.mkdtemp()) / "01_rnn.ipynb")
for device in ("cuda", "cpu"):
    env = dict(os.environ, AUTOGRADER_DEVICE=device)
    times = []
    for _ in range(5):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "autograder", "grade", str(nb), "-o", str(nb.parent / device)],
                       env=env, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    print(f"autograder grade with CUDA cases {'on ' if device == 'cuda' else 'off'}: "
          f"median {sorted(times)[2]:.2f} s (whole command, start-up included)")
PY
exit $status
