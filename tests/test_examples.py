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


def test_degradation_example_trains_plain_and_residual_twins(tmp_path, fashion_mnist_dir):
    """The example reads the Debian package's Fashion-MNIST itself, so the test needs it (and fails, never
    skips, without it)."""
    import json

    import keras
    import numpy as np
    import pytest

    import keras_resnets  # noqa: F401  (registers the layers the saved models use)
    from keras_resnets.idx import read_idx
    from tests.real_data import fashion_mnist_file

    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "examples/degradation.py", "--depths", "8,14", "--train-size", "520", "--test-size", "200",
         "--epochs", "2", "--log-every", "2", "--out", str(tmp_path), "--save-models"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "degradation.json").read_text())
    assert [r["model"] for r in report["results"]] == ["plain8", "plain14", "resnet8", "resnet14"]
    # The errors are the saved models' own on the images the example used: the first 512 training images (520
    # cut to full batches of 128) and the first 200 test images; one image of slack for rounding near ties.
    def first(name, count):
        return read_idx(fashion_mnist_file(name))[:count]

    train_images = first("train-images-idx3-ubyte", 512)[..., None].astype("float32")
    train_labels = first("train-labels-idx1-ubyte", 512)
    test_images = first("t10k-images-idx3-ubyte", 200)[..., None].astype("float32")
    test_labels = first("t10k-labels-idx1-ubyte", 200)
    for r in report["results"]:
        assert len(r["train_curve"]) == 2 * (512 // 128) // 2 and len(r["test_curve"]) == 2
        assert all(0 <= e <= 1 for _, e in r["train_curve"])
        assert all(e * 200 == pytest.approx(round(e * 200), abs=1e-9) for _, e in r["test_curve"])  # of 200 images
        assert r["test_curve"][-1][0] == 8  # iterations: 2 epochs of 4 full batches of 128
        assert r["final_test_error"] == r["test_curve"][-1][1]
        model = keras.models.load_model(tmp_path / f"{r['model']}.keras")
        test_error = np.mean(model.predict(test_images, batch_size=500, verbose=0).argmax(-1) != test_labels)
        train_error = np.mean(model.predict(train_images, batch_size=500, verbose=0).argmax(-1) != train_labels)
        assert r["final_test_error"] == pytest.approx(test_error, abs=1.5 / 200), r["model"]
        assert r["final_train_error"] == pytest.approx(train_error, abs=1.5 / 512), r["model"]
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


def test_classify_tflite_names_each_result_and_fails_in_one_line(tmp_path):
    import json

    import numpy as np
    from PIL import Image

    export = ROOT / "saved_models" / "fashion_mnist_resnet20"
    classes = json.loads((export / "metadata.json").read_text())["class_names"]
    pixels = np.random.default_rng(0).integers(0, 256, (3, 28, 28), dtype=np.uint8)
    Image.fromarray(pixels[0]).save(tmp_path / "shirt.png")
    np.save(tmp_path / "batch.npy", pixels)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0")

    def classify(*args):
        return subprocess.run([sys.executable, "examples/classify_tflite.py", str(export / "model_int8.tflite"),
                               *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    done = classify(tmp_path / "shirt.png", tmp_path / "batch.npy", "--limit", "2", "--top", "2")
    assert done.returncode == 0, done.stderr[-2000:]
    results = [line.partition(": ") for line in done.stdout.splitlines()]
    assert [label for label, _, _ in results] == [str(tmp_path / "shirt.png"), f"{tmp_path / 'batch.npy'} [index 0]",
                                                  f"{tmp_path / 'batch.npy'} [index 1]"]
    assert all(sum(name in top for name in classes) >= 1 for _, _, top in results)
    # The images beyond --limit are counted, not dropped silently; the runtime's start-up line is hidden.
    assert "batch.npy: classified the first 2 of its 3 images; 1 left out" in done.stderr
    assert "XNNPACK" not in done.stderr
    for path, message in ((tmp_path / "missing.png", "image file not found"),
                          (tmp_path / "broken.png", "cannot read the image file")):
        failed = classify(tmp_path / "shirt.png", path)
        assert failed.returncode == 2 and failed.stdout == "", failed.stderr[-2000:]
        assert failed.stderr.startswith(f"error: {message}") and repr(str(path)) in failed.stderr
        assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr
