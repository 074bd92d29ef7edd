"""Image classification data for `model.fit`: local-first loading and deterministic `tf.data` pipelines.

Two calls make a run's data:

```python
splits, info = load_splits({"name": "cifar10", "validation_split": 0.1})
train_ds = make_pipeline(splits["train"], info, batch_size=128, training=True, seed=0,
                         augment={"random_crop": 4, "horizontal_flip": True})
test_ds = make_pipeline(splits["test"], info, batch_size=256, training=False, seed=0)
```

Pipelines yield `(images, labels)`: float32 images holding raw pixel values in [0, 255] (the models carry their
own preprocessing) and one-hot float32 labels (or int32 class indices with `one_hot=False`).

## Data config (`load_splits`)

A plain dict (or `training.config.Config`); unknown keys raise `ValueError`.

- `name` (str, required): `fashion_mnist`, `mnist`, `cifar10`, `cifar100`, `imagenette`, `imagenet2012`
  (tensorflow-datasets names; `imagenette/320px-v2` or `cifar10:3.0.2` style config/version suffixes are passed
  to tfds as they are), `folder` (an image folder, see `path`) or `synthetic` (random learnable data for tests).
- `data_dir` (str, optional): looked in first, for every local format below.
- `download` (bool, default False): only when True may anything be fetched from the network.
- `validation_split` (int >= 1, float in (0, 1), or None / 0 for none): how much of the training set is held
  out as the validation split: a count (the shipped Fashion-MNIST and CIFAR recipes hold out 5000, He et al.'s
  45k/5k CIFAR split) or a fraction (`round(fraction * n)` examples). In-memory sets are split stratified by
  class (every class gives the same share; largest remainders get the rounding); image folders hold out a
  random subset, and large tfds sets the last examples of their stored order (shuffled once when prepared).
- `validation_seed` (int >= 0, default 0): chooses the held-out examples. It is not the run's seed, so every
  seed of a recipe trains and selects on the same split.
- `synthetic` (dict, for `name="synthetic"`): `num_examples` (int: the train size, test gets a quarter; or a
  dict `{"train": n, "test": n}`; default 512 / 128), `image_shape` (default (32, 32, 3)), `num_classes`
  (default 10), `seed` (default 0; the data does not change with the run's seed).
- `path` (str, for `name="folder"`): one subfolder per class, class names = subfolder names (sorted);
  `test_path` (optional): the same layout for the test split (without it the test split is None).
- `keep_empty_classes` (bool, default False, folders only): a class folder without a readable image is an
  error (it would become an output class no image teaches); True keeps it as a class, with a warning.
- `validate_images` (`"full"` (default) or `"header"`, folders only): `"full"` decodes every file once while
  listing, so `info.skipped` counts exactly the files that cannot be read and the pipelines never meet one
  (costs one decode pass: about a minute per 20k JPEGs on 2 cores); `"header"` only checks each file's magic
  bytes (for very large folders): files that pass it but fail to decode are dropped in the pipeline with a
  logged warning and are not counted.
- `crop_fraction` (float in (0, 1], default 0.875): the central fraction kept by evaluation pipelines of
  variable-size images (folders, imagenette, imagenet2012); "ResNet strikes back" evaluates at 0.95.
- `image_size`, `eval_image_size`: accepted and stored for the trainer, which passes them to `make_pipeline`.

## Where data is looked for (local data first; the first complete match wins)

1. IDX files (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
   `t10k-labels-idx1-ubyte`, each raw or gzip'd) for `fashion_mnist` / `mnist`: in `data_dir`,
   `data_dir/<fashion-mnist|mnist>`, `/usr/share/datasets/fashion-mnist` (Debian package
   `dataset-fashion-mnist`), `~/.keras/datasets/<fashion-mnist|mnist>`; Keras's `mnist.npz` for `mnist`.
2. CIFAR "python version" batches: `cifar-10-batches-py/` (`data_batch_1..5`, `test_batch`, `batches.meta`)
   or `cifar-100-python/` (`train`, `test`, `meta`; fine labels) in `data_dir`, `~/.keras/datasets` (also
   Keras 3's `cifar-10-batches-py-target/` layout).
3. tensorflow-datasets prepared data in `data_dir` or `$TFDS_DATA_DIR` / `~/tensorflow_datasets`, opened with
   `download=False` (tfds is imported only when `<dir>/<name>` exists, so a miss costs milliseconds).
4. With `download: True`: a reachability check (a TCP connect to the dataset's host, `REACHABILITY_TIMEOUT_S`)
   and then tfds's `download_and_prepare()`. `imagenet2012` cannot be downloaded: tfds prepares it from
   `ILSVRC2012_img_train.tar` and `ILSVRC2012_img_val.tar` put in `<data_dir>/downloads/manual/`.
5. Otherwise `DataNotFoundError` (a `ValueError`) naming every place looked at and what to put there.

## Augmentation (`make_pipeline(..., augment=...)`, training only; unknown keys raise `ValueError`)

- `random_crop` (int pixels, 0 = off): zero-pad by that many pixels on each side and crop a random window of
  the original size (He et al.'s CIFAR recipe: 4).
- `horizontal_flip` (bool): random left-right flip with probability 0.5.
- `random_resized_crop` (bool, or dict with `scale` (default (0.08, 1.0)) and `ratio` (default (3/4, 4/3))):
  Inception-style random area/aspect crop resized to `image_size` (ImageNet recipes).
- `randaugment` (None or dict): `magnitude` (0..10, required), `num_ops` (default 2), `magnitude_std` (default
  0: per-op Gaussian jitter of the magnitude, as timm's `mstd`), `implementation` (`"timm"` default, or
  `"keras"`). `"timm"` is timm's `rand-m{magnitude}-n{num_ops}-mstd{std}-inc1` policy (the one "ResNet strikes
  back" used: 15 ops, each applied with probability 0.5 at timm's magnitude scale) written in TF ops.
  `"keras"` is `keras.layers.RandAugment(factor=magnitude / 10)`, whose scale is Keras's own: factor 0.7
  rotates by up to 252 degrees and translates by up to 70%, so it is not the papers' policy.
- `mixup_alpha`, `cutmix_alpha` (float, 0 = off): `keras.layers.MixUp` / `keras.layers.CutMix` on each batch
  (needs `one_hot=True`); with both on, each batch gets one of them with probability 0.5 (as timm).
  Keras's CutMix accepts alpha in (0, 1].
- `random_erasing` (None, True or dict): Zhong et al.'s Random Erasing, last of the per-image steps. Each
  image gets, with `probability` (default 0.5), one rectangle of area fraction in `area` (default (0.02, 0.4))
  and height/width ratio in `aspect_ratio` (default (0.3, 1/0.3), drawn uniformly as the paper's code does)
  filled with `value`: `"random"` (default, the paper's RE-R: every pixel uniform in [0, 255]) or a number in
  [0, 255] (e.g. 0, or the dataset's mean pixel). Up to 10 draws look for a rectangle that fits inside the
  image, as timm; when none fits the image is left as it is.
- `repeated_augmentation` (int, 0 or 1 = off): timm's / DeiT's RASampler for one device: each epoch takes
  `ceil(n / k)` images and shows each of them k times with different random augmentation, so an epoch keeps its
  n examples (and `steps_per_epoch` does not change), as in "ResNet strikes back" A1/A2 (k = 3).

## Determinism

For a given `seed` (and TF global seed) two pipelines yield the same batches in the same order, epoch after
epoch. Shuffles are seeded; every random choice of per-image augmentation comes from stateless TF random ops
keyed by a per-example seed drawn from `tf.data.Dataset.random(seed)`, so those maps run in parallel and stay
deterministic. In-memory datasets (Fashion-MNIST, CIFAR, any `(images, labels)` arrays) whose per-image
augmentation is only `random_crop`, `horizontal_flip` and `random_erasing` are augmented a whole batch at a
time instead, keyed by one seed per batch: the same augmentations at 8-10x the throughput on a CPU
(benchmarks/RESULTS.md), which leaves the cores to training; the random draws differ from the per-image path's.
The Keras layers with internal random state (MixUp, CutMix, `implementation="keras"` RandAugment) run in
their own sequential maps, which keeps the order in which they draw random numbers fixed (the arrangement
`tf.config.experimental.enable_op_determinism` asks for).
"""

from __future__ import annotations

import dataclasses
import functools
import glob
import logging
import math
import os
import pickle
import socket
import threading

import keras
import numpy as np
import tensorflow as tf

from keras_resnets.idx import read_idx

logger = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE

DATASET_NAMES = ("fashion_mnist", "mnist", "cifar10", "cifar100", "imagenette", "imagenet2012", "folder",
                 "synthetic")
DATA_CONFIG_KEYS = ("name", "data_dir", "download", "validation_split", "validation_seed", "synthetic", "path",
                    "test_path", "validate_images", "crop_fraction", "image_size", "eval_image_size",
                    "keep_empty_classes")
AUGMENT_KEYS = ("random_crop", "horizontal_flip", "random_resized_crop", "randaugment", "mixup_alpha",
                "cutmix_alpha", "repeated_augmentation", "random_erasing")
