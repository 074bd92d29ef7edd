"""The full battery on a tiny variant of every family: forward, backward, one fit step, config
round-trip, `.keras` save/load (in this process and in a fresh one), mixed precision."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_resnets
from tests.tiny_models import CLASSES, TINY, build

LABELS = sorted(TINY)


def _inputs(model, rng, batch=2):
    shape = model.input_shape[1:]
    return (rng.random((batch,) + shape) * 255).astype("float32")


@pytest.mark.parametrize("label", LABELS)
def test_forward_and_backward(label, rng):
    model = build(label)
    # 8 samples: stochastic depth (rate <= 0.2 in the tiny configs) drops a branch for all of them
    # with probability < 3e-6, so every branch's weights see a gradient.
    x = _inputs(model, rng, batch=8)
    y = model(x, training=False)
    assert y.shape == (8, CLASSES)
    np.testing.assert_allclose(np.sum(y, axis=-1), 1.0, rtol=1e-5)
    with tf.GradientTape() as tape:
        logits = model(x, training=True)
        loss = keras.losses.sparse_categorical_crossentropy(np.arange(8) % CLASSES, logits)
    grads = tape.gradient(loss, model.trainable_weights)
    missing = [w.path for w, g in zip(model.trainable_weights, grads) if g is None]
    assert not missing, f"weights with no gradient: {missing}"
    assert all(np.all(np.isfinite(g)) for g in grads)
    # Every weight but a zero-initialized BN gamma's upstream gets a non-zero gradient somewhere.
    nonzero = [float(np.abs(g).max()) > 0 for g in grads]
    assert np.mean(nonzero) > 0.9


@pytest.mark.parametrize("label", LABELS)
def test_one_fit_step_changes_weights(label, rng):
    model = build(label)
    x = _inputs(model, rng, batch=4)
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    history = model.fit(x, np.arange(4) % CLASSES, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    changed = [not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_weights)]
    assert np.mean(changed) > 0.9


@pytest.mark.parametrize("label", LABELS)
def test_config_round_trip(label, rng):
    model = build(label)
    clone = keras.Model.from_config(model.get_config())
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
    clone.set_weights(model.get_weights())
    x = _inputs(model, rng)
    np.testing.assert_allclose(clone(x), model(x), atol=1e-6)


@pytest.mark.parametrize("label", LABELS)
def test_save_and_load_in_safe_mode(label, rng, tmp_path):
    model = build(label)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode=True is the default
    x = _inputs(model, rng)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    assert not any(isinstance(layer, keras.layers.Lambda) for layer in loaded.layers)


def test_saved_models_reload_in_a_fresh_process(tmp_path, rng):
    """All tiny models saved here, reloaded by a new Python process (no keras_resnets import state)."""
    expected = {}
    for label in LABELS:
        model = build(label)
        x = _inputs(model, rng)
        model.save(tmp_path / f"{label}.keras")
        np.save(tmp_path / f"{label}_x.npy", x)
        expected[label] = np.asarray(model(x))
    script = (
        "import json, sys, numpy as np, keras, keras_resnets\n"
        "out = {}\n"
        "for label in json.loads(sys.argv[2]):\n"
        "    m = keras.models.load_model(f'{sys.argv[1]}/{label}.keras', safe_mode=True)\n"
        "    x = np.load(f'{sys.argv[1]}/{label}_x.npy')\n"
        "    np.save(f'{sys.argv[1]}/{label}_y.npy', np.asarray(m(x)))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow")
    subprocess.run([sys.executable, "-c", script, str(tmp_path), json.dumps(LABELS)], check=True, env=env)
    for label in LABELS:
        np.testing.assert_allclose(np.load(tmp_path / f"{label}_y.npy"), expected[label], atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize(
    "label",
    ["resnet_bottleneck_keras", "cifar_resnet_option_a", "resnet_v2", "densenet_memory_efficient", "cifar_preact"],
)
def test_mixed_precision_keeps_logits_float32(label, policy, rng):
    keras.config.set_dtype_policy(policy)
    model = build(label, classifier_activation=None)
    assert model.layers[-1].compute_dtype == "float32"
    compute = policy.split("_")[1]
    assert any(layer.compute_dtype == compute for layer in model.layers if layer.weights)
    y = model(_inputs(model, rng), training=True)
    assert y.dtype == "float32"
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("label", LABELS)
def test_features_only_returns_stage_outputs(label):
    model = build(label, features_only=True)
    assert isinstance(model.output, dict)
    names = sorted(model.output)
    assert names == [f"stage{i + 1}" for i in range(len(names))] and len(names) >= 3
    sizes = [model.output[n].shape[1] for n in names]
    assert sizes == sorted(sizes, reverse=True)  # resolution never grows with depth


def test_features_share_weights_with_the_classifier():
    classifier = keras_resnets.create_model(
        "resnet50", include_top=False, stage_depths=(1, 1, 1, 1), input_shape=(64, 64, 3)
    )
    features = keras_resnets.create_model(
        "resnet50", features_only=True, stage_depths=(1, 1, 1, 1), input_shape=(64, 64, 3)
    )
    features.set_weights(classifier.get_weights())
    x = np.random.default_rng(1).random((1, 64, 64, 3)).astype("float32")
    out = features(x)
    np.testing.assert_allclose(out["stage4"], classifier(x), atol=1e-6)
    assert [out[f"stage{i}"].shape[1] for i in range(1, 5)] == [16, 8, 4, 2]
