"""What every family shares: argument checks, config fields, layer helpers, the recursion limit, input and head.

Each family describes its architecture with a frozen, keyword-only config dataclass whose fields are declared
with `option(default, check, ...)` and checked by `validate_fields` (one set of checks for every family). Its
builder makes the body (stem and stages) and hands it to `build_classifier`, which wraps it with the
keras.applications public surface (`include_top`, `weights`, `input_tensor`, `input_shape`, `pooling`,
`classes`, `classifier_activation`, `name`) and the package's own (`include_preprocessing`, `features_only`),
checked as one `CommonArgs`. This module never imports the registry; the registry never imports it.
"""

import contextlib
import dataclasses
import functools
import os
import sys
from typing import Callable

import keras
from keras import layers

from keras_resnets import pretrained
from keras_resnets._weights import WEIGHT_FILE_SUFFIXES, imagenet_weights_path, load_weights_file
from keras_resnets.layers import PREPROCESSING_MODES, BatchNormalization, ImagePreprocessing

POOLING_MODES = (None, "avg", "max")
# Keras walks a Functional graph recursively when it builds one (and when it loads or clones one): CIFAR
# ResNet-1202 nests deeper than Python's default limit of 1000.
RECURSION_LIMIT = 20000
_FRACTIONS = {"[0, 1)": lambda v: 0 <= v < 1, "(0, 1)": lambda v: 0 < v < 1, "(0, 1]": lambda v: 0 < v <= 1}


@contextlib.contextmanager
def deep_recursion(limit: int = RECURSION_LIMIT):
    """Raises Python's recursion limit to `limit` inside the `with` block, and restores it after.

    The package's builders use it, so nothing needs it to build a model. Loading or cloning a very deep
    model (`keras.saving.load_model`, `keras.models.clone_model`) walks its graph recursively too: CIFAR
    ResNet-1202 needs it there.

    Args:
        limit: int, the limit inside the block; a higher current limit is left as it is.

    Example:
    ```python
    with keras_resnets.deep_recursion():
        model = keras.saving.load_model("resnet1202.keras")
    ```
    """
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, limit))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


@dataclasses.dataclass
class Body:
    """What a family's body returns: the last feature map, the feature levels and any extra outputs.

    `features` holds the stem's output (`"stem"`, before its pooling) and each stage's (`"stage1"`, ...), in
    order; `reductions` the stride of each of them (how many input pixels one feature-map pixel spans).
    """

    output: object
    features: dict
    extras: dict = dataclasses.field(default_factory=dict)
    reductions: dict = dataclasses.field(default_factory=dict)


class FeatureInfo(tuple):
    """The feature levels of a `features_only` model, one dict per output (timm's `feature_info`).

    Each dict has `index` (the level: 0 the stem, 1... the stages), `name` (the output's key), `num_chs`,
    `reduction` (the level's stride) and `module` (the Keras layer that computes it).
    """

    def channels(self):
        """The channel count of each output, in order."""
        return [info["num_chs"] for info in self]

    def reduction(self):
        """The stride of each output, in order."""
        return [info["reduction"] for info in self]

    def names(self):
        """The output keys, in order."""
        return [info["name"] for info in self]


