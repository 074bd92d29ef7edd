"""One training run: `train_and_evaluate(config, workdir)`, a short sequence of named steps.

Checks (`_validate`) -> distribution (`_distribution`) -> workdir, run name and export folder
(`training.workdir.place_run`) -> precision -> data (`_load_data`) -> model, compiled in the strategy's scope
(`_build_and_compile`; pretrained weights and fine-tuning phases: `training.finetune`) -> resume or start
(`_resume_or_start`) -> W&B (`_open_tracker`) -> callbacks -> `model.fit` (`_fit`: crash backups, NaN stop,
one call per fine-tuning phase) -> checks and test evaluation (`_evaluate`) -> export to
`saved_models/<run name>/` (`_export`, `training.run_export`) -> summary (`_summary`, `_record`).

Nothing that is not the run's own is touched: the config, the run name (a plain name), the workdir (new or
empty, or the run's own with --resume) and the export folder (new; never replaced) are checked before any
work, and a model with non-finite weights or test loss is never exported.
"""

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
import uuid
import weakref

import keras
import numpy as np

import keras_resnets
from keras_resnets.export import ExportError, export_keras, export_model, non_finite_weights  # noqa: F401
from training import data as data_lib
from training import distribute
from training import distill, finetune, whitening
from training.callbacks import (CrashBackup, EMAEvaluation, FlipTTAEvaluation, NonFiniteError, StopOnNonFiniteLoss,
                                ThroughputLogger, trained_batches)
from training.config import ConfigError, TrainingError, check_config, check_finetune, check_run_name  # noqa: F401
from training.machine import cpu_flags, git_commit, machine_facts
from training.recipe_parts import defer_ema_finalize, make_loss, make_optimizer, make_schedule
# The export and the workdir have modules of their own; their names stay importable from here.
from training.run_export import (EXPORT_CALIBRATION_IMAGES, EXPORT_PACKAGES, EXPORT_VERIFY_IMAGES,  # noqa: F401
                                 _sample, check_export_formats, export_images, export_run, export_target)
from training.tracking import Tracker, describe_mode
from training.workdir import (WORKER_DIR_PATTERN, check_workdir, default_run_name, make_workdir,  # noqa: F401
                              place_run)

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


def build_model(config, input_shape, num_classes, *, classifier_activation=None, **factory_kwargs):
    """The recipe's model for the data's image shape and classes, taking raw [0, 255] pixels.

    `factory_kwargs`: more arguments of the model factory (`weights=`, from `training.finetune`; a preprocessing
    mode in `include_preprocessing`, True by default: the variant's own, or a pretrained tag's)."""
    include_preprocessing = factory_kwargs.pop("include_preprocessing", True)
    return keras_resnets.create_model(
        config.model.name,
        input_shape=input_shape,
        classes=num_classes,
        include_preprocessing=include_preprocessing,
        classifier_activation=classifier_activation,
        **config.model.kwargs,
        **factory_kwargs,
    )


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

    tested = "test_accuracy" in summary
    rows = [
        ("validation accuracy", accuracy("validation_accuracy") if "validation_accuracy" in summary else None),
        ("test accuracy", accuracy("test_accuracy") if tested else "not evaluated (the run evaluated its validation "
                                                                    "split only)"),
        ("wall time", f"{_duration(summary['total_seconds'])} ({_duration(summary['train_seconds'])} training, "
                      f"{summary['images_per_second']:.0f} images/s)"),
        ("workdir", summary.get("workdir")),
        ("export", summary.get("export_dir") or "none"),
        ("W&B", wandb),
    ]
    rows = [(name, value) for name, value in rows if value is not None]
    width = max(len(name) for name, _ in rows)
    return [f"  {name:<{width}}  {value}" for name, value in rows]


def _validate(config):
    """Checks every config value (`training.config.check_config`) and that the run can write its export formats."""
    check_config(config)
    check_finetune(config, run=True)  # a frozen phase needs model.weights (the finetune recipe leaves it unset)
    check_export_formats(config.get("export_formats") or ())
    if not config.get("evaluate_test", True) and not config.data.get("validation_split"):
        raise ConfigError(
            "evaluate_test=False needs a validation split to evaluate on: set data.validation_split (a count of "
            f"held-out training examples or a fraction). Received: data.validation_split="
            f"{config.data.get('validation_split')!r}."
        )


