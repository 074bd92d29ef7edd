"""Weight files: where keras.applications publishes the drop-ins' ImageNet weights, and loading a file.

A registered variant's `ModelSpec.imagenet_weights` is an `ImageNetWeights` from `keras_applications_weights`;
`imagenet_weights_path` downloads (hash-checked) or finds it in Keras' cache, and `load_weights_file` loads a
user's file with one clear error for every way that can fail (a timm / torchvision checkpoint through
`keras_resnets.conversion`, imported only then). Hub ids are resolved to files by `keras_resnets.pretrained`.
This module imports nothing else of the package at import time, so the registry and the builders can both use it.
"""

import dataclasses
import os
import socket

import keras

# PyTorch checkpoints (timm / torchvision state dicts), mapped onto the model by keras_resnets.conversion.
TORCH_WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt")
WEIGHT_FILE_SUFFIXES = (".keras", ".weights.h5", ".h5") + TORCH_WEIGHT_SUFFIXES
_DOWNLOAD_TIMEOUT_S = 10

# keras.applications' weight files: key -> (folder, include_top hash, notop hash), as published in
# keras/src/applications/resnet.py and densenet.py.
KERAS_APPLICATIONS_FILES = {
    "resnet50": ("resnet", "2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("resnet", "f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("resnet", "100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("resnet", "3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("resnet", "6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("resnet", "a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
    "densenet121": ("densenet", "9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
    "densenet169": ("densenet", "d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
    "densenet201": ("densenet", "1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1"),
}


@dataclasses.dataclass(frozen=True)
class ImageNetWeights:
    """Where keras.applications publishes a model's ImageNet weights (legacy Keras `.h5` files)."""

    base_url: str
    file_top: str
    hash_top: str
    file_notop: str
    hash_notop: str


def keras_applications_weights(key):
    """keras.applications' published weight files for `key` ("resnet50", "resnet50v2", "densenet121", ...).

    Args:
        key: str, a key of `KERAS_APPLICATIONS_FILES` (keras.applications' own model name).

    Returns:
        An `ImageNetWeights`.
    """
    folder, hash_top, hash_notop = KERAS_APPLICATIONS_FILES[key]
    return ImageNetWeights(
        base_url=f"https://storage.googleapis.com/tensorflow/keras-applications/{folder}/",
        file_top=f"{key}_weights_tf_dim_ordering_tf_kernels.h5",
        hash_top=hash_top,
        file_notop=f"{key}_weights_tf_dim_ordering_tf_kernels_notop.h5",
        hash_notop=hash_notop,
    )


def imagenet_weights_path(info: ImageNetWeights, include_top: bool) -> str:
    """The cached keras.applications weight file, downloaded (hash-checked) if missing.

    Fails within seconds without network, with a message saying where to put the file.
    """
    fname, file_hash = (info.file_top, info.hash_top) if include_top else (info.file_notop, info.hash_notop)
    cache_dir = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    origin = info.base_url + fname
    old_timeout = socket.getdefaulttimeout()
    socket.setdefaulttimeout(_DOWNLOAD_TIMEOUT_S)
    try:
        return keras.utils.get_file(fname, origin, cache_subdir="models", file_hash=file_hash, cache_dir=cache_dir)
    except Exception as err:  # get_file wraps URL and hash errors in a bare Exception.
        target = os.path.join(cache_dir, "models", fname)
        raise RuntimeError(
            f"Could not get the ImageNet weights file {fname!r} from {origin} ({err}). Without network, "
            f"download it elsewhere and place it at {target} (it is checked against hash {file_hash}), "
            "or pass `weights=<path to a .keras/.weights.h5/.h5 file>`."
        ) from err
    finally:
        socket.setdefaulttimeout(old_timeout)


def load_weights_file(model, weights, *, include_top=True, hint=""):
    """`model.load_weights(weights)`, every failure one `ValueError` naming the file and the reason.

    Keras raises OSError (not HDF5), BadZipFile (not a `.keras` archive) or a multi-line ValueError (another
    architecture) without the path. A PyTorch checkpoint (`TORCH_WEIGHT_SUFFIXES`) is mapped onto the model by
    `keras_resnets.conversion.load_pretrained`: its stem adapted to the model's input channels, its classifier
    loaded only with `include_top` and the same number of classes (else the model keeps a fresh head); `hint`
    is added to its error."""
    path = os.fspath(weights)
    if path.endswith(TORCH_WEIGHT_SUFFIXES):
        from keras_resnets.conversion import load_pretrained  # imported here: it reads safetensors / torch files

        try:
            load_pretrained(model, path, include_top=include_top)
        except ValueError as err:  # ConversionError: what is left over on each side
            raise ValueError(f"Could not load `weights` file {path!r} into {model.name!r}: {err}{hint}") from err
        return
    try:
        model.load_weights(path)
    except Exception as err:  # several types, see above
        reason = " ".join(f"{type(err).__name__}: {err}".split())
        raise ValueError(
            f"Could not load `weights` file {path!r} into {model.name!r}: expected a .weights.h5 / .keras / .h5 file "
            f"saved from a model with this architecture (same variant, input channels and classes). "
            f"{reason[:400]}{'...' if len(reason) > 400 else ''}"
        ) from err
