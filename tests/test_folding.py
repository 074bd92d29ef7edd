"""keras_resnets.fold_batch_norm: the same inference function with each convolution's BatchNorm merged into it."""

import keras
import numpy as np
import pytest

import keras_resnets
from tests.tiny_models import TINY, build


def _batch_norms(model):
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def _randomize_statistics(model, rng):
    """Trained-looking BatchNorm parameters, so that folding has something to fold (fresh ones are 1, 0, 0, 1)."""
    for layer in _batch_norms(model):
        layer.set_weights([
            rng.uniform(0.8, 1.2, w.shape) if i in (0, 3) else rng.normal(0, 0.1, w.shape)
            for i, w in enumerate(layer.get_weights())
        ] if len(layer.get_weights()) == 4 else layer.get_weights())


# The families where every BatchNormalization follows a convolution. The others keep some: pre-activation units
# (ResNet v2, the CIFAR pre-activation ResNets, Residual Attention's) normalize sums, DenseNets concatenations;
# the memory-efficient DenseNet keeps its BatchNormalizations inside DenseLayer.
ALL_FOLDED = {"resnet_basic", "resnet_se", "resnet_bottleneck_keras", "resnet_d_drop_path", "resnext",
              "cifar_resnet_option_a", "cifar_resnet_option_b", "cifar_plain", "cifar_resnext",
              "resnet_blur_dilated_drop_block", "resnet_rs"}
# GroupNorm normalizes per image: nothing to fold, the model is served as it is.
NO_BATCH_NORM = {"resnet_aa_group_norm"}


@pytest.mark.parametrize("label", sorted(TINY))
def test_folded_model_computes_the_same_inference_function(label, rng):
    model = build(label, classifier_activation=None)
    _randomize_statistics(model, rng)
    before = [w.copy() for w in model.get_weights()]
    folded = keras_resnets.fold_batch_norm(model)

    x = (rng.random((4,) + model.input_shape[1:]) * 255).astype("float32")
    expected = keras.ops.convert_to_numpy(model(x, training=False))
    got = keras.ops.convert_to_numpy(folded(x, training=False))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * float(np.abs(expected).max()))

    left = len(_batch_norms(folded))
    if label in ALL_FOLDED:
        assert left == 0 < len(_batch_norms(model))
    elif label in NO_BATCH_NORM:
        assert left == len(_batch_norms(model)) == 0
    elif label != "densenet_memory_efficient":  # its BatchNorms live inside DenseLayer, out of reach
        assert 0 < left < len(_batch_norms(model))
    # One convolution changed (kernel scaled, bias added) per BatchNormalization folded.
    changed = [layer for layer in folded.layers if isinstance(layer, keras.layers.Conv2D) and layer.use_bias
               and not np.array_equal(layer.get_weights()[0], model.get_layer(layer.name).get_weights()[0])]
    assert len(changed) == len(_batch_norms(model)) - left
    # The source model is left as it was; the copy is a separate model with the same name, input and output names.
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert folded.name == model.name and folded.input_shape == model.input_shape
    assert folded.output_names == model.output_names


def test_folded_model_saves_and_loads_in_safe_mode(rng, tmp_path):
    model = build("resnet_bottleneck_keras")
    _randomize_statistics(model, rng)
    folded = keras_resnets.fold_batch_norm(model)
    path = tmp_path / "folded.keras"
    folded.save(path)
    loaded = keras.models.load_model(path)  # safe_mode=True is the default
    x = (rng.random((2,) + model.input_shape[1:]) * 255).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)),
                               rtol=1e-5, atol=1e-6)


