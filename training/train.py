"""One training run: `train_and_evaluate(config, workdir)`.

Data -> model (in the strategy's scope) -> `model.fit` with crash backups, NaN stop, CSV / TensorBoard /
W&B tracking -> test evaluation -> export to `saved_models/<run name>/` -> summary.

Nothing that is not the run's own is touched: the config, the run name (a plain name), the workdir (new or
empty, or the run's own with --resume) and the export folder (new; never replaced) are checked before any
work, and a model with non-finite weights or test loss is never exported.
"""

import contextlib
import json
import math
import os
import sys
import tempfile
import time
import uuid

import keras
import numpy as np

import keras_resnets
from keras_resnets.export import ExportError, export_keras, export_model, non_finite_weights
from training import data as data_lib
from training import distribute
from training.callbacks import CrashBackup, FlipTTAEvaluation, NonFiniteError, ThroughputLogger
from training.config import ConfigError, TrainingError, check_config, check_run_name
from training.machine import cpu_flags, git_commit, machine_facts
from training.recipe_parts import make_loss, make_optimizer, make_schedule
from training.tracking import Tracker, describe_mode

PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")
# /proc/cpuinfo flags of CPUs that compute bfloat16 dot products in hardware (AVX-512 BF16, Intel AMX).
NATIVE_BFLOAT16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def resolve_precision(precision, strategy=None, flags=None):
    """The dtype policy for `precision` and why: "auto" is mixed_bfloat16 on TPUs and on CPUs that compute
    bfloat16 natively (AVX-512 BF16 or AMX: about 1.3x faster ResNet-20 training on a 2-core AMD EPYC with
    AVX-512 BF16, README), float32 on GPUs and on other CPUs (where bfloat16 is emulated, and slower). Any
    other value is returned as it is."""
    if precision != "auto":
        return precision, "asked for"
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        if isinstance(strategy, tf.distribute.TPUStrategy):
            return "mixed_bfloat16", "auto: TPU"
        accelerated = bool(tf.config.list_logical_devices("GPU"))
    elif backend == "jax":
        import jax

        accelerated = jax.devices()[0].platform != "cpu"
    else:
        import torch

        accelerated = torch.cuda.is_available()
    if accelerated:
        return "float32", "auto: GPU"
    native = sorted(set(NATIVE_BFLOAT16_CPU_FLAGS) & (cpu_flags() if flags is None else set(flags)))
    if native:
        return "mixed_bfloat16", f"auto: CPU with {', '.join(native)}"
    return "float32", "auto: CPU without native bfloat16 (" + " / ".join(NATIVE_BFLOAT16_CPU_FLAGS) + ")"


# Sub-folders that the other workers of a multi-worker run keep in the chief's workdir.
WORKER_DIR_PATTERN = r"worker-\d+"


def check_workdir(workdir, resume):
    """Checks the workdir before anything is written (`make_workdir` creates it). Returns the earlier run's
    `run.json` contents when resuming, else None.

    A new run starts in a new or empty folder (its other workers' `worker-N` folders aside), so it never
    writes over files that are not its own; `--resume` needs the backup of the run it continues."""
    import re

    backup_dir = os.path.join(workdir, "backup")
    if os.path.lexists(workdir) and not os.path.isdir(workdir):
        raise ConfigError(f"The workdir {workdir!r} exists and is not a folder. Pass --workdir with a new folder.")
    if resume:
        state = CrashBackup.latest(backup_dir) if os.path.isdir(backup_dir) else None
        run_json = os.path.join(workdir, "run.json")
        if state is None or not os.path.isfile(run_json):
            raise ConfigError(
                f"--resume found no run to continue in {workdir!r}: it looked for {os.path.join(backup_dir, 'latest.json')}"
                f" and {run_json} (a run writes them after its first backup: every backup_every_steps steps and "
                "at each epoch end). Check --workdir, or start a new run without --resume."
            )
        with open(run_json) as f:
            run_meta = json.load(f)
        check_run_name(run_meta.get("run_name"))
    else:
        run_meta = None
        entries = sorted(os.listdir(workdir)) if os.path.isdir(workdir) else []
        entries = [e for e in entries if not re.fullmatch(WORKER_DIR_PATTERN, e)]
        if os.path.isdir(backup_dir) and CrashBackup.latest(backup_dir):
            raise ConfigError(
                f"{workdir!r} holds a backup of an earlier run. Pass --resume to continue it, or another --workdir."
            )
        if entries:
            raise ConfigError(
                f"The workdir {workdir!r} is not empty ({len(entries)} entries, e.g. {entries[:3]}). A new run "
                "starts in a new or empty folder so that it never writes over other files: pass another --workdir "
                "(the default is a new runs/<name>-<time>), or --resume to continue the run kept there."
            )
    return run_meta


