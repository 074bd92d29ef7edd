"""Fine-tuning: a pretrained backbone under a new head, trained in two phases (`model.weights`, `finetune.*`).

- `build_pretrained`: the recipe's model for the data's classes, with `model.weights` loaded into everything but
  the classifier (`predictions`, always new): a `.keras` file or a preset folder (`keras_resnets.save_preset`)
  layer by layer by name (`load_keras_by_name`, `load_model_by_name`), a
  timm / torchvision checkpoint with `keras_resnets.conversion.load_pretrained(include_top=False)` (the stem
  convolution adapted to the data's channels, timm's rule), and
  anything else (a hub tag such as "timm/resnet50.a1_in1k") passed to the model factory's `weights=`.
- `phases`: the run's epochs split into phase 1, "head" (`finetune.head_epochs`: only the classifier trains;
  every other layer has `trainable=False`, which in Keras 3 also runs its BatchNormalization in inference mode,
  with its moving statistics left alone), and phase 2, "train" (the rest: every layer, or the classifier and the
  last `finetune.unfreeze` stages).
- `make_run_schedule`: each phase runs the recipe's `schedule` over its own epochs, phase 1 at
  `optimizer.learning_rate`, phase 2 at `finetune.learning_rate` (`PhasedSchedule`), counted in optimizer steps.
- `enter_phase`: sets the layers' `trainable` flags for a phase (and recompiles when they change).

One optimizer serves both phases. It is built over every variable before anything is frozen, so that a crash
backup (`training.callbacks.CrashBackup`: weights and optimizer slots) has the same layout in either phase and
a run resumes across the phase boundary: the restored optimizer step says which phase to enter. A variable that
a phase freezes gets no gradient, no update and no weight decay, and its optimizer slots stay as they were.
That needs an optimizer that updates a subset of the variables it was built with: TensorFlow's does; JAX's
(`stateless_apply`) does not, so `training.config.check_finetune` refuses the freezing phases on JAX.

Stages: our models name every stage layer `conv<k>_...` (and DenseNet transitions `pool<k>_...`), where `conv1`
is the stem and k = 2, 3, ... are the stages in order, in every family. A layer without such a name belongs
to the stage of the layer before it in the model's (topological) layer order: the final `post_bn` / `bn` of
pre-activation ResNets and DenseNets to the last stage, the preprocessing layer to the stem.

Layer-wise learning-rate decay (`finetune.layer_decay`, `layer_decay_scales`): the classifier at the run's
rate, the last stage at `decay` times it, the one before at `decay`^2, ..., the stem at `decay`^(stages + 1)
(BEiT's rule, by stage as timm's coarse ResNet groups). A Keras 3 optimizer has one learning rate for all its
variables, so the rates are gradient scales (`training.recipe_parts.LayerScaledSGD`): exact for SGD, with
momentum and Nesterov, whose update is linear in the gradient; Adam, AdamW and LAMB normalise a scale away, so
`training.config.check_finetune` allows it with SGD only. Decoupled weight decay is not scaled.
"""

import os
import re
import weakref

import keras

from training.config import ConfigError

CLASSIFIER = "predictions"
STAGE_LAYER = re.compile(r"(?:conv|pool)(\d+)_")
PHASES = ("head", "train")
# Each model's layers that were trainable as built (before a phase froze any): a phase never unfreezes a layer
# that its model keeps frozen itself.
_BUILT_TRAINABLE = weakref.WeakKeyDictionary()


def weights_kind(weights):
    """How `model.weights` is loaded: "keras" (a `.keras` file), "preset" (a local folder: a keras_resnets preset),
    "torch" (a timm / torchvision checkpoint) or "factory" (anything else: passed to the model factory's
    `weights=`)."""
    from keras_resnets._weights import TORCH_WEIGHT_SUFFIXES

    path = os.fspath(weights)
    if path.endswith(".keras"):
        return "keras"
    if os.path.isdir(path):
        return "preset"
    if path.endswith(TORCH_WEIGHT_SUFFIXES):
        return "torch"
    return "factory"


def build_pretrained(config, input_shape, num_classes, build):
    """The recipe's model with `config.model.weights` loaded into all but its (new) classifier.

    Args:
        config: the run's `Config`.
        input_shape: tuple, the model's input shape; num_classes: int, the data's classes.
        build: callable, `build(config, input_shape, num_classes, **factory_kwargs)` (`training.train.build_model`).

    Returns:
        A `keras.Model`.

    Raises:
        ConfigError: the weights do not fit the model (another architecture or input channel count), naming
            `model.weights` and what is left over.
    """
    weights = config.model.get("weights")
    if weights is None:
        return build(config, input_shape, num_classes)
    kind = weights_kind(weights)
    try:
        if kind == "factory":
            return build(config, input_shape, num_classes, weights=weights)
        model = build(config, input_shape, num_classes)
        if kind == "keras":
            load_keras_by_name(model, weights)
        elif kind == "preset":
            from keras_resnets.presets import from_preset

            load_model_by_name(model, from_preset(weights), weights)
        else:
            from keras_resnets.conversion import load_pretrained

            load_pretrained(model, weights, include_top=False)
    except (ValueError, OSError, RuntimeError) as err:
        raise ConfigError(f"model.weights={weights!r} cannot be loaded into {config.model.name!r} for "
                          f"{num_classes} classes at input shape {tuple(input_shape)}: {err}") from err
    return model


