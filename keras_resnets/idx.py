"""Reading IDX files (the MNIST / Fashion-MNIST format), shared by the export command and training/."""

import gzip
import struct
import zlib

import numpy as np

_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file (raw or gzip'd) into a numpy array of its declared type and shape.

    Args:
        path: str, the file.

    Returns:
        np.ndarray, e.g. uint8 (60000, 28, 28) for `train-images-idx3-ubyte`.

    Raises:
        ValueError: not an IDX file, or its size does not match its header.
    """
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        with (gzip.open if gzipped else open)(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"Cannot read IDX file {path}: {error}. Replace it with an intact copy.") from error
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{path} is not an IDX file: expected magic bytes 00 00 <type in {sorted(_IDX_DTYPES)}> <ndim>, "
            f"received {data[:4].hex(' ') or 'an empty file'}."
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ValueError(f"{path}: IDX header declares {ndim} dimensions but the file has only {len(data)} bytes.")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(
            f"{path}: IDX header declares shape {dims} ({expected} bytes) but the file holds {len(data)} bytes; "
            "it is truncated or not the file it is named for. Replace it with an intact copy."
        )
    return np.frombuffer(data, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))
