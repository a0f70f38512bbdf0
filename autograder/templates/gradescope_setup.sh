#!/usr/bin/env bash
# Gradescope runs this once, as root, while it builds the autograder's image: Python, the CPU build of torch,
# the grader and its dependencies. Written by `autograder gradescope`; build a new zip rather than edit it.
set -euo pipefail

ROOT="${AUTOGRADER_GRADESCOPE_ROOT:-/autograder}"
SOURCE="$ROOT/source"
TORCH_SPEC="@TORCH_SPEC@"
TORCH_INDEX="@TORCH_INDEX@"

# python3 with venv and pip: an Ubuntu image may have python3 without them.
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends python3 python3-venv python3-pip
fi
if ! python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    echo "setup.sh: the grader needs Python 3.10 or newer; this image has $(python3 --version 2>&1)." >&2
    echo "setup.sh: choose the Ubuntu 24.04 base image in the assignment's autograder settings." >&2
    exit 1
fi

python3 -m venv "$ROOT/venv"
PIP=("$ROOT/venv/bin/python" -m pip install --no-cache-dir --disable-pip-version-check)
"${PIP[@]}" "$TORCH_SPEC" --index-url "$TORCH_INDEX"
"${PIP[@]}" -r "$SOURCE/requirements.txt"

# The grader goes into a folder of its own, not into the environment's site-packages: the sandbox leaves out of a
# probe's file system every import path that holds the grader's checks, and torch must stay in.
rm -rf "$ROOT/grader"
"${PIP[@]}" --no-deps --target "$ROOT/grader" "$SOURCE/@WHEEL@"

# Only the grader (root) reads the hidden checks; probes run as other users.
chmod -R go-rwx "$SOURCE/hidden"

# The image is usable: the grader imports, finds the released notebook and the hidden checks.
AUTOGRADER_COURSE="$SOURCE/course" AUTOGRADER_HIDDEN_CHECKS="$SOURCE/hidden" PYTHONPATH="$ROOT/grader" \
    "$ROOT/venv/bin/python" -c '
import sys
from autograder import checks, course
from autograder.judge import grading
course.released_notebook(sys.argv[1])
assert checks.hidden_available(sys.argv[1]), "the hidden checks are missing"
print("setup.sh: the grader is ready for", sys.argv[1])
' "@ASSIGNMENT@"
