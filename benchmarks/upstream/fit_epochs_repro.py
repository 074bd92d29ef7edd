"""Minimal reproduction: per-epoch time of `model.fit` on a plain-Keras ResNet-20, by how the data is fed.

No keras_resnets code: the network is built from `keras.layers` here, the data is random, so that what it shows is
Keras / TensorFlow behaviour. Every epoch is timed from its first batch's start to its last batch's end (Keras
callbacks), and each batch is timed too, to show where an epoch's extra time falls.

    python benchmarks/upstream/fit_epochs_repro.py --feed arrays --epochs 12
    python benchmarks/upstream/fit_epochs_repro.py --feed finite --epochs 12
    python benchmarks/upstream/fit_epochs_repro.py --feed endless --epochs 12
    python benchmarks/upstream/fit_epochs_repro.py --feed train_on_batch --epochs 12

Prints one JSON line: the feed, the settings, every epoch's seconds and the slowest batch of each epoch.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

FEEDS = ("arrays", "finite", "endless", "train_on_batch")


def resnet20(input_shape=(32, 32, 3), classes=10):
    """He et al.'s CIFAR ResNet-20 (option B shortcuts) from plain Keras layers."""
    import keras
    from keras import layers

    def conv_bn(x, filters, strides=1, relu=True):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x) if relu else x

    inputs = keras.Input(input_shape)
    x = conv_bn(layers.Rescaling(1 / 127.5, offset=-1)(inputs), 16)
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            strides = 2 if stage > 0 and block == 0 else 1
            shortcut = x
            if strides > 1:
                shortcut = layers.BatchNormalization()(layers.Conv2D(filters, 1, strides=2, use_bias=False)(x))
            y = conv_bn(conv_bn(x, filters, strides), filters, relu=False)
            x = layers.ReLU()(layers.Add()([shortcut, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


class Timer:
    """Per-batch and per-epoch seconds (first batch start to last batch end), as Keras callbacks see them."""

    def __init__(self):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_train_batch_begin(self, batch, logs=None):
                timer.batch_start = time.perf_counter()
                if batch == 0:
                    timer.epoch_start = timer.batch_start
                    timer.batches.append([])

            def on_train_batch_end(self, batch, logs=None):
                timer.end = time.perf_counter()
                timer.batches[-1].append(timer.end - timer.batch_start)

            def on_epoch_end(self, epoch, logs=None):
                timer.epochs.append(timer.end - timer.epoch_start)

        self.callback = Callback()
        self.epochs, self.batches = [], []


def build(model):
    """"plain": `resnet20()` above; "keras_resnets": the package's ResNet-20 (option A shortcuts, as registered);
    "keras_resnets_b": the package's with option B shortcuts, `resnet20()` but for the symmetric padding of its
    strided convolutions (PyTorch's, the package's default); "keras_resnets_same": that with padding="same",
    `resnet20()` layer for layer but for BatchNormalization's epsilon (He et al.'s 1e-5, Keras' 1e-3; with the
    same epsilon and weights tests/test_model_options.py checks they compute the same)."""
    if model == "plain":
        return resnet20()
    import keras_resnets

    shortcut = {"keras_resnets": "zero_pad", "keras_resnets_b": "projection", "keras_resnets_same": "projection"}
    padding = "same" if model == "keras_resnets_same" else "symmetric"
    return keras_resnets.create_model("resnet20", input_shape=(32, 32, 3), classes=10, include_preprocessing=True,
                                      shortcut=shortcut[model], padding=padding)


def run(feed, *, epochs, steps, batch, gc_off=False, prefetch=None, model_name="plain"):
    import gc

    import keras
    import numpy as np

    if feed in ("finite", "endless"):
        import tensorflow as tf

    keras.utils.set_random_seed(0)
    model = build(model_name)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (steps * batch, 32, 32, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, steps * batch), 10)
    timer = Timer()
    if gc_off:
        gc.disable()
    if feed == "arrays":
        model.fit(x, y, batch_size=batch, epochs=epochs, callbacks=[timer.callback], verbose=0)
    elif feed in ("finite", "endless"):
        data = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=0).batch(batch)
        data = data.repeat() if feed == "endless" else data
        data = data.prefetch(tf.data.AUTOTUNE if prefetch is None else prefetch)
        model.fit(data, epochs=epochs, steps_per_epoch=steps if feed == "endless" else None,
                  callbacks=[timer.callback], verbose=0)
    else:
        for _ in range(epochs):
            start = time.perf_counter()
            times = []
            for step in range(steps):
                t = time.perf_counter()
                model.train_on_batch(x[step * batch:(step + 1) * batch], y[step * batch:(step + 1) * batch])
                times.append(time.perf_counter() - t)
            timer.epochs.append(time.perf_counter() - start)
            timer.batches.append(times)
    return {"feed": feed, "model": model_name, "epochs": epochs, "steps": steps, "batch": batch, "gc_off": gc_off,
            "keras": keras.__version__, "backend": keras.backend.backend(),
            "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "(TensorFlow's default)"),
            "epoch_seconds": [round(s, 3) for s in timer.epochs],
            "slowest_batch": [[int(np.argmax(b)), round(float(max(b)), 3)] for b in timer.batches]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feed", choices=FEEDS, required=True)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--steps", type=int, default=16)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--model", choices=("plain", "keras_resnets", "keras_resnets_b", "keras_resnets_same"),
                        default="plain")
    parser.add_argument("--gc-off", action="store_true", help="gc.disable() before training")
    parser.add_argument("--prefetch", type=int, default=None, help="finite/endless: prefetch buffer (AUTOTUNE)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.feed, epochs=args.epochs, steps=args.steps, batch=args.batch, gc_off=args.gc_off,
                         prefetch=args.prefetch, model_name=args.model)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