def _diverged(what, backup_dir):
    """The `TrainingError` of a run that diverged: `what` happened, nothing was exported, and which backup is left
    to resume from."""
    state = CrashBackup.latest(backup_dir) if os.path.isdir(backup_dir) else None
    kept = (f"the last good backup (finite weights, step {state['global_step']}) is kept in {state['path']}; lower "
            "the learning rate or check the data, then rerun with --resume" if state else
            "no backup was written before it; lower the learning rate or check the data and start again")
    return TrainingError(f"The run diverged: {what} Nothing was exported; {kept}.")


# --------------------------------------------------------------------------------------------------
# The steps of a run, in order
# --------------------------------------------------------------------------------------------------


def _prepare_process(config):
    """Checks the config (before any work) and seeds this process: Python, NumPy and the backend, and
    TensorFlow's op determinism when the config asks for it."""
    _validate(config)
    keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()


def _distribution(config):
    """The run's distribution: `(strategy, scope, replicas)`.

    TensorFlow: the config's `tf.distribute` strategy and its scope. JAX: `keras.distribution.DataParallel`
    over the visible devices (None on one device; Keras splits the batch), and no scope. tf.data feeds the
    model either way. `replicas` is `training.distribute.replica_info`; the global batch must split evenly."""
    if keras.backend.backend() == "tensorflow":
        strategy = distribute.get_strategy(config.strategy)
        scope, replicas = strategy.scope(), distribute.replica_info(strategy)
        distribute.check_global_batch(config.batch_size, strategy)
        return strategy, scope, replicas
    distribution = distribute.get_jax_distribution("auto") if keras.backend.backend() == "jax" else None
    replicas = (distribute.replica_info(distribution) if distribution is not None
                else {"num_replicas_in_sync": 1, "is_chief": True})
    distribute.check_global_batch(config.batch_size, distribution or 1)
    return None, contextlib.nullcontext(), replicas


def _log_place(config, place, log):
    """The run's first lines: its workdir, its export folder and where its W&B files go."""
    log(f"workdir: {place.workdir}")
    if place.export_dir is None:
        log("export: none (this run exports nothing)")
    else:
        log(f"export: {place.export_dir}" + ("" if place.run_name == place.requested_name else
            f" ({os.path.join(config.export_dir, place.requested_name)} exists and is never replaced)"))
    wandb_mode = config.wandb.mode if place.is_chief else "disabled"  # other workers log nothing
    log(f"W&B: {describe_mode(wandb_mode, place.workdir)}")


def _set_precision(config, strategy, log):
    """Sets the dtype policy the config asks for (`resolve_precision`) and returns it."""
    precision, why = resolve_precision(config.precision, strategy)
    keras.config.set_dtype_policy(precision)
    log(f"precision: {precision} ({why})")
    return precision


@dataclasses.dataclass(frozen=True)
class RunData:
    """The run's data (`_load_data`): the splits and what the model and the steps are sized by.

    Attributes:
        splits: dict, `training.data.load_splits`'s splits; info: its `DatasetInfo`.
        steps_per_epoch: int, optimizer steps per epoch.
        image_size, eval_size: int or None, the training and evaluation image sizes (None: the data's).
        validation: tf.data.Dataset or None, the per-epoch evaluation (the validation split).
        test: tf.data.Dataset, the final evaluation, on `eval_split` ("test"; "validation" without a test split
            or with evaluate_test=False).
        input_shape: tuple, the model's input shape.
    """

    splits: dict
    info: object
    steps_per_epoch: int
    image_size: object
    eval_size: object
    validation: object
    test: object
    eval_split: str
    input_shape: tuple


