"""One worker of a two-process MultiWorkerMirroredStrategy run (started by tests/test_training_distribute.py).

Usage: TF_CONFIG=... python multi_worker_fit.py OUT_DIR MODE
MODE "fixed": get_strategy("auto") (which applies enable_multi_worker_fit); "unfixed_symbolic_build" and
"unfixed_reduce": a bare MultiWorkerMirroredStrategy with only the other half of the fix, so that the run meets
the one Keras bug named (training/distribute.py: SYMBOLIC_BUILD_BUG, REDUCE_BUG) and no other. Writes OUT_DIR/weights_<i>.npz (init_* and final_* arrays) and OUT_DIR/result_<i>.json.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ["KERAS_BACKEND"] = "tensorflow"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from training import distribute  # noqa: E402

GLOBAL_BATCH = 8


def dataset():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 8, 8, 3)).astype("float32")
    y = (x.mean(axis=(1, 2, 3)) > 0).astype("int32") + (x[:, 0, 0, 0] > 1).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH).repeat()


def main(out_dir, mode):
    if mode == "fixed":
        strategy = distribute.get_strategy("auto", sync_batch_norm=True)
    else:
        other_half = {"unfixed_symbolic_build": distribute._patch_reduce_per_replica,
                      "unfixed_reduce": distribute._patch_symbolic_build}[mode]
        other_half()
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    import keras

    import keras_resnets

    keras.config.disable_traceback_filtering()  # full tracebacks name the failing Keras function
    info = distribute.replica_info(strategy)
    per_replica = distribute.check_global_batch(GLOBAL_BATCH, strategy)
    keras.utils.set_random_seed(0)
    with strategy.scope():
        model = keras_resnets.create_model(
            "resnet20", stage_depths=(1, 1, 1), stage_widths=(4, 8, 8), stem_width=4, input_shape=(8, 8, 3), classes=3
        )
        if info["sync_batch_norm"]:
            model = distribute.synchronize_batch_norm(model)
        model.compile(
            optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    init = [w.copy() for w in model.get_weights()]
    history = model.fit(dataset(), epochs=2, steps_per_epoch=3, verbose=0)
    evaluation = model.evaluate(dataset(), steps=2, verbose=0, return_dict=True)
    final = model.get_weights()
    index = info["worker_index"]
    np.savez(
        os.path.join(out_dir, f"weights_{index}.npz"),
        **{f"init_{i}": w for i, w in enumerate(init)},
        **{f"final_{i}": w for i, w in enumerate(final)},
    )
    result = dict(
        info=info,
        per_replica_batch=per_replica,
        history={k: [float(v) for v in vs] for k, vs in history.history.items()},
        evaluation={k: float(v) for k, v in evaluation.items()},
        synchronized_bn=[
            layer.synchronized for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)
        ],
    )
    with open(os.path.join(out_dir, f"result_{index}.json"), "w") as f:
        json.dump(result, f)
    print("WORKER_DONE", json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
