"""Residual Attention Networks (Wang et al. 2017): ImageNet Attention-56/92 and CIFAR Attention-92/236/452.

One builder, `build_attention`, covers every variant; they differ by `AttentionConfig`. A network is a stem
and stages; every stage opens with a pre-activation bottleneck unit (which changes width and stride), then
stacks `stage_modules[s]` attention modules, then the rest of its `stage_units[s]` plain units.

An attention module (`apply_attention_module`, the paper's Fig. 2 with hyper-parameters p, t, r):

- `p` pre-processing units, then two branches from their output:
- trunk `T(x)`: `t` units;
- soft mask `M(x)`: bottom-up max-pooling (3x3/2) `mask_downsamples` times with `r` units after each pool,
  `r` more units at the bottom, then top-down: bilinear resize to the matching level's size, add that
  level's skip connection (one unit on the level's output), `r` units; finally resize to the trunk's
  size, BN-ReLU-1x1 conv, BN-ReLU-1x1 conv, sigmoid;
- attention residual learning: `H = (1 + M) * T`, built as `T + T * M` (no Lambda layer);
- `p` post-processing units.

The ImageNet variants follow the official Caffe deploy files (fwang91/residual-attention-network,
`imagenet_model/Attention-{56,92}-deploy.prototxt`) layer for layer, so their parameter counts equal those
files' (Attention-56: 31,883,432 weights, 31,810,728 trainable; Attention-92: 52,599,976 / 52,466,344):

- convolutions have no bias; the classifier has one;
- stem: 7x7/2 conv (64) - BN - ReLU - 3x3/2 max-pool; the first unit's BN-ReLU follows the pool;
- pre-activation bottleneck units (BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1, inner width = output / 4),
  stride on the 3x3 conv, a 1x1 projection shortcut taking the pre-activated input where the shape
  changes, identity otherwise; every tensor a unit reads is pre-activated by that unit's own BN-ReLU,
  while shortcuts, pools and the trunk output stay un-normalized, as in the Caffe graph;
- stage outputs 256 / 512 / 1024 / 2048; stages 1-3 open with one unit and hold the attention modules
  (1/1/1 for Attention-56, 1/2/3 for Attention-92), stage 4 is three plain units;
- the mask pools 3 / 2 / 1 times in stages 1 / 2 / 3, with the skip units and the 2r bottom units of
  the official model; its two 1x1 convs keep the stage width;
- after the last unit: BN-ReLU (`post_bn`, `post_relu`), global average pool, dense classifier.

Where this differs from Caffe (no effect on parameter counts): Caffe's `Interp` layer resizes bilinearly
with aligned corners, here `keras.ops.image.resize` (half-pixel centers, like `align_corners=False`);
Caffe pools with ceil rounding and no padding, here the mask pools use "same" padding and the stem pool
zero-pads by one, as torchvision / keras.applications do. Sizes agree for even inputs (224 -> 56 -> 28 ->
14 -> 7); for odd sizes every resize targets the matching skip tensor's actual shape (`ResizeLike`), so
any input size >= `min_size` works, including unknown (`None`) sizes.

`min_size` is 32 for ImageNet variants: the stage-1 map is then 8x8, so each of its three mask pools
still halves a map of side >= 2 (8 -> 4 -> 2 -> 1), as do stage 2 (4 -> 2 -> 1) and stage 3 (2 -> 1).

CIFAR variants (the paper gives no exact CIFAR architecture, only depths and parameter counts). Chosen
here: the ImageNet design moved to 32x32 inputs the way pre-activation ResNet-164 (the paper's CIFAR
baseline, 1.7M parameters) moves ResNet to CIFAR: a 3x3 conv stem with 16 filters and no pooling; three
stages at 32x32 / 16x16 / 8x8 with outputs 64 / 128 / 256 (ResNet-164's widths); the masks pool 3 / 2 / 1
times so that, as on ImageNet, every mask bottoms out at the same resolution (4x4; ImageNet 7x7); the
last stage ends with the three plain units of ImageNet's stage 4 (at 8x8, width 256) so that the paper's
depth formula holds for every variant: depth = 20 + 3 * (2p + t) * modules (Attention-92: 1/2/3 modules,
p=1, t=2, r=1; Attention-236: 6/6/6 modules; Attention-452: 6/6/6 modules with p=2, t=4, r=3, as in the
paper). The mask's skip connections keep one unit each, as in the official model. Trainable parameters
(10 classes) against the paper's: Attention-92 2,451,226 (paper 1.9M), Attention-236 5,203,226 (5.1M),
Attention-452 10,299,674 (8.6M); with BatchNorm statistics 2,482,298 / 5,279,866 / 10,459,258.
`min_size` is 8 for CIFAR (stage-1 masks 8 -> 4 -> 2 -> 1).

`return_masks=True` makes the model output a dict: `"predictions"` (the usual output) plus every soft
mask `M(x)` in [0, 1], keyed `"mask_stage{s}_module{m}"` (1-based), each the size of its trunk.

Reference:
- [Residual Attention Network for Image Classification](https://arxiv.org/abs/1704.06904) (Wang et al. 2017)
"""