def _load_data(config, log):
    """Loads the splits and builds the evaluation pipelines (the training stream is `_train_stream`'s)."""
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

    def evaluation(split):
        return data_lib.make_pipeline(splits[split], info, batch_size=eval_batch, training=False, seed=config.seed,
                                      image_size=eval_size)

    # The final evaluation: the test split, or the validation split for data without one (an image folder
    # without `test_path`) and for a tuning run (`evaluate_test=False`), which never reads the test split.
    eval_split = "test" if config.get("evaluate_test", True) and splits.get("test") is not None else "validation"
    validation = evaluation("validation") if splits.get("validation") is not None else None
    if splits.get(eval_split) is None:
        raise ConfigError(
            f"{info.name} has no test split and no validation split to evaluate on: set data.test_path (image "
            "folders) or data.validation_split."
        )
    return RunData(splits=splits, info=info, steps_per_epoch=steps_per_epoch, image_size=image_size,
                   eval_size=eval_size, validation=validation, test=evaluation(eval_split), eval_split=eval_split,
                   input_shape=_input_shape(info, image_size, eval_size))


def _train_stream(config, data, start_step):
    """The training stream from optimizer step `start_step` on.

    A fresh pipeline per `fit` call: a seeded, reshuffling tf.data pipeline gives the same stream on the first
    iteration of each new dataset object, but a different one on a second iteration of the same object.
    Resuming at optimizer step N skips the N batches already trained on."""
    stream = data_lib.make_pipeline(data.splits["train"], data.info, batch_size=config.batch_size, training=True,
                                    seed=config.seed, augment=config.augment, image_size=data.image_size,
                                    repeat=True)
    return stream.skip(start_step) if start_step else stream


def accumulation_steps(config):
    """The batches per optimizer update: `optimizer.gradient_accumulation_steps`, or 1."""
    return config.optimizer.get("gradient_accumulation_steps") or 1


def check_accumulation(config, steps_per_epoch):
    """An epoch must be a whole number of updates with gradient accumulation: the schedule, the fine-tuning phases
    and the epoch-end backups count in them. Raises `ConfigError` otherwise."""
    steps = accumulation_steps(config)
    if steps_per_epoch % steps:
        raise ConfigError(
            f"optimizer.gradient_accumulation_steps={steps} must divide the epoch's {steps_per_epoch} steps (set "
            "steps_per_epoch, batch_size or the accumulation so that it does). Received: "
            f"optimizer.gradient_accumulation_steps={steps}, {steps_per_epoch} steps per epoch")


# Each model's function that writes its EMA weights into it (`defer_ema_finalize`), for models trained with one.
_EMA_WRITERS = weakref.WeakKeyDictionary()


def _build_and_compile(config, data, scope):
    """The model (and its flip-TTA evaluator, when asked for), built and compiled in the strategy's `scope`,
    its optimizer built so that a backup can be restored into it."""
    with scope:
        # `model.weights` (fine-tuning), loaded into all but a new classifier; else `build_model`'s.
        model = finetune.build_pretrained(config, data.input_shape, data.info.num_classes, build_model)
        if config.sync_batch_norm:
            model = distribute.synchronize_batch_norm(model)
        # The recipe's schedule; per fine-tuning phase when there are two (`training.finetune`).
        # Keras evaluates the schedule at its update count: with gradient accumulation, one update per
        # `gradient_accumulation_steps` batches (`check_accumulation` makes an epoch a whole number of them).
        schedule = finetune.make_run_schedule(config, data.steps_per_epoch // accumulation_steps(config),
                                              make_schedule)
        scales = finetune.layer_decay_scales(model, (config.get("finetune") or {}).get("layer_decay"))
        _compile(model, config, make_optimizer(config.optimizer, schedule, scales))
        # Built over every variable, before a fine-tuning phase freezes any: a backup fits either phase.
        model.optimizer.build(model.trainable_variables)
        # With an EMA of the weights, they are written into the model once, after the last `fit` (`_fit`).
        if config.optimizer.get("ema_momentum") is not None:
            _EMA_WRITERS[model] = defer_ema_finalize(model.optimizer, model.trainable_variables)
        teacher = (config.get("distill") or {}).get("teacher")
        if teacher is not None:
            distill.attach(model, distill.load_teacher(teacher, data.input_shape, data.info.num_classes),
                           temperature=config.distill.temperature, weight=config.distill.weight)
        tta_model = flip_tta_evaluator(model, config.jit_compile) if config.get("eval_flip_tta") else None
    return model, tta_model


