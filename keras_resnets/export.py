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
  failed export (including a missed verification target) leaves no directory behind.
"""

import argparse
import contextlib
import hashlib
import json
import os
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
    """Yields a temporary sibling of `out_dir` that replaces it only when the block completes."""
    out_dir = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"Export directory exists: {out_dir}. Pass overwrite=True or choose another.")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes it 0700; the result is an ordinary directory
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
        overwrite: bool, replace an existing `out_dir`; otherwise an existing one is an error.

    Returns:
        The output directory.
    """
    out_dir = os.path.abspath(os.fspath(out_dir))
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


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def load_images(source, input_shape, limit=None):
    """Images as float32 `(N, H, W, C)` raw pixels from a `.npy` file, an IDX file or an image folder.

    Args:
        source: str, a `.npy` array `(N, H, W[, C])`, an IDX file (`*-ubyte[.gz]`, e.g. Fashion-MNIST) or a
            folder of image files (resized to the model's input size).
        input_shape: tuple, the model's `(H, W, C)`.
        limit: int or None, keep the first `limit` images.
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        from PIL import Image

        files = sorted(n for n in os.listdir(source) if n.lower().endswith(_IMAGE_SUFFIXES))[:limit]
        if not files:
            raise ValueError(f"No image files ({', '.join(_IMAGE_SUFFIXES)}) in folder {source!r}.")
        height, width, channels = input_shape
        mode = {1: "L", 3: "RGB"}.get(channels)
        if mode is None:
            raise ValueError(f"Image folders need a 1- or 3-channel model. Received input_shape={input_shape}")
        images = [np.asarray(Image.open(os.path.join(source, n)).convert(mode).resize((width, height)))
                  for n in files]
        array = np.stack(images)
    elif not os.path.isfile(source):
        raise FileNotFoundError(f"Image data not found: {source!r}")
    elif source.endswith(".npy"):
        array = np.load(source, allow_pickle=False)
    elif "ubyte" in os.path.basename(source):
        array = _read_idx(source)
    else:
        raise ValueError(f"Image data must be a .npy file, an IDX file or a folder. Received: {source!r}")
    if array.ndim == len(input_shape):  # (N, H, W) for one-channel models
        array = array[..., None]
    if tuple(array.shape[1:]) != tuple(input_shape):
        raise ValueError(f"Images in {source!r} have shape {array.shape[1:]}; the model takes {tuple(input_shape)}.")
    return array[:limit].astype("float32")


def load_labels(source, limit=None):
    source = os.fspath(source)
    if not os.path.isfile(source):
        raise FileNotFoundError(f"Labels not found: {source!r}")
    labels = np.load(source, allow_pickle=False) if source.endswith(".npy") else _read_idx(source)
    return np.asarray(labels).reshape(-1)[:limit].astype("int64")


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
        out_dir: str or path, created atomically; an existing one is an error unless `overwrite`.
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
        ExportError: a missed verification target (unless `warn_only`); nothing is written then.

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


def _shape(text):
    return tuple(int(v) for v in text.split(","))


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m keras_resnets.export",
        description="Export a registered model or a .keras file to SavedModel, LiteRT and ONNX, verified.")
    parser.add_argument("model", help="a registered model name (keras_resnets.list_models()) or a .keras file")
    parser.add_argument("out_dir", help="the output directory (written atomically)")
    parser.add_argument("--weights", help="weights for a registered name (.weights.h5, .keras, 'imagenet')")
    parser.add_argument("--input-shape", type=_shape, help="H,W,C for a registered name, e.g. 32,32,3")
    parser.add_argument("--classes", type=int, help="number of classes for a registered name")
    parser.add_argument("--formats", default=",".join(FORMATS),
                        help=f"comma-separated, from {','.join(FORMATS)} (default: all)")
    parser.add_argument("--preprocessing", default=None,
                        help="'none', or a mode (tf, caffe, torch) to add in front of a .keras model that "
                             "lacks it (default: keep the model's own; registered names include theirs)")
    parser.add_argument("--class-names", help="a text file with one name a line, or a comma-separated list")
    parser.add_argument("--calibration-data", help="full-int8 calibration images: .npy, IDX file or folder")
    parser.add_argument("--num-calibration", type=int, default=100)
    parser.add_argument("--verify-data", help="verification images: .npy, IDX file or folder (default random)")
    parser.add_argument("--verify-labels", help="labels for --verify-data: .npy or IDX file")
    parser.add_argument("--num-verify", type=int, default=100)
    parser.add_argument("--int8-io", choices=INT8_IO_TYPES, default="float32",
                        help="input/output type of the full-int8 model")
    parser.add_argument("--threads", type=_shape, default=(1, 2), help="benchmark thread counts (default 1,2)")
    parser.add_argument("--benchmark-repeats", type=int, default=50)
    parser.add_argument("--no-benchmark", action="store_true")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output directory")
    parser.add_argument("--warn-only", action="store_true", help="report missed verification targets, still write")
    return parser


def _class_names(text):
    if text is None:
        return None
    if os.path.isfile(text):
        with open(text) as f:
            return [line.strip() for line in f if line.strip()]
    return [name.strip() for name in text.split(",")]


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import keras_resnets

    metadata, class_names = {}, _class_names(args.class_names)
    if args.model.endswith(".keras") or os.path.sep in args.model or os.path.exists(args.model):
        model = load_keras_model(args.model)
        sidecar = os.path.join(os.path.dirname(os.path.abspath(args.model)), "metadata.json")
        if os.path.isfile(sidecar):  # a model written by export_keras / training: keep its facts
            with open(sidecar) as f:
                known = json.load(f)
            metadata = {k: known[k] for k in ("model", "model_config", "recipe", "dataset", "test_accuracy")
                        if k in known}
            class_names = class_names or known.get("class_names")
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

    input_shape = model.input_shape[1:]
    load = lambda path, n: None if path is None else load_images(path, input_shape, n)
    meta = export_model(
        model, args.out_dir, formats=[f.strip() for f in args.formats.split(",") if f.strip()],
        metadata=metadata, class_names=class_names, preprocessing=preprocessing,
        calibration_images=load(args.calibration_data, args.num_calibration), num_calibration=args.num_calibration,
        verify_images=load(args.verify_data, args.num_verify),
        verify_labels=None if args.verify_labels is None else load_labels(args.verify_labels, args.num_verify),
        num_verify=args.num_verify, int8_io=args.int8_io, benchmark=not args.no_benchmark, threads=args.threads,
        benchmark_repeats=args.benchmark_repeats, overwrite=args.overwrite, warn_only=args.warn_only)
    print(format_report(meta))
    if meta["verification_misses"]:
        print("WARNING: missed targets:\n  " + "\n  ".join(meta["verification_misses"]), file=sys.stderr)
    print(f"Wrote {os.path.abspath(args.out_dir)}")
    return 0


def _cli() -> int:
    try:
        return main()
    except (ExportError, FileExistsError, FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(_cli())
