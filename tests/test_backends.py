"""The tiny variants on the JAX and PyTorch backends (subprocesses: Keras fixes its backend at import).

JAX and PyTorch (the CPU build, torch==2.13.0) are test dependencies (the `test` extra): a missing one fails the
test rather than skipping it, so CI cannot pass without running both backends.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tiny_models import TINY

ROOT = Path(__file__).resolve().parents[1]
LABELS = sorted(TINY)
CHUNKS = [LABELS[i::3] for i in range(3)]  # three subprocesses per backend, so pytest-xdist spreads them


@pytest.mark.parametrize("labels", CHUNKS, ids=[f"chunk{i}" for i in range(len(CHUNKS))])
@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_family_builds_trains_and_reloads(backend, labels):
    if importlib.util.find_spec(backend) is None:
        pytest.fail(f"{backend} is not installed, but the battery must run on it: pip install -e '.[test]' "
                    "(bash scripts/setup.sh) installs it")
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-m", "tests.backend_check", *labels],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for label in labels:
        assert f'"backend": "{backend}", "model": "{label}"' in result.stdout
