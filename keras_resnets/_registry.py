"""The model registry: every variant by snake_case name, its config, and `create_model`.

Variants are data (timm's `model_args` pattern): each registered entry names its family builder and the
config that builder receives. `create_model(name, **kwargs)` lets the caller's kwargs override both the
architecture config and the keras.applications arguments.
"""

import copy
import dataclasses
import difflib
import fnmatch
from typing import Callable, Optional

from keras_resnets._common import ImageNetWeights

COMMON_ARGS = (
    "include_top",
    "weights",
    "input_tensor",
    "input_shape",
    "pooling",
    "classes",
    "classifier_activation",
    "name",
    "include_preprocessing",
    "features_only",
)


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """A registered variant.

    Attributes:
        name: str, the registry name (`resnext50_32x4d`).
        factory: str, the public CamelCase factory (`ResNeXt50_32x4d`).
        family: str, `resnet`, `resnet_v2`, `cifar_resnet`, `wide_resnet`, `resnext`, `densenet` or `attention`.
        builder: callable, the family builder, called as `builder(**config, **common_args)`.
        config: dict, the architecture arguments.
        default_size: int, the training resolution (and the input size when `include_top`).
        min_size: int, the smallest input side the architecture accepts.
        preprocessing: str or None, what the variant expects (`caffe`, `tf`, `torch`).
        default_classes: int, 1000 for ImageNet variants, 10 for CIFAR.
        imagenet_weights: where keras.applications publishes the weights, if it does.
        paper: str, the paper link.
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


_REGISTRY: dict = {}


def register(spec: ModelSpec) -> ModelSpec:
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
    spec = get_model_spec(model_name)
    unknown = sorted(set(kwargs) - set(COMMON_ARGS) - set(spec.config))
    if unknown:
        allowed = sorted(set(COMMON_ARGS) | set(spec.config))
        raise TypeError(f"{model_name!r} got unknown argument(s) {unknown}. Allowed: {allowed}")
    args = {**spec.config, **kwargs}
    args.setdefault("name", spec.name)
    args.setdefault("classes", spec.default_classes)
    return spec.builder(spec=spec, **args)


_FACTORY_DOC = """Instantiates {title}.

{description}

Reference: {paper}

Registry name: `{name}` (`keras_resnets.create_model("{name}")`). Expects {preprocessing} input
preprocessing; default input {size}x{size}, minimum {min_size}x{min_size}.

Args (keyword only, as in keras.applications):
    include_top: bool, whether to include the global-average-pool + dense classifier.
    weights: None (random init), {weights_doc}or the path to a `.keras` / `.weights.h5` / `.h5` file.
        Default: {weights_default!r}.
    input_tensor: optional Keras tensor to use as the image input.
    input_shape: optional tuple, `(height, width, channels)`; any size >= {min_size} and any channel
        count work without ImageNet weights.
    pooling: None, "avg" or "max": global pooling of the features when `include_top=False`.
    classes: int, number of classes (default {classes}).
    classifier_activation: str, callable or None (logits) for the top layer.
    name: str, the model name.
    include_preprocessing: bool or str, True puts the variant's own preprocessing ({preprocessing}) in
        the model so it takes raw [0, 255] pixels; a mode name ("caffe", "tf", "torch") picks another.
    features_only: bool, return a model whose output is a dict of stage outputs
        (`{{"stage1": ..., "stage2": ...}}`) for detection / segmentation backbones.
    **kwargs: any key of `keras_resnets.get_model_config("{name}")` to override the architecture.

Returns:
    A `keras.Model`.

Example:
```python
model = keras_resnets.{factory}(weights=None, input_shape=({size}, {size}, 3), classes={classes})
```
"""


def make_factory(name: str, title: str, description: str = "", weights_default=None, default_name=None):
    """The public CamelCase factory of a registered variant, with the keras.applications signature.

    `default_name` is the model name when the caller gives none (keras.applications' own for drop-ins,
    e.g. "resnet50v2"); it defaults to the registry name.
    """
    spec = get_model_spec(name)
    default_name = default_name or spec.name

    def factory(
        *,
        include_top=True,
        weights=weights_default,
        input_tensor=None,
        input_shape=None,
        pooling=None,
        classes=spec.default_classes,
        classifier_activation="softmax",
        name=default_name,
        **kwargs,
    ):
        return create_model(
            spec.name,
            include_top=include_top,
            weights=weights,
            input_tensor=input_tensor,
            input_shape=input_shape,
            pooling=pooling,
            classes=classes,
            classifier_activation=classifier_activation,
            name=name,
            **kwargs,
        )

    factory.__name__ = factory.__qualname__ = spec.factory
    factory.__doc__ = _FACTORY_DOC.format(
        title=title,
        description=description,
        paper=spec.paper,
        name=spec.name,
        factory=spec.factory,
        preprocessing=repr(spec.preprocessing),
        size=spec.default_size,
        min_size=spec.min_size,
        classes=spec.default_classes,
        weights_default=weights_default,
        weights_doc="'imagenet' (keras.applications' weights), " if spec.imagenet_weights else "",
    )
    return factory


def merge_config(family: str, defaults: dict, overrides: dict) -> dict:
    """A family's full architecture config: its defaults, then `overrides` (which must be known keys)."""
    unknown = set(overrides) - set(defaults)
    if unknown:
        raise KeyError(f"Unknown {family} config keys: {sorted(unknown)}. Known: {sorted(defaults)}")
    return {**defaults, **overrides}


def register_family(variants, *, family, builder, defaults) -> dict:
    """Registers a family's variant table and returns its public factories by name.

    Args:
        variants: rows of (registry name, factory name, title, config overrides, spec fields); the spec
            fields may also hold `default_name` (the model name keras.applications uses, for drop-ins).
        family: str, or a callable `family(name, spec_fields) -> str` for tables that span families.
        builder: the family builder.
        defaults: dict, the family's default architecture config.
    """
    factories = {}
    for name, factory, title, overrides, fields in variants:
        fields = dict(fields)
        default_name = fields.pop("default_name", None)
        family_name = family(name, fields) if callable(family) else family
        register(
            ModelSpec(
                name=name,
                factory=factory,
                family=family_name,
                builder=builder,
                config=merge_config(family_name, defaults, overrides),
                **fields,
            )
        )
        factories[factory] = make_factory(
            name,
            title,
            weights_default="imagenet" if fields.get("imagenet_weights") else None,
            default_name=default_name,
        )
    return factories