RANDAUGMENT_KEYS = ("magnitude", "num_ops", "magnitude_std", "implementation")
RANDOM_ERASING_KEYS = ("probability", "area", "aspect_ratio", "value")
SYNTHETIC_KEYS = ("num_examples", "image_shape", "num_classes", "seed")

DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
DEBIAN_FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"

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

# In-memory caches of decoded images larger than this are skipped (the machine has 24 GiB; a cache and a
# shuffle buffer of the same images can both be resident).
CACHE_LIMIT_BYTES = 4 * 1024**3
DEFAULT_SHUFFLE_BUFFER = 10_000
DEFAULT_CROP_FRACTION = 0.875
# Sets whose images are at most this many pixels on a side are loaded from tfds into memory as arrays.
SMALL_IMAGE_SIDE = 64

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@dataclasses.dataclass(frozen=True)
class _Known:
    num_classes: int
    image_shape: tuple
    class_names: tuple | None = None


_KNOWN = {
    "fashion_mnist": _Known(10, (28, 28, 1), tuple(FASHION_MNIST_CLASSES)),
    "mnist": _Known(10, (28, 28, 1), tuple(str(i) for i in range(10))),
    "cifar10": _Known(10, (32, 32, 3), tuple(CIFAR10_CLASSES)),
    "cifar100": _Known(100, (32, 32, 3)),
    "imagenette": _Known(10, (None, None, 3)),
    "imagenet2012": _Known(1000, (None, None, 3)),
}


class DataNotFoundError(ValueError):
    """The dataset is in none of the places looked at (the message names them and what to put there)."""


@dataclasses.dataclass
class DatasetInfo:
    """What `load_splits` found.

    Attributes:
        name: str, the dataset name, e.g. `"fashion_mnist"` (`"folder"` and `"synthetic"` too).
        source: str, where it was loaded from: `"idx:/usr/share/datasets/fashion-mnist"`, `"npz:<file>"`,
            `"cifar-python:<dir>"`, `"tfds:<name>@<data_dir>"`, `"folder:<dir>"` or `"synthetic"`.
        num_classes: int.
        image_shape: tuple, (H, W, C) of the stored images; H and W are None for variable-size images.
        class_names: list of str, indexed by label.
        num_examples: dict, `{"train": n, "validation": n, "test": n}` (0 for an absent split).
        skipped: int, unreadable files skipped while listing an image folder.
        skipped_files: list of str, those files.
        crop_fraction: float, the default central crop of evaluation pipelines for variable-size images.
    """

    name: str
    source: str
    num_classes: int
    image_shape: tuple
    class_names: list
    num_examples: dict
    skipped: int = 0
    skipped_files: list = dataclasses.field(default_factory=list)
    crop_fraction: float = DEFAULT_CROP_FRACTION


@dataclasses.dataclass
class EncodedImages:
    """A split kept encoded until the pipeline decodes it (image folders and large tfds sets).

    Attributes:
        dataset: tf.data.Dataset of `(tf.string, int64 label)`: file paths when `from_files`, else encoded
            image bytes.
        num_examples: int.
        from_files: bool, whether the strings are paths to read.
        verified: bool, whether every element was decoded once already (then the pipeline needs no
            error-skipping, and its cardinality stays known).
        paths: list of str or None, the files in order (folders).
    """

    dataset: tf.data.Dataset
    num_examples: int
    from_files: bool
    verified: bool
    paths: list | None = None


# ---------------------------------------------------------------------------------------------------------
# Config checking


def _check_keys(mapping, allowed, what):
    if not isinstance(mapping, dict):
        raise TypeError(f"{what} must be a dict. Received: {mapping!r} (of type {type(mapping).__name__}).")
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown {what} key(s) {unknown}. Allowed keys: {list(allowed)}.")


def _check_validation_split(value):
    if value is None or value == 0:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if isinstance(value, bool) or not isinstance(value, float) or not 0 < value < 1:
        raise ValueError(
            "data_config['validation_split'] must be a count >= 1 (e.g. 5000) or a fraction in (0, 1) of the "
            f"training set (e.g. 0.1), or None / 0 for no validation split. Received: {value!r}"
        )
    return value


def _held_out(validation_split, n):
    """How many of `n` training examples `validation_split` (a count or a fraction) holds out."""
    held = validation_split if isinstance(validation_split, int) else round(validation_split * n)
    if not 0 < held < n:
        raise ValueError(
            f"validation_split={validation_split} leaves an empty split of the {n} training examples; hold out at "
            "least one example and keep at least one."
        )
    return held


def _check_crop_fraction(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"crop_fraction must be a number in (0, 1] (e.g. 0.875 or 0.95). Received: {value!r}")
    return float(value)


# ---------------------------------------------------------------------------------------------------------
# Loading