def _variables_by_path(model, skip=CLASSIFIER):
    """`{variable path: variable}` of every layer of `model` but the one named `skip`, nested layers included."""
    found = {}
    for layer in model._flatten_layers(include_self=False, recursive=False):
        if layer.name != skip:
            found.update({variable.path: variable for variable in layer.weights})
    return found


def load_keras_by_name(model, path):
    """Loads the `.keras` model at `path` into `model`, variable by variable path (layer name / variable name),
    all but the classifier, exactly or not at all.

    Both models' layer names are the package's stable scheme, so the same variant (any head) matches one to one.

    Raises:
        ValueError: a variable on one side with none of the same name on the other, or a shape that differs
            (another variant, or another input channel count), listing them; `model` is left as it was.
    """
    return load_model_by_name(model, keras.saving.load_model(path, compile=False), path)


def load_model_by_name(model, source, where):
    """Copies the variables of the model `source` (loaded from `where`, named in errors) into `model`, all but
    the classifier, by variable path, exactly or not at all (`load_keras_by_name`)."""
    ours, theirs = _variables_by_path(model), _variables_by_path(source)
    missing = sorted(set(ours) - set(theirs))
    unexpected = sorted(set(theirs) - set(ours))
    mismatched = sorted(f"{key} {tuple(ours[key].shape)} <- {tuple(theirs[key].shape)}"
                        for key in set(ours) & set(theirs) if tuple(ours[key].shape) != tuple(theirs[key].shape))
    if missing or unexpected or mismatched:
        def listing(title, items):
            return f" {title} ({len(items)}): {items[:10]}{' ...' if len(items) > 10 else ''}." if items else ""

        raise ValueError(
            f"{where!r} holds model {source.name!r}, whose layers do not match {model.name!r} (the classifier "
            "aside); nothing was loaded." + listing("our variables it lacks", missing)
            + listing("its variables we lack", unexpected) + listing("shapes that differ (ours <- its)", mismatched))
    for key, variable in ours.items():
        variable.assign(keras.ops.cast(theirs[key].value, variable.dtype))
    return model


def preprocessing_mode(model):
    """The mode of `model`'s preprocessing layer (what the serving model must use: with `weights=` a pretrained
    tag chooses its own), or True (the variant's own) when the model has no such layer."""
    layer = next((layer for layer in model.layers if layer.name == "preprocessing"), None)
    return getattr(layer, "mode", True)


def layer_stages(model):
    """`{layer name: stage}` for every top-level layer but the classifier: 0 for the input and preprocessing, 1
    for the stem (`conv1_`), k for `conv<k>_` / `pool<k>_`, and a layer without such a name the stage of the
    layer before it (module docstring)."""
    stages, current = {}, 0
    for layer in model.layers:
        if layer.name == CLASSIFIER:
            continue
        match = STAGE_LAYER.match(layer.name)
        current = int(match[1]) if match else current
        stages[layer.name] = current
    return stages


def trainable_layers(model, phase, unfreeze="all"):
    """The names of the layers that train in `phase` ("head": the classifier; "train": every layer with
    `unfreeze="all"`, else the classifier and the last `unfreeze` stages).

    Raises:
        ConfigError: `unfreeze` is more than the model's stages.
    """
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}. Received: {phase!r}")
    every = {layer.name for layer in model.layers}
    if phase == "train" and unfreeze == "all":
        return every
    if CLASSIFIER not in every:
        raise ConfigError(f"Fine-tuning needs the model's classifier layer {CLASSIFIER!r}; {model.name!r} has none.")
    if phase == "head":
        return {CLASSIFIER}
    stages = layer_stages(model)
    numbers = sorted({stage for stage in stages.values() if stage >= 2})
    if unfreeze > len(numbers):
        raise ConfigError(f"finetune.unfreeze must be 'all' or at most {model.name!r}'s {len(numbers)} stages. "
                          f"Received: finetune.unfreeze={unfreeze!r}")
    first = numbers[-unfreeze]
    return {CLASSIFIER} | {name for name, stage in stages.items() if stage >= first}


def layer_decay_scales(model, decay):
    """`{layer name: learning-rate scale}` for layer-wise learning-rate decay (module docstring): `decay` to the
    power of how many stages a layer is from the classifier, for every layer with weights but the classifier;
    None (no decay) where `decay` is None or 1."""
    if decay is None or decay == 1:
        return None
    stages = layer_stages(model)
    last = max(stages.values())
    return {layer.name: float(decay) ** (last - stages[layer.name] + 1) for layer in model.layers
            if layer.name in stages and layer.weights}


