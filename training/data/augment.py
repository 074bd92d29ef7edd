"""Training-time augmentation for the pipelines: the `augment` config's parsing, the per-image random transforms
(random resized crop, pad-and-crop, flip, timm's RandAugment, Random Erasing) and their whole-batch form, each
keyed by a stateless seed, and the per-batch MixUp / CutMix and Keras-RandAugment options (Keras' own layers)."""
# Ours, not Keras' RandomCrop/RandomFlip/RandomErasing: stateless per-image seeds; Keras' erasing is not Zhong et al.'s.

from __future__ import annotations

import dataclasses
import math

import keras
import tensorflow as tf

from training.data.randaugment import rand_augment, trivial_augment_wide
from training.data.records import check_keys

AUGMENT_KEYS = ("random_crop", "horizontal_flip", "random_resized_crop", "randaugment", "mixup_alpha",
                "cutmix_alpha", "repeated_augmentation", "random_erasing", "augmix",
                "trivial_augment")
# keras.layers.AugMix's arguments (Hendrycks et al. 2020), with its defaults.
AUGMIX_DEFAULTS = {"num_chains": 3, "chain_depth": 3, "factor": 0.3, "alpha": 1.0}
RANDAUGMENT_KEYS = ("magnitude", "num_ops", "magnitude_std", "implementation")
RANDOM_ERASING_KEYS = ("probability", "area", "aspect_ratio", "value")


@dataclasses.dataclass
class Augment:
    """A checked `augment` config (the defaults are "off")."""

    random_crop: int = 0
    horizontal_flip: bool = False
    random_resized_crop: dict | None = None  # {"scale": (lo, hi), "ratio": (lo, hi)}
    randaugment: dict | None = None  # {"magnitude", "num_ops", "magnitude_std", "implementation"}
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    repeats: int = 1
    random_erasing: dict | None = None  # {"probability", "area", "aspect_ratio", "value"}
    augmix: dict | None = None  # keras.layers.AugMix's AUGMIX_DEFAULTS keys
    trivial_augment: bool = False  # TrivialAugmentWide


def check_augment(augment):
    """Raises `ValueError` / `TypeError` for an augmentation config the pipeline would refuse (before any
    data is read)."""
    parse_augment(augment)


def parse_augment(augment) -> Augment:
    """The `augment` config (keys in `training.data`'s docstring) as an `Augment`; None is no augmentation.

    Raises:
        TypeError: `augment` (or a nested option) is not a dict.
        ValueError: an unknown key or a value out of range (the message names the key and what is allowed).
    """
    if augment is None:
        return Augment()
    check_keys(augment, AUGMENT_KEYS, "augment")
    result = Augment()
    crop = augment.get("random_crop") or 0
    if isinstance(crop, bool) or not isinstance(crop, int) or crop < 0:
        raise ValueError(f"augment['random_crop'] is the padding in pixels (e.g. 4), a non-negative int. "
                         f"Received: {crop!r}")
    result.random_crop = crop
    result.horizontal_flip = bool(augment.get("horizontal_flip", False))
    if augment.get("random_resized_crop"):
        result.random_resized_crop = _parse_random_resized_crop(augment["random_resized_crop"])
    if augment.get("randaugment"):
        result.randaugment = _parse_randaugment(augment["randaugment"])
    result.mixup_alpha = _parse_alpha(augment, "mixup_alpha")
    result.cutmix_alpha = _parse_alpha(augment, "cutmix_alpha")
    if result.cutmix_alpha > 1:
        raise ValueError(f"augment['cutmix_alpha'] must be in (0, 1]: keras.layers.CutMix bounds its factor there. "
                         f"Received: {result.cutmix_alpha!r}")
    repeats = augment.get("repeated_augmentation") or 1
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"augment['repeated_augmentation'] is a repeat count (e.g. 3; 0 or 1 = off). "
                         f"Received: {augment.get('repeated_augmentation')!r}")
    result.repeats = repeats
    erasing = augment.get("random_erasing")
    if erasing is not None and erasing is not False:
        result.random_erasing = _parse_random_erasing({} if erasing is True else erasing)
    trivial = augment.get("trivial_augment", False)
    if not isinstance(trivial, bool):
        raise TypeError(f"augment['trivial_augment'] must be True or False. Received: {trivial!r}")
    if trivial and result.randaugment:
        raise ValueError("augment['trivial_augment'] and augment['randaugment'] are two policies for the same step; "
                         "choose one.")
    result.trivial_augment = trivial
    augmix = augment.get("augmix")
    if augmix is not None and augmix is not False:
        result.augmix = _parse_augmix({} if augmix is True else augmix)
    return result


