"""Writing a model and its metadata to `saved_models/<name>/` (the layout in saved_models/README.md).

This first part writes the `.keras` model and `metadata.json`; the SavedModel, LiteRT and ONNX exports
with their verification build on it (issue #4).
"""

import hashlib
import json
import os
import platform
import shutil
import tempfile

import keras


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
    if os.path.exists(out_dir) and not overwrite:
        raise FileExistsError(f"Export directory exists: {out_dir}. Pass overwrite=True or choose another.")
    parent = os.path.dirname(out_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out_dir)}.tmp-", dir=parent)
    try:
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
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
