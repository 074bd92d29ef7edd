"""Writing an export: `export_keras` (model.keras and metadata.json) and `export_model` (every format, verified).

`export_model` saves the `.keras` file, folds each BatchNorm that follows a convolution into it for the SavedModel
(`keras_resnets.fold_batch_norm`), converts the LiteRT files from that SavedModel and writes ONNX, loads every file
back and compares it with the Keras model on the same images (`verification`), times the LiteRT files, and
records all of it in metadata.json. Every exported model takes raw pixels: the variant's `ImagePreprocessing`
layer is in the graph, added around a model that lacks it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform

import keras
import numpy as np

from keras_resnets.export import formats as formats_lib
from keras_resnets.export.directory import atomic_dir, file_entries, sha256
from keras_resnets.export.formats import FORMATS, INPUT_NAME, INT8_IO_TYPES, OUTPUT_NAME, SIGNATURE, ExportError
from keras_resnets.export.verification import (
    TARGETS,
    benchmark_tflite,
    check_finite_weights,
    check_targets,
    compare,
    random_images,
)
from keras_resnets.folding import fold_batch_norm
from keras_resnets.layers import ImagePreprocessing
from keras_resnets.tool_io import METADATA_FILE

LITERT_FORMATS = ("float32", "float16", "dynamic_int8", "int8")


def versions() -> dict:
    """The versions of keras_resnets, Keras, its backend, Python and (when installed) TensorFlow."""
    import keras_resnets  # the package's own version; imported here, after the package has finished loading

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
    for module in ("ai_edge_litert", "onnx", "onnxruntime", "tf2onnx"):
        try:
            found[module] = __import__(module).__version__
        except (ImportError, AttributeError):
            pass
    return found


def _input_facts(model) -> dict:
    shape = list(model.input_shape[1:])
    channels = shape[-1]
    order = {1: "grayscale", 3: "RGB"}.get(channels, f"{channels} channels")
    return {"input_shape": shape, "channel_order": order}


def _write_metadata(folder, meta):
    with open(os.path.join(folder, METADATA_FILE), "w") as f:
        json.dump(meta, f, indent=2, default=str)


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
    with atomic_dir(out_dir, overwrite) as tmp:
        model_path = os.path.join(tmp, "model.keras")
        model.save(model_path)
        _write_metadata(tmp, {
            **metadata,
            "input_shape": list(model.input_shape[1:]),
            "channel_order": "RGB" if model.input_shape[-1] == 3 else f"{model.input_shape[-1]} channels",
            "files": {"model.keras": {"bytes": os.path.getsize(model_path), "sha256": sha256(model_path)}},
            "versions": versions(),
        })
    return out_dir


# ----------------------------------------------------------------------------------------------------
# The model's input: raw pixels


def _has_preprocessing(model) -> bool:
    def walk(layer):
        return isinstance(layer, ImagePreprocessing) or any(walk(inner) for inner in getattr(layer, "layers", ()))

    return walk(model)


def _count_batch_norms(model) -> int:
    """BatchNormalization layers of `model` and of the models nested in it."""
    return sum(_count_batch_norms(layer) if isinstance(layer, keras.Model)
               else isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def with_preprocessing(model, mode):
    """`model` behind an `ImagePreprocessing(mode)` layer, so it takes raw [0, 255] pixels."""
    inputs = keras.Input(model.input_shape[1:], name=INPUT_NAME)
    outputs = model(ImagePreprocessing(mode, name="preprocessing")(inputs), training=False)
    return keras.Model(inputs, outputs, name=model.name)


def _raw_pixel_model(model, preprocessing):
    """(the model to export, the metadata's note on its preprocessing) for `export_model`'s `preprocessing`."""
    if preprocessing == "auto":
        if not _has_preprocessing(model):
            raise ValueError(
                "The model has no ImagePreprocessing layer, so it would not take raw pixels. Pass "
                "preprocessing=<mode> ('tf', 'caffe', 'torch') to add one, or preprocessing='none' to export "
                "it as is.")
        return model, "included in the model (raw [0, 255] pixels in)"
    if preprocessing == "none":
        return model, "none (the model's own input convention)"
    if _has_preprocessing(model):
        raise ValueError(f"The model already has an ImagePreprocessing layer; adding preprocessing={preprocessing!r} "
                         "would apply it twice. Leave preprocessing='auto'.")
    note = f"added ImagePreprocessing({preprocessing!r}) (raw [0, 255] pixels in)"
    return with_preprocessing(model, preprocessing), note


# ----------------------------------------------------------------------------------------------------
# The export


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Images:
    """The raw-pixel images an export verifies on and calibrates with, and where each set came from."""

    verify: np.ndarray
    labels: np.ndarray | None
    verify_source: str
    calibration: np.ndarray
    calibration_source: str


def _export_images(input_shape, *, verify_images, verify_labels, num_verify, calibration_images, num_calibration):
    """The given images (cut to their counts), or random ones (seeds 1 and 2; random images have no labels)."""
    if verify_images is None:
        verify, labels, source = random_images(input_shape, num_verify, seed=1), None, "random"
    else:
        verify, source = np.asarray(verify_images, "float32")[:num_verify], "given"
        labels = None if verify_labels is None else np.asarray(verify_labels)[:num_verify]
    if calibration_images is None:
        calibration, calibration_source = random_images(input_shape, num_calibration, seed=2), "random"
    else:
        calibration, calibration_source = np.asarray(calibration_images, "float32")[:num_calibration], "given"
    return _Images(verify=verify, labels=labels, verify_source=source, calibration=calibration,
                   calibration_source=calibration_source)


def _check_request(model, formats, int8_io):
    """The formats to write ("saved_model" first: LiteRT converts from it), after checking what was asked."""
    formats = list(dict.fromkeys(["saved_model", *formats]))
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise ValueError(f"Unknown export formats {unknown}; choose from {list(FORMATS)}. Received: {formats}")
    if int8_io not in INT8_IO_TYPES:
        raise ValueError(f"`int8_io` must be one of {INT8_IO_TYPES}. Received: int8_io={int8_io!r}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError("Only single-input, single-output classifiers can be exported.")
    check_finite_weights(model)
    return formats


def _write_litert(saved_model_dir, tmp, *, fmt, images, int8_io):
    path = os.path.join(tmp, FORMATS[fmt])
    with open(path, "wb") as f:
        f.write(formats_lib.convert_tflite(saved_model_dir, fmt, images.calibration, int8_io))
    return path


def _write_and_verify(model, tmp, *, formats, images, reference, int8_io, timing):
    """Writes every format into `tmp`, each compared with `reference`, the Keras model's outputs on `images.verify`.

    Returns:
        {"batch_norm", "verification", "litert_benchmark"} for metadata.json; `timing` is None (no benchmark)
        or (threads, repeats).
    """
    model.save(os.path.join(tmp, "model.keras"))
    saved_model_dir = os.path.join(tmp, FORMATS["saved_model"])
    # Inference only from here on: BatchNorms folded into their convolutions (faster serving on CPU;
    # the LiteRT converter would fold them anyway). Verified against the unfolded model below.
    serving, batch_norms = fold_batch_norm(model), _count_batch_norms(model)
    formats_lib.write_saved_model(serving, saved_model_dir)
    outputs = {"saved_model": formats_lib.run_saved_model(saved_model_dir, images.verify)}
    benchmarks = {}
    for fmt in (fmt for fmt in LITERT_FORMATS if fmt in formats):
        path = _write_litert(saved_model_dir, tmp, fmt=fmt, images=images, int8_io=int8_io)
        outputs[fmt] = formats_lib.LiteRTRunner(path)(images.verify)
        if timing is not None:
            benchmarks[fmt] = {"bytes": os.path.getsize(path), **benchmark_tflite(path, *timing)}
    if "onnx" in formats:
        path = os.path.join(tmp, FORMATS["onnx"])
        formats_lib.write_onnx(model, path)
        outputs["onnx"] = formats_lib.run_onnx(path, images.verify)
    return {"batch_norm": {"in_model": batch_norms, "folded_in_saved_model": batch_norms - _count_batch_norms(serving)},
            "verification": {fmt: compare(reference, out, images.labels) for fmt, out in outputs.items()},
            "litert_benchmark": benchmarks}


def _verification_misses(verification, warn_only):
    """Marks each result with its targets and whether it passed; raises on a miss unless `warn_only`."""
    misses = []
    for fmt, result in verification.items():
        result["targets"] = TARGETS.get(fmt, {})
        result["passed"] = not check_targets(fmt, result)
        misses += check_targets(fmt, result)
    if misses and not warn_only:
        raise ExportError("Export verification failed, nothing was written (pass warn_only=True / "
                          "--warn-only to keep the files anyway; untrained models give near-tied "
                          "predictions, which make int8 top-1 agreement noisy):\n  " + "\n  ".join(misses))
    return misses


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
    formats = _check_request(model, formats, int8_io)
    model, preprocessing_note = _raw_pixel_model(model, preprocessing)
    images = _export_images(tuple(model.input_shape[1:]), verify_images=verify_images, verify_labels=verify_labels,
                            num_verify=num_verify, calibration_images=calibration_images,
                            num_calibration=num_calibration)
    reference = model.predict(images.verify, batch_size=256, verbose=0)
    with atomic_dir(out_dir, overwrite) as tmp:
        written = _write_and_verify(model, tmp, formats=formats, images=images, reference=reference, int8_io=int8_io,
                                    timing=(threads, benchmark_repeats) if benchmark else None)
        misses = _verification_misses(written["verification"], warn_only)
        meta = {
            **(metadata or {}),
            **_input_facts(model),
            "input": {"name": INPUT_NAME, "dtype": "float32", "batch": "dynamic", "signature": SIGNATURE,
                      "int8_io": int8_io},
            "output": {"name": OUTPUT_NAME, "shape": list(model.output_shape[1:])},
            "preprocessing": preprocessing_note,
            "batch_norm": written["batch_norm"],
            "class_names": list(class_names) if class_names is not None else None,
            "formats": {fmt: FORMATS[fmt] for fmt in formats},
            "calibration": {"source": images.calibration_source, "num_images": len(images.calibration)},
            "verification": {"source": images.verify_source, **written["verification"]},
            "verification_misses": misses,
            "litert_benchmark": written["litert_benchmark"],
            "files": file_entries(tmp),
            "versions": _export_versions(),
        }
        _write_metadata(tmp, meta)
    return meta
