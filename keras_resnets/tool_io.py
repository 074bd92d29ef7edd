"""The files the two tools read and write (`python -m keras_resnets.export`, `python -m keras_resnets.visualize`).

Inputs: images from a `.npy` array, an IDX file (`keras_resnets.idx`, the MNIST format) or a folder of image
files; class labels from a `.npy` or IDX file; a `.keras` model loaded in safe mode, with the `metadata.json`
that `keras_resnets.export.export_keras` and the training app write beside it. A missing input is a
`FileNotFoundError`, a corrupt or wrong-format one a `ValueError` naming the file. Outputs: the check that a path
can be written, made before any work starts, and atomic writes (a unique temporary file beside the target,
renamed onto it once complete). Both tools share this module so that they read the same inputs the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import tempfile
import zipfile
from typing import NamedTuple

import keras
from keras_resnets._common import deep_recursion
import numpy as np

from keras_resnets.idx import read_idx

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")
METADATA_FILE = "metadata.json"


# ----------------------------------------------------------------------------------------------------
# A model and its metadata


class ModelWithMetadata(NamedTuple):
    """A loaded `.keras` model and the `metadata.json` beside it ({} and None where there is none)."""

    model: keras.Model
    metadata: dict
    metadata_path: str | None


def load_keras_model(path):
    """Loads a `.keras` file in safe mode, with clear errors for missing, corrupt or non-Keras files.

    Args:
        path: str or path, the `.keras` file.

    Returns:
        The keras.Model (not compiled).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a `.keras` zip archive, or Keras cannot load it (the error names the file).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file not found: {path!r}")
    if not path.endswith(".keras"):
        raise ValueError(f"Expected a Keras v3 `.keras` model file. Received: {path!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a valid `.keras` file (not a zip archive; corrupt or wrong format).")
    try:
        with deep_recursion():  # loading walks the graph recursively (ResNet-1202)
            return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises several types for bad archives; name the file in one error.
        raise ValueError(f"Could not load the Keras model {path!r}: {type(e).__name__}: {e}") from e


def read_metadata(path) -> dict:
    """The JSON object in a model's `metadata.json`; an unreadable file or one that is not an object is a
    ValueError naming it."""
    try:
        with open(path) as f:
            known = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"Cannot read {path} (the metadata beside the model): {err}. Fix or remove it.") from err
    if not isinstance(known, dict):
        raise ValueError(f"{path} (the metadata beside the model) must hold a JSON object. Received: "
                         f"{type(known).__name__}")
    return known


def load_model_with_metadata(path) -> ModelWithMetadata:
    """A `.keras` file (`load_keras_model`) and the `metadata.json` in its folder, when there is one.

    Args:
        path: str or path, the `.keras` file, e.g. "saved_models/fashion_mnist_resnet20/model.keras".

    Returns:
        `ModelWithMetadata(model, metadata, metadata_path)`: the metadata is {} and its path None when the folder
        has no metadata.json (a model not written by `export_keras` or the training app).
    """
    model = load_keras_model(path)
    sidecar = os.path.join(os.path.dirname(os.path.abspath(path)), METADATA_FILE)
    if not os.path.isfile(sidecar):
        return ModelWithMetadata(model, {}, None)
    return ModelWithMetadata(model, read_metadata(sidecar), sidecar)


def is_model_file(spec) -> bool:
    """Whether a tool's MODEL argument names a file (else it is a registered model name)."""
    return spec.endswith(".keras") or os.path.sep in spec or os.path.exists(spec)


# ----------------------------------------------------------------------------------------------------
# Images and labels


def _read_idx(path):
    array = read_idx(path)
    if array.dtype != np.uint8:
        raise ValueError(f"{path!r} is not an unsigned-byte IDX file (it holds {array.dtype}).")
    return array


