"""The model options timm users reach for: anti-aliasing, DropBlock, output stride, GroupNorm, ResNet-RS's stem,
`out_indices` / `feature_info`, `head_dropout` and `padding`. Their exact conversions are in test_conversion.py, their
tiny variants in the TensorFlow / JAX / PyTorch battery (tests/tiny_models.py)."""

import keras
import numpy as np
import pytest

import keras_resnets
from keras_resnets.layers import BlurPool2D, DropBlock2D
from tests.test_conversion import _import_timm
from tests.tiny_models import build

SMALL = dict(stage_depths=(1, 1, 1, 1), stage_widths=(4, 4, 8, 8), stem_width=8)


def _layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


# BlurPool2D


def test_blur_filter_is_binomial_and_not_a_weight():
    layer = BlurPool2D(3, strides=2)
    np.testing.assert_allclose(layer.kernel, np.outer([1, 2, 1], [1, 2, 1]) / 16)
    np.testing.assert_allclose(BlurPool2D(5).kernel.sum(), 1.0, rtol=1e-6)
    layer(np.zeros((1, 8, 8, 3), "float32"))
    assert layer.weights == []  # a constant: nothing to train, save or convert


def test_blur_keeps_a_constant_image_and_downsamples_with_ceil():
    x = np.full((2, 9, 7, 3), 5.0, "float32")
    y = keras.ops.convert_to_numpy(BlurPool2D()(x))
    assert y.shape == (2, 5, 4, 3)
    np.testing.assert_allclose(y, 5.0, rtol=1e-6)  # reflect padding: no dark border


def test_blur_low_passes_what_a_strided_subsample_aliases():
    """A 1-pixel checkerboard subsampled at stride 2 looks constant (aliasing); blurred first, it is averaged away."""
    board = (np.indices((8, 8)).sum(axis=0) % 2).astype("float32")[None, :, :, None]
    blurred = keras.ops.convert_to_numpy(BlurPool2D()(board))
    assert np.all(board[:, ::2, ::2] == 0)  # plain subsampling keeps only the dark pixels
    np.testing.assert_allclose(blurred[:, 1:-1, 1:-1], 0.5, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(filter_size=1), "filter_size"), (dict(strides=0), "strides"), (dict(filter_size=2.5), "filter_size"),
])
def test_blur_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BlurPool2D(**kwargs)


# DropBlock2D


def test_drop_block_is_the_identity_at_inference():
    x = np.random.default_rng(0).random((2, 12, 12, 4)).astype("float32")
    layer = DropBlock2D(0.3, block_size=3, seed=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x)), x)


def test_drop_block_drops_squares_shared_by_channels_at_about_the_rate():
    x = np.ones((64, 16, 16, 3), "float32")
    y = keras.ops.convert_to_numpy(DropBlock2D(0.1, block_size=5, seed=3)(x, training=True))
    dropped = y == 0
    assert np.array_equal(dropped.all(-1), dropped.any(-1))  # every channel shares the mask
    # timm's seed rate, with its drop fraction on the same maps (its gamma counts only the centres whose block fits,
    # but seeds fall everywhere: on small maps more than `rate` is dropped, by timm as here).
    _import_timm()
    import torch
    from timm.layers import drop_block_2d

    torch.manual_seed(0)
    reference = np.mean([(drop_block_2d(torch.ones(64, 3, 16, 16), 0.1, 5) == 0).float().mean().item()
                         for _ in range(20)])
    assert abs(dropped.mean() - reference) < 0.02, (dropped.mean(), reference)
    # The kept activations are scaled by the kept fraction of each batch: the mean is kept.
    np.testing.assert_allclose(y.mean(), 1.0, rtol=1e-4)
    # Dropped pixels come in blocks: a dropped pixel has dropped neighbours (a lone one would be plain dropout).
    mask = dropped[..., 0]
    neighbours = sum(np.roll(mask, shift, axis) for axis in (1, 2) for shift in (-1, 1))
    assert np.mean(neighbours[mask] >= 2) > 0.95


def test_drop_block_seeds_are_reproducible():
    x = np.ones((4, 12, 12, 2), "float32")
    a = keras.ops.convert_to_numpy(DropBlock2D(0.2, block_size=3, seed=7)(x, training=True))
    b = keras.ops.convert_to_numpy(DropBlock2D(0.2, block_size=3, seed=7)(x, training=True))
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs, message", [
    (dict(rate=1.0), "rate"), (dict(rate=0.1, block_size=0), "block_size"), (dict(rate=0.1, gamma_scale=0), "gamma"),
])
def test_drop_block_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DropBlock2D(**kwargs)


