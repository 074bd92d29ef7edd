"""Full-size models on real-size inputs: forward passes and `.keras` round-trips. Run with `-m slow`."""

import keras
import numpy as np
import pytest

import keras_resnets

pytestmark = pytest.mark.slow

FULL_SIZE = [
    "resnet50",
    "resnet50_v2",
    "resnext50_32x4d",
    "densenet121",
    "attention56",
    "resnet1202",
    "preact_resnet1001",
    "densenet_bc_100_12",
    "attention92_cifar",
]


@pytest.mark.parametrize("name", FULL_SIZE)
def test_full_size_forward_and_reload(name, tmp_path, rng):
    model = keras_resnets.create_model(name)
    size = keras_resnets.get_model_config(name)["default_size"]
    x = rng.uniform(0, 255, (2, size, size, 3)).astype("float32")
    # Batch statistics (training=True): an untrained 1000-layer network in inference mode, with BN's
    # initial moving statistics, lets activations grow without bound, which says nothing about the code.
    y = np.asarray(model(x, training=True))
    assert y.shape[0] == 2 and np.all(np.isfinite(y))
    np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    # Loading walks the graph recursively: ResNet-1202 needs more than Python's default recursion limit, which
    # importing keras_resnets no longer raises for the whole program.
    with keras_resnets.deep_recursion():
        reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(reloaded(x), model(x), atol=1e-5)


@pytest.mark.parametrize("name", ["resnet50", "densenet121", "attention56"])
def test_full_size_one_training_step(name, rng):
    model = keras_resnets.create_model(name, classes=4)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = rng.uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    assert np.isfinite(model.train_on_batch(x, np.array([0, 3])))
