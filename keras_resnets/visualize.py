"""Seeing what a residual network learned: feature maps, Grad-CAM, residual refinement, receptive fields,
lesions and attention masks, as numbers (numpy) and as PNG figures.

Every tool takes any registered model (`keras_resnets.create_model(...)`) or a loaded `.keras` file and raw
images in the model's input layout. The analysis functions return numpy arrays or lists of dicts and need
only Keras; the `plot_*` functions draw them with matplotlib (`pip install "keras-resnets[viz]"`).

How blocks are found: the families name every residual or plain block `<stage>_block<i>` and its output
layer `<stage>_block<i>_out` (keras.applications' convention). A residual block merges with an `Add` layer
(`..._add` followed by a ReLU in ResNet v1, `..._out` in the pre-activation forms) whose first input is the
shortcut and second the residual branch F(x). Units inside the soft-mask branch of an attention module
(`..._mask_...`) are not on the main path and are left out. DenseNets concatenate instead of adding, so the
block tools (refinement, lesion) reject them; feature maps, Grad-CAM and receptive fields work on every model.

Definitions:
- Refinement ratio of a block: mean over images of ||F(x)|| / ||x||, the residual branch against the shortcut
  (for a plain block, ||out - in|| / ||in|| where the shapes match). Cosine: mean cosine similarity of the
  block's input and output (the shortcut stands in for the input where a block changes the shape).
- Effective receptive field of a layer (Luo et al. 2016): mean over images of |d(centre unit, summed over
  channels) / d(input pixels)|, summed over input channels and normalized to sum 1; its radius is the
  half-width of the smallest square around the centre holding 90 % of that mass.
- Lesion (Veit et al. 2016): the block's residual branch is deleted at test time, leaving its shortcut (the
  identity, or the down-sampling shortcut); a plain block is replaced by the identity where its input and
  output shapes match.

Command line: `python -m keras_resnets.visualize TOOL MODEL --out PNG [--json JSON]` (`--help` lists the rest).
Before any model is loaded it checks the outputs (a `.png` --out; neither output an existing folder or a
symbolic link, nor an existing file unless `--overwrite`; missing parent folders are created, as for the
export's directory, so the nearest existing one must take new files), every number against its range
(`--count` >= 1, `--class-index` >= 0, `--classes` >= 1), the options' fit to the tool, the input files
(present; a corrupt `.npy`, IDX file or image is an error naming it) and that labels are as many as the
images; once the model is loaded, `--class-index` and the labels against its classes. Both files are written
atomically (a unique temporary file beside each, renamed into place). Exit codes: 0 the figure (and the JSON)
are written; 1 the work failed (e.g. matplotlib is missing); 2 a usage error (a bad argument value, a tool that
does not apply to the model, a missing, corrupt or wrong-format input, images and labels of different lengths,
an output that cannot be written or exists without `--overwrite`); argparse's own errors exit 2 too. Errors
are one line on stderr (`error: ...`), never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import sys
import tempfile
from dataclasses import dataclass

import keras
import numpy as np

TOOLS = ("feature-maps", "grad-cam", "refinement", "receptive-field", "lesion", "attention")
CAM_METHODS = ("gradcam", "gradcam++")
_BLOCK_OUT = re.compile(r"^(?P<block>(?P<stage>[^_]+)_.*block\d+)_out$")
_EPS = 1e-12


# ----------------------------------------------------------------------------------------------- helpers
def _channels_last() -> bool:
    return keras.config.image_data_format() == "channels_last"


def _nhwc(array):
    """A 4-D array in the model's layout as (N, H, W, C)."""
    array = np.asarray(array)
    return array if _channels_last() or array.ndim != 4 else np.moveaxis(array, 1, -1)


def _check_model(model):
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model (create_model(...) or a loaded .keras file). Received: {model!r}")
    if len(model.inputs) != 1:
        raise ValueError(f"The visualization tools take single-input image models; {model.name!r} has "
                         f"{len(model.inputs)} inputs.")
    return model


def _check_images(model, images):
    """Images as a float32 batch matching the model's input shape.

    Takes a batch `(N, H, W, C)`, one image `(H, W, C)`, and for one-channel models also `(N, H, W)` or
    `(H, W)` (the channel axis is added)."""
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.number):
        raise TypeError(f"`images` must be a numeric array. Received dtype {images.dtype}.")
    expected = tuple(model.input_shape[1:])
    fits = lambda shape: len(shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, shape))
    one_channel = expected[-1] == 1 if _channels_last() else expected[0] == 1
    if fits(images.shape):
        images = images[None]
    elif one_channel and images.ndim == len(expected) - 1 and fits((*images.shape, 1)):
        images = images[None, ..., None]
    elif one_channel and images.ndim == len(expected) and fits((*images.shape[1:], 1)):
        images = images[..., None]
    if images.ndim != len(expected) + 1 or not fits(images.shape[1:]):
        raise ValueError(f"`images` must have shape (N, {', '.join(map(str, expected))}) for model {model.name!r}. "
                         f"Received shape {np.shape(images)}.")
    if len(images) == 0:
        raise ValueError("`images` is empty: pass at least one image.")
    return images.astype("float32")


def _layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        close = [n for n in (layer.name for layer in model.layers) if name in n][:8]
        raise ValueError(f"Model {model.name!r} has no layer {name!r}"
                         + (f"; layers with that in their name: {close}." if close else ".")) from None


def _submodel(model, outputs):
    return keras.Model(model.inputs[0], outputs, name=f"{model.name}_probe")


def _run(model, images, batch_size):
    """`model` on `images` in batches (inference mode); numpy, a list per output if several."""
    results = []
    for start in range(0, len(images), batch_size):
        out = model(images[start:start + batch_size], training=False)
        results.append([keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])])
    merged = [np.concatenate(parts) for parts in zip(*results)]
    return merged


