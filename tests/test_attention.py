"""Residual Attention Networks: exact parameter counts, odd and unknown input sizes, masks, gradients, saving."""

import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import keras_resnets  # noqa: E402
from keras_resnets import attention  # noqa: E402  (registers the attention variants)

# (total, trainable) with the default head. ImageNet: the official Caffe deploy files' counts
# (fwang91/residual-attention-network). CIFAR: this package's definition (see the module docstring);
# the paper reports 1.9M / 5.1M / 8.6M.
EXPECTED_COUNTS = {
    "attention56": (31_883_432, 31_810_728),
    "attention92": (52_599_976, 52_466_344),
    "attention92_cifar": (2_482_298, 2_451_226),
    "attention236_cifar": (5_279_866, 5_203_226),
    "attention452_cifar": (10_459_258, 10_299_674),
}
# The paper's depth: trunk convolutions (no mask branch, no projection shortcut) plus the classifier.
EXPECTED_DEPTH = {
    "attention56": 56,
    "attention92": 92,
    "attention92_cifar": 92,
    "attention236_cifar": 236,
    "attention452_cifar": 452,
}
TINY_IMAGENET = dict(stage_widths=(8, 16, 32, 64), stem_width=8)
TINY_CIFAR = dict(stage_modules=(1, 1, 1), stage_units=(1, 1, 2), stage_widths=(8, 16, 32), stem_width=8)


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _depth(model):
    convs = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.layers.Conv2D) and "_mask_" not in layer.name and not layer.name.endswith("_0_conv")
    ]
    return len(convs) + sum(isinstance(layer, keras.layers.Dense) for layer in model.layers)


def test_registered_variants():
    assert keras_resnets.list_models(family="attention") == sorted(EXPECTED_COUNTS)
    assert set(attention.FACTORIES) == {
        "Attention56",
        "Attention92",
        "Attention92CIFAR",
        "Attention236CIFAR",
        "Attention452CIFAR",
    }


@pytest.mark.parametrize("name", sorted(EXPECTED_COUNTS))
def test_parameter_counts_and_depth(name):
    # The full Functional graph, with variable allocation deferred (StatelessScope): counts need shapes
    # only, and allocating 6k TensorFlow variables would triple the time (15 s for Attention-452).
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = keras_resnets.create_model(name)
            spec = keras_resnets.get_model_spec(name)
            assert model.output.shape == (None, spec.default_classes)
            assert (model.count_params(), _trainable(model)) == EXPECTED_COUNTS[name]
            assert _depth(model) == EXPECTED_DEPTH[name]
    finally:
        keras.utils.clear_session()  # drops the never-initialized variables from Keras' global list.


def test_factory_builds_attention56_names():
    model = attention.FACTORIES["Attention56"](input_shape=(64, 64, 3), classes=7, **TINY_IMAGENET)
    assert model.name == "attention56"
    assert model.output.shape == (None, 7)
    names = {layer.name for layer in model.layers}
    for expected in (
        "conv1_conv",
        "pool1_pool",
        "conv2_block1_preact_bn",
        "conv3_block1_0_conv",
        "conv3_block1_2_pad",
        "conv2_attention1_pre_block1_out",
        "conv2_attention1_trunk_block1_1_conv",
        "conv2_attention1_trunk_block2_out",
        "conv2_attention1_mask_down1_pool",
        "conv2_attention1_mask_down3_block2_out",
        "conv2_attention1_mask_skip2_block1_out",
        "conv2_attention1_mask_up1_resize",
        "conv2_attention1_mask_resize",
        "conv2_attention1_mask_sigmoid",
        "conv2_attention1_apply",
        "conv2_attention1_fusion",
        "conv2_attention1_post_block1_out",
        "conv4_attention1_mask_down1_block2_out",
        "conv5_block3_out",
        "post_relu",
        "predictions",
    ):
        assert expected in names, expected
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


@pytest.fixture(scope="module")
def tiny_dynamic_attention56():
    return keras_resnets.create_model("attention56", include_top=False, input_shape=(None, None, 3), **TINY_IMAGENET)


