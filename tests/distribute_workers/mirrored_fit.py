"""MirroredStrategy over two logical CPU devices vs one device (started by tests/test_training_distribute.py).

The CPU must be split before TensorFlow initializes, hence a process of its own. Trains the same tiny
model from the same initial weights on the same global batches three ways (one device; mirrored with
synchronized BatchNorm; mirrored with per-replica BatchNorm) and prints one JSON line `RESULT {...}`
with the largest weight differences to the single-device run.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

import keras_resnets  # noqa: E402
from training import distribute  # noqa: E402

GLOBAL_BATCH, STEPS = 8, 4


def dataset():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(GLOBAL_BATCH * STEPS, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, size=GLOBAL_BATCH * STEPS).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)


def build():
    return keras_resnets.create_model(
        "resnet20", stage_depths=(1, 1, 1), stage_widths=(4, 8, 8), stem_width=4, input_shape=(8, 8, 3), classes=3
    )


def train(strategy, init, sync_bn):
    with strategy.scope():
        model = build()
        model.set_weights(init)
        if sync_bn:
            model = distribute.synchronize_batch_norm(model)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    history = model.fit(dataset(), epochs=1, verbose=0)
    return model.get_weights(), history.history["loss"][-1], model


def max_diff(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def main():
    keras.utils.set_random_seed(0)
    init = build().get_weights()
    single, single_loss, _ = train(tf.distribute.get_strategy(), init, sync_bn=False)
    mirrored = distribute.get_strategy("mirrored", sync_batch_norm=True)
    info = distribute.replica_info(mirrored)
    synced, synced_loss, synced_model = train(mirrored, init, sync_bn=info["sync_batch_norm"])
    local, local_loss, _ = train(mirrored, init, sync_bn=False)
    result = dict(
        info=info,
        per_replica_batch=distribute.check_global_batch(GLOBAL_BATCH, mirrored),
        devices=list(mirrored.extended.worker_devices),
        losses=dict(single=single_loss, sync_bn=synced_loss, local_bn=local_loss),
        max_diff_sync_bn=max_diff(single, synced),
        max_diff_local_bn=max_diff(single, local),
        weights_moved=max_diff(init, single),
        synchronized=[
            layer.synchronized for layer in synced_model.layers if isinstance(layer, keras.layers.BatchNormalization)
        ],
    )
    print("RESULT", json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
