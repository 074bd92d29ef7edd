"""PyTorch state dicts as NumPy arrays, and their tensors in Keras' layouts.

`read_state_dict` reads a `.safetensors` file with the `safetensors` package (no torch needed) or a `.pth` /
`.pt` / `.bin` file with torch (only then is torch imported). The layout helpers turn a PyTorch tensor into
the array a Keras variable holds:

- `Conv2d.weight` (out, in / groups, kh, kw) -> `Conv2D.kernel` (kh, kw, in / groups, out); a grouped
  convolution needs nothing more, because Keras' grouped `Conv2D` keeps the same per-group slices in the
  same order.
- a depthwise `Conv2d.weight` (in * multiplier, 1, kh, kw) -> `DepthwiseConv2D.kernel` (kh, kw, in, multiplier).
- `Linear.weight` (out, in) -> `Dense.kernel` (in, out).
- biases and BatchNorm tensors unchanged.
"""

import os

import numpy as np

SAFETENSORS_SUFFIXES = (".safetensors",)
TORCH_SUFFIXES = (".pth", ".pt", ".bin")
# Where whole training checkpoints keep the weights (timm's train script, torchvision's references, Lightning).
_NESTED_KEYS = ("state_dict", "model", "state_dict_ema", "model_ema")
# What DataParallel / DistributedDataParallel and torch.compile put in front of every key.
_WRAPPER_PREFIXES = ("module.", "_orig_mod.")


def read_state_dict(path):
    """A PyTorch checkpoint file as `{name: numpy array}`, float32 for floating-point tensors.

    Args:
        path: str or path-like, a `.safetensors` file (read without torch) or a `.pth` / `.pt` / `.bin` file
            (read with `torch.load(..., weights_only=True)`; needs torch installed). A checkpoint that nests
            its weights under "state_dict" / "model" is unwrapped, and "module." prefixes are removed.

    Returns:
        dict of str to `np.ndarray`.

    Example:
    ```python
    state = read_state_dict("resnet50.safetensors")
    state["conv1.weight"].shape  # (64, 3, 7, 7)
    ```
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"`path` is not a file. Received: path={path!r}")
    if path.endswith(SAFETENSORS_SUFFIXES):
        return _clean(_read_safetensors(path))
    if path.endswith(TORCH_SUFFIXES):
        return _clean(_read_torch(path))
    raise ValueError(
        f"`path` must end in one of {SAFETENSORS_SUFFIXES + TORCH_SUFFIXES}. Received: path={path!r}"
    )


def _read_safetensors(path):
    try:
        from safetensors import safe_open
    except ImportError as error:
        raise ImportError(
            f"Reading {path!r} needs the `safetensors` package: `pip install safetensors`."
        ) from error
    try:
        with safe_open(path, framework="numpy") as f:
            return {key: f.get_tensor(key) for key in f.keys()}
    except TypeError:
        # bfloat16 has no NumPy dtype; torch reads it where it is installed.
        return _read_safetensors_with_torch(path)


def _read_safetensors_with_torch(path):
    try:
        from safetensors.torch import load_file
    except ImportError as error:
        raise ImportError(f"{path!r} holds bfloat16 tensors, which only torch can read: `pip install torch`.") \
            from error
    return {key: _torch_to_numpy(value) for key, value in load_file(path, device="cpu").items()}


def _read_torch(path):
    try:
        import torch
    except ImportError as error:
        raise ImportError(
            f"Reading {path!r} needs torch (`pip install torch`); a `.safetensors` file needs only "
            "`safetensors`."
        ) from error
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    for key in _NESTED_KEYS:
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get(key), dict):
            checkpoint = checkpoint[key]
            break
    if not isinstance(checkpoint, dict):
        raise ValueError(f"{path!r} does not hold a state dict. Received a {type(checkpoint).__name__}.")
    return {key: _torch_to_numpy(value) for key, value in checkpoint.items() if hasattr(value, "detach")}


def as_numpy_state(state):
    """An in-memory state dict (torch tensors or arrays) as `read_state_dict` returns a file's."""
    return _clean({key: _torch_to_numpy(value) if hasattr(value, "detach") else value for key, value in state.items()})


def _torch_to_numpy(tensor):
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point():
        tensor = tensor.float()
    return tensor.numpy()


def _clean(state):
    """Wrapper prefixes removed, floating-point arrays as float32."""
    out = {}
    for key, value in state.items():
        for prefix in _WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
        value = np.asarray(value)
        out[key] = value.astype(np.float32) if _is_float(value.dtype) else value
    return out


def _is_float(dtype):
    # ml_dtypes' bfloat16 (NumPy reads it once TensorFlow or JAX is imported) is no np.floating subtype.
    return np.issubdtype(dtype, np.floating) or dtype.name.startswith(("bfloat16", "float8"))


def conv_kernel(weight):
    """A PyTorch `Conv2d.weight` (out, in / groups, kh, kw) as a Keras `Conv2D.kernel` (kh, kw, in / groups, out)."""
    return np.transpose(weight, (2, 3, 1, 0))


def depthwise_kernel(weight, multiplier=1):
    """A depthwise PyTorch `Conv2d.weight` (in * m, 1, kh, kw) as a Keras `DepthwiseConv2D.kernel` (kh, kw, in, m).

    PyTorch orders the in * m output channels input-major (input channel c's m filters are c*m ... c*m + m - 1),
    as Keras' last two kernel axes do.
    """
    out_channels, _, kh, kw = weight.shape
    return np.transpose(weight.reshape(out_channels // multiplier, multiplier, kh, kw), (2, 3, 0, 1))


def dense_kernel(weight):
    """A PyTorch `Linear.weight` (out, in) as a Keras `Dense.kernel` (in, out)."""
    return np.transpose(weight)
