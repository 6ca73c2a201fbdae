"""SGD with momentum under either official trainer's rule, one fused kernel per variable.

The two official ResNet-RS trainers used two momentum rules that agree only while the
learning rate stays constant:

* "tf1" (`tf.train.MomentumOptimizer`, which trained the published `tensorflow/tpu`
  checkpoints): the slot is an accumulator with no rate in it, a = mu*a + g, and the
  CURRENT rate is applied at update time, w -= lr*a (Nesterov: w -= lr*g + lr*mu*a).
  `TF1MomentumSGD` runs it as TensorFlow's `ResourceApplyMomentum`, TF1's own kernel.
* "keras" (`keras.optimizers.SGD`, which the Model Garden trainer used): the slot is a
  velocity that carries the rates of past steps, v = mu*v - lr*g, w += v (Nesterov:
  w += mu*v - lr*g). `FusedSGD` runs it as `ResourceApplyKerasMomentum`, bit for bit
  the same as `keras.optimizers.SGD`.

After a x0.1 drop of the rate the Keras velocity still holds ten times the new rate for
about 1/(1-mu) = 10 steps, so the drop takes effect late; during a warm-up the Keras
update lags behind. A TF1 checkpoint's `/Momentum` slot is our "tf1" slot.

Both classes are `keras.optimizers.SGD` subclasses with SGD's variables, so their
checkpoints have the same layout; what a slot MEANS differs, so the trainer records the
rule in each checkpoint (`track_momentum_rule`) and converts a checkpoint written under
the other rule once on resume: a = -v / lr(step), the value that makes the next update
the one the old rule would have made.

Example:
    >>> w = keras.Variable([1.0, 2.0])
    >>> opt = TF1MomentumSGD(learning_rate=0.1, momentum=0.9, nesterov=True)
    >>> _ = opt.apply_gradients([(tf.constant([1.0, 1.0]), w)])
    >>> w.numpy()   # a = 0.9 x 0 + g; w - lr x g - lr x 0.9 x a
    array([0.81, 1.81], dtype=float32)
"""

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from official.validation import check_choice

MOMENTUM_RULES = ("tf1", "keras")
# The rule of checkpoints written before the rule was recorded: every such run used Keras'.
UNRECORDED_RULE = "keras"
# The checkpoint attribute (tf.train.Checkpoint(momentum_rule=...)) holding the rule.
RULE_ATTRIBUTE = "momentum_rule"
_RULE_KEY = RULE_ATTRIBUTE + "/.ATTRIBUTES/VARIABLE_VALUE"


def check_momentum_rule(rule):
    """Raises ValueError naming config.optimizer.momentum_rule unless it is a known rule."""
    check_choice("config.optimizer.momentum_rule", rule, MOMENTUM_RULES,
                 hint="'tf1': tf.train.MomentumOptimizer, 'keras': keras.optimizers.SGD")


class FusedSGD(keras.optimizers.SGD):
    """keras.optimizers.SGD (the "keras" rule) whose update is one kernel per variable.

    Keras' update (m = m*momentum - g*lr; var += m) runs five element-wise ops per
    variable, each a pass over memory; TensorFlow's ResourceApplyKerasMomentum computes
    the same formula (nesterov too) in one pass, bit for bit (tests/test_optimizer.py). It
    saves ~13 ms of a ~1.5 s ResNet-RS-50 step on a 2-core CPU and ~200 MiB of peak
    memory. Same variables and checkpoint layout as SGD.

    Example:
        >>> w = keras.Variable([1.0, 2.0])
        >>> opt = FusedSGD(learning_rate=0.1, momentum=0.9)
        >>> _ = opt.apply_gradients([(tf.constant([1.0, 1.0]), w)])
        >>> w.numpy()   # v = 0.9 x 0 - lr x g; w + v
        array([0.9, 1.9], dtype=float32)
    """

    momentum_rule = "keras"

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0:
            # No slot: w -= lr*g, which is also what TF1's rule does at momentum 0.
            return super().update_step(gradient, variable, learning_rate)
        momentum = self.momentums[self._get_variable_index(variable)]
        var = variable.value if isinstance(variable, keras.Variable) else variable
        accum = momentum.value if isinstance(momentum, keras.Variable) else momentum
        # Called per replica inside strategy.extended.update: `.handle` is the local copy's.
        return self._apply(var.handle, accum.handle, tf.cast(learning_rate, var.dtype), gradient,
                           tf.cast(self.momentum, var.dtype), var.dtype, variable)

    def _apply(self, var, accum, lr, gradient, momentum, dtype, variable):
        if isinstance(gradient, tf.IndexedSlices):
            return keras.optimizers.SGD.update_step(self, gradient, variable, lr)
        return tf.raw_ops.ResourceApplyKerasMomentum(
            var=var, accum=accum, lr=lr, grad=tf.cast(gradient, dtype), momentum=momentum,
            use_nesterov=self.nesterov)