def _load_npy(path, mmap=False):
    """The numeric array in a `.npy` file; a corrupt, pickled or non-numeric file is a ValueError naming it."""
    try:
        array = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as err:
        raise ValueError(f"{path!r} is not a readable .npy array ({type(err).__name__}: {err}). Replace it with "
                         "an intact file written by numpy.save.") from err
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        found = array.dtype if isinstance(array, np.ndarray) else type(array).__name__
        raise ValueError(f"{path!r} must hold one numeric array. Received: {found}")
    return array


def _image_files(folder):
    try:
        names = os.listdir(folder)
    except OSError as err:
        raise ValueError(f"Cannot list the image folder {folder!r}: {err.strerror or err}") from err
    return sorted(n for n in names if n.lower().endswith(IMAGE_SUFFIXES))


def _read_image(path, mode, size):
    from PIL import Image  # only image folders need Pillow

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert(mode).resize(size))
    except (OSError, ValueError, Image.DecompressionBombError) as err:  # UnidentifiedImageError is an OSError
        raise ValueError(f"Cannot read the image {path!r} ({type(err).__name__}: {err}); replace or remove "
                         "it.") from err


def _image_array(source, mmap=False):
    """The array in a `.npy` or IDX image file (a folder is read by `load_images`)."""
    if not os.path.isfile(source):
        raise FileNotFoundError(f"Image data not found: {source!r}")
    if source.endswith(".npy"):
        return _load_npy(source, mmap)
    if "ubyte" in os.path.basename(source):
        return _read_idx(source)
    raise ValueError(f"Image data must be a .npy file, an IDX file (*-ubyte[.gz]) or a folder of images. "
                     f"Received: {source!r}")


def _image_batch_file(source):
    """The (memory-mapped where possible) array of a `.npy` or IDX image file, checked to be (N, H, W[, C])."""
    array = _image_array(source, mmap=True)
    if array.ndim not in (3, 4):
        raise ValueError(f"Images in {source!r} must be an array (N, H, W) or (N, H, W, C). Received shape "
                         f"{array.shape}.")
    return array


def count_images(source) -> int:
    """How many images a `.npy` file, IDX file or image folder holds (without decoding a folder's images)."""
    source = os.fspath(source)
    if os.path.isdir(source):
        return len(_image_files(source))
    return len(_image_batch_file(source))


def image_shape(source) -> tuple:
    """The `(H, W, C)` of the images in a `.npy` or IDX file, `C` = 1 for `(N, H, W)` arrays (a folder of images
    has no size of its own: it is resized to the model's)."""
    array = _image_batch_file(os.fspath(source))
    return tuple(array.shape[1:]) if array.ndim == 4 else (*array.shape[1:], 1)


def _read_image_folder(source, input_shape, limit):
    files = _image_files(source)[:limit]
    if not files:
        raise ValueError(f"No image files ({', '.join(IMAGE_SUFFIXES)}) in folder {source!r}.")
    height, width, channels = input_shape
    mode = {1: "L", 3: "RGB"}.get(channels)
    if mode is None:
        raise ValueError(f"Image folders need a 1- or 3-channel model. Received input_shape={input_shape}")
    return np.stack([_read_image(os.path.join(source, n), mode, (width, height)) for n in files])


def load_images(source, input_shape, limit=None):
    """Images as float32 `(N, H, W, C)` raw pixels from a `.npy` file, an IDX file or an image folder.

    Args:
        source: str, a `.npy` array `(N, H, W[, C])`, an IDX file (`*-ubyte[.gz]`, e.g. Fashion-MNIST) or a
            folder of image files (resized to the model's input size).
        input_shape: tuple, the model's `(H, W, C)`.
        limit: int or None, keep the first `limit` images.

    Raises:
        FileNotFoundError: `source` does not exist.
        ValueError: a corrupt or unreadable file (named), an unknown format, or images of another shape.
    """
    source = os.fspath(source)
    array = _read_image_folder(source, input_shape, limit) if os.path.isdir(source) else _image_array(source)
    if array.ndim == len(input_shape):  # (N, H, W) for one-channel models
        array = array[..., None]
    if tuple(array.shape[1:]) != tuple(input_shape):
        raise ValueError(f"Images in {source!r} have shape {array.shape[1:]}; the model takes {tuple(input_shape)}.")
    if len(array) == 0:
        raise ValueError(f"{source!r} holds no images.")
    return array[:limit].astype("float32")


