"""One measurement in a fresh process: `python -m benchmarks.worker '<json spec>'`.

The runner (benchmarks/runner.py) starts one of these per measurement so that every candidate of a
comparison gets the same clean process (backend, thread pools, allocator state) and the runs can be
interleaved. The spec's "kind" picks the function below; the backend is set from `spec["backend"]`
before Keras is imported. The result is printed as one JSON line after `RESULT_PREFIX`.

Timings are medians of repeats after warm-up; `peak_rss_mib` is the process's peak resident memory
(`getrusage` max RSS), `rss_after_build_mib` the resident memory before the measured work started.
"""

import json
import os
import resource
import statistics
import sys
import tempfile
import time

RESULT_PREFIX = "BENCH_RESULT "


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _timed(fn, warmup: int, repeats: int) -> list:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def _summary(times) -> dict:
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "repeats": len(times)}


# ----------------------------------------------------------------------------------------------------
# The machine's ceiling


def ceiling(spec):
    """Single-precision matrix-multiply GFLOP/s: numpy (the BLAS it links) and the Keras backend's own."""
    import numpy as np

    n = spec.get("n", 2048)
    repeats, warmup = spec.get("repeats", 10), spec.get("warmup", 2)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    flops = 2.0 * n**3
    results = {"n": n, "flops": flops}
    results["numpy"] = _summary(_timed(lambda: a @ b, warmup, repeats))
    backend = spec.get("backend", "tensorflow")
    if backend == "tensorflow":
        import tensorflow as tf

        ta, tb = tf.constant(a), tf.constant(b)
        matmul = tf.function(tf.linalg.matmul)
        results[backend] = _summary(_timed(lambda: matmul(ta, tb).numpy(), warmup, repeats))
    elif backend == "jax":
        import jax

        ja, jb = jax.device_put(a), jax.device_put(b)
        matmul = jax.jit(lambda x, y: x @ y)
        results[backend] = _summary(_timed(lambda: matmul(ja, jb).block_until_ready(), warmup, repeats))
    for key in ("numpy", backend):
        results[key]["gflops"] = flops / results[key]["median_s"] / 1e9
    results["gflops"] = max(results["numpy"]["gflops"], results[backend]["gflops"])
    return results


# ----------------------------------------------------------------------------------------------------
# Models


def build_model(source: str, name: str, input_shape, classes: int = 1000, **kwargs):
    """`source` is "keras_resnets" (a registered name) or "keras_applications" (a class name there)."""
    import keras

    if source == "keras_resnets":
        import keras_resnets

        return keras_resnets.create_model(name, input_shape=tuple(input_shape), classes=classes, **kwargs)
    if source == "keras_applications":
        factory = keras.applications
        for part in name.split("."):  # "ResNet50", or "densenet.DenseNet" with blocks=[...]
            factory = getattr(factory, part)
        return factory(weights=None, input_shape=tuple(input_shape), classes=classes, **kwargs)
    raise ValueError(f"source must be 'keras_resnets' or 'keras_applications'. Received: {source!r}")


def _walk_layers(model):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:
            yield from _walk_layers(layer)
        else:
            yield layer


def count_flops(model) -> float:
    """Forward FLOPs per image (2 x multiply-adds) of the convolutions and dense layers.

    BatchNorm, activations, pooling and additions are left out, as in the papers' FLOP counts.
    """
    import keras

    total = 0.0
    for layer in _walk_layers(model):
        if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            try:
                out = layer.output.shape
            except (AttributeError, ValueError):
                continue
            kh, kw, cin_per_group, cout = layer.kernel.shape
            if isinstance(layer, keras.layers.DepthwiseConv2D):
                cout = cin_per_group * cout
                cin_per_group = 1
            total += 2.0 * out[1] * out[2] * kh * kw * cin_per_group * cout
        elif isinstance(layer, keras.layers.Dense):
            total += 2.0 * layer.kernel.shape[0] * layer.kernel.shape[1]
    return total


# ----------------------------------------------------------------------------------------------------
# Inference