class TF1MomentumSGD(FusedSGD):
    """tf.train.MomentumOptimizer's rule (the "tf1" rule), one kernel per variable.

    The slot `momentum` holds TF1's accumulator a = mu*a + g; the update applies the
    current rate, w -= lr*a, or with Nesterov w -= lr*g + lr*mu*a
    (`ResourceApplyMomentum`, the kernel TF1's MomentumOptimizer runs). Same constructor,
    variables and checkpoint layout as keras.optimizers.SGD.

    Example:
        >>> w = keras.Variable([1.0])
        >>> opt = TF1MomentumSGD(learning_rate=0.1, momentum=0.9)
        >>> for _ in range(2):
        ...     _ = opt.apply_gradients([(tf.constant([1.0]), w)])
        >>> w.numpy()   # a = 1, then 1.9: w = 1 - 0.1 - 0.19
        array([0.71], dtype=float32)
    """

    momentum_rule = "tf1"

    def _apply(self, var, accum, lr, gradient, momentum, dtype, variable):
        if isinstance(gradient, tf.IndexedSlices):   # TF1's sparse update: the rows given only
            return tf.raw_ops.ResourceSparseApplyMomentum(
                var=var, accum=accum, lr=lr, grad=tf.cast(gradient.values, dtype),
                indices=gradient.indices, momentum=momentum, use_nesterov=self.nesterov)
        return tf.raw_ops.ResourceApplyMomentum(
            var=var, accum=accum, lr=lr, grad=tf.cast(gradient, dtype), momentum=momentum,
            use_nesterov=self.nesterov)


OPTIMIZERS = {"tf1": TF1MomentumSGD, "keras": FusedSGD}


def make_optimizer(config, schedule, precision, model):
    """SGD with momentum under config.optimizer.momentum_rule, its slots built now.

    Args:
        config: the run's ConfigDict (optimizer.momentum, .nesterov, .momentum_rule).
        schedule: the learning rate (a float or a LearningRateSchedule of the step).
        precision: "float16" wraps it in a LossScaleOptimizer.
        model: its trainable variables get the slots.

    Returns:
        The optimizer, built (keras#23085: a stateful Keras 3 optimizer creates its slots
        lazily inside the traced replica function and fails under tf.distribute).

    Example:
        >>> optimizer = make_optimizer(config, schedule, "float32", model)   # in create_train_state  # doctest: +SKIP
    """
    rule = config.optimizer.get("momentum_rule")
    check_momentum_rule(rule)
    optimizer = OPTIMIZERS[rule](learning_rate=schedule, momentum=config.optimizer.momentum,
                                 nesterov=config.optimizer.nesterov)
    if precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    return optimizer


def _inner(optimizer):
    return getattr(optimizer, "inner_optimizer", optimizer)


def recorded_rule(prefix):
    """The momentum rule a trainer checkpoint's slots follow.

    Args:
        prefix: a checkpoint prefix (workdir/checkpoints/ckpt-N).

    Returns:
        Its recorded `momentum_rule`, or UNRECORDED_RULE ("keras") for checkpoints
        written before the rule was recorded.

    Example:
        >>> recorded_rule(tf.train.Checkpoint(step=tf.Variable(4)).write("run/ckpt-4"))   # no record
        'keras'
    """
    reader = tf.train.load_checkpoint(prefix)
    if not reader.has_tensor(_RULE_KEY):
        return UNRECORDED_RULE
    rule = reader.get_tensor(_RULE_KEY)
    rule = rule.decode() if isinstance(rule, bytes) else str(rule)
    return check_choice(f"checkpoint {prefix!r}: '{_RULE_KEY}'", rule, MOMENTUM_RULES,
                        hint="written by a newer version?")