def _parse_augmix(option):
    """An `augmix` option (True or a dict of `AUGMIX_DEFAULTS` keys) with its defaults filled in."""
    if not isinstance(option, dict):
        raise TypeError(f"augment['augmix'] must be None, True or a dict of {sorted(AUGMIX_DEFAULTS)}. "
                        f"Received: {option!r}")
    check_keys(option, tuple(AUGMIX_DEFAULTS), "augment['augmix']")
    result = {**AUGMIX_DEFAULTS, **option}
    for key in ("num_chains", "chain_depth"):
        value = result[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"augment['augmix'][{key!r}] must be an int >= 1. Received: {value!r}")
    if not _is_number(result["factor"]) or not 0 < result["factor"] <= 1:
        raise ValueError(f"augment['augmix']['factor'] (the ops' severity) must be a number in (0, 1]. "
                         f"Received: {result['factor']!r}")
    if not _is_number(result["alpha"]) or result["alpha"] <= 0:
        raise ValueError(f"augment['augmix']['alpha'] (the Dirichlet / Beta mixing parameter) must be a number > 0. "
                         f"Received: {result['alpha']!r}")
    return result


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _parse_random_resized_crop(option):
    """`{"scale", "ratio"}` of a `random_resized_crop` option (True takes Inception's defaults)."""
    rrc = {} if option is True else option
    check_keys(rrc, ("scale", "ratio"), "augment['random_resized_crop']")
    scale, ratio = tuple(rrc.get("scale", (0.08, 1.0))), tuple(rrc.get("ratio", (3 / 4, 4 / 3)))
    if len(scale) != 2 or not 0 < scale[0] <= scale[1] <= 1 or len(ratio) != 2 or not 0 < ratio[0] <= ratio[1]:
        raise ValueError(f"augment['random_resized_crop'] needs scale (lo, hi) in (0, 1] and ratio (lo, hi) > 0. "
                         f"Received: {option!r}")
    return {"scale": scale, "ratio": ratio}


def _parse_randaugment(option):
    """A `randaugment` option with its defaults filled in (timm's implementation, 2 ops, no noise)."""
    check_keys(option, RANDAUGMENT_KEYS, "augment['randaugment']")
    ra = {"num_ops": 2, "magnitude_std": 0.0, "implementation": "timm", **option}
    magnitude = ra.get("magnitude")
    if isinstance(magnitude, bool) or not isinstance(magnitude, (int, float)) or not 0 <= magnitude <= 10:
        raise ValueError(f"augment['randaugment']['magnitude'] must be a number in [0, 10] (timm's scale, e.g. 7). "
                         f"Received: {magnitude!r}")
    if not isinstance(ra["num_ops"], int) or ra["num_ops"] < 1:
        raise ValueError(f"augment['randaugment']['num_ops'] must be a positive int. Received: {ra['num_ops']!r}")
    if ra["implementation"] not in ("timm", "keras"):
        raise ValueError(f"augment['randaugment']['implementation'] must be 'timm' or 'keras'. "
                         f"Received: {ra['implementation']!r}")
    std = ra["magnitude_std"]
    if not isinstance(std, (int, float)) or not 0 <= std < math.inf:
        raise ValueError(f"augment['randaugment']['magnitude_std'] must be a finite number >= 0. Received: {std!r}")
    if ra["implementation"] == "keras" and std:
        raise ValueError("augment['randaugment']['magnitude_std'] needs implementation='timm'; "
                         f"keras.layers.RandAugment has no magnitude noise. Received: {std!r}")
    return ra


