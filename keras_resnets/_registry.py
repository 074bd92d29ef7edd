"""The model registry: every variant by snake_case name, its spec, its public factory, and `create_model`.

Variants are data (timm's `@register_model` pattern). A family module registers each variant with
`register_model(...)`, the one-line decorator of that variant's CamelCase factory: the decorator's arguments
are the variant's table row (family, builder, architecture config, input facts), the decorated function is a
one-line call of `create_model`, and the decorator gives it the keras.applications signature and the shared
docstring. `create_model(name, **kwargs)` lets the caller's kwargs override both the architecture config and
the keras.applications arguments; `build_model(spec, **kwargs)` builds an unregistered spec the same way.
"""

import copy
import dataclasses
import difflib
import fnmatch
import functools
import inspect
from typing import Callable, Optional

from keras_resnets._weights import ImageNetWeights

# keras.applications' arguments, in its order, then the package's own.
KERAS_APPLICATIONS_ARGS = (
    "include_top",
    "weights",
    "input_tensor",
    "input_shape",
    "pooling",
    "classes",
    "classifier_activation",
    "name",
)
PACKAGE_ARGS = {"include_preprocessing": False, "features_only": False, "out_indices": None, "head_dropout": 0.0}
COMMON_ARGS = (*KERAS_APPLICATIONS_ARGS, *PACKAGE_ARGS)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered variant.

    Attributes:
        name: str, the registry name (`resnext50_32x4d`).
        factory: str, the public CamelCase factory (`ResNeXt50_32x4d`).
        family: str, `resnet`, `resnet_v2`, `cifar_resnet`, `wide_resnet`, `resnext`, `densenet` or `attention`.
        builder: callable, the family builder, called as `builder(spec=spec, config=config, **common_args)`.
        config: dict, the architecture arguments (the fields of the family's config class).
        default_size: int, the training resolution (and the input size when `include_top`).
        min_size: int, the smallest input side the architecture accepts.
        preprocessing: str or None, what the variant expects (`caffe`, `tf`, `torch`).
        default_classes: int, 1000 for ImageNet variants, 10 for CIFAR.
        imagenet_weights: where keras.applications publishes the weights, if it does.
        paper: str, the paper link.
        keras_name: str or None, for a keras.applications drop-in the model name keras.applications gives it
            (`resnet50v2`); its factory then takes keras.applications' arguments by position too.
    """

    name: str
    factory: str
    family: str
    builder: Callable
    config: dict
    default_size: int = 224
    min_size: int = 32
    preprocessing: Optional[str] = None
    default_classes: int = 1000
    imagenet_weights: Optional[ImageNetWeights] = None
    paper: str = ""
    keras_name: Optional[str] = None


_REGISTRY: dict = {}
_FACTORIES: dict = {}  # registry name -> public factory


def register(spec: ModelSpec) -> ModelSpec:
    """Adds `spec` to the registry under its name (once)."""
    if spec.name in _REGISTRY:
        raise ValueError(f"Model {spec.name!r} is registered twice.")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(pattern: Optional[str] = None, family: Optional[str] = None) -> list:
    """Registered model names, sorted.

    Args:
        pattern: str or None, a shell-style wildcard (`"resnet*"`, `"*densenet*"`).
        family: str or None, keep only this family.

    Example:
    ```python
    keras_resnets.list_models("resnext*")
    ```
    """
    names = sorted(_REGISTRY)
    if pattern is not None:
        names = [n for n in names if fnmatch.fnmatch(n, pattern)]
    if family is not None:
        families = sorted({s.family for s in _REGISTRY.values()})
        if family not in families:
            raise ValueError(f"`family` must be one of {families}. Received: family={family!r}")
        names = [n for n in names if _REGISTRY[n].family == family]
    return names


def list_pretrained() -> list:
    """Names of the variants that load keras.applications' ImageNet weights with `weights='imagenet'`."""
    return [n for n in list_models() if _REGISTRY[n].imagenet_weights is not None]


def get_model_spec(name: str) -> ModelSpec:
    """The registered `ModelSpec` of a variant; unknown names get close matches in the error."""
    if not isinstance(name, str):
        raise ValueError(f"Model name must be a string. Received: {name!r}")
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=5, cutoff=0.5)
        hint = f" Did you mean one of {close}?" if close else ""
        raise ValueError(
            f"Unknown model {name!r}.{hint} See keras_resnets.list_models() for all {len(_REGISTRY)} names."
        )
    return _REGISTRY[name]


