"""ResNet v1, ResNeXt, Wide ResNets, the CIFAR 6n+2 ResNets, their plain twins and pre-activation CIFAR ResNets.

Every variant below is one registered factory: its `_register(...)` line is its table row (registry name,
family, the `ResNetConfig` fields that differ from the defaults, input facts), its body one call of
`create_model`. All are built by `build_resnet` (`keras_resnets.resnet_builder`, where `ResNetConfig`
documents each option). `CIFARResNet(depth)` and `WideResNet(depth, width_factor)` build the CIFAR ResNets
and WRN-d-k of any size the same way, without registering them.

`ResNet50/101/152` are layer-for-layer identical to `keras.applications.ResNet50/101/152` and take its
arguments in the same positions; the others take keyword arguments only.

References:
- [Deep Residual Learning for Image Recognition](https://arxiv.org/abs/1512.03385) (He et al. 2015)
- [Identity Mappings in Deep Residual Networks](https://arxiv.org/abs/1603.05027) (He et al. 2016)
- [Aggregated Residual Transformations](https://arxiv.org/abs/1611.05431) (Xie et al. 2016, ResNeXt)
- [Bag of Tricks for Image Classification](https://arxiv.org/abs/1812.01187) (He et al. 2018, ResNet-D)
- [Wide Residual Networks](https://arxiv.org/abs/1605.07146) (Zagoruyko & Komodakis 2016, WRN-d-k and
  the torchvision `wide_resnet50_2` / `wide_resnet101_2`)
"""

import dataclasses

from keras_resnets._common import check_choice, check_int
from keras_resnets._registry import ModelSpec, build_model, create_model, register_model, registered_factories
from keras_resnets._weights import keras_applications_weights
from keras_resnets.resnet_builder import (  # noqa: F401  (the blocks are importable from here, as before)
    BLOCK_TYPES,
    BLOCKS,
    EXPANSION,
    RESNET_DEFAULTS,
    SHORTCUTS,
    STEMS,
    STRIDE_POSITIONS,
    ResNetConfig,
    apply_basic_block,
    apply_bottleneck_block,
    apply_preact_basic_block,
    apply_preact_bottleneck_block,
    apply_shortcut,
    apply_stem,
    build_resnet,
)

_HE2015 = "https://arxiv.org/abs/1512.03385"
_HE2016 = "https://arxiv.org/abs/1603.05027"
_XIE2016 = "https://arxiv.org/abs/1611.05431"
_ZAGORUYKO2016 = "https://arxiv.org/abs/1605.07146"
_TORCH = dict(default_size=224, min_size=32, default_classes=1000, preprocessing="torch")
_CIFAR = dict(default_size=32, min_size=8, default_classes=10, preprocessing="tf")
# keras.applications' ResNet v1: stride on the first 1x1, conv biases, its BatchNorm epsilon.
_KERAS_V1 = dict(stride_on="1x1", use_bias=True, bn_epsilon=1.001e-5)
_CIFAR_BASIC = dict(block_type="basic", stage_widths=(16, 32, 64), stage_strides=(1, 2, 2), stem="cifar", stem_width=16)


def _keras(key):
    """The spec fields of a keras.applications drop-in named `key` there."""
    return dict(_TORCH, preprocessing="caffe", paper=_HE2015, imagenet_weights=keras_applications_weights(key),
                keras_name=key)


def _config(overrides):
    """The full (checked) `ResNetConfig` fields of a variant from the fields it changes."""
    return dataclasses.asdict(ResNetConfig(**overrides))


def _register(name, family, overrides, **spec):
    """Registers a variant of `family` whose config differs from `ResNetConfig()` by `overrides`."""
    return register_model(name, family=family, builder=build_resnet, config=_config(overrides), **spec)


def _three_stages(depth, *, layers_per_block, extra_layers, note=""):
    """n, for three stages of n blocks of `layers_per_block` layers and `extra_layers` others in `depth`."""
    step = 3 * layers_per_block
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < step + extra_layers or (
        (depth - extra_layers) % step
    ):
        examples = [step * n + extra_layers for n in (1, 2, 3, 4, 6, 9, 18)]
        raise ValueError(
            f"`depth` must be {step}n+{extra_layers} (n >= 1){note}, e.g. {examples}. Received: depth={depth!r}"
        )
    return (depth - extra_layers) // step


