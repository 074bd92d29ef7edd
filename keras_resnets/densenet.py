"""DenseNet (Huang et al. 2016): ImageNet DenseNet-121/161/169/201/264 and CIFAR DenseNet-BC.

One builder, `build_densenet`; variants differ by `DenseNetConfig` (see its docstring). With
`memory_efficient`, each dense layer (concat-BN-ReLU-1x1 conv-BN-ReLU-3x3 conv, `DenseLayer`) and each
transition's concat-BN-ReLU-1x1 conv (`ConcatBatchNormReLU(filters=...)`) is recomputed in the backward pass
(Pleiss et al. 2017), so training memory grows linearly with depth instead of quadratically; each dense layer
keeps only its k new channels. Same outputs, gradients and weights (in the same order) as the plain form.

Layer names follow keras.applications (`conv2_block1_0_bn`, `pool2_conv`, `bn`), so DenseNet121/169/201
are layer-for-layer identical to keras.applications.DenseNet121/169/201 and take its arguments in the same
positions.

References:
- [Densely Connected Convolutional Networks](https://arxiv.org/abs/1608.06993) (Huang et al. 2016)
- [Memory-Efficient Implementation of DenseNets](https://arxiv.org/abs/1707.06990) (Pleiss et al. 2017)
"""

import dataclasses

from keras import layers

from keras_resnets import _common
from keras_resnets._common import Body, channel_axis, option
from keras_resnets._common import check_bool, check_choice, check_fraction, check_int, check_int_sequence
from keras_resnets._registry import create_model, register_model, registered_factories
from keras_resnets._weights import keras_applications_weights
from keras_resnets.layers import ConcatBatchNormReLU, DenseLayer

STEMS = ("imagenet", "cifar")
_EPSILON = 1.001e-5  # keras.applications' value.


@dataclasses.dataclass(frozen=True, kw_only=True)
class DenseNetConfig:
    """The architecture of a DenseNet; the defaults are keras.applications' DenseNet-121.

    Attributes:
        block_depths: tuple of ints, layers per dense block.
        growth_rate: int, k, the channels each dense layer adds.
        stem: str, "imagenet" (7x7/2 conv, BN-ReLU, 3x3/2 max-pool) or "cifar" (one 3x3 conv, no pooling;
            the first dense layer's BN-ReLU pre-activates it, as in the paper's CIFAR models).
        stem_width: int, channels of the stem conv.
        bottleneck_width: int, the 1x1 "B" conv outputs `bottleneck_width * k` channels (4 in the paper).
        compression: float in (0, 1], transition layers keep `floor(compression * channels)` ("C", 0.5).
        memory_efficient: bool, recompute dense layers and transitions in the backward pass (see above).
        bn_momentum: float, the BatchNormalization momentum.
    """

    block_depths: tuple = option((6, 12, 24, 16), check_int_sequence)
    growth_rate: int = option(32, check_int)
    stem: str = option("imagenet", check_choice, allowed=STEMS)
    stem_width: int = option(64, check_int)
    bottleneck_width: int = option(4, check_int)
    compression: float = option(0.5, check_fraction, interval="(0, 1]")
    memory_efficient: bool = option(False, check_bool)
    bn_momentum: float = option(0.99, check_fraction)

    def __post_init__(self):
        _common.validate_fields(self)


DENSENET_DEFAULTS = dataclasses.asdict(DenseNetConfig())


def _bn_relu(x, prefix, cfg):
    return _common.bn_relu(x, prefix, epsilon=_EPSILON, momentum=cfg.bn_momentum)


def _norm_relu_conv(features, cfg, *, name, conv_name, filters):
    """BN-ReLU-1x1 conv (no bias) of the concatenation of `features` (a list of tensors, or one tensor).

    The memory-efficient form recomputes all of it in the backward pass, keeping only `features` and the
    (narrow) conv output: the conv's full-width input is not kept either.
    """
    if cfg.memory_efficient:
        return ConcatBatchNormReLU(axis=channel_axis(), epsilon=_EPSILON, momentum=cfg.bn_momentum, filters=filters,
                                   conv_name=conv_name, name=f"{name}_bn")(features)
    return layers.Conv2D(filters, 1, use_bias=False, name=conv_name)(_bn_relu(features, name, cfg))


