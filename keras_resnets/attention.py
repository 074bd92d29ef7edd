"""Residual Attention Networks (Wang et al. 2017): ImageNet Attention-56/92 and CIFAR Attention-92/236/452.

One builder, `build_attention`, covers every variant. A network is a stem and stages; every stage opens
with a pre-activation bottleneck unit (which changes width and stride), then stacks `stage_modules[s]`
attention modules, then the rest of its `stage_units[s]` plain units.

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

import keras
from keras import layers, ops

from keras_resnets import _common
from keras_resnets._common import Body, channel_axis
from keras_resnets._registry import register_family
from keras_resnets.layers import BatchNormalization

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
        data_format = data_format or keras.config.image_data_format()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(
                f"`data_format` must be 'channels_last' or 'channels_first'. Received: data_format={data_format!r}"
            )
        self.interpolation = interpolation
        self.data_format = data_format

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


@dataclasses.dataclass(frozen=True)
class _Norm:
    """The BatchNorm settings every unit shares."""

    epsilon: float
    momentum: float

    def bn_relu(self, x, name):
        x = BatchNormalization(
            axis=channel_axis(), epsilon=self.epsilon, momentum=self.momentum, name=f"{name}_bn"
        )(x)
        return layers.Activation("relu", name=f"{name}_relu")(x)


def _conv(x, filters, kernel, name, strides=1):
    if kernel > 1 and strides > 1:
        # Symmetric padding, as Caffe's `pad: 1`, rather than TF's asymmetric "same" for stride 2.
        x = layers.ZeroPadding2D(kernel // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    return layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding=padding,
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{name}_conv",
    )(x)


def apply_preact_unit(x, filters, norm, name, stride=1):
    """The official pre-activation bottleneck: BN-ReLU-1x1, BN-ReLU-3x3 (stride), BN-ReLU-1x1 to `filters`.

    The shortcut is the identity, or a 1x1 conv (stride) of the pre-activated input where the shape
    changes. No conv has a bias.
    """
    preact = norm.bn_relu(x, f"{name}_preact")
    inner = max(filters // _BOTTLENECK_RATIO, 1)
    if stride == 1 and x.shape[channel_axis()] == filters:
        shortcut = x
    else:
        shortcut = _conv(preact, filters, 1, f"{name}_0", strides=stride)
    y = _conv(preact, inner, 1, f"{name}_1")
    y = norm.bn_relu(y, f"{name}_1")
    y = _conv(y, inner, 3, f"{name}_2", strides=stride)
    y = norm.bn_relu(y, f"{name}_2")
    y = _conv(y, filters, 1, f"{name}_3")
    return layers.Add(name=f"{name}_out")([shortcut, y])


def _units(x, filters, count, norm, name, start=1):
    for i in range(start, start + count):
        x = apply_preact_unit(x, filters, norm, f"{name}_block{i}")
    return x


def _mask_pool(x, name):
    return layers.MaxPooling2D(3, strides=2, padding="same", name=f"{name}_pool")(x)


def apply_soft_mask(x, trunk, filters, mask_downsamples, r, norm, name):
    """The soft mask branch: bottom-up pooling, top-down resizing with skip connections, 1x1s, sigmoid.

    Args:
        x: the tensor the mask reads (the output of the pre-processing units).
        trunk: the trunk output, whose spatial size the mask takes.
        filters: int, the width of every unit and of the mask.
        mask_downsamples: int >= 0, the number of 3x3/2 max-poolings.
        r: int, the units between adjacent poolings (2r at the bottom).
    """
    m = x
    levels = []  # (level output, skip branch) on the way down, for the way up.
    for level in range(1, mask_downsamples + 1):
        m = _mask_pool(m, f"{name}_down{level}")
        m = _units(m, filters, r, norm, f"{name}_down{level}")
        if level < mask_downsamples:
            levels.append((m, apply_preact_unit(m, filters, norm, f"{name}_skip{level}_block1")))
    if mask_downsamples:  # r more units at the bottom level (2r in all), as Caffe's res3_1, res3_2.
        m = _units(m, filters, r, norm, f"{name}_down{mask_downsamples}", start=r + 1)
    else:
        m = _units(m, filters, 2 * r, norm, f"{name}_down0")
    for level in range(mask_downsamples - 1, 0, -1):
        level_out, skip = levels[level - 1]
        m = ResizeLike(name=f"{name}_up{level}_resize")([m, level_out])
        m = layers.Add(name=f"{name}_up{level}_add")([m, skip])
        m = _units(m, filters, r, norm, f"{name}_up{level}")
    if mask_downsamples:
        m = ResizeLike(name=f"{name}_resize")([m, trunk])
    m = norm.bn_relu(m, f"{name}_1")
    m = _conv(m, filters, 1, f"{name}_1")
    m = norm.bn_relu(m, f"{name}_2")
    m = _conv(m, filters, 1, f"{name}_2")
    return layers.Activation("sigmoid", name=f"{name}_sigmoid")(m)


def apply_attention_module(x, filters, mask_downsamples, p, t, r, name, norm=None):
    """One attention module: `p` units, trunk (`t` units) and soft mask, `(1 + M) * T`, `p` units.

    Args:
        x: input tensor with `filters` channels.
        filters: int, the module's width (in and out).
        mask_downsamples: int >= 0, max-poolings in the soft mask branch.
        p, t, r: ints >= 1, the paper's pre/post-processing, trunk and mask units.
        name: str, the layer name prefix (`conv2_attention1`).
        norm: `_Norm` or None (BatchNorm epsilon 1e-5, momentum 0.99).

    Returns:
        `(output, mask)`: the module output and its soft mask in [0, 1].
    """
    norm = norm or _Norm(1e-5, 0.99)
    x = _units(x, filters, p, norm, f"{name}_pre")
    trunk = _units(x, filters, t, norm, f"{name}_trunk")
    mask = apply_soft_mask(x, trunk, filters, mask_downsamples, r, norm, f"{name}_mask")
    attended = layers.Multiply(name=f"{name}_apply")([trunk, mask])
    x = layers.Add(name=f"{name}_fusion")([trunk, attended])  # (1 + M) * T = T + T * M
    x = _units(x, filters, p, norm, f"{name}_post")
    return x, mask


def apply_stem(x, stem, width, norm):
    if stem == "cifar":
        return _conv(x, width, 3, "conv1")  # the first unit's BN-ReLU follows.
    x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
    x = layers.Conv2D(width, 7, strides=2, use_bias=False, kernel_initializer="he_normal", name="conv1_conv")(x)
    x = norm.bn_relu(x, "conv1")
    x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def _check_bool(arg, value):
    if not isinstance(value, bool):
        raise ValueError(f"`{arg}` must be True or False. Received: {arg}={value!r}")


def _validate(
    stage_modules,
    stage_units,
    stage_widths,
    stage_strides,
    mask_downsamples,
    p,
    t,
    r,
    stem,
    stem_width,
    bn_epsilon,
    bn_momentum,
    return_masks,
):
    per_stage = dict(
        stage_modules=(stage_modules, 0),
        stage_units=(stage_units, 1),
        stage_widths=(stage_widths, 1),
        stage_strides=(stage_strides, 1),
        mask_downsamples=(mask_downsamples, 0),
    )
    for arg, (value, minimum) in per_stage.items():
        _common.check_int_sequence(arg, value, minimum=minimum)
    if len({len(value) for value, _ in per_stage.values()}) > 1:
        received = ", ".join(f"{arg}={value!r}" for arg, (value, _) in per_stage.items())
        raise ValueError(
            f"`stage_modules`, `stage_units`, `stage_widths`, `stage_strides` and "
            f"`mask_downsamples` need one entry per stage (the same length). Received: {received}"
        )
    _common.check_int("p", p)
    _common.check_int("t", t)
    _common.check_int("r", r)
    _common.check_choice("stem", stem, STEMS)
    _common.check_int("stem_width", stem_width)
    if isinstance(bn_epsilon, bool) or not isinstance(bn_epsilon, (int, float)) or not 0 < bn_epsilon < 1:
        raise ValueError(f"`bn_epsilon` must be in (0, 1). Received: bn_epsilon={bn_epsilon!r}")
    if isinstance(bn_momentum, bool) or not isinstance(bn_momentum, (int, float)) or not 0 <= bn_momentum < 1:
        raise ValueError(f"`bn_momentum` must be in [0, 1). Received: bn_momentum={bn_momentum!r}")
    _check_bool("return_masks", return_masks)


def build_attention(
    *,
    spec,
    stage_modules,
    stage_units,
    stage_widths,
    stage_strides,
    mask_downsamples,
    p,
    t,
    r,
    stem,
    stem_width,
    bn_epsilon,
    bn_momentum,
    return_masks,
    **common,
):
    """Builds any Residual Attention Network variant (see the module docstring).

    Args:
        spec: the registered `ModelSpec`.
        stage_modules: list of ints >= 0, attention modules per stage.
        stage_units: list of ints >= 1, plain units per stage: the first opens the stage (stride, width),
            the rest follow the attention modules.
        stage_widths: list of ints, each stage's output channels (bottleneck inner width is a quarter).
        stage_strides: list of ints, the stride of each stage's first unit.
        mask_downsamples: list of ints >= 0, max-poolings in each stage's soft masks.
        p, t, r: ints >= 1, the attention module hyper-parameters (pre/post, trunk, mask units).
        stem: "imagenet" (7x7/2 conv, BN-ReLU, 3x3/2 max-pool) or "cifar" (one 3x3 conv).
        stem_width: int, the stem's filters.
        bn_epsilon, bn_momentum: BatchNorm settings.
        return_masks: bool, also output every soft mask (`"mask_stage{s}_module{m}"`).
        **common: the keras.applications arguments, see `_common.build_classifier`.
    """
    _validate(
        stage_modules,
        stage_units,
        stage_widths,
        stage_strides,
        mask_downsamples,
        p,
        t,
        r,
        stem,
        stem_width,
        bn_epsilon,
        bn_momentum,
        return_masks,
    )
    norm = _Norm(float(bn_epsilon), float(bn_momentum))

    def body(x):
        x = apply_stem(x, stem, stem_width, norm)
        features, masks = {}, {}
        stages = zip(stage_modules, stage_units, stage_widths, stage_strides, mask_downsamples)
        for s, (modules, units, width, stride, downsamples) in enumerate(stages):
            prefix = f"conv{s + 2}"
            x = apply_preact_unit(x, width, norm, f"{prefix}_block1", stride=stride)
            for m in range(modules):
                x, mask = apply_attention_module(x, width, downsamples, p, t, r, f"{prefix}_attention{m + 1}", norm)
                masks[f"mask_stage{s + 1}_module{m + 1}"] = mask
            x = _units(x, width, units - 1, norm, prefix, start=2)
            if s == len(stage_modules) - 1:
                x = norm.bn_relu(x, "post")
            features[f"stage{s + 1}"] = x
        return Body(x, features, masks if return_masks else {})

    return _common.build_classifier(body, spec=spec, **common)


ATTENTION_DEFAULTS = dict(  # the official ImageNet Attention-56
    stage_modules=(1, 1, 1, 0),
    stage_units=(1, 1, 1, 3),
    stage_widths=(256, 512, 1024, 2048),
    stage_strides=(1, 2, 2, 2),
    mask_downsamples=(3, 2, 1, 0),
    p=1,
    t=2,
    r=1,
    stem="imagenet",
    stem_width=64,
    bn_epsilon=1e-5,
    bn_momentum=0.99,
    return_masks=False,
)


# Variants: (registry name, factory, title, config overrides, spec extras).
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

_VARIANTS = [
    (
        "attention56",
        "Attention56",
        "Residual Attention Network Attention-56 (official Caffe definition)",
        dict(stage_modules=(1, 1, 1, 0)),
        _IMAGENET,
    ),
    (
        "attention92",
        "Attention92",
        "Residual Attention Network Attention-92 (official Caffe definition)",
        dict(stage_modules=(1, 2, 3, 0)),
        _IMAGENET,
    ),
    (
        "attention92_cifar",
        "Attention92CIFAR",
        "CIFAR Residual Attention Network Attention-92",
        dict(_CIFAR_BASE, stage_modules=(1, 2, 3)),
        _CIFAR,
    ),
    (
        "attention236_cifar",
        "Attention236CIFAR",
        "CIFAR Residual Attention Network Attention-236",
        dict(_CIFAR_BASE, stage_modules=(6, 6, 6)),
        _CIFAR,
    ),
    (
        "attention452_cifar",
        "Attention452CIFAR",
        "CIFAR Residual Attention Network Attention-452 (p=2, t=4, r=3)",
        dict(_CIFAR_BASE, stage_modules=(6, 6, 6), p=2, t=4, r=3),
        _CIFAR,
    ),
]

FACTORIES = register_family(_VARIANTS, family="attention", builder=build_attention, defaults=ATTENTION_DEFAULTS)