def channel_axis():
    """The channel axis of the image data format models are built with (Keras' config)."""
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def check_choice(arg, value, allowed):
    """`value` is one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"`{arg}` must be one of {tuple(allowed)}. Received: {arg}={value!r}")


def check_bool(arg, value):
    """`value` is True or False (not merely truthy)."""
    if not isinstance(value, bool):
        raise ValueError(f"`{arg}` must be True or False. Received: {arg}={value!r}")


def check_int(arg, value, minimum=1):
    """`value` is an int (not a bool) >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{arg}` must be an integer >= {minimum}. Received: {arg}={value!r}")


def check_int_sequence(arg, value, minimum=1, length=None):
    """`value` is a non-empty list or tuple of ints >= `minimum` (of `length` entries, if given)."""
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value
    )
    if not ok or not value or (length is not None and len(value) != length):
        size = f"{length} " if length is not None else ""
        raise ValueError(f"`{arg}` must be a non-empty list of {size}integers >= {minimum}. Received: {arg}={value!r}")


def check_fraction(arg, value, interval="[0, 1)"):
    """`value` is a real number in `interval`: "[0, 1)" (rates, momentum), "(0, 1)" or "(0, 1]"."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _FRACTIONS[interval](value):
        raise ValueError(f"`{arg}` must be a number in {interval}. Received: {arg}={value!r}")


def check_same_length(config, names):
    """The per-stage fields `names` of `config` have one entry per stage."""
    if len({len(getattr(config, name)) for name in names}) > 1:
        listed = ", ".join(f"`{name}`" for name in names)
        received = ", ".join(f"{name}={getattr(config, name)!r}" for name in names)
        raise ValueError(f"{listed} need one entry per stage (the same length). Received: {received}")


def option(default, check: Callable, **limits):
    """A config dataclass field whose value `validate_fields` checks as `check(name, value, **limits)`."""
    return dataclasses.field(default=default, metadata={"check": functools.partial(check, **limits)})


def validate_fields(config):
    """Runs each field's check, in the order the fields are declared (so the first bad one is reported)."""
    for field in dataclasses.fields(config):
        check = field.metadata.get("check")
        if check is not None:
            check(field.name, getattr(config, field.name))


def conv2d(x, filters, kernel, *, name, strides=1, groups=1, use_bias=False, dilation=1, symmetric=True):
    """A he_normal convolution named `{name}_conv`, padded symmetrically (`{name}_pad`) when strided.

    TensorFlow's "same" pads a stride-2 convolution asymmetrically; the papers' code (torchvision, Caffe's
    `pad: 1`) pads both sides, so a strided k x k convolution gets explicit zero padding of k // 2 instead
    (`symmetric=False` keeps TensorFlow's "same": no padding layer).
    A `dilation` > 1 (stride 1) pads `dilation * (k - 1) / 2` on each side, as PyTorch's `padding=dilation`.
    """
    padding = "same"
    if kernel > 1 and strides > 1 and symmetric:
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    return layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding=padding,
        groups=groups,
        dilation_rate=dilation,
        use_bias=use_bias,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)


def batch_norm(x, *, name, epsilon, momentum, zero_gamma=False):
    """The package's BatchNormalization on the channel axis; `zero_gamma` starts its scale at zero."""
    return BatchNormalization(
        axis=channel_axis(),
        epsilon=epsilon,
        momentum=momentum,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=name,
    )(x)


def bn_relu(x, prefix, *, epsilon, momentum):
    """BatchNormalization (`{prefix}_bn`) then ReLU (`{prefix}_relu`)."""
    x = batch_norm(x, name=f"{prefix}_bn", epsilon=epsilon, momentum=momentum)
    return layers.Activation("relu", name=f"{prefix}_relu")(x)


def _check_weights(arg, weights):
    """None, "imagenet", a hub id ("timm/resnet50.a1_in1k", "hf://...") or an existing file with a weights suffix."""
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "`weights` must be None, 'imagenet', a Hugging Face hub id ('timm/resnet50.a1_in1k', 'hf://org/name'), "
            "or the path to a .keras / .weights.h5 / .h5 file or a timm / torchvision checkpoint (.safetensors / "
            f".pth / .pt). Received: {arg}={weights!r}"
        )
    if weights is None or weights == "imagenet":
        return
    repo_id = pretrained.parse_hub_id(weights)
    if repo_id is not None:
        pretrained.check_hub_id(repo_id)
        return
    weights = os.fspath(weights)
    if not weights.endswith(WEIGHT_FILE_SUFFIXES):
        raise ValueError(
            f"`weights` file must end in one of {WEIGHT_FILE_SUFFIXES}, or `weights` be a Hugging Face hub id "
            f"('timm/resnet50.a1_in1k'; keras_resnets.list_pretrained(source='timm') lists timm's). "
            f"Received: {arg}={weights!r}"
        )
    if not os.path.isfile(weights):
        raise ValueError(f"`weights` file does not exist. Received: {arg}={weights!r}")


def _check_activation(arg, activation):
    """None, a callable or the name of a Keras activation."""
    if activation is not None and not callable(activation):
        try:
            keras.activations.get(activation)
        except (ValueError, TypeError):
            raise ValueError(
                "`classifier_activation` must be None, a callable or the name of a Keras activation. "
                f"Received: {arg}={activation!r}"
            ) from None


def _check_preprocessing(arg, value):
    """True, False, None or a preprocessing mode name."""
    if value not in (False, None, True) and value not in PREPROCESSING_MODES:
        raise ValueError(
            f"`include_preprocessing` must be True/False or one of {PREPROCESSING_MODES}. Received: {arg}={value!r}"
        )


def _check_input_tensor(arg, value):
    """None or a (Keras) tensor."""
    if value is not None and not (keras.backend.is_keras_tensor(value) or hasattr(value, "shape")):
        raise ValueError(f"`input_tensor` must be a Keras tensor. Received: {arg}={value!r}")


def _check_out_indices(arg, value):
    """None or a non-empty list / tuple of distinct ints (levels; negative ones count from the last)."""
    ok = isinstance(value, (list, tuple)) and value and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    )
    if value is not None and (not ok or len(set(value)) != len(value)):
        raise ValueError(
            "`out_indices` must be None or a non-empty list of distinct integers (0 the stem, 1... the stages, "
            f"negative ones from the last). Received: {arg}={value!r}"
        )


@dataclasses.dataclass(frozen=True, kw_only=True)
class CommonArgs:
    """The keras.applications arguments every factory takes, and the package's own two (see the factories)."""

    name: str
    features_only: bool = option(False, check_bool)
    include_top: bool = option(True, check_bool)
    weights: object = option(None, _check_weights)
    pooling: object = option(None, check_choice, allowed=POOLING_MODES)
    classes: int = option(1000, check_int)
    classifier_activation: object = option("softmax", _check_activation)
    include_preprocessing: object = option(False, _check_preprocessing)
    input_tensor: object = option(None, _check_input_tensor)
    input_shape: object = None
    out_indices: object = option(None, _check_out_indices)
    head_dropout: float = option(0.0, check_fraction)

    def __post_init__(self):
        validate_fields(self)
        if self.out_indices is not None and not self.features_only:
            raise ValueError(
                "`out_indices` picks the feature levels of a `features_only=True` model. Received: "
                f"out_indices={self.out_indices!r}, features_only=False"
            )
        if self.head_dropout > 0 and (self.features_only or not self.include_top):
            raise ValueError(
                "`head_dropout` acts before the classifier; this model has none (features_only=True or "
                f"include_top=False). Received: head_dropout={self.head_dropout!r}"
            )
        if self.weights == "imagenet" and self.include_top:
            self._check_imagenet_head()

    def _check_imagenet_head(self):
        """keras.applications' head of 1,000 softmax classes, the only one its weights fit."""
        if self.classes != 1000:
            raise ValueError(
                "With `weights='imagenet'` and `include_top=True`, `classes` must be 1000. "
                f"Received: classes={self.classes}"
            )
        if self.classifier_activation not in (None, "softmax"):
            raise ValueError(
                "With `weights='imagenet'`, `classifier_activation` must be None or 'softmax'. "
                f"Received: classifier_activation={self.classifier_activation!r}"
            )


def _input_size_error(message, input_shape):
    return ValueError(f"{message} Received: input_shape={input_shape!r}")


def resolve_input_shape(args: CommonArgs, spec) -> tuple:
    """The model's input shape: `args.input_shape`, the input tensor's, or the variant's default size.

    Checks the rank, the channel count and the minimum size, and what ImageNet weights need (RGB, and the
    training size when the head is included).
    """
    fmt = keras.config.image_data_format()
    input_shape = args.input_shape
    if input_shape is None and args.input_tensor is not None:
        input_shape = tuple(args.input_tensor.shape[1:])
    if input_shape is None:
        size = spec.default_size if args.include_top else None
        return (size, size, 3) if fmt == "channels_last" else (3, size, size)
    if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3:
        raise _input_size_error(
            "`input_shape` must be a tuple of 3 dimensions (height, width, channels) for channels_last data.",
            input_shape,
        )
    input_shape = tuple(input_shape)
    spatial = input_shape[:2] if fmt == "channels_last" else input_shape[1:]
    channels = input_shape[2] if fmt == "channels_last" else input_shape[0]
    if not isinstance(channels, int) or channels < 1:
        raise _input_size_error("`input_shape` must have a known channel count >= 1.", input_shape)
    if any(dim is not None and (not isinstance(dim, int) or dim < spec.min_size) for dim in spatial):
        raise _input_size_error(
            f"Input size must be at least {spec.min_size}x{spec.min_size} for this model.", input_shape
        )
    if args.weights == "imagenet" and channels != 3:
        raise _input_size_error("`weights='imagenet'` needs 3-channel RGB input.", input_shape)
    if args.weights == "imagenet" and args.include_top and tuple(spatial) != (spec.default_size,) * 2:
        raise _input_size_error(
            f"With `weights='imagenet'` and `include_top=True` the input must be "
            f"{spec.default_size}x{spec.default_size}.",
            input_shape,
        )
    return input_shape


def apply_head(x, *, include_top, pooling, classes, classifier_activation, head_dropout=0.0):
    """keras.applications' head: global pooling, (dropout,) a dense classifier, same layer names."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if head_dropout > 0:
            x = layers.Dropout(head_dropout, name="head_dropout")(x)
        # Keep the logits in float32 under a mixed-precision policy (numerically safe softmax / loss).
        dtype = "float32" if keras.config.dtype_policy().name.startswith("mixed") else None
        return layers.Dense(classes, activation=classifier_activation, name="predictions", dtype=dtype)(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def _input_layer(args: CommonArgs, input_shape):
    """The image input: a new `Input`, or the caller's `input_tensor` (wrapped if it is not a Keras tensor)."""
    if args.input_tensor is None:
        return layers.Input(shape=input_shape)
    if keras.backend.is_keras_tensor(args.input_tensor):
        return args.input_tensor
    return layers.Input(tensor=args.input_tensor, shape=input_shape)


def build_classifier(body_fn: Callable, *, spec, **common):
    """Wraps a family body into a keras.applications-style Functional model.

    Args:
        body_fn: callable, `body_fn(x) -> Body`, builds the stem and stages on the input tensor.
        spec: the variant's `ModelSpec` (input size limits, preprocessing mode, ImageNet weights).
        **common: the `CommonArgs` fields. `features_only=True` makes the model output `Body.features` (a
            dict of stage outputs, or the levels `out_indices` picks, 0 the stem) with a `feature_info`
            attribute, and ignores the head arguments; `head_dropout` drops before the classifier;
            `include_preprocessing` True inserts the variant's own `preprocessing` mode in the model (raw
            [0, 255] pixels in), a mode name that mode.
            `weights` may be a hub id or a timm / torchvision checkpoint (`keras_resnets.pretrained`): a tag's
            architecture must be this variant, its preprocessing is the one `include_preprocessing=True` uses,
            the stem follows the input's channels and another number of classes gets a fresh head.

    Returns:
        A `keras.Model`.
    """
    args = CommonArgs(**common)
    input_shape = resolve_input_shape(args, spec)
    # A hub id is checked against the architecture and fetched before any layer is made.
    source = None if args.weights in (None, "imagenet") else pretrained.resolve(args.weights, spec.name)
    mode = _preprocessing_mode(args, spec, source)
    include_top = args.include_top and not args.features_only
    with deep_recursion():
        img_input = _input_layer(args, input_shape)
        x = img_input
        if mode:
            x = ImagePreprocessing(mode, name="preprocessing")(x)
        body = body_fn(x)
        outputs = apply_head(
            body.output,
            include_top=include_top,
            pooling=args.pooling,
            classes=args.classes,
            classifier_activation=args.classifier_activation,
            head_dropout=args.head_dropout,
        )
        if body.extras:
            outputs = {"predictions": outputs, **body.extras}
        inputs = img_input if args.input_tensor is None else keras.utils.get_source_inputs(args.input_tensor)
        model = keras.Model(inputs, outputs, name=args.name)
        if args.weights == "imagenet":
            model.load_weights(imagenet_weights_path(spec.imagenet_weights, include_top))
        elif source is not None:
            hint = pretrained.mismatch_hint(source, spec.name) if source.hub_id else ""
            load_weights_file(model, source.path, include_top=include_top, hint=hint)
        if args.features_only:
            levels = _feature_levels(body, args.out_indices)
            model = keras.Model(inputs, {name: body.features[name] for name in levels}, name=args.name)
            model.feature_info = _feature_info(body, levels)
    if source is not None and source.tag is not None:
        model.pretrained_tag = source.tag.tag  # what keras_resnets.data_config(model) reads
    return model


def _feature_levels(body, out_indices):
    """The feature names `out_indices` picks from the body's levels (default: the stages, not the stem)."""
    names = list(body.features)
    if out_indices is None:
        return [name for name in names if name != "stem"]
    bad = [i for i in out_indices if not -len(names) <= i < len(names)]
    if bad:
        raise ValueError(
            f"`out_indices` must be levels in [{-len(names)}, {len(names) - 1}] of this model's {names}. "
            f"Received: out_indices={tuple(out_indices)!r}"
        )
    picked = sorted({i % len(names) for i in out_indices})
    if len(picked) != len(out_indices):
        raise ValueError(f"`out_indices` names a level twice. Received: out_indices={tuple(out_indices)!r}")
    return [names[i] for i in picked]


def _feature_info(body, levels):
    """A `FeatureInfo` for the outputs `levels` of `body`."""
    names = list(body.features)
    return FeatureInfo(
        dict(index=names.index(name), name=name, num_chs=int(body.features[name].shape[channel_axis()]),
             reduction=body.reductions[name], module=body.features[name]._keras_history.operation.name)
        for name in levels
    )


def _preprocessing_mode(args: CommonArgs, spec, source):
    """The preprocessing layer's mode, or None for no layer: True means the pretrained tag's mode, else the
    variant's own."""
    if not args.include_preprocessing:
        return None
    if args.include_preprocessing is not True:
        return args.include_preprocessing
    if source is not None and source.tag is not None:
        if source.tag.preprocessing is None:
            raise ValueError(
                f"{source.tag.tag!r} expects mean {source.tag.mean} and std {source.tag.std}, which none of "
                f"{PREPROCESSING_MODES} gives; preprocess the images yourself (keras_resnets.data_config). "
                "Received: include_preprocessing=True"
            )
        return source.tag.preprocessing
    if spec.preprocessing is None:
        raise ValueError(f"{args.name!r} defines no preprocessing; pass a mode from {PREPROCESSING_MODES}.")
    return spec.preprocessing
