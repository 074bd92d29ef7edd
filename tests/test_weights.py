"""`weights=`: keras.applications' ImageNet files (same format, made here), local files, offline failure."""

import dataclasses
import hashlib
import re
import time

import h5py
import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import _registry


def _write_legacy_h5(model, path):
    """Writes weights in the legacy Keras HDF5 layout that keras.applications publishes its files in."""
    from keras.src.legacy.saving import legacy_h5_format

    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _randomize(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            rng.uniform(0.5, 1.5, w.shape).astype("float32")
            if "variance" in w.path
            else rng.normal(0, 0.05, w.shape).astype("float32")
            for w in model.weights
        ]
    )


@pytest.mark.parametrize(
    "name,reference,include_top",
    [("resnet50", keras.applications.ResNet50, True), ("resnet50_v2", keras.applications.ResNet50V2, False)],
)
def test_imagenet_weights_load_the_keras_applications_file(name, reference, include_top, tmp_path, monkeypatch):
    """A file in keras.applications' format, in Keras' cache, with its hash registered: `weights='imagenet'`
    loads it (no download) and gives keras.applications' outputs for the same file."""
    source = reference(weights=None, include_top=include_top)
    _randomize(source)
    spec = keras_resnets.get_model_spec(name)
    info = spec.imagenet_weights
    fname = info.file_top if include_top else info.file_notop
    (tmp_path / "models").mkdir()
    path = tmp_path / "models" / fname
    _write_legacy_h5(source, path)
    info = dataclasses.replace(info, base_url="http://127.0.0.1:9/", hash_top=_sha256(path), hash_notop=_sha256(path))
    monkeypatch.setitem(_registry._REGISTRY, name, dataclasses.replace(spec, imagenet_weights=info))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))

    model = keras_resnets.create_model(name, weights="imagenet", include_top=include_top)
    x = np.random.default_rng(1).uniform(0, 255, (1, 224, 224, 3)).astype("float32")
    assert np.abs(np.asarray(model(x)) - np.asarray(source(x))).max() <= 1e-5


def test_imagenet_weights_fail_fast_offline(tmp_path, monkeypatch):
    spec = keras_resnets.get_model_spec("resnet50")
    info = dataclasses.replace(spec.imagenet_weights, base_url="http://127.0.0.1:9/")  # nothing listens there
    monkeypatch.setitem(_registry._REGISTRY, "resnet50", dataclasses.replace(spec, imagenet_weights=info))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="Could not get the ImageNet weights") as err:
        keras_resnets.ResNet50(weights="imagenet")
    assert time.monotonic() - start < 60
    assert str(tmp_path / "models" / info.file_top) in str(err.value)


def test_imagenet_is_only_for_published_variants():
    with pytest.raises(ValueError, match="No ImageNet weights are published for 'resnet18'"):
        keras_resnets.ResNet18(weights="imagenet")
    assert keras_resnets.list_pretrained() == sorted(
        [
            "resnet50",
            "resnet101",
            "resnet152",
            "resnet50_v2",
            "resnet101_v2",
            "resnet152_v2",
            "densenet121",
            "densenet169",
            "densenet201",
        ]
    )


@pytest.mark.parametrize("suffix", [".weights.h5", ".keras"])
def test_weights_from_a_local_file(suffix, tmp_path):
    kwargs = dict(stage_depths=(1, 1, 1), classes=3, input_shape=(16, 16, 3))
    source = keras_resnets.create_model("resnet20", **kwargs)
    _randomize(source)
    path = tmp_path / f"trained{suffix}"
    source.save_weights(path) if suffix == ".weights.h5" else source.save(path)
    model = keras_resnets.create_model("resnet20", weights=str(path), **kwargs)
    x = np.random.default_rng(2).uniform(0, 255, (2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(model(x), source(x), atol=1e-6)


def _unusable_weights(kind, folder):
    """A weights file that cannot be loaded into resnet20(stage_depths=(1, 1, 1), classes=3), by `kind`."""
    kwargs = dict(stage_depths=(1, 1, 1), classes=3, input_shape=(16, 16, 3))
    if kind == "random_bytes":
        path = folder / "broken.weights.h5"
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "text_named_keras":
        path = folder / "notes.keras"
        path.write_text("these are my notes, not a model\n")
    elif kind == "truncated_keras":
        keras_resnets.create_model("resnet20", **kwargs).save(folder / "whole.keras")
        path = folder / "truncated.keras"
        path.write_bytes((folder / "whole.keras").read_bytes()[:2000])
    else:  # another architecture: two blocks per stage
        path = folder / "deeper.weights.h5"
        keras_resnets.create_model("resnet20", **{**kwargs, "stage_depths": (2, 2, 2)}).save_weights(path)
    return path, kwargs


@pytest.mark.parametrize("kind", ["random_bytes", "text_named_keras", "truncated_keras", "other_architecture"])
def test_unusable_weights_file_is_a_value_error_naming_it(kind, tmp_path):
    """Keras raises OSError / BadZipFile / a multi-line ValueError without the path; we name the file, what
    was expected and why, in one line."""
    path, kwargs = _unusable_weights(kind, tmp_path)
    with pytest.raises(ValueError, match=re.escape(repr(str(path)))) as err:
        keras_resnets.create_model("resnet20", weights=str(path), **kwargs)
    message = str(err.value)
    assert "expected a .weights.h5 / .keras / .h5 file saved from a model with this architecture" in message
    assert "\n" not in message and err.value.__cause__ is not None
    assert type(err.value.__cause__).__name__ in message


def test_corrupt_weights_file_raises(tmp_path):
    path = tmp_path / "broken.weights.h5"
    path.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match=re.escape(str(path))):
        keras_resnets.create_model("resnet20", weights=str(path))
