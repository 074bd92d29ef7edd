"""Whitening initialisation of a network's first convolution, the fast-training trick of hlb-CIFAR10 / airbench.

The first convolution's filters start as the whitening transform of the training images' patches: the
eigenvectors of the patches' covariance, each scaled by 1 / sqrt(its eigenvalue + eps), the largest eigenvalues
first, each with its negative (so that a ReLU after it passes both signs). Its outputs on those patches are then
decorrelated with unit variance: the next layers start from whitened input instead of a random projection.
Only an initialisation: the filters train as the rest (`model.stem_whitening` in a recipe; off by default).

numpy is enough here: a covariance and `eigh` of a (kh * kw * channels)-square matrix.
"""

import keras
import numpy as np

# Patches sampled for the covariance: plenty for a 27 x 27 matrix (a 3x3 RGB stem), cheap for a 7x7 one.
MAX_PATCHES = 200_000


def first_convolution(model):
    """The model's first top-level `Conv2D` (in the functional graph's order), with its checks."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):  # DepthwiseConv2D is not one
            if layer.groups != 1 or tuple(layer.dilation_rate) != (1, 1) or layer.data_format != "channels_last":
                raise ValueError(
                    f"Whitening initialisation needs a plain first convolution (groups 1, no dilation, "
                    f"channels_last). Received: {layer.name!r} with groups={layer.groups}, "
                    f"dilation_rate={layer.dilation_rate}, data_format={layer.data_format!r}.")
            return layer
    raise ValueError(f"Whitening initialisation needs a Conv2D among the model's layers; {model.name!r} has none "
                     "at its top level.")


def patches(images, kernel_size, *, max_patches=MAX_PATCHES, seed=0):
    """Up to `max_patches` (kh * kw * channels)-vectors, every kh x kw window of `images` (N, H, W, C), sampled."""
    kh, kw = kernel_size
    windows = np.lib.stride_tricks.sliding_window_view(images, (kh, kw), axis=(1, 2))  # a view: N, H', W', C, kh, kw
    positions = int(np.prod(windows.shape[:3]))
    chosen = (np.random.default_rng(seed).choice(positions, max_patches, replace=False) if positions > max_patches
              else np.arange(positions))
    picked = windows[np.unravel_index(chosen, windows.shape[:3])]  # only the chosen windows are copied: M, C, kh, kw
    return picked.transpose(0, 2, 3, 1).reshape(len(chosen), -1).astype("float64")  # ordered as a Conv2D kernel


def whitening_filters(vectors, filters, *, eps=5e-4):
    """(patch size, n) filters, n = min(filters, 2 * patch size) rounded down to even: the whitening directions of
    `vectors` (rows), largest variance first, each followed by its negative."""
    centered = vectors - vectors.mean(axis=0)
    eigenvalues, eigenvectors = np.linalg.eigh(centered.T @ centered / len(centered))
    order = np.argsort(eigenvalues)[::-1][: min(filters // 2, len(eigenvalues))]
    scaled = eigenvectors[:, order] / np.sqrt(np.maximum(eigenvalues[order], 0.0) + eps)
    return np.stack([scaled, -scaled], axis=-1).reshape(len(eigenvalues), -1), eigenvalues[order]


def whiten_first_convolution(model, images, *, eps=5e-4, seed=0):
    """Sets the first convolution's filters of `model` to the whitening transform of `images`' patches, as they
    reach that convolution (after the model's own preprocessing and padding). Filters beyond twice the patch size
    keep their initial values. Returns a dict for the run log: the layer, how many filters were set, the
    eigenvalues used."""
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"Whitening needs a batch of images (N, H, W, C), N >= 1. Received shape {images.shape}.")
    conv = first_convolution(model)
    feeder = keras.Model(model.inputs, conv.input)  # what reaches the convolution
    seen = np.asarray(feeder.predict(images, batch_size=256, verbose=0), "float32")
    vectors = patches(seen, conv.kernel_size, seed=seed)
    weights, eigenvalues = whitening_filters(vectors, conv.filters, eps=eps)
    kernel = keras.ops.convert_to_numpy(conv.kernel).copy()
    kernel.reshape(-1, conv.filters)[:, : weights.shape[1]] = weights
    conv.kernel.assign(kernel)
    if conv.use_bias:
        conv.bias.assign(np.zeros(conv.filters, "float32"))
    return {"layer": conv.name, "filters_set": int(weights.shape[1]), "filters": int(conv.filters),
            "eigenvalues": [float(v) for v in eigenvalues]}