def convert_momentum(optimizer, from_rule, to_rule, learning_rate):
    """Converts the momentum slots in place from one rule's meaning to the other's.

    Keras velocity v and TF1 accumulator a give the same next update at rate lr when
    a = -v / lr, so lr must be the rate of the NEXT step (schedule(iterations)).

    Args:
        optimizer: a built SGD (or a LossScaleOptimizer around one).
        from_rule, to_rule: "keras" | "tf1".
        learning_rate: the rate of the next update (a Python float).

    Raises:
        ValueError: the rate is 0 while a slot is not (no accumulator reproduces that).

    Example:
        >>> convert_momentum(optimizer, "keras", "tf1", float(schedule(optimizer.iterations)))  # doctest: +SKIP
    """
    check_momentum_rule(from_rule)
    check_momentum_rule(to_rule)
    slots = _inner(optimizer).momentums
    if from_rule == to_rule or not slots:
        return
    if learning_rate == 0:
        if any(np.any(s.numpy()) for s in slots):
            raise ValueError(f"cannot convert the momentum slots from the {from_rule!r} rule to "
                             f"{to_rule!r}: the learning rate of the next step is 0; resume with "
                             f"--config.optimizer.momentum_rule={from_rule}")
        return
    factor = -1.0 / learning_rate if to_rule == "tf1" else -learning_rate
    for slot in slots:
        slot.assign(slot * tf.cast(factor, slot.dtype))


def track_momentum_rule(checkpoint, optimizer, rule, prefix=None, steps_left=1):
    """Records the rule in `checkpoint` and converts a resumed checkpoint's slots to it.

    Call it after restoring `prefix` into `checkpoint` (and before training): checkpoints
    written before the rule was recorded have no `momentum_rule` entry, so it cannot be
    part of the restore's object match.

    Args:
        checkpoint: the run's tf.train.Checkpoint; gets the attribute `momentum_rule`
            (a string variable) that every later save writes.
        optimizer: the run's optimizer (from make_optimizer), restored from `prefix`.
        rule: config.optimizer.momentum_rule.
        prefix: the checkpoint just restored, or None for a fresh run.
        steps_left: training steps still to run; with none, nothing is converted and the
            record keeps the restored checkpoint's rule.

    Returns:
        The rule the slots now follow (what the next save records).

    Example:
        >>> checkpoint.restore(prefix).assert_existing_objects_matched()  # doctest: +SKIP
        >>> track_momentum_rule(checkpoint, optimizer, "tf1", prefix, total_steps - step)  # doctest: +SKIP
        'tf1'
    """
    check_momentum_rule(rule)
    current = rule
    if prefix is not None:
        saved = recorded_rule(prefix)
        if saved != rule and steps_left > 0:
            step = int(optimizer.iterations.numpy())
            lr = float(optimizer.learning_rate)   # the rate of the next step
            convert_momentum(optimizer, saved, rule, lr)
            logging.warning("%s holds momentum slots of the %r rule; converted them once to the %r "
                            "rule (config.optimizer.momentum_rule) at step %d, lr %.6g", prefix,
                            saved, rule, step, lr)
        elif saved != rule:
            current = saved
    if not hasattr(checkpoint, RULE_ATTRIBUTE):
        with tf.device("CPU:0"):   # a string variable has CPU kernels only
            setattr(checkpoint, RULE_ATTRIBUTE, tf.Variable(current, trainable=False,
                                                            name=RULE_ATTRIBUTE))
    # Assigned after attaching: attaching restores the entry of `prefix` (deferred restore).
    getattr(checkpoint, RULE_ATTRIBUTE).assign(current)
    return current
