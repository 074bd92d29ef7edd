"""JAX DataParallel over two host devices (started by tests/test_training_distribute.py).

Needs KERAS_BACKEND=jax and XLA_FLAGS=--xla_force_host_platform_device_count=2 in the environment
(set before JAX starts). Trains the same tiny model from the same initial weights on one device and
then under DataParallel, and prints one JSON line `RESULT {...}`.
"""

import json
import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_resnets  # noqa: E402
from training import distribute  # noqa: E402


def build():
    return keras_resnets.create_model(
        "resnet20", stage_depths=(1, 1, 1), stage_widths=(4, 8, 8), stem_width=4, input_shape=(8, 8, 3), classes=3
    )


def train(init, x, y):
    model = build()
    model.set_weights(init)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model, history.history["loss"]


def main():
    assert keras.backend.backend() == "jax", keras.backend.backend()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8, 8, 3)).astype("float32")
    y = rng.integers(0, 3, size=32).astype("int32")
    keras.utils.set_random_seed(0)
    init = build().get_weights()
    single, single_losses = train(init, x, y)  # no distribution set yet: one device

    distribution = distribute.get_jax_distribution("auto")
    info = distribute.replica_info(distribution)
    per_replica = distribute.check_global_batch(8, distribution)
    model, losses = train(init, x, y)
    kernel = model.trainable_variables[0].value
    batch = keras.distribution.distribute_tensor(x[:8], distribution.get_data_layout(x[:8].shape))
    result = {
        "info": info,
        "per_replica_batch": per_replica,
        "jax_devices": len(jax.devices()),
        "mesh_devices": int(distribution.device_mesh.devices.size) if distribution is not None else 0,
        "variable_devices": len(kernel.sharding.device_set),
        "batch_shard_rows": sorted(int(shard.data.shape[0]) for shard in batch.addressable_shards),
        "losses": [float(v) for v in losses],
        "finite": all(math.isfinite(v) for v in losses),
        "max_diff_to_single_device": max(
            float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), model.get_weights())
        ),
        "single_losses": [float(v) for v in single_losses],
    }
    print("RESULT", json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
