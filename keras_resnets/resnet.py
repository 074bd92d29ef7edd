"""ResNet v1, ResNeXt, the CIFAR 6n+2 ResNets, their plain twins and pre-activation CIFAR ResNets.

One builder, `build_resnet`, covers every variant; what they differ by is config:

- `block_type`: "basic" / "bottleneck" (post-activation, He et al. 2015) or "preact_basic" /
  "preact_bottleneck" (pre-activation, He et al. 2016).
- `stage_depths`, `stage_widths`, `stage_strides`: blocks per stage, base width (bottleneck output is
  4x), stride of each stage's first block.
- `stem`: "imagenet" (7x7/2 conv + 3x3/2 max-pool), "deep" (three 3x3 convs, ResNet-C/D) or "cifar"
  (one 3x3 conv, no pooling).
- `stride_on`: "1x1" puts a bottleneck's stride on its first 1x1 conv (keras.applications, the original
  paper), "3x3" on its 3x3 conv (torchvision, "ResNet v1.5").
- `use_bias`: conv biases (keras.applications ResNet v1 has them; torchvision has none).
- `groups`, `width_per_group`: ResNeXt cardinality and bottleneck width (grouped Conv2D).
- `shortcut`: "projection" (1x1 conv + BN where shape changes: option B), "avgpool" (2x2 average pool then
  1x1 conv: ResNet-D), "zero_pad" (subsample and zero-pad channels: option A), "none" (plain network).
- `drop_path_rate`: stochastic depth, decayed linearly from 0 at the first block to the rate at the last.
- `dropout_rate`: dropout before each block's last convolution (Wide ResNets: between a basic block's two
  3x3 convolutions, 0.3 in the paper's best CIFAR results); 0 builds no Dropout layer.
- `zero_init_last_bn`: start each residual branch's last BatchNorm gamma at zero.

Layer names follow keras.applications (`conv2_block1_1_conv`, `conv3_block4_out`, ...), so that
`ResNet50/101/152` are layer-for-layer identical to `keras.applications.ResNet50/101/152`.

References:
- [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385) (He et al. 2015)
- [Identity Mappings in Deep Residual Networks](https://arxiv.org/abs/1603.05027) (He et al. 2016)
- [Aggregated Residual Transformations](https://arxiv.org/abs/1611.05431) (Xie et al. 2016, ResNeXt)
- [Bag of Tricks for Image Classification](https://arxiv.org/abs/1812.01187) (He et al. 2018, ResNet-D)
- [Wide Residual Networks](https://arxiv.org/abs/1605.07146) (Zagoruyko & Komodakis 2016, WRN-d-k and
  the torchvision `wide_resnet50_2` / `wide_resnet101_2`)
"""

import dataclasses

from keras import layers

from keras_resnets import _common
from keras_resnets._common import Body, channel_axis
from keras_resnets._registry import create_model, register_family
from keras_resnets.layers import BatchNormalization, StochasticDepth, ZeroPadShortcut

# File hashes as published in keras.applications (keras/src/applications/resnet.py).
_KERAS_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}


def keras_applications_weights(key):
    return _common.keras_applications_weights("resnet", key, _KERAS_HASHES[key])


BLOCK_TYPES = ("basic", "bottleneck", "preact_basic", "preact_bottleneck")
STEMS = ("imagenet", "deep", "cifar")
STRIDE_POSITIONS = ("1x1", "3x3")
SHORTCUTS = ("projection", "avgpool", "zero_pad", "none")
EXPANSION = {"basic": 1, "bottleneck": 4, "preact_basic": 1, "preact_bottleneck": 4}


@dataclasses.dataclass(frozen=True)
class _Conv:
    """The per-network conv/BN settings every block shares."""

    use_bias: bool
    bn_epsilon: float
    bn_momentum: float
    stride_on: str
    groups: int
    width_per_group: int
    shortcut: str
    zero_init_last_bn: bool
    dropout_rate: float = 0.0

    def conv(self, x, filters, kernel, name, strides=1, groups=1, use_bias=None):
        use_bias = self.use_bias if use_bias is None else use_bias
        if kernel > 1 and strides > 1:
            # Explicit symmetric padding, as torchvision / the papers' code, rather than TF's "same",
            # which pads stride-2 convs asymmetrically.
            x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
            padding = "valid"
        else:
            padding = "same"
        return layers.Conv2D(
            filters,
            kernel,
            strides=strides,
            padding=padding,
            groups=groups,
            use_bias=use_bias,
            kernel_initializer="he_normal",
            name=f"{name}_conv",
        )(x)

    def bn(self, x, name, zero_init=False):
        return BatchNormalization(
            axis=channel_axis(),
            epsilon=self.bn_epsilon,
            momentum=self.bn_momentum,
            gamma_initializer="zeros" if zero_init and self.zero_init_last_bn else "ones",
            name=f"{name}_bn",
        )(x)