def test_folds_keras_applications_resnet50_and_feature_extractors(rng):
    peer = keras.applications.ResNet50(weights=None, input_shape=(32, 32, 3), classes=3, classifier_activation=None)
    _randomize_statistics(peer, rng)
    folded = keras_resnets.fold_batch_norm(peer)
    assert len(_batch_norms(peer)) == 53 and not _batch_norms(folded)
    x = (rng.random((2, 32, 32, 3)) * 255).astype("float32")
    expected = keras.ops.convert_to_numpy(peer(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folded(x)), expected, rtol=1e-4,
                               atol=1e-5 * float(np.abs(expected).max()))

    backbone = build("resnet_basic", features_only=True)
    _randomize_statistics(backbone, rng)
    folded = keras_resnets.fold_batch_norm(backbone)
    expected, got = backbone(x), folded(x)
    assert sorted(got) == sorted(expected) == ["stage1", "stage2", "stage3", "stage4"]
    for key in expected:
        np.testing.assert_allclose(keras.ops.convert_to_numpy(got[key]), keras.ops.convert_to_numpy(expected[key]),
                                   rtol=1e-4, atol=1e-4)


def test_folds_models_nested_in_a_model(rng):
    from keras_resnets.export import with_preprocessing

    inner = build("cifar_resnet_option_a", classifier_activation=None)
    _randomize_statistics(inner, rng)
    wrapped = with_preprocessing(inner, "torch")  # raw pixels -> ImagePreprocessing -> the model as a layer
    folded = keras_resnets.fold_batch_norm(wrapped)
    assert not _batch_norms(folded.get_layer(inner.name)) and _batch_norms(inner)
    x = (rng.random((2,) + inner.input_shape[1:]) * 255).astype("float32")
    expected = keras.ops.convert_to_numpy(wrapped(x))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folded(x)), expected, rtol=1e-4,
                               atol=1e-4 * float(np.abs(expected).max()))


def test_folds_biases_groups_and_missing_scale_or_center(rng):
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(6, 3, padding="same", use_bias=True, groups=2, name="grouped")(inputs)
    x = keras.layers.BatchNormalization(center=False, name="no_center")(x)
    x = keras.layers.Conv2D(5, 1, name="plain")(x)
    x = keras.layers.BatchNormalization(scale=False, epsilon=0.1, name="no_scale")(x)
    model = keras.Model(inputs, x)
    for layer in _batch_norms(model):
        layer.set_weights([rng.uniform(0.5, 2.0, w.shape) for w in layer.get_weights()])
    for name in ("grouped", "plain"):
        layer = model.get_layer(name)
        layer.set_weights([rng.normal(size=w.shape) for w in layer.get_weights()])
    folded = keras_resnets.fold_batch_norm(model)
    assert not _batch_norms(folded)
    data = rng.normal(size=(3, 8, 8, 4)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folded(data)), keras.ops.convert_to_numpy(model(data)),
                               rtol=1e-4, atol=1e-4)


def test_leaves_alone_what_it_cannot_fold(rng):
    inputs = keras.Input((8, 8, 3))
    activated = keras.layers.Conv2D(4, 3, activation="relu", name="activated")(inputs)  # BN reads relu(conv)
    a = keras.layers.BatchNormalization(name="after_relu")(activated)
    shared = keras.layers.Conv2D(4, 1, name="shared")(a)  # its output is read twice
    b = keras.layers.BatchNormalization(name="reads_shared")(shared)
    c = keras.layers.Add()([b, shared])
    d = keras.layers.Conv2D(4, 1, name="other_axis")(c)
    e = keras.layers.BatchNormalization(axis=1, name="normalizes_rows")(d)  # not the channel axis
    model = keras.Model(inputs, e)
    for layer in _batch_norms(model):
        layer.set_weights([rng.uniform(0.5, 2.0, w.shape) for w in layer.get_weights()])
    folded = keras_resnets.fold_batch_norm(model)
    assert sorted(layer.name for layer in _batch_norms(folded)) == ["after_relu", "normalizes_rows", "reads_shared"]
    data = rng.normal(size=(2, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(folded(data)), keras.ops.convert_to_numpy(model(data)),
                               rtol=1e-5, atol=1e-5)


def test_rejects_what_is_not_a_functional_model():
    with pytest.raises(TypeError, match="expects a keras.Model. Received: str"):
        keras_resnets.fold_batch_norm("resnet50")
    sequential = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3), keras.layers.BatchNormalization()])
    with pytest.raises(ValueError, match="works on Functional models.*Received a Sequential"):
        keras_resnets.fold_batch_norm(sequential)
