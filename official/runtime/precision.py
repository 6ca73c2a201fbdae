"""Float precision of a ResNet-RS: the Keras policy of each, and where bfloat16 pays.

"bfloat16" is Keras' `mixed_bfloat16`: the variables (and so every checkpoint, ours
or official) stay float32; convolutions, batch norm and activations run in bfloat16;
the logits are float32 (the head is built float32). The paper trained this way on TPUs.

On a CPU it pays only where TensorFlow's bfloat16 kernels beat its float32 ones, and
the CPU flags do not tell: a Xeon listing `avx512_bf16` ran TensorFlow's bfloat16
matrix product at 0.57x float32, an AMD EPYC with the same flag ran ResNet-RS ~1.5x
faster. So the project measures: official/runtime/precision_probe.py times both on this
machine (about a second, cached per machine), and the `auto` precision of the trainer,
tools/predict.py and tools/export_saved_model.py picks bfloat16 only where it measured
faster. `cpu_bfloat16_support()` lists the flags, for reports only.

Example:
    >>> from official.modeling import resnet_rs
    >>> with policy("bfloat16"):
    ...     model = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1))   # bfloat16 compute
    >>> of(model), model.get_layer("stem_conv1").kernel.dtype   # float32 variables
    ('bfloat16', 'float32')
    >>> float32_logits = np.array([[0.1, 2.0, 1.0, 0.5], [3.0, 0.2, 0.1, 0.0]])
    >>> bfloat16_logits = float32_logits + np.array([[0.0, 0.0, 0.0, 0.3], [0.0, 0.0, 0.0, 0.0]])
    >>> agreement(float32_logits, bfloat16_logits, k=2)["topk_same_set"]   # fraction of images
    1.0
"""

import contextlib

import keras
import numpy as np

from official.validation import check_choice

PRECISIONS = ("float32", "bfloat16", "float16")
KERAS_POLICY = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
# /proc/cpuinfo flags of native bfloat16 matrix instructions, fastest first.
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@contextlib.contextmanager
def policy(precision, weights_too=False):
    """Models built inside the block compute in `precision` (Keras' global policy, restored after).

    Keras reads the global policy when a layer is created, so only models built inside
    the block are affected; a model keeps its precision once built. `weights_too`: the
    variables are in `precision` as well (Keras' plain "bfloat16" policy): for inference
    copies without batch norm only (`resnet_rs.fold_batch_norm`), never for training.
    """
    check_choice("precision", precision, PRECISIONS)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision if weights_too else KERAS_POLICY[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def of(model):
    """The precision `model` was built in ("float32", "bfloat16" or "float16"), from its layers' policy.

    Example:
        >>> from official.modeling import resnet_rs
        >>> of(resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1)))
        'float32'
    """
    for layer in model.layers:
        if layer.weights:      # the first layer with weights: a convolution of the stem
            return layer.compute_dtype if layer.compute_dtype in ("bfloat16", "float16") else "float32"
    return "float32"


def cpu_bfloat16_support(cpuinfo_path="/proc/cpuinfo"):
    """The native bfloat16 instruction sets of this CPU (subset of BFLOAT16_CPU_FLAGS, in order).

    An empty tuple means bfloat16 runs slower than float32 here. Linux only; elsewhere ().
    """
    try:
        with open(cpuinfo_path) as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return tuple(f for f in BFLOAT16_CPU_FLAGS if f in flags)
    except OSError:
        pass
    return ()


def agreement(reference, other, k=5):
    """How far `other` logits are from `reference` ones, per image and in total.

    Args:
        reference, other: [N, classes] logits (e.g. float32 and bfloat16 runs of one model).
        k: the top-k compared.

    Returns:
        dict: top1_same / topk_same_set / topk_same_order (fractions of the N images),
        max_abs_diff, max_rel_diff (|d| / the reference's logit range per image, max over
        images), and per_image: [(same_set, same_order, reference top-k, other top-k)].
    """
    a, b = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"logits must be two [N, classes] arrays of one shape, got {a.shape} and {b.shape}")
    k = min(k, a.shape[1])
    top_a, top_b = np.argsort(-a, axis=1)[:, :k], np.argsort(-b, axis=1)[:, :k]
    per_image = [(set(x) == set(y), bool(np.all(x == y)), x.tolist(), y.tolist())
                 for x, y in zip(top_a, top_b)]
    spread = np.maximum(a.max(axis=1) - a.min(axis=1), 1e-12)
    diff = np.abs(a - b)
    return dict(
        images=len(per_image), k=k,
        top1_same=float(np.mean(top_a[:, 0] == top_b[:, 0])),
        topk_same_set=float(np.mean([p[0] for p in per_image])),
        topk_same_order=float(np.mean([p[1] for p in per_image])),
        max_abs_diff=float(diff.max()),
        max_rel_diff=float((diff.max(axis=1) / spread).max()),
        per_image=per_image)