def inference(spec):
    """Batch latency of a classifier: eager call, compiled predict (`jit_compile=False`), XLA or LiteRT.

    "litert": the package's float32 LiteRT export of the model (`keras_resnets.export.export_model`, whose
    SavedModel has its BatchNorms folded), run by ai_edge_litert with XNNPACK on every core this process
    may use, on the same batch.
    """
    import keras
    import numpy as np

    size, batch = spec["image_size"], spec["batch_size"]
    if spec.get("dtype_policy"):
        keras.config.set_dtype_policy(spec["dtype_policy"])
    model = build_model(spec["source"], spec["model"], (size, size, 3), spec.get("classes", 1000))
    flops = count_flops(model) * batch  # folding leaves the convolutions' FLOPs as they are
    folded = 0
    if spec.get("fold_batch_norm"):
        import keras_resnets

        before = sum(isinstance(layer, keras.layers.BatchNormalization) for layer in _walk_layers(model))
        model = keras_resnets.fold_batch_norm(model)
        folded = before - sum(isinstance(layer, keras.layers.BatchNormalization) for layer in _walk_layers(model))
    x = np.random.default_rng(0).uniform(0, 255, (batch, size, size, 3)).astype("float32")
    mode = spec["mode"]
    if mode == "eager":
        def run():
            keras.ops.convert_to_numpy(model(x, training=False))
    elif mode in ("compiled", "xla"):
        model.compile(jit_compile=(mode == "xla"))

        def run():
            model.predict_on_batch(x)
    elif mode == "litert":
        return _litert_inference(spec, model, x, flops)
    else:
        raise ValueError(f"mode must be 'eager', 'compiled', 'xla' or 'litert'. Received: {mode!r}")
    rss = _rss_mib()
    times = _timed(run, spec.get("warmup", 2), spec.get("repeats", 5))
    result = _summary(times)
    result.update(images_per_second=batch / result["median_s"], gflops=flops / result["median_s"] / 1e9,
                  flops_per_batch=flops, rss_after_build_mib=rss, batch_norms_folded=folded)
    return result


def _litert_inference(spec, model, x, flops):
    from keras_resnets import export

    threads = spec.get("threads") or len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "export")
        meta = export.export_model(model, out, formats=("saved_model", "float32"), preprocessing="none",
                                   num_verify=spec.get("num_verify", 4), benchmark=False, warn_only=True)
        runner = export.LiteRTRunner(os.path.join(out, export.FORMATS["float32"]), num_threads=threads)
        runner.set_input(x)
        rss = _rss_mib()
        times = _timed(runner.interpreter.invoke, spec.get("warmup", 2), spec.get("repeats", 5))
    result = _summary(times)
    result.update(images_per_second=len(x) / result["median_s"], gflops=flops / result["median_s"] / 1e9,
                  flops_per_batch=flops, rss_after_build_mib=rss, threads=threads,
                  batch_norms_folded=meta["batch_norm"]["folded_in_saved_model"],
                  max_abs_diff=meta["verification"]["float32"]["max_abs_diff"])
    return result


# ----------------------------------------------------------------------------------------------------
# Training throughput


def _epoch_timer():
    import keras

    class EpochTimer(keras.callbacks.Callback):
        """Images/s of each epoch, first batch start to last batch end (no epoch-end work)."""

        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                self._start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self._end = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(self._end - self._start)

    return EpochTimer()


def train_keras_defaults(spec):
    """The baseline: a plain `model.fit` of the same architecture with Keras' defaults.

    Numpy arrays in (Keras' own array adapter), SGD with momentum, categorical cross-entropy, accuracy,
    `compile()` defaults for everything else (jit_compile="auto", steps_per_execution=1).
    """
    import keras
    import numpy as np

    size, batch, steps, epochs = spec["image_size"], spec["batch_size"], spec["steps"], spec["epochs"]
    channels, classes = spec.get("channels", 3), spec.get("classes", 10)
    keras.utils.set_random_seed(0)
    model = build_model(spec.get("source", "keras_resnets"), spec["model"], (size, size, channels), classes)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (steps * batch, size, size, channels)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, classes, steps * batch), classes)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="categorical_crossentropy",
                  metrics=["accuracy"])
    timer = _epoch_timer()
    rss = _rss_mib()
    model.fit(x, y, batch_size=batch, epochs=epochs, callbacks=[timer], verbose=0)
    return _epoch_result(timer.seconds, steps * batch, rss, jit_compile=str(model.jit_compile))


