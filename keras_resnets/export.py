"""Exporting a model for serving: `.keras`, SavedModel, LiteRT (TFLite) and ONNX, verified and timed.

`export_keras` writes the `.keras` model and `metadata.json` (what training/train.py uses). `export_model`
writes every deployment format, loads each file back and compares it with the Keras model on the same
inputs, times the LiteRT files, and records all of it in `metadata.json` (issue #4). The command line:

```bash
python -m keras_resnets.export resnet20 /tmp/resnet20_export --input-shape 32,32,3
python -m keras_resnets.export saved_models/fashion_mnist_resnet20/model.keras /tmp/fm_export \
    --calibration-data train-images-idx3-ubyte.gz --verify-data t10k-images-idx3-ubyte.gz \
    --verify-labels t10k-labels-idx1-ubyte.gz --num-verify 1000
```

What the command line checks, before any model is built or loaded: every number against its range (argparse
`type=`: counts >= 1, `--input-shape` three positive integers), the output directory (new, with a parent that
exists or can be created and takes new files; or, with `--overwrite`, an unchanged earlier export), the input
files (present; a corrupt `.npy`, IDX file or image is an error naming it), `--verify-labels` as long as
`--verify-data`; once the model is loaded, `--class-names` (one distinct, non-empty name per output class) and
the labels (class indices of the model). Exit codes: 0 the export is written and verified; 1 the export failed
(a missed verification target, a model with NaN or infinite weights); 2 a usage error (a bad argument value, a
missing, corrupt or wrong-format input, images and labels of different lengths, an output directory that
cannot be written or exists without `--overwrite`); argparse's own errors exit 2 too. Errors are printed as
`error: ...` on stderr (a usage error in one line), never a traceback.

Choices, and why:
- Every exported model takes raw pixels ([0, 255], float32 or, for full-integer LiteRT with
  `int8_io="uint8"`, uint8): the variant's `ImagePreprocessing` layer is in the graph, added around a model
  that lacks it. BatchNorm runs in inference mode (every endpoint calls the model with `training=False`);
  in the SavedModel (and the LiteRT files converted from it) each BatchNorm that follows a convolution is
  folded into it (`keras_resnets.fold_batch_norm`); the `.keras` file keeps them, for training on.
- LiteRT files are converted from the SavedModel (`TFLiteConverter.from_saved_model`);
  `TFLiteConverter.from_keras_model` is broken on Keras 3. They run with `ai_edge_litert` (XNNPACK is its
  default CPU delegate), never `tf.lite.Interpreter`.
- ONNX goes through Keras' own exporter (`model.export(format="onnx")`, tf2onnx underneath).
- Writing is atomic: everything goes into a temporary sibling directory renamed into place at the end; a
  failed export (including a missed verification target) leaves no directory behind. Nothing that an export
  did not write is deleted or replaced: `overwrite` replaces only an unchanged earlier export (its
  metadata.json lists every file with its SHA-256), and a model with NaN or infinite weights is refused.
"""

import argparse
import contextlib
import hashlib
import json
import os
import pickle
import platform
import shutil
import sys
import tempfile
import time
import zipfile

import keras
import numpy as np

from keras_resnets.folding import fold_batch_norm
from keras_resnets.idx import read_idx

# Format name -> file name in the export directory.
FORMATS = {
    "saved_model": "saved_model",
    "float32": "model_float32.tflite",
    "float16": "model_float16.tflite",
    "dynamic_int8": "model_dynamic_int8.tflite",
    "int8": "model_int8.tflite",
    "onnx": "model.onnx",
}
INPUT_NAME = "images"
OUTPUT_NAME = "probabilities"
SIGNATURE = "serving_default"
INT8_IO_TYPES = ("float32", "int8", "uint8")
# Verification targets on softmax outputs. Dynamic-range int8 has none: its weights-only quantization
# of a random-weight model gives no meaningful agreement figure, so it is reported only.
TARGETS = {
    "saved_model": {"max_abs_diff": 1e-4},
    "float32": {"max_abs_diff": 1e-4},
    "onnx": {"max_abs_diff": 1e-4},
    "float16": {"max_abs_diff": 1e-2},
    "int8": {"top1_agreement": 0.99, "accuracy_drop": 0.005},
}


class ExportError(RuntimeError):
    """An export that could not be written or missed a verification target."""


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def versions() -> dict:
    import keras_resnets

    found = {"keras_resnets": keras_resnets.__version__, "keras": keras.__version__,
             "backend": keras.backend.backend(), "python": platform.python_version()}
    try:
        import tensorflow as tf

        found["tensorflow"] = tf.__version__
    except ImportError:
        pass
    return found


