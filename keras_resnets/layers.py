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


def _attributes(layer, *names):
    """The named attributes of `layer`, for its `get_config`."""
    return {name: getattr(layer, name) for name in names}


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
        return {**super().get_config(), **_attributes(self, "mode", "data_format")}


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
        if s > 1 and keras.backend.backend() == "tensorflow":
            # The same pixels: a 1x1 max pool with stride s keeps every s-th one (ceil(size / s) of them)
            # and routes the gradient back to it. TensorFlow's StridedSlice and its gradient take a slow
            # generic path (a 32x32x16 batch of 128: 14-17 ms forward and backward, against 5.5 ms
            # pooled with oneDNN), while JAX and PyTorch slice fastest (3.6 and 4.3 ms, pooling 43 and 20).
            x = ops.max_pool(inputs, pool_size=1, strides=s, padding="valid", data_format=self.data_format)
        elif self.data_format == "channels_last":
            x = inputs[:, ::s, ::s, :] if s > 1 else inputs
        else:
            x = inputs[:, :, ::s, ::s] if s > 1 else inputs
        channels = x.shape[_channel_axis(self.data_format)]
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
        return {**super().get_config(), **_attributes(self, "filters", "strides", "data_format")}


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
        return {**super().get_config(), **_attributes(self, "rate", "seed")}


def _shape_list(input_shape):
    """A layer's input shape as a list of shapes (one shape for a single input)."""
    if not isinstance(input_shape, (list, tuple)) or not isinstance(input_shape[0], (list, tuple)):
        return [input_shape]
    return list(input_shape)


def _concat_shape(input_shape, axis, *, channels=None):
    """The shape of the inputs' concatenation on `axis`, or with `channels` channels there."""
    input_shape = _shape_list(input_shape)
    shape = list(input_shape[0])
    shape[axis] = channels or sum(s[axis] for s in input_shape)
    return tuple(shape)


def _check_channel_axis(axis):
    if axis not in (-1, 1, 3):
        raise ValueError(f"`axis` must be -1 or 3 (channels_last) or 1 (channels_first). Received: axis={axis!r}")


def _concat(features, axis):
    return features[0] if len(features) == 1 else ops.concatenate(features, axis=axis)


def _batch_moments(x, axis):
    """Per-channel mean and (biased, as Keras') variance of `x` in float32."""
    rank = len(x.shape)
    return ops.moments(ops.cast(x, "float32"), axes=[i for i in range(rank) if i != axis % rank])


def _statistics(x, norm, axis, training):
    """The batch moments of `x` when training, else `norm`'s moving mean and variance (float32)."""
    if training:
        return _batch_moments(x, axis)
    return ops.cast(norm.moving_mean, "float32"), ops.cast(norm.moving_variance, "float32")


def _update_moving_statistics(norm, mean, variance):
    """The moving-average update of a BatchNormalization layer's statistics (no gradient)."""
    m = norm.momentum
    norm.moving_mean.assign(norm.moving_mean * m + ops.stop_gradient(mean) * (1.0 - m))
    norm.moving_variance.assign(norm.moving_variance * m + ops.stop_gradient(variance) * (1.0 - m))


def _normalize_relu(x, norm, *, mean, variance, axis, dtype):
    """ReLU(BatchNorm(x)) with the given statistics and `norm`'s gamma, beta and epsilon, computed in float32."""
    x = ops.cast(x, "float32")
    shape = [1] * len(x.shape)
    shape[axis] = -1
    inv = ops.rsqrt(variance + norm.epsilon) * ops.cast(norm.gamma, "float32")
    y = (x - ops.reshape(mean, shape)) * ops.reshape(inv, shape) + ops.reshape(ops.cast(norm.beta, "float32"), shape)
    return ops.cast(ops.relu(y), dtype)