def _input_gradient(fn, x):
    """d sum(fn(x)) / dx for a float32 numpy batch `x`, on whichever backend Keras runs."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(fn(x))
        return tape.gradient(total, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda v: keras.ops.sum(fn(v)))(jax.numpy.asarray(x)))
    if backend == "torch":
        tensor = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
        keras.ops.sum(fn(tensor)).backward()
        return tensor.grad.detach().cpu().numpy()
    raise NotImplementedError(f"Gradients are implemented for the tensorflow, jax and torch backends; "
                              f"Keras runs on {backend!r}.")


def _resize(maps, size):
    """(N, h, w) maps resized bilinearly to (N, *size)."""
    resized = keras.ops.image.resize(maps[..., None].astype("float32"), size, interpolation="bilinear",
                                     data_format="channels_last")
    return keras.ops.convert_to_numpy(resized)[..., 0]


def _spatial_size(model):
    shape = model.input_shape[1:3] if _channels_last() else model.input_shape[2:4]
    if None in shape:
        raise ValueError(f"The tools need a fixed input size; {model.name!r} takes {model.input_shape}.")
    return tuple(shape)


# -------------------------------------------------------------------------------------------- structure
@dataclass(frozen=True)
class Block:
    """One residual or plain block of a model, found by its layer names."""

    name: str  # "conv3_block1"
    stage: str  # "conv3"
    kind: str  # "residual" or "plain"
    first_layer: str  # the first layer of the block (its input is the block's input)
    output_layer: str  # "<name>_out"
    merge_layer: str | None  # the Add layer of a residual block
    shape_preserving: bool  # input and output shapes are equal

    def tensors(self, model):
        """(input, output, shortcut, residual) KerasTensors; shortcut/residual are None for plain blocks."""
        first = model.get_layer(self.first_layer)
        block_input = first.input[0] if isinstance(first.input, (list, tuple)) else first.input
        output = model.get_layer(self.output_layer).output
        if self.merge_layer is None:
            return block_input, output, None, None
        shortcut, residual = model.get_layer(self.merge_layer).input
        return block_input, output, shortcut, residual


def find_blocks(model) -> list[Block]:
    """The residual and plain blocks on a model's main path, input to output (see the module docstring)."""
    _check_model(model)
    layers_by_name = {layer.name: layer for layer in model.layers}
    blocks = []
    for layer in model.layers:
        match = _BLOCK_OUT.match(layer.name)
        if not match or "_mask_" in layer.name:
            continue
        name = match["block"]
        first = next(x for x in model.layers if x.name.startswith(name + "_"))
        merge = layers_by_name.get(f"{name}_add", layer)
        merge_name = merge.name if isinstance(merge, keras.layers.Add) else None
        first_input = first.input[0] if isinstance(first.input, (list, tuple)) else first.input
        blocks.append(Block(
            name=name, stage=match["stage"], kind="residual" if merge_name else "plain", first_layer=first.name,
            output_layer=layer.name, merge_layer=merge_name,
            shape_preserving=tuple(first_input.shape[1:]) == tuple(layer.output.shape[1:]),
        ))
    return blocks


def _require_blocks(model):
    blocks = find_blocks(model)
    if not blocks:
        raise ValueError(f"Model {model.name!r} has no residual or plain blocks (no `<stage>_block<i>_out` layers): "
                         "DenseNets concatenate features instead of adding a residual, so refinement and lesion "
                         "studies do not apply to them.")
    return blocks


def stage_outputs(model) -> list[str]:
    """Names of the last layer at each spatial resolution on the main path: the stem and every stage's output.

    Padding layers and attention soft-mask branches are skipped. The last name is the final feature map (the
    default Grad-CAM layer)."""
    _check_model(model)
    last_at = {}
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is None or len(shape) != 4 or isinstance(layer, (keras.layers.ZeroPadding2D, keras.layers.InputLayer)):
            continue
        if "_mask_" in layer.name:
            continue
        size = tuple(shape[1:3]) if _channels_last() else tuple(shape[2:4])
        last_at.pop(size, None)  # re-insert: dict order follows the last layer at each size
        last_at[size] = layer.name
    if not last_at:
        raise ValueError(f"Model {model.name!r} has no 4-D feature maps to show.")
    names = list(last_at.values())
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    return sorted(names, key=order.__getitem__)


# ------------------------------------------------------------------------------------------ feature maps
def feature_maps(model, images, layers=None, batch_size=32) -> dict:
    """Activations of `layers` (default: `stage_outputs(model)`) as `{name: (N, H, W, C) array}`."""
    model = _check_model(model)
    images = _check_images(model, images)
    names = list(layers) if layers else stage_outputs(model)
    probe = _submodel(model, [_layer(model, n).output for n in names])
    return {name: _nhwc(out) for name, out in zip(names, _run(probe, images, batch_size))}


# --------------------------------------------------------------------------------------------- Grad-CAM
def _logits_fn(model):
    """(pre-logit tensor, fn mapping it to logits): the softmax of the head is undone for Grad-CAM."""
    last = model.layers[-1]
    if isinstance(last, keras.layers.Dense) and keras.activations.serialize(last.activation) not in ("linear", None):

        def logits(h):  # the Dense layer without its activation (float32, as under mixed precision)
            z = keras.ops.matmul(keras.ops.cast(h, "float32"), keras.ops.cast(last.kernel, "float32"))
            return keras.ops.add(z, keras.ops.cast(last.bias, "float32")) if last.use_bias else z

        return last.input, logits
    if isinstance(last, keras.layers.Activation) and keras.activations.serialize(last.activation) == "softmax":
        return last.input, lambda h: h
    if len(model.outputs) != 1 or len(model.outputs[0].shape) != 2:
        raise ValueError(f"Grad-CAM needs a classifier (include_top=True) with one (N, classes) output; "
                         f"{model.name!r} outputs {[tuple(o.shape) for o in model.outputs]}.")
    return model.outputs[0], lambda h: h


