"""timm's RandAugment policy (`rand-m{M}-n{N}-mstd{S}-inc1`, the one "ResNet strikes back" trains with) and its 15
image ops, written in stateless TF ops on float32 images in [0, 255]: each op is PIL's (as timm calls it) at
timm's magnitude scale, and every random choice comes from the per-image seed it is given."""
# Ours, not keras.layers.RandAugment: timm's 15 ops at timm's scale (the RSB recipes'), keyed per image by a seed.

from __future__ import annotations

import functools
import math

import tensorflow as tf

_FILL = 128.0  # timm fills uncovered pixels of geometric ops with grey (128, 128, 128).


def _blend(degenerate, image, factor):
    """PIL.ImageEnhance: factor 0 gives `degenerate`, 1 the image, above 1 extrapolates."""
    return tf.clip_by_value(degenerate + factor * (image - degenerate), 0.0, 255.0)


def _grayscale(image):
    """PIL's L conversion (ITU-R 601-2 luma); a one-channel image is returned as it is."""
    if image.shape[-1] == 1:
        return image
    return tf.tensordot(image, tf.constant([0.299, 0.587, 0.114]), axes=[[-1], [0]])[..., None]


def _affine(image, transform):
    """Samples output pixel (x, y) from input (a0 x + a1 y + a2, b0 x + b1 y + b2), as PIL's AFFINE."""
    transform = tf.concat([tf.cast(transform, tf.float32), tf.zeros([2])], 0)[None]
    shape = tf.shape(image)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=transform, output_shape=shape[:2], fill_value=_FILL,
        interpolation="BILINEAR", fill_mode="CONSTANT")
    return tf.reshape(out[0], shape)


def _auto_contrast(image, level, sign):
    """PIL's autocontrast: each channel stretched from its min..max to 0..255."""
    low = tf.reduce_min(image, axis=[0, 1], keepdims=True)
    high = tf.reduce_max(image, axis=[0, 1], keepdims=True)
    spread = high - low
    return tf.where(spread > 0, (image - low) * 255.0 / tf.maximum(spread, 1e-3), image)


