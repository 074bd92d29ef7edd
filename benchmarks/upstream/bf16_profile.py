"""ResNet-50 bfloat16 training on a CPU: where TensorFlow's step goes, against PyTorch's, kernel by kernel.

Trains ResNet-50 (batch 32 at 224, random images, SGD with momentum, cross-entropy) in each framework under its
bfloat16 mode: Keras' `mixed_bfloat16` policy on `keras.applications.ResNet50` (plain Keras layers; `--model
keras_resnets` takes the package's), and `torch.autocast("cpu", dtype=torch.bfloat16)` on the same network in
PyTorch (benchmarks/torch_models.py), channels_last, eager, flushing subnormal floats to zero as TensorFlow does.
Both frameworks run their convolutions and TensorFlow its batch norms through oneDNN, so oneDNN's own log
(`ONEDNN_VERBOSE=1`: each primitive's implementation, memory formats, shape and milliseconds) compares the same
kernels on the same shapes across the two. Each
framework runs in two processes: one with the log on, one without it for the step time and an op-level profile
(TensorFlow's profiler trace, `torch.profiler`). TensorFlow runs one op at a time (inter-op parallelism 1), as
PyTorch's eager loop does, so that each kernel's time is its own.

    python benchmarks/upstream/bf16_profile.py                 # both frameworks, then the comparison
    python benchmarks/upstream/bf16_profile.py --steps 5 --model keras_resnets
    python benchmarks/upstream/bf16_profile.py --model keras_resnets --network resnet20   # batch 128 at 32

Prints one JSON line per framework and process, then the comparison: oneDNN milliseconds per step by primitive,
and the weight-gradient convolutions shape by shape (the largest difference).
"""

import argparse
import collections
import json
import os
import subprocess
import sys
import tempfile
import time

# network: (batch, image size, classes), the bfloat16 benchmark case's setups
NETWORKS = {"resnet50": (32, 224, 1000), "resnet20": (128, 32, 10)}
START, END = "BF16-PROFILE-START", "BF16-PROFILE-END"


def _tensorflow_step(model_name, network):
    import keras
    import numpy as np
    import tensorflow as tf

    # One op at a time, as PyTorch's eager loop: each kernel has both cores and its time is its own, not shared
    # with a concurrent op's (the step time was the same within 3% either way).
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    batch, size, classes = NETWORKS[network]
    if model_name == "keras_resnets":
        import keras_resnets

        model = (keras_resnets.ResNet50(weights=None) if network == "resnet50" else
                 keras_resnets.create_model(network, input_shape=(size, size, 3), classes=classes))
    else:
        model = keras.applications.ResNet50(weights=None)
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    y = rng.integers(0, classes, batch)
    return lambda: model.train_on_batch(x, y)


def _torch_step(network):
    import torch

    from benchmarks import torch_models

    torch.set_flush_denormal(True)  # subnormal floats to zero, as TensorFlow does by default in its threads
    torch.manual_seed(0)
    batch, size, classes = NETWORKS[network]
    model = torch_models.build(network, num_classes=classes).to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = (torch.rand(batch, 3, size, size) * 2 - 1).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,))

    def step():
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return step


def _ops_tensorflow(step, steps):
    """Milliseconds per step of each TensorFlow op type, from a profiler trace of `steps` steps."""
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            step()
        tf.profiler.experimental.stop()
        paths = [os.path.join(d, f) for d, _, fs in os.walk(logdir) for f in fs if f.endswith(".xplane.pb")]
        space = xplane_pb2.XSpace()
        with open(paths[0], "rb") as f:
            space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                if ":" in name and not name.startswith("__"):  # "layer/op_name:OpType" executor events
                    totals[name.rsplit(":", 1)[1]] += event.duration_ps / 1e9
    return {op: round(ms / steps, 1) for op, ms in totals.most_common(20)}


