"""Loading a timm / torchvision state dict into one of our models: all of it or nothing.

Every variable of the model is matched to one checkpoint tensor by its layer's name (`timm_names`), turned
into Keras' layout (`state_dict`) and checked against the variable's shape before anything is assigned. A
variable with no tensor, a tensor no variable takes, or a shape that differs is a `ConversionError` that
lists what is left over on each side; the model is then left as it was.
"""

import numpy as np

from keras_resnets.conversion import state_dict as sd
from keras_resnets.conversion import timm_names

# Our variable names -> the PyTorch parameter / buffer names of the same module.
_TORCH_NAMES = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias",
                "moving_mean": "running_mean", "moving_variance": "running_var"}
# Buffers PyTorch keeps that no Keras variable corresponds to.
_IGNORED_SUFFIXES = (".num_batches_tracked",)
_SHOWN = 20  # leftovers listed per side in an error


class ConversionError(ValueError):
    """A checkpoint that does not map onto the model exactly; `missing`, `unexpected` and `mismatched` say how."""

    def __init__(self, message, *, missing=(), unexpected=(), mismatched=()):
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


def _own_variables(layer):
    """The variables `layer` holds itself, by name (a wrapper layer's sublayers hold theirs)."""
    own = {}
    for variable in layer.weights:
        parent, _, name = variable.path.rpartition("/")
        if parent == layer.path:
            own[name] = variable
    return own


def weight_layers(model):
    """Every layer that holds variables itself, nested ones included: (layer, {variable name: variable})."""
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        own = _own_variables(layer)
        if own:
            found.append((layer, own))
    return found


def _to_keras(layer, name, tensor):
    """A checkpoint tensor in the layout of `layer`'s variable `name`."""
    import keras

    if name != "kernel":
        return tensor
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return sd.depthwise_kernel(tensor, layer.depth_multiplier)
    if tensor.ndim == 4:
        return sd.conv_kernel(tensor)
    if tensor.ndim == 2:
        return sd.dense_kernel(tensor)
    if tensor.ndim == 3:  # Conv1D (ECA): PyTorch's (out, in, width) -> Keras' (width, in, out)
        return np.ascontiguousarray(np.transpose(tensor, (2, 1, 0)))
    return tensor


def _check_architecture(family, layers_by_name):
    """What the names cannot show: timm's ResNets stride a bottleneck's 3x3 conv, never its first 1x1."""
    if family != "resnet":
        return
    for name, layer in layers_by_name.items():
        block = timm_names.BLOCK.fullmatch(name)
        if block and block[3] == "1" and block[4] == "conv" and name.replace("_1_conv", "_3_conv") in layers_by_name:
            if tuple(layer.strides) != (1, 1):
                raise ConversionError(
                    f"timm and torchvision ResNets put a bottleneck's stride on its 3x3 convolution (v1.5); this "
                    f"model puts it on the first 1x1 ({name} has strides {tuple(layer.strides)}): build it with "
                    "stride_on='3x3', e.g. 'resnet50_v1_5' for timm's 'resnet50'."
                )


def checkpoint_keys(model):
    """Where each of `model`'s variables sits in a timm / torchvision state dict.

    Returns:
        (family, rows): "resnet" or "densenet", and one (layer, variable name, variable, checkpoint key) per
        variable; the key is None where the layer has no counterpart.

    Raises:
        ConversionError: when the model is not a layout with a timm counterpart.
    """
    found = weight_layers(model)
    layers_by_name = {layer.name: layer for layer, _ in found}
    family = timm_names.detect_family(layers_by_name)
    if family is None:
        raise ConversionError(
            f"Model {model.name!r} has no timm / torchvision layout: only ResNet v1.5 / ResNet-D / ResNeXt / "
            "Wide ResNet (basic or bottleneck blocks, ImageNet or deep stem) and ImageNet DenseNets map. See "
            "keras_resnets.conversion.TIMM_VARIANTS."
        )
    _check_architecture(family, layers_by_name)
    names = {layer.name for layer in model._flatten_layers(include_self=False)}
    avg_down = any(name.endswith("_0_pool") for name in names)
    stem_aa = "pool1_aa" in names
    rows = []
    for layer, variables in found:
        prefix = (timm_names.resnet_prefix(layer.name, avg_down=avg_down, stem_aa=stem_aa) if family == "resnet"
                  else timm_names.densenet_prefix(layer.name))
        for name, variable in variables.items():
            rows.append((layer, name, variable, f"{prefix}.{_TORCH_NAMES.get(name, name)}" if prefix else None))
    return family, rows


