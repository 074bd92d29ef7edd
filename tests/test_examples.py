"""The examples a newcomer runs first keep working."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_runs():
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "examples/quickstart.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "ResNet50: 25,636,712 parameters" in result.stdout
    assert "stage4: (None, 8, 8, 2048)" in result.stdout
    assert "max abs difference 0.0e+00" in result.stdout