def apply_dense_layer(x, cfg, *, name):
    """BN-ReLU-1x1 conv (bottleneck), BN-ReLU-3x3 conv producing `growth_rate` new channels, joined to `x`.

    `x` is one tensor (plain form, joined by concatenation) or the list of all earlier feature maps
    (memory-efficient form, joined by appending).
    """
    if cfg.memory_efficient:
        y = DenseLayer(cfg.growth_rate, cfg.bottleneck_width, axis=channel_axis(), epsilon=_EPSILON,
                       momentum=cfg.bn_momentum, name=name)(x)
        return x + [y]
    width = cfg.bottleneck_width * cfg.growth_rate
    y = _norm_relu_conv(x, cfg, name=f"{name}_0", conv_name=f"{name}_1_conv", filters=width)
    y = _bn_relu(y, f"{name}_1", cfg)
    y = layers.Conv2D(cfg.growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return layers.Concatenate(axis=channel_axis(), name=f"{name}_concat")([x, y])


def apply_dense_block(x, depth, cfg, *, name):
    """`depth` dense layers named `{name}_block1`, `{name}_block2`, ..."""
    for i in range(depth):
        x = apply_dense_layer(x, cfg, name=f"{name}_block{i + 1}")
    return x


def _channels(x):
    parts = x if isinstance(x, list) else [x]
    return sum(p.shape[channel_axis()] for p in parts)


def apply_transition(x, cfg, *, name):
    """BN-ReLU-1x1 conv to `compression * channels`, then 2x2 average pooling."""
    filters = int(_channels(x) * cfg.compression)
    x = _norm_relu_conv(x, cfg, name=name, conv_name=f"{name}_conv", filters=filters)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def _apply_stem(x, cfg):
    """The stem's convolution: the stride-2 map ("cifar": stride 1, no pooling follows)."""
    if cfg.stem == "cifar":
        return layers.Conv2D(cfg.stem_width, 3, padding="same", use_bias=False, name="conv1_conv")(x)
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(cfg.stem_width, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    return _bn_relu(x, "conv1", cfg)


def _apply_stem_pool(x, cfg):
    if cfg.stem == "cifar":
        return x
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1")(x)


def _apply_final_norm(x, cfg):
    """keras.applications' final BN-ReLU, named `bn` and `relu`."""
    if cfg.memory_efficient:
        return ConcatBatchNormReLU(axis=channel_axis(), epsilon=_EPSILON, momentum=cfg.bn_momentum, name="bn")(x)
    x = _common.batch_norm(x, name="bn", epsilon=_EPSILON, momentum=cfg.bn_momentum)
    return layers.Activation("relu", name="relu")(x)


def _apply_blocks(x, cfg):
    """The dense blocks with transitions between them; the stage outputs (`stage1`, ...) on the way."""
    # The memory-efficient form carries the list of a block's feature maps instead of their concatenation.
    wrap = (lambda t: [t]) if cfg.memory_efficient else (lambda t: t)
    x = wrap(x)
    features = {}
    for i, depth in enumerate(cfg.block_depths):
        x = apply_dense_block(x, depth, cfg, name=f"conv{i + 2}")
        if i < len(cfg.block_depths) - 1:
            features[f"stage{i + 1}"] = (
                layers.Concatenate(axis=channel_axis(), name=f"stage{i + 1}_concat")(x) if cfg.memory_efficient else x
            )
            x = wrap(apply_transition(x, cfg, name=f"pool{i + 2}"))
    x = _apply_final_norm(x, cfg)
    features[f"stage{len(cfg.block_depths)}"] = x
    return x, features


def _body(x, cfg):
    stem = _apply_stem(x, cfg)
    x, features = _apply_blocks(_apply_stem_pool(stem, cfg), cfg)
    base = 1 if cfg.stem == "cifar" else 2  # the stem's stride; each stage then halves the map
    reductions = {"stem": base, **{name: base * 2 ** (i + int(base > 1)) for i, name in enumerate(features)}}
    return Body(x, {"stem": stem, **features}, reductions=reductions)


def build_densenet(*, spec, config, **common):
    """Builds the variant `spec` with the `DenseNetConfig` fields `config` and the `build_classifier` arguments."""
    cfg = DenseNetConfig(**config)  # checks every field before any layer is made
    return _common.build_classifier(lambda x: _body(x, cfg), spec=spec, **common)


_HUANG = "https://arxiv.org/abs/1608.06993"
_IMAGENET = dict(default_size=224, min_size=32, default_classes=1000, preprocessing="torch", paper=_HUANG)
_CIFAR = dict(default_size=32, min_size=8, default_classes=10, preprocessing="tf", paper=_HUANG)


def _register(name, overrides, **spec):
    """Registers a DenseNet whose config differs from `DenseNetConfig()` by `overrides`."""
    config = dataclasses.asdict(DenseNetConfig(**overrides))
    return register_model(name, family="densenet", builder=build_densenet, config=config, **spec)


def _keras(key):
    """The spec fields of keras.applications' `key` ("densenet121"), a drop-in."""
    return dict(_IMAGENET, imagenet_weights=keras_applications_weights(key), keras_name=key)


def _bc(depth, growth_rate):
    """DenseNet-BC (L=`depth`, k=`growth_rate`): three dense blocks of (L - 4) / 6 bottleneck layers."""
    n = (depth - 4) // 6  # each layer two convs, plus the stem, two transitions and the classifier
    return dict(block_depths=(n, n, n), growth_rate=growth_rate, stem="cifar", stem_width=2 * growth_rate)


@_register("densenet121", dict(block_depths=(6, 12, 24, 16)), **_keras("densenet121"))
def DenseNet121(**kwargs):
    """DenseNet-121, identical to keras.applications.DenseNet121."""
    return create_model("densenet121", **kwargs)


@_register("densenet161", dict(block_depths=(6, 12, 36, 24), growth_rate=48, stem_width=96), **_IMAGENET)
def DenseNet161(**kwargs):
    """DenseNet-161 (k=48, 96-channel stem; torchvision definition)."""
    return create_model("densenet161", **kwargs)


@_register("densenet169", dict(block_depths=(6, 12, 32, 32)), **_keras("densenet169"))
def DenseNet169(**kwargs):
    """DenseNet-169, identical to keras.applications.DenseNet169."""
    return create_model("densenet169", **kwargs)


@_register("densenet201", dict(block_depths=(6, 12, 48, 32)), **_keras("densenet201"))
def DenseNet201(**kwargs):
    """DenseNet-201, identical to keras.applications.DenseNet201."""
    return create_model("densenet201", **kwargs)


@_register("densenet264", dict(block_depths=(6, 12, 64, 48)), **_IMAGENET)
def DenseNet264(**kwargs):
    """DenseNet-264 (k=32; the paper's Table 1)."""
    return create_model("densenet264", **kwargs)


@_register("densenet_bc_100_12", _bc(100, 12), **_CIFAR)
def DenseNetBC100_12(**kwargs):
    """CIFAR DenseNet-BC (L=100, k=12)."""
    return create_model("densenet_bc_100_12", **kwargs)


@_register("densenet_bc_250_24", _bc(250, 24), **_CIFAR)
def DenseNetBC250_24(**kwargs):
    """CIFAR DenseNet-BC (L=250, k=24)."""
    return create_model("densenet_bc_250_24", **kwargs)


@_register("densenet_bc_190_40", _bc(190, 40), **_CIFAR)
def DenseNetBC190_40(**kwargs):
    """CIFAR DenseNet-BC (L=190, k=40)."""
    return create_model("densenet_bc_190_40", **kwargs)


FACTORIES = registered_factories(__name__)
