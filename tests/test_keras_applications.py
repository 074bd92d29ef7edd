"""The drop-ins are keras.applications' architectures: same layer names and order, same weights order,
and copying keras.applications' weights into ours gives the same outputs (max abs diff <= 1e-5)."""

import keras
import numpy as np
import pytest

import keras_resnets

PAIRS = [
    ("ResNet50", keras.applications.ResNet50),
    ("ResNet101", keras.applications.ResNet101),
    ("ResNet152", keras.applications.ResNet152),
    ("ResNet50V2", keras.applications.ResNet50V2),
    ("ResNet101V2", keras.applications.ResNet101V2),
    ("ResNet152V2", keras.applications.ResNet152V2),
    ("DenseNet121", keras.applications.DenseNet121),
    ("DenseNet169", keras.applications.DenseNet169),
    ("DenseNet201", keras.applications.DenseNet201),
]


@pytest.mark.parametrize("factory,reference", PAIRS, ids=[p[0] for p in PAIRS])
def test_identical_to_keras_applications(factory, reference):
    ours = getattr(keras_resnets, factory)(weights=None, input_shape=(64, 64, 3))
    theirs = reference(weights=None, input_shape=(64, 64, 3))
    assert len(ours.layers) == len(theirs.layers)
    # keras.applications leaves a few weightless layers unnamed (`zero_padding2d_3`, `max_pooling2d_1`);
    # ours name them (`conv1_pad`, `conv2_block3_0_pool`). Everything named there must match exactly.
    auto = ("input_layer", "zero_padding2d", "max_pooling2d")
    for a, b in zip(ours.layers, theirs.layers):
        if isinstance(a, keras_resnets.layers.BatchNormalization):
            # Ours is Keras' layer with TensorFlow's fused kernel (same config and variables).
            assert type(b) is keras.layers.BatchNormalization, (a.name, b.name)
            config_a, config_b = a.get_config(), b.get_config()
            assert config_a.pop("axis") % 4 == config_b.pop("axis") % 4
            assert config_a == config_b
        else:
            assert type(a) is type(b), (a.name, b.name)
        if not b.name.startswith(auto):
            assert a.name == b.name
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    rng = np.random.default_rng(0)
    theirs.set_weights(
        [
            rng.normal(0, 0.05, w.shape).astype("float32")
            if "variance" not in w.path
            else rng.uniform(0.5, 1.5, w.shape).astype("float32")
            for w in theirs.weights
        ]
    )
    ours.set_weights(theirs.get_weights())
    x = rng.uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    assert np.abs(np.asarray(ours(x)) - np.asarray(theirs(x))).max() <= 1e-5
    assert ours.name == theirs.name
