"""ResNet v2 (pre-activation) as keras.applications builds it: ResNet50V2, ResNet101V2, ResNet152V2.

keras.applications follows the TF-slim layout, not the CIFAR one of He et al. 2016: each stack's first
block has a 1x1 projection shortcut at stride 1, and the stride sits in the stack's *last* block, whose
shortcut is a 1x1 max-pool with that stride (a parameter-free subsampling identity). Convs inside a
block have no bias except the last 1x1. This module reproduces it layer for layer (same names, same
weight order), so keras.applications' ImageNet weights load unchanged.

Reference: [Identity Mappings in Deep Residual Networks](https://arxiv.org/abs/1603.05027)
"""

from keras import layers

from keras_resnets import _common
from keras_resnets._common import Body, channel_axis
from keras_resnets._registry import register_family
from keras_resnets.layers import BatchNormalization, StochasticDepth
from keras_resnets.resnet import keras_applications_weights

_EPSILON = 1.001e-5


def _bn_relu(x, name, momentum):
    x = BatchNormalization(axis=channel_axis(), epsilon=_EPSILON, momentum=momentum, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def apply_preact_block_v2(x, filters, stride, conv_shortcut, name, momentum, drop_rate=0.0):
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


def build_resnet_v2(*, spec, stage_depths, stage_widths, stage_strides, drop_path_rate, bn_momentum, **common):
    """Builds a keras.applications-layout ResNet v2 (see the module docstring)."""
    _common.check_int_sequence("stage_depths", stage_depths, minimum=2)
    _common.check_int_sequence("stage_widths", stage_widths, length=len(stage_depths))
    _common.check_int_sequence("stage_strides", stage_strides, length=len(stage_depths))
    _common.check_rate("drop_path_rate", drop_path_rate)
    if not 0 <= bn_momentum < 1:
        raise ValueError(f"`bn_momentum` must be in [0, 1). Received: bn_momentum={bn_momentum!r}")
    total = sum(stage_depths)

    def body(x):
        x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
        features, index = {}, 0
        for s, (depth, width, stride) in enumerate(zip(stage_depths, stage_widths, stage_strides)):
            for b in range(depth):
                rate = drop_path_rate * index / max(total - 1, 1)
                x = apply_preact_block_v2(
                    x,
                    width,
                    stride if b == depth - 1 else 1,
                    conv_shortcut=b == 0,
                    name=f"conv{s + 2}_block{b + 1}",
                    momentum=bn_momentum,
                    drop_rate=rate,
                )
                index += 1
            features[f"stage{s + 1}"] = x
        x = _bn_relu(x, "post", bn_momentum)
        features[f"stage{len(stage_depths)}"] = x
        return Body(x, features)

    return _common.build_classifier(body, spec=spec, **common)


RESNET_V2_DEFAULTS = dict(
    stage_depths=(3, 4, 6, 3),
    stage_widths=(64, 128, 256, 512),
    stage_strides=(2, 2, 2, 1),
    drop_path_rate=0.0,
    bn_momentum=0.99,
)
_IMAGENET = dict(
    default_size=224, min_size=32, default_classes=1000, preprocessing="tf", paper="https://arxiv.org/abs/1603.05027"
)
_VARIANTS = [
    (
        name,
        factory,
        f"{factory[:-2]} v2, identical to keras.applications.{factory}",
        dict(stage_depths=depths),
        dict(
            _IMAGENET,
            imagenet_weights=keras_applications_weights(name.replace("_", "")),
            default_name=name.replace("_", ""),
        ),
    )  # keras.applications names them "resnet50v2", ...
    for name, factory, depths in (
        ("resnet50_v2", "ResNet50V2", (3, 4, 6, 3)),
        ("resnet101_v2", "ResNet101V2", (3, 4, 23, 3)),
        ("resnet152_v2", "ResNet152V2", (3, 8, 36, 3)),
    )
]
FACTORIES = register_family(_VARIANTS, family="resnet_v2", builder=build_resnet_v2, defaults=RESNET_V2_DEFAULTS)
