"""Checking an export: finite weights before it, each file's outputs against Keras after, LiteRT latency.

Each exported file is run on the same raw-pixel images as the Keras model (`compare`) and held to the targets
in `TARGETS` (`check_targets`); `format_report` prints the figures as a table. A model with NaN or infinite
weights (a diverged training run) outputs NaN, so it is refused before anything is written.
"""

import time

import keras
import numpy as np

from keras_resnets.export.formats import ExportError, LiteRTRunner

# Verification targets on softmax outputs. Dynamic-range int8 has none: its weights-only quantization
# of a random-weight model gives no meaningful agreement figure, so it is reported only.
TARGETS = {
    "saved_model": {"max_abs_diff": 1e-4},
    "float32": {"max_abs_diff": 1e-4},
    "onnx": {"max_abs_diff": 1e-4},
    "float16": {"max_abs_diff": 1e-2},
    "int8": {"top1_agreement": 0.99, "accuracy_drop": 0.005},
}


def non_finite_weights(model) -> list:
    """The paths of `model`'s variables (weights, BatchNorm statistics) holding NaN or infinity."""
    return [variable.path for variable in model.weights
            if not np.all(np.isfinite(keras.ops.convert_to_numpy(variable)))]


def check_finite_weights(model):
    """Raises `ExportError` when any weight or BatchNorm statistic of `model` is NaN or infinite: such a
    model outputs NaN (a diverged training run), and no export of it is written."""
    bad = non_finite_weights(model)
    if bad:
        raise ExportError(f"The model {model.name!r} has non-finite values (NaN or infinity) in {len(bad)} of its "
                          f"{len(model.weights)} variables, e.g. {bad[:3]}; it would output NaN, so it is not "
                          "exported. Its training diverged: lower the learning rate and retrain.")


def random_images(input_shape, count, seed=0):
    """Uniform random raw pixels in [0, 255]."""
    return np.random.default_rng(seed).uniform(0, 255, (count, *input_shape)).astype("float32")


def compare(reference, outputs, labels=None) -> dict:
    """Max abs diff, top-1 agreement and, with labels, both accuracies and the drop."""
    result = {
        "max_abs_diff": float(np.max(np.abs(outputs - reference))),
        "top1_agreement": float(np.mean(outputs.argmax(-1) == reference.argmax(-1))),
        "num_images": len(reference),
    }
    if labels is not None:
        keras_acc = float(np.mean(reference.argmax(-1) == labels))
        export_acc = float(np.mean(outputs.argmax(-1) == labels))
        result.update(keras_accuracy=keras_acc, accuracy=export_acc, accuracy_drop=keras_acc - export_acc)
    return result


def check_targets(fmt, result) -> list:
    """Messages for every target `result` misses (empty when it passes)."""
    misses = []
    for key, limit in TARGETS.get(fmt, {}).items():
        if key not in result:
            continue
        value = result[key]
        ok = value >= limit if key == "top1_agreement" else value <= limit
        if not ok:
            relation = ">=" if key == "top1_agreement" else "<="
            misses.append(f"{fmt}: {key}={value:.6g} misses the target {relation} {limit}")
    return misses


def benchmark_tflite(path, threads=(1, 2), repeats=50, warmup=5) -> dict:
    """Median / min batch-1 latency in milliseconds per thread count (XNNPACK, ai_edge_litert's default)."""
    report = {}
    for num_threads in threads:
        runner = LiteRTRunner(path, num_threads=num_threads)
        runner.set_input(random_images(runner.input["shape"][1:], 1))
        for _ in range(warmup):
            runner.interpreter.invoke()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            runner.interpreter.invoke()
            times.append((time.perf_counter() - start) * 1e3)
        report[f"{num_threads}_threads"] = {"median_ms": float(np.median(times)), "min_ms": float(np.min(times)),
                                            "repeats": repeats}
    return report


def format_report(meta) -> str:
    """A plain-text verification and latency table."""
    lines = [f"{'format':<14}{'max_abs_diff':>14}{'top1_agree':>12}{'acc':>8}{'drop':>8}  passed"]
    for fmt, r in meta["verification"].items():
        if not isinstance(r, dict):
            continue
        acc = f"{r['accuracy']:.4f}" if "accuracy" in r else "-"
        drop = f"{r['accuracy_drop']:+.4f}" if "accuracy_drop" in r else "-"
        lines.append(f"{fmt:<14}{r['max_abs_diff']:>14.3g}{r['top1_agreement']:>12.4f}{acc:>8}{drop:>8}  "
                     f"{r['passed']}")
    if meta["litert_benchmark"]:
        threads = [k for k in next(iter(meta["litert_benchmark"].values())) if k.endswith("_threads")]
        lines.append("")
        lines.append(f"{'LiteRT file':<14}{'KiB':>10}" + "".join(f"{t + ' ms':>16}" for t in threads))
        for fmt, b in meta["litert_benchmark"].items():
            lines.append(f"{fmt:<14}{b['bytes'] / 1024:>10.1f}" + "".join(f"{b[t]['median_ms']:>16.3f}"
                                                                          for t in threads))
    return "\n".join(lines)