def _parse_alpha(augment, key):
    """`augment[key]` (MixUp's or CutMix's alpha) as a float >= 0; absent or 0 is off."""
    alpha = augment.get(key) or 0.0
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or alpha < 0:
        raise ValueError(f"augment[{key!r}] must be a number >= 0 (0 = off). Received: {alpha!r}")
    return float(alpha)


def _parse_random_erasing(erasing):
    """A `random_erasing` option with the paper's defaults filled in."""
    if not isinstance(erasing, dict):
        raise ValueError("augment['random_erasing'] must be None, True or a dict with keys "
                         f"{RANDOM_ERASING_KEYS}. Received: {erasing!r}")
    check_keys(erasing, RANDOM_ERASING_KEYS, "augment['random_erasing']")
    erasing = {"probability": 0.5, "area": (0.02, 0.4), "aspect_ratio": (0.3, 1 / 0.3), "value": "random",
               **erasing}
    probability = erasing["probability"]
    if isinstance(probability, bool) or not isinstance(probability, (int, float)) or not 0 <= probability <= 1:
        raise ValueError(f"augment['random_erasing']['probability'] must be a number in [0, 1] (the paper: 0.5). "
                         f"Received: {probability!r}")
    area, ratio = erasing["area"], erasing["aspect_ratio"]
    if not _is_range(area) or not 0 < area[0] <= area[1] < 1:
        raise ValueError("augment['random_erasing']['area'] must be (lo, hi) fractions of the image with "
                         f"0 < lo <= hi < 1 (the paper: (0.02, 0.4)). Received: {area!r}")
    if not _is_range(ratio) or not 0 < ratio[0] <= ratio[1] < math.inf:
        raise ValueError("augment['random_erasing']['aspect_ratio'] must be (lo, hi) height/width ratios with "
                         f"0 < lo <= hi (the paper: (0.3, 1 / 0.3)). Received: {ratio!r}")
    value = erasing["value"]
    if value != "random" and (isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 255):
        raise ValueError("augment['random_erasing']['value'] must be 'random' (uniform noise) or a number in "
                         f"[0, 255]. Received: {value!r}")
    return {"probability": float(probability), "area": tuple(float(a) for a in area),
            "aspect_ratio": tuple(float(r) for r in ratio), "value": value if value == "random" else float(value)}


def _is_range(value):
    """Whether `value` is a (lo, hi) pair of numbers (a tuple or a list)."""
    return isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value)


# ---------------------------------------------------------------------------------------------------------
# Seeds: every random draw of an example (or a batch) comes from its own stateless seed.


def with_seeds(dataset, seed):
    """Pairs each element with its own stateless-RNG seed (a new stream every epoch, the same every run)."""
    randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    return tf.data.Dataset.zip(dataset, randoms)


def element_seed(random, seed):
    """The stateless seed `(random, seed)` of one element, from `with_seeds`' random int64 and the run's seed."""
    return tf.stack([random, tf.constant(seed, tf.int64)])


def batchable(aug) -> bool:
    """Whether every augmentation in `aug` has a whole-batch form (`random_transform_batch`)."""
    return not (aug.random_resized_crop or aug.randaugment or aug.augmix or aug.trivial_augment)


# ---------------------------------------------------------------------------------------------------------
# Per-image and per-batch transforms.


def random_transform(image, seed, aug, size):
    """Per-image random augmentation (float32 in, float32 in [0, 255] out), all from stateless RNG ops.

    Args:
        image: float32 tensor (H, W, C).
        seed: int tensor of shape (2,), the image's stateless seed.
        aug: Augment.
        size: (height, width), the output size of a random resized crop.
    """
    seeds = tf.random.experimental.stateless_split(seed, 4)
    if aug.random_resized_crop:
        image = _random_resized_crop(image, seeds[0], size, **aug.random_resized_crop)
    if aug.random_crop:
        pad = aug.random_crop
        height, width, depth = image.shape
        image = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
        image = tf.image.stateless_random_crop(image, [height, width, depth], seed=seeds[1])
    if aug.horizontal_flip:
        image = tf.image.stateless_random_flip_left_right(image, seed=seeds[2])
    if aug.randaugment and aug.randaugment["implementation"] == "timm":
        image = rand_augment(image, seeds[3], magnitude=aug.randaugment["magnitude"],
                             num_ops=aug.randaugment["num_ops"], magnitude_std=aug.randaugment["magnitude_std"])
    if aug.trivial_augment:
        # Folded in, like the erasing's seed, so the other steps draw what they drew before this option.
        image = trivial_augment_wide(image, tf.random.experimental.stateless_fold_in(seed, 6))
    if aug.random_erasing:
        # Folded in rather than a fifth split, so the other steps draw what they drew before this option.
        image = random_erasing(image, tf.random.experimental.stateless_fold_in(seed, 5), **aug.random_erasing)
    return tf.clip_by_value(image, 0.0, 255.0)


