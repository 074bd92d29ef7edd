"""The numbers behind the pictures: feature maps, Grad-CAM, residual refinement, effective receptive fields,
lesions and attention masks (the package docstring defines each).

Every function takes a model and raw images in its input layout and returns numpy arrays or lists of dicts;
none needs more than Keras (the figures are in `keras_resnets.visualize.plots`).
"""

from __future__ import annotations

import keras
from keras_resnets._common import deep_recursion
import numpy as np

from keras_resnets.visualize.probe import (
    EPS,
    Block,
    channels_last,
    check_images,
    check_model,
    find_blocks,
    get_layer,
    input_gradient,
    require_blocks,
    resize_maps,
    run_batches,
    spatial_size,
    stage_outputs,
    submodel,
    to_nhwc,
)

CAM_METHODS = ("gradcam", "gradcam++")


# ------------------------------------------------------------------------------------------ feature maps
def feature_maps(model, images, layers=None, batch_size=32) -> dict:
    """Activations of `layers` (default: `stage_outputs(model)`) as `{name: (N, H, W, C) array}`."""
    model = check_model(model)
    images = check_images(model, images)
    names = list(layers) if layers else stage_outputs(model)
    probe = submodel(model, [get_layer(model, n).output for n in names])
    return {name: to_nhwc(out) for name, out in zip(names, run_batches(probe, images, batch_size))}


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


def _explained_classes(logits, class_index):
    """The class to explain per image: each top prediction, or `class_index` (one int or one per image)."""
    count, classes = logits.shape
    if class_index is None:
        return logits.argmax(-1)
    chosen = np.broadcast_to(np.asarray(class_index), (count,)) if np.ndim(class_index) == 0 \
        else np.asarray(class_index)
    if chosen.shape != (count,) or not np.issubdtype(chosen.dtype, np.integer) \
            or chosen.min() < 0 or chosen.max() >= classes:
        raise ValueError(f"`class_index` must be None, an int in [0, {classes}) or {count} such ints. "
                         f"Received: class_index={class_index!r}")
    return chosen


def _channel_weights(acts, grads, method):
    """(N, K) weights of the K feature maps: pooled gradients, or Grad-CAM++'s positive-gradient weighting."""
    if method == "gradcam":
        return grads.mean(axis=(1, 2))  # (N, K): global-average-pooled gradients
    # Grad-CAM++ closed form (exponential score): alpha = g^2 / (2 g^2 + sum_ab A g^3)
    g2, g3 = grads ** 2, grads ** 3
    denominator = 2 * g2 + acts.sum(axis=(1, 2), keepdims=True) * g3
    alpha = np.where(np.abs(denominator) > EPS, g2 / np.where(np.abs(denominator) > EPS, denominator, 1), 0)
    return (alpha * np.maximum(grads, 0)).sum(axis=(1, 2))


def _normalized_cams(acts, weights, size):
    """ReLU of the weighted feature maps at the input resolution, scaled to [0, 1] per image."""
    cams = np.maximum(np.einsum("nhwk,nk->nhw", acts, weights), 0)
    cams = np.maximum(resize_maps(cams, size), 0)
    peak = cams.reshape(len(cams), -1).max(-1)
    return cams / np.where(peak > 0, peak, 1)[:, None, None]


def _split_at(model, layer):
    """(the model up to `layer`, the head from `layer`'s output to the pre-logits, fn to the logits)."""
    target = get_layer(model, layer).output
    pre_logits, to_logits = _logits_fn(model)
    try:
        head = keras.Model(target, pre_logits)
    except ValueError as e:
        raise ValueError(f"Layer {layer!r} does not separate the input from the output of {model.name!r} (a "
                         "shortcut skips over it); choose a block or stage output such as "
                         f"{stage_outputs(model)[-2:]}.") from e
    return submodel(model, target), head, to_logits


def grad_cam(model, images, class_index=None, layer=None, method="gradcam", *, batch_size=16):
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
    model = check_model(model)
    images = check_images(model, images)
    if method not in CAM_METHODS:
        raise ValueError(f"`method` must be one of {CAM_METHODS}. Received: method={method!r}")
    body, head, to_logits = _split_at(model, layer or stage_outputs(model)[-1])
    activations = run_batches(body, images, batch_size)[0]
    batches = range(0, len(images), batch_size)
    logits = np.concatenate([keras.ops.convert_to_numpy(to_logits(head(activations[s:s + batch_size],
                                                                          training=False)))
                             for s in batches])
    chosen = _explained_classes(logits, class_index)
    onehot = np.eye(logits.shape[-1], dtype="float32")[chosen]
    grads = np.concatenate([
        input_gradient(lambda a, oh=onehot[s:s + batch_size]: to_logits(head(a, training=False)) * oh,
                       activations[s:s + batch_size])
        for s in batches])
    acts, grads = to_nhwc(activations), to_nhwc(grads)
    cams = _normalized_cams(acts, _channel_weights(acts, grads, method), spatial_size(model))
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    return cams.astype("float32"), chosen.astype("int64"), probabilities[np.arange(len(images)), chosen]


# ------------------------------------------------------------------------------------------- refinement
def _per_image(array):
    return array.reshape(len(array), -1).astype("float64")


def _cosine(a, b):
    a, b = _per_image(a), _per_image(b)
    return (a * b).sum(-1) / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), EPS)


def _norm_ratio(numerator, denominator):
    return np.linalg.norm(_per_image(numerator), axis=-1) / np.maximum(
        np.linalg.norm(_per_image(denominator), axis=-1), EPS)


