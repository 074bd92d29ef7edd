"""Real Fashion-MNIST for the tests: the committed 2,000-image sample (tests/data/, see its README) for the tests
that need some real images, and the Debian package's full set for the few that need all of it. Missing data
fails the test with what to do; nothing is skipped and nothing falls back to synthetic data."""

from pathlib import Path

import numpy as np
import pytest

SAMPLE = Path(__file__).resolve().parent / "data" / "fashion_mnist_sample.npz"
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def load_sample(count=None):
    """The first `count` images of the committed sample (all 2,000 by default; 200 per class, in the order of
    the Fashion-MNIST test file, so the first 200 are exactly the test file's first 200).

    Returns:
        (images, labels): uint8 `(N, 28, 28, 1)` raw pixels and int64 `(N,)` class indices.
    """
    if not SAMPLE.is_file():
        pytest.fail(f"{SAMPLE} is missing. It is committed: restore it with `git checkout -- "
                    f"tests/data/{SAMPLE.name}`, or remake it with `python tests/data/make_sample.py`.", pytrace=False)
    with np.load(SAMPLE) as sample:
        images, labels = sample["images"][:count], sample["labels"][:count]
    return images[..., None], labels.astype("int64")


def fashion_mnist_file(name):
    """`name` (e.g. "t10k-images-idx3-ubyte") in the Debian package's folder, gzip'd or not; None if absent."""
    for candidate in (FASHION_MNIST_DIR / f"{name}.gz", FASHION_MNIST_DIR / name):
        if candidate.is_file():
            return candidate
    return None


def require_fashion_mnist():
    """The Debian package's folder with all four IDX files; fails the test (never skips) where any is missing."""
    missing = [name for name in IDX_FILES if fashion_mnist_file(name) is None]
    if missing:
        pytest.fail(f"This test needs the full Fashion-MNIST in {FASHION_MNIST_DIR}, which lacks {', '.join(missing)}. "
                    "Install it with `bash scripts/get_fashion_mnist.sh` (the Debian package dataset-fashion-mnist; "
                    "root or passwordless sudo), or copy the four IDX files (.gz or not) there.", pytrace=False)
    return FASHION_MNIST_DIR
