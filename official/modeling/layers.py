"""Building blocks of ResNet-RS as plain functions over Keras 3 layers.

Every layer gets an explicit, stable name (see `CONTRACTS.md`): the checkpoint
readers in `official/checkpoints/readers.py` find variables by these names, so renaming a
layer here is a format change.

Example:
    >>> import keras
    >>> x = keras.Input((64, 64, 3))
    >>> y = stem(x, activation="relu", padding="fixed", norm=batch_norm_factory())
    >>> tuple(y.shape)
    (None, 16, 16, 64)
"""

import functools

import keras

from official.modeling import normalization

# TF1 `variance_scaling_initializer()` defaults, which the Garden also uses
# (docs/fidelity.md: convolutions): scale 1, fan_in, truncated normal.
CONV_INITIALIZER = {
    "class_name": "VarianceScaling",
    "config": {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
}


@keras.saving.register_keras_serializable(package="resnet_rs")
class Normalize(keras.layers.Layer):
    """RGB on the 0..255 scale in, `normalization.normalize` out (same float32 ops, same bits).

    Inside a model built with `include_preprocessing=True`, so it takes raw pixels as
    keras.applications models do. No variables: checkpoints are the same either way.

    Example:
        >>> keras.ops.convert_to_numpy(Normalize()(keras.ops.full((1, 2, 2, 3), 124.0))[0, 0, 0]).round(2)
        array([0.01, 0.14, 0.36], dtype=float32)
    """

    def call(self, images):
        return normalization.normalize(images, self.compute_dtype)


@keras.saving.register_keras_serializable(package="resnet_rs")
class StochasticDepth(keras.layers.Layer):
    """Drops the whole residual branch of an example with probability `rate`.

    Training: `x / keep_prob * mask` with one Bernoulli draw per example (mask shape
    [N, 1, 1, 1]), as the official `drop_connect` (docs/fidelity.md: stochastic depth). Inference:
    identity.

    Example:
        >>> layer = StochasticDepth(0.2)
        >>> tuple(layer(keras.ops.ones((2, 4, 4, 8)), training=False).shape)
        (2, 4, 4, 8)
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"StochasticDepth rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        keep_prob = 1.0 - self.rate
        batch = keras.ops.shape(inputs)[0]
        # floor(keep_prob + U[0, 1)) is 1 with probability keep_prob.
        noise = keras.random.uniform((batch, 1, 1, 1), seed=self.seed_generator, dtype=inputs.dtype)
        mask = keras.ops.floor(keep_prob + noise)
        return inputs / keep_prob * mask

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="resnet_rs")
class BatchNorm(keras.layers.BatchNormalization):
    """Channels-last batch norm that runs as ONE fused TensorFlow op (keras.ops elsewhere).

    Same variables (gamma, beta, moving_mean, moving_variance) and the same maths
    as `keras.layers.BatchNormalization`, with two deliberate differences:

    * `fused=True` (default) calls `FusedBatchNormV3`, one op forward and one
      backward instead of Keras' chain of moments + elementwise ops, and lets
      Grappler fold inference-mode BN into the preceding convolution. Its epsilon
      is passed exactly (the `tf.nn.fused_batch_norm` wrapper would raise 1e-5 to
      1.001e-5).
    * the moving variance is updated with the UNBIASED batch variance
      (x n/(n-1)), as the TF1 release's fused `tf.layers.batch_normalization` did;
      Keras stores the biased one. Normalisation itself uses the biased variance
      in both. `fused=False` computes the same numbers with plain ops (the
      reference path of the equality tests).

    On the other Keras backends (JAX, PyTorch) the same maths runs in keras.ops, with the
    same unbiased moving variance (tests/test_backends.py compares it with the fused op).

    Example:
        >>> bn = BatchNorm(momentum=0.0, epsilon=1e-5)
        >>> tuple(bn(keras.ops.ones((2, 4, 4, 8)), training=True).shape)
        (2, 4, 4, 8)
    """

    def __init__(self, fused=True, **kwargs):
        super().__init__(**kwargs)
        self.fused = fused

    def call(self, inputs, training=None, mask=None):
        if mask is not None or self.renorm or len(inputs.shape) != 4 or self.axis not in (-1, 3):
            return super().call(inputs, training=training, mask=mask)
        if keras.backend.backend() != "tensorflow":
            return self._call_keras_ops(inputs, bool(training) and self.trainable)
        # The only TensorFlow in official/modeling: the fused op is TensorFlow's, and
        # imported here so that the model imports (and runs) without it on other backends.
        import tensorflow as tf  # pylint: disable=import-outside-toplevel

        training = bool(training) and self.trainable
        if self.fused:
            empty = tf.constant([], tf.float32)
            y, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
                x=inputs, scale=self.gamma, offset=self.beta,
                mean=empty if training else self.moving_mean,
                variance=empty if training else self.moving_variance,
                epsilon=self.epsilon, exponential_avg_factor=1.0, data_format="NHWC",
                is_training=training)
        else:
            x = tf.cast(inputs, tf.float32)
            if training:
                mean, biased = tf.nn.moments(x, axes=[0, 1, 2])
                n = tf.cast(tf.size(x) // tf.shape(x)[-1], tf.float32)
                variance = biased * n / tf.maximum(n - 1.0, 1.0)
            else:
                mean, biased = self.moving_mean, self.moving_variance
            y = tf.nn.batch_normalization(x, mean, biased, self.beta, self.gamma, self.epsilon)
            y = tf.cast(y, inputs.dtype)
        if training:
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + variance * (1.0 - m))
        return y

    def _call_keras_ops(self, inputs, training):
        """The same numbers as the TensorFlow path with keras.ops (JAX, PyTorch): normalise with the
        biased batch variance, store the unbiased one (x n/(n-1)), in float32."""
        x = keras.ops.cast(inputs, "float32")
        if training:
            mean, biased = keras.ops.moments(x, axes=[0, 1, 2])
            n = 1.0
            for d in x.shape[:3]:      # concrete on the eager backends, also under jax.jit
                n *= d
            variance = biased * (n / max(n - 1.0, 1.0))
        else:
            mean, biased = self.moving_mean, self.moving_variance
        y = keras.ops.batch_normalization(x, mean, biased, axis=-1, offset=self.beta, scale=self.gamma,
                                          epsilon=self.epsilon)
        if training:
            m = self.momentum
            self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
            self.moving_variance.assign(self.moving_variance * m + variance * (1.0 - m))
        return keras.ops.cast(y, inputs.dtype)

    def get_config(self):
        return {**super().get_config(), "fused": self.fused}


def batch_norm_factory(momentum=0.0, epsilon=1e-5, fused=True):
    """Returns `norm(name, zero_init=False)` making a channels-last `BatchNorm`.

    momentum 0 is the ResNet-RS setting in both official codes (docs/fidelity.md: batch norm): the stored
    moving statistics are the last batch's and the usable ones are the EMA shadows
    kept by `official/training/ema.py`, as in the TF1 release.
    """

    def norm(name, zero_init=False):
        return BatchNorm(
            fused=fused,
            axis=-1,
            momentum=momentum,
            epsilon=epsilon,
            gamma_initializer="zeros" if zero_init else "ones",
            name=name,
        )

    return norm


def conv(x, filters, kernel_size, strides, padding, name, use_bias=False):
    """Convolution (bias-free unless `use_bias`) with the official padding rule for its family.

    padding "fixed" (TF1 release): a strided conv first pads (k-1)//2 before and
    (k-1)-(k-1)//2 after, then convolves VALID, so a 3x3/2 conv samples pixels
    centred like a stride-1 conv would (docs/fidelity.md: convolutions, #2). Stride-1 convs are SAME.
    padding "same" (Garden): Keras SAME everywhere, which on even inputs pads
    0 before / 1 after, a one-pixel shift of the sampling grid.
    """
    if strides > 1 and padding == "fixed":
        total = kernel_size - 1
        before = total // 2
        x = keras.layers.ZeroPadding2D(((before, total - before),) * 2, name=f"{name}_pad")(x)
        conv_padding = "valid"
    else:
        conv_padding = "same"
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=conv_padding,
        use_bias=use_bias,
        kernel_initializer=CONV_INITIALIZER,
        name=name,
    )(x)


def conv_bn_act(x, filters, kernel_size, strides, *, padding, norm, activation, name, bn_name,
                zero_init=False):
    """conv -> BN -> activation (activation None: no activation).

    norm None: the batch norm is folded into the convolution, which then has a bias
    (an inference model, see `resnet_rs.fold_batch_norm`).
    """
    x = conv(x, filters, kernel_size, strides, padding, name, use_bias=norm is None)
    if norm is not None:
        x = norm(bn_name, zero_init=zero_init)(x)
    if activation is not None:
        x = keras.layers.Activation(activation, name=f"{name}_act")(x)
    return x


def stem(x, *, activation, padding, norm):
    """ResNet-D deep stem whose max-pool is replaced by a 3x3/2 conv (docs/fidelity.md: stem).

    3x3/2 3->32, 3x3 32->32, 3x3 32->64, 3x3/2 64->64, each with BN and activation.
    Output: stride 4, 64 channels.
    """
    for i, (filters, strides) in enumerate([(32, 2), (32, 1), (64, 1), (64, 2)], start=1):
        x = conv_bn_act(x, filters, 3, strides, padding=padding, norm=norm, activation=activation,
                        name=f"stem_conv{i}", bn_name=f"stem_bn{i}")
    return x


def squeeze_excite(x, in_filters, se_ratio, name):
    """Squeeze-and-excitation after the block's last BN (docs/fidelity.md: squeeze-excite, #5).

    Squeezes to int(in_filters * se_ratio) channels where in_filters is the block's
    OUTPUT width (4f), so f channels at se_ratio 0.25. Both 1x1 convs have biases;
    the inner activation is ReLU even in the Garden's swish models; the gate is a
    sigmoid.
    """
    reduced = max(1, int(in_filters * se_ratio))
    s = keras.layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = keras.layers.Conv2D(reduced, 1, activation="relu", kernel_initializer=CONV_INITIALIZER,
                            name=f"{name}_se_reduce")(s)
    s = keras.layers.Conv2D(in_filters, 1, activation="sigmoid", kernel_initializer=CONV_INITIALIZER,
                            name=f"{name}_se_expand")(s)
    return keras.layers.Multiply(name=f"{name}_se_excite")([x, s])


def bottleneck_block(x, filters, strides, *, first, activation, padding, norm, se_ratio,
                     drop_rate, stage2_shortcut_pool, zero_init_last_bn, name):
    """Post-activation bottleneck with ResNet-D shortcut, SE and stochastic depth (docs/fidelity.md: bottleneck).

    Main path: 1x1 -> 3x3 (carries the stride) -> 1x1 (4f, BN without activation)
    -> SE -> stochastic depth -> + shortcut -> activation.

    Shortcut of the first block of a stage: 2x2/2 SAME average pool (only when
    strided), then 1x1 conv + BN. Where the stride is 1 (the first stage), the TF1
    release uses no pool; the Garden inserts a 2x2 stride-1 SAME average pool
    (`stage2_shortcut_pool=True`), which smooths the shortcut (docs/fidelity.md: bottleneck, #6).
    """
    shortcut = x
    if first:
        if strides > 1 or stage2_shortcut_pool:
            shortcut = keras.layers.AveragePooling2D(
                pool_size=2, strides=strides, padding="same", name=f"{name}_shortcut_pool")(shortcut)
        shortcut = keras.layers.Conv2D(4 * filters, 1, use_bias=norm is None,
                                       kernel_initializer=CONV_INITIALIZER,
                                       name=f"{name}_shortcut_conv")(shortcut)
        if norm is not None:
            shortcut = norm(f"{name}_shortcut_bn")(shortcut)
    act = functools.partial(conv_bn_act, padding=padding, norm=norm)
    x = act(x, filters, 1, 1, activation=activation, name=f"{name}_conv1", bn_name=f"{name}_bn1")
    x = act(x, filters, 3, strides, activation=activation, name=f"{name}_conv2", bn_name=f"{name}_bn2")
    # The zero-initialised gamma makes each block start as the identity (TPU code; docs/fidelity.md: batch norm).
    x = act(x, 4 * filters, 1, 1, activation=None, name=f"{name}_conv3", bn_name=f"{name}_bn3",
            zero_init=zero_init_last_bn)
    if se_ratio:
        x = squeeze_excite(x, 4 * filters, se_ratio, name)
    if drop_rate:
        x = StochasticDepth(drop_rate, name=f"{name}_drop")(x)
    x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
    return keras.layers.Activation(activation, name=f"{name}_out")(x)