def grad_cam(model, images, class_index=None, layer=None, method="gradcam", batch_size=16):
    """Grad-CAM (Selvaraju et al. 2017) or Grad-CAM++ (Chattopadhyay et al. 2018) heat maps.

    Args:
        model: a classifier (`include_top=True`).
        images: raw images in the model's input layout, `(N, H, W, C)` or one image.
        class_index: None (each image's top prediction), an int (the same class for all) or a sequence of
            N ints.
        layer: the feature map to explain; default the final one (`stage_outputs(model)[-1]`). It must
            separate the input from the output (a stage output, not a layer inside a residual block).
        method: "gradcam" or "gradcam++".

    Returns:
        `(heatmaps, class_indices, probabilities)`: heat maps `(N, H, W)` at the input resolution scaled to
        [0, 1] per image, the explained class of each image, and the model's probability of that class.
    """
    model = _check_model(model)
    images = _check_images(model, images)
    if method not in CAM_METHODS:
        raise ValueError(f"`method` must be one of {CAM_METHODS}. Received: method={method!r}")
    layer = layer or stage_outputs(model)[-1]
    target = _layer(model, layer).output
    pre_logits, to_logits = _logits_fn(model)
    try:
        head = keras.Model(target, pre_logits)
    except ValueError as e:
        raise ValueError(f"Layer {layer!r} does not separate the input from the output of {model.name!r} (a "
                         "shortcut skips over it); choose a block or stage output such as "
                         f"{stage_outputs(model)[-2:]}.") from e
    body = _submodel(model, target)
    activations = _run(body, images, batch_size)[0]
    logits = np.concatenate([keras.ops.convert_to_numpy(to_logits(head(activations[s:s + batch_size],
                                                                          training=False)))
                             for s in range(0, len(images), batch_size)])
    classes = logits.shape[-1]
    if class_index is None:
        chosen = logits.argmax(-1)
    else:
        chosen = np.broadcast_to(np.asarray(class_index), (len(images),)) if np.ndim(class_index) == 0 \
            else np.asarray(class_index)
        if chosen.shape != (len(images),) or not np.issubdtype(chosen.dtype, np.integer) \
                or chosen.min() < 0 or chosen.max() >= classes:
            raise ValueError(f"`class_index` must be None, an int in [0, {classes}) or {len(images)} such ints. "
                             f"Received: class_index={class_index!r}")
    onehot = np.eye(classes, dtype="float32")[chosen]
    grads = np.concatenate([
        _input_gradient(lambda a, oh=onehot[s:s + batch_size]: to_logits(head(a, training=False)) * oh,
                        activations[s:s + batch_size])
        for s in range(0, len(images), batch_size)])
    acts, grads = _nhwc(activations), _nhwc(grads)
    if method == "gradcam":
        weights = grads.mean(axis=(1, 2))  # (N, K): global-average-pooled gradients
    else:  # Grad-CAM++ closed form (exponential score): alpha = g^2 / (2 g^2 + sum_ab A g^3)
        g2, g3 = grads ** 2, grads ** 3
        denominator = 2 * g2 + acts.sum(axis=(1, 2), keepdims=True) * g3
        alpha = np.where(np.abs(denominator) > _EPS, g2 / np.where(np.abs(denominator) > _EPS, denominator, 1), 0)
        weights = (alpha * np.maximum(grads, 0)).sum(axis=(1, 2))
    cams = np.maximum(np.einsum("nhwk,nk->nhw", acts, weights), 0)
    cams = _resize(cams, _spatial_size(model))
    cams = np.maximum(cams, 0)
    peak = cams.reshape(len(cams), -1).max(-1)
    cams = cams / np.where(peak > 0, peak, 1)[:, None, None]
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    return cams.astype("float32"), chosen.astype("int64"), probabilities[np.arange(len(images)), chosen]


# ------------------------------------------------------------------------------------------- refinement
def _per_image(array):
    return array.reshape(len(array), -1).astype("float64")


def _cosine(a, b):
    a, b = _per_image(a), _per_image(b)
    return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), _EPS)


def refinement_statistics(model, images, batch_size=32) -> list[dict]:
    """Per block, input to output: how much the residual branch changes its input (see the module docstring).

    Returns a list of dicts: `block`, `stage`, `kind` ("residual"/"plain"), `downsampling` (bool),
    `ratio` and `ratio_std` (||F(x)|| / ||x|| over the images), `cosine` and `cosine_std`; values that do
    not exist (a plain block that changes the shape) are NaN.
    """
    model = _check_model(model)
    images = _check_images(model, images)
    blocks = _require_blocks(model)
    tensors, slots = [], []
    for block in blocks:
        block_input, output, shortcut, residual = block.tensors(model)
        slots.append(len(tensors))
        tensors += [block_input, output] + ([shortcut, residual] if block.kind == "residual" else [])
    probe = _submodel(model, tensors)
    ratios = [[] for _ in blocks]
    cosines = [[] for _ in blocks]
    for start in range(0, len(images), batch_size):
        outs = [keras.ops.convert_to_numpy(o) for o in probe(images[start:start + batch_size], training=False)]
        for i, (block, slot) in enumerate(zip(blocks, slots)):
            x_in, x_out = outs[slot], outs[slot + 1]
            if block.kind == "residual":
                shortcut, residual = outs[slot + 2], outs[slot + 3]
                ratio = np.linalg.norm(_per_image(residual), axis=-1) / np.maximum(
                    np.linalg.norm(_per_image(shortcut), axis=-1), _EPS)
                cosine = _cosine(x_in if block.shape_preserving else shortcut, x_out)
            elif block.shape_preserving:
                ratio = np.linalg.norm(_per_image(x_out - x_in), axis=-1) / np.maximum(
                    np.linalg.norm(_per_image(x_in), axis=-1), _EPS)
                cosine = _cosine(x_in, x_out)
            else:
                ratio = cosine = np.full(len(x_in), np.nan)
            ratios[i].append(ratio)
            cosines[i].append(cosine)
    rows = []
    for block, ratio, cosine in zip(blocks, ratios, cosines):
        ratio, cosine = np.concatenate(ratio), np.concatenate(cosine)
        rows.append(dict(block=block.name, stage=block.stage, kind=block.kind,
                         downsampling=not block.shape_preserving,
                         ratio=float(ratio.mean()), ratio_std=float(ratio.std()),
                         cosine=float(cosine.mean()), cosine_std=float(cosine.std())))
    return rows