def get_model_config(name: str) -> dict:
    """A copy of a variant's architecture config plus its input facts.

    Example:
    ```python
    keras_resnets.get_model_config("resnet20")["stage_depths"]  # (3, 3, 3)
    ```
    """
    spec = get_model_spec(name)
    return {
        **copy.deepcopy(spec.config),
        "family": spec.family,
        "default_size": spec.default_size,
        "min_size": spec.min_size,
        "preprocessing": spec.preprocessing,
        "classes": spec.default_classes,
        "pretrained": spec.imagenet_weights is not None,
    }


def create_model(model_name: str, /, **kwargs):
    """Builds a registered variant by name.

    Args:
        model_name: str, a name from `list_models()` (positional).
        **kwargs: keras.applications arguments (`include_top`, `weights`, `input_shape`, `pooling`,
            `classes`, ...) and any architecture key of the variant's config (`drop_path_rate`, ...),
            which override the registered values. `weights` defaults to None here.

    Returns:
        A `keras.Model`.

    Example:
    ```python
    model = keras_resnets.create_model("resnet50", drop_path_rate=0.05, classes=10)
    ```
    """
    return build_model(get_model_spec(model_name), **kwargs)


def build_model(spec: ModelSpec, **kwargs):
    """Builds the variant `spec` describes, registered or not (`create_model` without the look-up)."""
    unknown = sorted(set(kwargs) - set(COMMON_ARGS) - set(spec.config))
    if unknown:
        allowed = sorted(set(COMMON_ARGS) | set(spec.config))
        raise TypeError(f"{spec.name!r} got unknown argument(s) {unknown}. Allowed: {allowed}")
    if kwargs.get("weights") == "imagenet" and spec.imagenet_weights is None:
        raise ValueError(
            f"No ImageNet weights are published for {spec.name!r}. Models with `weights='imagenet'`: "
            f"{list_pretrained()}. Received: weights='imagenet'"
        )
    config = {**spec.config, **{key: value for key, value in kwargs.items() if key in spec.config}}
    common = {key: value for key, value in kwargs.items() if key not in spec.config}
    common.setdefault("name", spec.name)
    common.setdefault("classes", spec.default_classes)
    return spec.builder(spec=spec, config=config, **common)


_FACTORY_DOC = """{title}

Reference: {paper}

Registry name: `{name}` (`keras_resnets.create_model("{name}")`). Expects {preprocessing} input
preprocessing; default input {size}x{size}, minimum {min_size}x{min_size}.

Args ({how}):
    include_top: bool, whether to include the global-average-pool + dense classifier.
    weights: None (random init), {weights_doc}a timm tag or Hugging Face hub id where one fits this
        architecture ("timm/resnet50.a1_in1k"; `keras_resnets.list_pretrained(source="timm")`: everything but
        a classifier of another size loads, and the stem adapts to other channel counts), a timm /
        torchvision `.safetensors` / `.pth` checkpoint, or the path to a `.keras` / `.weights.h5` / `.h5`
        file. Default: {weights_default!r}.
    input_tensor: optional Keras tensor to use as the image input.
    input_shape: optional tuple, `(height, width, channels)`; any size >= {min_size} and any channel
        count work without ImageNet weights.
    pooling: None, "avg" or "max": global pooling of the features when `include_top=False`.
    classes: int, number of classes (default {classes}).
    classifier_activation: str, callable or None (logits) for the top layer.
    name: str, the model name (default {model_name!r}).
    include_preprocessing: bool or str, keyword only. True puts the variant's own preprocessing
        ({preprocessing}) in the model so it takes raw [0, 255] pixels; a mode name ("caffe", "tf",
        "torch") picks another.
    features_only: bool, keyword only. Return a model whose output is a dict of stage outputs
        (`{{"stage1": ..., "stage2": ...}}`) for detection / segmentation backbones, with a `feature_info`
        attribute (each output's channels and stride, as timm's).
    out_indices: None or list of ints, keyword only, with `features_only`: the levels to output, 0 the
        stem's stride-2 map ("stem"), 1... the stages, negative from the last (timm's `out_indices`).
    head_dropout: float in [0, 1), keyword only: dropout before the classifier (timm's `drop_rate`).
    **kwargs: any key of `keras_resnets.get_model_config("{name}")` to override the architecture.

Returns:
    A `keras.Model`.

Example:
```python
model = keras_resnets.{factory}(weights=None, input_shape=({size}, {size}, 3), classes={classes})
```
"""