def load_splits(data_config: dict) -> tuple[dict, DatasetInfo]:
    """Finds a dataset (local data first) and returns its splits.

    Args:
        data_config: dict, the data config (keys in this module's docstring).

    Returns:
        `({"train": src, "validation": src or None, "test": src or None}, info)`: each `src` is what
        `make_pipeline` takes: a `(uint8 images (N, H, W, C), int64 labels (N,))` tuple of numpy arrays for
        in-memory sets, or an `EncodedImages` for image folders and large tfds sets.

    Raises:
        DataNotFoundError: the data is nowhere local and `download` is off, or the download is impossible.
        ValueError: a bad config, or a corrupt dataset file (the message names the file).

    Example:

    ```python
    splits, info = load_splits({"name": "fashion_mnist", "validation_split": 0.1})
    info.num_examples  # {"train": 54000, "validation": 6000, "test": 10000}
    ```
    """
    _check_keys(data_config, DATA_CONFIG_KEYS, "data_config")
    if "name" not in data_config:
        raise ValueError(f"data_config needs a 'name', one of {list(DATASET_NAMES)}. Received: {data_config!r}")
    name = data_config["name"]
    base = str(name).split("/")[0].split(":")[0]
    if base not in DATASET_NAMES:
        raise ValueError(f"Unknown dataset name {name!r}. Allowed: {list(DATASET_NAMES)}.")
    validation_split = _check_validation_split(data_config.get("validation_split"))
    seed = data_config.get("validation_seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"data_config['validation_seed'] must be an integer >= 0. Received: {seed!r}")
    crop_fraction = _check_crop_fraction(data_config.get("crop_fraction") or DEFAULT_CROP_FRACTION)
    download = data_config.get("download", False)
    if not isinstance(download, bool):
        raise TypeError(f"data_config['download'] must be True or False. Received: {download!r}")
    data_dir = data_config.get("data_dir")
    if data_dir is not None:
        data_dir = os.path.expanduser(str(data_dir))
    for key in ("path", "test_path", "validate_images"):
        if data_config.get(key) is not None and base != "folder":
            raise ValueError(f"data_config[{key!r}] is only used with name='folder'. Received name={name!r}.")
    if data_config.get("synthetic") is not None and base != "synthetic":
        raise ValueError(f"data_config['synthetic'] is only used with name='synthetic'. Received name={name!r}.")

    if base == "folder":
        splits, info = _load_folder(data_config, seed=seed, validation_split=validation_split)
    else:
        if base == "synthetic":
            arrays, info = _load_synthetic(data_config.get("synthetic") or {})
        else:
            arrays, info = _load_known(name, base, data_dir, download, validation_split)
        if isinstance(arrays.get("train"), EncodedImages):
            splits = arrays
        else:
            splits = {"train": arrays["train"], "validation": None, "test": arrays["test"]}
            if validation_split:
                splits["train"], splits["validation"] = _stratified_split(*arrays["train"], validation_split, seed)
    info.crop_fraction = crop_fraction
    info.num_examples = {split: _num_examples(src) for split, src in
                         (("train", splits["train"]), ("validation", splits.get("validation")),
                          ("test", splits.get("test")))}
    splits.setdefault("validation", None)
    return splits, info


def _num_examples(src):
    if src is None:
        return 0
    if isinstance(src, EncodedImages):
        return src.num_examples
    return len(src[1])


def _stratified_split(images, labels, validation_split, seed):
    """Holds out `validation_split` (a count or a fraction) of the examples, the same share of every class
    (largest remainders get the rounding), chosen by `seed`; both parts keep the original order."""
    rng = np.random.default_rng(seed)
    held = _held_out(validation_split, len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * held / len(labels)
    quota = np.floor(exact).astype(int)
    remainder = held - int(quota.sum())
    if remainder > 0:
        quota[np.argsort(-(exact - quota), kind="stable")[:remainder]] += 1
    held_out = np.zeros(len(labels), bool)
    for cls, k in zip(classes, quota):
        members = np.flatnonzero(labels == cls)
        held_out[rng.permutation(members)[:k]] = True
    return (images[~held_out], labels[~held_out]), (images[held_out], labels[held_out])


def _keras_datasets_dir():
    return os.path.join(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras")), "datasets")


def _tfds_dirs(data_dir):
    dirs = [data_dir] if data_dir else []
    dirs.append(os.path.expanduser(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"))
    return list(dict.fromkeys(dirs))


def _unique(paths):
    return list(dict.fromkeys(os.path.normpath(p) for p in paths))


def _load_known(name, base, data_dir, download, validation_split):
    """Tries every local format of a known dataset in order, then tfds, then (if allowed) a download."""
    looked = []  # (place, what was wrong) for the error message.
    known = _KNOWN[base]
    keras_dir = _keras_datasets_dir()
    if base in ("fashion_mnist", "mnist"):
        sub = "fashion-mnist" if base == "fashion_mnist" else "mnist"
        candidates = [data_dir, os.path.join(data_dir, sub), os.path.join(data_dir, base)] if data_dir else []
        if base == "fashion_mnist":
            candidates.append(DEBIAN_FASHION_MNIST_DIR)
        candidates.append(os.path.join(keras_dir, sub))
        for directory in _unique(candidates):
            found = _find_idx_files(directory)
            if isinstance(found, str):
                looked.append((directory, f"IDX files: {found}"))
                continue
            arrays = {split: _read_idx_split(*found[split], num_classes=known.num_classes) for split in found}
            return arrays, _info(base, f"idx:{directory}", known, arrays["train"][0].shape[1:])
        if base == "mnist":
            for npz in _unique(([os.path.join(data_dir, "mnist.npz")] if data_dir else [])
                               + [os.path.join(keras_dir, "mnist.npz")]):
                if not os.path.isfile(npz):
                    looked.append((npz, "Keras mnist.npz: no such file"))
                    continue
                arrays = _read_mnist_npz(npz)
                return arrays, _info(base, f"npz:{npz}", known, arrays["train"][0].shape[1:])
    elif base in ("cifar10", "cifar100"):
        sub = "cifar-10-batches-py" if base == "cifar10" else "cifar-100-python"
        candidates = [data_dir, os.path.join(data_dir, sub)] if data_dir else []
        candidates += [os.path.join(keras_dir, sub), os.path.join(keras_dir, f"{sub}-target", sub)]
        for directory in _unique(candidates):
            missing = _missing_cifar_files(directory, base)
            if missing:
                looked.append((directory, f"CIFAR python batches: {missing}"))
                continue
            arrays, class_names = _read_cifar_dir(directory, base)
            return arrays, _info(base, f"cifar-python:{directory}", known, (32, 32, 3), class_names)

    tfds_dirs = _tfds_dirs(data_dir)
    found = _find_prepared_tfds(name, base, tfds_dirs, looked)
    if found is None and download:
        found = _download_tfds(name, base, tfds_dirs[0], looked)
    if found is None:
        raise DataNotFoundError(_not_found_message(name, base, data_dir, tfds_dirs, looked, download))
    return _from_tfds(*found, base, known, validation_split)


def _info(base, source, known, image_shape, class_names=None):
    names = class_names or known.class_names or [str(i) for i in range(known.num_classes)]
    return DatasetInfo(name=base, source=source, num_classes=known.num_classes, image_shape=tuple(image_shape),
                       class_names=list(names), num_examples={})


def _not_found_message(name, base, data_dir, tfds_dirs, looked, download):
    lines = [f"Dataset {name!r} was not found locally. Looked in:"]
    lines += [f"  - {place}: {why}" for place, why in looked]
    where = data_dir or "<data_dir>"
    lines.append("Put the data in one of these places (or set data_config['data_dir'] to where it is):")
    if base == "fashion_mnist":
        lines.append(f"  - `apt-get install {DEBIAN_FASHION_MNIST_PACKAGE}` (Debian) puts the IDX files in "
                     f"{DEBIAN_FASHION_MNIST_DIR}/.")
    if base in ("fashion_mnist", "mnist"):
        files = ", ".join(f for pair in IDX_FILES.values() for f in pair)
        lines.append(f"  - IDX files {files} (raw or with .gz) in {where}/ or {where}/"
                     f"{'fashion-mnist' if base == 'fashion_mnist' else 'mnist'}/.")
        if base == "mnist":
            lines.append(f"  - Keras's mnist.npz in {where}/ or {_keras_datasets_dir()}/.")
    if base == "cifar10":
        lines.append(f"  - the CIFAR-10 python version (cifar-10-python.tar.gz, extracted): {where}/cifar-10-batches-py/"
                     "{data_batch_1..5, test_batch, batches.meta}.")
    if base == "cifar100":
        lines.append(f"  - the CIFAR-100 python version (cifar-100-python.tar.gz, extracted): {where}/cifar-100-python/"
                     "{train, test, meta}.")
    lines.append(f"  - a tensorflow-datasets prepared copy: {tfds_dirs[0]}/{base}/<config>/<version>/ "
                 f"(e.g. `tfds build {name} --data_dir={tfds_dirs[0]}` on a machine with network access).")
    if base == "imagenet2012":
        lines.append(f"  - imagenet2012 needs a manual download: put ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar "
                     f"(from https://image-net.org/download-images) in the tfds manual_dir "
                     f"{tfds_dirs[0]}/downloads/manual/ and set download=True to let tfds prepare them (no network "
                     "needed), or extract them as an image folder and use name='folder'.")
    elif not download:
        lines.append("  - or set data_config['download'] = True to let tensorflow-datasets download it (needs network).")
    return "\n".join(lines)


# IDX (the MNIST family's format: magic 0x0000, a type byte, a dimension count, big-endian int32 sizes).



def _idx_path(directory, stem):
    """The existing file for an IDX stem, accepting .gz and the `train-images.idx3-ubyte` spelling."""
    dotted = stem.replace("-idx", ".idx")  # train-images.idx3-ubyte, as some unzip tools name it.
    for candidate in (stem, stem + ".gz", dotted, dotted + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def _find_idx_files(directory):
    """`{"train": (images, labels), "test": (...)}` paths, or a string saying what is missing."""
    if not os.path.isdir(directory):
        return "no such directory"
    found, missing = {}, []
    for split, stems in IDX_FILES.items():
        paths = [_idx_path(directory, stem) for stem in stems]
        missing += [stem + "[.gz]" for stem, path in zip(stems, paths) if path is None]
        found[split] = tuple(paths)
    if len(missing) == 4:
        return "none there"
    if missing:
        return f"incomplete IDX set, missing {missing}"
    return found


def _read_idx_split(images_path, labels_path, *, num_classes):
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, H, W) or (N, H, W, C), received {images.dtype} "
            f"{images.shape}."
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"{labels_path}: expected integer labels of shape (N,), received {labels.dtype} {labels.shape}.")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels.")
    _check_labels(labels, num_classes, labels_path)
    if images.ndim == 3:
        images = images[..., None]
    return images, labels.astype(np.int64)


def _check_labels(labels, num_classes, where):
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{where}: labels must lie in [0, {num_classes}), received values in [{labels.min()}, {labels.max()}]."
        )


def _read_mnist_npz(path):
    # allow_pickle=False: an .npz holding object arrays could run code when loaded.
    with np.load(path, allow_pickle=False) as npz:
        missing = {"x_train", "y_train", "x_test", "y_test"} - set(npz.files)
        if missing:
            raise ValueError(f"{path}: expected Keras's mnist.npz keys x_train, y_train, x_test, y_test; missing "
                             f"{sorted(missing)}.")
        arrays = {"train": (npz["x_train"], npz["y_train"]), "test": (npz["x_test"], npz["y_test"])}
    result = {}
    for split, (images, labels) in arrays.items():
        if images.dtype != np.uint8 or images.ndim != 3 or len(images) != len(labels):
            raise ValueError(f"{path}: expected uint8 (N, 28, 28) images with N labels for {split}, received "
                             f"{images.dtype} {images.shape} and {labels.shape} labels.")
        _check_labels(labels, 10, f"{path} ({split})")
        result[split] = (images[..., None], labels.astype(np.int64))
    return result


# CIFAR python batches.

def _cifar_files(base):
    if base == "cifar10":
        return [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta", b"labels", b"label_names"
    return ["train"], ["test"], "meta", b"fine_labels", b"fine_label_names"


def _missing_cifar_files(directory, base):
    if not os.path.isdir(directory):
        return "no such directory"
    train, test, _, _, _ = _cifar_files(base)
    missing = [f for f in train + test if not os.path.isfile(os.path.join(directory, f))]
    if len(missing) == len(train + test):
        return "none there"
    return f"incomplete, missing {missing}" if missing else None


def _read_cifar_batch(path, label_key):
    # The CIFAR "python version" files are pickles: pickle can run code while loading, so only the standard
    # files from the dataset's own distribution belong in the directories this reads.
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except Exception as error:
        raise ValueError(f"Cannot read CIFAR batch {path}: {error}. Replace it with an intact copy.") from error
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        keys = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
        raise ValueError(f"{path}: expected a CIFAR batch dict with b'data' and {label_key!r}, received {keys}.")
    data = np.asarray(batch[b"data"])
    labels = np.asarray(batch[label_key], np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
        raise ValueError(f"{path}: expected uint8 data of shape (N, 3072) with N labels, received {data.dtype} "
                         f"{data.shape} and {labels.shape} labels.")
    # Rows are stored channel-major (1024 red, 1024 green, 1024 blue values, each row-major 32x32).
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _read_cifar_dir(directory, base):
    train_files, test_files, meta_file, label_key, names_key = _cifar_files(base)
    num_classes = _KNOWN[base].num_classes
    arrays = {}
    for split, files in (("train", train_files), ("test", test_files)):
        parts = [_read_cifar_batch(os.path.join(directory, f), label_key) for f in files]
        images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        _check_labels(labels, num_classes, os.path.join(directory, files[0]))
        arrays[split] = (images, labels)
    class_names = None
    meta_path = os.path.join(directory, meta_file)
    if os.path.isfile(meta_path):
        with open(meta_path, "rb") as f:
            meta = pickle.load(f, encoding="bytes")  # The dataset's own metadata pickle (see _read_cifar_batch).
        names = meta.get(names_key) if isinstance(meta, dict) else None
        if names is not None and len(names) == num_classes:
            class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    return arrays, class_names


# tensorflow-datasets.

def _find_prepared_tfds(name, base, dirs, looked):
    for directory in dirs:
        if not os.path.isdir(os.path.join(directory, base)):
            looked.append((os.path.join(directory, base), "tensorflow-datasets: no such directory"))
            continue
        tfds = _import_tfds()
        builder = tfds.builder(name, data_dir=directory)
        if builder.is_prepared():
            return builder, directory
        prepared = sorted(os.path.relpath(os.path.dirname(f), directory) for f in
                          glob.glob(os.path.join(directory, base, "*", "dataset_info.json"))
                          + glob.glob(os.path.join(directory, base, "*", "*", "dataset_info.json")))
        hint = f"; prepared there: {prepared} (name one, e.g. 'imagenette/160px-v2' or 'cifar10:3.0.1')" if prepared else ""
        looked.append((str(builder.data_dir), f"tensorflow-datasets copy not prepared (no dataset_info.json){hint}"))
    return None


def _import_tfds():
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


def _download_tfds(name, base, tfds_dir, looked):
    tfds = _import_tfds()
    if base == "imagenet2012":
        manual = os.path.join(tfds_dir, "downloads", "manual")
        tars = [os.path.join(manual, t) for t in ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar")]
        if not all(os.path.isfile(t) for t in tars):
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


def _from_tfds(builder, tfds_dir, base, known, validation_split):
    tfds = _import_tfds()
    info = builder.info
    shape = tuple(info.features["image"].shape)
    class_names = list(info.features["label"].names)
    source = f"tfds:{info.full_name}@{tfds_dir}"
    # imagenette and imagenet2012 publish their labelled evaluation set as "validation"; it is the test split here.
    test_split = "test" if "test" in info.splits else "validation"
    if None not in shape[:2] and max(shape[:2]) <= SMALL_IMAGE_SIDE:
        arrays = {}
        for split, tfds_split in (("train", "train"), ("test", test_split)):
            images, labels = tfds.as_numpy(builder.as_dataset(split=tfds_split, batch_size=-1, as_supervised=True))
            arrays[split] = (images.astype(np.uint8), labels.astype(np.int64))
        return arrays, _info(base, source, known, shape, class_names)

    def encoded(split):
        # SkipDecoding keeps the JPEG bytes: shuffle buffers hold ~110 kB per ImageNet image instead of ~500 kB,
        # and decoding runs in the pipeline's parallel map.
        dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False,
                                     decoders={"image": tfds.decode.SkipDecoding()})
        dataset = dataset.map(lambda image, label: (image, tf.cast(label, tf.int64)))
        return EncodedImages(dataset, info.splits[split].num_examples, from_files=False, verified=True)

    splits = {"train": encoded("train"), "validation": None, "test": encoded(test_split)}
    if validation_split:
        # The last examples in tfds's stored order (shuffled once when the set was prepared), not stratified.
        n = info.splits["train"].num_examples
        n_train = n - _held_out(validation_split, n)
        splits["train"], splits["validation"] = encoded(f"train[:{n_train}]"), encoded(f"train[{n_train}:]")
    return splits, _info(base, source, known, shape, class_names)


# Synthetic data.

def _load_synthetic(options):
    _check_keys(options, SYNTHETIC_KEYS, "data_config['synthetic']")
    shape = tuple(options.get("image_shape", (32, 32, 3)))
    num_classes = int(options.get("num_classes", 10))
    sizes = options.get("num_examples", {"train": 512, "test": 128})
    if isinstance(sizes, int):
        sizes = {"train": sizes, "test": max(1, sizes // 4)}
    if len(shape) != 3 or min(shape) < 1 or num_classes < 2 or set(sizes) != {"train", "test"}:
        raise ValueError(
            "data_config['synthetic'] needs image_shape (H, W, C), num_classes >= 2 and num_examples as an int "
            f"or {{'train': n, 'test': n}}. Received: {options!r}"
        )
    rng = np.random.default_rng(options.get("seed", 0))
    # One fixed random pattern per class plus noise: learnable, so a smoke run's accuracy can move.
    prototypes = rng.integers(0, 256, (num_classes,) + shape)
    arrays = {}
    for split in ("train", "test"):
        labels = rng.integers(0, num_classes, sizes[split]).astype(np.int64)
        noise = rng.integers(0, 256, (sizes[split],) + shape)
        arrays[split] = ((0.6 * prototypes[labels] + 0.4 * noise).astype(np.uint8), labels)
    info = DatasetInfo(name="synthetic", source="synthetic", num_classes=num_classes, image_shape=shape,
                       class_names=[f"class_{i}" for i in range(num_classes)], num_examples={})
    return arrays, info


# Image folders.

_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def _looks_like_image(path):
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError:
        return False
    return head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _list_class_folder(root, class_names=None):
    """Class names (sorted subfolders, or the given ones) and every non-hidden file under each, sorted."""
    if not root or not os.path.isdir(root):
        raise DataNotFoundError(
            f"Image folder {root!r} does not exist. Set data_config['path'] (and optionally 'test_path') to a "
            "folder with one subfolder of images per class."
        )
    found = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if class_names is None:
        class_names = found
        if not class_names:
            raise DataNotFoundError(f"Image folder {root} has no class subfolders; put each class's images in "
                                    f"{root}/<class name>/.")
    elif set(found) - set(class_names):
        raise ValueError(f"{root} has classes {sorted(set(found) - set(class_names))} that the training folder "
                         f"lacks; its classes are {class_names}.")
    paths, labels = [], []
    for label, name in enumerate(class_names):
        directory = os.path.join(root, name)
        if not os.path.isdir(directory):
            continue
        for current, dirs, files in os.walk(directory, followlinks=True):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for file in sorted(files):
                # Hidden files (.DS_Store, ._foo.jpg from macOS) are metadata, not unreadable images.
                if not file.startswith("."):
                    paths.append(os.path.join(current, file))
                    labels.append(label)
    return class_names, paths, np.asarray(labels, np.int64)


def _decode(contents, channels):
    image = tf.io.decode_image(contents, channels=channels, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, channels])
    return image


def _readable_mask(paths, mode):
    """Which files decode (`"full"`: decoded once, in parallel) or start like an image file (`"header"`)."""
    if mode == "header":
        return np.array([_looks_like_image(p) for p in paths], bool)

    def check(index, path):
        image = _decode(tf.io.read_file(path), 3)
        # Zero-sized images decode "successfully" but cannot be resized; treat them as unreadable too.
        with tf.control_dependencies([tf.debugging.assert_positive(tf.size(image))]):
            return tf.identity(index)

    dataset = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
    dataset = dataset.map(check, num_parallel_calls=AUTOTUNE).ignore_errors()
    mask = np.zeros(len(paths), bool)
    mask[list(dataset.as_numpy_iterator())] = True
    return mask


def _load_folder(config, *, seed, validation_split):
    mode = config.get("validate_images") or "full"
    if mode not in ("full", "header"):
        raise ValueError(f"data_config['validate_images'] must be 'full' or 'header'. Received: {mode!r}")
    root = os.path.expanduser(str(config.get("path") or ""))
    class_names, paths, labels = _list_class_folder(root)
    test = None
    if config.get("test_path"):
        test_root = os.path.expanduser(str(config["test_path"]))
        _, test_paths, test_labels = _list_class_folder(test_root, class_names)
        test = (test_paths, test_labels)
    skipped_files = []

    def keep_readable(file_paths, file_labels):
        mask = _readable_mask(file_paths, mode) if file_paths else np.zeros(0, bool)
        skipped_files.extend(p for p, ok in zip(file_paths, mask) if not ok)
        return [p for p, ok in zip(file_paths, mask) if ok], file_labels[mask]

    paths, labels = keep_readable(paths, labels)
    if test:
        test = keep_readable(*test)
    if skipped_files:
        logger.warning("Skipped %d unreadable file(s) in the image folders, e.g. %s", len(skipped_files),
                       skipped_files[:5])
    if not paths:
        raise DataNotFoundError(f"Image folder {root} holds no readable images (skipped {len(skipped_files)} "
                                "files); supported formats are JPEG, PNG, GIF, BMP and WebP.")
    empty = [name for i, name in enumerate(class_names) if not np.any(labels == i)]
    if empty and not config.get("keep_empty_classes"):
        raise ValueError(
            f"{len(empty)} of the {len(class_names)} class folders of {root} hold no readable images: {empty}. "
            "Each would become an output class that no image teaches. Add images, remove the folder(s), or set "
            "data.keep_empty_classes=True to keep them as classes."
        )
    if empty:
        logger.warning("Kept %d empty class folder(s) of %s as classes (data.keep_empty_classes): %s", len(empty),
                       root, empty)

    def source(file_paths, file_labels):
        dataset = tf.data.Dataset.from_tensor_slices((tf.constant(file_paths, tf.string), file_labels))
        return EncodedImages(dataset, len(file_paths), from_files=True, verified=mode == "full",
                             paths=list(file_paths))

    splits = {"train": None, "validation": None, "test": source(*test) if test and test[0] else None}
    if validation_split:
        # A seeded permutation, so that the held-out images are spread over the classes (the listing is sorted
        # by class); both parts stay sorted, as every split's file order is.
        order = np.random.default_rng(seed).permutation(len(paths))
        n_val = _held_out(validation_split, len(paths))
        held = np.zeros(len(paths), bool)
        held[order[len(paths) - n_val:]] = True
        splits["validation"] = source([p for p, h in zip(paths, held) if h], labels[held])
        paths, labels = [p for p, h in zip(paths, held) if not h], labels[~held]
    splits["train"] = source(paths, labels)
    info = DatasetInfo(name="folder", source=f"folder:{root}", num_classes=len(class_names),
                       image_shape=(None, None, 3), class_names=list(class_names), num_examples={},
                       skipped=len(skipped_files), skipped_files=skipped_files)
    return splits, info


def steps_per_epoch(info: DatasetInfo, split: str, batch_size: int, drop_remainder: bool) -> int:
    """Batches in one pass over a split: `n // batch_size` with `drop_remainder`, else `ceil(n / batch_size)`.

    Repeated augmentation does not change it (an epoch keeps its n examples).
    """
    if split not in info.num_examples:
        raise ValueError(f"Unknown split {split!r}; the splits are {sorted(info.num_examples)}.")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: {batch_size!r}")
    n = info.num_examples[split]
    return n // batch_size if drop_remainder else -(-n // batch_size)


# ---------------------------------------------------------------------------------------------------------
# Pipelines


@dataclasses.dataclass
class _Augment:
    random_crop: int = 0
    horizontal_flip: bool = False
    random_resized_crop: dict | None = None  # {"scale": (lo, hi), "ratio": (lo, hi)}
    randaugment: dict | None = None  # {"magnitude", "num_ops", "magnitude_std", "implementation"}
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    repeats: int = 1
    random_erasing: dict | None = None  # {"probability", "area", "aspect_ratio", "value"}


def check_augment(augment):
    """Raises `ValueError` / `TypeError` for an augmentation config the pipeline would refuse (before any
    data is read)."""
    _parse_augment(augment)


def _parse_augment(augment):
    if augment is None:
        return _Augment()
    _check_keys(augment, AUGMENT_KEYS, "augment")
    result = _Augment()
    crop = augment.get("random_crop") or 0
    if isinstance(crop, bool) or not isinstance(crop, int) or crop < 0:
        raise ValueError(f"augment['random_crop'] is the padding in pixels (e.g. 4), a non-negative int. "
                         f"Received: {crop!r}")
    result.random_crop = crop
    result.horizontal_flip = bool(augment.get("horizontal_flip", False))
    rrc = augment.get("random_resized_crop")
    if rrc:
        rrc = {} if rrc is True else rrc
        _check_keys(rrc, ("scale", "ratio"), "augment['random_resized_crop']")
        scale, ratio = tuple(rrc.get("scale", (0.08, 1.0))), tuple(rrc.get("ratio", (3 / 4, 4 / 3)))
        if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1 or len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
            raise ValueError(f"augment['random_resized_crop'] needs scale (lo, hi) in (0, 1] and ratio (lo, hi) > 0. "
                             f"Received: {augment['random_resized_crop']!r}")
        result.random_resized_crop = {"scale": scale, "ratio": ratio}
    ra = augment.get("randaugment")
    if ra:
        _check_keys(ra, RANDAUGMENT_KEYS, "augment['randaugment']")
        ra = {"num_ops": 2, "magnitude_std": 0.0, "implementation": "timm", **ra}
        magnitude = ra.get("magnitude")
        if isinstance(magnitude, bool) or not isinstance(magnitude, (int, float)) or not 0 <= magnitude <= 10:
            raise ValueError(f"augment['randaugment']['magnitude'] must be a number in [0, 10] (timm's scale, e.g. 7). "
                             f"Received: {magnitude!r}")
        if not isinstance(ra["num_ops"], int) or ra["num_ops"] < 1:
            raise ValueError(f"augment['randaugment']['num_ops'] must be a positive int. Received: {ra['num_ops']!r}")
        if ra["implementation"] not in ("timm", "keras"):
            raise ValueError(f"augment['randaugment']['implementation'] must be 'timm' or 'keras'. "
                             f"Received: {ra['implementation']!r}")
        std = ra["magnitude_std"]
        if not isinstance(std, (int, float)) or not 0 <= std < math.inf:
            raise ValueError(f"augment['randaugment']['magnitude_std'] must be a finite number >= 0. Received: {std!r}")
        if ra["implementation"] == "keras" and std:
            raise ValueError("augment['randaugment']['magnitude_std'] needs implementation='timm'; "
                             f"keras.layers.RandAugment has no magnitude noise. Received: {std!r}")
        result.randaugment = ra
    for key in ("mixup_alpha", "cutmix_alpha"):
        alpha = augment.get(key) or 0.0
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
            raise ValueError(f"augment[{key!r}] must be a number >= 0 (0 = off). Received: {alpha!r}")
        setattr(result, key, float(alpha))
    if result.cutmix_alpha > 1:
        raise ValueError(f"augment['cutmix_alpha'] must be in (0, 1]: keras.layers.CutMix bounds its factor there. "
                         f"Received: {result.cutmix_alpha!r}")
    repeats = augment.get("repeated_augmentation") or 1
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"augment['repeated_augmentation'] is a repeat count (e.g. 3; 0 or 1 = off). "
                         f"Received: {augment.get('repeated_augmentation')!r}")
    result.repeats = repeats
    erasing = augment.get("random_erasing")
    if erasing is not None and erasing is not False:
        result.random_erasing = _parse_random_erasing({} if erasing is True else erasing)
    return result


def _parse_random_erasing(erasing):
    if not isinstance(erasing, dict):
        raise ValueError("augment['random_erasing'] must be None, True or a dict with keys "
                         f"{RANDOM_ERASING_KEYS}. Received: {erasing!r}")
    _check_keys(erasing, RANDOM_ERASING_KEYS, "augment['random_erasing']")
    erasing = {"probability": 0.5, "area": (0.02, 0.4), "aspect_ratio": (0.3, 1 / 0.3), "value": "random",
               **erasing}
    probability = erasing["probability"]
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
        raise ValueError(f"augment['random_erasing']['probability'] must be a number in [0, 1] (the paper: 0.5). "
                         f"Received: {probability!r}")
    area, ratio = erasing["area"], erasing["aspect_ratio"]
    if (not isinstance(area, (tuple, list)) or len(area) != 2 or not all(isinstance(a, (int, float)) for a in area)
            or not 0 < area[0] <= area[1] < 1):
        raise ValueError("augment['random_erasing']['area'] must be (lo, hi) fractions of the image with "
                         f"0 < lo <= hi < 1 (the paper: (0.02, 0.4)). Received: {area!r}")
    if (not isinstance(ratio, (tuple, list)) or len(ratio) != 2 or not all(isinstance(r, (int, float)) for r in ratio)
            or not 0 < ratio[0] <= ratio[1] < math.inf):
        raise ValueError("augment['random_erasing']['aspect_ratio'] must be (lo, hi) height/width ratios with "
                         f"0 < lo <= hi (the paper: (0.3, 1 / 0.3)). Received: {ratio!r}")
    value = erasing["value"]
    if value != "random" and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 255):
        raise ValueError("augment['random_erasing']['value'] must be 'random' (uniform noise) or a number in "
                         f"[0, 255]. Received: {value!r}")
    return {"probability": float(probability), "area": tuple(float(a) for a in area),
            "aspect_ratio": tuple(float(r) for r in ratio), "value": value if value == "random" else float(value)}


def make_pipeline(source, info: DatasetInfo, *, batch_size: int, training: bool, seed: int,
                  augment: dict | None = None, image_size: int | None = None, one_hot: bool = True,
                  cache: bool = True, repeat: bool = False, drop_remainder: bool | None = None,
                  channels: int | None = None, crop_fraction: float | None = None,
                  shuffle_buffer: int | None = None) -> tf.data.Dataset:
    """A batched, prefetched `tf.data.Dataset` of `(images, labels)` for one split.

    Training pipelines shuffle (reshuffling every epoch), augment, and drop the last partial batch by
    default; evaluation pipelines keep the stored order, never augment, and keep every example exactly once.

    Args:
        source: a split from `load_splits` (a `(images, labels)` numpy tuple or an `EncodedImages`).
        info: DatasetInfo, from `load_splits`.
        batch_size: int.
        training: bool, whether this is the training pipeline.
        seed: int, seeds the shuffle and every random augmentation.
        augment: dict or None, the augmentation config (keys in this module's docstring); ignored when not
            training, so the same config can be passed to every pipeline.
        image_size: int or None, the square output size. Required for variable-size images (folders,
            imagenette, imagenet2012): evaluation resizes the shorter side to `image_size / crop_fraction` and
            crops the centre; training without `random_resized_crop` resizes the shorter side to `image_size`
            and crops the centre. Fixed-size images are resized to it when it differs from theirs.
        one_hot: bool, float32 one-hot labels (needed by MixUp/CutMix) or int32 class indices.
        cache: bool, cache decoded (and, where deterministic, resized) images in memory when they fit in
            `CACHE_LIMIT_BYTES`; in-memory sets need no cache.
        repeat: bool, repeat forever (reshuffled each epoch); pair it with `steps_per_epoch`.
        drop_remainder: bool or None (= `training`), drop the last partial batch.
        channels: int or None, 1 or 3 output channels (None keeps grayscale sets at 1 and decodes files to 3).
        crop_fraction: float or None (= `info.crop_fraction`), the centre fraction kept when evaluating
            variable-size images.
        shuffle_buffer: int or None, the shuffle buffer for decoded or encoded images (default
            `min(n, DEFAULT_SHUFFLE_BUFFER)`); in-memory sets and file lists always shuffle fully.

    Returns:
        tf.data.Dataset of `(float32 (B, H, W, C) in [0, 255], labels)`.

    Replaying a stream: a pipeline's random state carries on from one iterator to the next of the same
    object (each iteration reshuffles; the Keras MixUp/CutMix/RandAugment layers keep a seed state), so a
    fresh `make_pipeline(...)` with the same arguments followed by `.skip(n)` reproduces elements n, n+1, ...
    of a fresh run exactly, while `.skip(n)` on an object that was already iterated does not. `skip` still
    computes (decodes and augments) every skipped element; to restart at an epoch boundary cheaply, build one
    finite pipeline per epoch with an epoch-derived seed (e.g. `seed=1000 * seed + epoch`).

    Example:

    ```python
    train_ds = make_pipeline(splits["train"], info, batch_size=128, training=True, seed=0,
                             augment={"random_crop": 4, "horizontal_flip": True})
    model.fit(train_ds, epochs=182)
    ```
    """
    if source is None:
        raise ValueError(
            "make_pipeline received source=None: the data config has no such split (a validation split needs "
            "data_config['validation_split']; an image folder's test split needs data_config['test_path'])."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: {batch_size!r}")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be a positive int (one side of a square) or None. Received: {image_size!r}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None, 1 or 3. Received: {channels!r}")
    crop_fraction = _check_crop_fraction(crop_fraction if crop_fraction is not None else info.crop_fraction)
    aug = _parse_augment(augment) if training else _Augment()
    if (aug.mixup_alpha or aug.cutmix_alpha) and not one_hot:
        raise ValueError("augment mixup_alpha / cutmix_alpha mix labels, so they need one_hot=True. "
                         "Received: one_hot=False")
    drop_remainder = training if drop_remainder is None else bool(drop_remainder)

    batched = False
    if isinstance(source, EncodedImages):
        if image_size is None:
            raise ValueError(f"{info.name} images vary in size, so make_pipeline needs image_size (e.g. 224). "
                             "Received: image_size=None")
        elements = _encoded_elements(source, info, aug, training=training, seed=seed, image_size=image_size,
                                     channels=channels or 3, cache=cache, repeat=repeat,
                                     crop_fraction=crop_fraction, shuffle_buffer=shuffle_buffer)
        num_examples = source.num_examples
    elif isinstance(source, tuple) and len(source) == 2:
        images, labels = source
        if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
            raise ValueError("An in-memory source must be (uint8 images (N, H, W, C), int labels (N,)). Received "
                             f"images of {getattr(images, 'dtype', type(images))} {getattr(images, 'shape', '')}.")
        labels = np.asarray(labels)
        if labels.ndim != 1 or len(labels) != len(images):
            raise ValueError(f"An in-memory source needs one label per image. Received {len(images)} images and "
                             f"labels of shape {labels.shape}.")
        if len(labels) and (labels.min() < 0 or labels.max() >= info.num_classes):
            raise ValueError(f"Labels must be class indices in [0, {info.num_classes}). Received labels from "
                             f"{labels.min()} to {labels.max()}.")
        batched = training and _batchable(aug)
        elements = _array_elements(images, np.asarray(labels), aug, training=training, seed=seed,
                                   image_size=image_size, channels=channels, repeat=repeat,
                                   batch=(batch_size, drop_remainder) if batched else None)
        num_examples = len(labels)
    else:
        raise TypeError(f"make_pipeline takes a split from load_splits. Received: {type(source).__name__}")
    if num_examples == 0:
        raise ValueError("make_pipeline received an empty split.")

    if training and aug.randaugment and aug.randaugment["implementation"] == "keras":
        # Stateful (a Keras SeedGenerator): a sequential map keeps its random draws in a fixed order.
        layer = keras.layers.RandAugment(value_range=(0, 255), dtype="float32", num_ops=aug.randaugment["num_ops"],
                                         factor=aug.randaugment["magnitude"] / 10, seed=seed)
        elements = elements.map(lambda image, label: (tf.clip_by_value(layer(image), 0.0, 255.0), label))

    num_classes = info.num_classes

    def encode_labels(images, labels):
        if one_hot:
            return images, tf.one_hot(labels, num_classes, dtype=tf.float32)
        return images, tf.cast(labels, tf.int32)

    if not batched:
        elements = elements.batch(batch_size, drop_remainder=drop_remainder)
    dataset = elements.map(encode_labels, num_parallel_calls=AUTOTUNE)
    if training and (aug.mixup_alpha or aug.cutmix_alpha):
        dataset = _mix_batches(dataset, aug, seed)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.prefetch(AUTOTUNE).with_options(options)


def _epoch(dataset, n, seed, buffer, repeats, repeat, exact=True):
    """Shuffles one epoch (timm's repeated augmentation when `repeats` > 1) and repeats it if asked.

    `exact`: the dataset holds exactly `n` elements (not so when unreadable files are dropped on the way).
    """
    dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeats > 1:
        unique = -(-n // repeats)
        dataset = dataset.take(unique).flat_map(
            lambda *e: tf.data.Dataset.from_tensors(e[0] if len(e) == 1 else e).repeat(repeats))
        dataset = dataset.shuffle(min(buffer * repeats, unique * repeats), seed=seed + 1,
                                  reshuffle_each_iteration=True).take(n)
        if exact:
            # flat_map hides the length from tf.data; restoring it keeps Keras's progress bar and epoch length.
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(n))
    return dataset.repeat() if repeat else dataset


def _with_seeds(dataset, seed):
    """Pairs each element with its own stateless-RNG seed (a new stream every epoch, the same every run)."""
    randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(dataset, randoms)


def _element_seed(random, seed):
    return tf.stack([random, tf.constant(seed, tf.int64)])


def _to_channels(image, channels):
    if channels is None or image.shape[-1] == channels:
        return image
    if channels == 3:
        return tf.image.grayscale_to_rgb(image)
    return tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))), image.dtype)


