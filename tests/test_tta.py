"""keras_resnets.flip_tta: the mean prediction of each image and its mirror image, as a model of its own."""

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets import export
from keras_resnets.layers import HorizontalFlip
from tests.tiny_models import build


def _images(rng, model, n=4):
    return (rng.random((n,) + model.input_shape[1:]) * 255).astype("float32")


def test_flip_tta_averages_the_image_and_its_mirror_with_shared_weights(rng):
    model = keras_resnets.create_model("resnet20", stage_depths=(1, 1, 1), stage_widths=(4, 8, 16), stem_width=4,
                                       input_shape=(16, 12, 3), classes=5, include_preprocessing=True)
    tta = keras_resnets.flip_tta(model)
    assert tta.name == f"{model.name}_flip_tta" and tta.input_shape == model.input_shape
    assert tta.output_shape == model.output_shape
    assert [id(w) for w in tta.weights] == [id(w) for w in model.weights]  # shared, not copied
    x = _images(rng, model)
    expected = (model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(tta.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    # An image whose mirror is itself gets exactly the model's prediction.
    symmetric = np.concatenate([x[:, :, :6], x[:, :, :6][:, :, ::-1]], axis=2)
    np.testing.assert_allclose(tta.predict(symmetric, verbose=0), model.predict(symmetric, verbose=0), atol=1e-6)


def test_horizontal_flip_mirrors_the_width_axis_in_both_layouts():
    x = np.arange(2 * 3 * 4 * 5, dtype="float32").reshape(2, 3, 4, 5)
    last = keras.ops.convert_to_numpy(HorizontalFlip(data_format="channels_last")(x))
    first = keras.ops.convert_to_numpy(HorizontalFlip(data_format="channels_first")(x))
    np.testing.assert_array_equal(last, x[:, :, ::-1, :])
    np.testing.assert_array_equal(first, x[:, :, :, ::-1])
    layer = HorizontalFlip.from_config(HorizontalFlip(data_format="channels_first").get_config())
    assert layer.data_format == "channels_first"
    with pytest.raises(ValueError, match="rank 4"):
        HorizontalFlip()(np.zeros((2, 3, 4), "float32"))


def test_flip_tta_saves_loads_in_safe_mode_folds_and_exports(tmp_path, rng):
    model = build("cifar_resnet_option_b", include_preprocessing=True)
    tta = keras_resnets.flip_tta(model)
    x = _images(rng, model)
    expected = tta.predict(x, verbose=0)
    tta.save(tmp_path / "tta.keras")
    loaded = keras.models.load_model(tmp_path / "tta.keras", safe_mode=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)
    np.testing.assert_allclose(keras_resnets.fold_batch_norm(tta).predict(x, verbose=0), expected, atol=1e-5)
    meta = export.export_model(tta, tmp_path / "out", formats=("saved_model", "float32"), benchmark=False,
                               num_verify=8, num_calibration=8)
    assert meta["verification"]["float32"]["passed"] and meta["verification"]["float32"]["max_abs_diff"] <= 1e-4


def test_flip_tta_rejects_what_it_cannot_wrap():
    with pytest.raises(TypeError, match="Received: str"):
        keras_resnets.flip_tta("resnet20")

    class Subclassed(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="exactly one input and one output.*none \\(unbuilt\\)"):
        keras_resnets.flip_tta(Subclassed())
    inputs = keras.Input((8,))
    with pytest.raises(ValueError, match="rank 4.*\\(None, 8\\)"):
        keras_resnets.flip_tta(keras.Model(inputs, keras.layers.Dense(2)(inputs)))
    image = keras.Input((8, 8, 3))
    two_outputs = keras.Model(image, [keras.layers.Flatten()(image), keras.layers.GlobalAveragePooling2D()(image)])
    with pytest.raises(ValueError, match="1 input\\(s\\) and 2 output\\(s\\)"):
        keras_resnets.flip_tta(two_outputs)
    with pytest.raises(ValueError, match="data_format"):
        keras_resnets.flip_tta(keras.Model(image, keras.layers.Flatten()(image)), data_format="nhwc")


def test_flip_tta_under_mixed_precision_keeps_pixels_and_probabilities_float32(rng):
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = build("cifar_resnet_option_a", include_preprocessing=True)
        tta = keras_resnets.flip_tta(model)
    finally:
        keras.config.set_dtype_policy("float32")
    assert tta.get_layer("mirror").output.dtype == "float32"  # not cast to bfloat16 on the way in
    assert tta.output.dtype == "float32" and tta.get_layer("flip_average").compute_dtype == "float32"
    x = _images(rng, model)
    expected = (model.predict(x, verbose=0) + model.predict(x[:, :, ::-1], verbose=0)) / 2
    np.testing.assert_allclose(tta.predict(x, verbose=0), expected, atol=1e-6)
    config = tta.get_layer("mirror").get_config()
    assert HorizontalFlip.from_config(config).autocast is False
