"""training/data/sources.py, folders.py, tfds_source.py: local loaders on files written here and on the real
Fashion-MNIST (the Debian package; its test fails, never skips, where it is missing), image folders, prepared
tfds copies, fast failures without data or network, and the data config's errors."""

import gzip
import os
import pickle
import struct
import time

import numpy as np
import pytest
import tensorflow as tf

from tests.data_helpers import idx_set, synthetic, write_idx
from tests.data_helpers import no_user_data  # noqa: F401 (an autouse fixture)
from training import data
from training.data import sources, tfds_source

FASHION_DIR = data.DEBIAN_FASHION_MNIST_DIR


# ---------------------------------------------------------------------------------------------------------
# IDX


@pytest.mark.parametrize("compress_train", [True, False])
def test_idx_files_in_data_dir(tmp_path, compress_train):
    written = idx_set(tmp_path, compress_train=compress_train)
    splits, info = data.load_splits({"name": "mnist", "data_dir": str(tmp_path)})
    assert info.source == f"idx:{tmp_path}"
    assert info.image_shape == (6, 5, 1) and info.num_classes == 10 and info.class_names[3] == "3"
    assert info.num_examples == {"train": 12, "validation": 0, "test": 5}
    assert splits["validation"] is None
    for split in ("train", "test"):
        images, labels = splits[split]
        assert images.dtype == np.uint8 and images.shape[1:] == (6, 5, 1)
        np.testing.assert_array_equal(images[..., 0], written[split][0])
        np.testing.assert_array_equal(labels, written[split][1])


def test_idx_subfolder_and_dotted_names(tmp_path):
    sub = tmp_path / "fashion-mnist"
    sub.mkdir()
    written = idx_set(sub, compress_train=False)
    os.rename(sub / "train-images-idx3-ubyte", sub / "train-images.idx3-ubyte")
    splits, info = data.load_splits({"name": "fashion_mnist", "data_dir": str(tmp_path)})
    assert info.source == f"idx:{sub}" and info.class_names[0] == "T-shirt/top"
    np.testing.assert_array_equal(splits["train"][0][..., 0], written["train"][0])


def test_idx_corrupt_files_name_the_file(tmp_path):
    idx_set(tmp_path, compress_train=False)
    bad = tmp_path / "t10k-labels-idx1-ubyte.gz"
    bad.write_bytes(gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"\x01\x02"))  # 2 of 5 labels
    with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte.gz.*truncated"):
        data.load_splits({"name": "mnist", "data_dir": str(tmp_path)})
    bad.write_bytes(gzip.compress(b"PK\x03\x04 not idx"))
    with pytest.raises(ValueError, match="not an IDX file"):
        data.load_splits({"name": "mnist", "data_dir": str(tmp_path)})
    bad.write_bytes(b"\x1f\x8b\x08\x00 broken gzip")
    with pytest.raises(ValueError, match="Cannot read IDX file"):
        data.load_splits({"name": "mnist", "data_dir": str(tmp_path)})


def test_idx_label_count_mismatch(tmp_path):
    idx_set(tmp_path, compress_train=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(4, np.uint8), compress=True)  # 4 labels, 5 images
    with pytest.raises(ValueError, match="5 images but .* 4 labels"):
        data.load_splits({"name": "mnist", "data_dir": str(tmp_path)})