def cifar_resnet_config(depth, *, block_type="basic", shortcut="zero_pad"):
    """The `ResNetConfig` fields of a CIFAR ResNet of `depth` layers (He et al. 2015, Section 4.2).

    Three stages of n blocks at 16/32/64 base widths: depth 6n+2 with basic blocks, 9n+2 with bottlenecks.
    A pre-activation bottleneck puts its stride on the first 1x1 conv, as He et al.'s 2016 CIFAR code.
    """
    check_choice("block_type", block_type, BLOCK_TYPES)
    per_block = 3 if block_type.endswith("bottleneck") else 2
    n = _three_stages(depth, layers_per_block=per_block, extra_layers=2, note=f" for block_type={block_type!r}")
    stride_on = "1x1" if block_type == "preact_bottleneck" else "3x3"
    return dict(_CIFAR_BASIC, block_type=block_type, stage_depths=(n, n, n), shortcut=shortcut, stride_on=stride_on)


def wide_resnet_config(depth, width_factor):
    """The `ResNetConfig` fields of the CIFAR Wide ResNet WRN-`depth`-`width_factor`.

    Zagoruyko & Komodakis 2016, Table 1: a 3x3 stem conv to 16 channels, three stages of (depth - 4) / 6
    pre-activation basic blocks 16k / 32k / 64k wide, a 1x1 projection shortcut (on the pre-activated input)
    wherever the width or stride changes, BN-ReLU before the pooling.
    """
    n = _three_stages(depth, layers_per_block=2, extra_layers=4)
    check_int("width_factor", width_factor)
    widths = (16 * width_factor, 32 * width_factor, 64 * width_factor)
    return dict(_CIFAR_BASIC, block_type="preact_basic", stage_depths=(n, n, n), stage_widths=widths,
                shortcut="projection")


# ImageNet ResNets: keras.applications' drop-ins, then torchvision / timm definitions.


@_register("resnet18", "resnet", dict(block_type="basic", stage_depths=(2, 2, 2, 2)), paper=_HE2015, **_TORCH)
def ResNet18(**kwargs):
    """ResNet-18 (torchvision definition)."""
    return create_model("resnet18", **kwargs)


@_register("resnet34", "resnet", dict(block_type="basic", stage_depths=(3, 4, 6, 3)), paper=_HE2015, **_TORCH)
def ResNet34(**kwargs):
    """ResNet-34 (torchvision definition)."""
    return create_model("resnet34", **kwargs)


@_register("resnet50", "resnet", dict(_KERAS_V1, stage_depths=(3, 4, 6, 3)), **_keras("resnet50"))
def ResNet50(**kwargs):
    """ResNet-50, identical to keras.applications.ResNet50."""
    return create_model("resnet50", **kwargs)


@_register("resnet101", "resnet", dict(_KERAS_V1, stage_depths=(3, 4, 23, 3)), **_keras("resnet101"))
def ResNet101(**kwargs):
    """ResNet-101, identical to keras.applications.ResNet101."""
    return create_model("resnet101", **kwargs)


@_register("resnet152", "resnet", dict(_KERAS_V1, stage_depths=(3, 8, 36, 3)), **_keras("resnet152"))
def ResNet152(**kwargs):
    """ResNet-152, identical to keras.applications.ResNet152."""
    return create_model("resnet152", **kwargs)


@_register("resnet200", "resnet", dict(stage_depths=(3, 24, 36, 3)), paper=_HE2016, **_TORCH)
def ResNet200(**kwargs):
    """ResNet-200 (torchvision / timm definition)."""
    return create_model("resnet200", **kwargs)


