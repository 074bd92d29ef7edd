"""DenseNet (Huang et al. 2016): ImageNet DenseNet-121/161/169/201/264 and CIFAR DenseNet-BC.

One builder, `build_densenet`; variants differ by config:

- `block_depths`: layers per dense block; `growth_rate` (k); `stem_width`: channels of the stem conv.
- `stem`: "imagenet" (7x7/2 conv, BN-ReLU, 3x3/2 max-pool) or "cifar" (one 3x3 conv, no pooling; the
  first dense layer's BN-ReLU pre-activates it, as in the paper's CIFAR models).
- `bottleneck_width`: the 1x1 "B" conv outputs `bottleneck_width * k` channels (4 in the paper).
- `compression`: transition layers keep `floor(compression * channels)` channels ("C", 0.5).
- `memory_efficient`: recompute each dense layer (concat-BN-ReLU-1x1 conv-BN-ReLU-3x3 conv, `DenseLayer`)
  and each transition's concat-BN-ReLU-1x1 conv (`ConcatBatchNormReLU(filters=...)`) in the backward pass
  (Pleiss et al. 2017), so training memory grows linearly with depth instead of quadratically; each
  dense layer keeps only its k new channels.
  Same outputs, gradients and weights (in the same order) as the plain form.

Layer names follow keras.applications (`conv2_block1_0_bn`, `pool2_conv`, `bn`), so DenseNet121/169/201
are layer-for-layer identical to keras.applications.DenseNet121/169/201.

References:
- [Densely Connected Convolutional Networks](https://arxiv.org/abs/1608.06993) (Huang et al. 2016)
- [Memory-Efficient Implementation of DenseNets](https://arxiv.org/abs/1707.06990) (Pleiss et al. 2017)
"""

from keras import layers

from keras_resnets import _common
from keras_resnets._common import Body, channel_axis
from keras_resnets._registry import register_family
from keras_resnets.layers import BatchNormalization, ConcatBatchNormReLU, DenseLayer

# File hashes as published in keras.applications (keras/src/applications/densenet.py).
_KERAS_HASHES = {
    "densenet121": ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}
STEMS = ("imagenet", "cifar")
_EPSILON = 1.001e-5  # keras.applications' value.


def _weights(key):
    return _common.keras_applications_weights("densenet", key, _KERAS_HASHES[key])


def _bn(x, name, momentum):
    return BatchNormalization(axis=channel_axis(), epsilon=_EPSILON, momentum=momentum, name=name)(x)


def _norm_relu_conv(features, name, conv_name, filters, memory_efficient, momentum):
    """BN-ReLU-1x1 conv (no bias) of the concatenation of `features` (a list of tensors, or one tensor).

    The memory-efficient form recomputes all of it in the backward pass, keeping only `features` and the
    (narrow) conv output: the conv's full-width input is not kept either.
    """
    if memory_efficient:
        return ConcatBatchNormReLU(axis=channel_axis(), epsilon=_EPSILON, momentum=momentum, filters=filters,
                                   conv_name=conv_name, name=f"{name}_bn")(features)
    x = layers.Activation("relu", name=f"{name}_relu")(_bn(features, f"{name}_bn", momentum))
    return layers.Conv2D(filters, 1, use_bias=False, name=conv_name)(x)


def _join(features, name, memory_efficient):
    """The plain form carries one concatenated tensor; the memory-efficient form a list of parts."""
    if memory_efficient:
        return features
    return layers.Concatenate(axis=channel_axis(), name=name)(features)


def apply_dense_layer(x, growth_rate, bottleneck_width, name, memory_efficient, momentum):
    """BN-ReLU-1x1 conv (bottleneck), BN-ReLU-3x3 conv producing `growth_rate` new channels."""
    if memory_efficient:
        y = DenseLayer(growth_rate, bottleneck_width, axis=channel_axis(), epsilon=_EPSILON, momentum=momentum,
                       name=name)(x)
        return x + [y]
    y = _norm_relu_conv(x, f"{name}_0", f"{name}_1_conv", bottleneck_width * growth_rate, memory_efficient, momentum)
    y = layers.Activation("relu", name=f"{name}_1_relu")(_bn(y, f"{name}_1_bn", momentum))
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(y)
    return _join([x, y], f"{name}_concat", memory_efficient)


def apply_dense_block(x, depth, growth_rate, bottleneck_width, name, memory_efficient, momentum):
    for i in range(depth):
        x = apply_dense_layer(x, growth_rate, bottleneck_width, f"{name}_block{i + 1}", memory_efficient, momentum)
    return x


def _channels(x):
    parts = x if isinstance(x, list) else [x]
    return sum(p.shape[channel_axis()] for p in parts)