import dataclasses
import math

import keras
from keras import layers, ops

from keras_resnets import _common
from keras_resnets._common import Body, channel_axis, conv2d, option
from keras_resnets._common import check_bool, check_choice, check_fraction, check_int, check_int_sequence
from keras_resnets._registry import create_model, register_model, registered_factories
from keras_resnets.layers import _standardize_data_format

STEMS = ("imagenet", "cifar")
_BOTTLENECK_RATIO = 4  # inner width = output width / 4, as in the official model.


def _source_indices(in_size, out_size):
    """Bilinear sampling along one axis (half-pixel centers, edge-clamped, no antialiasing).

    The formula of `tf.image.resize(..., "bilinear")` / `jax.image.resize(..., "linear")` for upsampling,
    written with `keras.ops` so that both sizes may be run-time tensors.
    """
    scale = ops.cast(in_size, "float32") / ops.cast(out_size, "float32")
    src = (ops.cast(ops.arange(0, out_size, 1, dtype="int32"), "float32") + 0.5) * scale - 0.5
    src = ops.minimum(ops.maximum(src, 0.0), ops.cast(in_size - 1, "float32"))
    low = ops.floor(src)
    frac = src - low
    low = ops.cast(low, "int32")
    high = ops.minimum(low + 1, ops.cast(in_size - 1, "int32"))
    return low, high, frac


def _lerp_axis(x, axis, in_size, out_size):
    low, high, frac = _source_indices(in_size, out_size)
    shape = [1, 1, 1, 1]
    shape[axis] = -1
    frac = ops.reshape(ops.cast(frac, x.dtype), shape)
    a = ops.take(x, low, axis=axis)
    b = ops.take(x, high, axis=axis)
    return a + (b - a) * frac


@keras.saving.register_keras_serializable(package="keras_resnets")
class ResizeLike(keras.layers.Layer):
    """Resizes its first input (bilinear) to the spatial size of its second input.

    This is Caffe's `Interp` layer with a second bottom, as the official Residual Attention Network uses
    it: the target size is read at run time (`keras.ops.shape`), so it works with odd sizes and unknown
    (`None`) spatial dimensions. Where the target size is known when the layer runs (eager execution,
    JAX, static shapes) it calls `keras.ops.image.resize`; where it is a symbolic tensor (a TensorFlow
    graph traced with `None` sizes, e.g. `predict` or SavedModel export of a `(None, None, 3)` model),
    `keras.ops.image.resize` refuses non-integer sizes, so the same half-pixel bilinear interpolation is
    computed with `keras.ops.take` on run-time indices instead.

    Args:
        interpolation: str, "bilinear" (the dynamic path implements bilinear only) or any
            `keras.ops.image.resize` interpolation for static sizes.
        data_format: str or None, "channels_last" or "channels_first"; default from the Keras config.

    Example:
    ```python
    up = ResizeLike()([small, reference])  # `small` resized to `reference`'s height and width
    ```
    """

    def __init__(self, interpolation="bilinear", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.interpolation = interpolation
        self.data_format = _standardize_data_format(data_format)

    def _axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def call(self, inputs):
        x, ref = inputs
        h_axis, w_axis = self._axes()
        ref_shape, x_shape = ops.shape(ref), ops.shape(x)
        size = (ref_shape[h_axis], ref_shape[w_axis])
        if all(isinstance(d, int) for d in size):
            if size == (x_shape[h_axis], x_shape[w_axis]):
                return x
            resized = ops.image.resize(x, size, interpolation=self.interpolation, data_format=self.data_format)
            return ops.cast(resized, x.dtype)
        if self.interpolation != "bilinear":
            raise ValueError(
                "ResizeLike resizes to run-time sizes with bilinear interpolation only. "
                f"Received: interpolation={self.interpolation!r}"
            )
        x = _lerp_axis(x, h_axis, x_shape[h_axis], size[0])
        return _lerp_axis(x, w_axis, x_shape[w_axis], size[1])

    def compute_output_shape(self, input_shape):
        x_shape, ref_shape = input_shape
        shape = list(x_shape)
        for axis in self._axes():
            shape[axis] = ref_shape[axis]
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation, "data_format": self.data_format}


