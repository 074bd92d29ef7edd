"""Shared by the tests of `training.data` (tests/test_data_*.py): data written on the fly (IDX files, synthetic
and indexed in-memory splits) and an autouse fixture that keeps the user's own datasets out of every search."""

import gzip
import struct

import numpy as np
import pytest

from training import data


@pytest.fixture(autouse=True)
def no_user_data(tmp_path, monkeypatch):
    """Keeps ~/.keras and ~/tensorflow_datasets of whoever runs the tests out of the search."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("KERAS_HOME", str(home / ".keras"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(home / "tensorflow_datasets"))


def write_idx(path, array, compress):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + array.tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


def idx_set(directory, n_train=12, n_test=5, shape=(6, 5), compress_train=True):
    rng = np.random.default_rng(1)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        images = rng.integers(0, 256, (n,) + shape, dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        image_file, label_file = data.IDX_FILES[split]
        compress = compress_train if split == "train" else not compress_train
        write_idx(directory / image_file, images, compress)
        write_idx(directory / label_file, labels, compress)
        arrays[split] = (images, labels)
    return arrays


def synthetic(n_train=40, n_test=13, shape=(8, 8, 3), num_classes=4, validation_split=None):
    config = {"name": "synthetic", "validation_split": validation_split,
              "synthetic": {"num_examples": {"train": n_train, "test": n_test}, "image_shape": shape,
                            "num_classes": num_classes}}
    return data.load_splits(config)


def indexed(n, shape=(8, 8, 3), num_classes=4):
    """An in-memory split whose image i is filled with the value i (so it can be identified after batching)."""
    images = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n,) + shape).copy()
    labels = np.arange(n) % num_classes
    info = data.DatasetInfo(name="indexed", source="test", num_classes=num_classes, image_shape=shape,
                            class_names=[str(i) for i in range(num_classes)], num_examples={"train": n})
    return (images, labels), info



def checksum(images):
    """A position-weighted sum of each image (a crop, flip or swap of pixels changes it; a plain sum would not)."""
    flat = np.asarray(images, np.float64).reshape(-1, int(np.prod(np.shape(images)[-3:])))
    sums = flat @ (np.arange(flat.shape[1]) % 13 + 1.0)
    return sums[0] if np.ndim(images) == 3 else sums