def phases(config):
    """The run's phases: `[(phase, first epoch, end epoch)]`, "head" for `finetune.head_epochs` epochs, then
    "train" for the rest; a phase of no epochs is left out."""
    head = (config.get("finetune") or {}).get("head_epochs", 0)
    return [(phase, first, end) for phase, first, end in (("head", 0, head), ("train", head, config.epochs))
            if end > first]


def describe(config, steps_per_epoch):
    """The run's fine-tuning lines for its log (none without `model.weights` and fine-tuning keys)."""
    weights = config.model.get("weights")
    finetune = config.get("finetune") or {}
    lines = []
    if weights is not None:
        lines.append(f"weights: {weights} in all but a new classifier ({weights_kind(weights)} loader)")
    rate = finetune.get("learning_rate") or config.optimizer.learning_rate
    unfreeze = finetune.get("unfreeze", "all")
    if finetune.get("layer_decay") is not None:
        lines.append(f"layer-wise learning-rate decay {finetune['layer_decay']}: each stage below the classifier "
                     "trains at that factor of the rate of the stage above it")
    what = {"head": "the classifier alone, the rest frozen (BatchNorm in inference mode)",
            "train": "every layer" if unfreeze == "all" else f"the classifier and the last {unfreeze} stage(s)"}
    for phase, first, end in phases(config):
        if weights is not None or phase == "head" or rate != config.optimizer.learning_rate:
            lines.append(f"phase {phase}: epochs {first + 1}-{end} (from step {first * steps_per_epoch}) train "
                         f"{what[phase]} at {config.optimizer.learning_rate if phase == 'head' else rate}")
    return lines


def enter_phase(model, config, phase, recompile):
    """Sets every layer's `trainable` flag for `phase` and calls `recompile()` when one changed (a compiled
    train step keeps the trainable variables it was traced with). Returns whether anything changed."""
    unfreeze = (config.get("finetune") or {}).get("unfreeze", "all")
    if model not in _BUILT_TRAINABLE:
        _BUILT_TRAINABLE[model] = {layer.name for layer in model.layers if layer.trainable}
    train = trainable_layers(model, phase, unfreeze) & _BUILT_TRAINABLE[model]
    changed = False
    for layer in model.layers:
        if layer.trainable != (layer.name in train):
            layer.trainable = layer.name in train
            changed = True
    if changed:
        recompile()
    return changed


@keras.saving.register_keras_serializable(package="keras_resnets_training")
class PhasedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`first` for the first `boundary` optimizer steps, then `second`, counted from the boundary.

    Args:
        boundary: int, phase 1's optimizer steps.
        first, second: float or `LearningRateSchedule`, each phase's learning rate.
    """

    def __init__(self, boundary, first, second):
        self.boundary = int(boundary)
        self.first, self.second = first, second

    @staticmethod
    def _rate(schedule, step):
        return schedule(step) if callable(schedule) else keras.ops.convert_to_tensor(schedule, "float32")

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        # Both are computed (graph code has no branches); phase 2's from a step that is never negative.
        first = keras.ops.cast(self._rate(self.first, step), "float32")
        second = keras.ops.cast(self._rate(self.second, keras.ops.maximum(step - self.boundary, 0.0)), "float32")
        return keras.ops.where(step < self.boundary, first, second)

    def get_config(self):
        def serialize(schedule):
            return schedule if isinstance(schedule, (int, float)) else keras.optimizers.schedules.serialize(schedule)

        return {"boundary": self.boundary, "first": serialize(self.first), "second": serialize(self.second)}

    @classmethod
    def from_config(cls, config):
        def deserialize(schedule):
            return schedule if isinstance(schedule, (int, float)) else keras.optimizers.schedules.deserialize(schedule)

        return cls(config["boundary"], deserialize(config["first"]), deserialize(config["second"]))


def make_run_schedule(config, steps_per_epoch, make_schedule):
    """The run's learning rate by optimizer step: the recipe's `schedule` over each phase's epochs, phase 1 at
    `optimizer.learning_rate` and phase 2 at `finetune.learning_rate` (None: the same). Without a head phase
    and `finetune.learning_rate`, exactly `make_schedule` over the run, as before fine-tuning existed.

    Args:
        config: the run's `Config`; steps_per_epoch: int.
        make_schedule: callable, `training.recipe_parts.make_schedule`.
    """
    finetune = config.get("finetune") or {}
    head_rate = config.optimizer.learning_rate
    rate = finetune.get("learning_rate") or head_rate
    by_phase = {phase: make_schedule(config.schedule, learning_rate=head_rate if phase == "head" else rate,
                                     epochs=end - first, steps_per_epoch=steps_per_epoch)
                for phase, first, end in phases(config)}
    if len(by_phase) == 1:
        return next(iter(by_phase.values()))
    return PhasedSchedule(config.finetune.head_epochs * steps_per_epoch, by_phase["head"], by_phase["train"])
