"""The custom layers and block options, checked on values."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_resnets
from keras_resnets.layers import BatchNormalization, StochasticDepth, ZeroPadShortcut


@pytest.mark.parametrize("size", [8, 7])
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_zero_pad_shortcut_subsamples_and_pads(rng, size, data_format):
    x = rng.normal(size=(2, size, size, 4)).astype("float32")  # channels_last; the checks are made in it
    half = -(-size // 2)
    weights = rng.normal(size=(2, half, half, 8)).astype("float32")
    first = data_format == "channels_first"
    to_layer = (lambda a: np.transpose(a, (0, 3, 1, 2))) if first else (lambda a: a)
    to_last = (lambda a: np.transpose(np.asarray(a), (0, 2, 3, 1))) if first else np.asarray
    x_in = tf.constant(to_layer(x))
    with tf.GradientTape() as tape:  # TensorFlow subsamples with a 1x1 max pool: its gradient must be the slice's
        tape.watch(x_in)
        y = ZeroPadShortcut(8, strides=2, data_format=data_format)(x_in)
        loss = tf.reduce_sum(y * to_layer(weights))
    y, grad = to_last(y), to_last(tape.gradient(loss, x_in))
    assert y.shape == (2, half, half, 8)
    np.testing.assert_array_equal(y[..., 2:6], x[:, ::2, ::2, :])
    assert not y[..., :2].any() and not y[..., 6:].any()
    expected = np.zeros_like(x)
    expected[:, ::2, ::2, :] = weights[..., 2:6]
    np.testing.assert_array_equal(grad, expected)
    assert ZeroPadShortcut(8, strides=2).compute_output_shape((None, 7, 7, 4)) == (None, 4, 4, 8)


def test_stochastic_depth_is_identity_at_inference_and_unbiased_in_training():
    layer = StochasticDepth(0.5, seed=1)
    x = np.ones((4000, 1, 1, 2), "float32")
    np.testing.assert_array_equal(layer(x, training=False), x)
    y = np.asarray(layer(x, training=True))
    kept = y[:, 0, 0, 0] > 0
    assert 0.45 < kept.mean() < 0.55
    np.testing.assert_allclose(y[kept], 2.0)
    np.testing.assert_array_equal(y[..., 0], y[..., 1])  # one decision per sample


def test_drop_path_rate_decays_linearly_over_blocks():
    model = keras_resnets.create_model("resnet50", drop_path_rate=0.3, stage_depths=(1, 1, 1, 1))
    rates = [layer.rate for layer in model.layers if isinstance(layer, StochasticDepth)]
    # the first block's rate is 0, so it gets no layer; the last block gets the full rate
    np.testing.assert_allclose(rates, [0.1, 0.2, 0.3])


@pytest.mark.parametrize(
    "name, last_conv",
    [("wrn16_4", "_2_conv"), ("resnet18", "_2_conv"), ("resnet50", "_3_conv"), ("preact_resnet164", "_3_conv")],
)
def test_dropout_rate_feeds_each_blocks_last_conv(name, last_conv):
    model = keras_resnets.create_model(name, dropout_rate=0.3)
    dropouts = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    blocks = {re.match(r"conv\d+_block\d+", layer.name) for layer in model.layers}
    blocks = {match.group() for match in blocks if match}
    assert len(dropouts) == len(blocks) and all(layer.rate == 0.3 for layer in dropouts)
    for dropout in dropouts:
        block = dropout.name[: -len("_dropout")]
        conv = model.get_layer(block + last_conv)
        assert conv.input is dropout.output, (block, conv.input)
    plain = keras_resnets.create_model(name)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in plain.layers)
    assert plain.count_params() == model.count_params()


def test_dropout_rate_is_active_in_training_only(rng):
    model = keras_resnets.WideResNet(10, 1, dropout_rate=0.5, input_shape=(8, 8, 1), classes=3)
    x = rng.random((4, 8, 8, 1)).astype("float32")
    np.testing.assert_allclose(model(x, training=False), model.predict(x, verbose=0), atol=1e-6)
    assert not np.allclose(model(x, training=True), model(x, training=True))


def test_zero_init_last_bn_makes_blocks_start_as_identity(rng):
    model = keras_resnets.create_model("resnet18", zero_init_last_bn=True, include_top=False, input_shape=(32, 32, 3))
    x = rng.random((1, 32, 32, 3)).astype("float32")
    block = model.get_layer("conv2_block2_out").output
    shortcut_in = model.get_layer("conv2_block1_out").output
    probe = keras.Model(model.input, [shortcut_in, block])
    a, b = probe(x)
    np.testing.assert_allclose(b, np.maximum(a, 0), atol=1e-6)


def test_plain_networks_have_no_shortcuts():
    plain = keras_resnets.Plain20()
    assert not any(isinstance(layer, keras.layers.Add) for layer in plain.layers)
    resnet = keras_resnets.ResNet20()
    assert sum(isinstance(layer, keras.layers.Add) for layer in resnet.layers) == 9
    assert sum(isinstance(layer, ZeroPadShortcut) for layer in resnet.layers) == 2


def test_stride_position_follows_the_option():
    keras_v1 = keras_resnets.ResNet50(weights=None)
    torch_v15 = keras_resnets.create_model("resnet50_v1_5")
    assert keras_v1.get_layer("conv3_block1_1_conv").strides == (2, 2)
    assert keras_v1.get_layer("conv3_block1_2_conv").strides == (1, 1)
    assert torch_v15.get_layer("conv3_block1_1_conv").strides == (1, 1)
    assert torch_v15.get_layer("conv3_block1_2_conv").strides == (2, 2)
    assert not torch_v15.get_layer("conv3_block1_1_conv").use_bias


def test_resnext_uses_grouped_convolution():
    model = keras_resnets.create_model("resnext50_32x4d")
    conv = model.get_layer("conv2_block1_2_conv")
    assert conv.groups == 32 and conv.filters == 128


def test_memory_efficient_densenet_matches_plain_outputs_gradients_and_statistics(rng):
    kwargs = dict(block_depths=(2, 3, 2, 2), growth_rate=4, stem_width=8, input_shape=(32, 32, 3), classes=5)
    plain = keras_resnets.create_model("densenet121", **kwargs)
    efficient = keras_resnets.create_model("densenet121", memory_efficient=True, **kwargs)
    plain.set_weights(
        [
            rng.uniform(0.5, 1.5, w.shape).astype("float32")
            if "variance" in w.path
            else rng.normal(0, 0.1, w.shape).astype("float32")
            for w in plain.weights
        ]
    )
    efficient.set_weights(plain.get_weights())
    x = rng.random((4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(efficient(x), plain(x), atol=1e-6)
    grads = []
    for model in (plain, efficient):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(x, training=True) * tf.range(5, dtype="float32"))
        grads.append(tape.gradient(loss, model.trainable_weights))
    for a, b in zip(*grads):
        np.testing.assert_allclose(b, a, atol=1e-5)
    for a, b in zip(plain.non_trainable_weights, efficient.non_trainable_weights):
        np.testing.assert_allclose(b, a, atol=1e-6)  # moving statistics updated once, identically


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("policy", ["float32", "mixed_float16", "mixed_bfloat16"])
def test_fused_batch_normalization_equals_the_keras_layer(rng, training, policy):
    # Same outputs, input and weight gradients, and moving-average update as keras.layers.BatchNormalization
    # (whose unfused ops it replaces on TensorFlow), in training and inference, float32 and mixed precision.
    x = tf.constant(rng.normal(2.0, 3.0, (8, 5, 5, 7)).astype("float32"))
    upstream = tf.constant(rng.normal(size=x.shape).astype("float32"))
    kwargs = dict(momentum=0.9, epsilon=1e-3, dtype=keras.DTypePolicy(policy))
    theirs, ours = keras.layers.BatchNormalization(**kwargs), BatchNormalization(**kwargs)
    theirs.build(x.shape)
    ours.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in theirs.weights]
    weights[3] = np.abs(weights[3]) + 0.1  # a variance
    theirs.set_weights(weights)
    ours.set_weights(weights)
    results = []
    for layer in (theirs, ours):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=training)
            loss = tf.reduce_sum(tf.cast(y, "float32") * upstream)
        grads = tape.gradient(loss, [x, *layer.trainable_weights])
        results.append((y, grads, layer.get_weights()))
    # bfloat16 inputs go into the fused kernel as they are (it accumulates in float32): 8 bits of mantissa.
    tol = {"float32": 1e-5, "mixed_float16": 1e-2, "mixed_bfloat16": 3e-2}[policy]
    (y_a, g_a, w_a), (y_b, g_b, w_b) = results
    assert y_a.dtype == y_b.dtype
    np.testing.assert_allclose(np.asarray(y_b, "float32"), np.asarray(y_a, "float32"), atol=tol * 10, rtol=tol)
    for a, b in zip(g_a, g_b):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), atol=tol * 10, rtol=tol)
    for a, b in zip(w_a, w_b):
        np.testing.assert_allclose(b, a, atol=1e-6, rtol=1e-5)
    if training:
        assert not np.allclose(w_b[2], weights[2])  # the moving mean moved


def test_fused_batch_normalization_falls_back_where_it_cannot_fuse(rng):
    # channels_first, rank 2 and renorm take the Keras path and still work.
    for layer, shape in ((BatchNormalization(axis=1), (4, 3, 5, 5)), (BatchNormalization(), (6, 3)),
                         (BatchNormalization(renorm=True), (2, 4, 4, 3))):
        x = rng.normal(size=shape).astype("float32")
        assert not layer._fusable(tf.constant(x), None)
        y = np.asarray(layer(x, training=True))
        assert y.shape == shape and np.isfinite(y).all()


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fused_batch_normalization_inference_and_frozen_use_the_kernel_and_moving_statistics(rng, policy):
    # Inference, and training with the layer frozen (fine-tuning), normalize with the moving statistics, as the
    # Keras layer, through FusedBatchNormV3's inference mode (bfloat16 in and out under mixed_bfloat16), and
    # leave the statistics where they are.
    x = tf.constant(rng.normal(2.0, 3.0, (4, 6, 6, 5)).astype("float32"))
    theirs, ours = (cls(epsilon=1e-3, dtype=keras.DTypePolicy(policy)) for cls in
                    (keras.layers.BatchNormalization, BatchNormalization))
    for layer in (theirs, ours):
        layer.build(x.shape)
        layer.set_weights([rng.normal(size=5).astype("float32") if i != 3 else np.full(5, 2.0, "float32")
                           for i in range(4)] if layer is theirs else theirs.get_weights())
        layer.trainable = False
    graph = tf.function(lambda x: ours(x, training=True)).get_concrete_function(x).graph
    kernels = [op for op in graph.get_operations() if op.type == "FusedBatchNormV3"]
    assert len(kernels) == 1 and not kernels[0].get_attr("is_training")
    assert kernels[0].inputs[0].dtype == (tf.bfloat16 if policy == "mixed_bfloat16" else tf.float32)
    before = ours.get_weights()
    tol = 3e-2 if policy == "mixed_bfloat16" else 1e-5
    for training in (True, False):
        y_a, y_b = theirs(x, training=training), ours(x, training=training)
        assert y_b.dtype == y_a.dtype
        np.testing.assert_allclose(np.asarray(y_b, "float32"), np.asarray(y_a, "float32"), atol=tol * 10, rtol=tol)
    for a, b in zip(before, ours.get_weights()):
        np.testing.assert_array_equal(b, a)


def test_fused_batch_normalization_round_trips_and_is_used_by_the_models():
    model = keras_resnets.create_model("resnet20", input_shape=(16, 16, 3), classes=4)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(type(layer) is BatchNormalization for layer in bns)
    layer = BatchNormalization(momentum=0.8, epsilon=2e-5, name="bn")
    clone = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(clone) is BatchNormalization and clone.get_config() == layer.get_config()


def test_memory_efficient_densenet_layers_round_trip_and_reject_bad_arguments():
    from keras_resnets.layers import ConcatBatchNormReLU, DenseLayer

    layer = DenseLayer(6, bottleneck_width=2, momentum=0.9, name="conv2_block1")
    layer.build([(None, 8, 8, 4), (None, 8, 8, 6)])
    assert [w.path for w in layer.weights][:5] == [
        "conv2_block1/conv2_block1_0_bn/gamma", "conv2_block1/conv2_block1_0_bn/beta",
        "conv2_block1/conv2_block1_0_bn/moving_mean", "conv2_block1/conv2_block1_0_bn/moving_variance",
        "conv2_block1/conv2_block1_1_conv/kernel"]
    assert layer.compute_output_shape([(None, 8, 8, 4), (None, 8, 8, 6)]) == (None, 8, 8, 6)
    assert DenseLayer.from_config(layer.get_config()).get_config() == layer.get_config()
    transition = ConcatBatchNormReLU(filters=5, conv_name="pool2_conv", name="pool2_bn")
    assert ConcatBatchNormReLU.from_config(transition.get_config()).get_config() == transition.get_config()
    assert transition.compute_output_shape([(None, 8, 8, 4), (None, 8, 8, 6)]) == (None, 8, 8, 5)
    with pytest.raises(ValueError, match="growth_rate.*Received: growth_rate=0"):
        DenseLayer(0)
    with pytest.raises(ValueError, match="axis.*Received: axis=2"):
        DenseLayer(4, axis=2)
    with pytest.raises(ValueError, match="filters.*Received: filters='8'"):
        ConcatBatchNormReLU(filters="8")