def _factory_defaults(spec: ModelSpec) -> dict:
    """keras.applications' argument defaults for `spec`'s factory."""
    return dict(
        include_top=True,
        weights="imagenet" if spec.imagenet_weights else None,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=spec.default_classes,
        classifier_activation="softmax",
        name=spec.keras_name or spec.name,
    )


def _factory_signature(spec: ModelSpec) -> inspect.Signature:
    """keras.applications' arguments (by position too for a drop-in, else by keyword only), then ours."""
    # A drop-in takes keras.applications' arguments where keras.applications does, positions included;
    # the package's own variants keep every argument keyword-only (no booleans by position).
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD if spec.keras_name else inspect.Parameter.KEYWORD_ONLY
    parameters = [inspect.Parameter(arg, kind, default=value) for arg, value in _factory_defaults(spec).items()]
    parameters += [
        inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY, default=default) for arg, default in PACKAGE_ARGS.items()
    ]
    parameters.append(inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(parameters)


def _factory_doc(spec: ModelSpec, title: str) -> str:
    """The factory's docstring: its own title line, then the shared reference (keras.applications' way)."""
    defaults = _factory_defaults(spec)
    return _FACTORY_DOC.format(
        title=inspect.cleandoc(title),
        paper=spec.paper,
        name=spec.name,
        factory=spec.factory,
        preprocessing=repr(spec.preprocessing),
        size=spec.default_size,
        min_size=spec.min_size,
        classes=spec.default_classes,
        model_name=defaults["name"],
        weights_default=defaults["weights"],
        weights_doc="'imagenet' (keras.applications' weights), " if spec.imagenet_weights else "",
        how="positional or keyword, in keras.applications' order" if spec.keras_name else "keyword only",
    )


def register_model(name: str, *, family: str, builder: Callable, config: dict, **fields):
    """Registers a variant and makes the decorated function its public factory.

    Args:
        name: str, the registry name.
        family: str, the family (`ModelSpec.family`).
        builder: the family builder.
        config: dict, the full architecture config (the family config class's fields).
        **fields: the other `ModelSpec` fields (input sizes, preprocessing, weights, paper, keras_name).

    Returns:
        A decorator for `def Factory(**kwargs): return create_model(name, **kwargs)` (its docstring the
        variant's title), returning it with the keras.applications signature and the shared docstring.
    """

    def decorate(function):
        spec = register(
            ModelSpec(name=name, factory=function.__name__, family=family, builder=builder, config=config, **fields)
        )
        signature = _factory_signature(spec)

        @functools.wraps(function)
        def factory(*args, **kwargs):
            arguments = signature.bind(*args, **kwargs)
            arguments.apply_defaults()
            overrides = arguments.arguments.pop("kwargs")
            return function(**arguments.arguments, **overrides)

        factory.__signature__ = signature
        factory.__doc__ = _factory_doc(spec, function.__doc__ or spec.name)
        _FACTORIES[name] = factory
        return factory

    return decorate


def registered_factories(module: str) -> dict:
    """The public factories a family module registered, by factory name, in registration order."""
    return {f.__name__: f for f in _FACTORIES.values() if f.__module__ == module}
