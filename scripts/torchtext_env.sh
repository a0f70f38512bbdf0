#!/usr/bin/env bash
# Build the optional torchtext environment and run tests/test_torchtext_compat.py in it.
#
# 05_embeddings' tokenizer and vocabulary must behave exactly like torchtext's. torchtext is frozen
# at 0.18.0, which loads only with torch 2.3.x, so it cannot share the project's .venv. This script
# makes a separate virtual environment with torch 2.3.1 and torchtext 0.18.0, installs this
# repository into it without dependencies (plus numpy<2, matplotlib and pytest, which the test
# needs), and runs the compatibility tests there. The default test run skips them.
#
# Size: on Linux, PyPI's torch 2.3.1 wheel brings the CUDA 12 libraries with it: about 2.5 GB to
# download and 5 GB installed, a few minutes on a fast connection. Set TORCH_INDEX_URL to a pip
# index of CPU-only torch wheels (PyTorch publishes one) to install well under 1 GB instead.
#
#   scripts/torchtext_env.sh                  build the environment once, then run the tests
#   scripts/torchtext_env.sh -k vocab         extra arguments go to pytest
#   TORCHTEXT_VENV=DIR  where the environment lives (default build/venv-torchtext, ignored by git)
#   PYTHON=python3.11   the interpreter to build it from (torch 2.3.1 has wheels for 3.8 to 3.12)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${TORCHTEXT_VENV:-build/venv-torchtext}
STAMP="$VENV/.installed"

if [ ! -f "$STAMP" ]; then
    "$PYTHON" -m venv "$VENV"
    pip=("$VENV/bin/python" -m pip install --quiet)
    if [ -n "${TORCH_INDEX_URL:-}" ]; then
        "${pip[@]}" "torch==2.3.1" --index-url "$TORCH_INDEX_URL"
    fi
    "${pip[@]}" "torch==2.3.1" "torchtext==0.18.0" "numpy<2" matplotlib pytest
    "${pip[@]}" --no-deps -e .
    touch "$STAMP"
fi

"$VENV/bin/python" -c 'import torch, torchtext; print(f"torch {torch.__version__}, torchtext {torchtext.__version__}")'
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/test_torchtext_compat.py "$@"
