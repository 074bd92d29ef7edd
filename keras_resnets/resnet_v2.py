"""ResNet v2 (pre-activation) as keras.applications builds it: ResNet50V2, ResNet101V2, ResNet152V2.

keras.applications follows the TF-slim layout, not the CIFAR one of He et al. 2016: each stack's first
block has a 1x1 projection shortcut at stride 1, and the stride sits in the stack's *last* block, whose
shortcut is a 1x1 max-pool with that stride (a parameter-free subsampling identity). Convs inside a
block have no bias except the last 1x1. This module reproduces it layer for layer (same names, same
weight order), so keras.applications' ImageNet weights load unchanged; the factories take
keras.applications' arguments in the same positions.

Reference: [Identity Mappings in Deep Residual Networks](https://arxiv.org/abs/1603.05027)
"""

import dataclasses
import math

from keras import layers

from keras_resnets import _common
from keras_resnets._common import Body, check_fraction, check_int_sequence, option
from keras_resnets._registry import create_model, register_model, registered_factories
from keras_resnets._weights import keras_applications_weights
from keras_resnets.layers import StochasticDepth

_EPSILON = 1.001e-5  # keras.applications' value.


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResNetV2Config:
    """The architecture of a keras.applications ResNet v2; the defaults are ResNet50V2's.

    Attributes:
        stage_depths: tuple of ints >= 2, blocks per stage.
        stage_widths: tuple of ints, each stage's bottleneck width (its output is 4x).
        stage_strides: tuple of ints, the stride of each stage's last block.
        drop_path_rate: float, stochastic depth, decayed linearly from 0 at the first block.
        bn_momentum: float, the BatchNormalization momentum.
    """

    stage_depths: tuple = option((3, 4, 6, 3), check_int_sequence, minimum=2)
    stage_widths: tuple = option((64, 128, 256, 512), check_int_sequence)
    stage_strides: tuple = option((2, 2, 2, 1), check_int_sequence)
    drop_path_rate: float = option(0.0, check_fraction)
    bn_momentum: float = option(0.99, check_fraction)

    def __post_init__(self):
        _common.validate_fields(self)
        _common.check_same_length(self, ("stage_depths", "stage_widths", "stage_strides"))


RESNET_V2_DEFAULTS = dataclasses.asdict(ResNetV2Config())


def _bn_relu(x, prefix, momentum):
    return _common.bn_relu(x, prefix, epsilon=_EPSILON, momentum=momentum)


def apply_preact_block_v2(x, filters, *, stride=1, conv_shortcut=False, name, momentum=0.99, drop_rate=0.0):
    """keras.applications `residual_block_v2`: BN-ReLU, then 1x1, 3x3 (strided), 1x1 to 4x filters."""
    preact = _bn_relu(x, f"{name}_preact", momentum)
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    elif stride > 1:
        shortcut = layers.MaxPooling2D(1, strides=stride, name=f"{name}_0_pool")(x)
    else:
        shortcut = x
    y = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_1_conv")(preact)
    y = _bn_relu(y, f"{name}_1", momentum)
    y = layers.ZeroPadding2D(1, name=f"{name}_2_pad")(y)
    y = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(y)
    y = _bn_relu(y, f"{name}_2", momentum)
    y = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(y)
    if drop_rate > 0:
        y = StochasticDepth(drop_rate, name=f"{name}_drop_path")(y)
    return layers.Add(name=f"{name}_out")([shortcut, y])


def _apply_stem(x):
    """keras.applications' stem convolution (the stride-2 map, not normalized: pre-activation)."""
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    return layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)


def _apply_stem_pool(x):
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def _apply_stages(x, cfg):
    """The stacks of blocks, then the final BN-ReLU; the stage outputs (`stage1`, ...) on the way."""
    total = sum(cfg.stage_depths)
    features, index = {}, 0
    for s, (depth, width, stride) in enumerate(zip(cfg.stage_depths, cfg.stage_widths, cfg.stage_strides)):
        for b in range(depth):
            x = apply_preact_block_v2(
                x,
                width,
                stride=stride if b == depth - 1 else 1,
                conv_shortcut=b == 0,
                name=f"conv{s + 2}_block{b + 1}",
                momentum=cfg.bn_momentum,
                drop_rate=cfg.drop_path_rate * index / max(total - 1, 1),
            )
            index += 1
        features[f"stage{s + 1}"] = x
    x = _bn_relu(x, "post", cfg.bn_momentum)
    features[f"stage{len(cfg.stage_depths)}"] = x
    return x, features


def build_resnet_v2(*, spec, config, **common):
    """Builds the variant `spec` with the `ResNetV2Config` fields `config` and the `build_classifier` arguments."""
    cfg = ResNetV2Config(**config)  # checks every field before any layer is made

    def body(x):
        stem = _apply_stem(x)
        x, features = _apply_stages(_apply_stem_pool(stem), cfg)
        # A stage strides its last block: stage s outputs at 4 times the strides of stages 1..s.
        reductions = {"stem": 2, **{f"stage{s + 1}": 4 * math.prod(cfg.stage_strides[: s + 1])
                                    for s in range(len(cfg.stage_strides))}}
        return Body(x, {"stem": stem, **features}, reductions=reductions)

    return _common.build_classifier(body, spec=spec, **common)


def _register(name, depths, keras_name):
    """Registers keras.applications' `keras_name` ("resnet50v2") as `name`, with `depths` blocks per stage."""
    return register_model(
        name,
        family="resnet_v2",
        builder=build_resnet_v2,
        config=dataclasses.asdict(ResNetV2Config(stage_depths=depths)),
        default_size=224,
        min_size=32,
        default_classes=1000,
        preprocessing="tf",
        paper="https://arxiv.org/abs/1603.05027",
        imagenet_weights=keras_applications_weights(keras_name),
        keras_name=keras_name,
    )


@_register("resnet50_v2", (3, 4, 6, 3), "resnet50v2")
def ResNet50V2(**kwargs):
    """ResNet50 v2, identical to keras.applications.ResNet50V2."""
    return create_model("resnet50_v2", **kwargs)


@_register("resnet101_v2", (3, 4, 23, 3), "resnet101v2")
def ResNet101V2(**kwargs):
    """ResNet101 v2, identical to keras.applications.ResNet101V2."""
    return create_model("resnet101_v2", **kwargs)


@_register("resnet152_v2", (3, 8, 36, 3), "resnet152v2")
def ResNet152V2(**kwargs):
    """ResNet152 v2, identical to keras.applications.ResNet152V2."""
    return create_model("resnet152_v2", **kwargs)


FACTORIES = registered_factories(__name__)
