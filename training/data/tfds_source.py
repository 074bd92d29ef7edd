"""tensorflow-datasets as a data source: opening a prepared copy without network, downloading one only when asked
(after a seconds-long reachability check), and turning it into in-memory arrays (small images) or encoded
splits (large images). The directories to look in come from `sources`, which owns every default path."""

from __future__ import annotations

import glob
import logging
import os
import socket
import threading

import numpy as np
import tensorflow as tf

from training.data.records import DataNotFoundError, EncodedImages, held_out

logger = logging.getLogger(__name__)

# Hosts tensorflow-datasets downloads each set from (tfds 4.9 sources). The test points these at a closed
# local port to check that an offline download fails in seconds rather than after tfds's ~200 s of retries.
DOWNLOAD_HOSTS = {
    "mnist": ("storage.googleapis.com", 443),
    "fashion_mnist": ("fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80),
    "cifar10": ("www.cs.toronto.edu", 443),
    "cifar100": ("www.cs.toronto.edu", 443),
    "imagenette": ("s3.amazonaws.com", 443),
}
REACHABILITY_TIMEOUT_S = 3.0
# Sets whose images are at most this many pixels on a side are loaded from tfds into memory as arrays.
SMALL_IMAGE_SIDE = 64
IMAGENET_MANUAL_FILES = ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")


def find_prepared_tfds(name, base, dirs, looked):
    """The first prepared copy of `name` in `dirs`, as `(builder, directory)`, or None.

    Args:
        name: str, the tfds name as asked (config and version suffixes included).
        base: str, the dataset name without suffixes.
        dirs: list of str, tfds data directories in the order to try.
        looked: list, gets a `(place, what was wrong)` pair for each miss.
    """
    for directory in dirs:
        if not os.path.isdir(os.path.join(directory, base)):
            looked.append((os.path.join(directory, base), "tensorflow-datasets: no such directory"))
            continue
        tfds = import_tfds()
        builder = tfds.builder(name, data_dir=directory)
        if builder.is_prepared():
            return builder, directory
        prepared = sorted(os.path.relpath(os.path.dirname(f), directory) for f in
                          glob.glob(os.path.join(directory, base, "*", "dataset_info.json"))
                          + glob.glob(os.path.join(directory, base, "*", "*", "dataset_info.json")))
        hint = (f"; prepared there: {prepared} (name one, e.g. 'imagenette/160px-v2' or 'cifar10:3.0.1')"
                if prepared else "")
        looked.append((str(builder.data_dir), f"tensorflow-datasets copy not prepared (no dataset_info.json){hint}"))
    return None


def import_tfds():
    """The `tensorflow_datasets` module (imported only when a tfds directory exists, so a miss stays cheap)."""
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise DataNotFoundError(
            f"tensorflow-datasets is needed for this dataset but cannot be imported ({error}). "
            "`pip install tensorflow-datasets importlib_resources`."
        ) from error
    return tfds


def can_reach(host: str, port: int, timeout: float = REACHABILITY_TIMEOUT_S) -> str | None:
    """None when a TCP connection to `host:port` opens within `timeout` seconds, else the reason it did not.

    Name resolution is bounded by the same timeout (a plain `socket.create_connection` timeout does not cover
    it), by running the attempt in a daemon thread.
    """
    outcome = [f"timed out after {timeout:.1f} s"]

    def attempt():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome[0] = None
        except OSError as error:
            outcome[0] = f"{type(error).__name__}: {error}"

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0]


def download_tfds(name, base, tfds_dir, looked):
    """Downloads and prepares `name` into `tfds_dir`; None (with the reason in `looked`) when it cannot."""
    tfds = import_tfds()
    if base == "imagenet2012":
        manual = os.path.join(tfds_dir, "downloads", "manual")
        if not all(os.path.isfile(os.path.join(manual, t)) for t in IMAGENET_MANUAL_FILES):
            looked.append((manual, "no ILSVRC2012_img_train.tar / ILSVRC2012_img_val.tar (tfds manual_dir)"))
            return None
    else:
        host, port = DOWNLOAD_HOSTS[base]
        problem = can_reach(host, port)
        if problem:
            looked.append((f"download from {host}:{port}", f"unreachable ({problem})"))
            return None
    logger.info("Downloading and preparing %s with tensorflow-datasets into %s", name, tfds_dir)
    builder = tfds.builder(name, data_dir=tfds_dir)
    builder.download_and_prepare()
    return builder, tfds_dir


def from_tfds(builder, tfds_dir, validation_split):
    """The splits of a prepared tfds copy, and what `DatasetInfo` needs to describe them.

    Args:
        builder: a prepared tfds builder.
        tfds_dir: str, its data directory.
        validation_split: int, float or None (checked by `load_splits`).

    Returns:
        `(splits, (source, image_shape, class_names))`: `splits` holds `"train"` and `"test"` `(images, labels)`
        arrays for small images (`load_splits` holds out their validation split), else `"train"`,
        `"validation"` and `"test"` `EncodedImages`.
    """
    info = builder.info
    shape = tuple(info.features["image"].shape)
    described = (f"tfds:{info.full_name}@{tfds_dir}", shape, list(info.features["label"].names))
    # imagenette and imagenet2012 publish their labelled evaluation set as "validation"; it is the test split here.
    test_split = "test" if "test" in info.splits else "validation"
    if None not in shape[:2] and max(shape[:2]) <= SMALL_IMAGE_SIDE:
        return _tfds_arrays(builder, test_split), described
    splits = {"train": _tfds_encoded(builder, "train"), "validation": None,
              "test": _tfds_encoded(builder, test_split)}
    if validation_split:
        # The last examples in tfds's stored order (shuffled once when the set was prepared), not stratified.
        n = info.splits["train"].num_examples
        n_train = n - held_out(validation_split, n)
        splits["train"] = _tfds_encoded(builder, f"train[:{n_train}]")
        splits["validation"] = _tfds_encoded(builder, f"train[{n_train}:]")
    return splits, described


def _tfds_arrays(builder, test_split):
    """The train and test splits of a small-image tfds set as in-memory arrays."""
    tfds = import_tfds()
    arrays = {}
    for split, tfds_split in (("train", "train"), ("test", test_split)):
        images, labels = tfds.as_numpy(builder.as_dataset(split=tfds_split, batch_size=-1, as_supervised=True))
        arrays[split] = (images.astype(np.uint8), labels.astype(np.int64))
    return arrays


def _tfds_encoded(builder, split):
    """One split of a large-image tfds set, its images kept encoded."""
    tfds = import_tfds()
    # SkipDecoding keeps the JPEG bytes: shuffle buffers hold ~110 kB per ImageNet image instead of ~500 kB,
    # and decoding runs in the pipeline's parallel map.
    dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False,
                                 decoders={"image": tfds.decode.SkipDecoding()})
    dataset = dataset.map(lambda image, label: (image, tf.cast(label, tf.int64)))
    return EncodedImages(dataset, builder.info.splits[split].num_examples, from_files=False, verified=True)
