"""Classify images with an exported LiteRT model, using only ai_edge_litert and numpy (PIL for image files).

The export directory's metadata.json gives the class names; the model takes raw [0, 255] pixels
(preprocessing is inside it), so no other preprocessing happens here.

    python -m keras_resnets.export saved_models/fashion_mnist_resnet20/model.keras /tmp/fm_export
    python examples/classify_tflite.py /tmp/fm_export/model_int8.tflite \
        /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz --limit 5

IMAGES is a .npy array (N, H, W[, C]), an IDX file (`*-ubyte[.gz]`, Fashion-MNIST / MNIST) or image files.
"""

import argparse
import gzip
import json
import os
import struct

import numpy as np
from ai_edge_litert.interpreter import Interpreter


def read_idx(path):
    with (gzip.open if path.endswith(".gz") else open)(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def read_images(paths, height, width, channels):
    if len(paths) == 1 and paths[0].endswith(".npy"):
        images = np.load(paths[0])
    elif len(paths) == 1 and "ubyte" in os.path.basename(paths[0]):
        images = read_idx(paths[0])
    else:
        from PIL import Image  # only needed for image files

        mode = "L" if channels == 1 else "RGB"
        images = np.stack([np.asarray(Image.open(p).convert(mode).resize((width, height))) for p in paths])
    if images.ndim == 3:
        images = images[..., None]
    return images


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a .tflite file from `python -m keras_resnets.export`")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--metadata", help="metadata.json (default: beside the model)")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    meta_path = args.metadata or os.path.join(os.path.dirname(os.path.abspath(args.model)), "metadata.json")
    class_names = None
    if os.path.isfile(meta_path):
        with open(meta_path) as f:
            class_names = json.load(f).get("class_names")

    interpreter = Interpreter(model_path=args.model, num_threads=args.threads)
    interpreter.allocate_tensors()  # batch 1: the exported files have a dynamic batch, 1 by default
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    _, height, width, channels = inp["shape"]
    images = read_images(args.images, height, width, channels)[: args.limit].astype("float32")

    for i, image in enumerate(images):
        x = image[None]
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
        print(f"image {i}: " + ", ".join(f"{n} {probs[k]:.3f}" for n, k in zip(names, best)))


if __name__ == "__main__":
    main()