# Training images whose patches set the whitening filters (`model.stem_whitening`): a 3x3 stem's 9-27 dimensions
# need far fewer; more only costs time before the first step. At most WHITENING_BYTES of them (ImageNet-size
# images: a few hundred), since the model's view of them is held too.
WHITENING_IMAGES, WHITENING_BYTES = 5000, 256 * 2**20


def _whiten_stem(model, config, data):
    """`model.stem_whitening`: the first convolution starts as the whitening transform of the first
    WHITENING_IMAGES training images (unaugmented, as evaluation sees them); returns the log line."""
    stream = data_lib.make_pipeline(data.splits["train"], data.info, batch_size=100, training=False,
                                    seed=config.seed, image_size=data.image_size)
    batches, count, size = [], 0, 0
    for x, _ in stream:
        batches.append(np.asarray(x))
        count, size = count + len(batches[-1]), size + batches[-1].nbytes
        if count >= WHITENING_IMAGES or size >= WHITENING_BYTES:
            break
    images = np.concatenate(batches)[:WHITENING_IMAGES]
    facts = whitening.whiten_first_convolution(model, images, seed=config.seed)
    return (f"stem whitening: {facts['filters_set']} of {facts['layer']}'s {facts['filters']} filters from "
            f"{len(images)} training images' patches (eigenvalues "
            f"{facts['eigenvalues'][0]:.3g} to {facts['eigenvalues'][-1]:.3g})")


def _compile(model, config, optimizer):
    """Compiles `model` with the recipe's loss and metrics and `optimizer` (again when a fine-tuning phase changes
    what trains: the same optimizer, its step count and slots kept)."""
    model.compile(
        optimizer=optimizer,
        loss=make_loss(config.loss),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        jit_compile=config.jit_compile,
        steps_per_execution=config.steps_per_execution,
    )


def _recompile(model, config):
    """`_compile` again with the model's own optimizer, in its distribution scope (TensorFlow creates the metrics'
    variables there)."""
    tensorflow = keras.backend.backend() == "tensorflow"
    with model.distribute_strategy.scope() if tensorflow else contextlib.nullcontext():
        _compile(model, config, model.optimizer)


def _resume_or_start(model, config, place, *, resume, log):
    """Restores the last backup into `model` when resuming; else records the new run's id and name in
    `run.json`. Writes the config the run uses to `config.json`. Returns the run's `run.json` contents."""
    state = CrashBackup.latest(place.backup_dir) if resume else None
    run_meta = place.run_meta
    if state:
        CrashBackup.restore(model, state)
        log(f"resumed from {state['path']} (step {state['global_step']})")
    else:
        run_meta = {"run_id": uuid.uuid4().hex[:12], "run_name": place.run_name}
        with open(os.path.join(place.workdir, "run.json"), "w") as f:
            json.dump(run_meta, f)
    with open(os.path.join(place.workdir, "config.json"), "w") as f:
        json.dump(config.to_dict(), f, indent=2, default=str)
    return run_meta


def _open_tracker(config, place, run_meta, log):
    """The run's W&B record (`training.tracking.Tracker`): the chief's, disabled on the other workers."""
    if place.is_chief:
        tracker = Tracker(config.wandb.mode, workdir=place.workdir, project=config.wandb.project,
                          entity=config.wandb.entity, name=place.run_name, run_id=run_meta["run_id"],
                          config=config.to_dict(), tags=config.wandb.tags)
    else:
        tracker = Tracker.disabled(place.workdir)
    wandb_where = tracker.where()
    if wandb_where:
        log(f"W&B: {'upload this run later with: ' if tracker.mode == 'offline' else 'run at '}{wandb_where}")
    return tracker


@contextlib.contextmanager
def _finished_on_failure(tracker):
    """Ends the W&B run with exit code 1 when the block raises (the run failed), then lets the error go on."""
    try:
        yield
    except BaseException:
        tracker.finish(exit_code=1)
        raise