def apply_transition(x, compression, name, memory_efficient, momentum):
    """BN-ReLU-1x1 conv to `compression * channels`, then 2x2 average pooling."""
    filters = int(_channels(x) * compression)
    x = _norm_relu_conv(x, name, f"{name}_conv", filters, memory_efficient, momentum)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def build_densenet(
    *,
    spec,
    block_depths,
    growth_rate,
    stem,
    stem_width,
    bottleneck_width,
    compression,
    memory_efficient,
    bn_momentum,
    **common,
):
    """Builds any DenseNet / DenseNet-BC variant (see the module docstring)."""
    _common.check_int_sequence("block_depths", block_depths)
    _common.check_int("growth_rate", growth_rate)
    _common.check_choice("stem", stem, STEMS)
    _common.check_int("stem_width", stem_width)
    _common.check_int("bottleneck_width", bottleneck_width)
    if isinstance(compression, bool) or not isinstance(compression, (int, float)) or not 0 < compression <= 1:
        raise ValueError(f"`compression` must be in (0, 1]. Received: compression={compression!r}")
    if not isinstance(memory_efficient, bool):
        raise ValueError(f"`memory_efficient` must be True or False. Received: memory_efficient={memory_efficient!r}")
    if not 0 <= bn_momentum < 1:
        raise ValueError(f"`bn_momentum` must be in [0, 1). Received: bn_momentum={bn_momentum!r}")

    def body(x):
        if stem == "imagenet":
            x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
            x = layers.Conv2D(stem_width, 7, strides=2, use_bias=False, name="conv1_conv")(x)
            x = layers.Activation("relu", name="conv1_relu")(_bn(x, "conv1_bn", bn_momentum))
            x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
            x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
        else:
            x = layers.Conv2D(stem_width, 3, padding="same", use_bias=False, name="conv1_conv")(x)
        if memory_efficient:
            x = [x]
        features = {}
        for i, depth in enumerate(block_depths):
            x = apply_dense_block(
                x, depth, growth_rate, bottleneck_width, f"conv{i + 2}", memory_efficient, bn_momentum
            )
            if i < len(block_depths) - 1:
                features[f"stage{i + 1}"] = (
                    layers.Concatenate(axis=channel_axis(), name=f"stage{i + 1}_concat")(x) if memory_efficient else x
                )
                x = apply_transition(x, compression, f"pool{i + 2}", memory_efficient, bn_momentum)
                if memory_efficient:
                    x = [x]
        if memory_efficient:
            x = ConcatBatchNormReLU(axis=channel_axis(), epsilon=_EPSILON, momentum=bn_momentum, name="bn")(x)
        else:
            x = layers.Activation("relu", name="relu")(_bn(x, "bn", bn_momentum))
        features[f"stage{len(block_depths)}"] = x
        return Body(x, features)

    return _common.build_classifier(body, spec=spec, **common)


DENSENET_DEFAULTS = dict(  # keras.applications DenseNet-121
    block_depths=(6, 12, 24, 16),
    growth_rate=32,
    stem="imagenet",
    stem_width=64,
    bottleneck_width=4,
    compression=0.5,
    memory_efficient=False,
    bn_momentum=0.99,
)


_HUANG = "https://arxiv.org/abs/1608.06993"
_IMAGENET = dict(default_size=224, min_size=32, default_classes=1000, preprocessing="torch", paper=_HUANG)
_CIFAR = dict(default_size=32, min_size=8, default_classes=10, preprocessing="tf", paper=_HUANG)

_VARIANTS = [
    (
        "densenet121",
        "DenseNet121",
        "DenseNet-121, identical to keras.applications.DenseNet121",
        dict(block_depths=(6, 12, 24, 16)),
        dict(_IMAGENET, imagenet_weights=_weights("densenet121")),
    ),
    (
        "densenet161",
        "DenseNet161",
        "DenseNet-161 (k=48, 96-channel stem; torchvision definition)",
        dict(block_depths=(6, 12, 36, 24), growth_rate=48, stem_width=96),
        _IMAGENET,
    ),
    (
        "densenet169",
        "DenseNet169",
        "DenseNet-169, identical to keras.applications.DenseNet169",
        dict(block_depths=(6, 12, 32, 32)),
        dict(_IMAGENET, imagenet_weights=_weights("densenet169")),
    ),
    (
        "densenet201",
        "DenseNet201",
        "DenseNet-201, identical to keras.applications.DenseNet201",
        dict(block_depths=(6, 12, 48, 32)),
        dict(_IMAGENET, imagenet_weights=_weights("densenet201")),
    ),
    (
        "densenet264",
        "DenseNet264",
        "DenseNet-264 (k=32; the paper's Table 1)",
        dict(block_depths=(6, 12, 64, 48)),
        _IMAGENET,
    ),
]
for _depth, _k in ((100, 12), (250, 24), (190, 40)):
    _n = (_depth - 4) // 6  # three dense blocks of n bottleneck layers (2 convs each) + 4 other layers
    _VARIANTS.append(
        (
            f"densenet_bc_{_depth}_{_k}",
            f"DenseNetBC{_depth}_{_k}",
            f"CIFAR DenseNet-BC (L={_depth}, k={_k})",
            dict(block_depths=(_n, _n, _n), growth_rate=_k, stem="cifar", stem_width=2 * _k),
            _CIFAR,
        )
    )

FACTORIES = register_family(_VARIANTS, family="densenet", builder=build_densenet, defaults=DENSENET_DEFAULTS)