_PER_STAGE = ("stage_modules", "stage_units", "stage_widths", "stage_strides", "mask_downsamples")


@dataclasses.dataclass(frozen=True, kw_only=True)
class AttentionConfig:
    """The architecture of a Residual Attention Network; the defaults are the official ImageNet Attention-56.

    Attributes:
        stage_modules: tuple of ints >= 0, attention modules per stage.
        stage_units: tuple of ints >= 1, plain units per stage: the first opens the stage (stride, width),
            the rest follow the attention modules.
        stage_widths: tuple of ints, each stage's output channels (bottleneck inner width is a quarter).
        stage_strides: tuple of ints, the stride of each stage's first unit.
        mask_downsamples: tuple of ints >= 0, max-poolings in each stage's soft masks.
        p, t, r: ints >= 1, the attention module hyper-parameters (pre/post, trunk, mask units).
        stem: str, "imagenet" (7x7/2 conv, BN-ReLU, 3x3/2 max-pool) or "cifar" (one 3x3 conv).
        stem_width: int, the stem's filters.
        bn_epsilon, bn_momentum: floats, the BatchNormalization settings.
        return_masks: bool, also output every soft mask (`"mask_stage{s}_module{m}"`).
    """

    stage_modules: tuple = option((1, 1, 1, 0), check_int_sequence, minimum=0)
    stage_units: tuple = option((1, 1, 1, 3), check_int_sequence)
    stage_widths: tuple = option((256, 512, 1024, 2048), check_int_sequence)
    stage_strides: tuple = option((1, 2, 2, 2), check_int_sequence)
    mask_downsamples: tuple = option((3, 2, 1, 0), check_int_sequence, minimum=0)
    p: int = option(1, check_int)
    t: int = option(2, check_int)
    r: int = option(1, check_int)
    stem: str = option("imagenet", check_choice, allowed=STEMS)
    stem_width: int = option(64, check_int)
    bn_epsilon: float = option(1e-5, check_fraction, interval="(0, 1)")
    bn_momentum: float = option(0.99, check_fraction)
    return_masks: bool = option(False, check_bool)

    def __post_init__(self):
        _common.validate_fields(self)
        _common.check_same_length(self, _PER_STAGE)


ATTENTION_DEFAULTS = dataclasses.asdict(AttentionConfig())


def _bn_relu(x, prefix, cfg):
    return _common.bn_relu(x, prefix, epsilon=float(cfg.bn_epsilon), momentum=float(cfg.bn_momentum))


def apply_preact_unit(x, filters, *, cfg, name, stride=1):
    """The official pre-activation bottleneck: BN-ReLU-1x1, BN-ReLU-3x3 (stride), BN-ReLU-1x1 to `filters`.

    The shortcut is the identity, or a 1x1 conv (stride) of the pre-activated input where the shape
    changes. No conv has a bias.
    """
    preact = _bn_relu(x, f"{name}_preact", cfg)
    inner = max(filters // _BOTTLENECK_RATIO, 1)
    if stride == 1 and x.shape[channel_axis()] == filters:
        shortcut = x
    else:
        shortcut = conv2d(preact, filters, 1, name=f"{name}_0", strides=stride)
    y = _bn_relu(conv2d(preact, inner, 1, name=f"{name}_1"), f"{name}_1", cfg)
    y = _bn_relu(conv2d(y, inner, 3, name=f"{name}_2", strides=stride), f"{name}_2", cfg)
    y = conv2d(y, filters, 1, name=f"{name}_3")
    return layers.Add(name=f"{name}_out")([shortcut, y])


def _units(x, filters, count, *, cfg, name, start=1):
    for i in range(start, start + count):
        x = apply_preact_unit(x, filters, cfg=cfg, name=f"{name}_block{i}")
    return x


def _mask_pool(x, name):
    return layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)


