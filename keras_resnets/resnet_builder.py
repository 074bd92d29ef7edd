"""How every ResNet-family network is built: its config (`ResNetConfig`), blocks, stems and `build_resnet`.

One builder covers ResNet v1, ResNeXt, the CIFAR ResNets, their plain twins, pre-activation and Wide ResNets;
what the variants differ by is `ResNetConfig` (see its docstring). The registered variants and the public
factories are in `keras_resnets.resnet`.

Layer names follow keras.applications (`conv2_block1_1_conv`, `conv3_block4_out`, ...), so that
`ResNet50/101/152` are layer-for-layer identical to `keras.applications.ResNet50/101/152`.
"""

import dataclasses
import math

from keras import layers

from keras_resnets import _common
from keras_resnets._common import Body, channel_axis, option
from keras_resnets._common import check_bool, check_choice, check_fraction, check_int, check_int_sequence
from keras_resnets.layers import StochasticDepth, ZeroPadShortcut

BLOCK_TYPES = ("basic", "bottleneck", "preact_basic", "preact_bottleneck")
STEMS = ("imagenet", "deep", "cifar")
STRIDE_POSITIONS = ("1x1", "3x3")
SHORTCUTS = ("projection", "avgpool", "zero_pad", "none")
ATTENTION_LAYERS = (None, "se", "eca")
EXPANSION = {"basic": 1, "bottleneck": 4, "preact_basic": 1, "preact_bottleneck": 4}


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResNetConfig:
    """The architecture of a ResNet-family network; the defaults are torchvision's ResNet-50.

    Attributes:
        block_type: str, "basic" / "bottleneck" (post-activation, He et al. 2015) or "preact_basic" /
            "preact_bottleneck" (pre-activation, He et al. 2016).
        stage_depths, stage_widths, stage_strides: tuples of ints, one entry per stage: blocks, base width
            (a bottleneck outputs 4x), stride of the stage's first block.
        stem: str, "imagenet" (7x7/2 conv + 3x3/2 max-pool), "deep" (three 3x3 convs, ResNet-C/D) or "cifar"
            (one 3x3 conv, no pooling).
        stem_width: int, the stem's output channels.
        stride_on: str, "1x1" puts a bottleneck's stride on its first 1x1 conv (keras.applications, the
            original paper), "3x3" on its 3x3 conv (torchvision, "ResNet v1.5").
        use_bias: bool, conv biases (keras.applications ResNet v1 has them; torchvision has none).
        groups, width_per_group: ints, ResNeXt cardinality and bottleneck width (grouped Conv2D).
        shortcut: str, "projection" (1x1 conv + BN where the shape changes: option B), "avgpool" (2x2
            average pool then 1x1 conv: ResNet-D), "zero_pad" (subsample and zero-pad channels: option A),
            "none" (plain network).
        drop_path_rate: float, stochastic depth, decayed linearly from 0 at the first block to the rate at
            the last.
        dropout_rate: float, dropout before each block's last convolution (Wide ResNets: between a basic
            block's two 3x3 convolutions, 0.3 in the paper's best CIFAR results); 0 builds no Dropout layer.
        zero_init_last_bn: bool, start each residual branch's last BatchNorm gamma at zero.
        attn_layer: None, "se" or "eca": channel attention on each residual branch's output, before the
            addition, as timm places it (`timm/models/resnet.py`): squeeze-and-excitation (Hu et al. 2018; timm's
            `SEModule`: reduction 1/16 rounded down to a multiple of 8, ReLU, sigmoid gate) or efficient channel
            attention (Wang et al. 2020; timm's `EcaModule`: a 1-D convolution across the pooled channels of
            adaptive kernel size, no bias, sigmoid gate).
        bn_epsilon, bn_momentum: floats, the BatchNormalization settings.
    """

    block_type: str = option("bottleneck", check_choice, allowed=BLOCK_TYPES)
    stage_depths: tuple = option((3, 4, 6, 3), check_int_sequence)
    stage_widths: tuple = option((64, 128, 256, 512), check_int_sequence)
    stage_strides: tuple = option((1, 2, 2, 2), check_int_sequence)
    stem: str = option("imagenet", check_choice, allowed=STEMS)
    stem_width: int = option(64, check_int)
    stride_on: str = option("3x3", check_choice, allowed=STRIDE_POSITIONS)
    use_bias: bool = option(False, check_bool)
    groups: int = option(1, check_int)
    width_per_group: int = option(64, check_int)
    shortcut: str = option("projection", check_choice, allowed=SHORTCUTS)
    drop_path_rate: float = option(0.0, check_fraction)
    dropout_rate: float = option(0.0, check_fraction)
    zero_init_last_bn: bool = option(False, check_bool)
    attn_layer: object = option(None, check_choice, allowed=ATTENTION_LAYERS)
    bn_epsilon: float = option(1e-5, check_fraction, interval="(0, 1)")
    bn_momentum: float = option(0.99, check_fraction)

    def __post_init__(self):
        _common.validate_fields(self)
        _common.check_same_length(self, ("stage_depths", "stage_widths", "stage_strides"))
        if self.groups > 1 and self.block_type in ("basic", "preact_basic"):
            raise ValueError(
                f"`groups` > 1 needs a bottleneck block. Received: groups={self.groups}, "
                f"block_type={self.block_type!r}"
            )
        if self.shortcut == "none" and self.drop_path_rate > 0:
            raise ValueError(
                "`drop_path_rate` needs residual shortcuts; a plain network "
                f"(shortcut='none') has none. Received: drop_path_rate={self.drop_path_rate}"
            )


