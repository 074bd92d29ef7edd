#!/usr/bin/env bash
# The main job (README's first command): installs the package, then runs the quickstart example.
# (The training application of issue #3 will take this over.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
exec "${VENV:-.venv}/bin/python" examples/quickstart.py "$@"