def _export_versions() -> dict:
    found = versions()
    for module, key in (("ai_edge_litert", "ai_edge_litert"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime"),
                        ("tf2onnx", "tf2onnx")):
        try:
            found[key] = __import__(module).__version__
        except (ImportError, AttributeError):
            pass
    return found


@contextlib.contextmanager
def _atomic_dir(out_dir, overwrite):
    """Yields a temporary sibling of `out_dir` that becomes `out_dir` only when the block completes.

    Nothing that this process did not write is ever deleted or replaced: an existing `out_dir` is an error,
    and with `overwrite` only an unchanged earlier export (`check_replaceable`) is replaced. The old export is
    moved into a temporary folder of this process and deleted from there once the new one is in place."""
    out_dir = os.path.abspath(os.fspath(out_dir))
    _check_existing(out_dir, overwrite)
    parent = os.path.dirname(out_dir)
    try:
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    except OSError as err:
        raise ExportError(f"Cannot write the export directory {out_dir}: {err.strerror or err} "
                          f"({parent!r} must be a writable folder).") from err
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700; the result is an ordinary directory
        _move_into_place(tmp, out_dir, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # our own temporary directory
        raise


def _move_into_place(tmp, out_dir, overwrite):
    if not os.path.lexists(out_dir):
        # rename() would replace an empty directory created since the check above, never a non-empty one.
        os.rename(tmp, out_dir)
        return
    if not overwrite:
        raise FileExistsError(f"Export directory appeared while exporting: {out_dir}. Nothing was replaced.")
    check_replaceable(out_dir)  # again: it may have changed while this export ran
    previous = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.old-", dir=os.path.dirname(out_dir))
    moved = os.path.join(previous, "export")
    os.rename(out_dir, moved)
    try:
        os.rename(tmp, out_dir)
    except BaseException:
        os.rename(moved, out_dir)
        os.rmdir(previous)
        raise
    shutil.rmtree(previous)  # the earlier export, checked to be ours and unchanged


def check_replaceable(out_dir):
    """Raises unless `out_dir` is an export written by this module (`export_keras` / `export_model`) and left
    unchanged since: a real directory whose metadata.json lists every file in it with its size and SHA-256.

    `overwrite=True` replaces only such a directory, so a mistyped path can never delete a user's folder."""
    out_dir = os.fspath(out_dir)

    def refuse(reason):
        raise FileExistsError(f"Refusing to replace {out_dir}: {reason}. Only an unchanged export written by "
                              "keras_resnets is replaced; choose another directory or remove this one yourself.")

    if os.path.islink(out_dir) or not os.path.isdir(out_dir):
        refuse("it is a symbolic link" if os.path.islink(out_dir) else "it is not a directory")
    try:
        with open(os.path.join(out_dir, "metadata.json")) as f:
            listed = json.load(f).get("files")
    except (OSError, ValueError, AttributeError):
        listed = None
    if not isinstance(listed, dict):
        refuse("it has no metadata.json listing its files (it is not an export)")
    found = {}
    for dirpath, dirnames, names in os.walk(out_dir):
        for name in dirnames + names:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                refuse(f"it holds a symbolic link ({os.path.relpath(path, out_dir)})")
        for name in names:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, out_dir).replace(os.sep, "/")] = path
    found.pop("metadata.json", None)
    extra, missing = sorted(set(found) - set(listed)), sorted(set(listed) - set(found))
    if extra or missing:
        refuse(f"its files differ from its metadata.json (not listed: {extra[:5]}, missing: {missing[:5]})")
    for rel, path in found.items():
        entry = listed[rel] if isinstance(listed[rel], dict) else {}
        if os.path.getsize(path) != entry.get("bytes") or sha256(path) != entry.get("sha256"):
            refuse(f"{rel} changed since it was exported")


def non_finite_weights(model) -> list:
    """The paths of `model`'s variables (weights, BatchNorm statistics) holding NaN or infinity."""
    return [variable.path for variable in model.weights
            if not np.all(np.isfinite(keras.ops.convert_to_numpy(variable)))]


def check_finite_weights(model):
    """Raises `ExportError` when any weight or BatchNorm statistic of `model` is NaN or infinite: such a
    model outputs NaN (a diverged training run), and no export of it is written."""
    bad = non_finite_weights(model)
    if bad:
        raise ExportError(f"The model {model.name!r} has non-finite values (NaN or infinity) in {len(bad)} of its "
                          f"{len(model.weights)} variables, e.g. {bad[:3]}; it would output NaN, so it is not "
                          "exported. Its training diverged: lower the learning rate and retrain.")


def _file_entries(root) -> dict:
    """{relative path: {"bytes", "sha256"}} for every file under `root` except metadata.json."""
    entries = {}
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            if rel != "metadata.json":
                entries[rel] = {"bytes": os.path.getsize(path), "sha256": sha256(path)}
    return dict(sorted(entries.items()))


def _input_facts(model) -> dict:
    shape = list(model.input_shape[1:])
    channels = shape[-1]
    order = {1: "grayscale", 3: "RGB"}.get(channels, f"{channels} channels")
    return {"input_shape": shape, "channel_order": order}