# ---------------------------------------------------------------------------------- receptive fields
def _mass_radius(erf, fraction):
    """Half-width of the smallest square around the centre holding `fraction` of the map's mass."""
    height, width = erf.shape
    cy, cx = height // 2, width // 2
    rows, cols = np.indices(erf.shape)
    distance = np.maximum(np.abs(rows - cy), np.abs(cols - cx))
    total = erf.sum()
    for radius in range(max(height, width)):
        if erf[distance <= radius].sum() >= fraction * total - 1e-12:
            return radius
    return max(height, width)


def effective_receptive_field(model, images, layers=None, fraction=0.9, batch_size=16) -> dict:
    """Effective receptive fields of `layers` (default: every `stage_outputs(model)`).

    Returns `{name: dict(erf=(H, W) map summing to 1, radius=int, support_radius=int, centre=(row, col) of the
    unit in its own feature map, stride=(sy, sx) input pixels per feature-map pixel)}`. `support_radius` is
    the half-width of the square holding every nonzero gradient (bounded by the theoretical receptive field).
    """
    model = _check_model(model)
    images = _check_images(model, images)
    if not 0 < fraction <= 1:
        raise ValueError(f"`fraction` must be in (0, 1]. Received: fraction={fraction!r}")
    names = list(layers) if layers else stage_outputs(model)
    size = _spatial_size(model)
    results = {}
    for name in names:
        output = _layer(model, name).output
        if len(output.shape) != 4:
            raise ValueError(f"Layer {name!r} outputs shape {tuple(output.shape)}; receptive fields need a 4-D "
                             "feature map.")
        probe = _submodel(model, output)
        fmap = tuple(output.shape[1:3]) if _channels_last() else tuple(output.shape[2:4])
        cy, cx = fmap[0] // 2, fmap[1] // 2

        def centre(x, probe=probe, cy=cy, cx=cx):
            out = probe(x, training=False)
            return out[:, cy, cx, :] if _channels_last() else out[:, :, cy, cx]

        total = np.zeros(size, dtype="float64")
        for start in range(0, len(images), batch_size):
            grads = _nhwc(_input_gradient(centre, images[start:start + batch_size]))
            total += np.abs(grads).sum(axis=(0, 3))
        erf = total / max(total.sum(), _EPS)
        support = np.argwhere(erf > 0)
        centre_px = (size[0] // 2, size[1] // 2)
        support_radius = int(np.max(np.abs(support - np.asarray(centre_px)))) if len(support) else 0
        results[name] = dict(erf=erf.astype("float32"), radius=_mass_radius(erf, fraction),
                             support_radius=support_radius, centre=(cy, cx),
                             stride=(size[0] / fmap[0], size[1] / fmap[1]), fraction=fraction)
    return results


# ------------------------------------------------------------------------------------------------ lesions
def lesion(model, blocks) -> keras.Model:
    """A copy of `model` (sharing its weights) with the given blocks deleted at test time.

    Args:
        blocks: block names (`"conv3_block2"`) or `Block`s from `find_blocks(model)`. A residual block keeps
            only its shortcut; a plain block becomes the identity (only where its shape does not change).
    """
    known = {b.name: b for b in find_blocks(model)}
    chosen = []
    for block in [blocks] if isinstance(blocks, (str, Block)) else blocks:
        name = block.name if isinstance(block, Block) else block
        if name not in known:
            raise ValueError(f"Model {model.name!r} has no block {name!r}. Its blocks: {sorted(known)}")
        if known[name].kind == "plain" and not known[name].shape_preserving:
            raise ValueError(f"Plain block {name!r} changes the feature-map shape, so it has no identity to "
                             "replace it with; lesion a shape-preserving block instead.")
        chosen.append(known[name])
    merges = {b.merge_layer for b in chosen if b.kind == "residual"}
    plain_first = {b.first_layer: b.name for b in chosen if b.kind == "plain"}
    plain_out = {b.output_layer: b.name for b in chosen if b.kind == "plain"}
    stash = {}

    def call_function(layer, *args, **kwargs):
        if layer.name in merges:  # Add([shortcut, residual]) -> shortcut
            return args[0][0]
        if layer.name in plain_first:
            stash[plain_first[layer.name]] = args[0]
        output = layer(*args, **kwargs)
        if layer.name in plain_out:
            return stash[plain_out[layer.name]]
        return output

    return keras.models.clone_model(model, clone_function=lambda layer: layer, call_function=call_function)


def _accuracy(model, images, labels, batch_size):
    predictions = np.concatenate([keras.ops.convert_to_numpy(model(images[s:s + batch_size], training=False))
                                  for s in range(0, len(images), batch_size)])
    return float((predictions.argmax(-1) == labels).mean())


def lesion_study(model, images, labels, blocks=None, batch_size=128) -> dict:
    """Test accuracy with each block deleted in turn (Veit et al. 2016, Figure 3).

    Returns `dict(baseline=accuracy, rows=[dict(block, stage, kind, downsampling, accuracy, drop)],
    skipped=[plain blocks that change the shape])`; `drop` is baseline minus lesioned accuracy.
    """
    model = _check_model(model)
    images = _check_images(model, images)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`labels` must be {len(images)} integer class indices, one per image. "
                         f"Received {len(labels)} of dtype {labels.dtype}.")
    all_blocks = _require_blocks(model)
    selected = all_blocks if blocks is None else [b for b in all_blocks if b.name in set(blocks)]
    if blocks is not None and len(selected) != len(set(blocks)):
        missing = sorted(set(blocks) - {b.name for b in all_blocks})
        raise ValueError(f"Model {model.name!r} has no blocks {missing}. Its blocks: {[b.name for b in all_blocks]}")
    baseline = _accuracy(model, images, labels, batch_size)
    rows, skipped = [], []
    for block in selected:
        if block.kind == "plain" and not block.shape_preserving:
            skipped.append(block.name)
            continue
        accuracy = _accuracy(lesion(model, [block]), images, labels, batch_size)
        rows.append(dict(block=block.name, stage=block.stage, kind=block.kind, downsampling=not block.shape_preserving,
                         accuracy=accuracy, drop=baseline - accuracy))
    return dict(baseline=baseline, rows=rows, skipped=skipped, num_images=len(images))


