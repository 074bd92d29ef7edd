"""What every family shares: argument checks, the input, the head, weight loading and feature taps.

Each family module builds its body (stem and stages) and hands it to `build_classifier`, which wraps it
with the keras.applications public surface (`include_top`, `weights`, `input_tensor`, `input_shape`,
`pooling`, `classes`, `classifier_activation`, `name`) and the package's own (`include_preprocessing`,
`features_only`).
"""

import dataclasses
import os
import socket
from typing import Callable, Optional

import keras
from keras import layers

from keras_resnets.layers import PREPROCESSING_MODES, ImagePreprocessing

POOLING_MODES = (None, "avg", "max")
WEIGHT_FILE_SUFFIXES = (".keras", ".weights.h5", ".h5")
_DOWNLOAD_TIMEOUT_S = 10


@dataclasses.dataclass(frozen=True)
class ImageNetWeights:
    """Where keras.applications publishes a model's ImageNet weights (legacy Keras `.h5` files)."""

    base_url: str
    file_top: str
    hash_top: str
    file_notop: str
    hash_notop: str


def keras_applications_weights(subdir, key, hashes):
    """keras.applications' published files for `key` ("resnet50", "densenet121", ...) in `subdir`.

    `hashes` is the (include_top, notop) pair from keras.applications' source.
    """
    return ImageNetWeights(
        base_url=f"https://storage.googleapis.com/tensorflow/keras-applications/{subdir}/",
        file_top=f"{key}_weights_tf_dim_ordering_tf_kernels.h5",
        hash_top=hashes[0],
        file_notop=f"{key}_weights_tf_dim_ordering_tf_kernels_notop.h5",
        hash_notop=hashes[1],
    )


@dataclasses.dataclass
class Body:
    """What a family's body returns: the last feature map, the stage outputs and any extra outputs."""

    output: object
    features: dict
    extras: dict = dataclasses.field(default_factory=dict)


def channel_axis():
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def check_choice(arg, value, allowed):
    if value not in allowed:
        raise ValueError(f"`{arg}` must be one of {tuple(allowed)}. Received: {arg}={value!r}")


def check_int(arg, value, minimum=1):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{arg}` must be an integer >= {minimum}. Received: {arg}={value!r}")


def check_int_sequence(arg, value, minimum=1, length=None):
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in value
    )
    if not ok or not value or (length is not None and len(value) != length):
        size = f"{length} " if length is not None else ""
        raise ValueError(f"`{arg}` must be a non-empty list of {size}integers >= {minimum}. Received: {arg}={value!r}")


def check_rate(arg, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{arg}` must be a float in [0, 1). Received: {arg}={value!r}")


def _resolve_input_shape(input_shape, input_tensor, include_top, default_size, min_size, weights):
    fmt = keras.config.image_data_format()
    if input_tensor is not None:
        if input_shape is None:
            input_shape = tuple(input_tensor.shape[1:])
    if input_shape is None:
        size = default_size if include_top else None
        channels = 3
        return (size, size, channels) if fmt == "channels_last" else (channels, size, size)
    if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3:
        raise ValueError(
            "`input_shape` must be a tuple of 3 dimensions (height, width, channels) for "
            f"channels_last data. Received: input_shape={input_shape!r}"
        )
    input_shape = tuple(input_shape)
    spatial = input_shape[:2] if fmt == "channels_last" else input_shape[1:]
    channels = input_shape[2] if fmt == "channels_last" else input_shape[0]
    if not isinstance(channels, int) or channels < 1:
        raise ValueError(f"`input_shape` must have a known channel count >= 1. Received: input_shape={input_shape!r}")
    for dim in spatial:
        if dim is not None and (not isinstance(dim, int) or dim < min_size):
            raise ValueError(
                f"Input size must be at least {min_size}x{min_size} for this model. "
                f"Received: input_shape={input_shape!r}"
            )
    if weights is not None and weights != "imagenet":
        return input_shape
    if weights == "imagenet":
        if channels != 3:
            raise ValueError(f"`weights='imagenet'` needs 3-channel RGB input. Received: input_shape={input_shape!r}")
        if include_top and tuple(spatial) != (default_size, default_size):
            raise ValueError(
                f"With `weights='imagenet'` and `include_top=True` the input must be "
                f"{default_size}x{default_size}. Received: input_shape={input_shape!r}"
            )
    return input_shape


