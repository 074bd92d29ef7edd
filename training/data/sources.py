"""Where a run's data comes from: `load_splits` checks a data config, looks for the dataset locally first (IDX
files, Keras's mnist.npz, CIFAR python batches, prepared tfds copies, an image folder, or synthetic data), and
returns its train / validation / test splits; a miss raises `DataNotFoundError` naming every place looked at and
what to put there. Every default dataset location (Debian's Fashion-MNIST, `~/.keras/datasets`,
`~/tensorflow_datasets`) and every download hint lives in this module."""

from __future__ import annotations

import dataclasses
import os
import pickle

import numpy as np

from keras_resnets.idx import read_idx
from training.data import tfds_source
from training.data.folders import load_folder
from training.data.records import (DEFAULT_CROP_FRACTION, DataNotFoundError, DatasetInfo, EncodedImages,
                                   check_crop_fraction, check_keys, held_out)

DATASET_NAMES = ("fashion_mnist", "mnist", "cifar10", "cifar100", "imagenette", "imagenet2012", "folder",
                 "synthetic")
DATA_CONFIG_KEYS = ("name", "data_dir", "download", "validation_split", "validation_seed", "synthetic", "path",
                    "test_path", "validate_images", "crop_fraction", "image_size", "eval_image_size",
                    "keep_empty_classes", "classes", "train_per_class")
SYNTHETIC_KEYS = ("num_examples", "image_shape", "num_classes", "seed")

DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
DEBIAN_FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
# The subfolder each local format is kept in (under data_dir or ~/.keras/datasets).
_SUBFOLDERS = {"fashion_mnist": "fashion-mnist", "mnist": "mnist", "cifar10": "cifar-10-batches-py",
               "cifar100": "cifar-100-python"}


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


@dataclasses.dataclass(frozen=True)
class _Request:
    """A checked data config: what `load_splits` goes looking for."""

    name: str
    base: str
    data_dir: str | None
    download: bool
    validation_split: int | float | None
    validation_seed: int
    crop_fraction: float
    classes: tuple | None = None
    train_per_class: int | None = None


