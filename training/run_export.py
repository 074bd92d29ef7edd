"""The export at the end of a run: where it goes, what it is checked on, and writing it.

A run exports to `export_dir/<run name>/`, a folder it creates: it never replaces one it did not create
(`export_target`). The deployment files (`export_formats`) are refused before any work when the run could not
write and verify them (`check_export_formats`), and verified on a seeded sample of the validation split, never
the test split (`export_images`). `export_run` writes and verifies them (`keras_resnets.export`) and reports
what it wrote; a file that misses its verification target is not kept.
"""

import os
import time

import keras
import numpy as np

from keras_resnets.export import ExportError, export_keras, export_model
from training import data as data_lib
from training.config import ConfigError, check_run_name

# The images the deployment files are verified on and (full-integer LiteRT) calibrated with: a seeded sample of
# the validation split, disjoint where it holds enough. 1,000 make the int8 targets meaningful (99% top-1
# agreement: at most 10 disagreements; an accuracy drop of 0.5 points: 5 images).
EXPORT_VERIFY_IMAGES = 1000
EXPORT_CALIBRATION_IMAGES = 500
# What writing and verifying each format needs beyond TensorFlow (the [export] extra).
EXPORT_PACKAGES = {"ai_edge_litert": ("float32", "float16", "dynamic_int8", "int8"),
                   "tf2onnx": ("onnx",), "onnx": ("onnx",), "onnxruntime": ("onnx",)}


def check_export_formats(formats):
    """Refuses, before any work, `export_formats` the run could not write and verify: the SavedModel needs the
    TensorFlow backend, LiteRT files ai_edge_litert, ONNX tf2onnx, onnx and onnxruntime.

    Args:
        formats: sequence of str, the config's `export_formats` (empty: nothing to check).

    Raises:
        ConfigError: another backend than TensorFlow, or a package the formats need is not installed.
    """
    import importlib.util

    if not formats:
        return
    if keras.backend.backend() != "tensorflow":
        raise ConfigError(
            f"export_formats={tuple(formats)!r} need the TensorFlow backend; this run uses "
            f"{keras.backend.backend()!r}. Set export_formats=() (model.keras and metadata.json only) and export "
            "that model.keras with python -m keras_resnets.export, or train with KERAS_BACKEND=tensorflow.")
    missing = sorted(package for package, needed_by in EXPORT_PACKAGES.items()
                     if set(needed_by) & set(formats) and importlib.util.find_spec(package) is None)
    if missing:
        raise ConfigError(
            f"export_formats={tuple(formats)!r} need {missing} to write and verify the files, and they are not "
            "installed: pip install -e '.[export]', or leave those formats out (export_formats=() exports "
            "model.keras and metadata.json only).")


def export_target(export_dir, name, *, explicit):
    """The folder `export_dir/name` the run will export to: inside `export_dir`, and new.

    A run never replaces a folder it did not create (the committed `saved_models/fashion_mnist_resnet20`,
    an earlier run's export, anything a user keeps there). When the folder exists, an explicitly given name
    is an error; a default name gets the first free suffix (`name-2`, `name-3`, ...).

    Args:
        export_dir: str or path, the config's `export_dir`.
        name: str, the run name (a plain name: `training.config.check_run_name`).
        explicit: bool, whether the user gave the name (`--name`, `run_name`).

    Returns:
        (str, str), the name chosen and the absolute folder.
    """
    root = os.path.realpath(os.path.abspath(os.fspath(export_dir)))
    if os.path.lexists(root) and not os.path.isdir(root):
        raise ConfigError(f"export_dir {export_dir!r} exists and is not a folder. Received: export_dir={export_dir!r}")
    check_run_name(name)
    candidates = [name] if explicit else [name] + [f"{name}-{k}" for k in range(2, 1000)]
    for candidate in candidates:
        target = os.path.join(root, candidate)
        if os.path.commonpath([root, os.path.realpath(target)]) != root:
            continue  # a link that leads out of export_dir: never write through it
        if not os.path.lexists(target):
            return candidate, target
    raise ConfigError(
        f"The export folder {os.path.join(root, name)} already exists, and a run never replaces a folder it did "
        "not create. Pass another --name (or set run_name), or move that folder away yourself."
        if explicit else f"No free export folder name for {name!r} under {root}."
    )


def _sample(source, indices):
    """The examples `indices` (sorted) of a split from `training.data.load_splits`, in the same form."""
    if not isinstance(source, data_lib.EncodedImages):
        images, labels = source
        return images[indices], labels[indices]
    import tensorflow as tf

    wanted = tf.constant(indices, tf.int64)
    dataset = source.dataset.enumerate().filter(lambda i, _: tf.reduce_any(tf.equal(i, wanted)))
    return data_lib.EncodedImages(dataset.map(lambda _, element: element), len(indices), source.from_files,
                                  source.verified, [source.paths[i] for i in indices] if source.paths else None)


