"""The tiny variants on the JAX backend (a subprocess: the backend is fixed when Keras is imported)."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


from tests.tiny_models import TINY

LABELS = sorted(TINY)
CHUNKS = [LABELS[i::3] for i in range(3)]  # three subprocesses, so pytest-xdist can spread them


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed (pip install -e '.[jax]')")
@pytest.mark.parametrize("labels", CHUNKS, ids=[f"chunk{i}" for i in range(len(CHUNKS))])
def test_every_family_builds_trains_and_reloads_on_jax(labels):
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-m", "tests.backend_check", *labels],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for label in labels:
        assert f'"model": "{label}"' in result.stdout