def test_real_fashion_mnist(fashion_mnist_dir):
    assert str(fashion_mnist_dir) == FASHION_DIR  # the folder the loader looks in is the one the tests check
    splits, info = data.load_splits({"name": "fashion_mnist"})
    assert info.source == f"idx:{FASHION_DIR}"
    assert splits["train"][0].shape == (60000, 28, 28, 1) and splits["test"][0].shape == (10000, 28, 28, 1)
    assert info.num_classes == 10 and len(info.class_names) == 10
    np.testing.assert_array_equal(np.bincount(splits["train"][1]), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(splits["test"][1]), [1000] * 10)

    held, _ = data.load_splits({"name": "fashion_mnist", "validation_split": 0.1})
    assert len(held["train"][1]) == 54000 and len(held["validation"][1]) == 6000
    # Stratified: every class gives exactly 10%.
    np.testing.assert_array_equal(np.bincount(held["validation"][1]), [600] * 10)
    again, _ = data.load_splits({"name": "fashion_mnist", "validation_split": 0.1})
    other, _ = data.load_splits({"name": "fashion_mnist", "validation_split": 0.1, "validation_seed": 1})
    np.testing.assert_array_equal(again["validation"][0], held["validation"][0])
    assert not np.array_equal(other["validation"][0], held["validation"][0])
    # The recipes' split: 5,000 images, 500 of each class, the same whatever the run's seed (there is none here).
    recipe, _ = data.load_splits({"name": "fashion_mnist", "validation_split": 5000})
    assert len(recipe["train"][1]) == 55000
    np.testing.assert_array_equal(np.bincount(recipe["validation"][1]), [500] * 10)
    # The two parts partition the training set.
    sums = lambda images: np.sort(images.reshape(len(images), -1).astype(np.int64).sum(1))
    np.testing.assert_array_equal(
        np.sort(np.concatenate([sums(held["train"][0]), sums(held["validation"][0])])), sums(splits["train"][0]))


def test_class_subsets_and_few_shot_training_splits(fashion_mnist_dir):
    # The transfer experiment's data: classes 5-9 relabelled 0-4, 50 training images of each, the validation
    # split the full recipe's images of those classes, the test split all 5,000 of them.
    full, _ = data.load_splits({"name": "fashion_mnist", "validation_split": 5000})
    config = {"name": "fashion_mnist", "validation_split": 5000, "classes": [5, 6, 7, 8, 9], "train_per_class": 50}
    splits, info = data.load_splits(config)
    assert info.num_classes == 5 and info.class_names == data.FASHION_MNIST_CLASSES[5:]
    assert info.num_examples == {"train": 250, "validation": 2500, "test": 5000}
    np.testing.assert_array_equal(np.bincount(splits["train"][1]), [50] * 5)
    keep = full["validation"][1] >= 5
    np.testing.assert_array_equal(splits["validation"][0], full["validation"][0][keep])
    np.testing.assert_array_equal(splits["validation"][1], full["validation"][1][keep] - 5)
    # The 250 are training images of those classes (not validation ones), the same for the same seed.
    train_sums = {int(x) for x in full["train"][0][full["train"][1] >= 5].reshape(-1, 784).astype(np.int64).sum(1)}
    assert {int(x) for x in splits["train"][0].reshape(250, -1).astype(np.int64).sum(1)} <= train_sums
    again, _ = data.load_splits(config)
    np.testing.assert_array_equal(again["train"][0], splits["train"][0])
    # Classes in another order are relabelled in that order.
    swapped, info = data.load_splits({"name": "fashion_mnist", "classes": [9, 0]})
    assert info.class_names == ["Ankle boot", "T-shirt/top"] and len(swapped["test"][1]) == 2000
    np.testing.assert_array_equal(swapped["test"][0][swapped["test"][1] == 0][0],
                                  full["test"][0][full["test"][1] == 9][0])
    for bad, message in (({"classes": [3, 3]}, "distinct class indices"), ({"classes": [3, 12]}, r"\[0, 10\)"),
                         ({"train_per_class": 0}, "integer >= 1"),
                         ({"train_per_class": 6001}, "has 6000 training images"),
                         ({"classes": "5,6"}, "Received: '5,6'")):
        with pytest.raises(ValueError, match=message):
            data.load_splits({"name": "fashion_mnist", **bad})
    with pytest.raises(ValueError, match="in-memory datasets"):
        data.load_splits({"name": "folder", "path": "/nonexistent", "classes": [0, 1]})


# ---------------------------------------------------------------------------------------------------------
# CIFAR python batches


def _cifar_rows(images):
    """The official layout: each row holds the 1024 red, then green, then blue values, each row-major."""
    return images.transpose(0, 3, 1, 2).reshape(len(images), 3072)


