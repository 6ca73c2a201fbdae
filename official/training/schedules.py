"""Learning-rate schedules of the two official ResNet-RS trainers (docs/fidelity.md: LR schedule).

Both are Keras `LearningRateSchedule`s of the global step, so they can be given to
`keras.optimizers.SGD(learning_rate=...)` and evaluated on their own for summaries.

* `WarmupCosine` (Garden, and the paper): the cosine runs over ALL steps, warm-up
  included, and the warm-up ramps linearly towards the cosine's value at the end of
  the warm-up. Keras' own `CosineDecay(warmup_steps=...)` starts the cosine *after* the
  warm-up, a different curve, hence this class.
* `TF1StepSchedule` (public `tensorflow/tpu` code): the ResNet-50 90-epoch step
  schedule stretched to the run length; linear warm-up from 0, then x0.1 steps.

Example:
    >>> lr = WarmupCosine(peak=1.6, total_steps=109200, warmup_steps=1560)
    >>> round(float(lr(1560)), 4)
    1.5992
"""

import math

import keras
import tensorflow as tf

# (multiplier, start epoch out of 90) of the TF1 ResNet-50 schedule (resnet_main.py).
TF1_LR_SCHEDULE = ((1.0, 5), (0.1, 30), (0.01, 60), (0.001, 80))


def scaled_learning_rate(base_lr_per_256, global_batch_size):
    """Linear scaling rule: 0.1 x batch / 256 (1.6 at batch 4096; docs/fidelity.md: LR schedule)."""
    return base_lr_per_256 * global_batch_size / 256.0


class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Cosine decay over all `total_steps` with a linear warm-up (Garden; docs/fidelity.md: LR schedule).

    lr(t) = t / W x C(W) for t < W, else C(t), with
    C(t) = peak x 0.5 x (1 + cos(pi x min(t, T) / T)).

    Args:
        peak: learning rate of the cosine at step 0 (1.6 for the recipes).
        total_steps: T, the steps of the whole run (the lr reaches 0 there).
        warmup_steps: W (0 disables the warm-up).
    """

    def __init__(self, peak, total_steps, warmup_steps):
        if total_steps <= 0:
            raise ValueError(f"WarmupCosine: total_steps must be > 0, got {total_steps}")
        if not 0 <= warmup_steps <= total_steps:
            raise ValueError(f"WarmupCosine: warmup_steps must be in [0, total_steps={total_steps}], "
                             f"got {warmup_steps}")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)

    def _cosine(self, step):
        progress = tf.minimum(step, float(self.total_steps)) / float(self.total_steps)
        return self.peak * 0.5 * (1.0 + tf.cos(math.pi * progress))

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        if self.warmup_steps == 0:
            return self._cosine(step)
        warm = step / float(self.warmup_steps) * self._cosine(tf.constant(float(self.warmup_steps)))
        return tf.where(step < float(self.warmup_steps), warm, self._cosine(step))

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_steps": self.warmup_steps}


class TF1StepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The public TPU code's step schedule, stretched to the run (docs/fidelity.md: LR schedule).

    The 90-epoch boundaries (5, 30, 60, 80) are scaled to the run's length in
    "epochs" of floor(N / B) steps and truncated: for 109475 steps at batch 4096 the
    run is 350.88 epochs, warm-up ends at epoch 19, then x0.1 at 116, x0.01 at 233,
    x0.001 at 311. The current epoch itself is step / (N / B) (a float, 312.78 steps).

    Args:
        peak: the scaled learning rate (1.6 for the recipes).
        total_steps: steps of the whole run.
        num_train_images: N.
        global_batch_size: B.
    """

    def __init__(self, peak, total_steps, num_train_images, global_batch_size):
        if num_train_images < global_batch_size:
            raise ValueError(f"TF1StepSchedule: num_train_images ({num_train_images}) must be at "
                             f"least the global batch size ({global_batch_size})")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.num_train_images = int(num_train_images)
        self.global_batch_size = int(global_batch_size)
        run_epochs = self.total_steps / (self.num_train_images // self.global_batch_size)
        self.boundaries = tuple((mult, int(start / 90.0 * run_epochs)) for mult, start in TF1_LR_SCHEDULE)

    def __call__(self, step):
        epoch = tf.cast(step, tf.float32) / (self.num_train_images / self.global_batch_size)
        warmup_epoch = float(max(self.boundaries[0][1], 1))
        lr = self.peak * self.boundaries[0][0] * epoch / warmup_epoch
        for mult, start in self.boundaries:
            lr = tf.where(epoch < float(start), lr, self.peak * mult)
        return lr

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps,
                "num_train_images": self.num_train_images, "global_batch_size": self.global_batch_size}


def make_schedule(kind, *, peak, total_steps, warmup_steps, num_train_images, global_batch_size):
    """The schedule named by `config.optimizer.schedule` ("cosine" | "tf1_step")."""
    if kind == "cosine":
        return WarmupCosine(peak, total_steps, warmup_steps)
    if kind == "tf1_step":
        return TF1StepSchedule(peak, total_steps, num_train_images, global_batch_size)
    raise ValueError(f"config.optimizer.schedule must be 'cosine' or 'tf1_step', got {kind!r}")