@_register("resnet50_v1_5", "resnet", dict(stage_depths=(3, 4, 6, 3)), paper=_HE2015, **_TORCH)
def ResNet50V1_5(**kwargs):
    """ResNet-50 v1.5 (torchvision definition: stride on the 3x3, no conv bias)."""
    return create_model("resnet50_v1_5", **kwargs)


@_register("resnet101_v1_5", "resnet", dict(stage_depths=(3, 4, 23, 3)), paper=_HE2015, **_TORCH)
def ResNet101V1_5(**kwargs):
    """ResNet-101 v1.5 (torchvision definition)."""
    return create_model("resnet101_v1_5", **kwargs)


@_register("resnet152_v1_5", "resnet", dict(stage_depths=(3, 8, 36, 3)), paper=_HE2015, **_TORCH)
def ResNet152V1_5(**kwargs):
    """ResNet-152 v1.5 (torchvision definition)."""
    return create_model("resnet152_v1_5", **kwargs)


@_register("resnet50d", "resnet", dict(stem="deep", shortcut="avgpool"), paper="https://arxiv.org/abs/1812.01187",
           **_TORCH)
def ResNet50D(**kwargs):
    """ResNet-50-D (deep stem, average-pool shortcuts; timm `resnet50d`)."""
    return create_model("resnet50d", **kwargs)


# Channel attention (timm's definitions and names): squeeze-and-excitation and efficient channel attention.
_HU2018 = "https://arxiv.org/abs/1709.01507"
_WANG2020 = "https://arxiv.org/abs/1910.03151"


@_register("seresnet50", "resnet", dict(attn_layer="se"), paper=_HU2018, **_TORCH)
def SEResNet50(**kwargs):
    """SE-ResNet-50 (timm `seresnet50`: ResNet-50 v1.5 with squeeze-and-excitation in every block)."""
    return create_model("seresnet50", **kwargs)


@_register("seresnext50_32x4d", "resnext", dict(groups=32, width_per_group=4, attn_layer="se"), paper=_HU2018,
           **_TORCH)
def SEResNeXt50_32x4d(**kwargs):
    """SE-ResNeXt-50 32x4d (timm `seresnext50_32x4d`)."""
    return create_model("seresnext50_32x4d", **kwargs)


@_register("seresnext101_32x4d", "resnext",
           dict(stage_depths=(3, 4, 23, 3), groups=32, width_per_group=4, attn_layer="se"), paper=_HU2018, **_TORCH)
def SEResNeXt101_32x4d(**kwargs):
    """SE-ResNeXt-101 32x4d (timm `seresnext101_32x4d`)."""
    return create_model("seresnext101_32x4d", **kwargs)


@_register("ecaresnet50d", "resnet", dict(stem="deep", shortcut="avgpool", attn_layer="eca"), paper=_WANG2020,
           **_TORCH)
def ECAResNet50D(**kwargs):
    """ECA-ResNet-50-D (timm `ecaresnet50d`: ResNet-50-D with efficient channel attention in every block)."""
    return create_model("ecaresnet50d", **kwargs)


# Anti-aliased downsampling (Zhang 2019) and GroupNorm, as timm defines them.
_ZHANG2019 = "https://arxiv.org/abs/1904.11486"


@_register("resnetaa50d", "resnet", dict(stem="deep", shortcut="avgpool", aa_layer="avg"), paper=_ZHANG2019, **_TORCH)
def ResNetAA50D(**kwargs):
    """ResNet-50-D with average-pool anti-aliasing (timm `resnetaa50d`)."""
    return create_model("resnetaa50d", **kwargs)


@_register("resnetblur50", "resnet", dict(aa_layer="blur"), paper=_ZHANG2019, **_TORCH)
def ResNetBlur50(**kwargs):
    """ResNet-50 with blur-pool anti-aliasing (timm `resnetblur50`: a binomial 3x3 filter before each stride)."""
    return create_model("resnetblur50", **kwargs)


@_register("resnet50_gn", "resnet", dict(norm_layer="group"), paper="https://arxiv.org/abs/1803.08494", **_TORCH)
def ResNet50GN(**kwargs):
    """ResNet-50 with GroupNorm (32 groups) in place of BatchNorm (timm `resnet50_gn`)."""
    return create_model("resnet50_gn", **kwargs)