def _ops_torch(step, steps):
    """Milliseconds per step of each PyTorch op (self time), from `torch.profiler` over `steps` steps."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:20]
    return {e.key: round(e.self_cpu_time_total / 1000 / steps, 1) for e in rows}


def worker(framework, model_name, network, steps, verbose):
    """One process: warm up, then `steps` timed steps between markers (oneDNN logs them when verbose), and
    without the log an op-level profile of `steps` more."""
    step = _tensorflow_step(model_name, network) if framework == "tensorflow" else _torch_step(network)
    for _ in range(3):  # tracing, oneDNN primitive creation, first-touch of memory
        step()
    print(START, flush=True)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    print(END, flush=True)
    times.sort()
    batch = NETWORKS[network][0]
    result = {"framework": framework, "network": network,
              "model": model_name if framework == "tensorflow" else f"torch_models.{network}",
              "onednn_verbose": verbose, "step_s_median": round(times[len(times) // 2], 3),
              "images_per_second": round(batch / times[len(times) // 2], 1)}
    if not verbose:
        result["ops_ms_per_step"] = (_ops_tensorflow if framework == "tensorflow" else _ops_torch)(step, steps)
    return result


def parse_onednn(log, steps):
    """{(propagation, kind): ms per step} and {shape: ms per step} of backward-weights convolutions, from the
    verbose lines between the markers."""
    lines = log.splitlines()
    begin, end = lines.index(START), lines.index(END)
    kinds, weight_grads = collections.Counter(), collections.Counter()
    for line in lines[begin:end]:
        fields = line.split(",")
        if not line.startswith("onednn_verbose") or "exec" not in fields:
            continue
        at = fields.index("exec")
        kind, propagation, ms = fields[at + 2], fields[at + 4], float(fields[-1])
        kinds[f"{kind} {propagation}"] += ms / steps
        if kind == "convolution" and propagation == "backward_weights":
            weight_grads[fields[-2]] += ms / steps
    return kinds, weight_grads


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", choices=("tensorflow", "torch"), default=None, help="one worker (internal)")
    parser.add_argument("--model", choices=("keras", "keras_resnets"), default="keras",
                        help="TensorFlow side: keras.applications.ResNet50 (default) or the package's ResNet50")
    parser.add_argument("--network", choices=tuple(NETWORKS), default="resnet50",
                        help="resnet50 (batch 32 at 224, default) or resnet20 (batch 128 at 32; --model keras_resnets)")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per process (default 3)")
    parser.add_argument("--verbose-log", action="store_true", help="(internal) the worker runs with ONEDNN_VERBOSE=1")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be at least 1. Received: {args.steps}")
    if args.network != "resnet50" and args.model == "keras":
        parser.error(f"keras.applications has no {args.network}: add --model keras_resnets. Received: --network "
                     f"{args.network} --model keras")
    if args.framework:
        print(json.dumps(worker(args.framework, args.model, args.network, args.steps, args.verbose_log)), flush=True)
        return 0
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    base = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
    base.pop("ONEDNN_VERBOSE", None)
    logs = {}
    for framework in ("tensorflow", "torch"):
        for verbose in (False, True):
            command = [sys.executable, os.path.abspath(__file__), "--framework", framework, "--model", args.model,
                       "--network", args.network, "--steps", str(args.steps)] + (["--verbose-log"] if verbose else [])
            env = dict(base, **({"ONEDNN_VERBOSE": "1"} if verbose else {}))
            done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=root)
            if done.returncode != 0:
                print(f"{framework}: failed: {done.stderr.strip()[-800:]}", file=sys.stderr)
                return 1
            print(done.stdout.strip().splitlines()[-1], flush=True)
            if verbose:
                logs[framework] = parse_onednn(done.stdout, args.steps)
    (tf_kinds, tf_grads), (pt_kinds, pt_grads) = logs["tensorflow"], logs["torch"]
    comparison = {
        "onednn_ms_per_step": {
            k: {"tensorflow": round(tf_kinds.get(k, 0.0), 1), "torch": round(pt_kinds.get(k, 0.0), 1)}
            for k in sorted(set(tf_kinds) | set(pt_kinds), key=lambda k: -tf_kinds.get(k, 0.0))},
        "weight_gradient_convolutions_ms_per_step": {
            shape: {"tensorflow": round(tf_grads[shape], 2), "torch": round(pt_grads[shape], 2),
                    "ratio": round(tf_grads[shape] / pt_grads[shape], 2)}
            for shape in sorted(set(tf_grads) & set(pt_grads), key=lambda s: pt_grads[s] - tf_grads[s])},
    }
    print(json.dumps(comparison))
    return 0


if __name__ == "__main__":
    sys.exit(main())