def make_workdir(workdir):
    """Creates the (checked) workdir and proves it writable with a probe file of its own."""
    try:
        os.makedirs(workdir, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=workdir)
        os.close(fd)
        os.remove(probe)  # the probe this process just created
    except OSError as err:
        raise ConfigError(f"The workdir {workdir!r} is not writable ({err}). Pass --workdir with a writable path.")


def default_run_name(config, workdir):
    """The workdir's name (runs/<recipe>-<time> from the CLI), else the recipe's: the first that is a plain
    name (`training.config.check_run_name`)."""
    for candidate in (os.path.basename(workdir.rstrip(os.sep)), str(config.get("recipe") or ""), "run"):
        try:
            return check_run_name(candidate)
        except ConfigError:
            continue


def export_target(export_dir, name, *, explicit):
    """The folder `export_dir/name` the run will export to: inside `export_dir`, and new.

    A run never replaces a folder it did not create (the committed `saved_models/fashion_mnist_resnet20`,
    an earlier run's export, anything a user keeps there). When the folder exists, an explicitly given name
    is an error; a default name gets the first free suffix (`name-2`, `name-3`, ...)."""
    root = os.path.realpath(os.path.abspath(os.fspath(export_dir)))
    if os.path.lexists(root) and not os.path.isdir(root):
        raise ConfigError(f"export_dir {export_dir!r} exists and is not a folder. Received: export_dir={export_dir!r}")
    check_run_name(name)
    candidates = [name] if explicit else [name] + [f"{name}-{k}" for k in range(2, 1000)]
    for candidate in candidates:
        target = os.path.join(root, candidate)
        if os.path.commonpath([root, os.path.realpath(target)]) != root:
            continue  # a link that leads out of export_dir: never write through it
        if not os.path.lexists(target):
            return candidate, target
    raise ConfigError(
        f"The export folder {os.path.join(root, name)} already exists, and a run never replaces a folder it did "
        "not create. Pass another --name (or set run_name), or move that folder away yourself."
        if explicit else f"No free export folder name for {name!r} under {root}."
    )


def _validate(config):
    check_config(config)
    check_export_formats(config.get("export_formats") or ())