def _equalize_channel(channel):
    """PIL.ImageOps.equalize for one channel (H, W) of values in [0, 255]."""
    pixels = tf.cast(tf.clip_by_value(tf.round(channel), 0, 255), tf.int32)
    hist = tf.math.bincount(tf.reshape(pixels, [-1]), minlength=256, maxlength=256)
    last = tf.gather(hist, tf.reduce_max(tf.cast(tf.where(hist > 0)[:, 0], tf.int32)))  # the top used bin.
    step = (tf.reduce_sum(hist) - last) // 255
    lut = tf.clip_by_value((tf.cumsum(hist, exclusive=True) + step // 2) // tf.maximum(step, 1), 0, 255)
    return tf.where(step > 0, tf.cast(tf.gather(lut, pixels), tf.float32), channel)


def _equalize(image, level, sign):
    """PIL's equalize, channel by channel."""
    channels = tf.unstack(image, axis=-1, num=image.shape[-1])
    return tf.stack([_equalize_channel(c) for c in channels], axis=-1)


def _invert(image, level, sign):
    """PIL's invert."""
    return 255.0 - image


def _rotate(image, level, sign):
    """timm's Rotate: up to 30 degrees about the centre (clockwise for +1, PIL's sense mirrored; the sign is random)."""
    angle = sign * level * 30.0 * math.pi / 180.0
    shape = tf.cast(tf.shape(image), tf.float32)
    cx, cy = (shape[1] - 1) / 2, (shape[0] - 1) / 2
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Inverse map: rotate each output coordinate about the centre back into the input.
    return _affine(image, tf.stack([cos, sin, cx - cos * cx - sin * cy, -sin, cos, cy + sin * cx - cos * cy]))


def _posterize(image, level, sign):
    """timm's PosterizeIncreasing: keeps `4 - int(4 * level)` high bits of each value."""
    bits = 4 - tf.cast(level * 4, tf.int32)  # timm's PosterizeIncreasing: 4 bits at level 0, 0 at level 10.
    shift = 8 - bits
    pixels = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.int32)
    return tf.cast(tf.bitwise.left_shift(tf.bitwise.right_shift(pixels, shift), shift), tf.float32)


def _solarize(image, level, sign):
    """timm's SolarizeIncreasing: inverts the values at or above `256 - int(256 * level)`."""
    threshold = 256.0 - tf.floor(level * 256.0)  # timm's SolarizeIncreasing.
    return tf.where(image >= threshold, 255.0 - image, image)


def _solarize_add(image, level, sign):
    """timm's SolarizeAdd: adds `int(110 * level)` to the values below 128 (capped at 255)."""
    add = tf.floor(level * 110.0)
    return tf.where(image < 128.0, tf.minimum(image + add, 255.0), image)


def _enhance_factor(level, sign):
    """The blend factor of timm's *Increasing enhance ops: `max(0.1, 1 + sign * 0.9 * level)`."""
    return tf.maximum(0.1, 1.0 + sign * level * 0.9)  # timm's *Increasing enhance ops.


def _color(image, level, sign):
    """PIL's ImageEnhance.Color (a blend with the grayscale image)."""
    return _blend(_grayscale(image), image, _enhance_factor(level, sign))


def _contrast(image, level, sign):
    """PIL's ImageEnhance.Contrast (a blend with the rounded mean gray level)."""
    mean = tf.round(tf.reduce_mean(_grayscale(image)))
    return _blend(mean, image, _enhance_factor(level, sign))


def _brightness(image, level, sign):
    """PIL's ImageEnhance.Brightness (a blend with black)."""
    return _blend(tf.zeros_like(image), image, _enhance_factor(level, sign))


def _sharpness(image, level, sign):
    """PIL's ImageEnhance.Sharpness (a blend with the SMOOTH-filtered image)."""
    kernel = tf.constant([[1, 1, 1], [1, 5, 1], [1, 1, 1]], tf.float32) / 13.0
    depth = image.shape[-1]
    kernel = tf.tile(kernel[:, :, None, None], [1, 1, depth, 1])
    smooth = tf.nn.depthwise_conv2d(image[None], kernel, [1, 1, 1, 1], "VALID")[0]
    # PIL's SMOOTH filter leaves the one-pixel border as it was.
    mask = tf.pad(tf.ones_like(smooth), [[1, 1], [1, 1], [0, 0]])
    degenerate = tf.where(mask > 0, tf.pad(smooth, [[1, 1], [1, 1], [0, 0]]), image)
    return _blend(degenerate, image, _enhance_factor(level, sign))


def _shear_x(image, level, sign):
    """timm's ShearX: input x = x + shear * y, shear up to 0.3."""
    return _affine(image, tf.stack([1.0, sign * level * 0.3, 0.0, 0.0, 1.0, 0.0]))


def _shear_y(image, level, sign):
    """timm's ShearY: input y = y + shear * x, shear up to 0.3."""
    return _affine(image, tf.stack([1.0, 0.0, 0.0, sign * level * 0.3, 1.0, 0.0]))


def _translate_x(image, level, sign):
    """timm's TranslateXRel: a shift of up to 45% of the width."""
    pixels = sign * level * 0.45 * tf.cast(tf.shape(image)[1], tf.float32)
    return _affine(image, tf.stack([1.0, 0.0, pixels, 0.0, 1.0, 0.0]))


def _translate_y(image, level, sign):
    """timm's TranslateYRel: a shift of up to 45% of the height."""
    pixels = sign * level * 0.45 * tf.cast(tf.shape(image)[0], tf.float32)
    return _affine(image, tf.stack([1.0, 0.0, 0.0, 0.0, 1.0, pixels]))


# timm's `_RAND_INCREASING_TRANSFORMS`, in its order; each op takes (image, level in [0, 1], sign +-1).
RAND_AUGMENT_OPS = {
    "AutoContrast": _auto_contrast, "Equalize": _equalize, "Invert": _invert, "Rotate": _rotate,
    "PosterizeIncreasing": _posterize, "SolarizeIncreasing": _solarize, "SolarizeAdd": _solarize_add,
    "ColorIncreasing": _color, "ContrastIncreasing": _contrast, "BrightnessIncreasing": _brightness,
    "SharpnessIncreasing": _sharpness, "ShearX": _shear_x, "ShearY": _shear_y, "TranslateXRel": _translate_x,
    "TranslateYRel": _translate_y,
}


def rand_augment(image, seed, *, magnitude, num_ops=2, magnitude_std=0.0, prob=0.5):
    """timm's RandAugment (`rand-m{magnitude}-n{num_ops}-mstd{magnitude_std}-inc1`) on one image.

    Picks `num_ops` ops (with replacement) from `RAND_AUGMENT_OPS` and applies each with probability `prob`
    at level `magnitude / 10` (jittered by a Gaussian of std `magnitude_std`, clipped to [0, 10]) with a
    random sign. Geometric ops sample bilinearly and fill with grey, as timm does; rotations, shears and
    translations reach 30 degrees, 0.3 and 45% of the side at magnitude 10.

    Args:
        image: float32 tensor (H, W, C) with values in [0, 255], C = 1 or 3.
        seed: int tensor of shape (2,), the stateless RNG seed.
        magnitude: float in [0, 10].
        num_ops: int.
        magnitude_std: float >= 0.
        prob: float, the chance each chosen op is applied.

    Returns:
        float32 tensor of the same shape, in [0, 255].
    """
    ops = list(RAND_AUGMENT_OPS.values())
    for op_seed in tf.unstack(tf.random.experimental.stateless_split(seed, num_ops), num=num_ops):
        s = tf.random.experimental.stateless_split(op_seed, 4)
        index = tf.random.stateless_uniform([], s[0], 0, len(ops), dtype=tf.int32)
        apply = tf.random.stateless_uniform([], s[1]) < prob
        level = float(magnitude)
        if magnitude_std > 0:
            level = level + magnitude_std * tf.random.stateless_normal([], s[2])
        level = tf.clip_by_value(tf.cast(level, tf.float32), 0.0, 10.0) / 10.0
        sign = tf.where(tf.random.stateless_uniform([], s[3]) < 0.5, -1.0, 1.0)
        image = _apply_one_of(ops, image, index=index, apply=apply, level=level, sign=sign)
    return image


def _apply_one_of(ops, image, *, index, apply, level, sign):
    """`ops[index](image)` when `apply`, else the image; only the chosen op runs."""
    branches = [functools.partial(lambda op: tf.clip_by_value(op(image, level, sign), 0.0, 255.0), op) for op in ops]
    out = tf.cond(apply, lambda: tf.switch_case(index, branches), lambda: image)
    out.set_shape(image.shape)
    return out


# TrivialAugment (Mueller & Hutter 2021), "wide" search space as torchvision's TrivialAugmentWide: one op per image,
# chosen uniformly, at a magnitude bin drawn uniformly from 0..30 with a random sign; the ops are the PIL-style ones
# above at the wide ranges below (shear factor up to 0.99, 32-pixel shifts, 135 degrees, enhance factors 1 +- 0.99,
# posterize down to 2 bits, solarize from threshold 255 to 0).
TRIVIAL_AUGMENT_BINS = 31


def _wide_shear_x(image, m, sign):
    return _affine(image, tf.stack([1.0, sign * m * 0.99, 0.0, 0.0, 1.0, 0.0]))


def _wide_shear_y(image, m, sign):
    return _affine(image, tf.stack([1.0, 0.0, 0.0, sign * m * 0.99, 1.0, 0.0]))


def _wide_translate_x(image, m, sign):
    return _affine(image, tf.stack([1.0, 0.0, sign * m * 32.0, 0.0, 1.0, 0.0]))


def _wide_translate_y(image, m, sign):
    return _affine(image, tf.stack([1.0, 0.0, 0.0, 0.0, 1.0, sign * m * 32.0]))


def _wide_rotate(image, m, sign):
    return _rotate(image, m * 135.0 / 30.0, sign)  # _rotate's level 1 is 30 degrees


def _wide_enhance(op):
    def apply(image, m, sign):
        # torchvision's factor 1 + sign * m * 0.99; _enhance_factor(level, sign) is max(0.1, 1 + sign * 0.9 * level).
        return op(image, m * 0.99 / 0.9, sign)
    return apply


def _wide_posterize(image, m, sign):
    bits = 8 - tf.cast(tf.round(m * 30.0 / 5.0), tf.int32)  # torchvision: 8 - round(bin / 5): 8 bits down to 2
    shift = 8 - bits
    pixels = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.int32)
    return tf.cast(tf.bitwise.left_shift(tf.bitwise.right_shift(pixels, shift), shift), tf.float32)


