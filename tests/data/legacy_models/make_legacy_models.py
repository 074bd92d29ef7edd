"""Makes tests/data/legacy_models/: tiny models saved by an older keras_resnets, to prove old files still load.

Each `.keras` file here was saved by the package as it stood at commit `LEGACY_COMMIT` (before the issue-21
restructuring moved the factories, configs and checks around). Together they hold every custom layer the zoo
registers for safe-mode loading (`BatchNormalization`, `ZeroPadShortcut`, `StochasticDepth`,
`ImagePreprocessing`, `DenseLayer`, `ConcatBatchNormReLU`, `ResizeLike`, `HorizontalFlip`) and every family's
blocks: CIFAR option A and ImageNet bottleneck ResNets, ResNeXt (grouped convolutions), pre-activation
bottleneck and Wide ResNet (dropout) blocks, keras.applications' ResNet v2, plain and memory-efficient DenseNet,
a Residual Attention net with its masks, and flip test-time augmentation. Widths are tiny, so the files total
under 500 kB (Keras' zip recompressed with deflate and fixed timestamps; the entries are byte for byte what
Keras wrote). `expected.npz` holds, per model, a fixed input (`<label>/x`) and the outputs the old code computed
from it in inference mode (`<label>/y`, or `<label>/y/<output name>` for dict outputs).
`tests/test_legacy_models.py` loads every file in safe mode with today's code and compares.

To remake them (only ever from that commit; the point is that the files are old):

    git worktree add /tmp/wt-legacy 5c80d73c8584ade06c68144146275a2315315b35
    cd /tmp/wt-legacy && PYTHONPATH=/tmp/wt-legacy KERAS_BACKEND=tensorflow \\
        python /path/to/repo/tests/data/legacy_models/make_legacy_models.py --out /path/to/repo/tests/data/legacy_models
    git worktree remove /tmp/wt-legacy

The script refuses to run when the `keras_resnets` it imports is not a checkout of `LEGACY_COMMIT`.
"""

import argparse
import io
import os
import subprocess
import zipfile

import numpy as np

LEGACY_COMMIT = "5c80d73c8584ade06c68144146275a2315315b35"
CLASSES = 5

# label -> (registered name, create_model arguments, input shape)
MODELS = {
    "cifar_resnet_option_a": (
        "resnet20",
        dict(stage_depths=(1, 1, 1), stage_widths=(4, 8, 16), stem_width=4, drop_path_rate=0.1,
             include_preprocessing=True),
        (16, 16, 3),
    ),
    "resnet_bottleneck_keras": (
        "resnet50",
        dict(stage_depths=(1, 1, 1, 1), stage_widths=(4, 4, 8, 8), stem_width=8, include_preprocessing=True,
             classifier_activation=None),
        (32, 32, 3),
    ),
    "resnext_cifar": (
        "resnext29_8x64d",
        dict(stage_depths=(1, 1, 1), stage_widths=(4, 4, 8), stem_width=8, groups=2, width_per_group=16),
        (16, 16, 3),
    ),
    "preact_bottleneck_cifar": (
        "preact_resnet164",
        dict(stage_depths=(1, 1, 1), stage_widths=(4, 4, 8), stem_width=4, classifier_activation=None),
        (16, 16, 3),
    ),
    "wide_resnet_dropout": (
        "wrn16_4",
        dict(stage_depths=(1, 1, 1), stage_widths=(8, 8, 16), stem_width=4, dropout_rate=0.3),
        (16, 16, 3),
    ),
    "resnet_v2": (
        "resnet50_v2",
        dict(stage_depths=(2, 2), stage_widths=(4, 8), stage_strides=(2, 1), drop_path_rate=0.1),
        (32, 32, 3),
    ),
    "densenet_bc": ("densenet_bc_100_12", dict(block_depths=(2, 2, 2), growth_rate=4, stem_width=8), (16, 16, 3)),
    "densenet_memory_efficient": (
        "densenet121",
        dict(block_depths=(1, 2, 1, 1), growth_rate=4, stem_width=8, memory_efficient=True),
        (32, 32, 3),
    ),
    "attention_cifar_masks": (
        "attention92_cifar",
        dict(stage_modules=(1, 1), stage_units=(1, 2), stage_widths=(8, 8), stage_strides=(1, 2),
             mask_downsamples=(2, 1), stem_width=4, return_masks=True),
        (16, 16, 3),
    ),
    "flip_tta": (
        "resnet20",
        dict(stage_depths=(1, 1, 1), stage_widths=(4, 8, 16), stem_width=4, shortcut="projection"),
        (16, 16, 1),
    ),
}


def _check_commit(keras_resnets):
    root = os.path.dirname(os.path.dirname(os.path.abspath(keras_resnets.__file__)))
    head = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", root, "status", "--porcelain", "keras_resnets"], capture_output=True,
                           text=True).stdout.strip()
    if head != LEGACY_COMMIT or dirty:
        state = f"{head or 'no commit'}{' (modified)' if dirty else ''}"
        raise SystemExit(f"keras_resnets is imported from {root} at {state}; these files must come from "
                         f"{LEGACY_COMMIT} (see the module docstring).")


def _randomize(model, rng):
    """Random weights, BatchNorm variances in [0.5, 1.5], so the outputs depend on every weight."""
    model.set_weights([
        rng.uniform(0.5, 1.5, w.shape).astype("float32") if "variance" in w.path
        else rng.normal(0.0, 0.2, w.shape).astype("float32")
        for w in model.weights
    ])


def _deflate(path):
    """Rewrites the `.keras` zip compressed, with fixed timestamps: Keras stores it uncompressed (5x larger)."""
    with zipfile.ZipFile(path) as source:
        entries = [(info.filename, source.read(info)) for info in source.infolist()]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for filename, data in entries:
            target.writestr(zipfile.ZipInfo(filename, date_time=(1980, 1, 1, 0, 0, 0)), data,
                            compress_type=zipfile.ZIP_DEFLATED)
    with open(path, "wb") as f:
        f.write(buffer.getvalue())


def main():
    """Saves each model of `MODELS` with random weights, and `expected.npz`, into `--out`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = parser.parse_args()

    import keras

    import keras_resnets

    _check_commit(keras_resnets)
    print("keras_resnets from", os.path.dirname(os.path.abspath(keras_resnets.__file__)))
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    expected = {}
    for label, (name, kwargs, shape) in MODELS.items():
        model = keras_resnets.create_model(name, input_shape=shape, classes=CLASSES, name=label, **kwargs)
        _randomize(model, rng)
        if label == "flip_tta":
            model = keras_resnets.flip_tta(model)
        x = rng.uniform(0, 255, (2,) + shape).astype("float32")
        y = model(x, training=False)
        expected[f"{label}/x"] = x
        for key, value in (y.items() if isinstance(y, dict) else [("", y)]):
            expected[f"{label}/y" + (f"/{key}" if key else "")] = keras.ops.convert_to_numpy(value)
        path = os.path.join(args.out, f"{label}.keras")
        model.save(path)
        _deflate(path)
        print(label, os.path.getsize(path), "bytes")
    np.savez_compressed(os.path.join(args.out, "expected.npz"), **expected)


if __name__ == "__main__":
    main()