def _mask_down(m, filters, *, mask_downsamples, cfg, name):
    """The bottom-up half of a soft mask: poolings, `r` units after each, and `r` more at the bottom.

    Returns the bottom and, for the way up, each higher level's (output, skip unit) pair.
    """
    levels = []
    for level in range(1, mask_downsamples + 1):
        m = _units(_mask_pool(m, f"{name}_down{level}"), filters, cfg.r, cfg=cfg, name=f"{name}_down{level}")
        if level < mask_downsamples:
            levels.append((m, apply_preact_unit(m, filters, cfg=cfg, name=f"{name}_skip{level}_block1")))
    if mask_downsamples:  # r more units at the bottom level (2r in all), as Caffe's res3_1, res3_2.
        return _units(m, filters, cfg.r, cfg=cfg, name=f"{name}_down{mask_downsamples}", start=cfg.r + 1), levels
    return _units(m, filters, 2 * cfg.r, cfg=cfg, name=f"{name}_down0"), levels


def apply_soft_mask(x, trunk, *, filters, mask_downsamples, cfg, name):
    """The soft mask branch: bottom-up pooling, top-down resizing with skip connections, 1x1s, sigmoid.

    Args:
        x: the tensor the mask reads (the output of the pre-processing units).
        trunk: the trunk output, whose spatial size the mask takes.
        filters: int, the width of every unit and of the mask.
        mask_downsamples: int >= 0, the number of 3x3/2 max-poolings.
        cfg: `AttentionConfig`, for `r` (the units between adjacent poolings, 2r at the bottom) and BatchNorm.
        name: str, the layer name prefix (`conv2_attention1_mask`).
    """
    m, levels = _mask_down(x, filters, mask_downsamples=mask_downsamples, cfg=cfg, name=name)
    for level in range(mask_downsamples - 1, 0, -1):
        level_out, skip = levels[level - 1]
        m = ResizeLike(name=f"{name}_up{level}_resize")([m, level_out])
        m = layers.Add(name=f"{name}_up{level}_add")([m, skip])
        m = _units(m, filters, cfg.r, cfg=cfg, name=f"{name}_up{level}")
    if mask_downsamples:
        m = ResizeLike(name=f"{name}_resize")([m, trunk])
    m = conv2d(_bn_relu(m, f"{name}_1", cfg), filters, 1, name=f"{name}_1")
    m = conv2d(_bn_relu(m, f"{name}_2", cfg), filters, 1, name=f"{name}_2")
    return layers.Activation("sigmoid", name=f"{name}_sigmoid")(m)


def apply_attention_module(x, filters, *, mask_downsamples, name, cfg=None):
    """One attention module: `p` units, trunk (`t` units) and soft mask, `(1 + M) * T`, `p` units.

    Args:
        x: input tensor with `filters` channels.
        filters: int, the module's width (in and out).
        mask_downsamples: int >= 0, max-poolings in the soft mask branch.
        name: str, the layer name prefix (`conv2_attention1`).
        cfg: `AttentionConfig` or None (its defaults): the paper's p, t, r and the BatchNorm settings.

    Returns:
        `(output, mask)`: the module output and its soft mask in [0, 1].
    """
    cfg = cfg or AttentionConfig()
    x = _units(x, filters, cfg.p, cfg=cfg, name=f"{name}_pre")
    trunk = _units(x, filters, cfg.t, cfg=cfg, name=f"{name}_trunk")
    mask = apply_soft_mask(x, trunk, filters=filters, mask_downsamples=mask_downsamples, cfg=cfg, name=f"{name}_mask")
    attended = layers.Multiply(name=f"{name}_apply")([trunk, mask])
    x = layers.Add(name=f"{name}_fusion")([trunk, attended])  # (1 + M) * T = T + T * M
    x = _units(x, filters, cfg.p, cfg=cfg, name=f"{name}_post")
    return x, mask


def _apply_stem_conv(x, cfg):
    if cfg.stem == "cifar":
        return conv2d(x, cfg.stem_width, 3, name="conv1")
    return _bn_relu(conv2d(x, cfg.stem_width, 7, name="conv1", strides=2), "conv1", cfg)


def _apply_stem_pool(x, cfg):
    if cfg.stem == "cifar":
        return x
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def apply_stem(x, cfg):
    """The stem: "cifar", one 3x3 conv (the first unit's BN-ReLU follows); "imagenet", Caffe's conv and pool."""
    return _apply_stem_pool(_apply_stem_conv(x, cfg), cfg)