def _relu(x, name):
    return layers.Activation("relu", name=name)(x)


def _dropout(x, cfg, name):
    # Zagoruyko & Komodakis 2016: dropout on the activation that feeds a block's last convolution.
    return layers.Dropout(cfg.dropout_rate, name=f"{name}_dropout")(x) if cfg.dropout_rate > 0 else x


def apply_shortcut(x, filters, stride, cfg, name, batch_norm=True):
    """The shortcut of a block whose input `x` must become `filters` channels at `stride`."""
    in_filters = x.shape[channel_axis()]
    if stride == 1 and in_filters == filters:
        return x
    if cfg.shortcut == "zero_pad":
        return ZeroPadShortcut(filters, stride, name=f"{name}_0_pad")(x)
    if cfg.shortcut == "avgpool":
        if stride > 1:
            x = layers.AveragePooling2D(stride, strides=stride, padding="same", name=f"{name}_0_pool")(x)
        stride = 1
    # keras.applications: 1x1 conv with the network's bias setting, then BN.
    x = layers.Conv2D(
        filters,
        1,
        strides=stride,
        use_bias=cfg.use_bias,
        kernel_initializer="he_normal",
        name=f"{name}_0_conv",
    )(x)
    return cfg.bn(x, f"{name}_0") if batch_norm else x


def _merge(x, shortcut, cfg, name, drop_rate, activate=True):
    """Adds the (stochastically dropped) residual branch to the shortcut; plain nets just activate."""
    if cfg.shortcut == "none":
        return _relu(x, f"{name}_out") if activate else x
    if drop_rate > 0:
        x = StochasticDepth(drop_rate, name=f"{name}_drop_path")(x)
    if not activate:
        return layers.Add(name=f"{name}_out")([shortcut, x])
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return _relu(x, f"{name}_out")


def apply_basic_block(x, width, stride, cfg, name, drop_rate=0.0):
    """Two 3x3 convs (He et al. 2015, Fig. 2 left); output `width` channels."""
    shortcut = None if cfg.shortcut == "none" else apply_shortcut(x, width, stride, cfg, name)
    x = cfg.conv(x, width, 3, f"{name}_1", strides=stride)
    x = _relu(cfg.bn(x, f"{name}_1"), f"{name}_1_relu")
    x = cfg.conv(_dropout(x, cfg, name), width, 3, f"{name}_2")
    x = cfg.bn(x, f"{name}_2", zero_init=True)
    return _merge(x, shortcut, cfg, name, drop_rate)


def _bottleneck_width(width, cfg):
    # torchvision / timm: inner width = int(planes * base_width / 64) * groups.
    return int(width * cfg.width_per_group / 64) * cfg.groups


def apply_bottleneck_block(x, width, stride, cfg, name, drop_rate=0.0):
    """1x1 reduce, 3x3 (grouped for ResNeXt), 1x1 expand to `4 * width` (He et al. 2015, Fig. 5)."""
    filters = 4 * width
    inner = _bottleneck_width(width, cfg)
    shortcut = None if cfg.shortcut == "none" else apply_shortcut(x, filters, stride, cfg, name)
    s1, s3 = (stride, 1) if cfg.stride_on == "1x1" else (1, stride)
    x = cfg.conv(x, inner, 1, f"{name}_1", strides=s1)
    x = _relu(cfg.bn(x, f"{name}_1"), f"{name}_1_relu")
    x = cfg.conv(x, inner, 3, f"{name}_2", strides=s3, groups=cfg.groups)
    x = _relu(cfg.bn(x, f"{name}_2"), f"{name}_2_relu")
    x = cfg.conv(_dropout(x, cfg, name), filters, 1, f"{name}_3")
    x = cfg.bn(x, f"{name}_3", zero_init=True)
    return _merge(x, shortcut, cfg, name, drop_rate)


