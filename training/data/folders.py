"""Image folders as a data source: one subfolder per class, listed in sorted order, every file checked once (fully
decoded, or by its magic bytes), unreadable files skipped and counted, and a seeded random validation split.
Also the decoder the pipeline uses for folder and encoded tfds images."""

from __future__ import annotations

import logging
import os

import numpy as np
import tensorflow as tf

from training.data.records import DataNotFoundError, DatasetInfo, EncodedImages, held_out

logger = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"BM")


def decode_image(contents, channels):
    """uint8 (H, W, `channels`) from encoded JPEG, PNG, GIF (first frame), BMP or WebP bytes."""
    image = tf.io.decode_image(contents, channels=channels, expand_animations=False, dtype=tf.uint8)
    image.set_shape([None, None, channels])
    return image


def load_folder(config, *, seed, validation_split):
    """The splits of an image folder (`config["path"]`, optional `config["test_path"]`) and their `DatasetInfo`.

    Args:
        config: dict, the data config (`path`, `test_path`, `validate_images`, `keep_empty_classes`).
        seed: int, chooses the held-out validation images.
        validation_split: int, float or None (checked by `load_splits`).

    Raises:
        DataNotFoundError: no such folder, no class subfolders, or no readable image.
        ValueError: a class folder without readable images (unless kept), or test classes the training lacks.
    """
    mode = config.get("validate_images") or "full"
    if mode not in ("full", "header"):
        raise ValueError(f"data_config['validate_images'] must be 'full' or 'header'. Received: {mode!r}")
    root = os.path.expanduser(str(config.get("path") or ""))
    class_names, paths, labels = _list_class_folder(root)
    test = None
    if config.get("test_path"):
        test = _list_class_folder(os.path.expanduser(str(config["test_path"])), class_names)[1:]
    skipped_files = []
    paths, labels = _keep_readable(paths, labels, mode, skipped_files)
    if test:
        test = _keep_readable(*test, mode, skipped_files)
    if skipped_files:
        logger.warning("Skipped %d unreadable file(s) in the image folders, e.g. %s", len(skipped_files),
                       skipped_files[:5])
    if not paths:
        raise DataNotFoundError(f"Image folder {root} holds no readable images (skipped {len(skipped_files)} "
                                "files); supported formats are JPEG, PNG, GIF, BMP and WebP.")
    _check_empty_classes(root, class_names, labels, keep=config.get("keep_empty_classes"))

    def source(file_paths, file_labels):
        dataset = tf.data.Dataset.from_tensor_slices((tf.constant(file_paths, tf.string), file_labels))
        return EncodedImages(dataset, len(file_paths), from_files=True, verified=mode == "full",
                             paths=list(file_paths))

    splits = {"train": None, "validation": None, "test": source(*test) if test and test[0] else None}
    if validation_split:
        held = _held_out_mask(len(paths), validation_split, seed)
        splits["validation"] = source([p for p, h in zip(paths, held) if h], labels[held])
        paths, labels = [p for p, h in zip(paths, held) if not h], labels[~held]
    splits["train"] = source(paths, labels)
    info = DatasetInfo(name="folder", source=f"folder:{root}", num_classes=len(class_names),
                       image_shape=(None, None, 3), class_names=list(class_names), num_examples={},
                       skipped=len(skipped_files), skipped_files=skipped_files)
    return splits, info


def _held_out_mask(n, validation_split, seed):
    """Which of `n` sorted files `validation_split` holds out, chosen by `seed`."""
    # A seeded permutation, so that the held-out images are spread over the classes (the listing is sorted by
    # class); both parts stay sorted, as every split's file order is.
    order = np.random.default_rng(seed).permutation(n)
    held = np.zeros(n, bool)
    held[order[n - held_out(validation_split, n):]] = True
    return held


def _check_empty_classes(root, class_names, labels, *, keep):
    """Refuses class folders without a readable image, or (`keep`) warns about them."""
    empty = [name for i, name in enumerate(class_names) if not np.any(labels == i)]
    if empty and not keep:
        raise ValueError(
            f"{len(empty)} of the {len(class_names)} class folders of {root} hold no readable images: {empty}. "
            "Each would become an output class that no image teaches. Add images, remove the folder(s), or set "
            "data.keep_empty_classes=True to keep them as classes."
        )
    if empty:
        logger.warning("Kept %d empty class folder(s) of %s as classes (data.keep_empty_classes): %s", len(empty),
                       root, empty)


def _keep_readable(paths, labels, mode, skipped_files):
    """The readable files of `paths` and their labels; the others are appended to `skipped_files`."""
    mask = _readable_mask(paths, mode) if paths else np.zeros(0, bool)
    skipped_files.extend(p for p, ok in zip(paths, mask) if not ok)
    return [p for p, ok in zip(paths, mask) if ok], labels[mask]


def _looks_like_image(path):
    """Whether the file starts with a JPEG, PNG, GIF, BMP or WebP signature."""
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
        files = _files_under(os.path.join(root, name))
        paths += files
        labels += [label] * len(files)
    return class_names, paths, np.asarray(labels, np.int64)


def _files_under(directory):
    """Every non-hidden file below `directory` (following links), in sorted walk order; [] if it is absent."""
    if not os.path.isdir(directory):
        return []
    paths = []
    for current, dirs, files in os.walk(directory, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        # Hidden files (.DS_Store, ._foo.jpg from macOS) are metadata, not unreadable images.
        paths += [os.path.join(current, file) for file in sorted(files) if not file.startswith(".")]
    return paths


def _readable_mask(paths, mode):
    """Which files decode (`"full"`: decoded once, in parallel) or start like an image file (`"header"`)."""
    if mode == "header":
        return np.array([_looks_like_image(p) for p in paths], bool)

    def check(index, path):
        image = decode_image(tf.io.read_file(path), 3)
        # Zero-sized images decode "successfully" but cannot be resized; treat them as unreadable too.
        with tf.control_dependencies([tf.debugging.assert_positive(tf.size(image))]):
            return tf.identity(index)

    dataset = tf.data.Dataset.from_tensor_slices((np.arange(len(paths)), paths))
    dataset = dataset.map(check, num_parallel_calls=AUTOTUNE).ignore_errors()
    mask = np.zeros(len(paths), bool)
    mask[list(dataset.as_numpy_iterator())] = True
    return mask