def test_drop_block_rate_follows_timms_stage_schedule():
    model = keras_resnets.create_model("resnet50", drop_block_rate=0.1, input_shape=(64, 64, 3), **SMALL)
    blocks = {layer.name: (layer.rate, layer.block_size, layer.gamma_scale) for layer in _layers_of(model, DropBlock2D)}
    assert blocks == {"conv4_block1_2_drop_block": (0.1, 5, 0.25), "conv5_block1_2_drop_block": (0.1, 3, 1.0)}
    assert not _layers_of(keras_resnets.create_model("resnet50", input_shape=(64, 64, 3), **SMALL), DropBlock2D)


def test_drop_block_needs_a_fixed_size_when_training():
    import tensorflow as tf

    layer = DropBlock2D(0.1, block_size=3)
    unknown = tf.function(lambda t: layer(t, training=True), input_signature=[tf.TensorSpec((None, None, None, 8))])
    with pytest.raises(ValueError, match=r"fixed input size.*\(None, None, None, 8\)"):
        unknown.get_concrete_function()
    model = keras_resnets.create_model("resnet18", drop_block_rate=0.1, include_top=False,
                                       input_shape=(None, None, 3), **SMALL)
    model(np.zeros((1, 32, 32, 3), "float32"), training=False)  # inference never needs it


# Anti-aliasing


@pytest.mark.parametrize("aa_layer, pool", [("avg", keras.layers.AveragePooling2D), ("blur", BlurPool2D)])
def test_anti_aliasing_moves_every_stride_after_the_activation(aa_layer, pool):
    model = keras_resnets.create_model("resnet50_v1_5", aa_layer=aa_layer, input_shape=(64, 64, 3), **SMALL)
    strided = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
               and layer.strides != (1, 1) and not layer.name.endswith("_0_conv")]
    assert strided == ["conv1_conv"]  # only the stem conv and the 1x1 shortcuts still stride
    aa = [layer.name for layer in model.layers if layer.name.endswith("_aa")]
    assert aa == ([] if aa_layer == "avg" else ["pool1_aa"]) + [f"conv{s}_block1_2_aa" for s in (3, 4, 5)]
    assert all(isinstance(model.get_layer(name), pool) for name in aa)
    assert model.get_layer("conv5_block1_out").output.shape[1:3] == (2, 2)


def test_anti_aliasing_keeps_the_weights():
    """The aa variants hold exactly the weights of the network without it (timm loads one into the other)."""
    plain = keras_resnets.create_model("resnet50d", input_shape=(64, 64, 3), **SMALL)
    for aa_layer in ("avg", "blur"):
        aa = keras_resnets.create_model("resnet50d", aa_layer=aa_layer, input_shape=(64, 64, 3), **SMALL)
        assert {w.path: w.shape for w in aa.weights} == {w.path: w.shape for w in plain.weights}


def test_average_anti_aliasing_refuses_odd_maps():
    with pytest.raises(ValueError, match=r"aa_layer='avg' needs .* multiples of 32.*\(72, 72\)"):
        keras_resnets.create_model("resnetaa50d", input_shape=(72, 72, 3), **SMALL)
    keras_resnets.create_model("resnetblur50", input_shape=(72, 72, 3), **SMALL)  # the blur rounds up, as timm
    # With output_stride=16 the last stage dilates: multiples of 16 are enough (80 = 5 x 16), 72 still is not.
    keras_resnets.create_model("resnetaa50d", output_stride=16, input_shape=(80, 80, 3), **SMALL)
    with pytest.raises(ValueError, match=r"multiples of 16"):
        keras_resnets.create_model("resnetaa50d", output_stride=16, input_shape=(72, 72, 3), **SMALL)


def test_anti_aliasing_needs_the_stride_on_the_3x3():
    with pytest.raises(ValueError, match="stride_on='3x3'"):
        keras_resnets.create_model("resnet50", aa_layer="blur", **SMALL)


# Padding