def _preact(x, cfg, name):
    return _relu(cfg.bn(x, f"{name}_preact"), f"{name}_preact_relu")


def _preact_shortcut(x, preact, filters, stride, cfg, name):
    # He et al. 2016: a projection shortcut takes the pre-activated input (no BN after it).
    if cfg.shortcut == "none":
        return None
    in_filters = x.shape[channel_axis()]
    if stride == 1 and in_filters == filters:
        return x
    source = x if cfg.shortcut == "zero_pad" else preact
    return apply_shortcut(source, filters, stride, cfg, name, batch_norm=False)


def apply_preact_basic_block(x, width, stride, cfg, name, drop_rate=0.0):
    """BN-ReLU-conv3x3, BN-ReLU-conv3x3, identity added after (He et al. 2016, Fig. 1b)."""
    preact = _preact(x, cfg, name)
    shortcut = _preact_shortcut(x, preact, width, stride, cfg, name)
    x = cfg.conv(preact, width, 3, f"{name}_1", strides=stride)
    x = _relu(cfg.bn(x, f"{name}_1"), f"{name}_1_relu")
    x = cfg.conv(_dropout(x, cfg, name), width, 3, f"{name}_2")
    return _merge(x, shortcut, cfg, name, drop_rate, activate=False)


def apply_preact_bottleneck_block(x, width, stride, cfg, name, drop_rate=0.0):
    """Pre-activation bottleneck: BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (He et al. 2016)."""
    filters = 4 * width
    inner = _bottleneck_width(width, cfg)
    preact = _preact(x, cfg, name)
    shortcut = _preact_shortcut(x, preact, filters, stride, cfg, name)
    s1, s3 = (stride, 1) if cfg.stride_on == "1x1" else (1, stride)
    x = cfg.conv(preact, inner, 1, f"{name}_1", strides=s1)
    x = _relu(cfg.bn(x, f"{name}_1"), f"{name}_1_relu")
    x = cfg.conv(x, inner, 3, f"{name}_2", strides=s3, groups=cfg.groups)
    x = _relu(cfg.bn(x, f"{name}_2"), f"{name}_2_relu")
    x = cfg.conv(_dropout(x, cfg, name), filters, 1, f"{name}_3")
    return _merge(x, shortcut, cfg, name, drop_rate, activate=False)


BLOCKS = {
    "basic": apply_basic_block,
    "bottleneck": apply_bottleneck_block,
    "preact_basic": apply_preact_basic_block,
    "preact_bottleneck": apply_preact_bottleneck_block,
}