# ResNet-RS (Bello et al. 2021), timm's definition: ResNet-D with a convolution for the stem's pool and SE 1/4.
_BELLO2021 = "https://arxiv.org/abs/2103.07579"
_RS = dict(stem="deep", shortcut="avgpool", replace_stem_pool=True, attn_layer="se", se_ratio=0.25)


@_register("resnetrs50", "resnet", dict(_RS, stage_depths=(3, 4, 6, 3)), paper=_BELLO2021, **_TORCH)
def ResNetRS50(**kwargs):
    """ResNet-RS-50 (timm `resnetrs50`)."""
    return create_model("resnetrs50", **kwargs)


@_register("resnetrs101", "resnet", dict(_RS, stage_depths=(3, 4, 23, 3)), paper=_BELLO2021, **_TORCH)
def ResNetRS101(**kwargs):
    """ResNet-RS-101 (timm `resnetrs101`)."""
    return create_model("resnetrs101", **kwargs)


@_register("resnetrs152", "resnet", dict(_RS, stage_depths=(3, 8, 36, 3)), paper=_BELLO2021, **_TORCH)
def ResNetRS152(**kwargs):
    """ResNet-RS-152 (timm `resnetrs152`)."""
    return create_model("resnetrs152", **kwargs)


@_register("resnetrs200", "resnet", dict(_RS, stage_depths=(3, 24, 36, 3)), paper=_BELLO2021, **_TORCH)
def ResNetRS200(**kwargs):
    """ResNet-RS-200 (timm `resnetrs200`)."""
    return create_model("resnetrs200", **kwargs)


@_register("resnetrs270", "resnet", dict(_RS, stage_depths=(4, 29, 53, 4)), paper=_BELLO2021, **_TORCH)
def ResNetRS270(**kwargs):
    """ResNet-RS-270 (timm `resnetrs270`)."""
    return create_model("resnetrs270", **kwargs)


@_register("resnetrs350", "resnet", dict(_RS, stage_depths=(4, 36, 72, 4)), paper=_BELLO2021, **_TORCH)
def ResNetRS350(**kwargs):
    """ResNet-RS-350 (timm `resnetrs350`)."""
    return create_model("resnetrs350", **kwargs)


@_register("resnetrs420", "resnet", dict(_RS, stage_depths=(4, 44, 87, 4)), paper=_BELLO2021, **_TORCH)
def ResNetRS420(**kwargs):
    """ResNet-RS-420 (timm `resnetrs420`)."""
    return create_model("resnetrs420", **kwargs)


# ResNeXt and torchvision's wide bottleneck ResNets.


@_register("resnext50_32x4d", "resnext", dict(groups=32, width_per_group=4), paper=_XIE2016, **_TORCH)
def ResNeXt50_32x4d(**kwargs):
    """ResNeXt-50 32x4d (torchvision definition)."""
    return create_model("resnext50_32x4d", **kwargs)


@_register("resnext101_32x4d", "resnext", dict(stage_depths=(3, 4, 23, 3), groups=32, width_per_group=4),
           paper=_XIE2016, **_TORCH)
def ResNeXt101_32x4d(**kwargs):
    """ResNeXt-101 32x4d (torchvision / timm definition)."""
    return create_model("resnext101_32x4d", **kwargs)


@_register("resnext101_32x8d", "resnext", dict(stage_depths=(3, 4, 23, 3), groups=32, width_per_group=8),
           paper=_XIE2016, **_TORCH)
def ResNeXt101_32x8d(**kwargs):
    """ResNeXt-101 32x8d (torchvision definition)."""
    return create_model("resnext101_32x8d", **kwargs)


@_register("resnext101_64x4d", "resnext", dict(stage_depths=(3, 4, 23, 3), groups=64, width_per_group=4),
           paper=_XIE2016, **_TORCH)
def ResNeXt101_64x4d(**kwargs):
    """ResNeXt-101 64x4d (torchvision definition)."""
    return create_model("resnext101_64x4d", **kwargs)