def random_transform_batch(images, seed, aug):
    """`random_transform`'s pad-crop, flip and erasing on a batch (B, H, W, C) at once, keyed by one seed."""
    seeds = tf.random.experimental.stateless_split(seed, 3)
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    if aug.random_crop:
        pad = aug.random_crop
        padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
        offsets = tf.random.stateless_uniform([2, batch], seeds[0], 0, 2 * pad + 1, dtype=tf.int32)
        rows = offsets[0][:, None] + tf.range(height)[None, :]
        cols = offsets[1][:, None] + tf.range(width)[None, :]
        images = tf.gather(tf.gather(padded, rows, axis=1, batch_dims=1), cols, axis=2, batch_dims=1)
    if aug.horizontal_flip:
        flip = tf.random.stateless_uniform([batch], seeds[1]) < 0.5
        images = tf.where(flip[:, None, None, None], tf.reverse(images, axis=[2]), images)
    if aug.random_erasing:
        images = random_erasing(images, seeds[2], **aug.random_erasing)
    return tf.clip_by_value(images, 0.0, 255.0)


def random_erasing(image, seed, *, probability=0.5, area=(0.02, 0.4), aspect_ratio=(0.3, 1 / 0.3), value="random",
                   attempts=10):
    """Random Erasing (Zhong et al. 2017) on one image or a batch of images, in stateless TF ops.

    Each image, with `probability`, gets one rectangle of area `S * U(area)` and height/width ratio
    `U(aspect_ratio)` (height `round(sqrt(area * ratio))`, width `round(sqrt(area / ratio))`): the first of
    `attempts` draws that fits strictly inside the image, placed uniformly and filled with `value`. "random"
    gives every erased pixel (and channel) its own uniform value in [0, 255], a number fills with that constant.
    The images of a batch draw independently (from the one `seed`).

    Args:
        image: float32 tensor (H, W, C) or (B, H, W, C), values in [0, 255], static H and W.
        seed: int tensor of shape (2,), the stateless RNG seed.
        probability: float in [0, 1].
        area: (lo, hi), fractions of the image's area.
        aspect_ratio: (lo, hi), height / width.
        value: "random" or a number.
        attempts: int, draws that may fail to fit before the image is left unchanged.

    Returns:
        float32 tensor of the same shape.
    """
    single = image.shape.rank == 3
    images = image[None] if single else image
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    s = tf.random.experimental.stateless_split(seed, 6)
    target = height * width * tf.random.stateless_uniform([batch, attempts], s[0], area[0], area[1])
    ratio = tf.random.stateless_uniform([batch, attempts], s[1], aspect_ratio[0], aspect_ratio[1])
    box_h = tf.cast(tf.round(tf.sqrt(target * ratio)), tf.int32)
    box_w = tf.cast(tf.round(tf.sqrt(target / ratio)), tf.int32)
    fits = (box_h < height) & (box_w < width) & (box_h > 0) & (box_w > 0)
    first = tf.argmax(tf.cast(fits, tf.int32), axis=1, output_type=tf.int32)  # 0 when nothing fits (`apply` off)
    box_h, box_w = tf.gather(box_h, first, batch_dims=1), tf.gather(box_w, first, batch_dims=1)
    apply = tf.reduce_any(fits, axis=1) & (tf.random.stateless_uniform([batch], s[2]) < probability)

    def place(size, box, key):  # uniform in [0, size - box]
        room = tf.maximum(size - box + 1, 1)
        start = tf.cast(tf.random.stateless_uniform([batch], key) * tf.cast(room, tf.float32), tf.int32)
        return tf.minimum(start, room - 1)

    top, left = place(height, box_h, s[3]), place(width, box_w, s[4])
    rows, cols = tf.range(height)[None, :, None], tf.range(width)[None, None, :]
    inside = ((rows >= top[:, None, None]) & (rows < (top + box_h)[:, None, None])
              & (cols >= left[:, None, None]) & (cols < (left + box_w)[:, None, None]) & apply[:, None, None])
    if value == "random":
        fill = tf.random.stateless_uniform(tf.shape(images), s[5], 0.0, 255.0)
    else:
        fill = tf.fill(tf.shape(images), tf.constant(value, images.dtype))
    erased = tf.where(inside[..., None], fill, images)
    return erased[0] if single else erased


