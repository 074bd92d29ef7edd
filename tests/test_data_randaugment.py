"""training/data/randaugment.py: timm's RandAugment ops keep shape and range, match PIL's ops (timm's reference) at
timm's levels, and draw the same ops for a seed as they always did."""

import numpy as np
import pytest
import tensorflow as tf

from tests.data_helpers import checksum
from tests.data_helpers import no_user_data  # noqa: F401 (an autouse fixture)
from tests.real_data import load_sample
from training import data


def test_rand_augment_ops_keep_shape_and_range():
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (9, 11, 3)), tf.float32)
    for name, op in data.RAND_AUGMENT_OPS.items():
        for level, sign in ((0.0, 1.0), (1.0, -1.0), (0.7, 1.0)):
            out = op(image, tf.constant(level), tf.constant(sign))
            assert out.shape == image.shape, name
            assert 0 <= float(tf.reduce_min(out)) and float(tf.reduce_max(out)) <= 255.0 + 1e-3, name
    # Level 0 leaves the enhance and geometric ops as they were.
    for name in ("Rotate", "ShearX", "TranslateYRel", "BrightnessIncreasing", "ColorIncreasing"):
        np.testing.assert_allclose(data.RAND_AUGMENT_OPS[name](image, 0.0, 1.0), image, atol=1e-3, err_msg=name)


# timm's `_RAND_INCREASING_TRANSFORMS` ("inc1"), in timm's order: an op's index in this list is what a seed draws.
TIMM_INCREASING_OPS = ["AutoContrast", "Equalize", "Invert", "Rotate", "PosterizeIncreasing", "SolarizeIncreasing",
                       "SolarizeAdd", "ColorIncreasing", "ContrastIncreasing", "BrightnessIncreasing",
                       "SharpnessIncreasing", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel"]
GEOMETRIC = ("Rotate", "ShearX", "ShearY", "TranslateXRel", "TranslateYRel")


def _timm_op(name, image, level, sign):
    """timm's op (timm/data/auto_augment.py: PIL at timm's level-to-argument mapping, bilinear, grey fill) on a
    uint8 array, with `level` = magnitude / 10 and the random sign `sign` given."""
    from PIL import Image, ImageEnhance, ImageOps

    pil = Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image)
    affine = dict(resample=Image.BILINEAR, fillcolor=(128,) * len(pil.getbands()))
    factor = max(0.1, 1.0 + sign * level * 0.9)
    shear, shift = sign * level * 0.3, sign * level * 0.45
    # Two conventions differ from PIL's, by design or by a sub-pixel: our rotation runs the other way for the same
    # sign (the policy draws the sign at random, so the distribution is the same), and our shears map pixel
    # indices where PIL maps pixel centres, which moves the sheared image by half the shear (at most 0.15 px).
    ops = {
        "AutoContrast": lambda: ImageOps.autocontrast(pil),
        "Equalize": lambda: ImageOps.equalize(pil),
        "Invert": lambda: ImageOps.invert(pil),
        "Rotate": lambda: pil.rotate(-sign * level * 30, **affine),
        # Pillow >= 11 refuses 0 bits (timm's level 10); keeping no bit is black.
        "PosterizeIncreasing": lambda: (ImageOps.posterize(pil, 4 - int(level * 4)) if int(level * 4) < 4
                                        else Image.fromarray(np.zeros_like(np.asarray(pil)))),
        "SolarizeIncreasing": lambda: ImageOps.solarize(pil, 256 - int(level * 256)),
        "SolarizeAdd": lambda: pil.point([min(255, i + int(level * 110)) if i < 128 else i for i in range(256)]
                                         * len(pil.getbands())),
        "ColorIncreasing": lambda: ImageEnhance.Color(pil).enhance(factor),
        "ContrastIncreasing": lambda: ImageEnhance.Contrast(pil).enhance(factor),
        "BrightnessIncreasing": lambda: ImageEnhance.Brightness(pil).enhance(factor),
        "SharpnessIncreasing": lambda: ImageEnhance.Sharpness(pil).enhance(factor),
        "ShearX": lambda: pil.transform(pil.size, Image.AFFINE, (1, shear, -shear / 2, 0, 1, 0), **affine),
        "ShearY": lambda: pil.transform(pil.size, Image.AFFINE, (1, 0, 0, shear, 1, -shear / 2), **affine),
        "TranslateXRel": lambda: pil.transform(pil.size, Image.AFFINE, (1, 0, shift * pil.size[0], 0, 1, 0), **affine),
        "TranslateYRel": lambda: pil.transform(pil.size, Image.AFFINE, (1, 0, 0, 0, 1, shift * pil.size[1]), **affine),
    }
    return np.asarray(ops[name]()).reshape(image.shape).astype(np.float64)


def test_rand_augment_is_timms_increasing_op_set_in_timms_order():
    assert list(data.RAND_AUGMENT_OPS) == TIMM_INCREASING_OPS


@pytest.mark.parametrize("name", TIMM_INCREASING_OPS)
def test_rand_augment_ops_match_timms_pil_ops(name):
    """Each op against timm's own (PIL) at three levels and both signs, on RGB noise and a real grayscale image.
    Pixel ops agree to PIL's rounding; geometric ops everywhere but along the edge of the moved image, where
    PIL and TF treat the fill differently (a wrong angle, scale or shift misses most pixels)."""
    noise = np.random.default_rng(0).integers(0, 256, (20, 24, 3)).astype(np.uint8)
    shirt = load_sample(1)[0][0]
    for image in (noise, shirt):
        for level, sign in ((0.3, 1.0), (0.7, -1.0), (1.0, 1.0)):
            ours = data.RAND_AUGMENT_OPS[name](tf.constant(image, tf.float32), tf.constant(level),
                                               tf.constant(sign)).numpy()
            diff = np.abs(ours - _timm_op(name, image, level, sign))
            where = f"{name} level={level} sign={sign} image={image.shape}"
            if name in GEOMETRIC:
                assert np.mean(diff <= 1.5) >= 0.85 and diff.mean() < 4, where
            else:
                assert diff.max() <= 1.5, where


def test_rand_augment_draws_what_it_always_drew():
    """Fixed-seed outputs of the RSB recipes' policy (m9, n2, mstd0.5) on one image: which ops a seed picks, at
    which level and sign, and what they compute. A change here changes every RSB run's augmentation."""
    image = tf.constant(np.random.default_rng(0).integers(0, 256, (20, 24, 3)), tf.float32)
    got = [checksum(data.rand_augment(image, tf.constant([s, 7], tf.int64), magnitude=9, num_ops=2,
                                      magnitude_std=0.5).numpy()) for s in range(12)]
    np.testing.assert_allclose(got, [1243928.9656982422, 1295445.5567774773, 1303945.305568695, 1325587.301858902,
                                     1888084.007377863, 1329872.2770357132, 1294925.61702919, 674176.0,
                                     1290569.701543808, 1335025.0, 1329286.5112380981, 1335025.0], rtol=1e-5)