RESNET_DEFAULTS = dataclasses.asdict(ResNetConfig())


def _conv(x, filters, kernel, cfg, *, name, strides=1, groups=1):
    return _common.conv2d(x, filters, kernel, name=name, strides=strides, groups=groups, use_bias=cfg.use_bias)


def _bn(x, prefix, cfg, *, last=False):
    """`{prefix}_bn`; a branch's `last` BatchNorm starts at gamma 0 with `zero_init_last_bn`."""
    return _common.batch_norm(
        x,
        name=f"{prefix}_bn",
        epsilon=cfg.bn_epsilon,
        momentum=cfg.bn_momentum,
        zero_gamma=last and cfg.zero_init_last_bn,
    )


def _bn_relu(x, prefix, cfg):
    return _common.bn_relu(x, prefix, epsilon=cfg.bn_epsilon, momentum=cfg.bn_momentum)


def _relu(x, name):
    return layers.Activation("relu", name=name)(x)


def _dropout(x, cfg, name):
    # Zagoruyko & Komodakis 2016: dropout on the activation that feeds a block's last convolution.
    return layers.Dropout(cfg.dropout_rate, name=f"{name}_dropout")(x) if cfg.dropout_rate > 0 else x


def apply_shortcut(x, filters, *, stride, cfg, name, batch_norm=True):
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
    return _bn(x, f"{name}_0", cfg) if batch_norm else x


def _merge(x, shortcut, cfg, *, name, drop_rate, activate=True):
    """Adds the (stochastically dropped) residual branch to the shortcut; plain nets just activate."""
    if cfg.shortcut == "none":
        return _relu(x, f"{name}_out") if activate else x
    if drop_rate > 0:
        x = StochasticDepth(drop_rate, name=f"{name}_drop_path")(x)
    if not activate:
        return layers.Add(name=f"{name}_out")([shortcut, x])
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return _relu(x, f"{name}_out")


