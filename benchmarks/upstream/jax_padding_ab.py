"""Why the package's ResNet-20 trains ~6% slower than plain Keras layers on JAX: the strided convolutions' padding.

The package pads a strided 3x3 convolution symmetrically, as PyTorch and Caffe do (`ZeroPadding2D(1)` then a
"valid" convolution: `keras_resnets._common.conv2d`), where Keras' "same" pads one side only. On XLA:CPU the separate
pad costs a ResNet-20 step (batch 128) more than the padding itself. One network, plain Keras layers, the two
strided 3x3 convolutions written four ways:

    python benchmarks/upstream/jax_padding_ab.py same    # Keras "same" (asymmetric; what plain Keras does)
    python benchmarks/upstream/jax_padding_ab.py pad11   # ZeroPadding2D(1) + "valid" (what the package does)
    python benchmarks/upstream/jax_padding_ab.py pad10   # ZeroPadding2D(((1, 0), (1, 0))) + "valid" (same result)
    python benchmarks/upstream/jax_padding_ab.py lax     # symmetric padding inside the conv (jax.lax, explicit pads)

Prints the median `train_on_batch` milliseconds of 12 steps after 3 of warm-up.
"""
import os
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import layers  # noqa: E402

MODES = ("same", "pad11", "pad10", "lax")


class SymmetricConv2D(layers.Conv2D):
    """A 3x3 convolution padded by 1 on every side inside the XLA convolution (declared "same": same output size
    on even inputs)."""

    def convolution_op(self, inputs, kernel):
        return jax.lax.conv_general_dilated(inputs, keras.ops.convert_to_tensor(kernel), self.strides,
                                            [(1, 1), (1, 1)], dimension_numbers=("NHWC", "HWIO", "NHWC"))


def conv_strided(x, filters, mode):
    if mode == "same":
        return layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)
    if mode == "pad11":
        return layers.Conv2D(filters, 3, strides=2, padding="valid", use_bias=False)(layers.ZeroPadding2D(1)(x))
    if mode == "pad10":
        x = layers.ZeroPadding2D(((1, 0), (1, 0)))(x)
        return layers.Conv2D(filters, 3, strides=2, padding="valid", use_bias=False)(x)
    return SymmetricConv2D(filters, 3, strides=2, padding="same", use_bias=False)(x)


def net(mode):
    """CIFAR ResNet-20, option-B shortcuts, from plain Keras layers; `mode` pads its strided 3x3 convolutions."""
    def bn(x, relu=True):
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x) if relu else x

    inputs = keras.Input((32, 32, 3))
    x = bn(layers.Conv2D(16, 3, padding="same", use_bias=False)(layers.Rescaling(1 / 127.5, offset=-1)(inputs)))
    for stage, filters in enumerate((16, 32, 64)):
        for block in range(3):
            shortcut = x
            if stage > 0 and block == 0:
                shortcut = bn(layers.Conv2D(filters, 1, strides=2, use_bias=False)(x), relu=False)
                y = bn(conv_strided(x, filters, mode))
            else:
                y = bn(layers.Conv2D(filters, 3, padding="same", use_bias=False)(x))
            y = bn(layers.Conv2D(filters, 3, padding="same", use_bias=False)(y), relu=False)
            x = layers.ReLU()(layers.Add()([shortcut, y]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0] not in MODES:
        print(f"usage: python benchmarks/upstream/jax_padding_ab.py {{{'|'.join(MODES)}}}", file=sys.stderr)
        return 2
    mode = argv[0]
    keras.utils.set_random_seed(0)
    model = net(mode)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (128, 32, 32, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 10, 128), 10)
    for _ in range(3):
        model.train_on_batch(x, y)
    times = []
    for _ in range(12):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - start)
    print(mode, round(sorted(times)[6] * 1000, 1), "ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
