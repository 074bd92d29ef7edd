#!/usr/bin/env bash
# The test command (README, CI): installs what it needs, then runs the suite on every core.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m slow` or `bash scripts/test.sh -k densenet`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/get_fashion_mnist.sh
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-3}"
exec "${VENV:-.venv}/bin/python" -m pytest -n auto -p no:cacheprovider "$@"