def _epoch_result(seconds, images_per_epoch, rss, **extra):
    measured = seconds[1:] if len(seconds) > 1 else seconds  # the first epoch traces and compiles
    result = _summary(measured)
    result.update(images_per_second=images_per_epoch / result["median_s"],
                  epoch_images_per_second=[images_per_epoch / s for s in seconds], rss_after_build_mib=rss,
                  **extra)
    return result


def train_package(spec):
    """The training package's own path: a recipe run end to end by `training.train.train_and_evaluate`.

    The recipe's data pipeline (tf.data, augmentation), optimizer, schedule, callbacks (crash backups,
    CSV/TensorBoard logs, best checkpoint) and compile settings, on synthetic images of the recipe's
    shape (no dataset download needed), with W&B disabled. Images/s per epoch are read from the run's
    history (the ThroughputLogger's training-only time).
    """
    import csv

    from training import config as config_lib
    from training.train import train_and_evaluate

    size, batch, steps, epochs = spec["image_size"], spec["batch_size"], spec["steps"], spec["epochs"]
    channels, classes = spec.get("channels", 3), spec.get("classes", 10)
    config = config_lib.load_recipe(spec["recipe"])
    overrides = {
        "epochs": epochs, "steps_per_epoch": steps, "batch_size": batch, "wandb.mode": "disabled",
        "export_formats": (),  # model.keras only: the case measures training, and JAX runs export no SavedModel
        "data.name": "synthetic", "data.validation_split": None, "data.download": False,
        "data.synthetic": {"num_examples": {"train": steps * batch, "test": batch},
                           "image_shape": [size, size, channels], "num_classes": classes},
        "model.kwargs": dict(config.model.kwargs) | spec.get("model_kwargs", {}),
        **spec.get("set", {}),
    }
    if config.data.get("image_size"):
        overrides.update({"data.image_size": size, "data.eval_image_size": size, "data.crop_fraction": None})
    for key, value in overrides.items():
        config_lib.set_value(config, key, value, allow_new=True)
    with tempfile.TemporaryDirectory() as tmp:
        config.export_dir = os.path.join(tmp, "export")
        rss = _rss_mib()
        summary = train_and_evaluate(config, os.path.join(tmp, "run"), log=lambda *a: None)
        with open(os.path.join(tmp, "run", "history.csv")) as f:
            seconds = [float(row["epoch_seconds"]) for row in csv.DictReader(f)]
    return _epoch_result(seconds, steps * batch, rss, run_images_per_second=summary["images_per_second"],
                         jit_compile=str(config.jit_compile), steps_per_execution=config.steps_per_execution)


def _flush_denormals(spec):
    """spec["flush_denormals"]: PyTorch flushes subnormal floats to zero (`torch.set_flush_denormal`), as TensorFlow
    does by default in its threads. Without it PyTorch's ResNet-50 bfloat16 step time varied with the weights
    (subnormal float32 arithmetic is slow on x86; benchmarks/upstream/README.md)."""
    import torch

    if spec.get("flush_denormals") and not torch.set_flush_denormal(True):
        raise RuntimeError("torch.set_flush_denormal(True) is not supported on this CPU")
    return bool(spec.get("flush_denormals"))


def _autocast(spec):
    """`torch.autocast("cpu", dtype=torch.bfloat16)` where spec["autocast"] is "bfloat16", else a no-op context."""
    import contextlib

    import torch

    if spec.get("autocast") in (None, "float32"):
        return contextlib.nullcontext()
    if spec["autocast"] != "bfloat16":
        raise ValueError(f"autocast must be 'bfloat16' or None. Received: {spec['autocast']!r}")
    return torch.autocast("cpu", dtype=torch.bfloat16)