def _batchable(aug) -> bool:
    """Whether every augmentation in `aug` has a whole-batch form (`_random_transform_batch`)."""
    return not (aug.random_resized_crop or aug.randaugment)


def _array_elements(images, labels, aug, *, training, seed, image_size, channels, repeat, batch=None):
    """The examples of in-memory arrays; with `batch` (batch_size, drop_remainder; only for training with
    `_batchable` augmentation), whole training batches augmented at once (`_random_transform_batch`)."""
    n, height, width = len(images), images.shape[1], images.shape[2]
    # Kept as tensors and gathered by index, so the shuffle moves integers rather than images.
    images_t, labels_t = tf.constant(images), tf.constant(labels.astype(np.int64))
    size = (image_size, image_size) if image_size else (height, width)

    def fixed(index):
        image = _to_channels(tf.gather(images_t, index), channels)
        image = tf.cast(image, tf.float32)
        if size != (height, width):
            image = tf.image.resize(image, size, antialias=True)
        return image, tf.gather(labels_t, index)

    if not training:
        return tf.data.Dataset.range(n).map(fixed, num_parallel_calls=AUTOTUNE)

    def augmented(index, random):
        if aug.random_resized_crop:
            image = tf.cast(_to_channels(tf.gather(images_t, index), channels), tf.float32)
            label = tf.gather(labels_t, index)
        else:
            image, label = fixed(index)
        return _random_transform(image, _element_seed(random, seed), aug, size), label

    order = _epoch(tf.data.Dataset.range(n), n, seed, n, aug.repeats, repeat)
    if batch is not None:
        def augmented_batch(indices, random):
            images = tf.cast(_to_channels(tf.gather(images_t, indices), channels), tf.float32)
            if size != (height, width):
                images = tf.image.resize(images, size, antialias=True)
            return _random_transform_batch(images, _element_seed(random, seed), aug), tf.gather(labels_t, indices)

        return _with_seeds(order.batch(*batch), seed).map(augmented_batch, num_parallel_calls=AUTOTUNE)
    return _with_seeds(order, seed).map(augmented, num_parallel_calls=AUTOTUNE)