def _callbacks(config, place, *, tracker, tta_model, validation):
    """The callbacks of `fit`, in the order they must run."""
    monitor = "val_accuracy" if validation is not None else "accuracy"
    # The per-epoch curves (val_* in history.csv and W&B) and the best checkpoint come from the validation split
    # only; the test split is evaluated once, after training.
    return [
        # First, so that the epoch's wall time and every later callback (CSV, W&B) include it.
        *([FlipTTAEvaluation(tta_model, validation)] if tta_model is not None and validation is not None else []),
        *([EMAEvaluation(validation)] if config.optimizer.get("ema_momentum") is not None and validation is not None
          else []),
        ThroughputLogger(config.batch_size),
        # Before the backup: a NaN step raises before it could overwrite the last good backup.
        StopOnNonFiniteLoss(),
        CrashBackup(place.backup_dir, config.backup_every_steps),
        keras.callbacks.CSVLogger(os.path.join(place.workdir, "history.csv"), append=True),
        keras.callbacks.TensorBoard(os.path.join(place.workdir, "tensorboard"), update_freq=50),
        keras.callbacks.ModelCheckpoint(os.path.join(place.workdir, "best.keras"), monitor=monitor, mode="max",
                                        save_best_only=True),
        *tracker.callbacks(log_every_steps=50),
    ]


@dataclasses.dataclass(frozen=True)
class FitResult:
    """What `_fit` trained: the last `fit` call's `History` (None when nothing was left to train), the seconds
    it took, the optimizer steps this process trained and the run's total."""

    history: object
    seconds: float
    trained_steps: int
    total_steps: int


def _fit(model, config, data, *, callbacks, backup_dir, verbose):
    """Trains from the model's optimizer step (0, or the restored backup's) to the end of the last epoch, phase by
    phase (`training.finetune.phases`: one phase unless fine-tuning has a head phase), each entered with what it
    trains.

    Raises:
        TrainingError: the run diverged (`training.callbacks.NonFiniteError`: a NaN or infinite loss or
            weights); the last good backup is kept.
    """
    steps_per_epoch = data.steps_per_epoch
    done = trained_batches(model.optimizer)
    total = config.epochs * steps_per_epoch
    epoch, step_in_epoch = divmod(done, steps_per_epoch)
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2  # a progress bar in a terminal; no bar redraws in a log file
    common = dict(validation_data=data.validation, callbacks=callbacks, verbose=verbose, shuffle=False)
    started = time.time()
    history = None
    try:
        for phase, _, end in finetune.phases(config):
            if epoch >= end:
                continue  # a phase the restored backup had finished
            finetune.enter_phase(model, config, phase, lambda: _recompile(model, config))
            if step_in_epoch:
                # Finish the interrupted epoch from exactly where the backup left the data stream.
                history = model.fit(_train_stream(config, data, done), initial_epoch=epoch, epochs=epoch + 1,
                                    steps_per_epoch=steps_per_epoch - step_in_epoch, **common)
                epoch, step_in_epoch = epoch + 1, 0
            if epoch < end:
                history = model.fit(_train_stream(config, data, epoch * steps_per_epoch), initial_epoch=epoch,
                                    epochs=end, steps_per_epoch=steps_per_epoch, **common)
                epoch = end
    except NonFiniteError as err:  # StopOnNonFiniteLoss or CrashBackup: the run diverged
        step = trained_batches(model.optimizer)
        raise _diverged(f"{err} at step {step}.", backup_dir) from err
    if model in _EMA_WRITERS:
        _EMA_WRITERS[model]()  # the test split and the export see the EMA weights
    return FitResult(history=history, seconds=time.time() - started, trained_steps=total - done, total_steps=total)


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """The final evaluation (`_evaluate`) on `split`: loss, accuracy, and the flip-TTA accuracy (or None)."""

    split: str
    loss: float
    accuracy: float
    tta_accuracy: object


def _evaluate(model, tta_model, data, *, place):
    """Checks the trained weights, saves them (`final.weights.h5`) and evaluates them once on the final split.

    Raises:
        TrainingError: non-finite weights (a diverging step can leave infinite BatchNorm statistics behind a
            finite loss: such a model outputs NaN) or a non-finite loss or accuracy; nothing is exported.
    """
    bad = non_finite_weights(model)
    if bad:
        raise _diverged(f"After training, {len(bad)} variables hold NaN or infinite values, e.g. {bad[:3]}.",
                        place.backup_dir)
    model.save_weights(os.path.join(place.workdir, "final.weights.h5"))
    loss, accuracy = model.evaluate(data.test, verbose=0)
    if not (math.isfinite(loss) and math.isfinite(accuracy)):
        raise _diverged(f"The {data.eval_split} loss is {loss} (accuracy {accuracy}).", place.backup_dir)
    tta_accuracy = float(tta_model.evaluate(data.test, verbose=0)[1]) if tta_model is not None else None
    return Evaluation(split=data.eval_split, loss=loss, accuracy=accuracy, tta_accuracy=tta_accuracy)