@_register("wide_resnet50_2", "wide_resnet", dict(width_per_group=128), paper=_ZAGORUYKO2016, **_TORCH)
def WideResNet50_2(**kwargs):
    """Wide ResNet-50-2 (torchvision definition: bottleneck 3x3 convs twice as wide)."""
    return create_model("wide_resnet50_2", **kwargs)


@_register("wide_resnet101_2", "wide_resnet", dict(stage_depths=(3, 4, 23, 3), width_per_group=128),
           paper=_ZAGORUYKO2016, **_TORCH)
def WideResNet101_2(**kwargs):
    """Wide ResNet-101-2 (torchvision definition)."""
    return create_model("wide_resnet101_2", **kwargs)


# CIFAR ResNets (6n+2, option A zero-padded identity shortcuts) and their plain twins.


@_register("resnet20", "cifar_resnet", cifar_resnet_config(20), paper=_HE2015, **_CIFAR)
def ResNet20(**kwargs):
    """CIFAR ResNet-20 (6n+2, option A zero-padded identity shortcuts)."""
    return create_model("resnet20", **kwargs)


@_register("resnet32", "cifar_resnet", cifar_resnet_config(32), paper=_HE2015, **_CIFAR)
def ResNet32(**kwargs):
    """CIFAR ResNet-32 (6n+2, option A zero-padded identity shortcuts)."""
    return create_model("resnet32", **kwargs)


@_register("resnet44", "cifar_resnet", cifar_resnet_config(44), paper=_HE2015, **_CIFAR)
def ResNet44(**kwargs):
    """CIFAR ResNet-44 (6n+2, option A zero-padded identity shortcuts)."""
    return create_model("resnet44", **kwargs)


@_register("resnet56", "cifar_resnet", cifar_resnet_config(56), paper=_HE2015, **_CIFAR)
def ResNet56(**kwargs):
    """CIFAR ResNet-56 (6n+2, option A zero-padded identity shortcuts)."""
    return create_model("resnet56", **kwargs)


@_register("resnet110", "cifar_resnet", cifar_resnet_config(110), paper=_HE2015, **_CIFAR)
def ResNet110(**kwargs):
    """CIFAR ResNet-110 (6n+2, option A zero-padded identity shortcuts)."""
    return create_model("resnet110", **kwargs)


@_register("resnet1202", "cifar_resnet", cifar_resnet_config(1202), paper=_HE2015, **_CIFAR)
def ResNet1202(**kwargs):
    """CIFAR ResNet-1202 (6n+2, option A zero-padded identity shortcuts).

    Loading a saved ResNet-1202 needs a higher recursion limit: `with keras_resnets.deep_recursion():`.
    """
    return create_model("resnet1202", **kwargs)


@_register("plain20", "cifar_resnet", cifar_resnet_config(20, shortcut="none"), paper=_HE2015, **_CIFAR)
def Plain20(**kwargs):
    """CIFAR plain-20 (ResNet-20 without shortcuts)."""
    return create_model("plain20", **kwargs)


@_register("plain32", "cifar_resnet", cifar_resnet_config(32, shortcut="none"), paper=_HE2015, **_CIFAR)
def Plain32(**kwargs):
    """CIFAR plain-32 (ResNet-32 without shortcuts)."""
    return create_model("plain32", **kwargs)


@_register("plain44", "cifar_resnet", cifar_resnet_config(44, shortcut="none"), paper=_HE2015, **_CIFAR)
def Plain44(**kwargs):
    """CIFAR plain-44 (ResNet-44 without shortcuts)."""
    return create_model("plain44", **kwargs)


@_register("plain56", "cifar_resnet", cifar_resnet_config(56, shortcut="none"), paper=_HE2015, **_CIFAR)
def Plain56(**kwargs):
    """CIFAR plain-56 (ResNet-56 without shortcuts)."""
    return create_model("plain56", **kwargs)


