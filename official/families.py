"""The two official ResNet-RS families, each described once.

ResNet-RS was published twice, by two code bases that differ in ways that load
silently and only show as lost accuracy (docs/fidelity.md):

* ``"tf1"``: the ``tensorflow/tpu`` release the paper's numbers come from: ReLU,
  symmetric fixed padding, 1000 classes (TFRecord label - 1), crop S/(S+32) with
  TF1 legacy bicubic, RandAugment that always applies an op, Nesterov momentum,
  weight decay on every non-batch-norm variable (SE and dense biases included).
* ``"garden"``: the TF2 Model Garden's: swish, Keras SAME padding, a 2x2 stride-1
  average pool in the first block's shortcut, 1001 classes (label kept, column 0
  an unused background class), 0.875 crop with bilinear resize, RandAugment with
  an identity op, plain momentum, weight decay on kernels only.

Every module that behaves differently per family reads the :class:`Family` here
instead of spelling ``"tf1"``/``"garden"`` itself. This module imports nothing
heavy, so configs and CLIs can read it before TensorFlow starts.

Example:
    >>> get("garden").architecture()["activation"]
    'swish'
    >>> of_format("native").name
    'tf1'
"""

import dataclasses
import math

from official.validation import check_choice


@dataclasses.dataclass(frozen=True)
class Family:
    """What one official code base chose, wherever the two differ.

    Attributes:
        name: "tf1" or "garden"; also the value of ``config.data.preprocessing``,
            ``config.data.randaug_variant`` (official/data/randaugment.py holds what the
            Garden's RandAugment changes) and ``config.optimizer.weight_decay_rule``.
        title: the code base, for messages and docs.
        checkpoint_format: the format its checkpoints are read with
            (official/checkpoints/readers.py).
        url_pattern: where its published checkpoints are, ``{name}`` the checkpoint name.
        activation: of the blocks (the SE's inner activation is ReLU in both).
        padding: of the strided convolutions: "fixed" (symmetric pad, then VALID)
            or "same" (Keras SAME, which samples one pixel further right and down).
        stage2_shortcut_pool: a 2x2 stride-1 average pool before the first block's
            projection.
        num_classes: logits of the published heads.
        zero_init_last_bn: the last batch norm of each block starts at gamma 0.
        head_initializer: "tf1" N(0, 0.01) or "garden" U(-0.05, 0.05).
        label_offset: subtracted from the TFRecord label (1..1000) to get the class.
        min_object_covered: of the training crop sampler.
        crop_padding: P of the eval centre crop S/(S+P); None: ``eval_crop_fraction``.
        eval_crop_fraction: the eval centre crop's share of the short side, when it
            is a constant (the Garden's 0.875).
        resize: "bicubic_legacy" (TF1 ``resize_bicubic``, no half-pixel centres) or
            "bilinear" (TF2 ``tf.image.resize``).
        flip_before_resize: the training flip comes before the resize.
        crop_fallback_checks_channels: the training crop's "sampling failed" test
            compares channels too (the TPU code's quirk: a grayscale JPEG never
            falls back to the centre crop).
        weight_decay_on_biases: the L2 term covers SE and dense biases too.
        nesterov: Nesterov momentum.
        momentum_rule: how its trainer kept the momentum slot (official/training/optimizer.py):
            "tf1" (tf.train.MomentumOptimizer: a = mu*a + g, the current rate applied
            at update time) or "keras" (Keras SGD, which the Garden trained with:
            v = mu*v - lr*g, past rates carried in the slot).
        whole_epoch_steps: how its trainer turns epochs into the run's steps: True, whole
            epochs of floor(N / B) steps (the Garden's 350 x 312 = 109200 at batch 4096);
            False, ceil(epochs x N / B) (the TF1 configs' train_steps, 109475).
    """

    name: str
    title: str
    checkpoint_format: str
    url_pattern: str
    activation: str
    padding: str
    stage2_shortcut_pool: bool
    num_classes: int
    zero_init_last_bn: bool
    head_initializer: str
    label_offset: int
    min_object_covered: float
    crop_padding: object
    eval_crop_fraction: object
    resize: str
    flip_before_resize: bool
    crop_fallback_checks_channels: bool
    weight_decay_on_biases: bool
    nesterov: bool
    momentum_rule: str
    whole_epoch_steps: bool

    def architecture(self):
        """The keyword arguments of ``official.modeling.resnet_rs.ResNetRS`` this family's checkpoints need."""
        return dict(activation=self.activation, padding=self.padding,
                    stage2_shortcut_pool=self.stage2_shortcut_pool, num_classes=self.num_classes,
                    zero_init_last_bn=self.zero_init_last_bn, head_initializer=self.head_initializer)

    def train_steps(self, epochs, num_images, global_batch_size):
        """The steps of an `epochs`-long run, counted as this family's trainer counts them.

        Example:
            >>> TF1.train_steps(350, 1281167, 4096), GARDEN.train_steps(350, 1281167, 4096)
            (109475, 109200)
        """
        if self.whole_epoch_steps:
            return int(epochs * max(1, num_images // global_batch_size))
        return int(math.ceil(epochs * num_images / global_batch_size))


# Both families' published heads speak these classes (the Garden's with a background column 0).
IMAGENET_CLASSES = 1000

# The crop padding of the 2021 code that produced the published accuracies; today's
# tensorflow/tpu code pads round(S/7), which agrees only at S = 224.
TF1_CROP_PADDING = 32

TF1 = Family(
    name="tf1", title="tensorflow/tpu (TF1 release)", checkpoint_format="tf1",
    url_pattern="https://storage.googleapis.com/cloud-tpu-checkpoints/resnet-rs/{name}.tar.gz",
    activation="relu", padding="fixed", stage2_shortcut_pool=False, num_classes=IMAGENET_CLASSES,
    zero_init_last_bn=True, head_initializer="tf1", label_offset=1, min_object_covered=0.1,
    crop_padding=TF1_CROP_PADDING, eval_crop_fraction=None, resize="bicubic_legacy",
    flip_before_resize=False, crop_fallback_checks_channels=True, weight_decay_on_biases=True, nesterov=True,
    momentum_rule="tf1", whole_epoch_steps=False)

GARDEN = Family(
    name="garden", title="TF2 Model Garden", checkpoint_format="garden",
    url_pattern="https://storage.googleapis.com/tf_model_garden/vision/resnet-rs/{name}.tar.gz",
    activation="swish", padding="same", stage2_shortcut_pool=True, num_classes=IMAGENET_CLASSES + 1,
    zero_init_last_bn=False, head_initializer="garden", label_offset=0, min_object_covered=0.08,
    crop_padding=None, eval_crop_fraction=0.875, resize="bilinear",
    flip_before_resize=True, crop_fallback_checks_channels=False, weight_decay_on_biases=False, nesterov=False,
    momentum_rule="keras", whole_epoch_steps=True)

FAMILIES = {f.name: f for f in (TF1, GARDEN)}
NAMES = tuple(FAMILIES)
# Checkpoint formats: each family's, and the project's own (whose family the model says).
FORMATS = tuple(f.checkpoint_format for f in FAMILIES.values()) + ("native",)


def get(name, what="family"):
    """The :class:`Family` called ``name``; ValueError naming ``what`` and the choices.

    Example:
        >>> get("tf1").nesterov
        True
    """
    if isinstance(name, Family):
        return name
    return FAMILIES[check_choice(what, name, NAMES)]


def of_format(format, family=None):
    """The family of a checkpoint format: its own, or ``family`` (default tf1) for "native".

    An explicit ``family`` wins for every format (a checkpoint_flags --family).

    Example:
        >>> of_format("garden").name, of_format("native", "garden").name
        ('garden', 'garden')
    """
    if family:
        return get(family)
    for f in FAMILIES.values():
        if f.checkpoint_format == format:
            return f
    check_choice("checkpoint format", format, FORMATS)
    return TF1