class _Recomputed(keras.layers.Layer):
    """What the memory-efficient DenseNet layers share: a computation on the concatenation of their inputs,
    `_compute(training, *features)`, recomputed in the backward pass when training (with `rematerialize`).

    `_compute` returns `(output, mean, variance, mean, variance, ...)`: the batch moments of each layer in
    `_batch_norms()` (the BatchNormalizations it applies). They come out of the recomputed function so that the
    moving averages are updated once per step, in `call`, never by the recomputation. Subclasses set `axis` and
    `rematerialize`, and `_output_channels()` (None: as many as the inputs together). These are methods, not
    properties: Keras' saving walks a layer's attributes, and `[self]` would send it round in a circle.
    """

    def call(self, inputs, training=None):
        features = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not training:
            return self._compute(False, *features)[0]

        def recomputed(*args):
            return self._compute(True, *args)

        y, *moments = (keras.remat(recomputed) if self.rematerialize else recomputed)(*features)
        for norm, mean, variance in zip(self._batch_norms(), moments[0::2], moments[1::2]):
            _update_moving_statistics(norm, mean, variance)
        return y

    def compute_output_shape(self, input_shape):
        return _concat_shape(input_shape, self.axis, channels=self._output_channels())


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ConcatBatchNormReLU(_Recomputed):
    """Concatenate, BatchNormalization and ReLU as one layer whose activations are recomputed.

    The memory-efficient DenseNet's transitions and final normalization (its dense layers are
    `DenseLayer`; Pleiss et al. 2017, https://arxiv.org/abs/1707.06990): the concatenation of all
    earlier feature maps and its normalized copy are as wide as everything before them if kept for the
    backward pass. This layer keeps only its inputs (the individual feature maps, which are kept anyway)
    and recomputes concat-BN-ReLU in the backward pass with `keras.remat`.

    With `filters`, the layer ends with the 1x1 convolution that follows it in a DenseNet (the bottleneck
    or the transition conv), recomputed as well, as in Pleiss et al. and torchvision: the convolution
    needs its full-width input for its weight gradient, so keeping the convolution outside would keep
    that input, a tensor as wide as the concatenation, for every layer (memory quadratic in depth again).

    Numerically it is `Concatenate -> BatchNormalization -> ReLU [-> Conv2D 1x1, no bias]`, with the
    same weights in the same order (gamma, beta, moving mean, moving variance [, kernel]) and the same
    moving-average update, so weights copy between the two forms. The batch statistics are returned by
    the recomputed function, so the moving averages are updated once per step, outside it.

    Args:
        axis: int, the channel axis (-1 or 3 for channels_last, 1 for channels_first).
        epsilon: float, BatchNormalization epsilon.
        momentum: float, BatchNormalization momentum.
        rematerialize: bool, recompute in the backward pass (True) or keep activations (False).
        filters: int or None, output channels of a trailing 1x1 convolution (no bias); None for none.
        conv_name: str or None, the name of that convolution sublayer (default: this layer's name + "_conv").
    """

    def __init__(self, axis=-1, *, epsilon=1.001e-5, momentum=0.99, rematerialize=True, filters=None, conv_name=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon
        self.momentum = momentum
        self.rematerialize = rematerialize
        if filters is not None and (isinstance(filters, bool) or not isinstance(filters, int) or filters < 1):
            raise ValueError(f"`filters` must be a positive int or None. Received: filters={filters!r}")
        _check_channel_axis(axis)
        self.filters = filters
        self.conv_name = conv_name
        self.conv = None
        if filters is not None:
            self.conv = keras.layers.Conv2D(
                filters, 1, use_bias=False, data_format="channels_first" if axis == 1 else "channels_last",
                name=conv_name or f"{self.name}_conv", dtype=self.dtype_policy,
            )

    def build(self, input_shape):
        shape = _concat_shape(input_shape, self.axis)
        channels = shape[self.axis]
        self.gamma = self.add_weight(shape=(channels,), name="gamma", autocast=False, initializer="ones")
        self.beta = self.add_weight(shape=(channels,), name="beta", autocast=False, initializer="zeros")
        self.moving_mean = self.add_weight(
            shape=(channels,), name="moving_mean", initializer="zeros", trainable=False, autocast=False
        )
        self.moving_variance = self.add_weight(
            shape=(channels,), name="moving_variance", initializer="ones", trainable=False, autocast=False
        )
        if self.conv is not None:
            self.conv.build(shape)
        self.built = True

    def _batch_norms(self):
        return [self]

    def _output_channels(self):
        return self.filters

    def _compute(self, training, *features):
        x = _concat(features, self.axis)
        mean, variance = _statistics(x, self, self.axis, training)
        y = _normalize_relu(x, self, mean=mean, variance=variance, axis=self.axis, dtype=self.compute_dtype)
        return (y if self.conv is None else self.conv(y)), mean, variance

    def get_config(self):
        names = ("axis", "epsilon", "momentum", "rematerialize", "filters", "conv_name")
        return {**super().get_config(), **_attributes(self, *names)}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DenseLayer(_Recomputed):
    """One DenseNet-B layer that keeps only its new feature maps for the backward pass.

    `BN-ReLU-Conv1x1-BN-ReLU-Conv3x3` of the concatenation of its inputs, producing `growth_rate` new
    channels, computed once more in the backward pass with `keras.remat` (Pleiss et al. 2017,
    https://arxiv.org/abs/1707.06990, "memory-efficient DenseNets"). The plain form keeps, for every
    layer, the concatenation and its normalized copy (as wide as everything before it: memory quadratic
    in depth) and the bottleneck's 4k-channel tensors; this layer keeps its inputs (the individual
    feature maps, kept anyway) and its k-channel output. The price is one more forward pass of the
    layer in the backward pass.

    Numerically it is the plain layer sequence `{name}_0_bn, _0_relu, _1_conv, _1_bn, _1_relu, _2_conv`
    (BatchNormalization with Keras' batch statistics and moving-average update), and its weights are
    those layers' weights in the same order, so weights copy between the two forms. The batch
    statistics of both BNs are returned by the recomputed function, so the moving averages are updated
    once per step, never by the recomputation.

    Args:
        growth_rate: int, new channels (k).
        bottleneck_width: int, the 1x1 conv outputs `bottleneck_width * growth_rate` channels.
        axis: int, the channel axis (-1 or 3 for channels_last, 1 for channels_first).
        epsilon: float, BatchNormalization epsilon.
        momentum: float, BatchNormalization momentum.
        rematerialize: bool, recompute in the backward pass (True) or keep activations (False).
    """

    def __init__(self, growth_rate, bottleneck_width=4, *, axis=-1, epsilon=1.001e-5, momentum=0.99,
                 rematerialize=True, **kwargs):
        super().__init__(**kwargs)
        for key, value in (("growth_rate", growth_rate), ("bottleneck_width", bottleneck_width)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{key}` must be a positive int. Received: {key}={value!r}")
        _check_channel_axis(axis)
        self.growth_rate = growth_rate
        self.bottleneck_width = bottleneck_width
        self.axis = axis
        self.epsilon = epsilon
        self.momentum = momentum
        self.rematerialize = rematerialize
        data_format = "channels_first" if axis == 1 else "channels_last"
        norm = dict(axis=axis, epsilon=epsilon, momentum=momentum, dtype=self.dtype_policy)
        conv = dict(use_bias=False, data_format=data_format, dtype=self.dtype_policy)
        # Holders of the weights, in the plain form's order; `call` computes with them directly.
        self.norm0 = keras.layers.BatchNormalization(name=f"{self.name}_0_bn", **norm)
        self.conv1 = keras.layers.Conv2D(bottleneck_width * growth_rate, 1, name=f"{self.name}_1_conv", **conv)
        self.norm1 = keras.layers.BatchNormalization(name=f"{self.name}_1_bn", **norm)
        self.conv2 = keras.layers.Conv2D(growth_rate, 3, padding="same", name=f"{self.name}_2_conv", **conv)

    def build(self, input_shape):
        shape = list(_concat_shape(input_shape, self.axis))
        self.norm0.build(tuple(shape))
        self.conv1.build(tuple(shape))
        shape[self.axis] = self.bottleneck_width * self.growth_rate
        self.norm1.build(tuple(shape))
        self.conv2.build(tuple(shape))
        self.built = True

    def _normalize_relu(self, x, norm, mean, variance):
        return _normalize_relu(x, norm, mean=mean, variance=variance, axis=self.axis, dtype=self.compute_dtype)

    def _batch_norms(self):
        return [self.norm0, self.norm1]

    def _output_channels(self):
        return self.growth_rate

    def _compute(self, training, *features):
        # Computing the first BatchNormalization's moments here, on the concatenation, keeps the graph small:
        # per-input moments outside the recomputed function added ops quadratic in the block's depth
        # (DenseNet-121: 1.7x the graph nodes, 2x the tracing time, and a 0.69x instead of 0.56x peak RSS
        # against keras.applications; benchmarks/RESULTS.md).
        x = _concat(features, self.axis)
        mean0, variance0 = _statistics(x, self.norm0, self.axis, training)
        x = self.conv1(self._normalize_relu(x, self.norm0, mean0, variance0))
        mean1, variance1 = _statistics(x, self.norm1, self.axis, training)
        y = self.conv2(self._normalize_relu(x, self.norm1, mean1, variance1))
        return y, mean0, variance0, mean1, variance1

    def get_config(self):
        names = ("growth_rate", "bottleneck_width", "axis", "epsilon", "momentum", "rematerialize")
        return {**super().get_config(), **_attributes(self, *names)}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` that runs TensorFlow's fused kernel where it can.

    Keras 3 normalizes with separate ops on every backend (moments, then scale and shift), and its
    gradient is the autodiff of those: several passes over each activation tensor. When training on
    the TensorFlow backend this layer calls `FusedBatchNormV3` instead (one pass forward, one backward),
    which makes a CIFAR ResNet-20 training step about 1.2x faster on a 2-core CPU with oneDNN
    (benchmarks/RESULTS.md). Inference (and a frozen layer in training) runs the same kernel's inference
    mode: under mixed_bfloat16 Keras' ops cast every activation to float32 and back, and compiled
    inference ran 1.46x (ResNet50, batch 32) and 2.2x (ResNet-20, batch 128) faster with the kernel,
    which takes the bfloat16 activations as they are; in float32 0.99x and 1.28x (2-core Intel Xeon with
    AMX, benchmarks/upstream/bn_inference_ab.py). `keras_resnets.fold_batch_norm` is faster still (5.1x
    and 4.5x in bfloat16), and exporters fold either way.

    It is the same layer in every other respect: the same arguments and config, the same variables
    (gamma, beta, moving_mean, moving_variance) in the same order, the same outputs and moving-average
    update up to float rounding (tested against the Keras layer), so weights copy both ways. Calls it
    does not fuse (another backend, rank other than 4, channels_first, a mask, `renorm`, `synchronized`,
    no `center`/`scale`) take the Keras layer's own path.
    """

    def _fusable(self, inputs, mask):
        return (
            keras.backend.backend() == "tensorflow"
            and mask is None
            and len(inputs.shape) == 4
            and self.axis in (3, -1)
            and self.center
            and self.scale
            and not self.renorm
            and not self.synchronized
        )

    def call(self, inputs, training=None, mask=None):
        if not self._fusable(inputs, mask):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        # As the Keras layer: statistics in float32 whatever the compute dtype (mixed precision). A bfloat16 input
        # goes in as it is: the kernel accumulates in float32 itself, and two casts per layer cost a ResNet-20 step
        # under mixed_bfloat16 a third of its time (benchmarks/RESULTS.md, bfloat16 case).
        x = inputs if inputs.dtype == tf.bfloat16 else tf.cast(inputs, "float32")
        if not (training and self.trainable):  # the moving statistics, as the Keras layer (a frozen layer too)
            y, *_ = tf.raw_ops.FusedBatchNormV3(
                x=x, scale=tf.cast(self.gamma, "float32"), offset=tf.cast(self.beta, "float32"),
                mean=tf.cast(self.moving_mean, "float32"), variance=tf.cast(self.moving_variance, "float32"),
                epsilon=self.epsilon, data_format="NHWC", is_training=False,
            )
            return y if y.dtype == self.compute_dtype else tf.cast(y, self.compute_dtype)
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
        return y if y.dtype == self.compute_dtype else tf.cast(y, self.compute_dtype)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class HorizontalFlip(keras.layers.Layer):
    """Mirrors images left to right, always (not a random augmentation).

    `keras.layers.RandomFlip` flips only while training and only at random; this layer is the fixed
    mirror that test-time augmentation needs (`keras_resnets.flip_tta`), at inference and in exports.

    Args:
        data_format: str or None, `"channels_last"` or `"channels_first"`; default from Keras config.
    """

    def __init__(self, data_format=None, **kwargs):
        # The pixels pass through in their own dtype (no cast to a mixed-precision compute dtype).
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        self.data_format = _standardize_data_format(data_format)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"HorizontalFlip expects a batch of images (rank 4). Received an input of shape {tuple(input_shape)}."
            )
        self.built = True

    def call(self, inputs):
        return ops.flip(inputs, axis=2 if self.data_format == "channels_last" else 3)

    def compute_output_spec(self, inputs):
        return keras.KerasTensor(inputs.shape, dtype=inputs.dtype)

    def get_config(self):
        return {**super().get_config(), **_attributes(self, "data_format")}


def _spatial_axes(data_format):
    return (1, 2) if data_format == "channels_last" else (2, 3)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BlurPool2D(keras.layers.Layer):
    """Anti-aliased downsampling: a fixed binomial low-pass filter, then the stride (Zhang 2019).

    Each channel is reflect-padded and convolved with the outer product of the binomial coefficients
    (`[1, 2, 1] / 4` for `filter_size=3`), sampled every `strides` pixels: timm's `BlurPool2d`. The filter is a
    constant of `filter_size`, not a variable: nothing to train, save or load.

    Args:
        filter_size: int >= 2, the binomial filter's side (3 in timm's `resnetblur*`).
        strides: int >= 1, the downsampling factor.
        data_format: str or None, `"channels_last"` or `"channels_first"`; default from Keras config.
    """

    def __init__(self, filter_size=3, strides=2, data_format=None, **kwargs):
        super().__init__(**kwargs)
        for arg, value, minimum in (("filter_size", filter_size, 2), ("strides", strides, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"`{arg}` must be an integer >= {minimum}. Received: {arg}={value!r}")
        self.filter_size = filter_size
        self.strides = strides
        self.data_format = _standardize_data_format(data_format)
        # timm's get_padding(filter_size, strides): the same padding on every side.
        self.padding = ((strides - 1) + (filter_size - 1)) // 2

    @property
    def kernel(self):
        """The (filter_size, filter_size) blur filter, summing to 1 (NumPy)."""
        import math

        import numpy as np

        coefficients = np.array([math.comb(self.filter_size - 1, k) for k in range(self.filter_size)], "float32")
        coefficients /= coefficients.sum()
        return np.outer(coefficients, coefficients)

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                f"BlurPool2D expects a batch of images (rank 4). Received an input of shape {tuple(input_shape)}."
            )
        channels = input_shape[_channel_axis(self.data_format)]
        if channels is None:
            raise ValueError("BlurPool2D needs a known channel count. Received an input of shape "
                             f"{tuple(input_shape)}.")
        self.channels = int(channels)
        self.built = True

    def call(self, inputs):
        pad = [(0, 0)] * 4
        for axis in _spatial_axes(self.data_format):
            pad[axis] = (self.padding, self.padding)
        x = ops.pad(inputs, pad, mode="reflect") if self.padding else inputs
        kernel = ops.convert_to_tensor(self.kernel[:, :, None, None], dtype=inputs.dtype)
        kernel = ops.tile(kernel, (1, 1, self.channels, 1))
        return ops.depthwise_conv(x, kernel, strides=self.strides, padding="valid", data_format=self.data_format)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis in _spatial_axes(self.data_format):
            if shape[axis] is not None:
                shape[axis] = (shape[axis] + 2 * self.padding - self.filter_size) // self.strides + 1
        return tuple(shape)

    def get_config(self):
        return {**super().get_config(), **_attributes(self, "filter_size", "strides", "data_format")}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class DropBlock2D(keras.layers.Layer):
    """DropBlock (Ghiasi et al. 2018): drops contiguous squares of a feature map while training.

    timm's `drop_block_2d`: block centres are drawn with probability
    `gamma = gamma_scale * rate * H * W / (b * b) / ((H - b + 1) * (W - b + 1))` (b the block size, clipped to
    the map), grown to `b x b` squares shared by all channels, and the kept activations rescaled by the kept
    fraction. Inference is the identity. Keras ships no DropBlock layer.

    Args:
        rate: float in [0, 1), the fraction of activations to drop.
        block_size: int >= 1, the side of a dropped square.
        gamma_scale: float in (0, 1], timm's scale of the seed probability.
        seed: int or None, for reproducible masks.
        data_format: str or None, `"channels_last"` or `"channels_first"`; default from Keras config.
    """

    def __init__(self, rate, block_size=7, gamma_scale=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"`rate` must be a number in [0, 1). Received: rate={rate!r}")
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"`block_size` must be an integer >= 1. Received: block_size={block_size!r}")
        if isinstance(gamma_scale, bool) or not isinstance(gamma_scale, (int, float)) or not 0 < gamma_scale <= 1:
            raise ValueError(f"`gamma_scale` must be a number in (0, 1]. Received: gamma_scale={gamma_scale!r}")
        self.rate = float(rate)
        self.block_size = block_size
        self.gamma_scale = float(gamma_scale)
        self.seed = seed
        self.data_format = _standardize_data_format(data_format)
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.rate == 0.0:
            return inputs
        h_axis, w_axis = _spatial_axes(self.data_format)
        height, width = inputs.shape[h_axis], inputs.shape[w_axis]
        if height is None or width is None:
            raise ValueError(
                "DropBlock2D needs the feature map's height and width when training; build the model with a fixed "
                f"input size. Received an input of shape {tuple(inputs.shape)}."
            )
        kh, kw = min(self.block_size, height), min(self.block_size, width)
        gamma = self.gamma_scale * self.rate * height * width / (kh * kw) / ((height - kh + 1) * (width - kw + 1))
        shape = list(ops.shape(inputs))
        shape[_channel_axis(self.data_format)] = 1
        seeds = ops.cast(keras.random.uniform(shape, seed=self.seed_generator) < gamma, "float32")
        # Grows each seed to a block ("same" pooling pads an even block as timm crops it).
        blocks = ops.max_pool(seeds, (kh, kw), strides=1, padding="same", data_format=self.data_format)
        keep = 1.0 - blocks
        scale = ops.cast(ops.size(keep), "float32") / (ops.sum(keep) + 1e-7)
        return inputs * ops.cast(keep * scale, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(),
                **_attributes(self, "rate", "block_size", "gamma_scale", "seed", "data_format")}