def _encoded_elements(source, info, aug, *, training, seed, image_size, channels, cache, repeat, crop_fraction,
                      shuffle_buffer):
    n = source.num_examples
    buffer = min(n, shuffle_buffer or DEFAULT_SHUFFLE_BUFFER)
    # Evaluation crops the centre; training without a random resized crop resizes the whole image's shorter
    # side to the output size; with one, the crop is taken from the full decoded image.
    deterministic = None
    if not training:
        deterministic = crop_fraction
    elif not aug.random_resized_crop:
        deterministic = 1.0

    def decode(content, label):
        # Decoded to RGB first: GIF and BMP decoders accept no channels=1; validation decoded the same way.
        image = _to_channels(_decode(tf.io.read_file(content) if source.from_files else content, 3), channels)
        if deterministic is not None:
            image = _resize_center_crop(image, image_size, deterministic)
            image = tf.saturate_cast(tf.round(image), tf.uint8)
        return image, label

    def decoded(dataset):
        dataset = dataset.map(decode, num_parallel_calls=AUTOTUNE)
        if not source.verified:
            dataset = dataset.ignore_errors(log_warning=True)
        return dataset

    fits = deterministic is not None and n * image_size * image_size * channels <= CACHE_LIMIT_BYTES
    if cache and not fits:
        logger.info("Not caching %s: %s", info.name, "random resized crops start from the full images"
                    if deterministic is None else f"{n} images of {image_size}px exceed CACHE_LIMIT_BYTES")
    if cache and fits:
        dataset = decoded(source.dataset).cache()
        if training:
            dataset = _epoch(dataset, n, seed, buffer, aug.repeats, repeat, exact=source.verified)
    elif training:
        # Shuffle before decoding: file paths are cheap to shuffle completely.
        dataset = decoded(_epoch(source.dataset, n, seed, n if source.from_files else buffer, aug.repeats, repeat))
    else:
        dataset = decoded(source.dataset)

    if not training:
        return dataset.map(lambda image, label: (tf.cast(image, tf.float32), label), num_parallel_calls=AUTOTUNE)

    def augmented(element, random):
        image, label = element
        return _random_transform(tf.cast(image, tf.float32), _element_seed(random, seed), aug,
                                 (image_size, image_size)), label

    return _with_seeds(dataset, seed).map(augmented, num_parallel_calls=AUTOTUNE)