def flip_tta_evaluator(model, jit_compile=False):
    """`model` (which outputs logits) behind a softmax and `keras_resnets.flip_tta`, compiled to evaluate
    accuracy: the same function as `flip_tta` of the exported softmax model, sharing the trained weights."""
    probabilities = keras.layers.Softmax(dtype="float32", name="probabilities")(model.output)
    tta = keras_resnets.flip_tta(keras.Model(model.input, probabilities, name=model.name))
    tta.compile(loss=keras.losses.CategoricalCrossentropy(), jit_compile=jit_compile,
                metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")])
    return tta


def _input_shape(info, image_size, eval_size):
    """The model input: the data's shape, resized to `image_size`; any size when train and test differ."""
    channels = info.image_shape[-1]
    if image_size and eval_size and image_size != eval_size:
        return (None, None, channels)  # e.g. "ResNet strikes back" A3: train at 160, test at 224
    if image_size:
        return (image_size, image_size, channels)
    return tuple(info.image_shape)


def build_model(config, input_shape, num_classes, *, classifier_activation=None):
    """The recipe's model for the data's image shape and classes, taking raw [0, 255] pixels."""
    return keras_resnets.create_model(
        config.model.name,
        input_shape=input_shape,
        classes=num_classes,
        include_preprocessing=True,
        classifier_activation=classifier_activation,
        **config.model.kwargs,
    )


def _diverged(what, backup_dir):
    state = CrashBackup.latest(backup_dir) if os.path.isdir(backup_dir) else None
    kept = (f"the last good backup (finite weights, step {state['global_step']}) is kept in {state['path']}; lower "
            "the learning rate or check the data, then rerun with --resume" if state else
            "no backup was written before it; lower the learning rate or check the data and start again")
    return TrainingError(f"The run diverged: {what} Nothing was exported; {kept}.")


# The images the deployment files are verified on and (full-integer LiteRT) calibrated with: a seeded sample of
# the validation split, disjoint where it holds enough. 1,000 make the int8 targets meaningful (99% top-1
# agreement: at most 10 disagreements; an accuracy drop of 0.5 points: 5 images).
EXPORT_VERIFY_IMAGES = 1000
EXPORT_CALIBRATION_IMAGES = 500
# What writing and verifying each format needs beyond TensorFlow (the [export] extra).
EXPORT_PACKAGES = {"ai_edge_litert": ("float32", "float16", "dynamic_int8", "int8"),
                   "tf2onnx": ("onnx",), "onnx": ("onnx",), "onnxruntime": ("onnx",)}


def check_export_formats(formats):
    """Refuses, before any work, `export_formats` the run could not write and verify: the SavedModel needs the
    TensorFlow backend, LiteRT files ai_edge_litert, ONNX tf2onnx, onnx and onnxruntime."""
    import importlib.util

    if not formats:
        return
    if keras.backend.backend() != "tensorflow":
        raise ConfigError(
            f"export_formats={tuple(formats)!r} need the TensorFlow backend; this run uses "
            f"{keras.backend.backend()!r}. Set export_formats=() (model.keras and metadata.json only) and export "
            "that model.keras with python -m keras_resnets.export, or train with KERAS_BACKEND=tensorflow.")
    missing = sorted(package for package, needed_by in EXPORT_PACKAGES.items()
                     if set(needed_by) & set(formats) and importlib.util.find_spec(package) is None)
    if missing:
        raise ConfigError(
            f"export_formats={tuple(formats)!r} need {missing} to write and verify the files, and they are not "
            "installed: pip install -e '.[export]', or leave those formats out (export_formats=() exports "
            "model.keras and metadata.json only).")


def _sample(source, indices):
    """The examples `indices` (sorted) of a split from `training.data.load_splits`, in the same form."""
    if not isinstance(source, data_lib.EncodedImages):
        images, labels = source
        return images[indices], labels[indices]
    import tensorflow as tf

    wanted = tf.constant(indices, tf.int64)
    dataset = source.dataset.enumerate().filter(lambda i, _: tf.reduce_any(tf.equal(i, wanted)))
    return data_lib.EncodedImages(dataset.map(lambda _, element: element), len(indices), source.from_files,
                                  source.verified, [source.paths[i] for i in indices] if source.paths else None)


def export_images(splits, info, image_size, seed=0):
    """Verification and calibration images for the deployment files, with labels: `{"split", "verify",
    "verify_labels", "calibration"}`, raw float32 pixels at the evaluation size.

    They come from the validation split (the training split, unaugmented, when there is none), never from the
    test split, which is evaluated once; a sample chosen by `seed` (the same for every run seed), so that
    class-sorted splits (image folders) give every class. Verification and calibration images are disjoint
    unless the split is too small for both."""
    split = "validation" if splits.get("validation") is not None else "train"
    count = info.num_examples[split]
    order = np.random.default_rng(seed).permutation(count)
    verify = order[:EXPORT_VERIFY_IMAGES]
    calibration = order[len(verify):len(verify) + EXPORT_CALIBRATION_IMAGES]
    if len(calibration) < min(EXPORT_CALIBRATION_IMAGES, count):
        calibration = order[-min(EXPORT_CALIBRATION_IMAGES, count):]  # a small split: shared with verification

    def arrays(indices):
        pipeline = data_lib.make_pipeline(_sample(splits[split], np.sort(indices)), info, batch_size=256,
                                          training=False, seed=seed, image_size=image_size, one_hot=False)
        images, labels = zip(*[(x.numpy(), y.numpy()) for x, y in pipeline])
        return np.concatenate(images).astype("float32"), np.concatenate(labels).astype("int64")

    images, labels = arrays(verify)
    return {"split": split, "verify": images, "verify_labels": labels, "calibration": arrays(calibration)[0]}


def _export(model, export_dir, name, metadata, explicit, log, *, formats=(), class_names=None, images=None):
    """Exports to `export_dir/name`, or to the first free `name-K` when that folder appeared during the run (a
    run never replaces a folder it did not create). Returns the folder written and what the summary reports of
    it (`{"formats", "files", "seconds"}`, and with `formats` the verification, `passed` and any `error`).

    Without `formats`: model.keras and metadata.json (`export_keras`). With them: `export_model` writes those
    files too, loads each back and checks it against the Keras model on `images` (`export_images`). Every write
    is atomic. A failed export (a missed verification target) keeps no unverified file: the folder gets
    model.keras and metadata.json, with the error, and the report holds the error for the run to fail on."""
    started = time.time()
    report = {"formats": list(formats)}
    while True:
        chosen, target = export_target(export_dir, name, explicit=False)
        try:
            if not formats:
                export_keras(model, target, metadata, overwrite=False)
                break
            try:
                meta = export_model(
                    model, target, formats=formats, metadata=metadata, class_names=class_names,
                    calibration_images=images["calibration"], num_calibration=len(images["calibration"]),
                    verify_images=images["verify"], verify_labels=images["verify_labels"],
                    num_verify=len(images["verify"]), benchmark=False, overwrite=False)
            except FileExistsError:
                raise
            except Exception as err:  # noqa: BLE001  (any failure: keep the trained model, report the error)
                error = str(err) if isinstance(err, ExportError) else f"{type(err).__name__}: {err}"
                export_keras(model, target, {**metadata, "export_error": error}, overwrite=False)
                report.update(passed=False, error=error)
                break
            verification = {fmt: result for fmt, result in meta["verification"].items() if isinstance(result, dict)}
            report.update(verification=verification, passed=True,
                          verified_on={"split": images["split"], "images": len(images["verify"])},
                          calibrated_on={"split": images["split"], "images": len(images["calibration"])})
            break
        except FileExistsError:
            continue  # created by someone else since export_target looked: take the next free name
    if chosen != name:
        log(f"{os.path.join(export_dir, name)} appeared during the run{' (--name)' if explicit else ''}; "
            f"exported to {target} instead")
    report.update(files=sorted(os.listdir(target)), seconds=round(time.time() - started, 1))
    if report.get("verification"):
        log(f"export: {', '.join(report['verification'])} verified against the Keras model on "
            f"{len(images['verify'])} {images['split']} images: " + "; ".join(
                f"{fmt} max abs diff {r['max_abs_diff']:.2g}, top-1 agreement {r['top1_agreement']:.4f}"
                for fmt, r in report["verification"].items()))
    return target, report


def _duration(seconds):
    """`42 s`, `6 min 05 s`, `2 h 03 min`."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def summary_lines(summary, wandb=None):
    """The end of a run for a person: a few aligned lines from the summary dict (summary.json has it all).

    `wandb`: what to say of W&B (the `wandb sync` command of an offline run, the URL of an online one, or the
    mode)."""

    def accuracy(key):
        tta = summary.get(f"{key}_flip_tta")
        return f"{summary[key]:.4f}" + (f" ({tta:.4f} with flip TTA)" if tta is not None else "")

    final = "test accuracy" if summary.get("evaluated_on", "test") == "test" else "final validation accuracy"
    rows = [
        ("validation accuracy", accuracy("validation_accuracy") if "validation_accuracy" in summary else None),
        (final, accuracy("test_accuracy")),
        ("wall time", f"{_duration(summary['total_seconds'])} ({_duration(summary['train_seconds'])} training, "
                      f"{summary['images_per_second']:.0f} images/s)"),
        ("workdir", summary.get("workdir")),
        ("export", summary.get("export_dir") or "none"),
        ("W&B", wandb),
    ]
    rows = [(name, value) for name, value in rows if value is not None]
    width = max(len(name) for name, _ in rows)
    return [f"  {name:<{width}}  {value}" for name, value in rows]


def train_and_evaluate(config, workdir, *, resume=False, log=print, command=None, export=True, verbose=None):
    """Runs the recipe in `config` with its files in `workdir`; returns the summary dict (also written to
    `workdir/summary.json`, with the machine, commit and `command` it came from).

    `log` gets the run's lines (where its files go at the start, a summary at the end); `export=False` exports
    nothing (a smoke run's default); `verbose` is `model.fit`'s: None is a progress bar when stdout is a
    terminal and one line per epoch otherwise (a log file, a pipe).

    Raises:
        ConfigError (a ValueError and a TrainingError): the run cannot start as asked (a value out of range, a
            bad run name, a workdir that is not new or empty, nothing to resume, an export folder that exists).
        TrainingError: the run failed (it diverged: nothing is exported, the last good backup is kept).
    """
    started = time.time()
    commit = git_commit()  # the code this run imported (the checkout may move on while it trains)
    workdir = os.path.abspath(os.fspath(workdir))
    _validate(config)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()

    strategy = None
    if keras.backend.backend() == "tensorflow":
        strategy = distribute.get_strategy(config.strategy)
        scope = strategy.scope()
        replicas = distribute.replica_info(strategy)
        distribute.check_global_batch(config.batch_size, strategy)
    else:
        # JAX: keras.distribution.DataParallel over the visible devices (None on one device); the batch
        # is split across devices by Keras. tf.data still feeds the model.
        distribution = distribute.get_jax_distribution("auto") if keras.backend.backend() == "jax" else None
        scope = contextlib.nullcontext()
        replicas = (distribute.replica_info(distribution) if distribution is not None
                    else {"num_replicas_in_sync": 1, "is_chief": True})
        distribute.check_global_batch(config.batch_size, distribution or 1)
    default_name = default_run_name(config, workdir)  # the chief's workdir: the same on every worker
    if not replicas["is_chief"]:
        # Multi-worker: every worker trains in lockstep, but only the chief writes the run's files; the
        # others keep their backups and logs apart so they never write the same file.
        workdir = os.path.join(workdir, f"worker-{replicas['worker_index']}")
    run_meta = check_workdir(workdir, resume)
    explicit_name = bool(config.get("run_name")) and run_meta is None
    requested = run_meta["run_name"] if run_meta else (config.get("run_name") or default_name)
    if export:
        run_name, export_dir = export_target(config.export_dir, requested, explicit=explicit_name)
    else:
        run_name, export_dir = check_run_name(requested), None
    make_workdir(workdir)
    log(f"workdir: {workdir}")
    log(f"export: {export_dir}" + ("" if run_name == requested else
                                  f" ({os.path.join(config.export_dir, requested)} exists and is never replaced)")
        if export else "export: none (this run exports nothing)")
    wandb_mode = config.wandb.mode if replicas["is_chief"] else "disabled"  # other workers log nothing
    log(f"W&B: {describe_mode(wandb_mode, workdir)}")
    precision, why = resolve_precision(config.precision, strategy)
    keras.config.set_dtype_policy(precision)
    log(f"precision: {precision} ({why})")

    splits, info = data_lib.load_splits(config.data)
    log(f"data: {info.name} from {info.source}: {info.num_examples} ({info.num_classes} classes"
        + (f", {info.skipped} unreadable images skipped" if info.skipped else "") + ")")
    steps_per_epoch = config.steps_per_epoch or info.num_examples["train"] // config.batch_size
    if steps_per_epoch < 1:
        raise ConfigError(
            f"batch_size={config.batch_size} is larger than the {info.num_examples['train']} training examples."
        )
    eval_batch = config.eval_batch_size or config.batch_size
    image_size = config.data.get("image_size")
    eval_size = config.data.get("eval_image_size") or image_size

    def train_stream(start_step):
        # A fresh pipeline per `fit` call: a seeded, reshuffling tf.data pipeline gives the same stream on
        # the first iteration of each new dataset object, but a different one on a second iteration of
        # the same object. Resuming at optimizer step N skips the N batches already trained on.
        stream = data_lib.make_pipeline(splits["train"], info, batch_size=config.batch_size, training=True,
                                        seed=config.seed, augment=config.augment, image_size=image_size,
                                        repeat=True)
        return stream.skip(start_step) if start_step else stream

    val_ds = None
    if splits.get("validation") is not None:
        val_ds = data_lib.make_pipeline(splits["validation"], info, batch_size=eval_batch, training=False,
                                        seed=config.seed, image_size=eval_size)
    # The final evaluation: the test split, or the validation split for data without one (an image folder
    # without `test_path`).
    eval_split = "test" if splits.get("test") is not None else "validation"
    if splits.get(eval_split) is None:
        raise ConfigError(
            f"{info.name} has no test split and no validation split to evaluate on: set data.test_path (image "
            "folders) or data.validation_split."
        )
    test_ds = data_lib.make_pipeline(splits[eval_split], info, batch_size=eval_batch, training=False,
                                     seed=config.seed, image_size=eval_size)
    input_shape = _input_shape(info, image_size, eval_size)

    with scope:
        model = build_model(config, input_shape, info.num_classes)
        if config.sync_batch_norm:
            model = distribute.synchronize_batch_norm(model)
        schedule = make_schedule(config.schedule, learning_rate=config.optimizer.learning_rate,
                                 epochs=config.epochs, steps_per_epoch=steps_per_epoch)
        model.compile(
            optimizer=make_optimizer(config.optimizer, schedule),
            loss=make_loss(config.loss),
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
            jit_compile=config.jit_compile,
            steps_per_execution=config.steps_per_execution,
        )
        model.optimizer.build(model.trainable_variables)
        tta_model = flip_tta_evaluator(model, config.jit_compile) if config.get("eval_flip_tta") else None

    backup_dir = os.path.join(workdir, "backup")
    state = CrashBackup.latest(backup_dir) if resume else None
    run_meta_path = os.path.join(workdir, "run.json")
    if state:
        CrashBackup.restore(model, state)
        log(f"resumed from {state['path']} (step {state['global_step']})")
    else:
        run_meta = {"run_id": uuid.uuid4().hex[:12], "run_name": run_name}
        with open(run_meta_path, "w") as f:
            json.dump(run_meta, f)
    with open(os.path.join(workdir, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2, default=str)

    tracker = Tracker(config.wandb.mode, workdir=workdir, project=config.wandb.project, entity=config.wandb.entity,
                      name=run_name, run_id=run_meta["run_id"], config=config.to_dict(),
                      tags=config.wandb.tags) if replicas["is_chief"] else Tracker("disabled", workdir=workdir,
                      project=None, entity=None, name=None, run_id=None, config=None, tags=())
    wandb_where = tracker.where()
    if wandb_where:
        log(f"W&B: {'upload this run later with: ' if tracker.mode == 'offline' else 'run at '}{wandb_where}")
    monitor = "val_accuracy" if val_ds is not None else "accuracy"
    # The per-epoch curves (val_* in history.csv and W&B) and the best checkpoint come from the validation split
    # only; the test split is evaluated once, after training.
    epoch_eval_ds = val_ds
    best_path = os.path.join(workdir, "best.keras")
    callbacks = [
        # First, so that the epoch's wall time and every later callback (CSV, W&B) include it.
        *([FlipTTAEvaluation(tta_model, epoch_eval_ds)] if tta_model is not None and epoch_eval_ds is not None
          else []),
        ThroughputLogger(config.batch_size),
        # Before the backup: a NaN step raises before it could overwrite the last good backup.
        keras.callbacks.TerminateOnNaN(raise_error=True),
        CrashBackup(backup_dir, config.backup_every_steps),
        keras.callbacks.CSVLogger(os.path.join(workdir, "history.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard"), update_freq=50),
        keras.callbacks.ModelCheckpoint(best_path, monitor=monitor, mode="max", save_best_only=True),
        *tracker.callbacks(log_every_steps=50),
    ]

    done = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    total = config.epochs * steps_per_epoch
    epoch, step_in_epoch = divmod(done, steps_per_epoch)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2  # a progress bar in a terminal; no bar redraws in a log file
    fit_start = time.time()
    exit_code = 1
    last_logs = None
    try:
        if step_in_epoch:
            # Finish the interrupted epoch from exactly where the backup left the data stream.
            last_logs = model.fit(train_stream(done), initial_epoch=epoch, epochs=epoch + 1,
                      steps_per_epoch=steps_per_epoch - step_in_epoch, validation_data=epoch_eval_ds,
                      callbacks=callbacks, verbose=verbose, shuffle=False)
            epoch += 1
        if epoch < config.epochs:
            last_logs = model.fit(train_stream(epoch * steps_per_epoch), initial_epoch=epoch, epochs=config.epochs,
                                  steps_per_epoch=steps_per_epoch, validation_data=epoch_eval_ds, callbacks=callbacks,
                                  verbose=verbose, shuffle=False)
        exit_code = 0
    except RuntimeError as err:
        step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        if isinstance(err, NonFiniteError):
            raise _diverged(f"{err} at step {step}.", backup_dir) from err
        if "NaN" in str(err) or "nan" in str(err):
            raise _diverged(f"The loss became NaN at step {step}.", backup_dir) from err
        raise
    finally:
        if exit_code:
            tracker.finish(exit_code=exit_code)
    train_seconds = time.time() - fit_start
    # A diverging step can leave infinite BatchNorm statistics behind a finite loss: such a model outputs NaN.
    bad = non_finite_weights(model)
    if bad:
        tracker.finish(exit_code=1)
        raise _diverged(f"After training, {len(bad)} variables hold NaN or infinite values, e.g. {bad[:3]}.",
                        backup_dir)
    model.save_weights(os.path.join(workdir, "final.weights.h5"))
    trained_steps = total - done

    test_loss, test_accuracy = model.evaluate(test_ds, verbose=0)
    if not (math.isfinite(test_loss) and math.isfinite(test_accuracy)):
        tracker.finish(exit_code=1)
        raise _diverged(f"The {eval_split} loss is {test_loss} (accuracy {test_accuracy}).", backup_dir)
    tta_accuracy = float(tta_model.evaluate(test_ds, verbose=0)[1]) if tta_model is not None else None
    # The export computes in float32 whatever the training precision: the same weights (mixed-precision
    # variables are float32), and what SavedModel / LiteRT consumers expect.
    keras.config.set_dtype_policy("float32")
    formats = tuple(config.get("export_formats") or ())
    # LiteRT files need a fixed input size: a model trained at one size and tested at another exports at the
    # test size (the same weights: the networks end in global pooling).
    serving_shape = (input_shape if not formats or None not in input_shape[:2]
                     else (eval_size, eval_size, input_shape[-1]))
    serving = build_model(config, serving_shape, info.num_classes, classifier_activation="softmax")
    serving.set_weights(model.get_weights())
    metadata = {
        "model": config.model.name,
        "model_config": keras_resnets.get_model_config(config.model.name) | dict(config.model.kwargs),
        "recipe": config.recipe,
        "preprocessing": "included (raw [0, 255] pixels in): " + str(keras_resnets.preprocessing_mode(config.model.name)),
        "class_names": list(info.class_names),
        "dataset": info.name,
        "test_accuracy": float(test_accuracy),
        **({"test_accuracy_flip_tta": tta_accuracy} if tta_model is not None else {}),
        "training_precision": precision,
    }
    export_report = None
    if replicas["is_chief"] and export:
        images = export_images(splits, info, eval_size) if formats else None
        export_dir, export_report = _export(serving, config.export_dir, run_name, metadata, explicit_name, log,
                                            formats=formats, class_names=info.class_names, images=images)
    # The last epoch's validation figures (the model that is exported), from the per-epoch evaluation.
    last = {k: v[-1] for k, v in last_logs.history.items() if v} if last_logs is not None else {}
    summary = {
        **({"validation_accuracy": float(last["val_accuracy"]), "validation_loss": float(last["val_loss"])}
           if "val_accuracy" in last else {}),
        **({"validation_accuracy_flip_tta": float(last["val_flip_tta_accuracy"])}
           if "val_flip_tta_accuracy" in last else {}),
        "evaluated_on": eval_split,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "precision": precision,
        **({"test_accuracy_flip_tta": tta_accuracy} if tta_model is not None else {}),
        "train_seconds": round(train_seconds, 1),
        "total_seconds": round(time.time() - started, 1),
        "images_per_second": round(trained_steps * config.batch_size / max(train_seconds, 1e-9), 1),
        "steps": total,
        "epochs": config.epochs,
        "replicas": replicas["num_replicas_in_sync"],
        "export_dir": os.path.abspath(export_dir) if export_dir else None,
        **({"export": export_report} if export_report is not None else {}),
        "workdir": workdir,
        "seed": config.seed,
        "command": command,
        "git_commit": commit,
        "machine": machine_facts(),
    }
    with open(os.path.join(workdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    tracker.summary(summary)
    if export_report is not None and export_report.get("error"):
        tracker.finish(exit_code=1)
        raise TrainingError(
            f"The run trained ({eval_split} accuracy {test_accuracy:.4f}), but the export of its "
            f"{', '.join(formats)} files failed, and none of them was kept. {export_dir} holds model.keras and "
            f"metadata.json only; the workdir {workdir} keeps the run (summary.json with the error, "
            "final.weights.h5, best.keras). Export that model.keras with python -m keras_resnets.export "
            f"(--warn-only keeps files that miss a target). The export said:\n{export_report['error']}")
    tracker.log_artifact(best_path, f"{run_name}-best", "model")
    tracker.log_artifact(export_dir, f"{run_name}-export", "model", metadata={"test_accuracy": test_accuracy})
    tracker.finish()
    log(f"\ndone: {run_name} (everything in {os.path.join(workdir, 'summary.json')})")
    for line in summary_lines(summary, wandb=tracker.mode if wandb_where is None else wandb_where):
        log(line)
    return summary