def train_torch(spec):
    """The same network in PyTorch (hand-written, benchmarks/torch_models.py), channels_last, eager; with
    spec["autocast"]="bfloat16" the forward pass and loss run under `torch.autocast("cpu", torch.bfloat16)`."""
    import torch

    from benchmarks import torch_models

    size, batch, steps, epochs = spec["image_size"], spec["batch_size"], spec["steps"], spec["epochs"]
    flush = _flush_denormals(spec)
    torch.manual_seed(0)
    model = torch_models.build(spec["model"], num_classes=spec.get("classes", 10))
    model = model.to(memory_format=torch.channels_last)
    if spec.get("compile"):
        model = torch.compile(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.rand(steps * batch, 3, size, size) * 255
    y = torch.randint(0, spec.get("classes", 10), (steps * batch,))
    rss = _rss_mib()
    seconds = []
    model.train()
    for _ in range(epochs):
        start = time.perf_counter()
        for step in range(steps):
            xb = (x[step * batch:(step + 1) * batch] / 127.5 - 1).contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            with _autocast(spec):
                loss = loss_fn(model(xb), y[step * batch:(step + 1) * batch])
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    return _epoch_result(seconds, steps * batch, rss, torch_version=torch.__version__,
                         torch_threads=torch.get_num_threads(), autocast=spec.get("autocast"), flush_denormals=flush)


def infer_torch(spec):
    """Batch latency of the PyTorch network in eval mode under `torch.no_grad()`, channels_last (and autocast);
    spec["fuse_batch_norm"] folds its BatchNorms into the convolutions first
    (`torch.fx.experimental.optimization.fuse`)."""
    import torch

    from benchmarks import torch_models

    size, batch = spec["image_size"], spec["batch_size"]
    flush = _flush_denormals(spec)
    torch.manual_seed(0)
    model = torch_models.build(spec["model"], num_classes=spec.get("classes", 1000)).eval()
    if spec.get("fuse_batch_norm"):  # each BatchNorm folded into the convolution before it, as fold_batch_norm
        from torch.fx.experimental.optimization import fuse

        model = fuse(model)
    model = model.to(memory_format=torch.channels_last)
    x = (torch.rand(batch, 3, size, size) * 2 - 1).contiguous(memory_format=torch.channels_last)

    def run():
        with torch.no_grad(), _autocast(spec):
            model(x)

    rss = _rss_mib()
    result = _summary(_timed(run, spec.get("warmup", 2), spec.get("repeats", 5)))
    result.update(images_per_second=batch / result["median_s"], rss_after_build_mib=rss,
                  torch_version=torch.__version__, autocast=spec.get("autocast"),
                  fuse_batch_norm=bool(spec.get("fuse_batch_norm")), flush_denormals=flush)
    return result


# ----------------------------------------------------------------------------------------------------
# Memory: peak resident memory of a training loop


def train_memory(spec):
    """Step time and peak resident memory of `train_on_batch` on one random batch, repeated."""
    import keras
    import numpy as np

    size, batch = spec["image_size"], spec["batch_size"]
    classes = spec.get("classes", 1000)
    keras.utils.set_random_seed(0)
    model = build_model(spec["source"], spec["model"], (size, size, 3), classes, **spec.get("model_kwargs", {}))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, classes, batch), classes)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="categorical_crossentropy",
                  jit_compile=False)
    rss = _rss_mib()
    step = lambda: model.train_on_batch(x, y)  # noqa: E731
    for _ in range(spec.get("warmup", 1)):
        step()
    tensor_stats = _reset_tensor_memory_stats()
    times = _timed(step, 0, spec.get("repeats", 3))
    result = _summary(times)
    result.update(images_per_second=batch / result["median_s"], rss_after_build_mib=rss,
                  parameters=model.count_params())
    if tensor_stats:
        # Bytes of live tensors at the peak of a training step, as TensorFlow's allocator counts them: what
        # the model's design decides, without the runtime, caches and allocator slack that RSS adds.
        import tensorflow as tf

        result["peak_tensor_mib"] = tf.config.experimental.get_memory_info("CPU:0")["peak"] / 2**20
    return result


def _reset_tensor_memory_stats() -> bool:
    """Resets TensorFlow's CPU allocator peak; False where it keeps no statistics.

    TensorFlow counts CPU tensor memory only with its BFC allocator (`TF_CPU_ALLOCATOR_USE_BFC=true`).
    """
    import keras

    if keras.backend.backend() != "tensorflow" or os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() != "true":
        return False
    import tensorflow as tf

    tf.config.experimental.reset_memory_stats("CPU:0")
    return True


# ----------------------------------------------------------------------------------------------------
# The input pipeline alone