def _resize_center_crop(image, size, fraction):
    """Resizes the shorter side to `floor(size / fraction)` (as timm) and crops the central `size` square."""
    scale_size = math.floor(size / fraction)
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    ratio = scale_size / tf.minimum(height, width)
    new_h = tf.maximum(size, tf.cast(tf.round(height * ratio), tf.int32))
    new_w = tf.maximum(size, tf.cast(tf.round(width * ratio), tf.int32))
    image = tf.image.resize(image, tf.stack([new_h, new_w]), antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    image = image[top:top + size, left:left + size]
    image.set_shape([size, size, image.shape[-1]])
    return image


def _random_transform(image, seed, aug, size):
    """Per-image random augmentation (float32 in, float32 in [0, 255] out), all from stateless RNG ops."""
    seeds = tf.random.experimental.stateless_split(seed, 4)
    if aug.random_resized_crop:
        image = _random_resized_crop(image, seeds[0], size, **aug.random_resized_crop)
    if aug.random_crop:
        pad = aug.random_crop
        height, width, depth = image.shape
        image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        image = tf.image.stateless_random_crop(image, [height, width, depth], seed=seeds[1])
    if aug.horizontal_flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[2])
    if aug.randaugment and aug.randaugment["implementation"] == "timm":
        image = rand_augment(image, seeds[3], magnitude=aug.randaugment["magnitude"],
                             num_ops=aug.randaugment["num_ops"], magnitude_std=aug.randaugment["magnitude_std"])
    if aug.random_erasing:
        # Folded in rather than a fifth split, so the other steps draw what they drew before this option.
        image = random_erasing(image, tf.random.experimental.stateless_fold_in(seed, 5), **aug.random_erasing)
    return tf.clip_by_value(image, 0.0, 255.0)