def _apply_stages(x, cfg):
    """The stages; returns the output, the stage outputs (`stage1`, ...) and the masks by output name."""
    features, masks = {}, {}
    stages = zip(cfg.stage_modules, cfg.stage_units, cfg.stage_widths, cfg.stage_strides, cfg.mask_downsamples)
    for s, (modules, units, width, stride, downsamples) in enumerate(stages):
        prefix = f"conv{s + 2}"
        x = apply_preact_unit(x, width, cfg=cfg, name=f"{prefix}_block1", stride=stride)
        for m in range(modules):
            x, mask = apply_attention_module(
                x, width, mask_downsamples=downsamples, name=f"{prefix}_attention{m + 1}", cfg=cfg
            )
            masks[f"mask_stage{s + 1}_module{m + 1}"] = mask
        x = _units(x, width, units - 1, cfg=cfg, name=prefix, start=2)
        if s == len(cfg.stage_modules) - 1:
            x = _bn_relu(x, "post", cfg)
        features[f"stage{s + 1}"] = x
    return x, features, masks


def build_attention(*, spec, config, **common):
    """Builds the variant `spec` with the `AttentionConfig` fields `config` and the `build_classifier` arguments."""
    cfg = AttentionConfig(**config)  # checks every field before any layer is made

    def body(x):
        stem = _apply_stem_conv(x, cfg)
        x, features, masks = _apply_stages(_apply_stem_pool(stem, cfg), cfg)
        base = 1 if cfg.stem == "cifar" else 4
        reductions = {"stem": 1 if cfg.stem == "cifar" else 2,
                      **{f"stage{s + 1}": base * math.prod(cfg.stage_strides[: s + 1]) for s in range(len(features))}}
        return Body(x, {"stem": stem, **features}, masks if cfg.return_masks else {}, reductions)

    return _common.build_classifier(body, spec=spec, **common)


_PAPER = "https://arxiv.org/abs/1704.06904"
_IMAGENET = dict(default_size=224, min_size=32, default_classes=1000, preprocessing="torch", paper=_PAPER)
# CIFAR: min_size 8 keeps every stage-1 mask pool halving a map of side >= 2 (8 -> 4 -> 2 -> 1).
_CIFAR = dict(default_size=32, min_size=8, default_classes=10, preprocessing="tf", paper=_PAPER)
_CIFAR_BASE = dict(
    stage_units=(1, 1, 4),
    stage_widths=(64, 128, 256),
    stage_strides=(1, 2, 2),
    mask_downsamples=(3, 2, 1),
    stem="cifar",
    stem_width=16,
)


def _register(name, overrides, **spec):
    """Registers a Residual Attention Network whose config differs from `AttentionConfig()` by `overrides`."""
    config = dataclasses.asdict(AttentionConfig(**overrides))
    return register_model(name, family="attention", builder=build_attention, config=config, **spec)


@_register("attention56", dict(stage_modules=(1, 1, 1, 0)), **_IMAGENET)
def Attention56(**kwargs):
    """Residual Attention Network Attention-56 (official Caffe definition)."""
    return create_model("attention56", **kwargs)


@_register("attention92", dict(stage_modules=(1, 2, 3, 0)), **_IMAGENET)
def Attention92(**kwargs):
    """Residual Attention Network Attention-92 (official Caffe definition)."""
    return create_model("attention92", **kwargs)


@_register("attention92_cifar", dict(_CIFAR_BASE, stage_modules=(1, 2, 3)), **_CIFAR)
def Attention92CIFAR(**kwargs):
    """CIFAR Residual Attention Network Attention-92."""
    return create_model("attention92_cifar", **kwargs)


@_register("attention236_cifar", dict(_CIFAR_BASE, stage_modules=(6, 6, 6)), **_CIFAR)
def Attention236CIFAR(**kwargs):
    """CIFAR Residual Attention Network Attention-236."""
    return create_model("attention236_cifar", **kwargs)


@_register("attention452_cifar", dict(_CIFAR_BASE, stage_modules=(6, 6, 6), p=2, t=4, r=3), **_CIFAR)
def Attention452CIFAR(**kwargs):
    """CIFAR Residual Attention Network Attention-452 (p=2, t=4, r=3)."""
    return create_model("attention452_cifar", **kwargs)


FACTORIES = registered_factories(__name__)
