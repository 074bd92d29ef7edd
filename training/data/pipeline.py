"""The `tf.data` pipelines that feed `model.fit`: `make_pipeline` turns a split from `load_splits` into shuffled,
augmented (training) or ordered (evaluation) batches of float32 images in [0, 255] and labels, deterministic for
a seed, parallel, cached and prefetched; in-memory training sets are augmented a whole batch at a time where
their augmentation allows it."""

from __future__ import annotations

import dataclasses
import logging
import math

import numpy as np
import tensorflow as tf

from training.data.augment import (Augment, batchable, element_seed, keras_augmix, keras_rand_augment, mix_batches,
                                   parse_augment, random_transform, random_transform_batch, with_seeds)
from training.data.folders import decode_image
from training.data.records import DatasetInfo, EncodedImages, check_crop_fraction

logger = logging.getLogger(__name__)

AUTOTUNE = tf.data.AUTOTUNE
# In-memory caches of decoded images larger than this are skipped (the machine has 24 GiB; a cache and a
# shuffle buffer of the same images can both be resident).
CACHE_LIMIT_BYTES = 4 * 1024**3
DEFAULT_SHUFFLE_BUFFER = 10_000


@dataclasses.dataclass(frozen=True)
class _Plan:
    """One pipeline's checked settings (the arguments of `make_pipeline` of the same names)."""

    training: bool
    seed: int
    aug: Augment
    batch_size: int
    drop_remainder: bool
    image_size: int | None
    channels: int | None
    cache: bool
    repeat: bool
    crop_fraction: float
    shuffle_buffer: int | None