def validate_common_args(
    *,
    include_top,
    weights,
    input_tensor,
    input_shape,
    pooling,
    classes,
    classifier_activation,
    include_preprocessing,
    default_size,
    min_size,
    imagenet_weights,
    name,
):
    """Checks the keras.applications arguments and returns the resolved input shape."""
    if not isinstance(include_top, bool):
        raise ValueError(f"`include_top` must be True or False. Received: include_top={include_top!r}")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            "`weights` must be None, 'imagenet' or the path to a .keras / .weights.h5 / .h5 file. "
            f"Received: weights={weights!r}"
        )
    if weights is not None and weights != "imagenet":
        weights = os.fspath(weights)
        if not weights.endswith(WEIGHT_FILE_SUFFIXES):
            raise ValueError(f"`weights` file must end in one of {WEIGHT_FILE_SUFFIXES}. Received: weights={weights!r}")
        if not os.path.isfile(weights):
            raise ValueError(f"`weights` file does not exist. Received: weights={weights!r}")
    if weights == "imagenet" and imagenet_weights is None:
        from keras_resnets._registry import list_pretrained

        raise ValueError(
            f"No ImageNet weights are published for {name!r}. Models with `weights='imagenet'`: "
            f"{list_pretrained()}. Received: weights='imagenet'"
        )
    check_choice("pooling", pooling, POOLING_MODES)
    check_int("classes", classes)
    if weights == "imagenet" and include_top and classes != 1000:
        raise ValueError(
            f"With `weights='imagenet'` and `include_top=True`, `classes` must be 1000. Received: classes={classes}"
        )
    if classifier_activation is not None and not callable(classifier_activation):
        try:
            keras.activations.get(classifier_activation)
        except (ValueError, TypeError):
            raise ValueError(
                "`classifier_activation` must be None, a callable or the name of a Keras activation. "
                f"Received: classifier_activation={classifier_activation!r}"
            ) from None
    if weights == "imagenet" and include_top and classifier_activation not in (None, "softmax"):
        raise ValueError(
            "With `weights='imagenet'`, `classifier_activation` must be None or 'softmax'. "
            f"Received: classifier_activation={classifier_activation!r}"
        )
    if include_preprocessing not in (False, None, True) and include_preprocessing not in PREPROCESSING_MODES:
        raise ValueError(
            "`include_preprocessing` must be True/False or one of "
            f"{PREPROCESSING_MODES}. Received: include_preprocessing={include_preprocessing!r}"
        )
    if input_tensor is not None and not (keras.backend.is_keras_tensor(input_tensor) or hasattr(input_tensor, "shape")):
        raise ValueError(f"`input_tensor` must be a Keras tensor. Received: input_tensor={input_tensor!r}")
    return _resolve_input_shape(input_shape, input_tensor, include_top, default_size, min_size, weights)


def apply_head(x, *, include_top, pooling, classes, classifier_activation):
    """keras.applications' head: global pooling and a dense classifier, same layer names."""
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        # Keep the logits in float32 under a mixed-precision policy (numerically safe softmax / loss).
        dtype = "float32" if keras.config.dtype_policy().name.startswith("mixed") else None
        return layers.Dense(classes, activation=classifier_activation, name="predictions", dtype=dtype)(x)
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return x


