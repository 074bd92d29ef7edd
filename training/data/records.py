"""What a data source hands to a pipeline (`DatasetInfo`, `EncodedImages`), the error for data that is nowhere,
and the small config checks that the sources and the pipeline both apply."""

from __future__ import annotations

import dataclasses

import tensorflow as tf

DEFAULT_CROP_FRACTION = 0.875


class DataNotFoundError(ValueError):
    """The dataset is in none of the places looked at (the message names them and what to put there)."""


@dataclasses.dataclass
class DatasetInfo:
    """What `load_splits` found.

    Attributes:
        name: str, the dataset name, e.g. `"fashion_mnist"` (`"folder"` and `"synthetic"` too).
        source: str, where it was loaded from: `"idx:<dir>"`, `"npz:<file>"`,
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


def check_keys(mapping, allowed, what):
    """Raises unless `mapping` is a dict whose keys all lie in `allowed`.

    Args:
        mapping: the value to check.
        allowed: sequence of str, the allowed keys (quoted in the error).
        what: str, how the error names the mapping, e.g. `"data_config"`.

    Raises:
        TypeError: `mapping` is not a dict.
        ValueError: it has keys outside `allowed`.
    """
    if not isinstance(mapping, dict):
        raise TypeError(f"{what} must be a dict. Received: {mapping!r} (of type {type(mapping).__name__}).")
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ValueError(f"Unknown {what} key(s) {unknown}. Allowed keys: {list(allowed)}.")


def check_crop_fraction(value):
    """The central crop fraction as a float in (0, 1]; raises `ValueError` for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise ValueError(f"crop_fraction must be a number in (0, 1] (e.g. 0.875 or 0.95). Received: {value!r}")
    return float(value)


def held_out(validation_split, n):
    """How many of `n` training examples `validation_split` (a count or a fraction) holds out.

    Raises:
        ValueError: the split would leave the validation or the training part empty.
    """
    held = validation_split if isinstance(validation_split, int) else round(validation_split * n)
    if not 0 < held < n:
        raise ValueError(
            f"validation_split={validation_split} leaves an empty split of the {n} training examples; hold out at "
            "least one example and keep at least one."
        )
    return held
