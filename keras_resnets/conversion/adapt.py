"""A pretrained checkpoint on a model that differs from it in input channels or classes (transfer learning).

- `adapt_input_conv(weight, in_channels)`: timm's rule (`timm/models/_manipulate.py`, `adapt_input_conv`) for
  a first convolution trained on RGB: one channel gets the sum of the three RGB kernels (a grey image then
  gives the activations its RGB copy gave); other counts repeat the RGB kernels cyclically and scale them by
  3 / channels (so the expected activation over channels keeps its size).
- `load_pretrained(model, source, include_top=...)`: `load_state_dict` after adapting the stem convolution to
  the model's input channels and leaving out the checkpoint's classifier where the model's head differs from
  it (another number of classes, or none in the checkpoint): everything else loads exactly, or nothing does.

Example:
```python
model = keras_resnets.create_model("resnet18", classes=5, input_shape=(96, 96, 1))
load_pretrained(model, "resnet18.a1_in1k.safetensors")   # a summed grey stem and a fresh 5-class head
```
"""

import math

import numpy as np

from keras_resnets.conversion import timm_names
from keras_resnets.conversion.load import checkpoint_keys, load_state_dict
from keras_resnets.conversion.state_dict import as_numpy_state, read_state_dict

# Our stem convolutions, the only ones that see the image: the plain stem's, the deep stem's first.
INPUT_CONVS = ("conv1_conv", "conv1_1_conv")
_RGB = 3


def adapt_input_conv(weight, in_channels):
    """An RGB convolution kernel in PyTorch's layout (out, 3, kh, kw) for `in_channels` input channels.

    Args:
        weight: array (out, 3, kh, kw), a PyTorch `Conv2d.weight` trained on RGB images.
        in_channels: int >= 1, the channels of the new input.

    Returns:
        float32 array (out, in_channels, kh, kw): the kernel unchanged for 3, the RGB kernels summed for 1,
        otherwise the RGB kernels repeated (R, G, B, R, ...) and scaled by 3 / in_channels.

    Example:
    ```python
    adapt_input_conv(np.ones((64, 3, 7, 7)), 1)[0, 0, 0, 0]   # 3.0
    ```
    """
    if isinstance(in_channels, bool) or not isinstance(in_channels, int) or in_channels < 1:
        raise ValueError(f"`in_channels` must be an integer >= 1. Received: in_channels={in_channels!r}")
    weight = np.asarray(weight, dtype=np.float32)
    if weight.ndim != 4 or weight.shape[1] != _RGB:
        raise ValueError(f"`weight` must be an RGB convolution kernel (out, 3, kh, kw). Received: "
                         f"weight.shape={weight.shape}")
    if in_channels == _RGB:
        return weight
    if in_channels == 1:
        return weight.sum(axis=1, keepdims=True)
    repeat = math.ceil(in_channels / _RGB)
    return np.tile(weight, (1, repeat, 1, 1))[:, :in_channels] * np.float32(_RGB / in_channels)


def _input_conv_key(rows, state):
    """(our stem convolution's kernel shape, its checkpoint key), or None where neither stem is in `rows`."""
    for layer, name, variable, key in rows:
        if layer.name in INPUT_CONVS and name == "kernel" and key in state:
            return tuple(variable.shape), key
    return None


def adapt_state(model, state, *, include_top=True):
    """`state` made to fit `model`'s input channels, and whether its classifier fits `model`'s head.

    Args:
        model: a model of ours with a timm counterpart.
        state: dict, a NumPy state dict (timm / torchvision names).
        include_top: bool, whether the model was built with its classifier.

    Returns:
        (state, include_classifier): a new dict with the stem convolution adapted (`adapt_input_conv`) where
        the model's input has other than 3 channels, and whether to load the checkpoint's classifier: only
        with `include_top`, when the checkpoint has one of the model's number of classes.
    """
    family, rows = checkpoint_keys(model)
    state = dict(state)
    found = _input_conv_key(rows, state)
    if found is not None:
        kernel_shape, key = found
        channels = kernel_shape[2]
        if state[key].ndim == 4 and state[key].shape[1] == _RGB and channels != _RGB:
            state[key] = adapt_input_conv(state[key], channels)
    return state, include_top and _classifier_fits(model, family, state)


def _classifier_fits(model, family, state):
    """Whether the checkpoint has a classifier with as many classes as `model`'s `predictions` layer."""
    weight = state.get(f"{timm_names.CLASSIFIER_PREFIXES[family]}.weight")
    try:
        classes = model.get_layer(timm_names.CLASSIFIER_LAYER).units
    except ValueError:  # no head
        return False
    return weight is not None and weight.ndim == 2 and weight.shape[0] == classes


def load_pretrained(model, source, *, include_top=True):
    """Loads a timm / torchvision checkpoint into `model` for transfer learning, exactly or not at all.

    The stem convolution is adapted to the model's input channels (`adapt_input_conv`); the checkpoint's
    classifier is loaded only where `include_top` and its number of classes is the model's, otherwise the
    model keeps its own freshly initialised head. Everything else must map exactly (`load_state_dict`).

    Args:
        model: a `keras.Model` of ours with a timm counterpart (see `TIMM_VARIANTS`).
        source: a `{name: array}` state dict or a `.safetensors` / `.pth` path.
        include_top: bool, whether the model has a classifier that may take the checkpoint's.

    Returns:
        `model`.

    Raises:
        ConversionError: a `ValueError` listing what is left over on each side; nothing is loaded.
    """
    state = as_numpy_state(source) if isinstance(source, dict) else read_state_dict(source)
    state, include_classifier = adapt_state(model, state, include_top=include_top)
    return load_state_dict(model, state, include_classifier=include_classifier)