def pipeline(spec):
    """Images/s of the training package's tf.data pipeline (decode, augment, batch), no model."""
    from training import data as data_lib

    data_config = {"name": spec.get("dataset", "fashion_mnist"), "data_dir": None, "download": False,
                   "validation_split": None}
    if data_config["name"] == "synthetic":
        data_config["synthetic"] = spec["synthetic"]
    splits, info = data_lib.load_splits(data_config)
    stream = data_lib.make_pipeline(splits["train"], info, batch_size=spec["batch_size"], training=True, seed=0,
                                    augment=spec.get("augment", {}), repeat=True)
    iterator = iter(stream)
    batches = spec.get("batches", 50)
    for _ in range(spec.get("warmup", 5)):
        next(iterator)
    times = []
    for _ in range(spec.get("repeats", 3)):
        start = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        times.append(time.perf_counter() - start)
    result = _summary(times)
    result.update(images_per_second=batches * spec["batch_size"] / result["median_s"], source=info.source)
    return result


# ----------------------------------------------------------------------------------------------------
# LiteRT latency


def litert(spec):
    """Exports a model as float32, float16 and int8 LiteRT (the package's export) and times batch-1 runs."""
    import numpy as np

    from keras_resnets import export

    size = spec["image_size"]
    model = build_model(spec["source"], spec["model"], (size, size, 3), spec.get("classes", 1000))
    calibration = np.random.default_rng(0).uniform(0, 255, (spec.get("num_calibration", 8), size, size, 3))
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "export")
        meta = export.export_model(
            model, out, formats=("saved_model", "float32", "float16", "int8"), preprocessing=spec["preprocessing"],
            calibration_images=calibration.astype("float32"), num_calibration=len(calibration),
            num_verify=spec.get("num_verify", 8), benchmark=False, warn_only=True)
        result = {"verification": meta.get("verification", {})}
        for fmt, filename in (("float32", "model_float32.tflite"), ("float16", "model_float16.tflite"),
                              ("int8", "model_int8.tflite")):
            path = os.path.join(out, filename)
            result[fmt] = export.benchmark_tflite(path, threads=tuple(spec.get("threads", (1, 2))),
                                                  repeats=spec.get("repeats", 20), warmup=spec.get("warmup", 3))
            result[fmt]["size_bytes"] = os.path.getsize(path)
    return result


def fit_feed(spec):
    """`model.fit` fed one way (benchmarks/upstream/fit_epochs_repro.py): numpy arrays, a finite tf.data dataset,
    an endless stream with `steps_per_epoch`, or `train_on_batch` in a loop; the plain-Keras ResNet-20 or ours."""
    from benchmarks.upstream import fit_epochs_repro

    result = fit_epochs_repro.run(spec["feed"], epochs=spec["epochs"], steps=spec["steps"], batch=spec["batch_size"],
                                  model_name=spec.get("model_source", "plain"))
    seconds = result["epoch_seconds"]
    measured = seconds[1:]
    median = statistics.median(measured)
    return _epoch_result(seconds, spec["steps"] * spec["batch_size"], _rss_mib(),
                         epoch_seconds=seconds, slow_epochs=sum(s > 1.3 * median for s in measured),
                         max_over_median=max(measured) / median)


KINDS = {
    "fit_feed": fit_feed,
    "ceiling": ceiling,
    "inference": inference,
    "train_keras_defaults": train_keras_defaults,
    "train_package": train_package,
    "train_torch": train_torch,
    "infer_torch": infer_torch,
    "train_memory": train_memory,
    "pipeline": pipeline,
    "litert": litert,
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m benchmarks.worker '<json spec>'", file=sys.stderr)
        return 2
    spec = json.loads(argv[0])
    if spec.get("kind") not in KINDS:
        print(f"unknown kind {spec.get('kind')!r}; known: {sorted(KINDS)}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    result = KINDS[spec["kind"]](spec)
    result.update(peak_rss_mib=_peak_rss_mib(), wall_s=time.perf_counter() - started)
    if spec["kind"] != "train_torch" and spec.get("backend", "tensorflow") != "numpy":
        import keras

        result["backend"] = keras.backend.backend()
        result["keras_version"] = keras.__version__
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