# ----------------------------------------------------------------------------------------- attention
def attention_masks(model, images, batch_size=16) -> dict:
    """Soft masks of a Residual Attention network: `{layer name: (N, H, W) mask in [0, 1]}`, averaged over
    channels and resized to the input resolution, input to output."""
    model = _check_model(model)
    images = _check_images(model, images)
    names = [layer.name for layer in model.layers if layer.name.endswith("_mask_sigmoid")]
    if not names:
        raise ValueError(f"Model {model.name!r} has no attention soft masks (`*_mask_sigmoid` layers); "
                         "attention masks exist in the Residual Attention networks (attention56, attention92, ...).")
    probe = _submodel(model, [model.get_layer(n).output for n in names])
    size = _spatial_size(model)
    return {name: _resize(_nhwc(out).mean(-1), size) for name, out in zip(names, _run(probe, images, batch_size))}


# ---------------------------------------------------------------------------------------------- figures
def _figure(width, height):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError('The plots need matplotlib: pip install "keras-resnets[viz]" (or matplotlib).') from e
    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _check_png(path):
    if not os.fspath(path).lower().endswith(".png"):
        raise ValueError(f"Figures are written as PNG; the path must end in .png. Received: {os.fspath(path)!r}")


def _write_atomically(path, write):
    """`write(file)` into a new temporary file beside `path`, renamed onto `path` once complete.

    The temporary name is unique (`tempfile.mkstemp`), so no other file is touched; missing parent folders are
    created; on any error the temporary file is removed and `path` is as it was."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes it 0600; the result is an ordinary file
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _save(figure, path):
    path = os.fspath(path)
    _check_png(path)
    _write_atomically(path, lambda f: figure.savefig(f, format="png"))
    return path


def _show_image(ax, image, title):
    image = np.asarray(image, dtype="float32")
    low, high = float(image.min()), float(image.max())
    shown = (image - low) / (high - low) if high > low else np.zeros_like(image)
    if shown.shape[-1] == 1:
        ax.imshow(shown[..., 0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(shown[..., :3])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("x (px)", fontsize=8)
    ax.set_ylabel("y (px)", fontsize=8)
    ax.tick_params(labelsize=7)


def plot_feature_maps(maps, image, path, channels=8, title=None):
    """One row per layer: the image, then the `channels` most active channels of that layer for it.

    Args:
        maps: `feature_maps(model, image[None])` (only the first image is drawn).
        image: `(H, W, C)` the input image (raw pixels).
    """
    if channels < 1:
        raise ValueError(f"`channels` must be >= 1. Received: channels={channels!r}")
    rows = len(maps)
    figure = _figure(1.5 * (channels + 1) + 0.6, 1.55 * rows + 0.5)
    axes = figure.subplots(rows, channels + 1, squeeze=False)
    image = _nhwc(np.asarray(image)[None])[0]
    for row, (name, activations) in zip(axes, maps.items()):
        act = activations[0]
        _show_image(row[0], image, "input")
        order = np.argsort(act.mean(axis=(0, 1)))[::-1][:channels]
        vmax = float(act[..., order].max()) or 1.0
        shown = None
        for k, ax in enumerate(row[1:]):
            if k >= len(order):
                ax.axis("off")
                continue
            shown = ax.imshow(act[..., order[k]], cmap="viridis", vmin=min(0.0, float(act.min())), vmax=vmax)
            ax.set_title(f"{name}\nchannel {order[k]}" if k == 0 else f"channel {order[k]}", fontsize=8)
            ax.set_xlabel(f"x (of {act.shape[1]} px)", fontsize=7)
            ax.set_ylabel(f"y (of {act.shape[0]} px)", fontsize=7)
            ax.tick_params(labelsize=6)
        if shown is not None:
            figure.colorbar(shown, ax=row[1:].tolist(), shrink=0.8, label="activation (a.u.)")
    figure.suptitle(title or "Feature maps: the most active channels of each stage")
    return _save(figure, path)


def plot_grad_cam(images, heatmaps, path, classes=None, probabilities=None, labels=None, class_names=None,
                  title=None, alpha=0.5):
    """Each image above its Grad-CAM overlay."""
    images = _nhwc(np.asarray(images))
    count = len(images)
    figure = _figure(2.0 * count + 0.8, 4.4)
    axes = figure.subplots(2, count, squeeze=False)
    name = (lambda i: class_names[i] if class_names is not None else str(i))
    shown = None
    for i in range(count):
        truth = f"true: {name(int(labels[i]))}" if labels is not None else f"image {i}"
        _show_image(axes[0, i], images[i], truth)
        _show_image(axes[1, i], images[i], "")
        shown = axes[1, i].imshow(heatmaps[i], cmap="jet", alpha=alpha, vmin=0, vmax=1)
        if classes is not None:
            explained = f"class: {name(int(classes[i]))}"
            if probabilities is not None:
                explained += f"\np = {float(probabilities[i]):.2f}"
            axes[1, i].set_title(explained, fontsize=8)
    figure.colorbar(shown, ax=axes[1, :].tolist(), shrink=0.8, label="Grad-CAM (0-1, per image)")
    figure.suptitle(title or "Grad-CAM: where the evidence for the class is")
    return _save(figure, path)


def plot_refinement(stats, path, contrast=None, labels=("residual", "plain"), title=None):
    """Ratio ||F(x)||/||x|| and input/output cosine along the depth; `contrast` (e.g. the plain twin's
    statistics) is drawn on the same axes."""
    figure = _figure(max(6.0, 0.35 * len(stats) + 2), 6.0)
    ratio_ax, cosine_ax = figure.subplots(2, 1, sharex=True)
    for rows, label, marker in ((stats, labels[0], "o"), (contrast, labels[1], "s")):
        if not rows:
            continue
        x = np.arange(len(rows))
        ratio = np.array([r["ratio"] for r in rows])
        cosine = np.array([r["cosine"] for r in rows])
        ratio_ax.plot(x, ratio, marker=marker, label=label)
        cosine_ax.plot(x, cosine, marker=marker, label=label)
        down = np.array([r["downsampling"] for r in rows])
        if down.any():
            ratio_ax.scatter(x[down], ratio[down], s=120, facecolors="none", edgecolors="red", zorder=3)
            cosine_ax.scatter(x[down], cosine[down], s=120, facecolors="none", edgecolors="red", zorder=3)
    names = [r["block"] for r in stats]
    ratio_ax.set_yscale("log")
    ratio_ax.set_xlabel("block (input to output; names below)", fontsize=8)
    ratio_ax.set_ylabel("||F(x)|| / ||x||  (ratio, log scale)")
    ratio_ax.set_title("How much each block changes its input (red rings: down-sampling blocks)", fontsize=9)
    ratio_ax.legend(fontsize=8)
    cosine_ax.set_ylabel("cos(block input, output)")
    cosine_ax.set_xlabel("block (input to output)")
    cosine_ax.set_xticks(np.arange(len(names)), names, rotation=60, ha="right", fontsize=7)
    cosine_ax.set_ylim(min(-0.05, np.nanmin([r["cosine"] for r in stats + (contrast or [])]) - 0.05), 1.05)
    cosine_ax.legend(fontsize=8)
    figure.suptitle(title or "Residual refinement along the depth")
    return _save(figure, path)


def plot_receptive_fields(fields, path, title=None):
    """One panel per layer: the effective receptive field with its 90 % square, then radius against depth."""
    count = len(fields)
    figure = _figure(2.3 * (count + 1) + 0.5, 3.0)
    axes = figure.subplots(1, count + 1, squeeze=False)[0]
    for ax, (name, field) in zip(axes, fields.items()):
        erf = field["erf"]
        shown = ax.imshow(erf / max(float(erf.max()), _EPS), cmap="magma", vmin=0, vmax=1)
        cy, cx, r = erf.shape[0] // 2, erf.shape[1] // 2, field["radius"]
        from matplotlib.patches import Rectangle

        ax.add_patch(Rectangle((cx - r - 0.5, cy - r - 0.5), 2 * r + 1, 2 * r + 1, fill=False, ec="cyan", lw=1))
        ax.set_title(f"{name}\n{int(field['fraction'] * 100)}% within r = {r} px", fontsize=8)
        ax.set_xlabel("input x (px)", fontsize=8)
        ax.set_ylabel("input y (px)", fontsize=8)
        ax.tick_params(labelsize=7)
    figure.colorbar(shown, ax=axes[:count].tolist(), shrink=0.8, label="|gradient| (relative to peak)")
    radii = [f["radius"] for f in fields.values()]
    axes[-1].plot(range(count), radii, marker="o")
    axes[-1].set_xticks(range(count), list(fields), rotation=45, ha="right", fontsize=7)
    axes[-1].set_ylabel("radius holding 90% (input px)")
    axes[-1].set_xlabel("layer (input to output)")
    axes[-1].set_title("Local to global", fontsize=9)
    figure.suptitle(title or "Effective receptive field of the centre unit")
    return _save(figure, path)


def plot_lesions(study, path, contrast=None, labels=("residual", "plain"), title=None):
    """Accuracy drop (percentage points) per deleted block; `contrast` (another study) side by side."""
    studies = [(study, labels[0])] + ([(contrast, labels[1])] if contrast else [])
    blocks = []
    for result, _ in studies:
        blocks += [r["block"] for r in result["rows"] if r["block"] not in blocks]
    figure = _figure(max(6.0, 0.4 * len(blocks) + 2), 4.0)
    ax = figure.subplots()
    width = 0.8 / len(studies)
    x = np.arange(len(blocks))
    for k, (result, label) in enumerate(studies):
        drops = {r["block"]: 100 * r["drop"] for r in result["rows"]}
        down = {r["block"]: r["downsampling"] for r in result["rows"]}
        values = [drops.get(b, np.nan) for b in blocks]
        bars = ax.bar(x + (k - (len(studies) - 1) / 2) * width, values, width,
                      label=f"{label} (baseline {100 * result['baseline']:.1f}%)")
        for bar, block in zip(bars, blocks):
            if down.get(block):
                bar.set_hatch("//")
    ax.set_xticks(x, blocks, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("accuracy drop (percentage points)")
    ax.set_xlabel("deleted block (hatched: down-sampling)")
    ax.axhline(0, color="black", lw=0.5)
    ax.legend(fontsize=8)
    figure.suptitle(title or f"Lesion study: one block deleted at test time ({study['num_images']} images)")
    return _save(figure, path)


def plot_attention_masks(images, masks, path, title=None, alpha=0.55):
    """Each image, then its soft mask of every attention module overlaid.

    The channel-mean masks of a module span a narrow band of [0, 1], so each module's colours run from its
    own minimum to its maximum over the images shown (the range is in the column title)."""
    images = _nhwc(np.asarray(images))
    count, modules = len(images), len(masks)
    figure = _figure(1.9 * (modules + 1) + 0.8, 2.0 * count + 0.6)
    axes = figure.subplots(count, modules + 1, squeeze=False)
    shown = None
    for column, (name, mask) in enumerate(masks.items(), start=1):
        low, high = float(mask[:count].min()), float(mask[:count].max())
        for i in range(count):
            heading = f"{name.removesuffix('_mask_sigmoid')}\nM in [{low:.2f}, {high:.2f}]" if i == 0 else ""
            _show_image(axes[i, column], images[i], heading)
            shown = axes[i, column].imshow((mask[i] - low) / max(high - low, _EPS), cmap="jet", alpha=alpha,
                                           vmin=0, vmax=1)
    for i in range(count):
        _show_image(axes[i, 0], images[i], f"image {i}")
    figure.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), shrink=0.8,
                    label="soft mask M(x), channel mean (0 = module's min, 1 = max)")
    figure.suptitle(title or "Residual Attention: soft masks of each module")
    return _save(figure, path)


# ------------------------------------------------------------------------------------------ command line
def _load_model(spec, images_shape, classes, weights):
    import keras_resnets
    from keras_resnets.export import _is_model_file, _read_sidecar, load_keras_model

    if _is_model_file(spec):
        model = load_keras_model(spec)
        sidecar = os.path.join(os.path.dirname(os.path.abspath(spec)), "metadata.json")
        # Written by export_keras / training: the class names.
        known = _read_sidecar(sidecar) if os.path.isfile(sidecar) else {}
        return model, known.get("class_names")
    kwargs = {"weights": weights}
    if images_shape is not None:
        kwargs["input_shape"] = images_shape
    if classes:
        kwargs["classes"] = classes
    return keras_resnets.create_model(spec, **kwargs), None


def _num_classes(model):
    """The classes of a classifier with one `(N, classes)` output, else None."""
    shape = model.output_shape
    return shape[-1] if isinstance(shape, tuple) and len(shape) == 2 else None


FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def _data_file(path, kind):
    """`path`, or the Fashion-MNIST test file of `kind` ("images"/"labels") from the Debian package."""
    if path:
        return path
    for name in (f"t10k-{kind}-idx{3 if kind == 'images' else 1}-ubyte.gz",
                 f"t10k-{kind}-idx{3 if kind == 'images' else 1}-ubyte"):
        candidate = os.path.join(FASHION_MNIST_DIR, name)
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"No --{kind} given and the Fashion-MNIST test set is not in {FASHION_MNIST_DIR} "
                            "(apt-get install dataset-fashion-mnist, or pass a .npy / IDX file / image folder).")


def build_parser():
    from keras_resnets.export import EXIT_CODES, _int_at_least

    parser = argparse.ArgumentParser(
        prog="python -m keras_resnets.visualize",
        description="Pictures of what a residual network learned (PNG). The images default to the "
                    "Fashion-MNIST test set of the Debian package dataset-fashion-mnist.",
        epilog=EXIT_CODES.format(failed="e.g. matplotlib is missing", exists="without --overwrite") + " Missing "
               "parent folders of --out and --json are created; an output path that is a folder or a symbolic "
               "link is refused.")
    parser.add_argument("tool", choices=TOOLS)
    parser.add_argument("model", help="a .keras file or a registered model name (random weights unless --weights)")
    parser.add_argument("--out", required=True, help="the PNG to write (missing parent folders are created)")
    parser.add_argument("--images", help=".npy (N, H, W[, C]), IDX file or folder of images")
    parser.add_argument("--labels", help=".npy or IDX labels, one per image (grad-cam shows them; lesion needs "
                                         "them)")
    parser.add_argument("--count", type=_int_at_least(1), default=None,
                        help="images to use (default: 4 pictured, 1000 for refinement/receptive-field/lesion)")
    parser.add_argument("--layers", help="comma-separated layer names (feature-maps, receptive-field, grad-cam)")
    parser.add_argument("--class-index", type=_int_at_least(0),
                        help="the class to explain, below the model's number of classes (grad-cam; default: "
                             "the top one)")
    parser.add_argument("--method", choices=CAM_METHODS, default="gradcam")
    parser.add_argument("--contrast", help="a second model drawn on the same axes (refinement, lesion), e.g. the "
                                           "plain twin")
    parser.add_argument("--weights", default=None, help="weights for a registered model name (e.g. imagenet)")
    parser.add_argument("--classes", type=_int_at_least(1), help="classes for a registered model name")
    parser.add_argument("--json", help="also write the numbers as JSON here")
    parser.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's start-up log (hidden by default; errors always show)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing --out / --json files")
    return parser


def _check_arguments(args):
    """The checks that need no model: outputs first (nothing is loaded or written when they fail), then the
    options' fit to the tool and the data files. Returns (images path, labels path or None, labels needed)."""
    from keras_resnets.export import _is_model_file, check_output_file, check_same_length

    check_output_file(args.out, args.overwrite, "--out")
    _check_png(args.out)
    if args.json is not None:
        if os.path.abspath(args.json) == os.path.abspath(args.out):
            raise ValueError(f"--json and --out must be different files. Received: {args.json!r} for both")
        check_output_file(args.json, args.overwrite, "--json")
    if args.class_index is not None and args.tool != "grad-cam":
        raise ValueError(f"--class-index applies to grad-cam. Received: --class-index with {args.tool}")
    if args.contrast is not None and args.tool not in ("refinement", "lesion"):
        raise ValueError(f"--contrast applies to refinement and lesion. Received: --contrast with {args.tool}")
    registered = [spec for spec in (args.model, args.contrast) if spec is not None and not _is_model_file(spec)]
    given = [flag for flag, value in (("--weights", args.weights), ("--classes", args.classes)) if value]
    if given and not registered:
        raise ValueError(f"{', '.join(given)} apply to a registered model name; {args.model!r} is a model file "
                         "with its own weights and classes.")
    images = _data_file(args.images, "images")
    needs_labels = args.tool == "lesion" or (args.tool == "grad-cam" and (args.labels or not args.images))
    labels = _data_file(args.labels, "labels") if needs_labels else args.labels
    if labels is not None:  # also default Fashion-MNIST labels against the user's own images
        check_same_length(images, labels)
    return images, labels, needs_labels