def _random_resized_crop(image, seed, size, scale, ratio):
    """Inception-style crop (random area fraction in `scale`, aspect ratio in `ratio`) resized to `size`."""
    begin, crop_size, _ = tf.image.stateless_sample_distorted_bounding_box(
        tf.shape(image), bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
        min_object_covered=0.0, aspect_ratio_range=ratio, area_range=scale, max_attempts=10,
        use_image_if_no_bounding_boxes=True)
    crop = tf.slice(image, begin, crop_size)
    resized = tf.image.resize(crop, size, antialias=True)
    resized.set_shape([size[0], size[1], image.shape[-1]])
    return resized


# ---------------------------------------------------------------------------------------------------------
# Keras' layers: RandAugment (`implementation="keras"`) per image, MixUp / CutMix per batch.


def keras_rand_augment(elements, aug, seed):
    """`keras.layers.RandAugment(factor=magnitude / 10)` on each `(image, label)` element, in order."""
    layer = keras.layers.RandAugment(value_range=(0, 255), dtype="float32", num_ops=aug.randaugment["num_ops"],
                                     factor=aug.randaugment["magnitude"] / 10, seed=seed)
    # Stateful (a Keras SeedGenerator): a sequential map keeps its random draws in a fixed order.
    return elements.map(lambda image, label: (tf.clip_by_value(layer(image), 0.0, 255.0), label))


def keras_augmix(elements, aug, seed):
    """`keras.layers.AugMix` (Hendrycks et al. 2020: a Dirichlet mix of `num_chains` chains of up to
    `chain_depth` random ops, blended with the image) on each `(image, label)` element, in order."""
    layer = keras.layers.AugMix(value_range=(0, 255), dtype="float32", seed=seed, **aug.augmix)
    # Stateful (a Keras SeedGenerator): a sequential map keeps its random draws in a fixed order.
    return elements.map(lambda image, label: (tf.clip_by_value(layer(image), 0.0, 255.0), label))


def mix_batches(dataset, aug, seed):
    """MixUp and/or CutMix per batch (one of them, with probability 0.5 each, when both are on)."""
    # dtype="float32": the pipeline's images stay float32 whatever the model's (mixed) precision policy.
    mixup = keras.layers.MixUp(alpha=aug.mixup_alpha, seed=seed, dtype="float32") if aug.mixup_alpha else None
    # factor=(alpha, alpha): a single number would draw alpha itself uniformly from [0, factor].
    cutmix = (keras.layers.CutMix(factor=(aug.cutmix_alpha, aug.cutmix_alpha), seed=seed, dtype="float32")
              if aug.cutmix_alpha else None)

    def apply(layer, images, labels):
        out = layer({"images": images, "labels": labels}, training=True)
        return tf.clip_by_value(out["images"], 0.0, 255.0), out["labels"]

    def mix(batch, random):
        images, labels = batch
        if mixup and cutmix:
            coin = tf.random.stateless_uniform([], element_seed(random, seed))
            return tf.cond(coin < 0.5, lambda: apply(mixup, images, labels), lambda: apply(cutmix, images, labels))
        return apply(mixup or cutmix, images, labels)

    # The Keras layers keep random state (a SeedGenerator): a sequential map fixes the order they draw in.
    return with_seeds(dataset, seed + 2).map(mix)