def imagenet_weights_path(info: ImageNetWeights, include_top: bool) -> str:
    """The cached keras.applications weight file, downloaded (hash-checked) if missing.

    Fails within seconds without network, with a message saying where to put the file.
    """
    fname, file_hash = (info.file_top, info.hash_top) if include_top else (info.file_notop, info.hash_notop)
    cache_dir = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    origin = info.base_url + fname
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        return keras.utils.get_file(fname, origin, cache_subdir="models", file_hash=file_hash, cache_dir=cache_dir)
    except Exception as err:  # get_file wraps URL and hash errors in a bare Exception.
        target = os.path.join(cache_dir, "models", fname)
        raise RuntimeError(
            f"Could not get the ImageNet weights file {fname!r} from {origin} ({err}). Without network, "
            f"download it elsewhere and place it at {target} (it is checked against hash {file_hash}), "
            "or pass `weights=<path to a .keras/.weights.h5/.h5 file>`."
        ) from err
    finally:
        socket.setdefaulttimeout(old_timeout)


def build_classifier(
    body_fn: Callable,
    *,
    name: str,
    include_top: bool = True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling: Optional[str] = None,
    classes: int = 1000,
    classifier_activation="softmax",
    include_preprocessing=False,
    features_only: bool = False,
    spec=None,
):
    """Wraps a family body into a keras.applications-style Functional model.

    Args:
        body_fn: callable, `body_fn(x) -> Body`, builds the stem and stages on the input tensor.
        spec: the variant's `ModelSpec` (input size limits, preprocessing mode, ImageNet weights).
        features_only: bool, if True the model outputs `Body.features` (a dict of stage outputs) and
            ignores the head arguments.
        include_preprocessing: bool or str, True inserts the variant's own `preprocessing` mode in the
            model (raw [0, 255] pixels in), a mode name inserts that mode.
        Others: see the public factories.
    """
    default_size, min_size = spec.default_size, spec.min_size
    preprocessing, imagenet_weights = spec.preprocessing, spec.imagenet_weights
    if not isinstance(features_only, bool):
        raise ValueError(f"`features_only` must be True or False. Received: features_only={features_only!r}")
    input_shape = validate_common_args(
        include_top=include_top,
        weights=weights,
        input_tensor=input_tensor,
        input_shape=input_shape,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
        include_preprocessing=include_preprocessing,
        default_size=default_size,
        min_size=min_size,
        imagenet_weights=imagenet_weights,
        name=name,
    )
    if include_preprocessing is True and preprocessing is None:
        raise ValueError(f"{name!r} defines no preprocessing; pass a mode from {PREPROCESSING_MODES}.")
    if features_only:
        include_top = False

    if input_tensor is None:
        img_input = layers.Input(shape=input_shape)
    elif keras.backend.is_keras_tensor(input_tensor):
        img_input = input_tensor
    else:
        img_input = layers.Input(tensor=input_tensor, shape=input_shape)

    x = img_input
    if include_preprocessing:
        mode = preprocessing if include_preprocessing is True else include_preprocessing
        x = ImagePreprocessing(mode, name="preprocessing")(x)
    body = body_fn(x)
    outputs = apply_head(
        body.output,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    if body.extras:
        outputs = {"predictions": outputs, **body.extras}
    if input_tensor is not None:
        inputs = keras.utils.get_source_inputs(input_tensor)
    else:
        inputs = img_input
    model = keras.Model(inputs, outputs, name=name)

    if weights == "imagenet":
        model.load_weights(imagenet_weights_path(imagenet_weights, include_top))
    elif weights is not None:
        load_weights_file(model, weights)
    if features_only:
        return keras.Model(inputs, dict(body.features), name=name)
    return model


def load_weights_file(model, weights):
    """`model.load_weights(weights)`, every failure one `ValueError` naming the file and the reason.

    Keras raises OSError (not HDF5), BadZipFile (not a `.keras` archive) or a multi-line ValueError (another
    architecture) without the path."""
    path = os.fspath(weights)
    try:
        model.load_weights(path)
    except Exception as err:  # several types, see above
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        raise ValueError(
            f"Could not load `weights` file {path!r} into {model.name!r}: expected a .weights.h5 / .keras / .h5 file "
            f"saved from a model with this architecture (same variant, input channels and classes). "
            f"{reason[:400]}{'...' if len(reason) > 400 else ''}"
        ) from err