def load_labels(source, limit=None):
    """Integer class indices `(N,)` from a `.npy` or IDX file; anything else is a ValueError naming the file."""
    source = os.fspath(source)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"Labels not found: {source!r}")
    labels = _load_npy(source) if source.endswith(".npy") else _read_idx(source)
    if labels.ndim == 0 or any(d != 1 for d in labels.shape[1:]):
        raise ValueError(f"Labels in {source!r} must be one class index per image, shape (N,). "
                         f"Received shape {labels.shape}.")
    labels = labels.reshape(-1)
    if not np.issubdtype(labels.dtype, np.integer) and not np.all(np.isfinite(labels) & (labels == np.round(labels))):
        raise ValueError(f"Labels in {source!r} must be integer class indices. Received {labels.dtype} values "
                         "that are not whole numbers.")
    return labels[:limit].astype("int64")


def check_labels(labels, classes, source):
    """Raises unless every label is a class index in `[0, classes)`."""
    outside = (labels < 0) | (labels >= classes)
    if outside.any():
        raise ValueError(f"Labels in {source!r} must be class indices in [0, {classes}) for the model's {classes} "
                         f"classes. Received {int(outside.sum())} outside, e.g. {labels[outside][:3].tolist()}.")


def check_same_length(images_source, labels_source):
    """Raises unless the image source and the label file hold as many entries, naming both counts."""
    images, labels = count_images(images_source), len(load_labels(labels_source))
    if images != labels:
        raise ValueError(f"Images and labels differ in length: {images_source!r} holds {images} images and "
                         f"{labels_source!r} {labels} labels; they must describe the same images.")


# ----------------------------------------------------------------------------------------------------
# Outputs


def check_writable_parent(path, what):
    """Raises `ValueError` unless `path`'s folder exists, or can be created, and takes new files.

    Missing parent folders are created later, when the output is written; here nothing is left behind (the
    check creates and removes one temporary folder in the nearest existing ancestor)."""
    path = os.path.abspath(os.fspath(path))
    ancestor = os.path.dirname(path)
    while not os.path.lexists(ancestor):
        ancestor = os.path.dirname(ancestor)
    if not os.path.isdir(ancestor):
        raise ValueError(f"{what} cannot be written: {ancestor} is not a folder. Received: {path!r}")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".keras_resnets-check-", dir=ancestor))
    except OSError as err:
        raise ValueError(f"{what} cannot be written: {ancestor} does not take new files ({err.strerror or err}). "
                         f"Received: {path!r}") from err


def check_output_file(path, overwrite, what):
    """Raises unless the file `path` can be written: not a folder or a symbolic link, absent unless
    `overwrite`, in a folder that exists or can be created (`check_writable_parent`)."""
    full = os.path.abspath(os.fspath(path))
    if os.path.islink(full):
        raise ValueError(f"{what} is a symbolic link; give the real path of the file to write. Received: {path!r}")
    if os.path.isdir(full):
        raise IsADirectoryError(f"{what} is an existing folder; give a file path. Received: {path!r}")
    if os.path.exists(full) and not overwrite:
        raise FileExistsError(f"{what} exists: {full}. Pass --overwrite to replace it, or choose another path.")
    check_writable_parent(full, what)


def write_atomically(path, write):
    """`write(file)` into a new temporary file beside `path`, renamed onto `path` once complete.

    The temporary name is unique (`tempfile.mkstemp`), so no other file is touched; missing parent folders are
    created; on any error the temporary file is removed and `path` is as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it 0600; the result is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