def load_splits(data_config: dict) -> tuple[dict, DatasetInfo]:
    """Finds a dataset (local data first) and returns its splits.

    Args:
        data_config: dict, the data config (keys in `training.data`'s docstring).

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
    request = _check_data_config(data_config)
    if request.base == "folder":
        splits, info = load_folder(data_config, seed=request.validation_seed,
                                   validation_split=request.validation_split)
    else:
        if request.base == "synthetic":
            arrays, info = _load_synthetic(data_config.get("synthetic") or {})
        else:
            arrays, info = _load_known(request)
        splits = arrays if isinstance(arrays.get("train"), EncodedImages) else _hold_out(arrays, request)
    if request.classes is not None or request.train_per_class is not None:
        splits = _subset(splits, info, request)
    info.crop_fraction = request.crop_fraction
    info.num_examples = {split: _num_examples(splits.get(split)) for split in ("train", "validation", "test")}
    splits.setdefault("validation", None)
    return splits, info


def _check_data_config(data_config):
    """The data config checked and read into a `_Request`; raises `ValueError` / `TypeError` naming the key."""
    check_keys(data_config, DATA_CONFIG_KEYS, "data_config")
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
    crop_fraction = check_crop_fraction(data_config.get("crop_fraction") or DEFAULT_CROP_FRACTION)
    download = data_config.get("download", False)
    if not isinstance(download, bool):
        raise TypeError(f"data_config['download'] must be True or False. Received: {download!r}")
    data_dir = data_config.get("data_dir")
    for key in ("path", "test_path", "validate_images"):
        if data_config.get(key) is not None and base != "folder":
            raise ValueError(f"data_config[{key!r}] is only used with name='folder'. Received name={name!r}.")
    if data_config.get("synthetic") is not None and base != "synthetic":
        raise ValueError(f"data_config['synthetic'] is only used with name='synthetic'. Received name={name!r}.")
    classes = data_config.get("classes")
    if classes is not None:
        if (isinstance(classes, (str, bytes)) or not hasattr(classes, "__iter__")
                or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in classes)
                or len(set(classes)) != len(classes) or len(classes) < 2):
            raise ValueError("data_config['classes'] must be a list of at least 2 distinct class indices >= 0 "
                             f"(the dataset's labels to keep, in their new order). Received: {classes!r}")
        classes = tuple(classes)
    per_class = data_config.get("train_per_class")
    if per_class is not None and (isinstance(per_class, bool) or not isinstance(per_class, int) or per_class < 1):
        raise ValueError(f"data_config['train_per_class'] must be an integer >= 1 or None. Received: {per_class!r}")
    if (classes is not None or per_class is not None) and base in ("folder", "imagenette", "imagenet2012"):
        raise ValueError("data_config['classes'] and ['train_per_class'] apply to in-memory datasets "
                         f"(fashion_mnist, mnist, cifar10, cifar100, synthetic). Received name={name!r}.")
    return _Request(name=name, base=base, data_dir=None if data_dir is None else os.path.expanduser(str(data_dir)),
                    download=download, validation_split=validation_split, validation_seed=seed,
                    crop_fraction=crop_fraction, classes=classes, train_per_class=per_class)


def _check_validation_split(value):
    """A count >= 1, a fraction in (0, 1), or None (for None / 0); raises `ValueError` otherwise."""
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


def _num_examples(src):
    """The size of a split from `load_splits` (0 for an absent one)."""
    if src is None:
        return 0
    if isinstance(src, EncodedImages):
        return src.num_examples
    return len(src[1])


def _hold_out(arrays, request):
    """In-memory `{"train", "test"}` arrays as the three splits, the validation one held out of train."""
    splits = {"train": arrays["train"], "validation": None, "test": arrays["test"]}
    if request.validation_split:
        splits["train"], splits["validation"] = _stratified_split(*arrays["train"], request.validation_split,
                                                                  request.validation_seed)
    return splits


def _subset(splits, info, request):
    """The splits restricted to `request.classes` (relabelled 0..k-1 in that order; every split) and the training
    split to `request.train_per_class` images per class (chosen by `validation_seed`, original order kept);
    `info`'s classes are updated to match. The validation split is held out before either, so it is the same
    images as the full dataset's, restricted to the kept classes."""
    classes = request.classes
    if classes is not None:
        if max(classes) >= info.num_classes:
            raise ValueError(f"data_config['classes'] must lie in [0, {info.num_classes}) for {request.name!r}. "
                             f"Received: {list(classes)!r}")
        lookup = np.full(info.num_classes, -1, np.int64)
        lookup[list(classes)] = np.arange(len(classes))
        for split, arrays in splits.items():
            if arrays is not None:
                images, labels = arrays
                keep = lookup[labels] >= 0
                splits[split] = (images[keep], lookup[labels[keep]])
        info.class_names = [info.class_names[c] for c in classes]
        info.num_classes = len(classes)
    if request.train_per_class is not None:
        images, labels = splits["train"]
        rng = np.random.default_rng(request.validation_seed)
        mask = np.zeros(len(labels), bool)
        for cls in range(info.num_classes):
            members = np.flatnonzero(labels == cls)
            if len(members) < request.train_per_class:
                raise ValueError(f"data_config['train_per_class']={request.train_per_class} but class {cls} "
                                 f"({info.class_names[cls]!r}) has {len(members)} training images.")
            mask[rng.permutation(members)[:request.train_per_class]] = True
        splits["train"] = (images[mask], labels[mask])
    return splits