def make_pipeline(source, info: DatasetInfo, *, batch_size: int, training: bool, seed: int,
                  augment: dict | None = None, image_size: int | None = None, one_hot: bool = True,
                  cache: bool = True, repeat: bool = False, drop_remainder: bool | None = None,
                  channels: int | None = None, crop_fraction: float | None = None,
                  shuffle_buffer: int | None = None) -> tf.data.Dataset:
    """A batched, prefetched `tf.data.Dataset` of `(images, labels)` for one split.

    Training pipelines shuffle (reshuffling every epoch), augment, and drop the last partial batch by
    default; evaluation pipelines keep the stored order, never augment, and keep every example exactly once.

    Args:
        source: a split from `load_splits` (a `(images, labels)` numpy tuple or an `EncodedImages`).
        info: DatasetInfo, from `load_splits`.
        batch_size: int.
        training: bool, whether this is the training pipeline.
        seed: int, seeds the shuffle and every random augmentation.
        augment: dict or None, the augmentation config (keys in `training.data`'s docstring); ignored when not
            training, so the same config can be passed to every pipeline.
        image_size: int or None, the square output size. Required for variable-size images (folders,
            imagenette, imagenet2012): evaluation resizes the shorter side to `image_size / crop_fraction` and
            crops the centre; training without `random_resized_crop` resizes the shorter side to `image_size`
            and crops the centre. Fixed-size images are resized to it when it differs from theirs.
        one_hot: bool, float32 one-hot labels (needed by MixUp/CutMix) or int32 class indices.
        cache: bool, cache decoded (and, where deterministic, resized) images in memory when they fit in
            `CACHE_LIMIT_BYTES`; in-memory sets need no cache.
        repeat: bool, repeat forever (reshuffled each epoch); pair it with `steps_per_epoch`.
        drop_remainder: bool or None (= `training`), drop the last partial batch.
        channels: int or None, 1 or 3 output channels (None keeps grayscale sets at 1 and decodes files to 3).
        crop_fraction: float or None (= `info.crop_fraction`), the centre fraction kept when evaluating
            variable-size images.
        shuffle_buffer: int or None, the shuffle buffer for decoded or encoded images (default
            `min(n, DEFAULT_SHUFFLE_BUFFER)`); in-memory sets and file lists always shuffle fully.

    Returns:
        tf.data.Dataset of `(float32 (B, H, W, C) in [0, 255], labels)`.

    Replaying a stream: a pipeline's random state carries on from one iterator to the next of the same
    object (each iteration reshuffles; the Keras MixUp/CutMix/RandAugment layers keep a seed state), so a
    fresh `make_pipeline(...)` with the same arguments followed by `.skip(n)` reproduces elements n, n+1, ...
    of a fresh run exactly, while `.skip(n)` on an object that was already iterated does not. `skip` still
    computes (decodes and augments) every skipped element; to restart at an epoch boundary cheaply, build one
    finite pipeline per epoch with an epoch-derived seed (e.g. `seed=1000 * seed + epoch`).

    Example:

    ```python
    train_ds = make_pipeline(splits["train"], info, batch_size=128, training=True, seed=0,
                             augment={"random_crop": 4, "horizontal_flip": True})
    model.fit(train_ds, epochs=182)
    ```
    """
    if source is None:
        raise ValueError(
            "make_pipeline received source=None: the data config has no such split (a validation split needs "
            "data_config['validation_split']; an image folder's test split needs data_config['test_path'])."
        )
    _check_sizes(batch_size=batch_size, image_size=image_size, channels=channels)
    crop_fraction = check_crop_fraction(crop_fraction if crop_fraction is not None else info.crop_fraction)
    aug = parse_augment(augment) if training else Augment()
    if (aug.mixup_alpha or aug.cutmix_alpha) and not one_hot:
        raise ValueError("augment mixup_alpha / cutmix_alpha mix labels, so they need one_hot=True. "
                         "Received: one_hot=False")
    plan = _Plan(training=training, seed=seed, aug=aug, batch_size=batch_size,
                 drop_remainder=training if drop_remainder is None else bool(drop_remainder), image_size=image_size,
                 channels=channels, cache=cache, repeat=repeat, crop_fraction=crop_fraction,
                 shuffle_buffer=shuffle_buffer)
    elements, batched = _elements(source, info, plan)
    if training and aug.randaugment and aug.randaugment["implementation"] == "keras":
        elements = keras_rand_augment(elements, aug, seed)
    if training and aug.augmix:
        elements = keras_augmix(elements, aug, seed)
    if not batched:
        elements = elements.batch(batch_size, drop_remainder=plan.drop_remainder)
    num_classes = info.num_classes

    def encode_labels(images, labels):
        if one_hot:
            return images, tf.one_hot(labels, num_classes, dtype=tf.float32)
        return images, tf.cast(labels, tf.int32)

    dataset = elements.map(encode_labels, num_parallel_calls=AUTOTUNE)
    if training and (aug.mixup_alpha or aug.cutmix_alpha):
        dataset = mix_batches(dataset, aug, seed)
    options = tf.data.Options()
    options.deterministic = True
    return dataset.prefetch(AUTOTUNE).with_options(options)