def _plain_keras_resnet20():
    """benchmarks/upstream/fit_epochs_repro.py's ResNet-20 from plain Keras layers (the jax_path case's peer)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "upstream" / "fit_epochs_repro.py"
    spec = importlib.util.spec_from_file_location("fit_epochs_repro", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.resnet20()


def test_same_padding_is_plain_keras_layer_for_layer():
    """padding="same" with option-B shortcuts computes what the plain Keras ResNet-20 computes, weight for weight;
    the default (symmetric) differs on the strided convolutions only."""
    plain = _plain_keras_resnet20()
    kwargs = dict(input_shape=(32, 32, 3), classes=10, include_preprocessing=True, shortcut="projection")
    ours = keras_resnets.create_model("resnet20", padding="same", bn_epsilon=1e-3, **kwargs)  # Keras' epsilon
    symmetric = keras_resnets.create_model("resnet20", **kwargs)
    assert not _layers_of(ours, keras.layers.ZeroPadding2D)
    assert len(_layers_of(symmetric, keras.layers.ZeroPadding2D)) == 2  # the two strided 3x3 convolutions
    assert {w.path: w.shape for w in ours.weights} == {w.path: w.shape for w in symmetric.weights}

    def by_kind(model):  # the weighted layers in build order, convolutions, norms and the classifier apart
        return {cls: _layers_of(model, cls) for cls in (keras.layers.Conv2D, keras.layers.BatchNormalization,
                                                         keras.layers.Dense)}

    rng = np.random.default_rng(0)
    for cls, plain_layers in by_kind(plain).items():
        ours_layers = by_kind(ours)[cls]
        assert len(ours_layers) == len(plain_layers)
        for a, b in zip(plain_layers, ours_layers):
            weights = [rng.normal(0.5 if "variance" in w.path else 0.0, 0.2, w.shape).astype("float32") for w in
                       a.weights]
            weights = [np.abs(w) if "variance" in v.path else w for w, v in zip(weights, a.weights)]
            a.set_weights(weights)
            b.set_weights(weights)
    symmetric.set_weights(ours.get_weights())
    x = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(ours.predict(x, verbose=0), plain.predict(x, verbose=0), atol=1e-5)
    assert np.abs(symmetric.predict(x, verbose=0) - plain.predict(x, verbose=0)).max() > 1e-3


def test_same_padding_pads_the_stem_pool_as_tensorflow():
    model = keras_resnets.create_model("resnet50", padding="same", input_shape=(64, 64, 3), **SMALL)
    assert not _layers_of(model, keras.layers.ZeroPadding2D)
    assert model.get_layer("pool1_pool").padding == "same"
    assert model.get_layer("conv1_conv").padding == "same"
    assert model.output_shape == keras_resnets.create_model("resnet50", input_shape=(64, 64, 3), **SMALL).output_shape
    with pytest.raises(ValueError, match=r"padding.*'symmetric', 'same'.*Received.*'valid'"):
        keras_resnets.create_model("resnet20", padding="valid")


# Output stride


@pytest.mark.parametrize("output_stride, sizes", [(32, [16, 8, 4, 2]), (16, [16, 8, 4, 4]), (8, [16, 8, 8, 8])])
def test_output_stride_dilates_instead_of_striding(output_stride, sizes):
    deeper = dict(SMALL, stage_depths=(1, 1, 2, 2), stage_widths=(4, 4, 8, 16))  # widths change at every stage
    model = keras_resnets.create_model("resnet50d", features_only=True, output_stride=output_stride,
                                       input_shape=(64, 64, 3), **deeper)
    assert [model.output[f"stage{i}"].shape[1] for i in range(1, 5)] == sizes
    assert model.feature_info.reduction() == [64 // s for s in sizes]
    dilations = {layer.name: layer.dilation_rate[0] for layer in model.layers if isinstance(layer, keras.layers.Conv2D)}
    # A dilated stage's first block keeps the previous stage's dilation in its 3x3 conv, as timm.
    expected = {32: (1, 1, 1), 16: (1, 1, 2), 8: (2, 2, 4)}[output_stride]
    got = tuple(dilations[f"conv{s}_block{b}_2_conv"] for s, b in ((4, 2), (5, 1), (5, 2)))
    assert got == expected
    reference = keras_resnets.create_model("resnet50d", features_only=True, input_shape=(64, 64, 3), **deeper)
    assert {w.path: w.shape for w in model.weights} == {w.path: w.shape for w in reference.weights}


def test_output_stride_must_dilate_something():
    with pytest.raises(ValueError, match="this network's stride is 4"):
        keras_resnets.create_model("resnet20", output_stride=8)
    with pytest.raises(ValueError, match=r"output_stride"):
        keras_resnets.create_model("resnet50", output_stride=4)


# Normalisation and head


def test_group_norm_replaces_every_batch_norm():
    model = keras_resnets.create_model("resnet50_gn", input_shape=(64, 64, 3),
                                       **dict(SMALL, stage_widths=(8, 8, 16, 16), stem_width=16), norm_groups=8)
    assert not _layers_of(model, keras.layers.BatchNormalization)
    norms = _layers_of(model, keras.layers.GroupNormalization)
    assert norms and all(layer.groups == 8 and layer.epsilon == 1e-5 for layer in norms)
    assert model.get_layer("conv1_bn") in norms  # the `_bn` names stay, as timm's `bn1`
    # Per image: an image's output does not depend on the rest of the batch, even in training.
    x = np.random.default_rng(0).random((4, 64, 64, 3)).astype("float32")
    together = keras.ops.convert_to_numpy(model(x, training=True))
    alone = keras.ops.convert_to_numpy(model(x[:1], training=True))
    np.testing.assert_allclose(together[:1], alone, rtol=1e-5, atol=1e-6)


def test_group_norm_groups_must_divide_the_channels():
    with pytest.raises(ValueError, match=r"norm_groups.*\[4, 8, 16\] are not multiples of 32"):
        keras_resnets.create_model("resnet50_gn", **SMALL)


def test_se_ratio_sets_the_squeeze_width():
    model = keras_resnets.create_model("resnetrs50", input_shape=(64, 64, 3), **SMALL)
    # ResNet-RS: a quarter of the 32 output channels of stage 3 -> 8; the default 1/16 gives timm's minimum, 8, too.
    assert model.get_layer("conv4_block1_se_reduce").filters == 8
    wide = keras_resnets.create_model("seresnet50", se_ratio=0.25, input_shape=(64, 64, 3))
    assert wide.get_layer("conv5_block1_se_reduce").filters == 512


def test_resnet_rs_replaces_the_stem_pool_with_a_conv():
    model = keras_resnets.create_model("resnetrs50", input_shape=(64, 64, 3), **SMALL)
    assert model.get_layer("pool1_conv").strides == (2, 2)
    assert "pool1_pool" not in [layer.name for layer in model.layers]
    with pytest.raises(ValueError, match="replace_stem_pool"):
        keras_resnets.create_model("resnet20", replace_stem_pool=True)


def test_head_dropout_acts_in_training_only():
    model = keras_resnets.create_model("resnet18", head_dropout=0.5, input_shape=(32, 32, 3), classes=3,
                                       classifier_activation=None, **SMALL)
    assert model.get_layer("head_dropout").rate == 0.5
    assert model.layers[-2].name == "head_dropout" and model.layers[-1].name == "predictions"
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype("float32")
    infer = [keras.ops.convert_to_numpy(model(x, training=False)) for _ in range(2)]
    np.testing.assert_array_equal(*infer)
    assert not np.allclose(keras.ops.convert_to_numpy(model(x, training=True)),
                           keras.ops.convert_to_numpy(model(x, training=True)))


@pytest.mark.parametrize("kwargs, message", [
    (dict(head_dropout=1.0), r"head_dropout.*\[0, 1\)"),
    (dict(head_dropout=0.2, include_top=False), "acts before the classifier"),
    (dict(head_dropout=0.2, features_only=True), "acts before the classifier"),
])
def test_head_dropout_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        keras_resnets.create_model("resnet18", **SMALL, **kwargs)


# Feature extraction


@pytest.mark.parametrize("label, reductions", [
    ("resnet_basic", [2, 4, 8, 16, 32]),
    ("cifar_resnet_option_a", [1, 1, 2, 4]),
    ("resnet_v2", [2, 8, 16, 32, 32]),
    ("densenet", [2, 4, 8, 16, 32]),
    ("densenet_memory_efficient", [2, 4, 8, 16, 32]),
    ("wide_resnet_cifar", [1, 1, 2, 4]),
])
def test_feature_info_describes_every_level(label, reductions):
    model = build(label, features_only=True, out_indices=list(range(len(reductions))))
    info = model.feature_info
    assert info.names() == list(model.output) == ["stem"] + [f"stage{i}" for i in range(1, len(reductions))]
    assert info.reduction() == reductions
    size = model.input_shape[1]
    for entry, (name, tensor) in zip(info, model.output.items()):
        assert tensor.shape[-1] == entry["num_chs"] and -(-size // entry["reduction"]) == tensor.shape[1]
        assert model.get_layer(entry["module"]).output is tensor


def test_attention_feature_info():
    model = keras_resnets.create_model("attention56", features_only=True, out_indices=(0, -1), input_shape=(64, 64, 3),
                                       stage_widths=(8, 16, 32, 64), stem_width=8)
    assert model.feature_info.names() == ["stem", "stage4"] and model.feature_info.reduction() == [2, 32]


def test_out_indices_pick_and_order_levels():
    model = build("resnet_basic", features_only=True, out_indices=(-1, 0, 2))
    assert list(model.output) == ["stem", "stage2", "stage4"]
    assert [e["index"] for e in model.feature_info] == [0, 2, 4]
    default = build("resnet_basic", features_only=True)
    assert list(default.output) == ["stage1", "stage2", "stage3", "stage4"]
    assert default.feature_info.channels() == [4, 4, 8, 8]


@pytest.mark.parametrize("kwargs, message", [
    (dict(out_indices=(5,), features_only=True), r"levels in \[-5, 4\]"),
    (dict(out_indices=(1, -4), features_only=True), "twice"),
    (dict(out_indices=(1, 1), features_only=True), "distinct"),
    (dict(out_indices=(), features_only=True), "non-empty"),
    (dict(out_indices=("stage1",), features_only=True), "integers"),
    (dict(out_indices=(1,)), "features_only=False"),
])
def test_out_indices_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build("resnet_basic", **kwargs)
