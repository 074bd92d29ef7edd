"""Classify images with an exported LiteRT model, using only ai_edge_litert and numpy (PIL for image files).

The export directory's metadata.json gives the class names; the model takes raw [0, 255] pixels
(preprocessing is inside it), so no other preprocessing happens here.

    python -m keras_resnets.export saved_models/fashion_mnist_resnet20/model.keras /tmp/fm_export
    python examples/classify_tflite.py /tmp/fm_export/model_int8.tflite shirt.png boot.jpg
    python examples/classify_tflite.py /tmp/fm_export/model_int8.tflite \
        /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --limit 5

IMAGES are image files, each classified and labelled with its path, and arrays of images: `.npy` files (N, H,
W[, C]) and IDX files (`*-ubyte[.gz]`, Fashion-MNIST / MNIST), of which the first --limit images are classified
(default 10), each labelled with the file and its index in it (`t10k-images-idx3-ubyte.gz [index 0]`); how many
were left out is said. Exit codes: 0 done; 2 a usage error (a missing or unreadable model, image or metadata
file, a bad value), printed as one line `error: ...`, never a traceback.
"""

import argparse
import contextlib
import gzip
import importlib.util
import json
import os
import struct
import sys

import numpy as np


def quiet():
    """Hides the LiteRT runtime's start-up line ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.") with
    keras_resnets' `silenced_stderr`, loaded by path (`import keras_resnets` would import TensorFlow, which this
    script does not need); nothing is hidden where keras_resnets is not installed."""
    spec = importlib.util.find_spec("keras_resnets")
    path = spec and spec.origin and os.path.join(os.path.dirname(spec.origin), "_quiet.py")
    if not path or not os.path.isfile(path):
        return contextlib.nullcontext()
    spec = importlib.util.spec_from_file_location("_keras_resnets_quiet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.silenced_stderr()


def positive(text):
    """An argparse `type`: an integer >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1. Received: {text!r}")
    return int(text)


def is_array_file(path):
    return path.endswith(".npy") or "ubyte" in os.path.basename(path)


def read_idx(path):
    """The uint8 array in an IDX file (raw or gzip'd)."""
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[:3] != b"\0\0\x08" or len(data) < 4 + 4 * data[3]:
        raise ValueError(f"{path!r} is not an unsigned-byte IDX file (its header is wrong).")
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    if len(data) - 4 - 4 * ndim != int(np.prod(dims)):
        raise ValueError(f"{path!r} is truncated or corrupt: its header promises {dims}.")
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_array(path, height, width, channels):
    """The images (N, H, W, C) of a .npy or IDX file, checked against the model's input size."""
    try:
        images = np.load(path, allow_pickle=False) if path.endswith(".npy") else read_idx(path)
    except (OSError, ValueError, EOFError) as err:
        raise ValueError(f"cannot read the image array {path!r} ({type(err).__name__}: {err})") from err
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[1:] != (height, width, channels):
        raise ValueError(f"the images in {path!r} have shape {images.shape}; the model takes (N, {height}, "
                         f"{width}, {channels}).")
    return images


def read_image_file(path, height, width, channels):
    """One image file, converted to the model's channels and resized to its input size."""
    from PIL import Image  # only needed for image files

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("L" if channels == 1 else "RGB").resize((width, height))).reshape(
                height, width, channels)
    except (OSError, ValueError) as err:  # UnidentifiedImageError is an OSError
        raise ValueError(f"cannot read the image file {path!r} ({type(err).__name__}: {err})") from err


def read_inputs(paths, height, width, channels, limit):
    """`[(label, image)]` for every image file and the first `limit` images of every array file, and a note
    for each array file with more images than that."""
    inputs, notes = [], []
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"image file not found: {path!r}")
        if not is_array_file(path):
            inputs.append((path, read_image_file(path, height, width, channels)))
            continue
        images = read_array(path, height, width, channels)
        inputs += [(f"{path} [index {i}]", image) for i, image in enumerate(images[:limit])]
        if len(images) > limit:
            notes.append(f"{path}: classified the first {limit} of its {len(images)} images; "
                         f"{len(images) - limit} left out (--limit N for more)")
    return inputs, notes


def class_names_of(meta_path, given, classes):
    """The class names in the export's metadata.json (None without one), one per output class."""
    if not os.path.isfile(meta_path):
        if given:
            raise FileNotFoundError(f"--metadata not found: {meta_path!r}")
        return None
    try:
        with open(meta_path) as f:
            names = json.load(f).get("class_names")
    except (OSError, ValueError, AttributeError) as err:
        raise ValueError(f"cannot read the metadata {meta_path!r} ({type(err).__name__}: {err})") from err
    if names is not None and len(names) != classes:
        raise ValueError(f"{meta_path!r} names {len(names)} classes; the model has {classes} outputs.")
    return names


def load_model(path, threads):
    from ai_edge_litert.interpreter import Interpreter

    if not os.path.isfile(path):
        raise FileNotFoundError(f"model file not found: {path!r}")
    try:
        interpreter = Interpreter(model_path=path, num_threads=threads)
        interpreter.allocate_tensors()  # batch 1: the exported files have a dynamic batch, 1 by default
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"cannot load the LiteRT model {path!r} ({type(err).__name__}: {err})") from err
    return interpreter


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     epilog="Exit codes: 0 done; 2 a usage error, as one line `error: ...`.")
    parser.add_argument("model", help="a .tflite file from `python -m keras_resnets.export`")
    parser.add_argument("images", nargs="+", help="image files, .npy arrays or IDX files")
    parser.add_argument("--metadata", help="metadata.json (default: beside the model)")
    parser.add_argument("--limit", type=positive, default=10,
                        help="images classified from each .npy / IDX array (default 10); image files are all "
                             "classified")
    parser.add_argument("--top", type=positive, default=3)
    parser.add_argument("--threads", type=positive, default=2)
    parser.add_argument("--verbose", action="store_true", help="show the LiteRT runtime's start-up log")
    args = parser.parse_args(argv)
    try:
        return classify(args)
    except (OSError, ValueError) as err:  # FileNotFoundError is an OSError
        print(f"error: {err}", file=sys.stderr)
        return 2


def classify(args):
    with contextlib.nullcontext() if args.verbose else quiet():
        interpreter = load_model(args.model, args.threads)
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    _, height, width, channels = inp["shape"]
    meta_path = args.metadata or os.path.join(os.path.dirname(os.path.abspath(args.model)), "metadata.json")
    class_names = class_names_of(meta_path, args.metadata is not None, out["shape"][-1])
    inputs, notes = read_inputs(args.images, height, width, channels, args.limit)

    for label, image in inputs:
        x = image[None].astype("float32")
        if inp["dtype"] != np.float32:  # full-integer model with int8/uint8 input
            scale, zero = inp["quantization"]
            info = np.iinfo(inp["dtype"])
            x = np.clip(np.round(x / scale + zero), info.min, info.max)
        interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
        interpreter.invoke()
        probs = interpreter.get_tensor(out["index"])[0]
        if out["dtype"] != np.float32:
            scale, zero = out["quantization"]
            probs = (probs.astype("float32") - zero) * scale
        best = np.argsort(probs)[::-1][: args.top]
        names = [class_names[k] if class_names else str(k) for k in best]
        print(f"{label}: " + ", ".join(f"{n} {probs[k]:.3f}" for n, k in zip(names, best)))
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