def se_channels(channels):
    """timm's SEModule reduction: `make_divisible(channels / 16, 8, round_limit=0)`."""
    return max(8, int(channels / 16 + 4) // 8 * 8)


def eca_kernel_size(channels, gamma=2, beta=1):
    """timm's EcaModule kernel size: `t = int(abs(log2(channels) + beta) / gamma)`, made odd, at least 3."""
    t = int(abs(math.log(channels, 2) + beta) / gamma)
    return max(t if t % 2 else t + 1, 3)


def _channel_attention(x, cfg, name):
    """`cfg.attn_layer` on a residual branch's output `x` (`{name}_se_*` / `{name}_eca_*` layers)."""
    if cfg.attn_layer is None:
        return x
    axis = channel_axis()
    channels = x.shape[axis]
    if cfg.attn_layer == "se":
        gate = layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_se_squeeze")(x)
        gate = layers.Conv2D(se_channels(channels), 1, name=f"{name}_se_reduce")(gate)
        gate = layers.Activation("relu", name=f"{name}_se_relu")(gate)
        gate = layers.Conv2D(channels, 1, name=f"{name}_se_expand")(gate)
        gate = layers.Activation("sigmoid", name=f"{name}_se_gate")(gate)
        return layers.Multiply(name=f"{name}_se_excite")([x, gate])
    gate = layers.GlobalAveragePooling2D(name=f"{name}_eca_squeeze")(x)
    gate = layers.Reshape((channels, 1), name=f"{name}_eca_channels")(gate)
    gate = layers.Conv1D(1, eca_kernel_size(channels), padding="same", use_bias=False, data_format="channels_last",
                         name=f"{name}_eca_conv")(gate)
    gate = layers.Activation("sigmoid", name=f"{name}_eca_gate")(gate)
    gate = layers.Reshape((1, 1, channels) if axis == -1 else (channels, 1, 1), name=f"{name}_eca_expand")(gate)
    return layers.Multiply(name=f"{name}_eca_excite")([x, gate])


def _bottleneck_width(width, cfg):
    # torchvision / timm: inner width = int(planes * base_width / 64) * groups.
    return int(width * cfg.width_per_group / 64) * cfg.groups


def _bottleneck_convs(x, width, *, stride, cfg, name):
    """A bottleneck's 1x1 reduce and 3x3 (grouped, `stride_on` strided) convs with BN-ReLU, to its last conv."""
    inner = _bottleneck_width(width, cfg)
    s1, s3 = (stride, 1) if cfg.stride_on == "1x1" else (1, stride)
    x = _bn_relu(_conv(x, inner, 1, cfg, name=f"{name}_1", strides=s1), f"{name}_1", cfg)
    x = _bn_relu(_conv(x, inner, 3, cfg, name=f"{name}_2", strides=s3, groups=cfg.groups), f"{name}_2", cfg)
    return _conv(_dropout(x, cfg, name), 4 * width, 1, cfg, name=f"{name}_3")


def _basic_convs(x, width, *, stride, cfg, name):
    """A basic block's two 3x3 convs, BN-ReLU between them, to its last conv."""
    x = _bn_relu(_conv(x, width, 3, cfg, name=f"{name}_1", strides=stride), f"{name}_1", cfg)
    return _conv(_dropout(x, cfg, name), width, 3, cfg, name=f"{name}_2")


def apply_basic_block(x, width, *, stride=1, cfg, name, drop_rate=0.0):
    """Two 3x3 convs (He et al. 2015, Fig. 2 left); output `width` channels."""
    shortcut = None if cfg.shortcut == "none" else apply_shortcut(x, width, stride=stride, cfg=cfg, name=name)
    x = _bn(_basic_convs(x, width, stride=stride, cfg=cfg, name=name), f"{name}_2", cfg, last=True)
    return _merge(_channel_attention(x, cfg, name), shortcut, cfg, name=name, drop_rate=drop_rate)


def apply_bottleneck_block(x, width, *, stride=1, cfg, name, drop_rate=0.0):
    """1x1 reduce, 3x3 (grouped for ResNeXt), 1x1 expand to `4 * width` (He et al. 2015, Fig. 5)."""
    shortcut = None if cfg.shortcut == "none" else apply_shortcut(x, 4 * width, stride=stride, cfg=cfg, name=name)
    x = _bn(_bottleneck_convs(x, width, stride=stride, cfg=cfg, name=name), f"{name}_3", cfg, last=True)
    return _merge(_channel_attention(x, cfg, name), shortcut, cfg, name=name, drop_rate=drop_rate)


def _preact_shortcut(x, preact, filters, *, stride, cfg, name):
    # He et al. 2016: a projection shortcut takes the pre-activated input (no BN after it).
    if cfg.shortcut == "none":
        return None
    in_filters = x.shape[channel_axis()]
    if stride == 1 and in_filters == filters:
        return x
    source = x if cfg.shortcut == "zero_pad" else preact
    return apply_shortcut(source, filters, stride=stride, cfg=cfg, name=name, batch_norm=False)


def apply_preact_basic_block(x, width, *, stride=1, cfg, name, drop_rate=0.0):
    """BN-ReLU-conv3x3, BN-ReLU-conv3x3, identity added after (He et al. 2016, Fig. 1b)."""
    preact = _bn_relu(x, f"{name}_preact", cfg)
    shortcut = _preact_shortcut(x, preact, width, stride=stride, cfg=cfg, name=name)
    x = _basic_convs(preact, width, stride=stride, cfg=cfg, name=name)
    return _merge(_channel_attention(x, cfg, name), shortcut, cfg, name=name, drop_rate=drop_rate, activate=False)


def apply_preact_bottleneck_block(x, width, *, stride=1, cfg, name, drop_rate=0.0):
    """Pre-activation bottleneck: BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (He et al. 2016)."""
    preact = _bn_relu(x, f"{name}_preact", cfg)
    shortcut = _preact_shortcut(x, preact, 4 * width, stride=stride, cfg=cfg, name=name)
    x = _bottleneck_convs(preact, width, stride=stride, cfg=cfg, name=name)
    return _merge(_channel_attention(x, cfg, name), shortcut, cfg, name=name, drop_rate=drop_rate, activate=False)


BLOCKS = {
    "basic": apply_basic_block,
    "bottleneck": apply_bottleneck_block,
    "preact_basic": apply_preact_basic_block,
    "preact_bottleneck": apply_preact_bottleneck_block,
}


def apply_stem(x, cfg):
    """The input stem; pre-activation networks leave the stem's last conv un-normalized."""
    preact = cfg.block_type.startswith("preact")
    width = cfg.stem_width
    if cfg.stem == "cifar":
        x = _conv(x, width, 3, cfg, name="conv1")
        return x if preact else _bn_relu(x, "conv1", cfg)
    if cfg.stem == "imagenet":
        x = _conv(x, width, 7, cfg, name="conv1", strides=2)
        if not preact:
            x = _bn_relu(x, "conv1", cfg)
    else:  # "deep": ResNet-C / ResNet-D stem, three 3x3 convs (width/2, width/2, width).
        for i, (filters, stride) in enumerate(((width // 2, 2), (width // 2, 1), (width, 1)), start=1):
            x = _conv(x, filters, 3, cfg, name=f"conv1_{i}", strides=stride)
            if i < 3 or not preact:
                x = _bn_relu(x, f"conv1_{i}", cfg)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def apply_stages(x, cfg):
    """The stages of blocks after the stem, and the stage outputs (`stage1`, ...)."""
    block_fn = BLOCKS[cfg.block_type]
    total = sum(cfg.stage_depths)
    features, index = {}, 0
    for s, (depth, width, stride) in enumerate(zip(cfg.stage_depths, cfg.stage_widths, cfg.stage_strides)):
        for b in range(depth):
            rate = cfg.drop_path_rate * index / max(total - 1, 1)
            x = block_fn(x, width, stride=stride if b == 0 else 1, cfg=cfg, name=f"conv{s + 2}_block{b + 1}",
                         drop_rate=rate)
            index += 1
        if cfg.block_type.startswith("preact") and s == len(cfg.stage_depths) - 1:
            x = _bn_relu(x, "post", cfg)
        features[f"stage{s + 1}"] = x
    return x, features


def build_resnet(*, spec, config, **common):
    """Builds the variant `spec` with the `ResNetConfig` fields `config` and the `build_classifier` arguments."""
    cfg = ResNetConfig(**config)  # checks every field before any layer is made
    return _common.build_classifier(lambda x: Body(*apply_stages(apply_stem(x, cfg), cfg)), spec=spec, **common)