def _wide_solarize(image, m, sign):
    threshold = 255.0 * (1.0 - m)  # torchvision: linspace(255, 0)
    return tf.where(image >= threshold, 255.0 - image, image)


TRIVIAL_AUGMENT_OPS = {
    "Identity": lambda image, m, sign: image, "ShearX": _wide_shear_x, "ShearY": _wide_shear_y,
    "TranslateX": _wide_translate_x, "TranslateY": _wide_translate_y, "Rotate": _wide_rotate,
    "Brightness": _wide_enhance(_brightness), "Color": _wide_enhance(_color),
    "Contrast": _wide_enhance(_contrast), "Sharpness": _wide_enhance(_sharpness), "Posterize": _wide_posterize,
    "Solarize": _wide_solarize, "AutoContrast": _auto_contrast, "Equalize": _equalize,
}


def trivial_augment_wide(image, seed):
    """TrivialAugmentWide on one image (float32 (H, W, C) in [0, 255], C = 1 or 3; `seed` an int (2,) tensor):
    one op of `TRIVIAL_AUGMENT_OPS`, chosen uniformly, at a uniform magnitude bin of 31 with a random sign."""
    ops = list(TRIVIAL_AUGMENT_OPS.values())
    s = tf.random.experimental.stateless_split(seed, 3)
    index = tf.random.stateless_uniform([], s[0], 0, len(ops), dtype=tf.int32)
    level = tf.cast(tf.random.stateless_uniform([], s[1], 0, TRIVIAL_AUGMENT_BINS, dtype=tf.int32), tf.float32)
    sign = tf.where(tf.random.stateless_uniform([], s[2]) < 0.5, -1.0, 1.0)
    return _apply_one_of(ops, image, index=index, apply=tf.constant(True), level=level / (TRIVIAL_AUGMENT_BINS - 1),
                         sign=sign)