def _stratified_split(images, labels, validation_split, seed):
    """Holds out `validation_split` (a count or a fraction) of the examples, the same share of every class
    (largest remainders get the rounding), chosen by `seed`; both parts keep the original order."""
    rng = np.random.default_rng(seed)
    held = held_out(validation_split, len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * held / len(labels)
    quota = np.floor(exact).astype(int)
    remainder = held - int(quota.sum())
    if remainder > 0:
        quota[np.argsort(-(exact - quota), kind="stable")[:remainder]] += 1
    mask = np.zeros(len(labels), bool)
    for cls, k in zip(classes, quota):
        members = np.flatnonzero(labels == cls)
        mask[rng.permutation(members)[:k]] = True
    return (images[~mask], labels[~mask]), (images[mask], labels[mask])


# ---------------------------------------------------------------------------------------------------------
# Known datasets: local formats first, then tensorflow-datasets.


def _keras_datasets_dir():
    """Keras's dataset cache, `$KERAS_HOME/datasets` (default `~/.keras/datasets`)."""
    return os.path.join(os.path.expanduser(os.environ.get("KERAS_HOME", "~/.keras")), "datasets")


def _tfds_dirs(data_dir):
    """The tfds data directories to look in: `data_dir`, then `$TFDS_DATA_DIR` or `~/tensorflow_datasets`."""
    dirs = [data_dir] if data_dir else []
    dirs.append(os.path.expanduser(os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"))
    return list(dict.fromkeys(dirs))


def _unique(paths):
    """`paths` normalised, duplicates dropped, order kept."""
    return list(dict.fromkeys(os.path.normpath(p) for p in paths))


def _load_known(request):
    """Tries every local format of a known dataset in order, then tfds, then (if allowed) a download."""
    looked = []  # (place, what was wrong) for the error message.
    local = {"fashion_mnist": _load_idx, "mnist": _load_idx, "cifar10": _load_cifar, "cifar100": _load_cifar}
    if request.base in local:
        found = local[request.base](request.base, request.data_dir, looked)
        if found is not None:
            return found
    tfds_dirs = _tfds_dirs(request.data_dir)
    found = tfds_source.find_prepared_tfds(request.name, request.base, tfds_dirs, looked)
    if found is None and request.download:
        found = tfds_source.download_tfds(request.name, request.base, tfds_dirs[0], looked)
    if found is None:
        raise DataNotFoundError(_not_found_message(request, tfds_dirs, looked))
    splits, (source, shape, class_names) = tfds_source.from_tfds(*found, request.validation_split)
    return splits, _info(request.base, source, shape, class_names)


def _load_idx(base, data_dir, looked):
    """Fashion-MNIST / MNIST from IDX files (or Keras's mnist.npz), or None with the misses in `looked`."""
    sub = _SUBFOLDERS[base]
    candidates = [data_dir, os.path.join(data_dir, sub), os.path.join(data_dir, base)] if data_dir else []
    if base == "fashion_mnist":
        candidates.append(DEBIAN_FASHION_MNIST_DIR)
    candidates.append(os.path.join(_keras_datasets_dir(), sub))
    for directory in _unique(candidates):
        found = _find_idx_files(directory)
        if isinstance(found, str):
            looked.append((directory, f"IDX files: {found}"))
            continue
        arrays = {split: _read_idx_split(*found[split], num_classes=_KNOWN[base].num_classes) for split in found}
        return arrays, _info(base, f"idx:{directory}", arrays["train"][0].shape[1:])
    if base != "mnist":
        return None
    for npz in _unique(([os.path.join(data_dir, "mnist.npz")] if data_dir else [])
                       + [os.path.join(_keras_datasets_dir(), "mnist.npz")]):
        if not os.path.isfile(npz):
            looked.append((npz, "Keras mnist.npz: no such file"))
            continue
        arrays = _read_mnist_npz(npz)
        return arrays, _info(base, f"npz:{npz}", arrays["train"][0].shape[1:])
    return None


def _load_cifar(base, data_dir, looked):
    """CIFAR-10 / CIFAR-100 from the python-version batches, or None with the misses in `looked`."""
    sub = _SUBFOLDERS[base]
    keras_dir = _keras_datasets_dir()
    candidates = [data_dir, os.path.join(data_dir, sub)] if data_dir else []
    candidates += [os.path.join(keras_dir, sub), os.path.join(keras_dir, f"{sub}-target", sub)]
    for directory in _unique(candidates):
        missing = _missing_cifar_files(directory, base)
        if missing:
            looked.append((directory, f"CIFAR python batches: {missing}"))
            continue
        arrays, class_names = _read_cifar_dir(directory, base)
        return arrays, _info(base, f"cifar-python:{directory}", (32, 32, 3), class_names)
    return None


def _info(base, source, image_shape, class_names=None):
    """The `DatasetInfo` of a known dataset (class names from the files, else the built-in ones)."""
    known = _KNOWN[base]
    names = class_names or known.class_names or [str(i) for i in range(known.num_classes)]
    return DatasetInfo(name=base, source=source, num_classes=known.num_classes, image_shape=tuple(image_shape),
                       class_names=list(names), num_examples={})


def _not_found_message(request, tfds_dirs, looked):
    """`DataNotFoundError`'s message: every place looked at, and what to put where."""
    name, base = request.name, request.base
    lines = [f"Dataset {name!r} was not found locally. Looked in:"]
    lines += [f"  - {place}: {why}" for place, why in looked]
    lines.append("Put the data in one of these places (or set data_config['data_dir'] to where it is):")
    lines += _local_hints(base, request.data_dir or "<data_dir>")
    lines.append(f"  - a tensorflow-datasets prepared copy: {tfds_dirs[0]}/{base}/<config>/<version>/ "
                 f"(e.g. `tfds build {name} --data_dir={tfds_dirs[0]}` on a machine with network access).")
    if base == "imagenet2012":
        lines.append(f"  - imagenet2012 needs a manual download: put {' and '.join(tfds_source.IMAGENET_MANUAL_FILES)} "
                     f"(from https://image-net.org/download-images) in the tfds manual_dir "
                     f"{tfds_dirs[0]}/downloads/manual/ and set download=True to let tfds prepare them (no network "
                     "needed), or extract them as an image folder and use name='folder'.")
    elif not request.download:
        lines.append("  - or set data_config['download'] = True to let tensorflow-datasets download it "
                     "(needs network).")
    return "\n".join(lines)


def _local_hints(base, where):
    """The not-found message's lines on the local formats of `base` (none for tfds-only sets)."""
    lines = []
    if base == "fashion_mnist":
        lines.append(f"  - `apt-get install {DEBIAN_FASHION_MNIST_PACKAGE}` (Debian) puts the IDX files in "
                     f"{DEBIAN_FASHION_MNIST_DIR}/.")
    if base in ("fashion_mnist", "mnist"):
        files = ", ".join(f for pair in IDX_FILES.values() for f in pair)
        lines.append(f"  - IDX files {files} (raw or with .gz) in {where}/ or {where}/{_SUBFOLDERS[base]}/.")
    if base == "mnist":
        lines.append(f"  - Keras's mnist.npz in {where}/ or {_keras_datasets_dir()}/.")
    if base == "cifar10":
        lines.append("  - the CIFAR-10 python version (cifar-10-python.tar.gz, extracted): "
                     f"{where}/cifar-10-batches-py/{{data_batch_1..5, test_batch, batches.meta}}.")
    if base == "cifar100":
        lines.append(f"  - the CIFAR-100 python version (cifar-100-python.tar.gz, extracted): {where}/cifar-100-python/"
                     "{train, test, meta}.")
    return lines


# ---------------------------------------------------------------------------------------------------------
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
    """One split's (uint8 images (N, H, W, C), int64 labels) from IDX files, checked against each other."""
    images, labels = read_idx(images_path), read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim not in (3, 4):
        raise ValueError(
            f"{images_path}: expected uint8 images of shape (N, H, W) or (N, H, W, C), received {images.dtype} "
            f"{images.shape}."
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"{labels_path}: expected integer labels of shape (N,), received {labels.dtype} "
                         f"{labels.shape}.")
    if len(images) != len(labels):
        raise ValueError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels.")
    _check_labels(labels, num_classes, labels_path)
    if images.ndim == 3:
        images = images[..., None]
    return images, labels.astype(np.int64)


def _check_labels(labels, num_classes, where):
    """Refuses labels outside [0, num_classes), naming the file `where`."""
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(
            f"{where}: labels must lie in [0, {num_classes}), received values in [{labels.min()}, {labels.max()}]."
        )


def _read_mnist_npz(path):
    """Keras's mnist.npz as `{"train": (images, labels), "test": (...)}`, checked."""
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


# ---------------------------------------------------------------------------------------------------------
# CIFAR python batches.


def _cifar_files(base):
    """CIFAR-10's or CIFAR-100's train files, test files, meta file, label key and class-name key."""
    if base == "cifar10":
        return [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "batches.meta", b"labels", b"label_names"
    return ["train"], ["test"], "meta", b"fine_labels", b"fine_label_names"


def _missing_cifar_files(directory, base):
    """None when `directory` holds every CIFAR batch file, else what is missing."""
    if not os.path.isdir(directory):
        return "no such directory"
    train, test, _, _, _ = _cifar_files(base)
    missing = [f for f in train + test if not os.path.isfile(os.path.join(directory, f))]
    if len(missing) == len(train + test):
        return "none there"
    return f"incomplete, missing {missing}" if missing else None


def _read_cifar_batch(path, label_key):
    """One CIFAR python batch as (uint8 images (N, 32, 32, 3), int64 labels)."""
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
    """A CIFAR python-version folder's train and test arrays, and its class names (or None)."""
    train_files, test_files, meta_file, label_key, names_key = _cifar_files(base)
    num_classes = _KNOWN[base].num_classes
    arrays = {}
    for split, files in (("train", train_files), ("test", test_files)):
        parts = [_read_cifar_batch(os.path.join(directory, f), label_key) for f in files]
        images, labels = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        _check_labels(labels, num_classes, os.path.join(directory, files[0]))
        arrays[split] = (images, labels)
    return arrays, _cifar_class_names(os.path.join(directory, meta_file), names_key, num_classes)


def _cifar_class_names(meta_path, names_key, num_classes):
    """The class names stored in a CIFAR meta file, or None when it is absent or does not list them all."""
    if not os.path.isfile(meta_path):
        return None
    with open(meta_path, "rb") as f:
        meta = pickle.load(f, encoding="bytes")  # The dataset's own metadata pickle (see _read_cifar_batch).
    names = meta.get(names_key) if isinstance(meta, dict) else None
    if names is None or len(names) != num_classes:
        return None
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


# ---------------------------------------------------------------------------------------------------------
# Synthetic data.


def _load_synthetic(options):
    """Random learnable data (one pattern per class plus noise) for tests and smoke runs."""
    check_keys(options, SYNTHETIC_KEYS, "data_config['synthetic']")
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
