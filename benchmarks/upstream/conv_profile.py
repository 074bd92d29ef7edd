"""Where ResNet-20's training step goes on JAX against TensorFlow: its convolutions alone, forward and backward.

For every 3x3 / 1x1 convolution of a CIFAR ResNet-20 at batch 128 (the shapes of the `jax_path` benchmark case),
times the forward pass plus the gradients with respect to input and kernel, compiled: `jax.jit` (XLA:CPU) in one
process, `tf.function` (oneDNN where TensorFlow uses it) in another. If the convolutions alone show the gap the
whole step shows, the gap is the backends' convolution kernels, not the model code.

    python benchmarks/upstream/conv_profile.py            # both backends, one JSON line each
    python benchmarks/upstream/conv_profile.py --backend jax

Prints per backend: the milliseconds of each convolution shape (median of repeats) and their sum weighted by how
many times ResNet-20 runs each shape.
"""

import argparse
import json
import os
import subprocess
import sys
import time

BATCH = 128
# (height = width, in channels, out channels, kernel, stride, how many times ResNet-20 runs it)
CONVS = [
    (32, 3, 16, 3, 1, 1),  # stem (the package adds a scaling layer before it)
    (32, 16, 16, 3, 1, 6),  # stage 1: 3 blocks of two
    (32, 16, 32, 3, 2, 1),  # stage 2, first conv
    (16, 32, 32, 3, 1, 5),
    (32, 16, 32, 1, 2, 1),  # option-B projection (option A has none)
    (16, 32, 64, 3, 2, 1),  # stage 3, first conv
    (8, 64, 64, 3, 1, 5),
    (16, 32, 64, 1, 2, 1),
]


def _time(fn, repeats=20, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2]


def profile(backend):
    import numpy as np

    rng = np.random.default_rng(0)
    rows = []
    for size, cin, cout, k, stride, count in CONVS:
        x = rng.standard_normal((BATCH, size, size, cin)).astype("float32")
        w = (rng.standard_normal((k, k, cin, cout)) * 0.1).astype("float32")
        if backend == "jax":
            import jax

            def loss(x, w):
                y = jax.lax.conv_general_dilated(x, w, (stride, stride), "SAME",
                                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
                return (y * y).sum()

            step = jax.jit(jax.grad(loss, argnums=(0, 1)))
            xs, ws = jax.device_put(x), jax.device_put(w)

            def run():
                jax.block_until_ready(step(xs, ws))
        else:
            import tensorflow as tf

            xs, ws = tf.constant(x), tf.constant(w)

            @tf.function
            def step(x, w):
                with tf.GradientTape() as tape:
                    tape.watch([x, w])
                    y = tf.nn.conv2d(x, w, stride, "SAME")
                    loss = tf.reduce_sum(y * y)
                return tape.gradient(loss, [x, w])

            def run():
                [g.numpy() for g in step(xs, ws)]
        ms = _time(run) * 1000
        rows.append({"shape": f"{size}x{size}x{cin}->{cout} k{k} s{stride}", "ms": round(ms, 2), "count": count})
    total = sum(r["ms"] * r["count"] for r in rows)
    return {"backend": backend, "batch": BATCH, "convs": rows, "weighted_total_ms": round(total, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("jax", "tensorflow"), default=None)
    args = parser.parse_args(argv)
    if args.backend:
        print(json.dumps(profile(args.backend)))
        return 0
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    for backend in ("tensorflow", "jax"):
        done = subprocess.run([sys.executable, __file__, "--backend", backend], capture_output=True, text=True, env=env)
        print(done.stdout.strip().splitlines()[-1] if done.returncode == 0 else f"{backend}: {done.stderr[-500:]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
