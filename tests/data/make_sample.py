"""Makes tests/data/fashion_mnist_sample.npz: 2,000 real Fashion-MNIST test images for the tests.

The first 200 images of each class of the Fashion-MNIST test set, in the test file's order, read from the Debian
package dataset-fashion-mnist (`bash scripts/get_fashion_mnist.sh` installs it). From the repository root:

    python tests/data/make_sample.py            # writes tests/data/fashion_mnist_sample.npz
    python tests/data/make_sample.py --check    # rebuilds it in memory: exit 0 when the committed file matches

The file is an `.npz` like `np.savez_compressed` writes (deflate, read by `np.load`), with fixed zip timestamps
and permissions so that re-running gives the same bytes (with the same zlib); `np.savez_compressed` stamps the
current time into the zip. It holds `images` (uint8, (2000, 28, 28)), `labels` (uint8, (2000,)) and `indices`
(int32, (2000,): each image's position in t10k-images-idx3-ubyte).
"""

import argparse
import io
import os
import sys
import zipfile

import numpy as np

from keras_resnets.idx import read_idx

SOURCE = "/usr/share/datasets/fashion-mnist"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion_mnist_sample.npz")
PER_CLASS = 200
CLASSES = 10
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


def _idx(source, name):
    """`name` or `name.gz` in `source`."""
    for candidate in (os.path.join(source, name + ".gz"), os.path.join(source, name)):
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"{name}[.gz] is not in {source}: install the Debian package dataset-fashion-mnist "
                            "(bash scripts/get_fashion_mnist.sh) or pass --source.")


def select(labels, per_class=PER_CLASS):
    """The positions of the first `per_class` images of each class, in file order."""
    picked = [np.flatnonzero(labels == c)[:per_class] for c in range(CLASSES)]
    if any(len(p) < per_class for p in picked):
        raise ValueError(f"Fewer than {per_class} images of some class: {[len(p) for p in picked]}")
    return np.sort(np.concatenate(picked)).astype("<i4")


def build(source=SOURCE):
    """The sample file's bytes."""
    images = read_idx(_idx(source, "t10k-images-idx3-ubyte"))
    labels = read_idx(_idx(source, "t10k-labels-idx1-ubyte"))
    indices = select(labels)
    arrays = {"images": images[indices].astype("u1"), "labels": labels[indices].astype("u1"), "indices": indices}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, array, allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_TIME)
            info.compress_type, info.create_system, info.external_attr = zipfile.ZIP_DEFLATED, 3, 0o644 << 16
            archive.writestr(info, member.getvalue(), compresslevel=9)
    return buffer.getvalue()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=SOURCE, help=f"the folder of the Fashion-MNIST IDX files ({SOURCE})")
    parser.add_argument("--out", default=OUT)
    parser.add_argument("--check", action="store_true", help="compare with --out instead of writing it")
    args = parser.parse_args(argv)
    data = build(args.source)
    if args.check:
        with open(args.out, "rb") as f:
            same = f.read() == data
        print(f"{args.out}: {'the same bytes' if same else 'DIFFERS from a fresh build'}")
        return 0 if same else 1
    with open(args.out, "wb") as f:
        f.write(data)
    print(f"Wrote {args.out} ({len(data):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