def _check_sizes(*, batch_size, image_size, channels):
    """Refuses a batch size, output size or channel count `make_pipeline` cannot use."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int. Received: {batch_size!r}")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1):
        raise ValueError(f"image_size must be a positive int (one side of a square) or None. Received: {image_size!r}")
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be None, 1 or 3. Received: {channels!r}")


def _elements(source, info, plan):
    """The split's `(image, label)` elements, and whether they come already batched.

    Raises:
        ValueError: variable-size images without `image_size`, malformed arrays, or an empty split.
        TypeError: `source` is not a split from `load_splits`.
    """
    batched = False
    if isinstance(source, EncodedImages):
        if plan.image_size is None:
            raise ValueError(f"{info.name} images vary in size, so make_pipeline needs image_size (e.g. 224). "
                             "Received: image_size=None")
        elements = _encoded_elements(source, info, plan)
        num_examples = source.num_examples
    elif isinstance(source, tuple) and len(source) == 2:
        images, labels = _checked_arrays(*source, num_classes=info.num_classes)
        batched = plan.training and batchable(plan.aug)
        elements = _array_elements(images, labels, plan, batched=batched)
        num_examples = len(labels)
    else:
        raise TypeError(f"make_pipeline takes a split from load_splits. Received: {type(source).__name__}")
    if num_examples == 0:
        raise ValueError("make_pipeline received an empty split.")
    return elements, batched


def _checked_arrays(images, labels, *, num_classes):
    """An in-memory split as (uint8 images, numpy labels), or a `ValueError` saying what is wrong with it."""
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError("An in-memory source must be (uint8 images (N, H, W, C), int labels (N,)). Received "
                         f"images of {getattr(images, 'dtype', type(images))} {getattr(images, 'shape', '')}.")
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"An in-memory source needs one label per image. Received {len(images)} images and "
                         f"labels of shape {labels.shape}.")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"Labels must be class indices in [0, {num_classes}). Received labels from "
                         f"{labels.min()} to {labels.max()}.")
    return images, labels


def _epoch(dataset, n, *, seed, buffer, repeats, repeat, exact=True):
    """Shuffles one epoch (timm's repeated augmentation when `repeats` > 1) and repeats it if asked.

    `exact`: the dataset holds exactly `n` elements (not so when unreadable files are dropped on the way).
    """
    dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if repeats > 1:
        unique = -(-n // repeats)
        dataset = dataset.take(unique).flat_map(
            lambda *e: tf.data.Dataset.from_tensors(e[0] if len(e) == 1 else e).repeat(repeats))
        dataset = dataset.shuffle(min(buffer * repeats, unique * repeats), seed=seed + 1,
                                  reshuffle_each_iteration=True).take(n)
        if exact:
            # flat_map hides the length from tf.data; restoring it keeps Keras's progress bar and epoch length.
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(n))
    return dataset.repeat() if repeat else dataset


def _to_channels(image, channels):
    """`image` with `channels` channels (None keeps its own): gray to RGB by copying, RGB to gray by luma."""
    if channels is None or image.shape[-1] == channels:
        return image
    if channels == 3:
        return tf.image.grayscale_to_rgb(image)
    return tf.cast(tf.round(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32))), image.dtype)


def _array_elements(images, labels, plan, *, batched):
    """The examples of in-memory arrays; with `batched` (only for training with `batchable` augmentation),
    whole training batches augmented at once (`random_transform_batch`)."""
    n, height, width = len(images), images.shape[1], images.shape[2]
    aug, seed, channels = plan.aug, plan.seed, plan.channels
    # Kept as tensors and gathered by index, so the shuffle moves integers rather than images.
    images_t, labels_t = tf.constant(images), tf.constant(labels.astype(np.int64))
    size = (plan.image_size, plan.image_size) if plan.image_size else (height, width)

    def fixed(index):
        image = tf.cast(_to_channels(tf.gather(images_t, index), channels), tf.float32)
        if size != (height, width):
            image = tf.image.resize(image, size, antialias=True)
        return image, tf.gather(labels_t, index)

    if not plan.training:
        return tf.data.Dataset.range(n).map(fixed, num_parallel_calls=AUTOTUNE)

    def augmented(index, random):
        if aug.random_resized_crop:
            image = tf.cast(_to_channels(tf.gather(images_t, index), channels), tf.float32)
            label = tf.gather(labels_t, index)
        else:
            image, label = fixed(index)
        return random_transform(image, element_seed(random, seed), aug, size), label

    def augmented_batch(indices, random):
        # `fixed` on a batch of indices: gather, convert and resize the whole batch at once.
        batch_images, batch_labels = fixed(indices)
        return random_transform_batch(batch_images, element_seed(random, seed), aug), batch_labels

    order = _epoch(tf.data.Dataset.range(n), n, seed=seed, buffer=n, repeats=aug.repeats, repeat=plan.repeat)
    if batched:
        order = order.batch(plan.batch_size, drop_remainder=plan.drop_remainder)
        return with_seeds(order, seed).map(augmented_batch, num_parallel_calls=AUTOTUNE)
    return with_seeds(order, seed).map(augmented, num_parallel_calls=AUTOTUNE)


def _encoded_elements(source, info, plan):
    """The decoded examples of an `EncodedImages` split: cached when they fit, shuffled and augmented when
    training, centre-cropped to `plan.crop_fraction` when evaluating."""
    n, image_size, channels = source.num_examples, plan.image_size, plan.channels or 3
    # Evaluation crops the centre; training without a random resized crop resizes the whole image's shorter
    # side to the output size; with one, the crop is taken from the full decoded image.
    deterministic = None
    if not plan.training:
        deterministic = plan.crop_fraction
    elif not plan.aug.random_resized_crop:
        deterministic = 1.0

    def decode(content, label):
        # Decoded to RGB first: GIF and BMP decoders accept no channels=1; validation decoded the same way.
        image = _to_channels(decode_image(tf.io.read_file(content) if source.from_files else content, 3), channels)
        if deterministic is not None:
            image = _resize_center_crop(image, image_size, deterministic)
            image = tf.saturate_cast(tf.round(image), tf.uint8)
        return image, label

    def decoded(dataset):
        dataset = dataset.map(decode, num_parallel_calls=AUTOTUNE)
        return dataset if source.verified else dataset.ignore_errors(log_warning=True)

    fits = deterministic is not None and n * image_size * image_size * channels <= CACHE_LIMIT_BYTES
    if plan.cache and not fits:
        logger.info("Not caching %s: %s", info.name, "random resized crops start from the full images"
                    if deterministic is None else f"{n} images of {image_size}px exceed CACHE_LIMIT_BYTES")
    dataset = _decoded_epoch(source, plan, decoded, cache=plan.cache and fits)
    if not plan.training:
        return dataset.map(lambda image, label: (tf.cast(image, tf.float32), label), num_parallel_calls=AUTOTUNE)

    def augmented(element, random):
        image, label = element
        return random_transform(tf.cast(image, tf.float32), element_seed(random, plan.seed), plan.aug,
                                (image_size, image_size)), label

    return with_seeds(dataset, plan.seed).map(augmented, num_parallel_calls=AUTOTUNE)


def _decoded_epoch(source, plan, decoded, *, cache):
    """`decoded(...)` of the split: cached then shuffled, or (not cached) shuffled before decoding."""
    n = source.num_examples
    buffer = min(n, plan.shuffle_buffer or DEFAULT_SHUFFLE_BUFFER)
    epoch = dict(seed=plan.seed, repeats=plan.aug.repeats, repeat=plan.repeat)
    if cache:
        dataset = decoded(source.dataset).cache()
        return _epoch(dataset, n, buffer=buffer, exact=source.verified, **epoch) if plan.training else dataset
    if plan.training:
        # Shuffle before decoding: file paths are cheap to shuffle completely.
        return decoded(_epoch(source.dataset, n, buffer=n if source.from_files else buffer, **epoch))
    return decoded(source.dataset)


def _resize_center_crop(image, size, fraction):
    """Resizes the shorter side to `floor(size / fraction)` (as timm) and crops the central `size` square."""
    scale_size = math.floor(size / fraction)
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float32), tf.cast(shape[1], tf.float32)
    ratio = scale_size / tf.minimum(height, width)
    new_h = tf.maximum(size, tf.cast(tf.round(height * ratio), tf.int32))
    new_w = tf.maximum(size, tf.cast(tf.round(width * ratio), tf.int32))
    image = tf.image.resize(image, tf.stack([new_h, new_w]), antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    image = image[top:top + size, left:left + size]
    image.set_shape([size, size, image.shape[-1]])
    return image
