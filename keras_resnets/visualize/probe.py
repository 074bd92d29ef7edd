"""Looking into a model: checking it and its images, naming its layers, running parts of it, and finding the
residual and plain blocks on its main path (the package docstring says how blocks are found).

The analysis tools (`keras_resnets.visualize.analysis`) are built from these pieces; the figures use
`to_nhwc` and `EPS`. Arrays come back as numpy in the `(N, H, W, C)` layout whatever the model's data format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import keras
import numpy as np

_BLOCK_OUT = re.compile(r"^(?P<block>(?P<stage>[^_]+)_.*block\d+)_out$")
EPS = 1e-12


def channels_last() -> bool:
    """Whether Keras builds models channels-last (the layout of their inputs and feature maps)."""
    return keras.config.image_data_format() == "channels_last"


def to_nhwc(array):
    """A 4-D array in the model's layout as (N, H, W, C)."""
    array = np.asarray(array)
    return array if channels_last() or array.ndim != 4 else np.moveaxis(array, 1, -1)


def check_model(model):
    """`model` when it is a keras.Model with one input; a TypeError or ValueError otherwise."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model (create_model(...) or a loaded .keras file). Received: {model!r}")
    if len(model.inputs) != 1:
        raise ValueError(f"The visualization tools take single-input image models; {model.name!r} has "
                         f"{len(model.inputs)} inputs.")
    return model


def check_images(model, images):
    """Images as a float32 batch matching the model's input shape.

    Takes a batch `(N, H, W, C)`, one image `(H, W, C)`, and for one-channel models also `(N, H, W)` or
    `(H, W)` (the channel axis is added)."""
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.number):
        raise TypeError(f"`images` must be a numeric array. Received dtype {images.dtype}.")
    expected = tuple(model.input_shape[1:])
    fits = lambda shape: len(shape) == len(expected) and all(e is None or e == s for e, s in zip(expected, shape))
    one_channel = expected[-1] == 1 if channels_last() else expected[0] == 1
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


def get_layer(model, name):
    """`model.get_layer(name)`, with the layers of similar names in the error when there is none."""
    try:
        return model.get_layer(name)
    except ValueError:
        close = [n for n in (layer.name for layer in model.layers) if name in n][:8]
        raise ValueError(f"Model {model.name!r} has no layer {name!r}"
                         + (f"; layers with that in their name: {close}." if close else ".")) from None


def submodel(model, outputs):
    """A model from `model`'s input to `outputs` (tensors of its graph), sharing its weights."""
    return keras.Model(model.inputs[0], outputs, name=f"{model.name}_probe")


def run_batches(model, images, batch_size):
    """`model` on `images` in batches (inference mode); numpy, a list per output if several."""
    results = []
    for start in range(0, len(images), batch_size):
        out = model(images[start:start + batch_size], training=False)
        results.append([keras.ops.convert_to_numpy(o) for o in (out if isinstance(out, (list, tuple)) else [out])])
    return [np.concatenate(parts) for parts in zip(*results)]


def input_gradient(fn, x):
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


def resize_maps(maps, size):
    """(N, h, w) maps resized bilinearly to (N, *size)."""
    resized = keras.ops.image.resize(maps[..., None].astype("float32"), size, interpolation="bilinear",
                                     data_format="channels_last")
    return keras.ops.convert_to_numpy(resized)[..., 0]


def spatial_size(model):
    """The model's fixed input (height, width); a model that takes any size is a ValueError."""
    shape = model.input_shape[1:3] if channels_last() else model.input_shape[2:4]
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
    """The residual and plain blocks on a model's main path, input to output (see the package docstring)."""
    check_model(model)
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


def require_blocks(model):
    """`find_blocks(model)`, where a model without blocks (a DenseNet) is a ValueError."""
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
    check_model(model)
    last_at = {}
    for layer in model.layers:
        shape = getattr(layer, "output", None)
        shape = getattr(shape, "shape", None)
        if shape is None or len(shape) != 4 or isinstance(layer, (keras.layers.ZeroPadding2D, keras.layers.InputLayer)):
            continue
        if "_mask_" in layer.name:
            continue
        size = tuple(shape[1:3]) if channels_last() else tuple(shape[2:4])
        last_at.pop(size, None)  # re-insert: dict order follows the last layer at each size
        last_at[size] = layer.name
    if not last_at:
        raise ValueError(f"Model {model.name!r} has no 4-D feature maps to show.")
    names = list(last_at.values())
    order = {layer.name: i for i, layer in enumerate(model.layers)}
    return sorted(names, key=order.__getitem__)