def _block_change(block, outs, slot):
    """(ratio, cosine) per image of one block, from its tensors at `outs[slot:]` (input, output[, shortcut,
    residual])."""
    x_in, x_out = outs[slot], outs[slot + 1]
    if block.kind == "residual":
        shortcut, residual = outs[slot + 2], outs[slot + 3]
        return _norm_ratio(residual, shortcut), _cosine(x_in if block.shape_preserving else shortcut, x_out)
    if block.shape_preserving:
        return _norm_ratio(x_out - x_in, x_in), _cosine(x_in, x_out)
    nothing = np.full(len(x_in), np.nan)
    return nothing, nothing


def refinement_statistics(model, images, batch_size=32) -> list[dict]:
    """Per block, input to output: how much the residual branch changes its input (see the package docstring).

    Returns a list of dicts: `block`, `stage`, `kind` ("residual"/"plain"), `downsampling` (bool),
    `ratio` and `ratio_std` (||F(x)|| / ||x|| over the images), `cosine` and `cosine_std`; values that do
    not exist (a plain block that changes the shape) are NaN.
    """
    model = check_model(model)
    images = check_images(model, images)
    blocks = require_blocks(model)
    tensors, slots = [], []
    for block in blocks:
        block_input, output, shortcut, residual = block.tensors(model)
        slots.append(len(tensors))
        tensors += [block_input, output] + ([shortcut, residual] if block.kind == "residual" else [])
    probe = submodel(model, tensors)
    changes = [[] for _ in blocks]
    for start in range(0, len(images), batch_size):
        outs = [keras.ops.convert_to_numpy(o) for o in probe(images[start:start + batch_size], training=False)]
        for i, (block, slot) in enumerate(zip(blocks, slots)):
            changes[i].append(_block_change(block, outs, slot))
    rows = []
    for block, change in zip(blocks, changes):
        ratio, cosine = (np.concatenate(parts) for parts in zip(*change))
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


def _receptive_field(model, images, name, *, fraction, batch_size):
    """`effective_receptive_field`'s dict for the layer `name`."""
    output = get_layer(model, name).output
    if len(output.shape) != 4:
        raise ValueError(f"Layer {name!r} outputs shape {tuple(output.shape)}; receptive fields need a 4-D "
                         "feature map.")
    probe = submodel(model, output)
    size = spatial_size(model)
    fmap = tuple(output.shape[1:3]) if channels_last() else tuple(output.shape[2:4])
    cy, cx = fmap[0] // 2, fmap[1] // 2

    def centre(x):
        out = probe(x, training=False)
        return out[:, cy, cx, :] if channels_last() else out[:, :, cy, cx]

    total = np.zeros(size, dtype="float64")
    for start in range(0, len(images), batch_size):
        grads = to_nhwc(input_gradient(centre, images[start:start + batch_size]))
        total += np.abs(grads).sum(axis=(0, 3))
    erf = total / max(total.sum(), EPS)
    support = np.argwhere(erf > 0)
    centre_px = (size[0] // 2, size[1] // 2)
    support_radius = int(np.max(np.abs(support - np.asarray(centre_px)))) if len(support) else 0
    return dict(erf=erf.astype("float32"), radius=_mass_radius(erf, fraction), support_radius=support_radius,
                centre=(cy, cx), stride=(size[0] / fmap[0], size[1] / fmap[1]), fraction=fraction)


def effective_receptive_field(model, images, layers=None, fraction=0.9, batch_size=16) -> dict:
    """Effective receptive fields of `layers` (default: every `stage_outputs(model)`).

    Returns `{name: dict(erf=(H, W) map summing to 1, radius=int, support_radius=int, centre=(row, col) of the
    unit in its own feature map, stride=(sy, sx) input pixels per feature-map pixel)}`. `support_radius` is
    the half-width of the square holding every nonzero gradient (bounded by the theoretical receptive field).
    """
    model = check_model(model)
    images = check_images(model, images)
    if not 0 < fraction <= 1:
        raise ValueError(f"`fraction` must be in (0, 1]. Received: fraction={fraction!r}")
    names = list(layers) if layers else stage_outputs(model)
    spatial_size(model)  # a model of any input size is refused before the first layer's work
    return {name: _receptive_field(model, images, name, fraction=fraction, batch_size=batch_size)
            for name in names}


# ------------------------------------------------------------------------------------------------ lesions
def _chosen_blocks(model, blocks):
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
    return chosen


def lesion(model, blocks) -> keras.Model:
    """A copy of `model` (sharing its weights) with the given blocks deleted at test time.

    Args:
        blocks: block names (`"conv3_block2"`) or `Block`s from `find_blocks(model)`. A residual block keeps
            only its shortcut; a plain block becomes the identity (only where its shape does not change).
    """
    chosen = _chosen_blocks(model, blocks)
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

    with deep_recursion():  # cloning walks the graph recursively (ResNet-1202)
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
    model = check_model(model)
    images = check_images(model, images)
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`labels` must be {len(images)} integer class indices, one per image. "
                         f"Received {len(labels)} of dtype {labels.dtype}.")
    all_blocks = require_blocks(model)
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
    model = check_model(model)
    images = check_images(model, images)
    names = [layer.name for layer in model.layers if layer.name.endswith("_mask_sigmoid")]
    if not names:
        raise ValueError(f"Model {model.name!r} has no attention soft masks (`*_mask_sigmoid` layers); "
                         "attention masks exist in the Residual Attention networks (attention56, attention92, ...).")
    probe = submodel(model, [model.get_layer(n).output for n in names])
    size = spatial_size(model)
    outputs = run_batches(probe, images, batch_size)
    return {name: resize_maps(to_nhwc(out).mean(-1), size) for name, out in zip(names, outputs)}