def apply_stem(x, stem, width, cfg, preact):
    """The input stem; pre-activation networks leave the stem's last conv un-normalized."""
    if stem == "cifar":
        x = cfg.conv(x, width, 3, "conv1")
        return x if preact else _relu(cfg.bn(x, "conv1"), "conv1_relu")
    if stem == "imagenet":
        x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = layers.Conv2D(
            width, 7, strides=2, use_bias=cfg.use_bias, kernel_initializer="he_normal", name="conv1_conv"
        )(x)
        if not preact:
            x = _relu(cfg.bn(x, "conv1"), "conv1_relu")
    else:  # "deep": ResNet-C / ResNet-D stem, three 3x3 convs (width/2, width/2, width).
        for i, (filters, stride) in enumerate(((width // 2, 2), (width // 2, 1), (width, 1)), start=1):
            x = cfg.conv(x, filters, 3, f"conv1_{i}", strides=stride)
            if i < 3 or not preact:
                x = _relu(cfg.bn(x, f"conv1_{i}"), f"conv1_{i}_relu")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def _validate(
    block_type,
    stage_depths,
    stage_widths,
    stage_strides,
    stem,
    stem_width,
    stride_on,
    groups,
    width_per_group,
    shortcut,
    drop_path_rate,
    dropout_rate,
    bn_epsilon,
    bn_momentum,
):
    _common.check_choice("block_type", block_type, BLOCK_TYPES)
    _common.check_int_sequence("stage_depths", stage_depths)
    _common.check_int_sequence("stage_widths", stage_widths, length=len(stage_depths))
    _common.check_int_sequence("stage_strides", stage_strides, length=len(stage_depths))
    _common.check_choice("stem", stem, STEMS)
    _common.check_int("stem_width", stem_width)
    _common.check_choice("stride_on", stride_on, STRIDE_POSITIONS)
    _common.check_int("groups", groups)
    _common.check_int("width_per_group", width_per_group)
    _common.check_choice("shortcut", shortcut, SHORTCUTS)
    _common.check_rate("drop_path_rate", drop_path_rate)
    _common.check_rate("dropout_rate", dropout_rate)
    if not 0 < bn_epsilon < 1:
        raise ValueError(f"`bn_epsilon` must be in (0, 1). Received: bn_epsilon={bn_epsilon!r}")
    if not 0 <= bn_momentum < 1:
        raise ValueError(f"`bn_momentum` must be in [0, 1). Received: bn_momentum={bn_momentum!r}")
    if groups > 1 and block_type in ("basic", "preact_basic"):
        raise ValueError(f"`groups` > 1 needs a bottleneck block. Received: groups={groups}, block_type={block_type!r}")
    if shortcut == "none" and drop_path_rate > 0:
        raise ValueError(
            "`drop_path_rate` needs residual shortcuts; a plain network "
            f"(shortcut='none') has none. Received: drop_path_rate={drop_path_rate}"
        )


def build_resnet(
    *,
    spec,
    block_type,
    stage_depths,
    stage_widths,
    stage_strides,
    stem,
    stem_width,
    stride_on,
    use_bias,
    groups,
    width_per_group,
    shortcut,
    drop_path_rate,
    dropout_rate,
    zero_init_last_bn,
    bn_epsilon,
    bn_momentum,
    **common,
):
    """Builds any ResNet / ResNeXt / plain / pre-activation variant (see the module docstring)."""
    _validate(
        block_type,
        stage_depths,
        stage_widths,
        stage_strides,
        stem,
        stem_width,
        stride_on,
        groups,
        width_per_group,
        shortcut,
        drop_path_rate,
        dropout_rate,
        bn_epsilon,
        bn_momentum,
    )
    cfg = _Conv(
        bool(use_bias),
        bn_epsilon,
        bn_momentum,
        stride_on,
        groups,
        width_per_group,
        shortcut,
        bool(zero_init_last_bn),
        float(dropout_rate),
    )
    preact = block_type.startswith("preact")
    block_fn = BLOCKS[block_type]
    total = sum(stage_depths)

    def body(x):
        x = apply_stem(x, stem, stem_width, cfg, preact)
        features = {}
        index = 0
        for s, (depth, width, stride) in enumerate(zip(stage_depths, stage_widths, stage_strides)):
            for b in range(depth):
                rate = drop_path_rate * index / max(total - 1, 1)
                x = block_fn(x, width, stride if b == 0 else 1, cfg, f"conv{s + 2}_block{b + 1}", rate)
                index += 1
            if preact and s == len(stage_depths) - 1:
                x = _relu(cfg.bn(x, "post"), "post_relu")
            features[f"stage{s + 1}"] = x
        return Body(x, features)

    return _common.build_classifier(body, spec=spec, **common)


RESNET_DEFAULTS = dict(
    block_type="bottleneck",
    stage_depths=(3, 4, 6, 3),
    stage_widths=(64, 128, 256, 512),
    stage_strides=(1, 2, 2, 2),
    stem="imagenet",
    stem_width=64,
    stride_on="3x3",
    use_bias=False,
    groups=1,
    width_per_group=64,
    shortcut="projection",
    drop_path_rate=0.0,
    dropout_rate=0.0,
    zero_init_last_bn=False,
    bn_epsilon=1e-5,
    bn_momentum=0.99,
)


# Variants: (registry name, factory, title, config overrides, spec extras).
_HE2015 = "https://arxiv.org/abs/1512.03385"
_HE2016 = "https://arxiv.org/abs/1603.05027"
_XIE2016 = "https://arxiv.org/abs/1611.05431"
_ZAGORUYKO2016 = "https://arxiv.org/abs/1605.07146"
_KERAS_V1 = dict(stride_on="1x1", use_bias=True, bn_epsilon=1.001e-5)
_IMAGENET = dict(default_size=224, min_size=32, default_classes=1000)
_CIFAR = dict(default_size=32, min_size=8, default_classes=10)
_CIFAR_BASIC = dict(block_type="basic", stage_widths=(16, 32, 64), stage_strides=(1, 2, 2), stem="cifar", stem_width=16)


def _cifar_depths(depth, per_block):
    return (depth - 2) // per_block // 3


_VARIANTS = [
    (
        "resnet18",
        "ResNet18",
        "ResNet-18 (torchvision definition)",
        dict(block_type="basic", stage_depths=(2, 2, 2, 2)),
        dict(_IMAGENET, preprocessing="torch", paper=_HE2015),
    ),
    (
        "resnet34",
        "ResNet34",
        "ResNet-34 (torchvision definition)",
        dict(block_type="basic", stage_depths=(3, 4, 6, 3)),
        dict(_IMAGENET, preprocessing="torch", paper=_HE2015),
    ),
    (
        "resnet50",
        "ResNet50",
        "ResNet-50, identical to keras.applications.ResNet50",
        dict(_KERAS_V1, stage_depths=(3, 4, 6, 3)),
        dict(_IMAGENET, preprocessing="caffe", paper=_HE2015, imagenet_weights=keras_applications_weights("resnet50")),
    ),
    (
        "resnet101",
        "ResNet101",
        "ResNet-101, identical to keras.applications.ResNet101",
        dict(_KERAS_V1, stage_depths=(3, 4, 23, 3)),
        dict(_IMAGENET, preprocessing="caffe", paper=_HE2015, imagenet_weights=keras_applications_weights("resnet101")),
    ),
    (
        "resnet152",
        "ResNet152",
        "ResNet-152, identical to keras.applications.ResNet152",
        dict(_KERAS_V1, stage_depths=(3, 8, 36, 3)),
        dict(_IMAGENET, preprocessing="caffe", paper=_HE2015, imagenet_weights=keras_applications_weights("resnet152")),
    ),
    (
        "resnet200",
        "ResNet200",
        "ResNet-200 (torchvision / timm definition)",
        dict(stage_depths=(3, 24, 36, 3)),
        dict(_IMAGENET, preprocessing="torch", paper=_HE2016),
    ),
    (
        "resnet50_v1_5",
        "ResNet50V1_5",
        "ResNet-50 v1.5 (torchvision definition: stride on the 3x3, no conv bias)",
        dict(stage_depths=(3, 4, 6, 3)),
        dict(_IMAGENET, preprocessing="torch", paper=_HE2015),
    ),
    (
        "resnet101_v1_5",
        "ResNet101V1_5",
        "ResNet-101 v1.5 (torchvision definition)",
        dict(stage_depths=(3, 4, 23, 3)),
        dict(_IMAGENET, preprocessing="torch", paper=_HE2015),
    ),
    (
        "resnet152_v1_5",
        "ResNet152V1_5",
        "ResNet-152 v1.5 (torchvision definition)",
        dict(stage_depths=(3, 8, 36, 3)),
        dict(_IMAGENET, preprocessing="torch", paper=_HE2015),
    ),
    (
        "resnet50d",
        "ResNet50D",
        "ResNet-50-D (deep stem, average-pool shortcuts; timm `resnet50d`)",
        dict(stage_depths=(3, 4, 6, 3), stem="deep", shortcut="avgpool"),
        dict(_IMAGENET, preprocessing="torch", paper="https://arxiv.org/abs/1812.01187"),
    ),
    (
        "resnext50_32x4d",
        "ResNeXt50_32x4d",
        "ResNeXt-50 32x4d (torchvision definition)",
        dict(stage_depths=(3, 4, 6, 3), groups=32, width_per_group=4),
        dict(_IMAGENET, preprocessing="torch", paper=_XIE2016),
    ),
    (
        "resnext101_32x4d",
        "ResNeXt101_32x4d",
        "ResNeXt-101 32x4d (torchvision / timm definition)",
        dict(stage_depths=(3, 4, 23, 3), groups=32, width_per_group=4),
        dict(_IMAGENET, preprocessing="torch", paper=_XIE2016),
    ),
    (
        "resnext101_32x8d",
        "ResNeXt101_32x8d",
        "ResNeXt-101 32x8d (torchvision definition)",
        dict(stage_depths=(3, 4, 23, 3), groups=32, width_per_group=8),
        dict(_IMAGENET, preprocessing="torch", paper=_XIE2016),
    ),
    (
        "resnext101_64x4d",
        "ResNeXt101_64x4d",
        "ResNeXt-101 64x4d (torchvision definition)",
        dict(stage_depths=(3, 4, 23, 3), groups=64, width_per_group=4),
        dict(_IMAGENET, preprocessing="torch", paper=_XIE2016),
    ),
    (
        "wide_resnet50_2",
        "WideResNet50_2",
        "Wide ResNet-50-2 (torchvision definition: bottleneck 3x3 convs twice as wide)",
        dict(stage_depths=(3, 4, 6, 3), width_per_group=128),
        dict(_IMAGENET, preprocessing="torch", paper=_ZAGORUYKO2016),
    ),
    (
        "wide_resnet101_2",
        "WideResNet101_2",
        "Wide ResNet-101-2 (torchvision definition)",
        dict(stage_depths=(3, 4, 23, 3), width_per_group=128),
        dict(_IMAGENET, preprocessing="torch", paper=_ZAGORUYKO2016),
    ),
]
for _depth in (20, 32, 44, 56, 110, 1202):
    _VARIANTS.append(
        (
            f"resnet{_depth}",
            f"ResNet{_depth}",
            f"CIFAR ResNet-{_depth} (6n+2, option A zero-padded identity shortcuts)",
            dict(_CIFAR_BASIC, stage_depths=(_cifar_depths(_depth, 2),) * 3, shortcut="zero_pad"),
            dict(_CIFAR, preprocessing="tf", paper=_HE2015),
        )
    )
for _depth in (20, 32, 44, 56, 110):
    _VARIANTS.append(
        (
            f"plain{_depth}",
            f"Plain{_depth}",
            f"CIFAR plain-{_depth} (ResNet-{_depth} without shortcuts)",
            dict(_CIFAR_BASIC, stage_depths=(_cifar_depths(_depth, 2),) * 3, shortcut="none"),
            dict(_CIFAR, preprocessing="tf", paper=_HE2015),
        )
    )
for _depth in (164, 1001):
    _VARIANTS.append(
        (
            f"preact_resnet{_depth}",
            f"PreActResNet{_depth}",
            f"CIFAR pre-activation ResNet-{_depth} (bottleneck, 9n+2)",
            dict(
                _CIFAR_BASIC,
                block_type="preact_bottleneck",
                stage_depths=(_cifar_depths(_depth, 3),) * 3,
                stride_on="1x1",
            ),
            dict(_CIFAR, preprocessing="tf", paper=_HE2016),
        )
    )
for _groups in (8, 16):
    _VARIANTS.append(
        (
            f"resnext29_{_groups}x64d",
            f"ResNeXt29_{_groups}x64d",
            f"CIFAR ResNeXt-29 {_groups}x64d",
            dict(
                stage_depths=(3, 3, 3),
                stage_widths=(64, 128, 256),
                stage_strides=(1, 2, 2),
                stem="cifar",
                groups=_groups,
                width_per_group=64,
            ),
            dict(_CIFAR, preprocessing="tf", paper=_XIE2016),
        )
    )

def _wide_cifar(depth, width_factor):
    # Zagoruyko & Komodakis 2016, Table 1: a 3x3 stem conv to 16 channels, three stages of (depth - 4) / 6
    # pre-activation basic blocks 16k / 32k / 64k wide, a 1x1 projection shortcut (on the pre-activated
    # input) wherever the width or stride changes, BN-ReLU before the pooling.
    n = (depth - 4) // 6
    return dict(
        _CIFAR_BASIC,
        block_type="preact_basic",
        stage_depths=(n, n, n),
        stage_widths=(16 * width_factor, 32 * width_factor, 64 * width_factor),
        shortcut="projection",
    )


# From the paper's CIFAR width/depth study (WRN-16-4/8, 22-8, 28-10, 40-2/4), plus the small WRN-16-2 and
# WRN-28-2 (the semi-supervised benchmarks' network).
_WRN_CIFAR = ((16, 2), (16, 4), (16, 8), (22, 8), (28, 2), (28, 10), (40, 2), (40, 4))
for _depth, _k in _WRN_CIFAR:
    _VARIANTS.append(
        (
            f"wrn{_depth}_{_k}",
            f"WRN{_depth}_{_k}",
            f"CIFAR Wide ResNet WRN-{_depth}-{_k} (pre-activation basic blocks, {_k}x the widths)",
            _wide_cifar(_depth, _k),
            dict(_CIFAR, preprocessing="tf", paper=_ZAGORUYKO2016),
        )
    )

FACTORIES = register_family(
    _VARIANTS,
    family=lambda name, fields: (
        "resnext"
        if "resnext" in name
        else "wide_resnet"
        if name.startswith(("wrn", "wide_"))
        else ("cifar_resnet" if fields["default_size"] == 32 else "resnet")
    ),
    builder=build_resnet,
    defaults=RESNET_DEFAULTS,
)


_CIFAR_BASES = {
    # block_type -> (registered base variant, layers per block)
    "basic": ("resnet20", 2),
    "preact_basic": ("resnet20", 2),
    "bottleneck": ("resnet20", 3),
    "preact_bottleneck": ("preact_resnet164", 3),
}


def CIFARResNet(depth, *, block_type="basic", shortcut="zero_pad", **kwargs):
    """A CIFAR ResNet of any depth: 6n+2 layers with basic blocks, 9n+2 with bottleneck blocks.

    Three stages of n blocks at 16/32/64 base widths on 32x32 inputs (He et al. 2015, Section 4.2).

    Args:
        depth: int, the number of weighted layers: 6n+2 (basic blocks) or 9n+2 (bottleneck blocks).
        block_type: str, "basic", "bottleneck", "preact_basic" or "preact_bottleneck".
        shortcut: str, "zero_pad" (option A), "projection" (option B) or "none" (plain network).
        **kwargs: any `create_model` argument (`classes`, `input_shape`, `drop_path_rate`, ...).

    Example:
    ```python
    model = keras_resnets.CIFARResNet(74, shortcut="projection", classes=100)
    ```
    """
    _common.check_choice("block_type", block_type, BLOCK_TYPES)
    base, per_block = _CIFAR_BASES[block_type]
    if (
        isinstance(depth, bool)
        or not isinstance(depth, int)
        or depth < per_block * 3 + 2
        or (depth - 2) % (3 * per_block)
    ):
        form = "6n+2" if per_block == 2 else "9n+2"
        raise ValueError(
            f"`depth` must be {form} (n >= 1) for block_type={block_type!r}, e.g. "
            f"{[per_block * 3 * n + 2 for n in (1, 2, 3, 9, 18)]}. Received: depth={depth!r}"
        )
    n = (depth - 2) // (3 * per_block)
    prefix = {"none": "plain"}.get(shortcut, "preact_resnet" if block_type.startswith("preact") else "resnet")
    kwargs.setdefault("name", f"{prefix}{depth}")
    return create_model(base, block_type=block_type, shortcut=shortcut, stage_depths=(n, n, n), **kwargs)


FACTORIES["CIFARResNet"] = CIFARResNet


def WideResNet(depth, width_factor, **kwargs):
    """A CIFAR Wide ResNet WRN-`depth`-`width_factor` (Zagoruyko & Komodakis 2016) of any size.

    Three stages of (depth - 4) / 6 pre-activation basic blocks, 16k / 32k / 64k channels wide (k =
    `width_factor`), 1x1 projection shortcuts where the shape changes, on 32x32 inputs. The paper's
    dropout between a block's two convolutions is `dropout_rate` (0.3 in its best CIFAR results; default 0).

    Args:
        depth: int, 6n+4 (n >= 1): 10, 16, 22, 28, 40, ...
        width_factor: int >= 1, the widening factor k (k=1 is a pre-activation ResNet with projections).
        **kwargs: any `create_model` argument (`classes`, `input_shape`, `dropout_rate`, ...).

    Example:
    ```python
    model = keras_resnets.WideResNet(28, 10, dropout_rate=0.3, classes=100)   # the paper's WRN-28-10
    ```
    """
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
        raise ValueError(f"`depth` must be 6n+4 (n >= 1), e.g. [10, 16, 22, 28, 40]. Received: depth={depth!r}")
    if isinstance(width_factor, bool) or not isinstance(width_factor, int) or width_factor < 1:
        raise ValueError(f"`width_factor` must be an int >= 1. Received: width_factor={width_factor!r}")
    kwargs.setdefault("name", f"wrn{depth}_{width_factor}")
    return create_model("wrn16_4", **{**_wide_cifar(depth, width_factor), **kwargs})


FACTORIES["WideResNet"] = WideResNet