def test_cifar10_python_batches_pixel_exact(tmp_path):
    directory = tmp_path / "cifar-10-batches-py"
    directory.mkdir()
    rng = np.random.default_rng(0)
    written = []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images = rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
        labels = rng.integers(0, 10, 3).tolist()
        with open(directory / name, "wb") as f:
            pickle.dump({b"data": _cifar_rows(images), b"labels": labels, b"batch_label": name.encode()}, f)
        written.append((images, labels))
    with open(directory / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [n.encode() for n in data.CIFAR10_CLASSES], b"num_vis": 3072}, f)

    splits, info = data.load_splits({"name": "cifar10", "data_dir": str(tmp_path)})
    assert info.source == f"cifar-python:{directory}"
    assert info.class_names == data.CIFAR10_CLASSES and info.image_shape == (32, 32, 3)
    assert info.num_examples == {"train": 15, "validation": 0, "test": 3}
    np.testing.assert_array_equal(splits["train"][0], np.concatenate([w[0] for w in written[:5]]))
    np.testing.assert_array_equal(splits["test"][1], written[5][1])
    # One pixel by hand: row 0 of batch 1, pixel (y=2, x=7), green = data[0, 1024 + 2 * 32 + 7].
    row = _cifar_rows(written[0][0])[0]
    assert splits["train"][0][0, 2, 7, 1] == row[1024 + 2 * 32 + 7]


def test_cifar100_fine_labels(tmp_path):
    directory = tmp_path / "cifar-100-python"
    directory.mkdir()
    images = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    for name in ("train", "test"):
        with open(directory / name, "wb") as f:
            pickle.dump({b"data": _cifar_rows(images), b"fine_labels": [99, 0, 5, 42], b"coarse_labels": [0] * 4}, f)
    with open(directory / "meta", "wb") as f:
        pickle.dump({b"fine_label_names": [f"c{i}".encode() for i in range(100)]}, f)
    splits, info = data.load_splits({"name": "cifar100", "data_dir": str(directory)})
    assert info.num_classes == 100 and info.class_names[42] == "c42"
    np.testing.assert_array_equal(splits["train"][1], [99, 0, 5, 42])
    np.testing.assert_array_equal(splits["test"][0], images)


# ---------------------------------------------------------------------------------------------------------
# Image folders


def _write_folder(root, sizes=((20, 30), (25, 25), (40, 18))):
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            if i % 2:
                tf.io.write_file(str(root / cls / f"{i}.jpg"), tf.io.encode_jpeg(image))
            else:
                tf.io.write_file(str(root / cls / f"{i}.png"), tf.io.encode_png(image[..., :1] if i else image))


