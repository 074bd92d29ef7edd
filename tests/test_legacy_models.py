"""Models saved by an older keras_resnets still load in safe mode and compute what they computed then.

The files in tests/data/legacy_models/ were saved at the commit named in its make_legacy_models.py, before the
factories, configs and checks were restructured; between them they hold every registered custom layer.
"""

import os
import zipfile

import keras
import numpy as np
import pytest

import keras_resnets  # noqa: F401  (registers the custom layers for safe-mode loading)
from tests.data.legacy_models.make_legacy_models import MODELS

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy_models")
CUSTOM_LAYERS = {
    "BatchNormalization",
    "ZeroPadShortcut",
    "StochasticDepth",
    "ImagePreprocessing",
    "DenseLayer",
    "ConcatBatchNormReLU",
    "ResizeLike",
    "HorizontalFlip",
}


@pytest.fixture(scope="module")
def expected():
    with np.load(os.path.join(FOLDER, "expected.npz")) as data:
        return dict(data)


def _registered_names(path):
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode()
    return {name for name in CUSTOM_LAYERS if f'"keras_resnets>{name}"' in config}


def test_the_files_cover_every_custom_layer():
    covered = set().union(*(_registered_names(os.path.join(FOLDER, f"{label}.keras")) for label in MODELS))
    assert covered == CUSTOM_LAYERS


@pytest.mark.parametrize("label", sorted(MODELS))
def test_legacy_model_loads_in_safe_mode_with_the_same_outputs(label, expected):
    model = keras.saving.load_model(os.path.join(FOLDER, f"{label}.keras"), safe_mode=True)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)
    outputs = model(expected[f"{label}/x"], training=False)
    if not isinstance(outputs, dict):
        outputs = {"": outputs}
    keys = {key[len(f"{label}/y") :].lstrip("/") for key in expected if key.startswith(f"{label}/y")}
    assert set(outputs) == keys
    for key, value in outputs.items():
        reference = expected[f"{label}/y" + (f"/{key}" if key else "")]
        np.testing.assert_allclose(keras.ops.convert_to_numpy(value), reference, rtol=1e-5, atol=1e-5)