def _export(config, model, data, *, place, precision, evaluation, log):
    """The serving model (softmax output, float32) with the trained weights, exported by the chief when the run
    exports. Returns `(export folder or None, the export's report or None)`."""
    # The export computes in float32 whatever the training precision: the same weights (mixed-precision
    # variables are float32), and what SavedModel / LiteRT consumers expect.
    keras.config.set_dtype_policy("float32")
    formats = tuple(config.get("export_formats") or ())
    # LiteRT files need a fixed input size: a model trained at one size and tested at another exports at the
    # test size (the same weights: the networks end in global pooling).
    input_shape = data.input_shape
    serving_shape = (input_shape if not formats or None not in input_shape[:2]
                     else (data.eval_size, data.eval_size, input_shape[-1]))
    # The trained model's preprocessing (a pretrained tag may set another than the variant's own).
    preprocessing = finetune.preprocessing_mode(model)
    serving = build_model(config, serving_shape, data.info.num_classes, classifier_activation="softmax",
                          include_preprocessing=preprocessing)
    serving.set_weights(model.get_weights())
    metadata = {
        "model": config.model.name,
        "model_config": keras_resnets.get_model_config(config.model.name) | dict(config.model.kwargs),
        "recipe": config.recipe,
        "preprocessing": "included (raw [0, 255] pixels in): " + str(preprocessing),
        "class_names": list(data.info.class_names),
        "dataset": data.info.name,
        # `test_accuracy` only when the test split was evaluated (`validation_accuracy` otherwise).
        f"{evaluation.split}_accuracy": float(evaluation.accuracy),
        **({f"{evaluation.split}_accuracy_flip_tta": evaluation.tta_accuracy}
           if evaluation.tta_accuracy is not None else {}),
        "training_precision": precision,
    }
    if not (place.is_chief and place.export_dir is not None):
        return place.export_dir, None
    images = export_images(data.splits, data.info, data.eval_size) if formats else None
    return export_run(serving, export_dir=config.export_dir, name=place.run_name, metadata=metadata,
                      explicit=place.explicit_name, log=log, formats=formats, class_names=data.info.class_names,
                      images=images)


def _summary(config, *, fit, evaluation, export_dir, export_report, facts):
    """The run's summary dict (summary.json). `facts`: the keys about the run itself (precision, times,
    replicas, workdir, command, commit), in the order summary.json gives them."""
    # The last epoch's validation figures (the model that is exported), from the per-epoch evaluation; then the
    # final evaluation's: `test_*` keys only when the test split was evaluated (when the final evaluation is on
    # the validation split, its figures are the `validation_*` ones, of the same model).
    last = {k: v[-1] for k, v in fit.history.history.items() if v} if fit.history is not None else {}
    final = {f"{evaluation.split}_accuracy": float(evaluation.accuracy),
             f"{evaluation.split}_loss": float(evaluation.loss)}
    tta = ({f"{evaluation.split}_accuracy_flip_tta": evaluation.tta_accuracy}
           if evaluation.tta_accuracy is not None else {})
    if evaluation.split == "validation":
        final, tta = {**final, **tta}, {}
    # With an EMA of the weights the exported model is the averaged one: its validation figures are the EMA's,
    # and the last step's weights' are kept apart.
    ema = "val_ema_accuracy" in last
    return {
        **({"validation_accuracy": float(last["val_ema_accuracy" if ema else "val_accuracy"]),
            "validation_loss": float(last["val_ema_loss" if ema else "val_loss"])} if "val_accuracy" in last else {}),
        **({"validation_accuracy_without_ema": float(last["val_accuracy"])} if ema else {}),
        **({"validation_accuracy_flip_tta": float(last["val_flip_tta_accuracy"])}
           if "val_flip_tta_accuracy" in last else {}),
        "evaluated_on": evaluation.split,
        **final,
        "precision": facts["precision"],
        **tta,
        "train_seconds": round(fit.seconds, 1),
        "total_seconds": round(time.time() - facts["started"], 1),
        "images_per_second": round(fit.trained_steps * config.batch_size / max(fit.seconds, 1e-9), 1),
        "steps": fit.total_steps,
        "epochs": config.epochs,
        "replicas": facts["replicas"],
        "export_dir": os.path.abspath(export_dir) if export_dir else None,
        **({"export": export_report} if export_report is not None else {}),
        "workdir": facts["workdir"],
        "seed": config.seed,
        "command": facts["command"],
        "git_commit": facts["commit"],
        "machine": machine_facts(),
    }


