"""Preprocessing matches keras.applications' and can live inside the model."""

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets.layers import ImagePreprocessing


@pytest.mark.parametrize("mode", ["caffe", "tf", "torch"])
def test_layer_matches_keras_applications(mode, rng):
    x = rng.uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = keras.applications.imagenet_utils.preprocess_input(x.copy(), mode=mode)
    np.testing.assert_allclose(ImagePreprocessing(mode)(x), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(keras_resnets.preprocess_input(x.copy(), mode=mode), expected, rtol=1e-6)


def test_layer_takes_uint8_pixels(rng):
    x = rng.integers(0, 256, (1, 4, 4, 3)).astype("uint8")
    y = ImagePreprocessing("tf")(x)
    assert y.dtype == "float32"
    np.testing.assert_allclose(y, x.astype("float32") / 127.5 - 1, atol=1e-6)


@pytest.mark.parametrize(
    "name,mode",
    [
        ("resnet50", "caffe"),
        ("resnet50_v2", "tf"),
        ("densenet121", "torch"),
        ("resnet18", "torch"),
        ("resnet20", "tf"),
        ("attention56", "torch"),
    ],
)
def test_each_variant_documents_its_mode(name, mode):
    assert keras_resnets.preprocessing_mode(name) == mode
    assert keras_resnets.get_model_config(name)["preprocessing"] == mode
    factory = getattr(keras_resnets, keras_resnets.get_model_spec(name).factory)
    assert repr(mode) in factory.__doc__


@pytest.mark.parametrize("name", ["resnet50", "resnet50_v2", "densenet121"])
def test_included_preprocessing_equals_preprocessing_outside(name, rng):
    kwargs = dict(input_shape=(32, 32, 3))
    plain = keras_resnets.create_model(name, **kwargs)
    inside = keras_resnets.create_model(name, include_preprocessing=True, **kwargs)
    inside.set_weights(plain.get_weights())
    assert inside.layers[1].name == "preprocessing"
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = plain(keras_resnets.preprocess_input(x.copy(), name))
    np.testing.assert_allclose(inside(x), expected, atol=1e-5)


def test_preprocessing_mode_can_be_chosen(rng):
    model = keras_resnets.create_model("resnet20", include_preprocessing="torch", input_shape=(16, 16, 3))
    assert model.get_layer("preprocessing").mode == "torch"


def test_grayscale_and_four_channel_inputs_work_without_weights(rng):
    for channels in (1, 4):
        model = keras_resnets.ResNet50(weights=None, input_shape=(32, 32, channels), stage_depths=(1, 1, 1, 1))
        assert model(rng.random((1, 32, 32, channels)).astype("float32")).shape == (1, 1000)
    model = keras_resnets.ResNet20(input_shape=(28, 28, 1), include_preprocessing=True)
    assert model(rng.uniform(0, 255, (1, 28, 28, 1)).astype("float32")).shape == (1, 10)
