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
from keras_resnets.layers import BlurPool2D, DropBlock2D, StochasticDepth, ZeroPadShortcut

BLOCK_TYPES = ("basic", "bottleneck", "preact_basic", "preact_bottleneck")
STEMS = ("imagenet", "deep", "cifar")
STRIDE_POSITIONS = ("1x1", "3x3")
SHORTCUTS = ("projection", "avgpool", "zero_pad", "none")
ATTENTION_LAYERS = (None, "se", "eca")
AA_LAYERS = (None, "avg", "blur")
NORM_LAYERS = ("batch", "group")
OUTPUT_STRIDES = (8, 16, 32)
PADDINGS = ("symmetric", "same")
# timm's `drop_blocks`: DropBlock on the third stage (blocks of 5, a quarter of the seed rate) and the fourth
# (blocks of 3, the full rate), none before.
DROP_BLOCK_STAGES = {2: dict(block_size=5, gamma_scale=0.25), 3: dict(block_size=3, gamma_scale=1.0)}
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
        padding: str, how a strided convolution and the stem's max pool pad: "symmetric" (k // 2 zeros on each
            side, explicit `*_pad` layers: torchvision's, timm's and the papers' code, what pretrained weights
            expect) or "same" (TensorFlow's "same", one zero row and column fewer on the top and left of a
            stride-2 window on an even map; no `*_pad` layers: timm's `pad_type="same"`). Every weight keeps its
            name and shape; "same" is plain Keras' convention and about 6% faster to train on the JAX backend on
            CPU, where XLA does not fuse the explicit padding into the convolution (benchmarks/RESULTS.md).
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
        se_ratio: float in (0, 1], the squeeze-and-excitation reduction (timm's `rd_ratio`: 1/16, ResNet-RS 1/4).
        aa_layer: None, "avg" or "blur": anti-aliased downsampling (Zhang 2019) as timm does it. A strided
            block convolves at stride 1 and downsamples after its activation, with a 2x2 average pool ("avg",
            timm's `resnetaa*`) or a fixed binomial blur (`BlurPool2D`, "blur", timm's `resnetblur*`); the
            stem's max pool becomes a 2x2 average pool ("avg") or a stride-1 max pool then the blur ("blur").
        drop_block_rate: float, DropBlock (Ghiasi et al. 2018) after the 3x3 convolution's normalisation, on the
            third stage (5x5 blocks, a quarter of the seed rate) and the fourth (3x3 blocks), in training only:
            timm's `drop_block_rate` schedule.
        output_stride: 8, 16 or 32: stages past this stride dilate their 3x3 convolutions instead of striding
            (timm's `output_stride`, torchvision's `replace_stride_with_dilation`); every weight keeps its shape.
        replace_stem_pool: bool, a 3x3 stride-2 convolution with normalisation and ReLU instead of the stem's max
            pool (ResNet-RS).
        norm_layer: "batch" or "group": BatchNormalization, or GroupNormalization of `norm_groups` groups
            (timm's `resnet50_gn`, for small batches). The layers keep their `_bn` names either way, as timm
            keeps `bn1`.
        norm_groups: int, the groups of a GroupNormalization (timm's 32); it must divide every channel count.
        bn_epsilon, bn_momentum: floats, the normalisation epsilon (BatchNorm and GroupNorm) and the
            BatchNormalization momentum.
    """

    block_type: str = option("bottleneck", check_choice, allowed=BLOCK_TYPES)
    stage_depths: tuple = option((3, 4, 6, 3), check_int_sequence)
    stage_widths: tuple = option((64, 128, 256, 512), check_int_sequence)
    stage_strides: tuple = option((1, 2, 2, 2), check_int_sequence)
    stem: str = option("imagenet", check_choice, allowed=STEMS)
    stem_width: int = option(64, check_int)
    stride_on: str = option("3x3", check_choice, allowed=STRIDE_POSITIONS)
    padding: str = option("symmetric", check_choice, allowed=PADDINGS)
    use_bias: bool = option(False, check_bool)
    groups: int = option(1, check_int)
    width_per_group: int = option(64, check_int)
    shortcut: str = option("projection", check_choice, allowed=SHORTCUTS)
    drop_path_rate: float = option(0.0, check_fraction)
    dropout_rate: float = option(0.0, check_fraction)
    zero_init_last_bn: bool = option(False, check_bool)
    attn_layer: object = option(None, check_choice, allowed=ATTENTION_LAYERS)
    se_ratio: float = option(1 / 16, check_fraction, interval="(0, 1]")
    aa_layer: object = option(None, check_choice, allowed=AA_LAYERS)
    drop_block_rate: float = option(0.0, check_fraction)
    output_stride: int = option(32, check_choice, allowed=OUTPUT_STRIDES)
    replace_stem_pool: bool = option(False, check_bool)
    norm_layer: str = option("batch", check_choice, allowed=NORM_LAYERS)
    norm_groups: int = option(32, check_int)
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
        if self.aa_layer is not None and self.stride_on == "1x1" and self.block_type.endswith("bottleneck"):
            raise ValueError(
                "`aa_layer` moves a bottleneck's stride from its 3x3 convolution to after it; it needs "
                f"stride_on='3x3'. Received: aa_layer={self.aa_layer!r}, stride_on='1x1'"
            )
        if self.replace_stem_pool and self.stem == "cifar":
            raise ValueError("`replace_stem_pool` replaces the max pool of an 'imagenet' or 'deep' stem; the 'cifar' "
                             "stem has none. Received: replace_stem_pool=True, stem='cifar'")
        full_stride = _stem_reduction(self) * math.prod(self.stage_strides)
        if self.output_stride < 32 and self.output_stride >= full_stride:
            raise ValueError(
                f"`output_stride` below 32 dilates the stages past that stride, but this network's stride is "
                f"{full_stride} (stem {self.stem!r}, stage_strides={self.stage_strides}). Received: "
                f"output_stride={self.output_stride}"
            )
        if self.norm_layer == "group":
            _check_groups(self)


def _stem_reduction(cfg):
    """The stride of the stem's output: 4 after an ImageNet / deep stem and its pool, 1 after a CIFAR stem."""
    return 1 if cfg.stem == "cifar" else 4


def _check_groups(cfg):
    """`norm_groups` divides the channels of every normalisation layer the config builds."""
    expansion = EXPANSION[cfg.block_type]
    channels = {cfg.stem_width}
    if cfg.stem == "deep":
        channels.add(cfg.stem_width // 2)
    for width in cfg.stage_widths:
        inner = _bottleneck_width(width, cfg) if expansion == 4 else width
        channels.update({inner, expansion * width})
    bad = sorted(c for c in channels if c % cfg.norm_groups)
    if bad:
        raise ValueError(
            f"`norm_groups` must divide the channels of every normalisation layer; {bad} are not multiples of "
            f"{cfg.norm_groups}. Received: norm_groups={cfg.norm_groups}, stage_widths={cfg.stage_widths}, "
            f"stem_width={cfg.stem_width}"
        )


RESNET_DEFAULTS = dataclasses.asdict(ResNetConfig())


def _conv(x, filters, kernel, cfg, *, name, strides=1, groups=1, dilation=1):
    return _common.conv2d(x, filters, kernel, name=name, strides=strides, groups=groups, use_bias=cfg.use_bias,
                          dilation=dilation, symmetric=cfg.padding == "symmetric")


def _bn(x, prefix, cfg, *, last=False):
    """`{prefix}_bn` (BatchNorm or GroupNorm); a branch's `last` one starts at gamma 0 with `zero_init_last_bn`."""
    zero_gamma = last and cfg.zero_init_last_bn
    if cfg.norm_layer == "group":
        return layers.GroupNormalization(
            groups=cfg.norm_groups,
            axis=channel_axis(),
            epsilon=cfg.bn_epsilon,
            gamma_initializer="zeros" if zero_gamma else "ones",
            name=f"{prefix}_bn",
        )(x)
    return _common.batch_norm(
        x, name=f"{prefix}_bn", epsilon=cfg.bn_epsilon, momentum=cfg.bn_momentum, zero_gamma=zero_gamma
    )


def _bn_relu(x, prefix, cfg, *, drop_block=None):
    """Normalisation, DropBlock where `drop_block` (its arguments) says, then ReLU: `{prefix}_bn`, `_relu`."""
    x = _bn(x, prefix, cfg)
    if drop_block is not None:
        x = DropBlock2D(cfg.drop_block_rate, name=f"{prefix}_drop_block", **drop_block)(x)
    return layers.Activation("relu", name=f"{prefix}_relu")(x)


def _anti_alias(x, cfg, *, name, stride):
    """`cfg.aa_layer`'s downsampling by `stride` (`{name}_aa`): timm's `create_aa`."""
    if cfg.aa_layer == "blur":
        return BlurPool2D(3, strides=stride, name=f"{name}_aa")(x)
    if stride == 1:  # timm's AvgPool2d(1): the identity
        return x
    return layers.AveragePooling2D(stride, strides=stride, name=f"{name}_aa")(x)


def _relu(x, name):
    return layers.Activation("relu", name=name)(x)


def _dropout(x, cfg, name):
    # Zagoruyko & Komodakis 2016: dropout on the activation that feeds a block's last convolution.
    return layers.Dropout(cfg.dropout_rate, name=f"{name}_dropout")(x) if cfg.dropout_rate > 0 else x


def apply_shortcut(x, filters, *, stride, cfg, name, batch_norm=True, dilation=1):
    """The shortcut of a block whose input `x` must become `filters` channels at `stride` (in a stage dilated
    by `dilation`)."""
    in_filters = x.shape[channel_axis()]
    if stride == 1 and in_filters == filters:
        return x
    if cfg.shortcut == "zero_pad":
        return ZeroPadShortcut(filters, stride, name=f"{name}_0_pad")(x)
    if cfg.shortcut == "avgpool":
        if stride > 1:
            x = layers.AveragePooling2D(stride, strides=stride, padding="same", name=f"{name}_0_pool")(x)
        elif dilation > 1:
            # timm's AvgPool2dSame(2, 1): zero padding right and below, counted in the average.
            x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"{name}_0_pad")(x)
            x = layers.AveragePooling2D(2, strides=1, name=f"{name}_0_pool")(x)
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


def se_channels(channels, ratio=1 / 16):
    """timm's SEModule reduction: `make_divisible(channels * ratio, 8, round_limit=0)`."""
    return max(8, int(channels * ratio + 4) // 8 * 8)


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
        gate = layers.Conv2D(se_channels(channels, cfg.se_ratio), 1, name=f"{name}_se_reduce")(gate)
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


def _strided_conv(x, filters, *, stride, cfg, name, groups=1, dilation=1, first_dilation=1, drop_block=None):
    """A block's (grouped) 3x3 convolution `{name}_1`/`_2` that carries its stride, with normalisation and ReLU.

    With `aa_layer` it convolves at stride 1 and the anti-aliasing layer downsamples after the ReLU (also, as
    timm, where the dilation changes); in a stage's first block `first_dilation` is the previous stage's.
    """
    use_aa = cfg.aa_layer is not None and (stride > 1 or first_dilation != dilation)
    x = _conv(x, filters, 3, cfg, name=name, strides=1 if use_aa else stride, groups=groups, dilation=first_dilation)
    x = _bn_relu(x, name, cfg, drop_block=drop_block)
    return _anti_alias(x, cfg, name=name, stride=stride) if use_aa else x


def _bottleneck_convs(x, width, *, stride, cfg, name, dilation=1, first_dilation=1, drop_block=None):
    """A bottleneck's 1x1 reduce and 3x3 (grouped, `stride_on` strided) convs with BN-ReLU, to its last conv."""
    inner = _bottleneck_width(width, cfg)
    s1, s3 = (stride, 1) if cfg.stride_on == "1x1" else (1, stride)
    x = _bn_relu(_conv(x, inner, 1, cfg, name=f"{name}_1", strides=s1), f"{name}_1", cfg)
    x = _strided_conv(x, inner, stride=s3, cfg=cfg, name=f"{name}_2", groups=cfg.groups, dilation=dilation,
                      first_dilation=first_dilation, drop_block=drop_block)
    return _conv(_dropout(x, cfg, name), 4 * width, 1, cfg, name=f"{name}_3")


def _basic_convs(x, width, *, stride, cfg, name, dilation=1, first_dilation=1, drop_block=None):
    """A basic block's two 3x3 convs, BN-ReLU between them, to its last conv."""
    x = _strided_conv(x, width, stride=stride, cfg=cfg, name=f"{name}_1", dilation=dilation,
                      first_dilation=first_dilation, drop_block=drop_block)
    return _conv(_dropout(x, cfg, name), width, 3, cfg, name=f"{name}_2", dilation=dilation)


def apply_basic_block(x, width, *, stride=1, cfg, name, drop_rate=0.0, dilation=1, first_dilation=None,
                      drop_block=None):
    """Two 3x3 convs (He et al. 2015, Fig. 2 left); output `width` channels.

    `dilation` dilates the 3x3 convs (`first_dilation` the first, default the same), `drop_block` is the
    `DropBlock2D` arguments after the first one's normalisation (None for none).
    """
    convs = dict(dilation=dilation, first_dilation=first_dilation or dilation, drop_block=drop_block)
    shortcut = None if cfg.shortcut == "none" else apply_shortcut(x, width, stride=stride, cfg=cfg, name=name,
                                                                  dilation=dilation)
    x = _bn(_basic_convs(x, width, stride=stride, cfg=cfg, name=name, **convs), f"{name}_2", cfg, last=True)
    return _merge(_channel_attention(x, cfg, name), shortcut, cfg, name=name, drop_rate=drop_rate)


def apply_bottleneck_block(x, width, *, stride=1, cfg, name, drop_rate=0.0, dilation=1, first_dilation=None,
                           drop_block=None):
    """1x1 reduce, 3x3 (grouped for ResNeXt), 1x1 expand to `4 * width` (He et al. 2015, Fig. 5).

    `dilation`, `first_dilation` and `drop_block` act on the 3x3 conv, as in `apply_basic_block`.
    """
    convs = dict(dilation=dilation, first_dilation=first_dilation or dilation, drop_block=drop_block)
    shortcut = None if cfg.shortcut == "none" else apply_shortcut(x, 4 * width, stride=stride, cfg=cfg, name=name,
                                                                  dilation=dilation)
    x = _bn(_bottleneck_convs(x, width, stride=stride, cfg=cfg, name=name, **convs), f"{name}_3", cfg, last=True)
    return _merge(_channel_attention(x, cfg, name), shortcut, cfg, name=name, drop_rate=drop_rate)


def _preact_shortcut(x, preact, filters, *, stride, cfg, name, dilation):
    # He et al. 2016: a projection shortcut takes the pre-activated input (no BN after it).
    if cfg.shortcut == "none":
        return None
    in_filters = x.shape[channel_axis()]
    if stride == 1 and in_filters == filters:
        return x
    source = x if cfg.shortcut == "zero_pad" else preact
    return apply_shortcut(source, filters, stride=stride, cfg=cfg, name=name, batch_norm=False, dilation=dilation)


def apply_preact_basic_block(x, width, *, stride=1, cfg, name, drop_rate=0.0, dilation=1, first_dilation=None,
                             drop_block=None):
    """BN-ReLU-conv3x3, BN-ReLU-conv3x3, identity added after (He et al. 2016, Fig. 1b)."""
    convs = dict(dilation=dilation, first_dilation=first_dilation or dilation, drop_block=drop_block)
    preact = _bn_relu(x, f"{name}_preact", cfg)
    shortcut = _preact_shortcut(x, preact, width, stride=stride, cfg=cfg, name=name, dilation=dilation)
    x = _basic_convs(preact, width, stride=stride, cfg=cfg, name=name, **convs)
    return _merge(_channel_attention(x, cfg, name), shortcut, cfg, name=name, drop_rate=drop_rate, activate=False)


def apply_preact_bottleneck_block(x, width, *, stride=1, cfg, name, drop_rate=0.0, dilation=1, first_dilation=None,
                                  drop_block=None):
    """Pre-activation bottleneck: BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (He et al. 2016)."""
    convs = dict(dilation=dilation, first_dilation=first_dilation or dilation, drop_block=drop_block)
    preact = _bn_relu(x, f"{name}_preact", cfg)
    shortcut = _preact_shortcut(x, preact, 4 * width, stride=stride, cfg=cfg, name=name, dilation=dilation)
    x = _bottleneck_convs(preact, width, stride=stride, cfg=cfg, name=name, **convs)
    return _merge(_channel_attention(x, cfg, name), shortcut, cfg, name=name, drop_rate=drop_rate, activate=False)


BLOCKS = {
    "basic": apply_basic_block,
    "bottleneck": apply_bottleneck_block,
    "preact_basic": apply_preact_basic_block,
    "preact_bottleneck": apply_preact_bottleneck_block,
}


def _apply_stem_convs(x, cfg):
    """The stem's convolutions: the stride-2 feature map (stride 1 for "cifar"); pre-activation networks leave
    the last conv un-normalized."""
    preact = cfg.block_type.startswith("preact")
    width = cfg.stem_width
    if cfg.stem == "cifar":
        x = _conv(x, width, 3, cfg, name="conv1")
        return x if preact else _bn_relu(x, "conv1", cfg)
    if cfg.stem == "imagenet":
        x = _conv(x, width, 7, cfg, name="conv1", strides=2)
        return x if preact else _bn_relu(x, "conv1", cfg)
    # "deep": ResNet-C / ResNet-D stem, three 3x3 convs (width/2, width/2, width).
    for i, (filters, stride) in enumerate(((width // 2, 2), (width // 2, 1), (width, 1)), start=1):
        x = _conv(x, filters, 3, cfg, name=f"conv1_{i}", strides=stride)
        if i < 3 or not preact:
            x = _bn_relu(x, f"conv1_{i}", cfg)
    return x


def _apply_stem_pool(x, cfg):
    """The stem's stride-2 pooling (`pool1_*`), after `_apply_stem_convs`; none after a "cifar" stem."""
    if cfg.stem == "cifar":
        return x
    if cfg.replace_stem_pool:  # ResNet-RS: a 3x3 stride-2 conv, (anti-aliasing,) normalisation and ReLU
        x = _conv(x, x.shape[channel_axis()], 3, cfg, name="pool1", strides=1 if cfg.aa_layer else 2)
        if cfg.aa_layer:
            x = _anti_alias(x, cfg, name="pool1", stride=2)
        return _bn_relu(x, "pool1", cfg)
    if cfg.aa_layer == "avg":  # timm: AvgPool2d(2) in place of the max pool
        return layers.AveragePooling2D(2, name="pool1_pool")(x)
    if cfg.aa_layer == "blur":  # timm: a stride-1 max pool, then the blur downsamples
        x = layers.MaxPooling2D(3, strides=1, padding="same", name="pool1_pool")(x)
        return _anti_alias(x, cfg, name="pool1", stride=2)
    if cfg.padding == "same":
        return layers.MaxPooling2D(3, strides=2, padding="same", name="pool1_pool")(x)
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def apply_stem(x, cfg):
    """The input stem: its convolutions, then (but for "cifar") its stride-2 pooling."""
    return _apply_stem_pool(_apply_stem_convs(x, cfg), cfg)


def _drop_block(cfg, stage):
    """The `DropBlock2D` arguments of stage index `stage`, or None (timm's `drop_blocks`)."""
    if cfg.drop_block_rate == 0 or stage not in DROP_BLOCK_STAGES:
        return None
    return DROP_BLOCK_STAGES[stage]


def apply_stages(x, cfg):
    """The stages of blocks after the stem: the output, the stage outputs (`stage1`, ...) and their strides.

    Past `output_stride`, a stage dilates its 3x3 convs by its stride instead of striding (timm's `make_blocks`).
    """
    block_fn = BLOCKS[cfg.block_type]
    total = sum(cfg.stage_depths)
    features, reductions, index = {}, {}, 0
    net_stride = _stem_reduction(cfg)
    dilation = previous_dilation = 1
    for s, (depth, width, stride) in enumerate(zip(cfg.stage_depths, cfg.stage_widths, cfg.stage_strides)):
        if net_stride >= cfg.output_stride:
            dilation *= stride
            stride = 1
        else:
            net_stride *= stride
        for b in range(depth):
            rate = cfg.drop_path_rate * index / max(total - 1, 1)
            x = block_fn(x, width, stride=stride if b == 0 else 1, cfg=cfg, name=f"conv{s + 2}_block{b + 1}",
                         drop_rate=rate, dilation=dilation, first_dilation=previous_dilation,
                         drop_block=_drop_block(cfg, s))
            previous_dilation = dilation
            index += 1
        if cfg.block_type.startswith("preact") and s == len(cfg.stage_depths) - 1:
            x = _bn_relu(x, "post", cfg)
        features[f"stage{s + 1}"] = x
        reductions[f"stage{s + 1}"] = net_stride
    return x, features, reductions


def _check_even_maps(x, cfg):
    """Average-pool anti-aliasing floors an odd map where the shortcut rounds up (timm fails there too)."""
    spatial = x.shape[1:3] if channel_axis() == -1 else x.shape[2:4]
    # Stages past `output_stride` dilate instead of striding: only the strides before it halve the maps.
    stride = min(_stem_reduction(cfg) * math.prod(cfg.stage_strides), cfg.output_stride)
    if cfg.aa_layer == "avg" and any(side is not None and side % stride for side in spatial):
        raise ValueError(
            f"aa_layer='avg' needs every strided feature map even: input sides that are multiples of {stride}. "
            f"Received: input size {tuple(spatial)}"
        )


def _body(x, cfg):
    _check_even_maps(x, cfg)
    stem = _apply_stem_convs(x, cfg)
    x, features, reductions = apply_stages(_apply_stem_pool(stem, cfg), cfg)
    stem_reduction = 1 if cfg.stem == "cifar" else 2
    return Body(x, {"stem": stem, **features}, reductions={"stem": stem_reduction, **reductions})


def build_resnet(*, spec, config, **common):
    """Builds the variant `spec` with the `ResNetConfig` fields `config` and the `build_classifier` arguments."""
    cfg = ResNetConfig(**config)  # checks every field before any layer is made
    return _common.build_classifier(lambda x: _body(x, cfg), spec=spec, **common)
