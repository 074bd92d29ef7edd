"""Runs the tiny-variant battery on another Keras backend (set KERAS_BACKEND before running).

Usage: KERAS_BACKEND=jax python -m tests.backend_check
Prints one JSON line per variant; exits non-zero on the first failure.
"""

import json
import os
import sys
import tempfile

import keras
import numpy as np

import keras_resnets
from tests.tiny_models import CLASSES, TINY, build


def _gradients(model, x, y):
    """Gradient of the loss w.r.t. every trainable weight, the backend's own way."""
    backend = keras.backend.backend()
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]
    if backend == "jax":
        import jax

        def loss_fn(tv):
            out, _ = model.stateless_call(tv, non_trainable, x, training=True)
            return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, out))

        return [np.asarray(g) for g in jax.jit(jax.grad(loss_fn))(trainable)]
    if backend == "torch":
        out = model(x, training=True)
        loss = keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y, out))
        loss.backward()
        return [v.value.grad.cpu().numpy() for v in model.trainable_variables]
    raise SystemExit(f"no gradient check for backend {backend!r}")


def main():
    rng = np.random.default_rng(0)
    labels = sys.argv[1:] or sorted(TINY)
    with tempfile.TemporaryDirectory() as tmp:
        for label in labels:
            model = build(label)
            # 8 samples, so stochastic depth cannot drop a branch for the whole batch (p < 3e-6).
            x = (rng.random((8,) + model.input_shape[1:]) * 255).astype("float32")
            y = np.arange(8) % CLASSES
            out = keras.ops.convert_to_numpy(model(x, training=False))
            assert out.shape == (8, CLASSES), out.shape
            # Softmax outputs within 1e-4, the export's target for its folded SavedModel: folding reorders float32
            # arithmetic, and torch's CPU convolutions round differently from run to run (2.8e-5 seen under load).
            # Compared on [0, 1) pixels: on raw [0, 255] ones the untrained tiny Residual Attention net's folded
            # softmax once differed by 3e-3 on JAX with both cores loaded (and passed alone): large activations make
            # float32 reordering visible.
            unit = x / 255.0
            reference = keras.ops.convert_to_numpy(model(unit, training=False))
            folded = keras.ops.convert_to_numpy(keras_resnets.fold_batch_norm(model)(unit, training=False))
            worst = float(np.abs(folded - reference).max())
            assert np.allclose(folded, reference, rtol=1e-4, atol=1e-4), (label, worst)
            grads = _gradients(model, x, y)
            assert len(grads) == len(model.trainable_variables)
            assert all(g is not None and np.all(np.isfinite(g)) for g in grads), label
            nonzero = np.mean([float(np.abs(g).max()) > 0 for g in grads])
            assert nonzero > 0.9, (label, nonzero)
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
            loss = model.fit(x, y, epochs=1, batch_size=8, verbose=0).history["loss"][0]
            assert np.isfinite(loss), label
            path = os.path.join(tmp, f"{label}.keras")
            model.save(path)
            loaded = keras.models.load_model(path)
            diff = float(np.abs(keras.ops.convert_to_numpy(loaded(x)) - keras.ops.convert_to_numpy(model(x))).max())
            assert diff < 1e-5, (label, diff)
            print(json.dumps({"backend": keras.backend.backend(), "model": label, "reload_diff": diff}), flush=True)


if __name__ == "__main__":
    main()