def test_image_folder_skips_and_counts_bad_files(tmp_path):
    root = tmp_path / "train"
    _write_folder(root)
    png = (root / "dog" / "0.png").read_bytes()
    (root / "dog" / "9_truncated.png").write_bytes(png[: len(png) // 2])  # corrupt: passes the magic bytes
    (root / "cat" / "notes.txt").write_text("not an image")
    (root / "cat" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")  # hidden metadata: ignored, not counted
    test_root = tmp_path / "test"
    _write_folder(test_root, sizes=((16, 16),))

    config = {"name": "folder", "path": str(root), "test_path": str(test_root)}
    splits, info = data.load_splits(config)
    assert info.class_names == ["cat", "dog"] and info.num_classes == 2
    assert info.skipped == 2 and sorted(os.path.basename(p) for p in info.skipped_files) == ["9_truncated.png",
                                                                                            "notes.txt"]
    assert info.num_examples == {"train": 6, "validation": 0, "test": 2}
    assert [os.path.relpath(p, root) for p in splits["train"].paths] == [
        "cat/0.png", "cat/1.jpg", "cat/2.png", "dog/0.png", "dog/1.jpg", "dog/2.png"]
    again, _ = data.load_splits(config)
    assert again["train"].paths == splits["train"].paths

    header_only, header_info = data.load_splits({**config, "validate_images": "header"})
    assert header_info.skipped == 1  # the truncated PNG passes the header check ...
    ds = data.make_pipeline(header_only["train"], header_info, batch_size=4, training=False, seed=0, image_size=12)
    assert sum(len(y) for _, y in ds) == 6  # ... and is dropped by the pipeline instead of crashing it.

    for training in (True, False):
        ds = data.make_pipeline(splits["train"], info, batch_size=4, training=training, seed=0, image_size=12,
                                augment={"random_resized_crop": True, "horizontal_flip": True})
        batches = list(ds)
        assert all(x.shape[1:] == (12, 12, 3) and x.dtype == tf.float32 for x, _ in batches)
        assert sum(len(y) for _, y in batches) == (4 if training else 6)
    test_ds = data.make_pipeline(splits["test"], info, batch_size=8, training=False, seed=0, image_size=10)
    (x, y), = list(test_ds)
    assert x.shape == (2, 10, 10, 3)
    np.testing.assert_array_equal(y.numpy().argmax(1), [0, 1])


def test_image_folder_validation_split_and_errors(tmp_path):
    root = tmp_path / "train"
    _write_folder(root)
    splits, info = data.load_splits({"name": "folder", "path": str(root), "validation_split": 0.34})
    assert info.num_examples == {"train": 4, "validation": 2, "test": 0}
    assert splits["test"] is None
    assert not set(splits["train"].paths) & set(splits["validation"].paths)
    with pytest.raises(ValueError, match="image_size"):
        data.make_pipeline(splits["train"], info, batch_size=2, training=True, seed=0)
    with pytest.raises(ValueError, match="source=None.*test_path"):
        data.make_pipeline(splits["test"], info, batch_size=2, training=False, seed=0, image_size=8)
    with pytest.raises(data.DataNotFoundError, match="does not exist"):
        data.load_splits({"name": "folder", "path": str(tmp_path / "nowhere")})


# ---------------------------------------------------------------------------------------------------------
# Missing data and no network


def test_missing_data_fails_fast_naming_every_place(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "DEBIAN_FASHION_MNIST_DIR", str(tmp_path / "no-debian"))
    start = time.monotonic()
    with pytest.raises(data.DataNotFoundError) as caught:
        data.load_splits({"name": "fashion_mnist", "data_dir": str(tmp_path)})
    assert time.monotonic() - start < 10
    message = str(caught.value)
    for place in (str(tmp_path), str(tmp_path / "fashion-mnist"), str(tmp_path / "no-debian"),
                  os.path.join(os.environ["KERAS_HOME"], "datasets", "fashion-mnist"),
                  os.path.join(os.environ["TFDS_DATA_DIR"], "fashion_mnist")):
        assert place in message
    assert data.DEBIAN_FASHION_MNIST_PACKAGE in message and "train-images-idx3-ubyte" in message
    assert "download" in message

    start = time.monotonic()
    with pytest.raises(data.DataNotFoundError, match="cifar-10-batches-py"):
        data.load_splits({"name": "cifar10", "data_dir": str(tmp_path)})
    assert time.monotonic() - start < 10


def test_imagenet_message_names_the_manual_download(tmp_path):
    with pytest.raises(data.DataNotFoundError, match="ILSVRC2012_img_train.tar.*downloads/manual"):
        data.load_splits({"name": "imagenet2012", "data_dir": str(tmp_path), "download": True})


def test_download_without_network_fails_fast(tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_source, "DOWNLOAD_HOSTS", {**tfds_source.DOWNLOAD_HOSTS, "cifar10": ("127.0.0.1", 9)})
    start = time.monotonic()
    with pytest.raises(data.DataNotFoundError, match=r"127\.0\.0\.1:9.*unreachable") as caught:
        data.load_splits({"name": "cifar10", "data_dir": str(tmp_path), "download": True})
    assert time.monotonic() - start < 10
    assert "cifar-10-batches-py" in str(caught.value)  # still says where to put the data


def test_unprepared_tfds_copy_is_reported(tmp_path):
    """A tfds directory that is not prepared is reported, not downloaded into."""
    (tmp_path / "cifar10" / "3.0.2").mkdir(parents=True)
    with pytest.raises(data.DataNotFoundError, match="not prepared"):
        data.load_splits({"name": "cifar10", "data_dir": str(tmp_path)})


def test_prepared_tfds_sets_load_without_network(tmp_path, monkeypatch):
    """Prepares tiny mnist and imagenette copies with tfds (its downloader replaced by local files), then loads
    them through data_dir: mnist into memory, imagenette as encoded JPEGs with a held-out validation slice."""
    import importlib

    import tensorflow_datasets as tfds  # the [train] extra: its absence fails, never skips

    mnist_module = importlib.import_module("tensorflow_datasets.image_classification.mnist")
    raw = tmp_path / "raw"
    raw.mkdir()
    written = idx_set(raw, n_train=12, n_test=5, shape=(28, 28), compress_train=False)
    for path in raw.glob("*.gz"):  # tfds's downloader hands its generators extracted files.
        (raw / path.stem).write_bytes(gzip.decompress(path.read_bytes()))
    wnids = ["n01440764", "n02102040"]
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("val", 2)):
        for wnid in wnids:
            (tmp_path / "imagenette2-160" / split / wnid).mkdir(parents=True)
            for i in range(n):
                image = rng.integers(0, 256, (rng.integers(40, 80), rng.integers(40, 80), 3), dtype=np.uint8)
                path = tmp_path / "imagenette2-160" / split / wnid / f"{wnid}_{i}.JPEG"  # tfds keys on file names
                tf.io.write_file(str(path), tf.io.encode_jpeg(image))
    names = {"train_data": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
             "test_data": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}

    def local_files(self, urls):
        return {key: str(raw / names[key]) for key in urls} if isinstance(urls, dict) else str(tmp_path)

    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract", local_files)
    monkeypatch.setattr(mnist_module, "_TRAIN_EXAMPLES", 12)
    monkeypatch.setattr(mnist_module, "_TEST_EXAMPLES", 5)
    tfds_dir = tmp_path / "tfds"
    for name in ("mnist", "imagenette/160px-v2"):
        tfds.builder(name, data_dir=str(tfds_dir)).download_and_prepare()

    splits, info = data.load_splits({"name": "mnist", "data_dir": str(tfds_dir)})
    assert info.source.startswith("tfds:mnist/") and info.num_examples["train"] == 12
    # tfds stores examples in its own order; compare as sets of (image, label).
    key = lambda images, labels: sorted(zip(images.reshape(len(images), -1).sum(1).tolist(), labels))
    assert key(*splits["train"]) == key(written["train"][0].astype(np.int64), written["train"][1])

    splits, info = data.load_splits({"name": "imagenette/160px-v2", "data_dir": str(tfds_dir),
                                     "validation_split": 0.25})
    assert info.num_classes == 10 and info.class_names[:2] == wnids and info.image_shape == (None, None, 3)
    assert info.num_examples == {"train": 6, "validation": 2, "test": 4}
    train = data.make_pipeline(splits["train"], info, batch_size=3, training=True, seed=0, image_size=32,
                               augment={"random_resized_crop": True, "randaugment": {"magnitude": 7}})
    assert [tuple(x.shape) for x, _ in train] == [(3, 32, 32, 3)] * 2
    test = data.make_pipeline(splits["test"], info, batch_size=3, training=False, seed=0, image_size=32)
    labels = np.concatenate([y.numpy().argmax(1) for _, y in test])
    assert sorted(labels.tolist()) == [0, 0, 1, 1]


# ---------------------------------------------------------------------------------------------------------
# Config errors


@pytest.mark.parametrize("config, match", [
    ({"name": "cifar10", "batch": 3}, r"Unknown data_config key\(s\) \['batch'\]. Allowed keys"),
    ({"name": "imagenet"}, "Unknown dataset name 'imagenet'"),
    ({"name": "cifar10", "validation_split": 1.5}, "count >= 1 .* or a fraction in"),
    ({"name": "cifar10", "validation_split": -3}, "count >= 1 .* or a fraction in"),
    ({"name": "cifar10", "validation_seed": -1}, "validation_seed"),
    ({"name": "synthetic", "validation_split": 512}, "leaves an empty split of the 512"),
    ({"name": "cifar10", "download": "yes"}, "True or False"),
    ({"name": "cifar10", "path": "/x"}, "only used with name='folder'"),
    ({"name": "synthetic", "synthetic": {"size": 3}}, "Unknown data_config\\['synthetic'\\] key"),
])
def test_bad_data_config(config, match):
    with pytest.raises((TypeError, ValueError), match=match):
        data.load_splits(config)


def test_steps_per_epoch_errors():
    _, info = synthetic(n_train=10)
    assert data.steps_per_epoch(info, "train", 3, drop_remainder=True) == 3
    assert data.steps_per_epoch(info, "train", 3, drop_remainder=False) == 4
    with pytest.raises(ValueError, match="Unknown split 'val'"):
        data.steps_per_epoch(info, "val", 3, True)