@_register("plain110", "cifar_resnet", cifar_resnet_config(110, shortcut="none"), paper=_HE2015, **_CIFAR)
def Plain110(**kwargs):
    """CIFAR plain-110 (ResNet-110 without shortcuts)."""
    return create_model("plain110", **kwargs)


# CIFAR pre-activation ResNets (9n+2 bottleneck blocks) and ResNeXt-29.

_PREACT = dict(block_type="preact_bottleneck", shortcut="projection")


@_register("preact_resnet164", "cifar_resnet", cifar_resnet_config(164, **_PREACT), paper=_HE2016, **_CIFAR)
def PreActResNet164(**kwargs):
    """CIFAR pre-activation ResNet-164 (bottleneck, 9n+2)."""
    return create_model("preact_resnet164", **kwargs)


@_register("preact_resnet1001", "cifar_resnet", cifar_resnet_config(1001, **_PREACT), paper=_HE2016, **_CIFAR)
def PreActResNet1001(**kwargs):
    """CIFAR pre-activation ResNet-1001 (bottleneck, 9n+2)."""
    return create_model("preact_resnet1001", **kwargs)


_RESNEXT29 = dict(stage_depths=(3, 3, 3), stage_widths=(64, 128, 256), stage_strides=(1, 2, 2), stem="cifar")


@_register("resnext29_8x64d", "resnext", dict(_RESNEXT29, groups=8), paper=_XIE2016, **_CIFAR)
def ResNeXt29_8x64d(**kwargs):
    """CIFAR ResNeXt-29 8x64d."""
    return create_model("resnext29_8x64d", **kwargs)


@_register("resnext29_16x64d", "resnext", dict(_RESNEXT29, groups=16), paper=_XIE2016, **_CIFAR)
def ResNeXt29_16x64d(**kwargs):
    """CIFAR ResNeXt-29 16x64d."""
    return create_model("resnext29_16x64d", **kwargs)


# CIFAR Wide ResNets: the paper's width/depth study (WRN-16-4/8, 22-8, 28-10, 40-2/4), plus the small WRN-16-2
# and WRN-28-2 (the semi-supervised benchmarks' network).


@_register("wrn16_2", "wide_resnet", wide_resnet_config(16, 2), paper=_ZAGORUYKO2016, **_CIFAR)
def WRN16_2(**kwargs):
    """CIFAR Wide ResNet WRN-16-2 (pre-activation basic blocks, 2x the widths)."""
    return create_model("wrn16_2", **kwargs)


@_register("wrn16_4", "wide_resnet", wide_resnet_config(16, 4), paper=_ZAGORUYKO2016, **_CIFAR)
def WRN16_4(**kwargs):
    """CIFAR Wide ResNet WRN-16-4 (pre-activation basic blocks, 4x the widths)."""
    return create_model("wrn16_4", **kwargs)


@_register("wrn16_8", "wide_resnet", wide_resnet_config(16, 8), paper=_ZAGORUYKO2016, **_CIFAR)
def WRN16_8(**kwargs):
    """CIFAR Wide ResNet WRN-16-8 (pre-activation basic blocks, 8x the widths)."""
    return create_model("wrn16_8", **kwargs)


@_register("wrn22_8", "wide_resnet", wide_resnet_config(22, 8), paper=_ZAGORUYKO2016, **_CIFAR)
def WRN22_8(**kwargs):
    """CIFAR Wide ResNet WRN-22-8 (pre-activation basic blocks, 8x the widths)."""
    return create_model("wrn22_8", **kwargs)


@_register("wrn28_2", "wide_resnet", wide_resnet_config(28, 2), paper=_ZAGORUYKO2016, **_CIFAR)
def WRN28_2(**kwargs):
    """CIFAR Wide ResNet WRN-28-2 (pre-activation basic blocks, 2x the widths)."""
    return create_model("wrn28_2", **kwargs)


@_register("wrn28_10", "wide_resnet", wide_resnet_config(28, 10), paper=_ZAGORUYKO2016, **_CIFAR)
def WRN28_10(**kwargs):
    """CIFAR Wide ResNet WRN-28-10 (pre-activation basic blocks, 10x the widths)."""
    return create_model("wrn28_10", **kwargs)


