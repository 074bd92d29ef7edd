"""The examples a newcomer runs first keep working."""

import os
import re
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
    folded = re.search(r"BatchNorm folded: (\d+) layers fewer, max abs difference (\S+)", result.stdout)
    assert folded and int(folded[1]) == 19 and float(folded[2]) < 1e-5, result.stdout[-1000:]


def test_degradation_example_trains_plain_and_residual_twins(tmp_path):
    import json

    import pytest

    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "examples/degradation.py", "--depths", "8,14", "--train-size", "520", "--test-size", "200",
         "--epochs", "2", "--log-every", "2", "--out", str(tmp_path), "--save-models"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "degradation.json").read_text())
    assert [r["model"] for r in report["results"]] == ["plain8", "plain14", "resnet8", "resnet14"]
    for r in report["results"]:
        assert len(r["train_curve"]) == 2 * (512 // 128) // 2 and len(r["test_curve"]) == 2
        assert all(0 <= e <= 1 for _, e in r["train_curve"] + r["test_curve"])
        assert r["test_curve"][-1][0] == 8  # iterations: 2 epochs of 4 full batches of 128
        assert (tmp_path / f"{r['model']}.keras").stat().st_size > 10_000
    assert (tmp_path / "degradation.png").read_bytes()[:4] == b"\x89PNG"
    bad = subprocess.run([sys.executable, "examples/degradation.py", "--depths", "21"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "6n+2" in bad.stderr
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    refused = subprocess.run([sys.executable, "examples/degradation.py", "--out", str(user)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "did not write" in refused.stderr
    assert os.listdir(user) == ["notes.txt"]
