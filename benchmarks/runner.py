"""The benchmark runner: `python -m benchmarks [--quick] [--cases ...] [--out DIR]`.

Every measurement runs in a fresh worker process (benchmarks/worker.py). A comparison runs its
candidates interleaved, A B C, B C A, C A B, ... for `--rounds` rounds, so that a slow spell of the shared
machine hits every candidate alike; each worker reports the median of its own repeats after warm-up,
and the tables give the median over rounds with the range. Ratios are computed per round (the paired
runs) and summarized the same way. The machine's matrix-multiply ceiling is measured in the same run.

Each run writes its own `results/<date>-<cases>.json` under `--out` (command, date, git commit, machine and
every case's raw results), after every case, then regenerates `RESULTS.md` and `plots/` from all the files there
(`python -m benchmarks report`; benchmarks/report.py). A run never edits another run's file.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks import report
from benchmarks.worker import RESULT_PREFIX
from training.machine import CPU_FEATURES, git_commit, machine_facts  # noqa: F401  (CPU_FEATURES: this module's surface)

CASES = ("ceiling", "inference", "training", "litert", "memory", "pipeline", "scaling", "training_settings",
         "fit_on_arrays", "jax_path", "bfloat16")
# Not in a default run: training_settings is a profile of the training case's ResNet-20 row (about 15 minutes),
# run when that row is being worked on. (Time to accuracy is not measured here: `python -m benchmarks report`
# reads it from the committed training runs under benchmarks/runs/.)
# fit_on_arrays (about 10 minutes) is the feed comparison of issue 24, run when the epoch timing is in question.
# jax_path (about 18 minutes): our ResNet-20 against the same network from plain Keras layers, on JAX and TF.
# bfloat16 (about 25 minutes): ours under mixed_bfloat16 against PyTorch under torch.autocast, and both in float32.
OPT_IN_CASES = ("training_settings", "fit_on_arrays", "jax_path", "bfloat16")


class Context:
    def __init__(self, args):
        self.quick = args.quick
        self.rounds = args.rounds or (1 if args.quick else 3)
        # The ImageNet-size comparisons (ResNet50 inference and training, DenseNet-121 memory) take minutes
        # per process; they get their own, smaller, round count.
        self.big_rounds = 1 if args.quick else (args.big_rounds or 1)
        self.python = sys.executable
        self.torch_python = args.torch_python or sys.executable
        self.timeout = args.timeout
        self.results = {}
        self.log = print if not args.quiet else (lambda *a, **k: None)
        self.inference_settings = [x.strip() for x in (args.inference_settings or "").split(";") if x.strip()]

    def size(self, quick, full):
        return quick if self.quick else full


def run_worker(ctx, spec, *, backend="tensorflow", python=None):
    """Runs one measurement in a fresh process; returns its result dict or {"error": ...}."""
    spec = dict(spec, backend=backend)
    env = dict(os.environ, KERAS_BACKEND=backend if backend != "numpy" else "tensorflow",
               TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=os.pathsep.join(filter(None, [_root(), os.environ.get("PYTHONPATH")])))
    # TensorFlow's own default unless the spec asks otherwise (the training package sets it itself, on
    # import, as its default): results must not depend on the caller's shell.
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    env.update(spec.get("env", {}))
    command = [python or ctx.python, "-m", "benchmarks.worker", json.dumps(spec)]
    started = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=ctx.timeout, cwd=_root())
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {ctx.timeout} s"}
    for line in done.stdout.splitlines()[::-1]:
        if line.startswith(RESULT_PREFIX):
            result = json.loads(line[len(RESULT_PREFIX):])
            ctx.log(f"    {spec['kind']} {_label(spec)}: {_brief(result)} ({time.perf_counter() - started:.0f} s)")
            return result
    tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    ctx.log(f"    {spec['kind']} {_label(spec)}: FAILED: {' | '.join(tail)}")
    return {"error": " | ".join(tail) or f"exit {done.returncode}"}


def _root():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _label(spec):
    return " ".join(f"{k}={v}" for k, v in spec.items() if k in ("source", "model", "mode", "recipe", "backend"))


def _brief(result):
    for key in ("images_per_second", "gflops"):
        if key in result:
            return f"{key} {result[key]:.1f}"
    return "ok"


def interleaved(ctx, candidates: dict, rounds=None) -> dict:
    """candidates: label -> (spec, backend, python). Returns label -> list of results, one per round."""
    labels = list(candidates)
    out = {label: [] for label in labels}
    for r in range(rounds or ctx.rounds):
        order = labels[r % len(labels):] + labels[:r % len(labels)]
        for label in order:
            spec, backend, python = candidates[label]
            out[label].append(run_worker(ctx, spec, backend=backend, python=python))
    return out


def stat(results, key="images_per_second"):
    values = [r[key] for r in results if key in r]
    if not values:
        errors = [r.get("error") for r in results if "error" in r]
        return {"median": None, "min": None, "max": None, "n": 0, "error": errors[0] if errors else "no value"}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def ratio(results_a, results_b, key="images_per_second", invert=False):
    """Per-round ratios a/b (b/a with invert: for times, lower is better), summarized."""
    values = []
    for a, b in zip(results_a, results_b):
        if key in a and key in b and a[key] and b[key]:
            values.append(b[key] / a[key] if invert else a[key] / b[key])
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def torch_available(python) -> str | None:
    done = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else None


# ----------------------------------------------------------------------------------------------------
# Cases


def case_ceiling(ctx):
    n = ctx.size(256, 2048)
    section = {}
    for backend in ("tensorflow", "jax"):
        section[backend] = [run_worker(ctx, {"kind": "ceiling", "n": n, "repeats": ctx.size(3, 10)}, backend=backend)
                            for _ in range(ctx.rounds)]
    values = [r["gflops"] for rs in section.values() for r in rs if "gflops" in r]
    section["gflops"] = max(values) if values else None
    return section


def case_inference(ctx):
    size, batch = ctx.size(64, 224), ctx.size(2, 32)
    base = {"kind": "inference", "model": "resnet50", "image_size": size, "batch_size": batch,
            "repeats": ctx.size(2, 5), "warmup": ctx.size(1, 2)}
    onednn = {"TF_ENABLE_ONEDNN_OPTS": "1"}
    folded = {"fold_batch_norm": True}  # keras_resnets.fold_batch_norm, applied to both candidates
    settings = {"tensorflow compiled": ("tensorflow", "compiled", {}, {})}
    if not ctx.quick:
        settings = {
            "tensorflow eager": ("tensorflow", "eager", {}, {}),
            "tensorflow compiled": ("tensorflow", "compiled", {}, {}),
            "tensorflow XLA": ("tensorflow", "xla", {}, {}),
            "tensorflow compiled, TF_ENABLE_ONEDNN_OPTS=1": ("tensorflow", "compiled", onednn, {}),
            "tensorflow XLA, TF_ENABLE_ONEDNN_OPTS=1": ("tensorflow", "xla", onednn, {}),
        }
    settings["tensorflow compiled, TF_ENABLE_ONEDNN_OPTS=1, BatchNorm folded"] = ("tensorflow", "compiled", onednn,
                                                                                   folded)
    if not ctx.quick:
        settings["tensorflow XLA, TF_ENABLE_ONEDNN_OPTS=1, BatchNorm folded"] = ("tensorflow", "xla", onednn, folded)
        # The package's float32 LiteRT export (BatchNorms folded), XNNPACK on every core.
        settings["LiteRT float32 export, XNNPACK"] = ("tensorflow", "litert", {}, {})
    settings["jax compiled"] = ("jax", "compiled", {}, {})
    if ctx.inference_settings:
        unknown = [label for label in ctx.inference_settings if label not in settings]
        if unknown:
            raise ValueError(f"unknown --inference-settings {unknown}; allowed: {list(settings)}")
        settings = {label: settings[label] for label in ctx.inference_settings}
    section = {"image_size": size, "batch_size": batch, "modes": {}}
    for label, (backend, mode, env, options) in settings.items():
        candidates = {
            "keras_resnets": (dict(base, source="keras_resnets", model="resnet50", mode=mode, env=env, **options),
                              backend, None),
            "keras.applications": (dict(base, source="keras_applications", model="ResNet50", mode=mode, env=env,
                                        **options), backend, None),
        }
        section["modes"][label] = _compare(ctx, candidates, "keras_resnets", "keras.applications", rounds=ctx.big_rounds)
    return section


def _compare(ctx, candidates, ours, peer, key="images_per_second", invert=False, rounds=None):
    runs = interleaved(ctx, candidates, rounds)
    return {"runs": runs, "stats": {label: stat(rs, key) for label, rs in runs.items()},
            "ratio": ratio(runs[ours], runs[peer], key, invert=invert), "ours": ours, "peer": peer}


def case_training(ctx):
    section = {}
    torch_version = torch_available(ctx.torch_python)
    section["torch_version"] = torch_version
    setups = [("resnet20", "cifar10_resnet20", 32, 128, ctx.size(3, 20), ctx.size(2, 3), ctx.rounds)]
    if not ctx.quick:
        setups.append(("resnet50", "imagenet_resnet50", 224, 32, 2, 3, ctx.big_rounds))
    for model, recipe, size, batch, steps, epochs, rounds in setups:
        classes = 10 if model == "resnet20" else 1000
        batch = ctx.size(16, batch)
        size = ctx.size(32, size)
        common = {"model": model, "image_size": size, "batch_size": batch, "steps": steps, "epochs": epochs,
                  "classes": classes}
        candidates = {
            "training package (TF)": (dict(common, kind="train_package", recipe=recipe), "tensorflow", None),
            "plain Keras fit, defaults (TF)": (dict(common, kind="train_keras_defaults"), "tensorflow", None),
            "training package (JAX)": (dict(common, kind="train_package", recipe=recipe), "jax", None),
        }
        if torch_version:
            candidates["PyTorch eager, channels_last"] = (dict(common, kind="train_torch"), "numpy", ctx.torch_python)
        runs = interleaved(ctx, candidates, rounds)
        entry = {"setup": common | {"recipe": recipe, "rounds": rounds}, "runs": runs,
                 "stats": {label: stat(rs) for label, rs in runs.items()}, "ratios": {}}
        ours = "training package (TF)"
        for peer in candidates:
            if peer != ours:
                entry["ratios"][f"{ours} / {peer}"] = ratio(runs[ours], runs[peer])
        section[f"{model} batch {batch} at {size}"] = entry
    return section


def case_litert(ctx):
    section = {}
    setups = [("resnet20", "resnet20", None, 32, 10, "tf")]
    if not ctx.quick:
        setups.insert(0, ("resnet50", "resnet50", "ResNet50", 224, 1000, "caffe"))
    for name, ours, peer, size, classes, preprocessing in setups:
        base = {"kind": "litert", "image_size": size, "classes": classes, "preprocessing": preprocessing,
                "repeats": ctx.size(3, 30), "warmup": ctx.size(1, 5), "num_calibration": ctx.size(2, 16),
                "num_verify": ctx.size(2, 16)}
        entry = {"ours": run_worker(ctx, dict(base, source="keras_resnets", model=ours))}
        if peer:
            entry["keras.applications"] = run_worker(ctx, dict(base, source="keras_applications", model=peer))
        section[name] = entry
    return section


def case_memory(ctx):
    size, batch = ctx.size(32, 224), ctx.size(2, 32)
    # TensorFlow's BFC allocator on the CPU, so that each process also reports its peak of live tensors
    # (what memory_efficient changes) next to its peak RSS; oneDNN on, as the training application runs.
    base = {"kind": "train_memory", "image_size": size, "batch_size": batch, "repeats": ctx.size(1, 3),
            "warmup": 1, "env": {"TF_CPU_ALLOCATOR_USE_BFC": "true", "TF_ENABLE_ONEDNN_OPTS": "1"}}
    # Quick mode: a one-layer-per-block DenseNet of the same family on both sides.
    ours_kwargs = {"block_depths": [1, 1, 1, 1]} if ctx.quick else {}
    theirs = ("densenet.DenseNet", {"blocks": [1, 1, 1, 1]}) if ctx.quick else ("DenseNet121", {})
    candidates = {
        "keras_resnets memory_efficient": (dict(base, source="keras_resnets", model="densenet121",
                                                model_kwargs=ours_kwargs | {"memory_efficient": True}),
                                           "tensorflow", None),
        "keras_resnets": (dict(base, source="keras_resnets", model="densenet121", model_kwargs=ours_kwargs),
                          "tensorflow", None),
        "keras.applications": (dict(base, source="keras_applications", model=theirs[0], model_kwargs=theirs[1]),
                               "tensorflow", None),
    }
    runs = interleaved(ctx, candidates, ctx.big_rounds)
    section = {"setup": {"model": "DenseNet-121", "image_size": size, "batch_size": batch}, "runs": runs,
               "stats": {label: {"peak_rss_mib": stat(rs, "peak_rss_mib"), "peak_tensor_mib": stat(rs, "peak_tensor_mib"),
                                 "step_s": stat(rs, "median_s")}
                         for label, rs in runs.items()}}
    ours = "keras_resnets memory_efficient"
    section["ratios"] = {
        f"{ours} / {peer}": {"peak_rss": ratio(runs[ours], runs[peer], "peak_rss_mib"),
                             "peak_tensor": ratio(runs[ours], runs[peer], "peak_tensor_mib"),
                             "step_time": ratio(runs[ours], runs[peer], "median_s")}
        for peer in ("keras_resnets", "keras.applications")
    }
    return section


def case_pipeline(ctx):
    batch = ctx.size(16, 128)
    section = {}
    setups = {
        "Fashion-MNIST, flip (default recipe)": {"dataset": "fashion_mnist", "augment": {"horizontal_flip": True}},
        "Fashion-MNIST, pad-crop 2 + flip + Random Erasing (full recipe)": {
            "dataset": "fashion_mnist", "augment": {"random_crop": 2, "horizontal_flip": True, "random_erasing": True}},
        "CIFAR-shaped 32x32x3, pad-crop 4 + flip": {
            "dataset": "synthetic", "augment": {"random_crop": 4, "horizontal_flip": True},
            "synthetic": {"num_examples": {"train": ctx.size(256, 10000), "test": 16}, "image_shape": [32, 32, 3],
                          "num_classes": 10}},
    }
    for label, setup in setups.items():
        spec = dict(setup, kind="pipeline", batch_size=batch, batches=ctx.size(5, 100), repeats=ctx.size(1, 3))
        section[label] = {"runs": [run_worker(ctx, spec) for _ in range(ctx.rounds)]}
        section[label]["stats"] = stat(section[label]["runs"])
    return section


def case_scaling(ctx):
    """Training step time against depth, batch size and resolution; DenseNet memory against depth."""
    # With the training package's TensorFlow setting (TF_ENABLE_ONEDNN_OPTS=1).
    base = {"kind": "train_memory", "source": "keras_resnets", "classes": 10, "repeats": ctx.size(1, 5),
            "warmup": ctx.size(1, 2), "env": {"TF_ENABLE_ONEDNN_OPTS": "1"}}
    section = {"depth": {}, "batch_size": {}, "resolution": {}, "densenet_depth": {}}
    for depth in ctx.size((20,), (20, 56, 110)):
        section["depth"][depth] = run_worker(ctx, dict(base, model=f"resnet{depth}", image_size=32,
                                                       batch_size=ctx.size(8, 128)))
    for batch in ctx.size((2, 4), (32, 64, 128, 256)):
        section["batch_size"][batch] = run_worker(ctx, dict(base, model="resnet20", image_size=32, batch_size=batch))
    for size in ctx.size((16,), (32, 64, 96, 128)):
        section["resolution"][size] = run_worker(ctx, dict(base, model="resnet20", image_size=size,
                                                           batch_size=ctx.size(4, 32)))
    for blocks in ctx.size((1,), (6, 12, 24)):
        depth = 6 * blocks + 4  # DenseNet-BC: 3 blocks of `blocks` bottleneck layers (2 convs each) + 4
        for efficient in (False, True):
            # The BFC allocator, for the peak of live tensors next to RSS (see case_memory).
            result = run_worker(ctx, dict(base, model="densenet_bc_100_12", image_size=32,
                                          batch_size=ctx.size(4, 64),
                                          env=dict(base["env"], TF_CPU_ALLOCATOR_USE_BFC="true"),
                                          model_kwargs={"block_depths": [blocks] * 3, "memory_efficient": efficient}))
            section["densenet_depth"].setdefault(depth, {})["memory_efficient" if efficient else "plain"] = result
    return section


TORCH_REFERENCE = "PyTorch eager, channels_last (reference)"


def case_training_settings(ctx):
    """Where ResNet-20's training time goes: the package's default path against one setting changed at a time.

    Each candidate is the training case's "training package (TF)" run (CIFAR ResNet-20, batch 128, the
    cifar10_resnet20 recipe on synthetic images) with one change: no augmentation (what the input pipeline
    costs), TensorFlow's inter-op pool cut to one thread (TF_NUM_INTEROP_THREADS; the intra-op pool keeps both
    cores), XLA, steps_per_execution, and oneDNN off (the training package turns it on). Where PyTorch is
    installed, the same network in PyTorch (the training case's peer) runs in the same rounds as the reference.
    """
    common = {"model": "resnet20", "image_size": 32, "batch_size": ctx.size(16, 128), "steps": ctx.size(3, 30),
              "epochs": ctx.size(2, 3), "classes": 10}
    package = dict(common, kind="train_package", recipe="cifar10_resnet20")
    candidates = {
        "default": package,
        "no augmentation": dict(package, set={"augment": {}}),
        "TF_NUM_INTEROP_THREADS=1": dict(package, env={"TF_NUM_INTEROP_THREADS": "1"}),
        "XLA (jit_compile=True)": dict(package, set={"jit_compile": True}),
        "steps_per_execution=10": dict(package, set={"steps_per_execution": ctx.size(2, 10)}),
        "TF_ENABLE_ONEDNN_OPTS=0": dict(package, env={"TF_ENABLE_ONEDNN_OPTS": "0"}),
    }
    candidates = {label: (spec, "tensorflow", None) for label, spec in candidates.items()}
    torch_version = torch_available(ctx.torch_python)
    if torch_version:
        candidates[TORCH_REFERENCE] = (dict(common, kind="train_torch"), "numpy", ctx.torch_python)
    runs = interleaved(ctx, candidates)
    return {"setup": common | {"recipe": "cifar10_resnet20", "rounds": ctx.rounds}, "torch_version": torch_version,
            "runs": runs,
            "stats": {label: stat(rs) for label, rs in runs.items()},
            "ratios": {label: ratio(runs[label], runs["default"]) for label in candidates if label != "default"}}


def case_fit_on_arrays(ctx):
    """`model.fit` on ResNet-20 (batch 128, 16 steps an epoch) fed four ways, side by side in interleaved rounds.

    benchmarks/upstream/fit_epochs_repro.py: a plain-Keras ResNet-20 (no package code) on numpy arrays, a finite
    tf.data dataset re-iterated per epoch, an endless stream with `steps_per_epoch` (how the training app feeds) and
    `train_on_batch` in a loop; the package's ResNet-20 on arrays and on the endless stream. Per run: the median
    epoch (after the first), the slowest epoch over the median, and the epochs 30% slower than the median.
    """
    common = {"kind": "fit_feed", "epochs": ctx.size(3, 10), "steps": ctx.size(2, 16), "batch_size": ctx.size(8, 128)}
    feeds = [("plain Keras, arrays", "plain", "arrays"), ("plain Keras, finite dataset", "plain", "finite"),
             ("plain Keras, endless stream", "plain", "endless"),
             ("plain Keras, train_on_batch", "plain", "train_on_batch"),
             ("keras_resnets, arrays", "keras_resnets", "arrays"),
             ("keras_resnets, endless stream", "keras_resnets", "endless")]
    candidates = {label: (dict(common, model_source=source, feed=feed), "tensorflow", None)
                  for label, source, feed in feeds}
    runs = interleaved(ctx, candidates)
    return {"setup": common | {"model": "resnet20", "rounds": ctx.rounds}, "runs": runs,
            "stats": {label: {"images_per_second": stat(rs), "max_over_median": stat(rs, "max_over_median"),
                              "slow_epochs": [r.get("slow_epochs") for r in rs]}
                      for label, rs in runs.items()},
            "ratios": {"keras_resnets endless / arrays": ratio(runs["keras_resnets, endless stream"],
                                                              runs["keras_resnets, arrays"]),
                       "plain Keras endless / arrays": ratio(runs["plain Keras, endless stream"],
                                                             runs["plain Keras, arrays"])}}


def case_jax_path(ctx):
    """ResNet-20 training on the JAX backend: the package's model against the same network from plain Keras layers.

    All are option-B ResNet-20s, `model.fit` on numpy arrays, batch 128: `keras_resnets_b` (the package's ResNet-20
    with projection shortcuts and its default symmetric padding of the strided convolutions), `keras_resnets_same`
    (that with `padding="same"`: layer for layer the plain one of benchmarks/upstream/fit_epochs_repro.py, but for
    BatchNormalization's epsilon, 1e-5 against Keras' 1e-3, which costs nothing) and the
    plain one; the default and the plain one on TensorFlow too in the same rounds, for the backend gap.
    """
    common = {"kind": "fit_feed", "feed": "arrays", "epochs": ctx.size(2, 4), "steps": ctx.size(2, 16),
              "batch_size": ctx.size(8, 128)}
    candidates = {f"{who} ({backend_label})": (dict(common, model_source=source), backend, None)
                  for who, source in (("keras_resnets", "keras_resnets_b"), ("plain Keras", "plain"))
                  for backend_label, backend in (("JAX", "jax"), ("TF", "tensorflow"))}
    candidates["keras_resnets padding=same (JAX)"] = (dict(common, model_source="keras_resnets_same"), "jax", None)
    runs = interleaved(ctx, candidates)
    return {"setup": common | {"model": "resnet20 (option B)", "rounds": ctx.rounds}, "runs": runs,
            "stats": {label: stat(rs) for label, rs in runs.items()},
            "ratios": {
                "keras_resnets / plain Keras (JAX)": ratio(runs["keras_resnets (JAX)"], runs["plain Keras (JAX)"]),
                "keras_resnets padding=same / plain Keras (JAX)": ratio(runs["keras_resnets padding=same (JAX)"],
                                                                        runs["plain Keras (JAX)"]),
                "keras_resnets / plain Keras (TF)": ratio(runs["keras_resnets (TF)"], runs["plain Keras (TF)"]),
                "keras_resnets JAX / TF": ratio(runs["keras_resnets (JAX)"], runs["keras_resnets (TF)"])}}


PRECISIONS = {"float32": ("float32", None), "bfloat16": ("mixed_bfloat16", "bfloat16")}


def case_bfloat16(ctx):
    """Training and inference in float32 and bfloat16, ours against PyTorch, in interleaved rounds.

    Ours: the training case's package path with `precision` float32 or mixed_bfloat16, and compiled `predict` with
    the float32 or mixed_bfloat16 policy. PyTorch 2.x eager, channels_last, the same networks
    (benchmarks/torch_models.py), in float32 or under `torch.autocast("cpu", dtype=torch.bfloat16)`. Ratios are
    ours / PyTorch per round, at the same precision. PyTorch flushes subnormal floats to zero, as TensorFlow does by
    default (`torch.set_flush_denormal(True)`; from the 2026-12-04 17:14 run on). Inference also runs each side with
    its BatchNorms folded into the convolutions (`keras_resnets.fold_batch_norm`;
    `torch.fx.experimental.optimization.fuse`), what a user does for deployment. Meaningful on CPUs with native
    bfloat16 (AVX-512 BF16, AMX: the machine's flags head every row of RESULTS.md); elsewhere both sides emulate it.
    """
    torch_version = torch_available(ctx.torch_python)
    if not torch_version:
        return {"error": "PyTorch is not installed (pass --torch-python)"}
    section = {"torch_version": torch_version}
    setups = [("resnet20", "cifar10_resnet20", 32, 128, 10, ctx.size(3, 16), ctx.size(2, 3), ctx.rounds)]
    if not ctx.quick:
        setups.append(("resnet50", "imagenet_resnet50", 224, 32, 1000, 2, 3, ctx.big_rounds))
    for model, recipe, size, batch, classes, steps, epochs, rounds in setups:
        batch, size = ctx.size(8, batch), ctx.size(32, size)
        common = {"model": model, "image_size": size, "batch_size": batch, "classes": classes}
        train = dict(common, steps=steps, epochs=epochs)
        infer = dict(common, repeats=ctx.size(2, 10), warmup=ctx.size(1, 3))
        for what in ("training", "inference"):
            candidates = {}
            for precision, (policy, autocast) in PRECISIONS.items():
                if what == "training":
                    ours = dict(train, kind="train_package", recipe=recipe, set={"precision": policy})
                    peer = dict(train, kind="train_torch", autocast=autocast, flush_denormals=True)
                else:
                    ours = dict(infer, kind="inference", source="keras_resnets", mode="compiled",
                                dtype_policy=policy, env={"TF_ENABLE_ONEDNN_OPTS": "1"})
                    peer = dict(infer, kind="infer_torch", autocast=autocast, flush_denormals=True)
                candidates[f"keras_resnets {precision}"] = (ours, "tensorflow", None)
                candidates[f"PyTorch {precision}"] = (peer, "numpy", ctx.torch_python)
                if what == "inference":  # each side with its BatchNorms folded into the convolutions
                    candidates[f"keras_resnets {precision}, folded"] = (dict(ours, fold_batch_norm=True),
                                                                       "tensorflow", None)
                    candidates[f"PyTorch {precision}, folded"] = (dict(peer, fuse_batch_norm=True), "numpy",
                                                                 ctx.torch_python)
            runs = interleaved(ctx, candidates, rounds)
            folds = ("", ", folded") if what == "inference" else ("",)
            section[f"{model} batch {batch} at {size}, {what}"] = {
                "setup": common | {"what": what, "rounds": rounds}, "runs": runs,
                "stats": {label: stat(rs) for label, rs in runs.items()},
                "ratios": {f"ours / PyTorch, {p}{f}": ratio(runs[f"keras_resnets {p}{f}"], runs[f"PyTorch {p}{f}"])
                           for p in PRECISIONS for f in folds}
                | {f"{who} bfloat16 / float32{f}": ratio(runs[f"{who} bfloat16{f}"], runs[f"{who} float32{f}"])
                   for who in ("keras_resnets", "PyTorch") for f in folds}
                | ({f"{who} folded / unfolded, {p}": ratio(runs[f"{who} {p}, folded"], runs[f"{who} {p}"])
                    for who in ("keras_resnets", "PyTorch") for p in PRECISIONS} if what == "inference" else {})}
    return section


CASE_FUNCTIONS = {name: globals()[f"case_{name}"] for name in CASES}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round: a smoke test (CI runs it)")
    parser.add_argument("--cases", default=",".join(c for c in CASES if c not in OPT_IN_CASES),
                        help=f"comma-separated, from {', '.join(CASES)}")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per comparison (3; quick: 1)")
    parser.add_argument("--big-rounds", type=int, default=None,
                        help="rounds for the ImageNet-size comparisons (1)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: benchmarks/ for a full run, runs/benchmarks-quick for --quick)")
    parser.add_argument("--torch-python", default=None,
                        help="a Python with torch for the PyTorch comparison (default: this one, if it has torch)")
    parser.add_argument("--inference-settings", default=None,
                        help="';'-separated inference rows to run (default: all), e.g. 'tensorflow compiled'")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per worker process")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; allowed: {', '.join(CASES)}")
    if args.rounds is not None and args.rounds < 1:
        parser.error(f"--rounds must be >= 1. Received: {args.rounds}")
    args.cases = cases
    if args.out is not None:
        from keras_resnets.outputs import check_output_folder

        try:
            check_output_folder(args.out, "RESULTS.md", "python -m benchmarks", first_line=report.GENERATED)
        except ValueError as err:
            parser.error(str(err))
    return args


def run_name(out, cases, facts):
    """A new file name under out/results/: the UTC date and time, then the cases (`-2`, `-3`... if taken)."""
    stamp = facts["date"].replace("-", "").replace(":", "").replace(" UTC", "").replace(" ", "-")
    base = f"{stamp}-{'-'.join(cases)}"[:100]
    name, n = base, 1
    while os.path.exists(os.path.join(out, "results", f"{name}.json")):
        n += 1
        name = f"{base}-{n}"
    return name


def main(argv=None) -> int:
    args = parse_args(argv)
    default_out = os.path.join(_root(), "runs", "benchmarks-quick") if args.quick else os.path.join(_root(), "benchmarks")
    out = args.out or default_out
    os.makedirs(out, exist_ok=True)
    ctx = Context(args)
    command = "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv)
    facts = machine_facts()
    results = {"machine": facts, "git_commit": git_commit(), "quick": args.quick, "rounds": ctx.rounds,
               "command": command, "cases": {}}
    name = run_name(out, args.cases, facts)
    for case in args.cases:
        ctx.log(f"== {case}")
        started = time.time()
        results["cases"][case] = CASE_FUNCTIONS[case](ctx)
        results["cases"][case]["seconds"] = round(time.time() - started, 1)
        report.write(results, out, name)  # after every case, so a long run leaves what it has measured
    ctx.log(f"wrote {out}/results/{name}.json, RESULTS.md and plots")
    return 0