@_register("wrn40_2", "wide_resnet", wide_resnet_config(40, 2), paper=_ZAGORUYKO2016, **_CIFAR)
def WRN40_2(**kwargs):
    """CIFAR Wide ResNet WRN-40-2 (pre-activation basic blocks, 2x the widths)."""
    return create_model("wrn40_2", **kwargs)


@_register("wrn40_4", "wide_resnet", wide_resnet_config(40, 4), paper=_ZAGORUYKO2016, **_CIFAR)
def WRN40_4(**kwargs):
    """CIFAR Wide ResNet WRN-40-4 (pre-activation basic blocks, 4x the widths)."""
    return create_model("wrn40_4", **kwargs)


# Any size: built like the registered CIFAR variants, from a spec that is not registered.


def _cifar_spec(name, *, factory, family, config, paper):
    return ModelSpec(name=name, factory=factory, family=family, builder=build_resnet, config=_config(config),
                     paper=paper, **_CIFAR)


def CIFARResNet(depth, *, block_type="basic", shortcut="zero_pad", **kwargs):
    """A CIFAR ResNet of any depth: 6n+2 layers with basic blocks, 9n+2 with bottleneck blocks.

    Three stages of n blocks at 16/32/64 base widths on 32x32 inputs (He et al. 2015, Section 4.2). Loading
    a saved model deeper than about 1,000 layers needs `with keras_resnets.deep_recursion():`.

    Args:
        depth: int, the number of weighted layers: 6n+2 (basic blocks) or 9n+2 (bottleneck blocks).
        block_type: str, "basic", "bottleneck", "preact_basic" or "preact_bottleneck".
        shortcut: str, "zero_pad" (option A), "projection" (option B) or "none" (plain network).
        **kwargs: any `create_model` argument (`classes`, `input_shape`, `drop_path_rate`, ...).

    Returns:
        A `keras.Model` named `resnet{depth}` (`plain{depth}`, `preact_resnet{depth}`) by default.

    Example:
    ```python
    model = keras_resnets.CIFARResNet(74, shortcut="projection", classes=100)
    ```
    """
    config = cifar_resnet_config(depth, block_type=block_type, shortcut=shortcut)
    preact = block_type.startswith("preact")
    prefix = "plain" if shortcut == "none" else "preact_resnet" if preact else "resnet"
    spec = _cifar_spec(f"{prefix}{depth}", factory="CIFARResNet", family="cifar_resnet", config=config,
                       paper=_HE2016 if preact else _HE2015)
    return build_model(spec, **kwargs)


def WideResNet(depth, width_factor, **kwargs):
    """A CIFAR Wide ResNet WRN-`depth`-`width_factor` (Zagoruyko & Komodakis 2016) of any size.

    Three stages of (depth - 4) / 6 pre-activation basic blocks, 16k / 32k / 64k channels wide (k =
    `width_factor`), 1x1 projection shortcuts where the shape changes, on 32x32 inputs. The paper's
    dropout between a block's two convolutions is `dropout_rate` (0.3 in its best CIFAR results; default 0).

    Args:
        depth: int, 6n+4 (n >= 1): 10, 16, 22, 28, 40, ...
        width_factor: int >= 1, the widening factor k (k=1 is a pre-activation ResNet with projections).
        **kwargs: any `create_model` argument (`classes`, `input_shape`, `dropout_rate`, ...).

    Returns:
        A `keras.Model` named `wrn{depth}_{width_factor}` by default.

    Example:
    ```python
    model = keras_resnets.WideResNet(28, 10, dropout_rate=0.3, classes=100)   # the paper's WRN-28-10
    ```
    """
    config = wide_resnet_config(depth, width_factor)
    spec = _cifar_spec(f"wrn{depth}_{width_factor}", factory="WideResNet", family="wide_resnet", config=config,
                       paper=_ZAGORUYKO2016)
    return build_model(spec, **kwargs)


FACTORIES = {**registered_factories(__name__), "CIFARResNet": CIFARResNet, "WideResNet": WideResNet}