def _random_transform_batch(images, seed, aug):
    """`_random_transform`'s pad-crop, flip and erasing on a batch (B, H, W, C) at once, keyed by one seed."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    if aug.random_crop:
        pad = aug.random_crop
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        offsets = tf.random.stateless_uniform([2, batch], seeds[0], 0, 2 * pad + 1, dtype=tf.int32)
        rows = offsets[0][:, None] + tf.range(height)[None, :]
        cols = offsets[1][:, None] + tf.range(width)[None, :]
        images = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
    if aug.horizontal_flip:
        flip = tf.random.stateless_uniform([batch], seeds[1]) < 0.5
        images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
    if aug.random_erasing:
        images = random_erasing(images, seeds[2], **aug.random_erasing)
    return tf.clip_by_value(images, 0.0, 255.0)


def random_erasing(image, seed, *, probability=0.5, area=(0.02, 0.4), aspect_ratio=(0.3, 1 / 0.3), value="random",
                   attempts=10):
    """Random Erasing (Zhong et al. 2017) on one image or a batch of images, in stateless TF ops.

    Each image, with `probability`, gets one rectangle of area `S * U(area)` and height/width ratio
    `U(aspect_ratio)` (height `round(sqrt(area * ratio))`, width `round(sqrt(area / ratio))`): the first of
    `attempts` draws that fits strictly inside the image, placed uniformly and filled with `value`. "random"
    gives every erased pixel (and channel) its own uniform value in [0, 255], a number fills with that constant.
    The images of a batch draw independently (from the one `seed`).

    Args:
        image: float32 tensor (H, W, C) or (B, H, W, C), values in [0, 255], static H and W.
        seed: int tensor of shape (2,), the stateless RNG seed.
        probability: float in [0, 1].
        area: (lo, hi), fractions of the image's area.
        aspect_ratio: (lo, hi), height / width.
        value: "random" or a number.
        attempts: int, draws that may fail to fit before the image is left unchanged.

    Returns:
        float32 tensor of the same shape.
    """
    single = image.shape.rank == 3
    images = image[None] if single else image
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    s = tf.random.experimental.stateless_split(seed, 6)
    target = height * width * tf.random.stateless_uniform([batch, attempts], s[0], area[0], area[1])
    ratio = tf.random.stateless_uniform([batch, attempts], s[1], aspect_ratio[0], aspect_ratio[1])
    box_h = tf.cast(tf.round(tf.sqrt(target * ratio)), tf.int32)
    box_w = tf.cast(tf.round(tf.sqrt(target / ratio)), tf.int32)
    fits = (box_h < height) & (box_w < width) & (box_h > 0) & (box_w > 0)
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)  # 0 when nothing fits (`apply` off)
    box_h, box_w = tf.gather(box_h, first, batch_dims=1), tf.gather(box_w, first, batch_dims=1)
    apply = tf.reduce_any(fits, axis=1) & (tf.random.stateless_uniform([batch], s[2]) < probability)

    def place(size, box, key):  # uniform in [0, size - box]
        room = tf.maximum(size - box + 1, 1)
        start = tf.cast(tf.random.stateless_uniform([batch], key) * tf.cast(room, tf.float32), tf.int32)
        return tf.minimum(start, room - 1)

    top, left = place(height, box_h, s[3]), place(width, box_w, s[4])
    rows, cols = tf.range(height)[None, :, None], tf.range(width)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < (top + box_h)[:, None, None])
              & (cols >= left[:, None, None]) & (cols < (left + box_w)[:, None, None]) & apply[:, None, None])
    if value == "random":
        fill = tf.random.stateless_uniform(tf.shape(images), s[5], 0.0, 255.0)
    else:
        fill = tf.fill(tf.shape(images), tf.constant(value, images.dtype))
    erased = tf.where(inside[..., None], fill, images)
    return erased[0] if single else erased


def _random_resized_crop(image, seed, size, scale, ratio):
    """Inception-style crop (random area fraction in `scale`, aspect ratio in `ratio`) resized to `size`."""
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
        min_object_covered=0.0, aspect_ratio_range=ratio, area_range=scale, max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    crop = tf.slice(image, begin, crop_size)
    resized = tf.image.resize(crop, size, antialias=True)
    resized.set_shape([size[0], size[1], image.shape[-1]])
    return resized


def _mix_batches(dataset, aug, seed):
    """MixUp and/or CutMix per batch (one of them, with probability 0.5 each, when both are on)."""
    # dtype="float32": the pipeline's images stay float32 whatever the model's (mixed) precision policy.
    mixup = keras.layers.MixUp(alpha=aug.mixup_alpha, seed=seed, dtype="float32") if aug.mixup_alpha else None
    # factor=(alpha, alpha): a single number would draw alpha itself uniformly from [0, factor].
    cutmix = (keras.layers.CutMix(factor=(aug.cutmix_alpha, aug.cutmix_alpha), seed=seed, dtype="float32")
              if aug.cutmix_alpha else None)

    def apply(layer, images, labels):
        out = layer({"images": images, "labels": labels}, training=True)
        return tf.clip_by_value(out["images"], 0.0, 255.0), out["labels"]

    def mix(batch, random):
        images, labels = batch
        if mixup and cutmix:
            coin = tf.random.stateless_uniform([], _element_seed(random, seed))
            return tf.cond(coin < 0.5, lambda: apply(mixup, images, labels), lambda: apply(cutmix, images, labels))
        return apply(mixup or cutmix, images, labels)

    # The Keras layers keep random state (a SeedGenerator): a sequential map fixes the order they draw in.
    return _with_seeds(dataset, seed + 2).map(mix)


# ---------------------------------------------------------------------------------------------------------
# RandAugment (timm's policy, "inc1" op set), in stateless TF ops.

_FILL = 128.0  # timm fills uncovered pixels of geometric ops with grey (128, 128, 128).


def _blend(degenerate, image, factor):
    """PIL.ImageEnhance: factor 0 gives `degenerate`, 1 the image, above 1 extrapolates."""
    return tf.clip_by_value(degenerate + factor * (image - degenerate), 0.0, 255.0)


def _grayscale(image):
    if image.shape[-1] == 1:
        return image
    return tf.tensordot(image, tf.constant([0.299, 0.587, 0.114]), axes=[[-1], [0]])[..., None]


def _affine(image, transform):
    """Samples output pixel (x, y) from input (a0 x + a1 y + a2, b0 x + b1 y + b2), as PIL's AFFINE."""
    transform = tf.concat([tf.cast(transform, tf.float32), tf.zeros([2])], 0)[None]
    shape = tf.shape(image)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform, output_shape=shape[:2], fill_value=_FILL,
        interpolation="BILINEAR", fill_mode="CONSTANT")
    return tf.reshape(out[0], shape)