def export_images(splits, info, image_size, seed=0):
    """Verification and calibration images for the deployment files, with labels: `{"split", "verify",
    "verify_labels", "calibration"}`, raw float32 pixels at the evaluation size.

    They come from the validation split (the training split, unaugmented, when there is none), never from the
    test split, which is evaluated once; a sample chosen by `seed` (the same for every run seed), so that
    class-sorted splits (image folders) give every class. Verification and calibration images are disjoint
    unless the split is too small for both."""
    split = "validation" if splits.get("validation") is not None else "train"
    count = info.num_examples[split]
    order = np.random.default_rng(seed).permutation(count)
    verify = order[:EXPORT_VERIFY_IMAGES]
    calibration = order[len(verify):len(verify) + EXPORT_CALIBRATION_IMAGES]
    if len(calibration) < min(EXPORT_CALIBRATION_IMAGES, count):
        calibration = order[-min(EXPORT_CALIBRATION_IMAGES, count):]  # a small split: shared with verification

    def arrays(indices):
        pipeline = data_lib.make_pipeline(_sample(splits[split], np.sort(indices)), info, batch_size=256,
                                          training=False, seed=seed, image_size=image_size, one_hot=False)
        images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in pipeline])
        return np.concatenate(images).astype("float32"), np.concatenate(labels).astype("int64")

    images, labels = arrays(verify)
    return {"split": split, "verify": images, "verify_labels": labels, "calibration": arrays(calibration)[0]}


def _write_verified(model, target, metadata, *, formats, class_names, images):
    """Writes `formats` to `target` with `export_model`, verified on `images`; returns the report's additions.

    A failed export (a missed verification target, any error but a folder that appeared meanwhile) keeps no
    unverified file: `target` gets model.keras and metadata.json with the error, and the report holds it."""
    try:
        meta = export_model(
            model, target, formats=formats, metadata=metadata, class_names=class_names,
            calibration_images=images["calibration"], num_calibration=len(images["calibration"]),
            verify_images=images["verify"], verify_labels=images["verify_labels"],
            num_verify=len(images["verify"]), benchmark=False, overwrite=False)
    except FileExistsError:
        raise
    except Exception as err:  # noqa: BLE001  (any failure: keep the trained model, report the error)
        error = str(err) if isinstance(err, ExportError) else f"{type(err).__name__}: {err}"
        export_keras(model, target, {**metadata, "export_error": error}, overwrite=False)
        return {"passed": False, "error": error}
    verification = {fmt: result for fmt, result in meta["verification"].items() if isinstance(result, dict)}
    return {"verification": verification, "passed": True,
            "verified_on": {"split": images["split"], "images": len(images["verify"])},
            "calibrated_on": {"split": images["split"], "images": len(images["calibration"])}}


def export_run(model, *, export_dir, name, metadata, explicit, log, formats=(), class_names=None, images=None):
    """Exports `model` to `export_dir/name`, or to the first free `name-K` when that folder appeared during the
    run (a run never replaces a folder it did not create).

    Without `formats`: model.keras and metadata.json (`export_keras`). With them: `export_model` writes those
    files too, loads each back and checks it against the Keras model on `images` (`export_images`). Every write
    is atomic.

    Args:
        model: keras.Model, the serving model (softmax output, float32).
        export_dir: str, the config's `export_dir`.
        name: str, the run name the folder is named for.
        metadata: dict, written to metadata.json.
        explicit: bool, whether the user gave the name (said in the log when another folder is used).
        log: callable, gets the lines the run prints.
        formats: sequence of str, the deployment formats to write and verify.
        class_names: list of str, the labels, for the files that carry them.
        images: dict from `export_images`, needed with `formats`.

    Returns:
        (str, dict), the folder written and what the summary reports of it (`{"formats", "files", "seconds"}`,
        and with `formats` the verification, `passed` and any `error`, which the run then fails on).
    """
    started = time.time()
    report = {"formats": list(formats)}
    while True:
        chosen, target = export_target(export_dir, name, explicit=False)
        try:
            if formats:
                report.update(_write_verified(model, target, metadata, formats=formats, class_names=class_names,
                                              images=images))
            else:
                export_keras(model, target, metadata, overwrite=False)
            break
        except FileExistsError:
            continue  # created by someone else since export_target looked: take the next free name
    if chosen != name:
        log(f"{os.path.join(export_dir, name)} appeared during the run{' (--name)' if explicit else ''}; "
            f"exported to {target} instead")
    report.update(files=sorted(os.listdir(target)), seconds=round(time.time() - started, 1))
    if report.get("verification"):
        log(f"export: {', '.join(report['verification'])} verified against the Keras model on "
            f"{len(images['verify'])} {images['split']} images: " + "; ".join(
                f"{fmt} max abs diff {r['max_abs_diff']:.2g}, top-1 agreement {r['top1_agreement']:.4f}"
                for fmt, r in report["verification"].items()))
    return target, report
