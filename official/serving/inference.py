"""The inference call of a ResNet-RS model, with the batch cut into slices that run side by side.

On a CPU, TensorFlow runs one convolution at a time across its intra-op threads; a
convolution over half the batch is no slower per image, and two halves are
independent ops that the executor runs at the same time (one per inter-op thread).
Cutting a batch of 32 in two gave 1.19x the images/s of the single call on a 2-core
AMD EPYC (oneDNN on, default thread pools; measured in one process, calls alternated:
see docs/performance.md). Inference is per image (batch norm uses its moving
statistics), so the logits are the single call's: bit-identical with oneDNN (as
measured here), equal up to float rounding (~1e-8) with Eigen, whose GEMM blocking
depends on the batch.

Batches smaller than `batch_splits` (batch 1: latency) take the single call.

Example:
    >>> from official.modeling import resnet_rs
    >>> model = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1))   # the small model
    >>> tuple(logits(model, tf.zeros([8, 64, 64, 3])).shape)        # two calls of 4
    (8, 1000)
"""

import tensorflow as tf

from official.runtime import precision
from official.modeling import resnet_rs

# Slices per batch. 2 = the cores of the smallest machines we serve on; more slices
# than inter-op threads only add ops (4 was no faster than 2 on 2 cores).
DEFAULT_BATCH_SPLITS = 2


def serving_model(model, fold_batch_norm=None):
    """The model to serve for `model`, always one that outputs the logits (a softmax
    classifier's `logits` layer), with its batch norms folded into the convolutions
    (`resnet_rs.fold_batch_norm`) or not.

    Args:
        model: a ResNet-RS model (any other Keras model is served as it is).
        fold_batch_norm: None (default) folds below float32 only; True folds in every
            precision; False never folds.

    Why that default. In bfloat16 TensorFlow cannot fuse a float32-statistics batch norm
    into the convolution, and folding made inference ~1.2x faster (AMD EPYC,
    AVX512-BF16). In float32 oneDNN applies an unfolded batch norm as post-ops of the
    convolution (subtract, multiply, add per output element), in the official code's
    order of operations; folded, a convolution carries only its bias and ReLU:
    ResNet-RS-50 at 160 served 1.03-1.06x faster at batch 1 and at batch 32 on a 2-core
    AMD EPYC Zen 1 (docs/performance.md). The price is rounding: on a TF1-layout
    checkpoint the float32 logits were 7.7e-6 from the official code's unfolded and
    1.0e-5 folded, each as far from the float64 result as the official code's own
    (7.0e-6 and 7.7e-6 against its 7.3e-6). Float32 keeps the official order unless asked.

    Example:
        >>> from official.modeling import resnet_rs
        >>> model = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1))   # the small model
        >>> [serving_model(model, fold).get_config()["fold_batch_norm"] for fold in (None, True)]
        [False, True]
    """
    if isinstance(model, resnet_rs.ResNetRS):
        if fold_batch_norm if fold_batch_norm is not None else precision.of(model) != "float32":
            model = resnet_rs.fold_batch_norm(model)
    return resnet_rs.logits_model(model)


def _single(model, images):
    return model(images, training=False)


def traced_call(model, image_shape, dtype=tf.float32):
    """`model(images, training=False)` as one tf.function for [N, *image_shape] images.

    Tracing ResNet-RS takes seconds and each trace is stored in a SavedModel, so every
    call site (the slices, the signatures of an export) calls this one function; each
    call is still its own op, which the executor runs alongside the others.

    Example:
        >>> from official.modeling import resnet_rs
        >>> model = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1))
        >>> call = traced_call(model, (64, 64, 3))
        >>> tuple(logits(model, tf.zeros([4, 64, 64, 3]), call=call).shape)   # traced once
        (4, 1000)
    """
    spec = tf.TensorSpec([None] + list(tf.TensorShape(image_shape)), dtype)
    return tf.function(lambda x: _single(model, x), input_signature=[spec])


def _sliced(call, images, batch_splits):
    n = tf.shape(images)[0]
    # Sizes as equal as possible: n // k, plus one for the first n % k slices.
    sizes = n // batch_splits + tf.cast(tf.range(batch_splits) < n % batch_splits, tf.int32)
    parts = tf.split(images, sizes, num=batch_splits)
    return tf.concat([call(part) for part in parts], axis=0)


def logits(model, images, batch_splits=DEFAULT_BATCH_SPLITS, call=None):
    """`model(images, training=False)`, computed in `batch_splits` slices.

    Args:
        model: a ResNet-RS model whose output is the logits (`serving_model(model)`).
        images: [N, H, W, 3] normalised images; N may be unknown until run time.
        batch_splits: slices run side by side (1: a single call).
        call: `traced_call(model, ...)` to reuse across several functions (the
            signatures of one export): the network is then traced once for all of them.

    Returns:
        [N, classes] logits, the single call's (up to float rounding).
    """
    if batch_splits < 1:
        raise ValueError(f"batch_splits must be >= 1, got {batch_splits}")
    batch = images.shape[0]
    whole = batch_splits == 1 or (batch is not None and batch < batch_splits)
    if whole and call is None:
        return _single(model, images)
    call = call or traced_call(model, images.shape[1:], images.dtype)
    if whole:
        return call(images)
    if batch is not None:
        return _sliced(call, images, batch_splits)
    return tf.cond(tf.shape(images)[0] >= batch_splits,
                   lambda: _sliced(call, images, batch_splits), lambda: call(images))