def _auto_contrast(image, level, sign):
    low = tf.reduce_min(image, axis=[0, 1], keepdims=True)
    high = tf.reduce_max(image, axis=[0, 1], keepdims=True)
    spread = high - low
    return tf.where(spread > 0, (image - low) * 255.0 / tf.maximum(spread, 1e-3), image)


def _equalize_channel(channel):
    """PIL.ImageOps.equalize for one channel (H, W) of values in [0, 255]."""
    pixels = tf.cast(tf.clip_by_value(tf.round(channel), 0, 255), tf.int32)
    hist = tf.math.bincount(tf.reshape(pixels, [-1]), minlength=256, maxlength=256)
    last = tf.gather(hist, tf.reduce_max(tf.cast(tf.where(hist > 0)[:, 0], tf.int32)))  # the top used bin.
    step = (tf.reduce_sum(hist) - last) // 255
    lut = tf.clip_by_value((tf.cumsum(hist, exclusive=True) + step // 2) // tf.maximum(step, 1), 0, 255)
    return tf.where(step > 0, tf.cast(tf.gather(lut, pixels), tf.float32), channel)


def _equalize(image, level, sign):
    channels = tf.unstack(image, axis=-1, num=image.shape[-1])
    return tf.stack([_equalize_channel(c) for c in channels], axis=-1)


def _invert(image, level, sign):
    return 255.0 - image


def _rotate(image, level, sign):
    angle = sign * level * 30.0 * math.pi / 180.0
    shape = tf.cast(tf.shape(image), tf.float32)
    cx, cy = (shape[1] - 1) / 2, (shape[0] - 1) / 2
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Inverse map: rotate each output coordinate about the centre back into the input.
    return _affine(image, tf.stack([cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy]))


def _posterize(image, level, sign):
    bits = 4 - tf.cast(level * 4, tf.int32)  # timm's PosterizeIncreasing: 4 bits at level 0, 0 at level 10.
    shift = 8 - bits
    pixels = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.int32)
    return tf.cast(tf.bitwise.left_shift(tf.bitwise.right_shift(pixels, shift), shift), tf.float32)


def _solarize(image, level, sign):
    threshold = 256.0 - tf.floor(level * 256.0)  # timm's SolarizeIncreasing.
    return tf.where(image >= threshold, 255.0 - image, image)


def _solarize_add(image, level, sign):
    add = tf.floor(level * 110.0)
    return tf.where(image < 128.0, tf.minimum(image + add, 255.0), image)


def _enhance_factor(level, sign):
    return tf.maximum(0.1, 1.0 + sign * level * 0.9)  # timm's *Increasing enhance ops.


def _color(image, level, sign):
    return _blend(_grayscale(image), image, _enhance_factor(level, sign))


def _contrast(image, level, sign):
    mean = tf.round(tf.reduce_mean(_grayscale(image)))
    return _blend(mean, image, _enhance_factor(level, sign))


def _brightness(image, level, sign):
    return _blend(tf.zeros_like(image), image, _enhance_factor(level, sign))


def _sharpness(image, level, sign):
    kernel = tf.constant([[1, 1, 1], [1, 5, 1], [1, 1, 1]], tf.float32) / 13.0
    depth = image.shape[-1]
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, depth, 1])
    smooth = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "VALID")[0]
    # PIL's SMOOTH filter leaves the one-pixel border as it was.
    mask = tf.pad(tf.ones_like(smooth), [[1, 1], [1, 1], [0, 0]])
    degenerate = tf.where(mask > 0, tf.pad(smooth, [[1, 1], [1, 1], [0, 0]]), image)
    return _blend(degenerate, image, _enhance_factor(level, sign))


def _shear_x(image, level, sign):
    return _affine(image, tf.stack([1.0, sign * level * 0.3, 0.0, 0.0, 1.0, 0.0]))


def _shear_y(image, level, sign):
    return _affine(image, tf.stack([1.0, 0.0, 0.0, sign * level * 0.3, 1.0, 0.0]))


def _translate_x(image, level, sign):
    pixels = sign * level * 0.45 * tf.cast(tf.shape(image)[1], tf.float32)
    return _affine(image, tf.stack([1.0, 0.0, pixels, 0.0, 1.0, 0.0]))


def _translate_y(image, level, sign):
    pixels = sign * level * 0.45 * tf.cast(tf.shape(image)[0], tf.float32)
    return _affine(image, tf.stack([1.0, 0.0, 0.0, 0.0, 1.0, pixels]))


RAND_AUGMENT_OPS = {
    "AutoContrast": _auto_contrast, "Equalize": _equalize, "Invert": _invert, "Rotate": _rotate,
    "PosterizeIncreasing": _posterize, "SolarizeIncreasing": _solarize, "SolarizeAdd": _solarize_add,
    "ColorIncreasing": _color, "ContrastIncreasing": _contrast, "BrightnessIncreasing": _brightness,
    "SharpnessIncreasing": _sharpness, "ShearX": _shear_x, "ShearY": _shear_y, "TranslateXRel": _translate_x,
    "TranslateYRel": _translate_y,
}


def rand_augment(image, seed, *, magnitude, num_ops=2, magnitude_std=0.0, prob=0.5):
    """timm's RandAugment (`rand-m{magnitude}-n{num_ops}-mstd{magnitude_std}-inc1`) on one image.

    Picks `num_ops` ops (with replacement) from `RAND_AUGMENT_OPS` and applies each with probability `prob`
    at level `magnitude / 10` (jittered by a Gaussian of std `magnitude_std`, clipped to [0, 10]) with a
    random sign. Geometric ops sample bilinearly and fill with grey, as timm does; rotations, shears and
    translations reach 30 degrees, 0.3 and 45% of the side at magnitude 10.

    Args:
        image: float32 tensor (H, W, C) with values in [0, 255], C = 1 or 3.
        seed: int tensor of shape (2,), the stateless RNG seed.
        magnitude: float in [0, 10].
        num_ops: int.
        magnitude_std: float >= 0.
        prob: float, the chance each chosen op is applied.

    Returns:
        float32 tensor of the same shape, in [0, 255].
    """
    ops = list(RAND_AUGMENT_OPS.values())
    for op_seed in tf.unstack(tf.random.experimental.stateless_split(seed, num_ops), num=num_ops):
        s = tf.random.experimental.stateless_split(op_seed, 4)
        index = tf.random.stateless_uniform([], s[0], 0, len(ops), dtype=tf.int32)
        apply = tf.random.stateless_uniform([], s[1]) < prob
        level = float(magnitude)
        if magnitude_std > 0:
            level = level + magnitude_std * tf.random.stateless_normal([], s[2])
        level = tf.clip_by_value(tf.cast(level, tf.float32), 0.0, 10.0) / 10.0
        sign = tf.where(tf.random.stateless_uniform([], s[3]) < 0.5, -1.0, 1.0)
        image = _apply_one_of(ops, image, index, apply, level, sign)
    return image


def _apply_one_of(ops, image, index, apply, level, sign):
    """`ops[index](image)` when `apply`, else the image; only the chosen op runs."""
    branches = [functools.partial(lambda op: tf.clip_by_value(op(image, level, sign), 0.0, 255.0), op) for op in ops]
    out = tf.cond(apply, lambda: tf.switch_case(index, branches), lambda: image)
    out.set_shape(image.shape)
    return out
