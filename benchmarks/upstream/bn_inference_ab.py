"""Compiled inference with Keras' BatchNormalization ops against TensorFlow's fused kernel, float32 and bfloat16.

Keras 3's `BatchNormalization.call` casts a bfloat16 input to float32, normalizes with separate ops and casts back.
The package's `keras_resnets.layers.BatchNormalization` runs TensorFlow's `FusedBatchNormV3` instead (at inference
its inference mode, which takes bfloat16 activations as they are). This script times one network three ways, each
in a fresh process, the three interleaved over rounds: every BatchNormalization on Keras' own path ("keras": the
package's layer with Keras' `call`), on the fused kernel ("fused": the package as shipped), and folded into the
convolutions ("folded": `keras_resnets.fold_batch_norm`). Compiled inference: `tf.function` of the model called
with `training=False`, after warm-up; images/s of the median batch.

    python benchmarks/upstream/bn_inference_ab.py                     # ResNet-20 and ResNet50, both precisions
    python benchmarks/upstream/bn_inference_ab.py --models resnet20 --rounds 5

Prints one JSON line per measurement, then the medians and the per-round ratios against "keras".
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

SETUPS = {"resnet20": (32, 128, 30), "resnet50": (224, 32, 8)}  # image size, batch, timed batches
VARIANTS = ("keras", "fused", "folded")
POLICIES = ("float32", "mixed_bfloat16")


def measure(model_name, variant, policy):
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_resnets
    from keras_resnets import layers

    keras.mixed_precision.set_dtype_policy(policy)
    if variant == "keras":  # Keras' own call: casts to float32, separate ops, casts back
        layers.BatchNormalization.call = keras.layers.BatchNormalization.call
    size, batch, repeats = SETUPS[model_name]
    if model_name == "resnet50":
        model = keras_resnets.ResNet50(weights=None)
    else:
        model = keras_resnets.create_model(model_name, input_shape=(size, size, 3), classes=10)
    if variant == "folded":
        model = keras_resnets.fold_batch_norm(model)
    x = tf.constant(np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32"))
    run = tf.function(lambda x: model(x, training=False))
    for _ in range(3):
        run(x).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(x).numpy()
        times.append(time.perf_counter() - start)
    return {"model": model_name, "variant": variant, "policy": policy,
            "images_per_second": round(batch / statistics.median(times), 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet20,resnet50", help=f"comma-separated, from {', '.join(SETUPS)}")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--one", default=None, help="(internal) MODEL,VARIANT,POLICY: one measurement")
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(*args.one.split(","))), flush=True)
        return 0
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in models if m not in SETUPS]
    if unknown or not models or args.rounds < 1:
        parser.error(f"--models from {', '.join(SETUPS)} and --rounds >= 1. Received: --models {args.models!r}, "
                     f"--rounds {args.rounds}")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="1", PYTHONPATH=root)
    summary = {}
    for model in models:
        for policy in POLICIES:
            runs = {v: [] for v in VARIANTS}
            for _ in range(args.rounds):
                for variant in VARIANTS:
                    done = subprocess.run([sys.executable, os.path.abspath(__file__), "--one",
                                           f"{model},{variant},{policy}"], capture_output=True, text=True, env=env,
                                          cwd=root)
                    if done.returncode != 0:
                        print(f"{model} {variant} {policy}: failed: {done.stderr.strip()[-800:]}", file=sys.stderr)
                        return 1
                    result = json.loads(done.stdout.strip().splitlines()[-1])
                    print(json.dumps(result), flush=True)
                    runs[variant].append(result["images_per_second"])
            summary[f"{model} {policy}"] = {
                "images_per_second": {v: statistics.median(r) for v, r in runs.items()},
                "over_keras": {v: [round(a / b, 2) for a, b in zip(runs[v], runs["keras"])] for v in VARIANTS[1:]}}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