def main(argv=None) -> int:
    """The command line; raises on errors (`_cli` turns them into one line and an exit code)."""
    args = build_parser().parse_args(argv)
    from keras_resnets.export import check_labels, load_images, load_labels

    images_path, labels_path, needs_labels = _check_arguments(args)
    pictured = args.tool in ("feature-maps", "grad-cam", "attention")
    count = args.count if args.count is not None else (4 if pictured else 1000)
    raw = load_images(images_path, _peek_shape(images_path), count) if not os.path.isdir(images_path) else None
    model, class_names = _load_model(args.model, None if raw is None else raw.shape[1:], args.classes, args.weights)
    images = raw if raw is not None else load_images(images_path, model.input_shape[1:], count)
    images = _check_images(model, images)
    classes = _num_classes(model)
    if classes is not None and args.class_index is not None and args.class_index >= classes:
        raise ValueError(f"--class-index must be below the model's {classes} classes (an integer in [0, {classes})). "
                         f"Received: {args.class_index}")
    if classes is not None and class_names is not None and len(class_names) != classes:
        raise ValueError(f"The metadata.json beside {args.model!r} names {len(class_names)} classes but the model "
                         f"has {classes}; fix its class_names.")
    labels = load_labels(labels_path, count) if needs_labels else None
    if labels is not None and classes is not None:
        check_labels(labels, classes, labels_path)
    layers = [n.strip() for n in args.layers.split(",") if n.strip()] if args.layers else None
    if args.tool == "feature-maps":
        maps = feature_maps(model, images[:1], layers)
        numbers = {name: {"shape": list(m.shape[1:]), "mean": float(m.mean())} for name, m in maps.items()}
        draw = lambda: plot_feature_maps(maps, images[0], args.out, title=f"Feature maps of {model.name}")
    elif args.tool == "grad-cam":
        cams, chosen, probabilities = grad_cam(model, images, args.class_index, layers[0] if layers else None,
                                               args.method)
        numbers = {"classes": chosen.tolist(), "probabilities": probabilities.tolist()}
        draw = lambda: plot_grad_cam(
            images, cams, args.out, chosen, probabilities, labels, class_names,
            title=f"{'Grad-CAM++' if args.method == 'gradcam++' else 'Grad-CAM'} of {model.name}")
    elif args.tool == "refinement":
        other = _load_model(args.contrast, images.shape[1:], args.classes, args.weights)[0] if args.contrast else None
        stats = refinement_statistics(model, images)
        contrast = refinement_statistics(other, images) if other is not None else None
        numbers = {"model": stats, "contrast": contrast}
        draw = lambda: plot_refinement(stats, args.out, contrast,
                                       labels=(model.name, other.name if other is not None else ""),
                                       title=f"Residual refinement of {model.name} ({len(images)} images)")
    elif args.tool == "receptive-field":
        fields = effective_receptive_field(model, images, layers)
        numbers = {n: {k: v for k, v in f.items() if k != "erf"} for n, f in fields.items()}
        draw = lambda: plot_receptive_fields(fields, args.out, title=f"Effective receptive fields of {model.name} "
                                                                     f"({len(images)} images)")
    elif args.tool == "lesion":
        other = _load_model(args.contrast, images.shape[1:], args.classes, args.weights)[0] if args.contrast else None
        if other is not None and _num_classes(other) is not None:
            check_labels(labels, _num_classes(other), labels_path)
        study = lesion_study(model, images, labels)
        contrast = lesion_study(other, images, labels) if other is not None else None
        numbers = {"model": study, "contrast": contrast}
        draw = lambda: plot_lesions(study, args.out, contrast,
                                    labels=(model.name, other.name if other is not None else ""))
    else:
        masks = attention_masks(model, images)
        numbers = {name: {"mean": float(m.mean()), "min": float(m.min()), "max": float(m.max())}
                   for name, m in masks.items()}
        draw = lambda: plot_attention_masks(images, masks, args.out, title=f"Soft attention masks of {model.name}")
    text = json.dumps(numbers, indent=2, default=str) if args.json else None  # fails before anything is written
    draw()
    if text is not None:
        _write_atomically(args.json, lambda f: f.write(text.encode()))
    print(f"Wrote {os.path.abspath(args.out)}" + (f" and {os.path.abspath(args.json)}" if text else ""))
    return 0


def _peek_shape(path):
    """The (H, W, C) of the images in a .npy or IDX file (a folder takes the model's size instead)."""
    from keras_resnets.export import _image_array

    array = _image_array(path, mmap=True)
    if array.ndim not in (3, 4):
        raise ValueError(f"Images in {path!r} must be an array (N, H, W) or (N, H, W, C). Received shape "
                         f"{array.shape}.")
    return tuple(array.shape[1:]) if array.ndim == 4 else (*array.shape[1:], 1)


def _cli(argv=None) -> int:
    from keras_resnets.export import run_cli

    return run_cli(main, argv, failures=(ImportError,))


if __name__ == "__main__":
    sys.exit(_cli())
