"""Whitening initialisation of the first convolution (training/whitening.py, `model.stem_whitening`), on real
Fashion-MNIST pixels from the committed sample."""

import keras
import numpy as np
import pytest

import keras_resnets
from tests.real_data import load_sample
from tests.test_training import tiny_config
from training import whitening
from training.config import ConfigError, apply_overrides, check_finetune, load_recipe
from training.train import train_and_evaluate


def _resnet20(**kwargs):
    return keras_resnets.create_model("resnet20", input_shape=(28, 28, 1), classes=10, weights=None, **kwargs)


def test_the_filters_whiten_the_patches_they_see():
    images, _ = load_sample(400)
    model = _resnet20()
    conv = whitening.first_convolution(model)
    assert conv.name == model.get_layer(conv.name).name and conv.kernel_size == (3, 3)
    before = keras.ops.convert_to_numpy(conv.kernel).copy()
    facts = whitening.whiten_first_convolution(model, images, eps=1e-6)
    # 3x3 patches of one channel: 9 directions, 8 of them fit 16 filters with their negatives.
    assert facts == {**facts, "layer": conv.name, "filters_set": 16, "filters": 16}
    assert facts["eigenvalues"] == sorted(facts["eigenvalues"], reverse=True) and len(facts["eigenvalues"]) == 8
    kernel = keras.ops.convert_to_numpy(conv.kernel).reshape(9, 16)
    np.testing.assert_allclose(kernel[:, 1::2], -kernel[:, 0::2])
    assert not np.allclose(kernel, before.reshape(9, 16))
    # Applied to the patches the convolution sees, the 8 positive filters give decorrelated, unit-variance outputs.
    seen = np.asarray(keras.Model(model.inputs, conv.input).predict(images, verbose=0))
    vectors = whitening.patches(seen, (3, 3))
    outputs = (vectors - vectors.mean(0)) @ kernel[:, 0::2]
    np.testing.assert_allclose(np.cov(outputs, rowvar=False, bias=True), np.eye(8), atol=1e-3)


def test_patches_are_ordered_as_a_conv2d_kernel():
    # A patch dotted with a filter equals the convolution's output at that position.
    rng = np.random.default_rng(0)
    images = rng.normal(size=(2, 5, 6, 3)).astype("float32")
    kernel = rng.normal(size=(3, 2, 3, 4)).astype("float32")
    conv = keras.layers.Conv2D(4, (3, 2), padding="valid", use_bias=False)
    conv.build(images.shape)
    conv.kernel.assign(kernel)
    expected = np.asarray(conv(images)).reshape(-1, 4)
    np.testing.assert_allclose(whitening.patches(images, (3, 2)) @ kernel.reshape(-1, 4), expected, atol=1e-4)


def test_whitening_rejects_what_it_cannot_whiten():
    inputs = keras.Input((8, 8, 1))
    dense_only = keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Flatten()(inputs)))
    with pytest.raises(ValueError, match="needs a Conv2D"):
        whitening.whiten_first_convolution(dense_only, np.zeros((2, 8, 8, 1)))
    dilated = keras.Model(inputs, keras.layers.Conv2D(2, 3, dilation_rate=2)(inputs))
    with pytest.raises(ValueError, match="dilation_rate"):
        whitening.first_convolution(dilated)
    with pytest.raises(ValueError, match=r"Received shape \(8, 8, 1\)"):
        whitening.whiten_first_convolution(_resnet20(), np.zeros((8, 8, 1)))
    config = apply_overrides(load_recipe("fashion_mnist_resnet20"),
                             ["model.stem_whitening=True", "model.weights='timm/resnet18.a1_in1k'"])
    with pytest.raises(ConfigError, match="model.stem_whitening re-initialises"):
        check_finetune(config)


def test_a_run_with_stem_whitening_starts_from_the_whitened_filters(tmp_path, monkeypatch):
    import training.train as train_module

    seen = {}
    whiten = whitening.whiten_first_convolution

    def spy(model, images, **kwargs):
        seen["images"] = images.shape
        facts = whiten(model, images, **kwargs)
        seen["kernel"] = keras.ops.convert_to_numpy(whitening.first_convolution(model).kernel).copy()
        return facts

    monkeypatch.setattr(train_module.whitening, "whiten_first_convolution", spy)
    lines = []
    summary = train_and_evaluate(tiny_config(tmp_path, "model.stem_whitening=True", "steps_per_epoch=1"),
                                 tmp_path / "run", log=lines.append)
    assert seen["images"][0] == 96  # every synthetic training image (fewer than WHITENING_IMAGES)
    assert any(line.startswith("stem whitening: 4 of ") for line in lines)  # the tiny stem: 4 filters
    kernel = seen["kernel"].reshape(-1, seen["kernel"].shape[-1])
    np.testing.assert_allclose(kernel[:, 1::2], -kernel[:, 0::2])
    assert np.isfinite(summary["test_accuracy"])