@pytest.mark.parametrize("size", [(225, 225), (97, 131), (32, 32)])
def test_imagenet_tiny_forward_any_size(tiny_dynamic_attention56, size):
    h, w = size
    out = tiny_dynamic_attention56(np.random.default_rng(0).uniform(size=(1, h, w, 3)).astype("float32"))

    def down(n, times):  # each stride-2 layer with padding 1 (or "same") maps n to ceil(n / 2).
        for _ in range(times):
            n = -(-n // 2)
        return n

    assert tuple(out.shape) == (1, down(h, 5), down(w, 5), 64)


def test_resize_like_static_and_dynamic_shapes():
    import tensorflow as tf

    layer = attention.ResizeLike()
    assert layer.compute_output_shape(((None, 4, 5, 3), (None, 7, 9, 1))) == (None, 7, 9, 3)
    assert layer.compute_output_shape(((None, None, None, 3), (None, None, None, 1))) == (None, None, None, 3)
    restored = attention.ResizeLike.from_config(layer.get_config())
    assert restored.interpolation == "bilinear" and restored.data_format == "channels_last"

    x = np.random.default_rng(1).normal(size=(2, 13, 17, 3)).astype("float32")
    ref = np.zeros((2, 25, 33, 1), "float32")
    eager = layer([x, ref]).numpy()
    np.testing.assert_allclose(eager, tf.image.resize(x, (25, 33)).numpy(), atol=1e-6)
    # Traced with unknown sizes: the run-time (keras.ops.take) path must agree with ops.image.resize.
    spec = [tf.TensorSpec((None, None, None, 3)), tf.TensorSpec((None, None, None, 1))]
    traced = tf.function(lambda a, b: layer([a, b]), input_signature=spec)
    np.testing.assert_allclose(traced(x, ref).numpy(), eager, atol=1e-5)

    # Static shapes of a fixed-size model: every resize lands on its reference's size.
    model = keras_resnets.create_model(
        "attention56", include_top=False, input_shape=(97, 131, 3), return_masks=True, **TINY_IMAGENET
    )
    resizes = [layer for layer in model.layers if isinstance(layer, attention.ResizeLike)]
    assert len(resizes) == 3 + 2 + 1
    for resize in resizes:
        x_in, ref_in = resize.input
        assert resize.output.shape[1:3] == ref_in.shape[1:3], resize.name
        assert resize.output.shape[3] == x_in.shape[3], resize.name
    out = model(np.ones((1, 97, 131, 3), "float32"))
    for key, tensor in model.output.items():
        assert tuple(out[key].shape[1:]) == tuple(tensor.shape[1:]), key


def test_masks_odd_size_dynamic():
    model = keras_resnets.create_model(
        "attention92_cifar", include_top=False, input_shape=(None, None, 3), return_masks=True, **TINY_CIFAR
    )
    assert set(model.output) == {"predictions", "mask_stage1_module1", "mask_stage2_module1", "mask_stage3_module1"}
    out = model(np.random.default_rng(2).normal(size=(2, 37, 45, 3)).astype("float32"))
    assert tuple(out["predictions"].shape) == (2, 10, 12, 32)
    expected = {
        "mask_stage1_module1": (2, 37, 45, 8),
        "mask_stage2_module1": (2, 19, 23, 16),
        "mask_stage3_module1": (2, 10, 12, 32),
    }
    for key, shape in expected.items():
        mask = keras.ops.convert_to_numpy(out[key])
        assert mask.shape == shape, key
        assert mask.min() >= 0.0 and mask.max() <= 1.0, key


def test_features_only():
    model = keras_resnets.create_model("attention56", features_only=True, input_shape=(64, 64, 3), **TINY_IMAGENET)
    shapes = {key: tuple(value.shape) for key, value in model.output.items()}
    assert shapes == {
        "stage1": (None, 16, 16, 8),
        "stage2": (None, 8, 8, 16),
        "stage3": (None, 4, 4, 32),
        "stage4": (None, 2, 2, 64),
    }


def test_gradients_reach_every_weight():
    import tensorflow as tf

    model = keras_resnets.create_model("attention92_cifar", input_shape=(None, None, 3), **TINY_CIFAR)
    x = np.random.default_rng(3).normal(size=(2, 21, 27, 3)).astype("float32")
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(x, training=True) * tf.range(10, dtype="float32"))
    grads = tape.gradient(loss, model.trainable_weights)
    missing = [w.path for w, g in zip(model.trainable_weights, grads) if g is None]
    assert not missing
    assert all(np.isfinite(g.numpy()).all() for g in grads)


def test_save_and_load(tmp_path):
    model = keras_resnets.create_model(
        "attention92_cifar", input_shape=(None, None, 3), return_masks=True, classes=5, **TINY_CIFAR
    )
    x = np.random.default_rng(4).normal(size=(2, 23, 29, 3)).astype("float32")
    path = os.fspath(tmp_path / "attention.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    before, after = model(x), loaded(x)
    assert set(before) == set(after)
    for key in before:
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(before[key]), keras.ops.convert_to_numpy(after[key]), atol=1e-5
        )


@pytest.mark.parametrize(
    "kwargs, arg",
    [
        (dict(stage_modules=(1, 1)), "stage_units"),
        (dict(stage_modules=(1, -1, 1, 0)), "stage_modules"),
        (dict(stage_modules="111"), "stage_modules"),
        (dict(stage_units=(1, 1, 1, 0)), "stage_units"),
        (dict(stage_widths=(256, 512, 1024)), "stage_widths"),
        (dict(stage_strides=(1, 2, 2, 0)), "stage_strides"),
        (dict(mask_downsamples=(3, 2, 1)), "mask_downsamples"),
        (dict(mask_downsamples=(3, 2, -1, 0)), "mask_downsamples"),
        (dict(p=0), "p"),
        (dict(t=1.5), "t"),
        (dict(r=0), "r"),
        (dict(stem="deep"), "stem"),
        (dict(stem_width=0), "stem_width"),
        (dict(bn_epsilon=0), "bn_epsilon"),
        (dict(bn_momentum=1.0), "bn_momentum"),
        (dict(return_masks="yes"), "return_masks"),
        (dict(input_shape=(31, 31, 3)), "Input size"),
    ],
)
def test_bad_arguments(kwargs, arg):
    with pytest.raises(ValueError, match=f"`?{arg}") as info:
        keras_resnets.create_model("attention56", **kwargs)
    assert "Received" in str(info.value)


def test_builds_and_runs_on_jax():
    script = textwrap.dedent(
        """
        import numpy as np
        import keras_resnets
        from keras_resnets import attention
        # One width everywhere: JAX compiles each weight initializer once per shape (~0.3 s each).
        model = keras_resnets.create_model(
            "attention56", include_top=False, input_shape=(None, None, 3), return_masks=True,
            stage_widths=(8, 8, 8, 8), stem_width=8)
        out = model.predict(np.ones((1, 97, 131, 3), "float32"), verbose=0)
        print(out["predictions"].shape, out["mask_stage1_module1"].shape)
        """
    )
    env = dict(os.environ, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(1, 4, 5, 8) (1, 25, 33, 8)" in result.stdout