def _record(summary, *, place, tracker, log):
    """Writes summary.json, hands the summary and the run's models to W&B and logs the summary lines.

    Raises:
        TrainingError: the export of the deployment files failed (summary.json holds the error)."""
    with open(os.path.join(place.workdir, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    tracker.summary(summary)
    error = (summary.get("export") or {}).get("error")
    if error:
        raise TrainingError(
            f"The run trained ({summary['evaluated_on']} accuracy {summary[summary['evaluated_on'] + '_accuracy']:.4f}), "
            "but the export "
            f"of its {', '.join(summary['export']['formats'])} files failed, and none of them was kept. "
            f"{summary['export_dir']} holds model.keras and metadata.json only; the workdir {place.workdir} keeps "
            "the run (summary.json with the error, final.weights.h5, best.keras). Export that model.keras with "
            "python -m keras_resnets.export (--warn-only keeps files that miss a target). The export said:\n"
            + error)
    tracker.log_artifact(os.path.join(place.workdir, "best.keras"), f"{place.run_name}-best", "model")
    tracker.log_artifact(summary["export_dir"], f"{place.run_name}-export", "model",
                         metadata={key: summary[key] for key in ("test_accuracy", "validation_accuracy")
                                   if key in summary})
    wandb_where = tracker.where()
    tracker.finish()
    log(f"\ndone: {place.run_name} (everything in {os.path.join(place.workdir, 'summary.json')})")
    for line in summary_lines(summary, wandb=tracker.mode if wandb_where is None else wandb_where):
        log(line)


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
    _prepare_process(config)
    strategy, scope, replicas = _distribution(config)
    place = place_run(config, os.path.abspath(os.fspath(workdir)), replicas=replicas, resume=resume, export=export)
    _log_place(config, place, log)
    precision = _set_precision(config, strategy, log)
    data = _load_data(config, log)
    check_accumulation(config, data.steps_per_epoch)
    model, tta_model = _build_and_compile(config, data, scope)
    if config.model.get("stem_whitening") and not resume:  # a resumed run restores its weights from the backup
        log(_whiten_stem(model, config, data))
    for line in finetune.describe(config, data.steps_per_epoch):
        log(line)
    if (config.get("distill") or {}).get("teacher") is not None:
        log(f"distillation: from {config.distill.teacher}, temperature {config.distill.temperature}, the teacher's "
            f"share of the loss {config.distill.weight}")
    run_meta = _resume_or_start(model, config, place, resume=resume, log=log)
    tracker = _open_tracker(config, place, run_meta, log)
    with _finished_on_failure(tracker):
        callbacks = _callbacks(config, place, tracker=tracker, tta_model=tta_model, validation=data.validation)
        fit = _fit(model, config, data, callbacks=callbacks, backup_dir=place.backup_dir, verbose=verbose)
        evaluation = _evaluate(model, tta_model, data, place=place)
        export_dir, export_report = _export(config, model, data, place=place, precision=precision,
                                            evaluation=evaluation, log=log)
        summary = _summary(config, fit=fit, evaluation=evaluation, export_dir=export_dir,
                           export_report=export_report,
                           facts={"precision": precision, "started": started, "workdir": place.workdir,
                                  "replicas": replicas["num_replicas_in_sync"], "command": command,
                                  "commit": commit})
        _record(summary, place=place, tracker=tracker, log=log)
    return summary
