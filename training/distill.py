"""Knowledge distillation (Hinton et al. 2015): the student trains on a mix of the recipe's loss on the labels
and the temperature-softened KL divergence from a teacher's predictions (`distill.*` keys).

loss = (1 - weight) * recipe loss(labels, student logits)
       + weight * T^2 * KL(softmax(teacher logits / T) || softmax(student logits / T))

- The teacher is a `.keras` model, a preset folder (`keras_resnets.save_preset`) or a pretrained tag of
  `keras_resnets.list_pretrained(source="timm")` ("timm/resnet50.a1_in1k": its architecture, weights and
  preprocessing, at the data's image size) that takes the same raw pixels (our exported models carry their
  preprocessing) and predicts the data's classes; it is frozen and runs in inference mode. A teacher ending in a softmax (every exported model) gives its logits as log-probabilities,
  which the softmax at any temperature turns back into the same distribution.
- It is the model's own `compute_loss`, replaced on this model object only (`attach`): `fit` and the validation
  pass use it with `training=True` / `False`, and only training adds the teacher's term, so `val_loss` stays the
  recipe's loss. Nothing of it is saved: the checkpoints and the export are the student alone.
"""

import os

import keras

from training.config import ConfigError


def pretrained_tag(teacher):
    """The table's `PretrainedTag` that `teacher` names ("timm/resnet50.a1_in1k", "resnet50.a1_in1k", "hf://..."),
    or None where it names none."""
    from keras_resnets.pretrained import get_pretrained

    if os.path.exists(teacher):
        return None
    try:
        return get_pretrained(teacher)
    except ValueError:
        return None


def _from_tag(tag, input_shape):
    """The tag's architecture with its weights and its own preprocessing (raw pixels in), at `input_shape`."""
    import keras_resnets

    name, overrides = tag.model
    return keras_resnets.create_model(name, weights=tag.hub_id, include_preprocessing=True,
                                      input_shape=tuple(input_shape), **overrides)


def load_teacher(path, input_shape, num_classes):
    """The frozen teacher at `path` (a `.keras` file, a preset folder or a pretrained tag), checked against the data.

    Raises:
        ConfigError: `path` is none of them, does not load, or does not take `input_shape` / predict
            `num_classes` classes; the message names `distill.teacher`.
    """
    path = os.fspath(path)
    tag = pretrained_tag(path)
    try:
        if tag is not None:
            teacher = _from_tag(tag, input_shape)
        elif os.path.isdir(path):
            from keras_resnets.presets import from_preset

            teacher = from_preset(path)
        elif path.endswith(".keras") and os.path.isfile(path):
            import keras_resnets  # noqa: F401 (registers the package's layers for loading)

            teacher = keras.saving.load_model(path, compile=False)
        else:
            raise ValueError("it is neither a .keras file nor a preset folder")
    except (ValueError, OSError, TypeError) as err:
        raise ConfigError(f"distill.teacher cannot be loaded: {err}. Received: distill.teacher={path!r}") from err
    classes = teacher.output_shape[-1] if isinstance(teacher.output_shape, tuple) else None
    expected = tuple(teacher.input_shape[1:])
    fits = len(expected) == len(input_shape) and all(e is None or e == g for e, g in zip(expected, input_shape))
    if classes != num_classes or not fits:
        raise ConfigError(
            f"distill.teacher must take the data's images {tuple(input_shape)} and predict its {num_classes} "
            f"classes; {teacher.name!r} takes {expected} and predicts {classes}. Received: distill.teacher={path!r}")
    teacher.trainable = False
    return teacher


def _ends_in_softmax(model):
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", None) == "softmax"


def distillation_loss(teacher_logits, student_logits, temperature):
    """`T^2 * KL(softmax(teacher / T) || softmax(student / T))`, the mean over the batch."""
    teacher_log = keras.ops.log_softmax(keras.ops.cast(teacher_logits, "float32") / temperature, axis=-1)
    student_log = keras.ops.log_softmax(keras.ops.cast(student_logits, "float32") / temperature, axis=-1)
    kl = keras.ops.sum(keras.ops.exp(teacher_log) * (teacher_log - student_log), axis=-1)
    return temperature ** 2 * keras.ops.mean(kl)


def attach(model, teacher, *, temperature, weight):
    """Replaces `model.compute_loss` (this object's only) by the mix of the module docstring."""
    recipe_loss = model.compute_loss
    probabilities = _ends_in_softmax(teacher)

    def compute_loss(x=None, y=None, y_pred=None, sample_weight=None, training=True):
        hard = recipe_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training)
        if not training:
            return hard
        taught = keras.ops.cast(teacher(x, training=False), "float32")
        logits = keras.ops.log(keras.ops.maximum(taught, 1e-12)) if probabilities else taught
        soft = distillation_loss(keras.ops.stop_gradient(logits), y_pred, temperature)
        return (1.0 - weight) * keras.ops.cast(hard, "float32") + weight * soft

    model.compute_loss = compute_loss
    return model
