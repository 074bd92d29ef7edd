"""The tests' real data: the committed Fashion-MNIST sample is what tests/data/README.md says it is, and
scripts/get_fashion_mnist.sh fails loudly where it cannot provide the full set."""

import hashlib
import os
import re
import subprocess
from pathlib import Path

import numpy as np

from tests.real_data import IDX_FILES, SAMPLE, fashion_mnist_file, load_sample

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "get_fashion_mnist.sh"
DEBIAN_DIR_LINE = "DIR=/usr/share/datasets/fashion-mnist\n"


def test_sample_is_the_documented_file():
    readme = (SAMPLE.parent / "README.md").read_text()
    documented = re.search(r"sha256 `([0-9a-f]{64})`", readme)
    assert documented and hashlib.sha256(SAMPLE.read_bytes()).hexdigest() == documented[1]
    assert SAMPLE.stat().st_size < 1_000_000
    with np.load(SAMPLE) as sample:
        assert sorted(sample.files) == ["images", "indices", "labels"]
        images, labels, indices = sample["images"], sample["labels"], sample["indices"]
    assert images.dtype == np.uint8 and images.shape == (2000, 28, 28)
    assert labels.dtype == np.uint8 and labels.shape == (2000,)
    np.testing.assert_array_equal(np.bincount(labels, minlength=10), [200] * 10)  # stratified: 200 per class
    assert np.all(np.diff(indices) > 0) and 0 <= indices[0] and indices[-1] < 10000  # file order, no repeats
    np.testing.assert_array_equal(indices[:200], np.arange(200))  # so the first 200 are the test file's first 200
    assert 20 < images.mean() < 120 and images.max() == 255  # real pixels, not blank or noise
    loaded, loaded_labels = load_sample(5)
    assert loaded.shape == (5, 28, 28, 1) and loaded.dtype == np.uint8 and loaded_labels.dtype == np.int64
    np.testing.assert_array_equal(loaded[..., 0], images[:5])


def test_sample_holds_the_first_200_test_images_of_each_class(fashion_mnist_dir):
    """Checked against the Debian package's test set (the sample's source), array by array: the same whatever
    zlib compressed the file (tests/data/make_sample.py --check compares the bytes)."""
    from keras_resnets.idx import read_idx
    from tests.data.make_sample import select

    images = read_idx(fashion_mnist_file("t10k-images-idx3-ubyte"))
    labels = read_idx(fashion_mnist_file("t10k-labels-idx1-ubyte"))
    with np.load(SAMPLE) as sample:
        indices = sample["indices"]
        np.testing.assert_array_equal(indices, select(labels))
        np.testing.assert_array_equal(sample["images"], images[indices])
        np.testing.assert_array_equal(sample["labels"], labels[indices])


def _script_run(tmp_path, uid, files=()):
    """The script with its folder moved to `tmp_path/data` (holding `files`), under a PATH that holds only an
    `id` reporting `uid`: no sudo and no apt-get, so nothing is installed."""
    script = SCRIPT.read_text()
    assert script.count(DEBIAN_DIR_LINE) == 1
    copy = tmp_path / "get_fashion_mnist.sh"
    copy.write_text(script.replace(DEBIAN_DIR_LINE, f"DIR={tmp_path / 'data'}\n"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    os.chmod(bin_dir / "id", 0o755)
    (tmp_path / "data").mkdir(exist_ok=True)
    for name in files:
        (tmp_path / "data" / name).write_bytes(b"")
    return subprocess.run(["/bin/bash", str(copy)], env={"PATH": str(bin_dir)}, capture_output=True, text=True,
                          timeout=30)


def test_get_fashion_mnist_exits_1_saying_why_when_the_files_stay_missing(tmp_path):
    data = tmp_path / "data"
    run = _script_run(tmp_path, 1000)
    assert run.returncode == 1 and run.stderr.startswith(f"error: Fashion-MNIST is not in {data} (missing: ")
    assert "not root and no passwordless sudo" in run.stderr and "dataset-fashion-mnist" in run.stderr
    run = _script_run(tmp_path, 0, files=["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte",
                                          "t10k-images-idx3-ubyte.gz"])
    assert run.returncode == 1 and "(missing: t10k-labels-idx1-ubyte); no apt-get here." in run.stderr


def test_get_fashion_mnist_exits_0_at_once_when_the_files_are_there(tmp_path):
    names = [name + (".gz" if i % 2 else "") for i, name in enumerate(IDX_FILES)]  # gzip'd or not
    run = _script_run(tmp_path, 1000, files=names)
    assert run.returncode == 0 and run.stdout == run.stderr == ""
