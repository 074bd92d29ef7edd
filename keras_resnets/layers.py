"""Custom layers used by the keras_resnets models.

Every layer here is built from `keras.ops` only (so it runs on the TensorFlow, JAX and PyTorch backends),
is registered for safe-mode deserialization and round-trips through `get_config()`.
"""

import keras
from keras import ops

_PACKAGE = "keras_resnets"

_MEAN_STD = {
    # keras.applications.imagenet_utils: "caffe" flips RGB to BGR and subtracts the BGR means (no scaling).
    "caffe": ((103.939, 116.779, 123.68), (1.0, 1.0, 1.0)),
    # "torch" scales to [0, 1] then normalizes with the ImageNet RGB mean/std.
    "torch": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}
PREPROCESSING_MODES = ("caffe", "tf", "torch")


def _standardize_data_format(data_format):
    data_format = data_format or keras.config.image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            f"`data_format` must be 'channels_last' or 'channels_first'. Received: data_format={data_format!r}"
        )
    return data_format


def _channel_axis(data_format):
    return -1 if data_format == "channels_last" else 1


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ImagePreprocessing(keras.layers.Layer):
    """Maps raw pixels in [0, 255] to what a model was trained on.

    The three modes are those of `keras.applications.imagenet_utils.preprocess_input`:

    - `"caffe"`: RGB to BGR, then subtract the ImageNet BGR mean (ResNet v1 weights).
    - `"tf"`: scale to [-1, 1] (ResNet v2 weights).
    - `"torch"`: scale to [0, 1], then normalize with the ImageNet RGB mean and std (DenseNet weights).

    Putting this layer in the model lets an exported model take raw pixels (uint8 or float).

    Args:
        mode: str, one of `"caffe"`, `"tf"`, `"torch"`.
        data_format: str or None, `"channels_last"` or `"channels_first"`; default from Keras config.
    """

    def __init__(self, mode, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if mode not in PREPROCESSING_MODES:
            raise ValueError(f"`mode` must be one of {PREPROCESSING_MODES}. Received: mode={mode!r}")
        self.mode = mode
        self.data_format = _standardize_data_format(data_format)

    def build(self, input_shape):
        channels = input_shape[_channel_axis(self.data_format)]
        if self.mode in _MEAN_STD and channels != 3:
            raise ValueError(
                f"Preprocessing mode {self.mode!r} needs 3-channel RGB input. Received an input with "
                f"{channels} channels; use mode 'tf' or no preprocessing for other channel counts."
            )
        self.built = True

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        mean, std = _MEAN_STD[self.mode]
        axis = _channel_axis(self.data_format)
        shape = (1, 1, 1, 3) if axis == -1 else (1, 3, 1, 1)
        mean = ops.reshape(ops.convert_to_tensor(mean, dtype=self.compute_dtype), shape)
        std = ops.reshape(ops.convert_to_tensor(std, dtype=self.compute_dtype), shape)
        if self.mode == "caffe":
            x = ops.flip(x, axis=axis)
        else:
            x = x / 255.0
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "data_format": self.data_format}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ZeroPadShortcut(keras.layers.Layer):
    """The parameter-free "option A" shortcut of He et al. (2015), Section 4.2.

    Subsamples the input by `strides` (keeping every `strides`-th pixel, as the paper's identity with
    stride) and pads the channel dimension with zeros up to `filters`, half before and half after, as
    the common CIFAR implementations do.

    Args:
        filters: int, the number of output channels (>= the input's).
        strides: int, the spatial subsampling factor.
        data_format: str or None.
    """

    def __init__(self, filters, strides=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.strides = int(strides)
        self.data_format = _standardize_data_format(data_format)

    def build(self, input_shape):
        channels = input_shape[_channel_axis(self.data_format)]
        if channels > self.filters:
            raise ValueError(f"ZeroPadShortcut cannot reduce channels: input has {channels}, filters={self.filters}.")
        self.built = True

    def call(self, inputs):
        s = self.strides
        if self.data_format == "channels_last":
            x = inputs[:, ::s, ::s, :] if s > 1 else inputs
            channels = x.shape[-1]
        else:
            x = inputs[:, :, ::s, ::s] if s > 1 else inputs
            channels = x.shape[1]
        extra = self.filters - channels
        if extra == 0:
            return x
        before = extra // 2
        pad = [[0, 0], [0, 0], [0, 0], [0, 0]]
        pad[_channel_axis(self.data_format)] = [before, extra - before]
        return ops.pad(x, pad)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        spatial = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for i in spatial:
            if shape[i] is not None:
                shape[i] = -(-shape[i] // self.strides)
        shape[_channel_axis(self.data_format)] = self.filters
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "filters": self.filters,
            "strides": self.strides,
            "data_format": self.data_format,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StochasticDepth(keras.layers.Layer):
    """Drops a residual branch per sample during training ("drop path", Huang et al. 2016).

    In training, each sample's branch is zeroed with probability `rate` and the kept ones are scaled by
    `1 / (1 - rate)`, so inference is the identity and needs no rescaling.

    Args:
        rate: float in [0, 1), the drop probability.
        seed: int or None, for reproducible masks.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        keep = 1.0 - self.rate
        shape = (ops.shape(inputs)[0],) + (1,) * (len(inputs.shape) - 1)
        mask = keras.random.uniform(shape, seed=self.seed_generator, dtype=inputs.dtype)
        mask = ops.cast(mask < keep, inputs.dtype)
        return inputs * mask / ops.cast(keep, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConcatBatchNormReLU(keras.layers.Layer):
    """Concatenate, BatchNormalization and ReLU as one layer whose activations are recomputed.

    The memory-efficient DenseNet bottleneck (Pleiss et al. 2017, https://arxiv.org/abs/1707.06990):
    the concatenation of all earlier feature maps and its normalized copy grow quadratically with depth
    if kept for the backward pass. This layer keeps only its inputs (the individual feature maps, which
    are kept anyway) and recomputes concat-BN-ReLU in the backward pass with `keras.remat`.

    Numerically it is `Concatenate -> BatchNormalization -> ReLU`, with the same weights in the same
    order (gamma, beta, moving mean, moving variance) and the same moving-average update, so weights
    copy between the two forms. The batch statistics are computed per input before the rematerialized
    part (per-channel moments of a concatenation are the concatenated moments), so the moving averages
    are updated once, outside the recomputed function.

    Args:
        axis: int, the channel axis.
        epsilon: float, BatchNormalization epsilon.
        momentum: float, BatchNormalization momentum.
        rematerialize: bool, recompute in the backward pass (True) or keep activations (False).
    """

    def __init__(self, axis=-1, epsilon=1.001e-5, momentum=0.99, rematerialize=True, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon
        self.momentum = momentum
        self.rematerialize = rematerialize

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not isinstance(input_shape[0], (list, tuple)):
            input_shape = [input_shape]
        channels = sum(shape[self.axis] for shape in input_shape)
        self.gamma = self.add_weight(shape=(channels,), name="gamma", autocast=False, initializer="ones")
        self.beta = self.add_weight(shape=(channels,), name="beta", autocast=False, initializer="zeros")
        self.moving_mean = self.add_weight(
            shape=(channels,), name="moving_mean", initializer="zeros", trainable=False, autocast=False
        )
        self.moving_variance = self.add_weight(
            shape=(channels,), name="moving_variance", initializer="ones", trainable=False, autocast=False
        )
        self.built = True

    def _shape(self, rank):
        shape = [1] * rank
        shape[self.axis] = -1
        return shape

    def _normalize(self, mean, variance, *features):
        x = features[0] if len(features) == 1 else ops.concatenate(features, axis=self.axis)
        x = ops.cast(x, "float32")
        shape = self._shape(len(x.shape))
        inv = ops.rsqrt(variance + self.epsilon) * ops.cast(self.gamma, "float32")
        y = (x - ops.reshape(mean, shape)) * ops.reshape(inv, shape) + ops.reshape(
            ops.cast(self.beta, "float32"), shape
        )
        return ops.cast(ops.relu(y), self.compute_dtype)

    def call(self, inputs, training=None):
        features = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if training:
            axes = [i for i in range(len(features[0].shape)) if i != self.axis % len(features[0].shape)]
            moments = [ops.moments(ops.cast(f, "float32"), axes=axes) for f in features]
            mean = ops.concatenate([m for m, _ in moments], axis=0)
            variance = ops.concatenate([v for _, v in moments], axis=0)
            self.moving_mean.assign(self.moving_mean * self.momentum + ops.stop_gradient(mean) * (1.0 - self.momentum))
            self.moving_variance.assign(
                self.moving_variance * self.momentum + ops.stop_gradient(variance) * (1.0 - self.momentum)
            )
        else:
            mean = ops.cast(self.moving_mean, "float32")
            variance = ops.cast(self.moving_variance, "float32")
        fn = keras.remat(self._normalize) if self.rematerialize and training else self._normalize
        return fn(mean, variance, *features)

    def compute_output_shape(self, input_shape):
        if not isinstance(input_shape[0], (list, tuple)):
            return tuple(input_shape)
        shape = list(input_shape[0])
        shape[self.axis] = sum(s[self.axis] for s in input_shape)
        return tuple(shape)

    def get_config(self):
        return {
            **super().get_config(),
            "axis": self.axis,
            "epsilon": self.epsilon,
            "momentum": self.momentum,
            "rematerialize": self.rematerialize,
        }


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` that runs TensorFlow's fused kernel where it can.

    Keras 3 normalizes with separate ops on every backend (moments, then scale and shift), and its
    gradient is the autodiff of those: several passes over each activation tensor. When training on
    the TensorFlow backend this layer calls `FusedBatchNormV3` instead (one pass forward, one backward),
    which makes a CIFAR ResNet-20 training step about 1.2x faster on a 2-core CPU with oneDNN
    (benchmarks/RESULTS.md). Inference keeps Keras' ops: in a compiled TensorFlow graph they ran faster
    than the fused kernel's inference mode (ResNet50 predict was 0.85x with it), and exporters fold
    them into the convolutions either way.

    It is the same layer in every other respect: the same arguments and config, the same variables
    (gamma, beta, moving_mean, moving_variance) in the same order, the same outputs and moving-average
    update up to float rounding (tested against the Keras layer), so weights copy both ways. Calls it
    does not fuse (inference, another backend, rank other than 4, channels_first, a mask, `renorm`,
    `synchronized`, no `center`/`scale`) take the Keras layer's own path.
    """

    def _fusable(self, inputs, mask, training=True):
        return (
            bool(training)
            and self.trainable
            and keras.backend.backend() == "tensorflow"
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (3, -1)
            and self.center
            and self.scale
            and not self.renorm
            and not self.synchronized
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask, training):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        # As the Keras layer: statistics in float32 whatever the compute dtype (mixed precision).
        x = tf.cast(inputs, "float32")
        empty = tf.constant([], dtype="float32")
        y, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=tf.cast(self.gamma, "float32"), offset=tf.cast(self.beta, "float32"), mean=empty,
            variance=empty, epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC", is_training=True,
        )
        # The kernel returns the unbiased (n - 1) batch variance; Keras averages the biased one.
        count = tf.cast(tf.size(x) // tf.shape(x)[-1], "float32")
        variance = variance * ((count - 1.0) / tf.maximum(count, 1.0))
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(y, self.compute_dtype)