def plan(model, state, *, include_classifier=True):
    """The assignments that load `state` into `model`: a list of (variable, checkpoint key, array).

    Raises:
        ConversionError: when the model is not a family with a timm counterpart, or anything is left over.
    """
    family, rows = checkpoint_keys(model)
    state = timm_names.normalize_keys(state)
    skipped = () if include_classifier else (f"{timm_names.CLASSIFIER_PREFIXES[family]}.",)
    assignments, missing, mismatched, used = [], [], [], set()
    for layer, name, variable, key in rows:
        if not include_classifier and layer.name == timm_names.CLASSIFIER_LAYER:
            continue
        if key is None or key not in state:
            missing.append(f"{variable.path} (looked for {key or 'no counterpart'})")
            continue
        used.add(key)
        value = _to_keras(layer, name, state[key])
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(f"{variable.path} {tuple(variable.shape)} <- {key} {tuple(state[key].shape)}")
            continue
        assignments.append((variable, key, value))
    unexpected = [f"{key} {tuple(np.shape(value))}" for key, value in state.items()
                  if key not in used and not key.endswith(_IGNORED_SUFFIXES) and not key.startswith(skipped)]
    if missing or unexpected or mismatched:
        raise ConversionError(_message(model, family, missing, unexpected, mismatched, include_classifier),
                              missing=missing, unexpected=unexpected, mismatched=mismatched)
    return assignments


def _listing(title, items):
    if not items:
        return ""
    shown = "\n".join(f"    {item}" for item in items[:_SHOWN])
    more = f"\n    ... and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"\n  {title} ({len(items)}):\n{shown}{more}"


def _message(model, family, missing, unexpected, mismatched, include_classifier):
    hint = ""
    if any(item.startswith(f"{timm_names.CLASSIFIER_PREFIXES[family]}.") for item in unexpected) and include_classifier:
        hint = "\n  (a model without its classifier loads the rest with include_classifier=False)"
    return (
        f"The checkpoint does not map onto model {model.name!r} ({family} layout); nothing was loaded."
        + _listing("model variables with no checkpoint tensor", missing)
        + _listing("checkpoint tensors no model variable takes", unexpected)
        + _listing("shapes that differ (model <- checkpoint)", mismatched)
        + hint
    )


def load_state_dict(model, source, *, include_classifier=True):
    """Loads a timm / torchvision state dict into `model`, exactly or not at all.

    Args:
        model: a `keras.Model` from this package of a family with a timm counterpart (see `TIMM_VARIANTS`).
        source: a `{name: array}` state dict (NumPy arrays or torch tensors) or the path of a `.safetensors` /
            `.pth` file (`read_state_dict`).
        include_classifier: bool, load the classifier (`fc` / `classifier`) into `predictions`. False leaves
            `predictions` as it is (a new head) and ignores the checkpoint's classifier.

    Returns:
        `model`, with its weights replaced.

    Raises:
        ConversionError: a `ValueError` listing the model variables with no tensor, the tensors no variable
            takes and the shapes that differ; the model is left as it was.

    Example:
    ```python
    model = keras_resnets.create_model("resnet50_v1_5")     # timm's "resnet50"
    load_state_dict(model, "resnet50.a1_in1k.safetensors")
    ```
    """
    state = sd.as_numpy_state(source) if isinstance(source, dict) else sd.read_state_dict(source)
    for variable, _, value in plan(model, state, include_classifier=include_classifier):
        variable.assign(value.astype(variable.dtype))
    return model


def create_from_timm(timm_name, source=None, *, include_classifier=True, **kwargs):
    """Our model of timm's (or torchvision's) `timm_name`, loaded from `source` when one is given.

    Args:
        timm_name: str, a key of `TIMM_VARIANTS` ("resnet50", "resnet50d", "densenet121", ...).
        source: optional state dict or `.safetensors` / `.pth` path (see `load_state_dict`).
        include_classifier: bool, see `load_state_dict`.
        **kwargs: any `keras_resnets.create_model` argument (`classes`, `input_shape`, `stage_depths`, ...).

    Returns:
        A `keras.Model`.
    """
    from keras_resnets import create_model

    if timm_name not in timm_names.TIMM_VARIANTS:
        raise ValueError(
            f"`timm_name` must be one of {sorted(timm_names.TIMM_VARIANTS)}. Received: timm_name={timm_name!r}"
        )
    ours, overrides = timm_names.TIMM_VARIANTS[timm_name]
    model = create_model(ours, **{**overrides, **kwargs})
    if source is not None:
        load_state_dict(model, source, include_classifier=include_classifier)
    return model