def export_keras(model, out_dir, metadata: dict, *, overwrite: bool = False) -> str:
    """Writes `out_dir/model.keras` and `out_dir/metadata.json` atomically.

    Everything is written into a temporary sibling directory that replaces `out_dir` only when complete,
    so a failed export leaves no half-written directory.

    Args:
        model: keras.Model.
        out_dir: str or path, e.g. "saved_models/fashion_mnist_resnet20".
        metadata: dict, merged into the written metadata (model name, preprocessing, class names, ...).
        overwrite: bool, replace an existing `out_dir` when it is an unchanged earlier export
            (`check_replaceable`); otherwise an existing one is an error.

    Returns:
        The output directory.

    Raises:
        FileExistsError: `out_dir` exists (and is not a replaceable export with `overwrite`).
        ExportError: the model has non-finite weights, or `out_dir` cannot be written.
    """
    out_dir = os.path.abspath(os.fspath(out_dir))
    check_finite_weights(model)
    with _atomic_dir(out_dir, overwrite) as tmp:
        model_path = os.path.join(tmp, "model.keras")
        model.save(model_path)
        meta = {
            **metadata,
            "input_shape": list(model.input_shape[1:]),
            "channel_order": "RGB" if model.input_shape[-1] == 3 else f"{model.input_shape[-1]} channels",
            "files": {"model.keras": {"bytes": os.path.getsize(model_path), "sha256": sha256(model_path)}},
            "versions": versions(),
        }
        with open(os.path.join(tmp, "metadata.json"), "w") as f:
            json.dump(meta, f, indent=2, default=str)
    return out_dir


# ----------------------------------------------------------------------------------------------------
# Loading models and images


def load_keras_model(path):
    """Loads a `.keras` file in safe mode, with clear errors for missing, corrupt or non-Keras files."""
    import keras_resnets  # noqa: F401  (registers the custom layers for safe-mode loading)

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file not found: {path!r}")
    if not path.endswith(".keras"):
        raise ValueError(f"Expected a Keras v3 `.keras` model file. Received: {path!r}")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path!r} is not a valid `.keras` file (not a zip archive; corrupt or wrong format).")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises several types for bad archives; name the file in one error.
        raise ValueError(f"Could not load the Keras model {path!r}: {type(e).__name__}: {e}") from e


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


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def _image_files(folder):
    try:
        names = os.listdir(folder)
    except OSError as err:
        raise ValueError(f"Cannot list the image folder {folder!r}: {err.strerror or err}") from err
    return sorted(n for n in names if n.lower().endswith(_IMAGE_SUFFIXES))


def _read_image(path, mode, size):
    from PIL import Image

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


def count_images(source) -> int:
    """How many images a `.npy` file, IDX file or image folder holds (without decoding a folder's images)."""
    source = os.fspath(source)
    if os.path.isdir(source):
        return len(_image_files(source))
    array = _image_array(source, mmap=True)
    if array.ndim not in (3, 4):
        raise ValueError(f"Images in {source!r} must be an array (N, H, W) or (N, H, W, C). Received shape "
                         f"{array.shape}.")
    return len(array)


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
    if os.path.isdir(source):
        files = _image_files(source)[:limit]
        if not files:
            raise ValueError(f"No image files ({', '.join(_IMAGE_SUFFIXES)}) in folder {source!r}.")
        height, width, channels = input_shape
        mode = {1: "L", 3: "RGB"}.get(channels)
        if mode is None:
            raise ValueError(f"Image folders need a 1- or 3-channel model. Received input_shape={input_shape}")
        array = np.stack([_read_image(os.path.join(source, n), mode, (width, height)) for n in files])
    else:
        array = _image_array(source)
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


def random_images(input_shape, count, seed=0):
    """Uniform random raw pixels in [0, 255]."""
    return np.random.default_rng(seed).uniform(0, 255, (count, *input_shape)).astype("float32")


def _has_preprocessing(model) -> bool:
    from keras_resnets.layers import ImagePreprocessing

    def walk(layer):
        return isinstance(layer, ImagePreprocessing) or any(walk(inner) for inner in getattr(layer, "layers", ()))

    return walk(model)


def _count_batch_norms(model) -> int:
    """BatchNormalization layers of `model` and of the models nested in it."""
    return sum(_count_batch_norms(layer) if isinstance(layer, keras.Model)
               else isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def with_preprocessing(model, mode):
    """`model` behind an `ImagePreprocessing(mode)` layer, so it takes raw [0, 255] pixels."""
    from keras_resnets.layers import ImagePreprocessing

    inputs = keras.Input(model.input_shape[1:], name=INPUT_NAME)
    outputs = model(ImagePreprocessing(mode, name="preprocessing")(inputs), training=False)
    return keras.Model(inputs, outputs, name=model.name)


# ----------------------------------------------------------------------------------------------------
# Writing the formats


def _spec(model):
    import tensorflow as tf

    return tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name=INPUT_NAME)


