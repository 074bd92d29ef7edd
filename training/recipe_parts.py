"""The optimizer, learning-rate schedule and loss a config names, built with what Keras ships."""

import keras


def make_schedule(schedule, *, learning_rate: float, epochs: int, steps_per_epoch: int):
    """A `keras.optimizers.schedules.LearningRateSchedule` (or a float) counted in optimizer steps.

    - step: `learning_rate` times `decay_factor` after each of `decay_epochs`; an optional constant
      warm-up at `warmup_learning_rate` for `warmup_epochs` first (He et al.'s ResNet-110 warm-up).
    - cosine: linear warm-up from `warmup_learning_rate` over `warmup_epochs`, then cosine to 0
      (Keras' CosineDecay with its built-in warm-up).
    - constant: `learning_rate` throughout.
    """
    name = schedule.name
    warmup_steps = int(round(schedule.warmup_epochs * steps_per_epoch))
    total_steps = max(1, epochs * steps_per_epoch)
    if name == "constant":
        return learning_rate
    if name == "step":
        # PiecewiseConstantDecay switches after `step > boundary`; the optimizer's step count starts at
        # 0, so a phase lasting N steps ends at boundary N - 1.
        boundaries, values = [], []
        if warmup_steps:
            boundaries.append(warmup_steps - 1)
            values.append(schedule.warmup_learning_rate)
        rate = learning_rate
        values.append(rate)
        for epoch in schedule.decay_epochs:
            boundaries.append(int(epoch * steps_per_epoch) - 1)
            rate *= schedule.decay_factor
            values.append(rate)
        if not boundaries:
            return learning_rate
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if name == "cosine":
        if warmup_steps:
            return keras.optimizers.schedules.CosineDecay(
                schedule.warmup_learning_rate,
                decay_steps=max(1, total_steps - warmup_steps),
                warmup_target=learning_rate,
                warmup_steps=warmup_steps,
            )
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=total_steps)
    raise ValueError(f"schedule.name must be one of ('step', 'cosine', 'constant'). Received: {name!r}")