def write_saved_model(model, path):
    """A SavedModel with one `serving_default` signature: `images` (dynamic batch) -> `probabilities`."""
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(name=SIGNATURE, fn=lambda images: {OUTPUT_NAME: model(images, training=False)},
                         input_signature=[_spec(model)])
    archive.write_out(path, verbose=False)


def convert_tflite(saved_model_dir, quantization, representative=None, int8_io="float32"):
    """LiteRT flatbuffer bytes converted from a SavedModel.

    Args:
        saved_model_dir: str.
        quantization: str, "float32", "float16", "dynamic_int8" or "int8" (full integer).
        representative: float32 array of raw images for "int8" calibration.
        int8_io: str, input/output type of the full-integer model: "float32", "int8" or "uint8".
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir, signature_keys=[SIGNATURE])
    if quantization == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "dynamic_int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quantization == "int8":
        if representative is None or not len(representative):
            raise ValueError("Full-integer quantization needs a representative dataset. Received none.")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in representative)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if int8_io != "float32":
            converter.inference_input_type = converter.inference_output_type = getattr(tf, int8_io)
    elif quantization != "float32":
        raise ValueError(f"Unknown quantization. Received: quantization={quantization!r}")
    return converter.convert()


def write_onnx(model, path):
    try:
        import onnx  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError as e:
        raise ExportError(
            f"ONNX export needs `tf2onnx` and `onnx` on the TensorFlow backend ({e}). "
            "Install them with `pip install keras-resnets[export]` or leave out the onnx format."
        ) from e
    model.export(path, format="onnx", input_signature=[_spec(model)], verbose=False)


# ----------------------------------------------------------------------------------------------------
# Running the exported files


class LiteRTRunner:
    """Runs a `.tflite` file with ai_edge_litert on float raw-pixel batches, (de)quantizing int8 I/O."""

    def __init__(self, path, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=os.fspath(path), num_threads=num_threads)
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = None

    def _prepare(self, batch):
        if batch != self._batch:
            shape = [batch, *self.input["shape"][1:]]
            self.interpreter.resize_tensor_input(self.input["index"], shape)
            self.interpreter.allocate_tensors()
            self._batch = batch

    def set_input(self, images):
        self._prepare(len(images))
        x = images
        if self.input["dtype"] != np.float32:
            scale, zero = self.input["quantization"]
            info = np.iinfo(self.input["dtype"])
            x = np.clip(np.round(images / scale + zero), info.min, info.max)
        self.interpreter.set_tensor(self.input["index"], x.astype(self.input["dtype"]))

    def get_output(self):
        y = self.interpreter.get_tensor(self.output["index"])
        if self.output["dtype"] != np.float32:
            scale, zero = self.output["quantization"]
            y = (y.astype("float32") - zero) * scale
        return y

    def __call__(self, images, batch_size=256):
        outputs = []
        for start in range(0, len(images), batch_size):
            self.set_input(images[start:start + batch_size])
            self.interpreter.invoke()
            outputs.append(self.get_output().copy())
        return np.concatenate(outputs)


def run_saved_model(path, images, batch_size=256):
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures[SIGNATURE]
    return np.concatenate([serve(**{INPUT_NAME: tf.constant(images[i:i + batch_size])})[OUTPUT_NAME].numpy()
                           for i in range(0, len(images), batch_size)])


def run_onnx(path, images):
    import onnxruntime

    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: images})[0]


def compare(reference, outputs, labels=None) -> dict:
    """Max abs diff, top-1 agreement and, with labels, both accuracies and the drop."""
    result = {
        "max_abs_diff": float(np.max(np.abs(outputs - reference))),
        "top1_agreement": float(np.mean(outputs.argmax(-1) == reference.argmax(-1))),
        "num_images": len(reference),
    }
    if labels is not None:
        keras_acc = float(np.mean(reference.argmax(-1) == labels))
        export_acc = float(np.mean(outputs.argmax(-1) == labels))
        result.update(keras_accuracy=keras_acc, accuracy=export_acc, accuracy_drop=keras_acc - export_acc)
    return result


def check_targets(fmt, result) -> list:
    """Messages for every target `result` misses (empty when it passes)."""
    misses = []
    for key, limit in TARGETS.get(fmt, {}).items():
        if key not in result:
            continue
        value = result[key]
        ok = value >= limit if key == "top1_agreement" else value <= limit
        if not ok:
            relation = ">=" if key == "top1_agreement" else "<="
            misses.append(f"{fmt}: {key}={value:.6g} misses the target {relation} {limit}")
    return misses


def benchmark_tflite(path, threads=(1, 2), repeats=50, warmup=5) -> dict:
    """Median / min batch-1 latency in milliseconds per thread count (XNNPACK, ai_edge_litert's default)."""
    report = {}
    for num_threads in threads:
        runner = LiteRTRunner(path, num_threads=num_threads)
        runner.set_input(random_images(runner.input["shape"][1:], 1))
        for _ in range(warmup):
            runner.interpreter.invoke()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            runner.interpreter.invoke()
            times.append((time.perf_counter() - start) * 1e3)
        report[f"{num_threads}_threads"] = {"median_ms": float(np.median(times)), "min_ms": float(np.min(times)),
                                            "repeats": repeats}
    return report


# ----------------------------------------------------------------------------------------------------
# The export


def export_model(model, out_dir, *, formats=tuple(FORMATS), metadata=None, class_names=None,
                 preprocessing="auto", calibration_images=None, num_calibration=100, verify_images=None,
                 verify_labels=None, num_verify=100, int8_io="float32", benchmark=True, threads=(1, 2),
                 benchmark_repeats=50, overwrite=False, warn_only=False) -> dict:
    """Writes the model in every asked format, verifies each file against Keras and writes metadata.json.

    Args:
        model: keras.Model, a classifier with one image input.
        out_dir: str or path, created atomically; an existing one is an error unless `overwrite` and it is an
            unchanged earlier export (`check_replaceable`): no other folder is ever replaced.
        formats: sequence of str, from `FORMATS` ("saved_model" is always written: LiteRT converts from it).
        metadata: dict or None, merged into metadata.json (model name, config, ...).
        class_names: list of str or None.
        preprocessing: str, "auto" (keep the model's `ImagePreprocessing` layer; a model without one is an
            error), "none" (export as is: the model's own input convention), or a mode ("tf", "caffe",
            "torch") to put in front of a model that lacks it.
        calibration_images: float array of raw images for full-int8 calibration, or None for random ones.
        num_calibration: int, how many calibration images.
        verify_images: float array of raw images for verification, or None for random ones.
        verify_labels: int array or None; with labels the accuracies and the int8 accuracy drop are checked.
        num_verify: int, how many verification images.
        int8_io: str, "float32", "int8" or "uint8": the full-int8 model's input/output type.
        benchmark: bool, time the LiteRT files (batch 1, each of `threads`).
        threads: sequence of int.
        benchmark_repeats: int, timed runs per setting (the median is reported).
        overwrite: bool.
        warn_only: bool, print missed targets instead of failing.

    Returns:
        The metadata dict written to `out_dir/metadata.json`.

    Raises:
        ExportError: a missed verification target (unless `warn_only`), non-finite weights, or an unwritable
            `out_dir`; nothing is written then.
        FileExistsError: `out_dir` exists and is not an earlier export that `overwrite` may replace.

    Example:
    ```python
    model = keras_resnets.create_model("resnet20", input_shape=(32, 32, 3), include_preprocessing=True)
    meta = keras_resnets.export.export_model(model, "/tmp/resnet20", formats=("saved_model", "float32"))
    ```
    """
    formats = list(dict.fromkeys(["saved_model", *formats]))
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"Unknown export formats {unknown}; choose from {list(FORMATS)}. Received: {formats}")
    if int8_io not in INT8_IO_TYPES:
        raise ValueError(f"`int8_io` must be one of {INT8_IO_TYPES}. Received: int8_io={int8_io!r}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("Only single-input, single-output classifiers can be exported.")
    check_finite_weights(model)

    if preprocessing == "auto":
        if not _has_preprocessing(model):
            raise ValueError(
                "The model has no ImagePreprocessing layer, so it would not take raw pixels. Pass "
                "preprocessing=<mode> ('tf', 'caffe', 'torch') to add one, or preprocessing='none' to export "
                "it as is.")
        preprocessing_note = "included in the model (raw [0, 255] pixels in)"
    elif preprocessing == "none":
        preprocessing_note = "none (the model's own input convention)"
    elif _has_preprocessing(model):
        raise ValueError(f"The model already has an ImagePreprocessing layer; adding preprocessing={preprocessing!r} "
                         "would apply it twice. Leave preprocessing='auto'.")
    else:
        model = with_preprocessing(model, preprocessing)
        preprocessing_note = f"added ImagePreprocessing({preprocessing!r}) (raw [0, 255] pixels in)"

    input_shape = tuple(model.input_shape[1:])
    if verify_images is None:
        verify_images, source = random_images(input_shape, num_verify, seed=1), "random"
        verify_labels = None
    else:
        verify_images, source = np.asarray(verify_images, "float32")[:num_verify], "given"
        if verify_labels is not None:
            verify_labels = np.asarray(verify_labels)[:num_verify]
    if calibration_images is None:
        calibration_images, calibration_source = random_images(input_shape, num_calibration, seed=2), "random"
    else:
        calibration_images, calibration_source = np.asarray(calibration_images, "float32")[:num_calibration], "given"
    reference = model.predict(verify_images, batch_size=256, verbose=0)

    verification, benchmarks, misses = {}, {}, []
    with _atomic_dir(out_dir, overwrite) as tmp:
        model.save(os.path.join(tmp, "model.keras"))
        saved_model_dir = os.path.join(tmp, FORMATS["saved_model"])
        # Inference only from here on: BatchNorms folded into their convolutions (faster serving on CPU;
        # the LiteRT converter would fold them anyway). Verified against the unfolded model below.
        serving, batch_norms = fold_batch_norm(model), _count_batch_norms(model)
        write_saved_model(serving, saved_model_dir)
        verification["saved_model"] = compare(reference, run_saved_model(saved_model_dir, verify_images),
                                              verify_labels)
        for fmt in ("float32", "float16", "dynamic_int8", "int8"):
            if fmt not in formats:
                continue
            path = os.path.join(tmp, FORMATS[fmt])
            with open(path, "wb") as f:
                f.write(convert_tflite(saved_model_dir, fmt, calibration_images, int8_io))
            verification[fmt] = compare(reference, LiteRTRunner(path)(verify_images), verify_labels)
            if benchmark:
                benchmarks[fmt] = {"bytes": os.path.getsize(path),
                                   **benchmark_tflite(path, threads, benchmark_repeats)}
        if "onnx" in formats:
            path = os.path.join(tmp, FORMATS["onnx"])
            write_onnx(model, path)
            verification["onnx"] = compare(reference, run_onnx(path, verify_images), verify_labels)

        for fmt, result in verification.items():
            result["targets"] = TARGETS.get(fmt, {})
            result["passed"] = not check_targets(fmt, result)
            misses += check_targets(fmt, result)
        if misses and not warn_only:
            raise ExportError("Export verification failed, nothing was written (pass warn_only=True / "
                              "--warn-only to keep the files anyway; untrained models give near-tied "
                              "predictions, which make int8 top-1 agreement noisy):\n  " + "\n  ".join(misses))

        meta = {
            **(metadata or {}),
            **_input_facts(model),
            "input": {"name": INPUT_NAME, "dtype": "float32", "batch": "dynamic", "signature": SIGNATURE,
                      "int8_io": int8_io},
            "output": {"name": OUTPUT_NAME, "shape": list(model.output_shape[1:])},
            "preprocessing": preprocessing_note,
            "batch_norm": {"in_model": batch_norms,
                           "folded_in_saved_model": batch_norms - _count_batch_norms(serving)},
            "class_names": list(class_names) if class_names is not None else None,
            "formats": {fmt: FORMATS[fmt] for fmt in formats},
            "calibration": {"source": calibration_source, "num_images": len(calibration_images)},
            "verification": {"source": source, **verification},
            "verification_misses": misses,
            "litert_benchmark": benchmarks,
            "files": _file_entries(tmp),
            "versions": _export_versions(),
        }
        with open(os.path.join(tmp, "metadata.json"), "w") as f:
            json.dump(meta, f, indent=2, default=str)
    return meta


def format_report(meta) -> str:
    """A plain-text verification and latency table."""
    lines = [f"{'format':<14}{'max_abs_diff':>14}{'top1_agree':>12}{'acc':>8}{'drop':>8}  passed"]
    for fmt, r in meta["verification"].items():
        if not isinstance(r, dict):
            continue
        acc = f"{r['accuracy']:.4f}" if "accuracy" in r else "-"
        drop = f"{r['accuracy_drop']:+.4f}" if "accuracy_drop" in r else "-"
        lines.append(f"{fmt:<14}{r['max_abs_diff']:>14.3g}{r['top1_agreement']:>12.4f}{acc:>8}{drop:>8}  "
                     f"{r['passed']}")
    if meta["litert_benchmark"]:
        threads = [k for k in next(iter(meta["litert_benchmark"].values())) if k.endswith("_threads")]
        lines.append("")
        lines.append(f"{'LiteRT file':<14}{'KiB':>10}" + "".join(f"{t + ' ms':>16}" for t in threads))
        for fmt, b in meta["litert_benchmark"].items():
            lines.append(f"{fmt:<14}{b['bytes'] / 1024:>10.1f}" + "".join(f"{b[t]['median_ms']:>16.3f}"
                                                                          for t in threads))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# The command line

# Exit codes of both tools (`python -m keras_resnets.export` and `python -m keras_resnets.visualize`).
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# What the command was given and cannot use (exit 2, like argparse's own errors): bad values, missing, corrupt
# or wrong-format files, outputs that exist or cannot be written. Library functions raise these for bad input.
USAGE_ERRORS = (ValueError, TypeError, FileNotFoundError, FileExistsError, IsADirectoryError, NotADirectoryError,
                PermissionError)
EXIT_CODES = ("Exit codes: 0 the outputs are written and sound; 1 the work itself failed ({failed}); 2 a usage "
              "error: a bad argument value, a missing, corrupt or wrong-format input file, images and labels of "
              "different lengths, labels or class names that do not fit the model, an output path that cannot be "
              "written or already exists ({exists}). Errors are printed as `error: ...` on stderr (a usage error in "
              "one line), never a traceback; outputs are checked before any model is built or loaded, and a "
              "usage error writes nothing.")


def _int_at_least(minimum):
    """An argparse `type`: an int >= `minimum`; anything else is a usage error (exit 2) naming the bound."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"must be an integer >= {minimum}. Received: {text!r}")
        return value

    return parse


def _ints_at_least(minimum, count=None, example="1,2"):
    """An argparse `type`: comma-separated ints, each >= `minimum` (exactly `count` of them when given)."""
    check = _int_at_least(minimum)

    def parse(text):
        try:
            values = tuple(check(part) for part in text.split(","))
        except argparse.ArgumentTypeError:
            values = None
        if values is None or (count is not None and len(values) != count):
            size = f"{count} " if count else ""
            raise argparse.ArgumentTypeError(f"must be {size}comma-separated integers >= {minimum}, e.g. {example}. "
                                             f"Received: {text!r}")
        return values

    return parse


def _format_list(text):
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise argparse.ArgumentTypeError(f"must be comma-separated formats from {','.join(FORMATS)}. "
                                         f"Received: {text!r}")
    return formats


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


def check_output_dir(out_dir, overwrite):
    """The absolute `out_dir` of an export, checked before any work: new with a writable parent, or with
    `overwrite` an unchanged earlier export (`check_replaceable`)."""
    path = os.path.abspath(os.fspath(out_dir))
    _check_existing(path, overwrite)
    check_writable_parent(path, "The output directory")
    return path


def _check_existing(out_dir, overwrite):
    """An existing `out_dir` is an error, unless `overwrite` and it is an unchanged earlier export."""
    if os.path.lexists(out_dir):
        if not overwrite:
            raise FileExistsError(f"Export directory exists: {out_dir}. Pass overwrite=True (--overwrite) to "
                                  "replace an earlier export, or choose another directory.")
        check_replaceable(out_dir)


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


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m keras_resnets.export",
        description="Export a registered model or a .keras file to SavedModel, LiteRT and ONNX, verified.",
        epilog=EXIT_CODES.format(failed="a missed verification target, a model with NaN or infinite weights",
                                 exists="without --overwrite, or with it a directory that is not an unchanged "
                                        "earlier export"))
    positive = _int_at_least(1)
    parser.add_argument("model", help="a registered model name (keras_resnets.list_models()) or a .keras file")
    parser.add_argument("out_dir", help="the output directory (written atomically; missing parents are created)")
    parser.add_argument("--weights", help="weights for a registered name (.weights.h5, .keras, 'imagenet')")
    parser.add_argument("--input-shape", type=_ints_at_least(1, 3, "32,32,3"),
                        help="H,W,C for a registered name, e.g. 32,32,3")
    parser.add_argument("--classes", type=positive, help="number of classes for a registered name")
    parser.add_argument("--formats", type=_format_list, default=list(FORMATS),
                        help=f"comma-separated, from {','.join(FORMATS)} (default: all)")
    parser.add_argument("--preprocessing", default=None,
                        help="'none', or a mode (tf, caffe, torch) to add in front of a .keras model that "
                             "lacks it (default: keep the model's own; registered names include theirs)")
    parser.add_argument("--class-names", help="a text file with one name a line, or a comma-separated list; "
                                              "one name per output class")
    parser.add_argument("--calibration-data", help="full-int8 calibration images: .npy, IDX file or folder")
    parser.add_argument("--num-calibration", type=positive, default=100)
    parser.add_argument("--verify-data", help="verification images: .npy, IDX file or folder (default random)")
    parser.add_argument("--verify-labels", help="labels for --verify-data (as many): .npy or IDX file")
    parser.add_argument("--num-verify", type=positive, default=100)
    parser.add_argument("--int8-io", choices=INT8_IO_TYPES, default="float32",
                        help="input/output type of the full-int8 model")
    parser.add_argument("--threads", type=_ints_at_least(1), default=(1, 2),
                        help="benchmark thread counts (default 1,2)")
    parser.add_argument("--benchmark-repeats", type=positive, default=50)
    parser.add_argument("--no-benchmark", action="store_true")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up log (hidden by default; errors always show)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output directory that is an unchanged earlier export")
    parser.add_argument("--warn-only", action="store_true", help="report missed verification targets, still write")
    return parser


def _class_names(text):
    """`--class-names`: the lines of a text file, or a comma-separated list; no name may be empty or repeated."""
    if text is None:
        return None
    if os.path.isfile(text):
        try:
            with open(text) as f:
                names, source = f.read().rstrip().splitlines(), f"the file {text!r}"
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"Cannot read the --class-names file {text!r}: {err}") from err
    elif "," not in text and (os.sep in text or text.endswith(".txt")):
        raise FileNotFoundError(f"--class-names file not found: {text!r}")
    else:
        names, source = text.split(","), "the list"
    names = [name.strip() for name in names]
    empty = [i for i, name in enumerate(names) if not name]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if empty or repeated:
        problem = f"empty at positions {empty}" if empty else f"repeated: {repeated}"
        raise ValueError(f"--class-names must be distinct, non-empty names; in {source} some are {problem}. "
                         f"Received: {text!r}")
    return names


def _read_sidecar(path):
    try:
        with open(path) as f:
            known = json.load(f)
    except (OSError, ValueError) as err:
        raise ValueError(f"Cannot read {path} (the metadata beside the model): {err}. Fix or remove it.") from err
    if not isinstance(known, dict):
        raise ValueError(f"{path} (the metadata beside the model) must hold a JSON object. Received: "
                         f"{type(known).__name__}")
    return known


def _is_model_file(spec):
    return spec.endswith(".keras") or os.path.sep in spec or os.path.exists(spec)


def main(argv=None) -> int:
    """The command line; raises on errors (`_cli` turns them into one line and an exit code)."""
    args = build_parser().parse_args(argv)
    import keras_resnets

    out_dir = check_output_dir(args.out_dir, args.overwrite)  # before anything is built, loaded or written
    class_names, names_source = _class_names(args.class_names), "--class-names"
    from_file = _is_model_file(args.model)
    if from_file:
        given = [f"--{k.replace('_', '-')}" for k in ("weights", "input_shape", "classes") if getattr(args, k)]
        if given:
            raise ValueError(f"{', '.join(given)} apply to a registered model name; {args.model!r} is a model file "
                             "with its own weights and shapes.")
    if args.verify_labels is not None:
        if args.verify_data is None:
            raise ValueError("--verify-labels needs --verify-data (the images the labels belong to). Received: "
                             f"--verify-labels {args.verify_labels!r}")
        check_same_length(args.verify_data, args.verify_labels)
    for flag, path in (("--calibration-data", args.calibration_data), ("--verify-data", args.verify_data)):
        if path is not None and not os.path.exists(path):
            raise FileNotFoundError(f"{flag} not found: {path!r}")

    metadata = {}
    if from_file:
        model = load_keras_model(args.model)
        sidecar = os.path.join(os.path.dirname(os.path.abspath(args.model)), "metadata.json")
        if os.path.isfile(sidecar):  # a model written by export_keras / training: keep its facts
            known = _read_sidecar(sidecar)
            metadata = {k: known[k] for k in ("model", "model_config", "recipe", "dataset", "test_accuracy")
                        if k in known}
            if class_names is None and known.get("class_names") is not None:
                class_names, names_source = list(known["class_names"]), f"the class_names of {sidecar}"
        metadata["source"] = os.path.abspath(args.model)
        preprocessing = args.preprocessing or "auto"
    else:
        kwargs = {"weights": args.weights, "include_preprocessing": args.preprocessing in (None, "auto")}
        if args.input_shape:
            kwargs["input_shape"] = args.input_shape
        if args.classes:
            kwargs["classes"] = args.classes
        if args.preprocessing not in (None, "auto", "none"):
            kwargs["include_preprocessing"] = args.preprocessing
        model = keras_resnets.create_model(args.model, **kwargs)
        metadata = {"model": args.model, "model_config": keras_resnets.get_model_config(args.model),
                    "create_model_kwargs": kwargs}
        preprocessing = "none" if args.preprocessing == "none" else "auto"

    classes = model.output_shape[-1] if len(model.outputs) == 1 else None
    if class_names is not None and classes is not None and len(class_names) != classes:
        raise ValueError(f"{names_source} gives {len(class_names)} names but the model has {classes} output "
                         "classes; give one name per class, in class-index order.")
    input_shape = model.input_shape[1:]
    load = lambda path, n: None if path is None else load_images(path, input_shape, n)
    verify_labels = None
    if args.verify_labels is not None:
        verify_labels = load_labels(args.verify_labels, args.num_verify)
        if classes is not None:
            check_labels(verify_labels, classes, args.verify_labels)
    meta = export_model(
        model, out_dir, formats=args.formats, metadata=metadata, class_names=class_names,
        preprocessing=preprocessing, calibration_images=load(args.calibration_data, args.num_calibration),
        num_calibration=args.num_calibration, verify_images=load(args.verify_data, args.num_verify),
        verify_labels=verify_labels, num_verify=args.num_verify, int8_io=args.int8_io,
        benchmark=not args.no_benchmark, threads=args.threads, benchmark_repeats=args.benchmark_repeats,
        overwrite=args.overwrite, warn_only=args.warn_only)
    print(format_report(meta))
    if meta["verification_misses"]:
        print("WARNING: missed targets:\n  " + "\n  ".join(meta["verification_misses"]), file=sys.stderr)
    print(f"Wrote {out_dir}")
    return EXIT_OK


def run_cli(main_fn, argv=None, failures=()) -> int:
    """Runs a tool's `main(argv)`: usage errors (`USAGE_ERRORS`) exit 2 and `failures` exit 1, each with a
    one-line `error: ...` on stderr instead of a traceback."""
    try:
        return main_fn(argv)
    except failures as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    except USAGE_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _cli(argv=None) -> int:
    return run_cli(main, argv, failures=(ExportError,))


if __name__ == "__main__":
    sys.exit(_cli())