@keras.saving.register_keras_serializable(package="keras_resnets_training")
class LayerScaledSGD(keras.optimizers.SGD):
    """Keras' SGD with each variable's gradient multiplied by its layer's scale: for SGD (with momentum and
    Nesterov too: the update is linear in the gradient) exactly a learning rate per layer, as layer-wise
    learning-rate decay needs (`finetune.layer_decay`; `training.finetune.layer_decay_scales`). Decoupled weight
    decay is not scaled (it is multiplied by the optimizer's learning rate, as Keras does).

    Args:
        scales: dict, `{top-level layer name: scale}`; a variable of a layer not named keeps its gradient.
        *args, **kwargs: `keras.optimizers.SGD`'s.
    """

    def __init__(self, *args, scales=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.scales = {str(name): float(scale) for name, scale in (scales or {}).items()}

    def apply(self, grads, trainable_variables=None):
        variables = self._trainable_variables if trainable_variables is None else trainable_variables
        scaled = []
        for grad, variable in zip(grads, variables):
            scale = self.scales.get(variable.path.split("/", 1)[0], 1.0)
            scaled.append(grad if grad is None or scale == 1.0 else grad * keras.ops.cast(scale, grad.dtype))
        return super().apply(scaled, trainable_variables)

    def get_config(self):
        return {**super().get_config(), "scales": dict(self.scales)}


def optimizer_options(optimizer):
    """The Keras optimizer arguments every optimizer takes, from the recipe's `optimizer` section: the EMA of the
    weights (`ema_momentum`: None = off), gradient accumulation over `gradient_accumulation_steps` batches (None
    or 1 = off; Keras averages the accumulated gradients into one update) and gradient clipping (`clipnorm` per
    variable, or `global_clipnorm` over all of them)."""
    ema = optimizer.get("ema_momentum")
    steps = optimizer.get("gradient_accumulation_steps")
    return {
        **({"use_ema": True, "ema_momentum": float(ema)} if ema is not None else {}),
        **({"gradient_accumulation_steps": int(steps)} if steps and steps > 1 else {}),
        **({"clipnorm": float(optimizer.clipnorm)} if optimizer.get("clipnorm") is not None else {}),
        **({"global_clipnorm": float(optimizer.global_clipnorm)} if optimizer.get("global_clipnorm") is not None
           else {}),
    }


def make_optimizer(optimizer, learning_rate, scales=None):
    """SGD (momentum, Nesterov), LAMB or AdamW with decoupled weight decay, BN and biases exempt; with `scales`
    (`{layer name: gradient scale}`, layer-wise learning-rate decay) SGD only (`LayerScaledSGD`); EMA, gradient
    accumulation and clipping as `optimizer_options` says."""
    name = optimizer.name
    decay = optimizer.weight_decay or None
    options = optimizer_options(optimizer)
    if scales and name != "sgd":
        raise ValueError(f"Per-layer learning rates need optimizer.name='sgd'. Received: {name!r}")
    if name == "sgd":
        opt = (LayerScaledSGD if scales else keras.optimizers.SGD)(
            learning_rate, momentum=optimizer.momentum, nesterov=optimizer.nesterov, weight_decay=decay,
            **({"scales": scales} if scales else {}), **options)
    elif name == "lamb":
        opt = keras.optimizers.Lamb(learning_rate, weight_decay=decay, **options)
    elif name == "adamw":
        opt = keras.optimizers.AdamW(learning_rate, weight_decay=optimizer.weight_decay, **options)
    else:
        raise ValueError(f"optimizer.name must be one of ('sgd', 'lamb', 'adamw'). Received: {name!r}")
    if decay and optimizer.no_decay:
        # "No weight decay on BN and bias" (ResNet strikes back; common practice): exempt variables
        # whose names contain these substrings (Keras BN variables are gamma/beta, conv/dense bias).
        opt.exclude_from_weight_decay(var_names=list(optimizer.no_decay))
    return opt


def defer_ema_finalize(optimizer, variables):
    """Stops Keras from writing the EMA weights into the model at the end of each `fit` call, and returns the
    function that writes them once, after the run's last one.

    Keras' end-of-fit hook (`finalize_variable_values`) replaces the trainable variables by their averages; a run
    calls `fit` more than once (the rest of an interrupted epoch on resume, then the remaining epochs), and each
    call would restart training from the averages. `variables` are the ones the optimizer was built with.
    """
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # under a LossScaleOptimizer
    finalize = optimizer.finalize_variable_values
    optimizer.finalize_variable_values = lambda var_list: None  # this instance only; its config is unchanged
    variables = list(variables)

    def write_averages():
        finalize(variables)

    return write_averages


@keras.saving.register_keras_serializable(package="keras_resnets_training")
class ThresholdedBinaryCrossentropy(keras.losses.Loss):
    """Binary cross-entropy on logits with binarized soft targets ("ResNet strikes back").

    Mixup/CutMix targets above `threshold` become 1, the rest 0, and every class is an independent
    sigmoid; the loss is summed over classes and averaged over the batch, like timm's
    `BinaryCrossEntropy(target_threshold=0.2)` with `reduction="mean"` over elements times classes.
    """

    def __init__(self, threshold=0.2, name="thresholded_bce", **kwargs):
        super().__init__(name=name, **kwargs)
        self.threshold = threshold

    def call(self, y_true, y_pred):
        y_true = keras.ops.cast(y_true, y_pred.dtype)
        if self.threshold is not None:
            y_true = keras.ops.cast(y_true > self.threshold, y_pred.dtype)
        return keras.ops.mean(
            keras.losses.binary_crossentropy(y_true[..., None], y_pred[..., None], from_logits=True), axis=-1
        )

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


def make_loss(loss):
    """The loss on logits (models train with `classifier_activation=None`)."""
    if loss.name == "categorical_crossentropy":
        return keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=loss.label_smoothing)
    if loss.name == "binary_crossentropy":
        return ThresholdedBinaryCrossentropy(threshold=loss.bce_target_threshold)
    raise ValueError(
        f"loss.name must be 'categorical_crossentropy' or 'binary_crossentropy'. Received: {loss.name!r}"
    )
