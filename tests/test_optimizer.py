"""FusedSGD: the same numbers and the same checkpoint as keras.optimizers.SGD."""

import numpy as np
import pytest
import keras
import tensorflow as tf

from official import train_lib


def _variables(seed):
    rng = np.random.default_rng(seed)
    return [tf.Variable(rng.normal(size=s).astype("float32")) for s in ((3, 3, 4, 8), (8,), (5,))]


def _run(optimizer_cls, nesterov, momentum):
    variables = _variables(0)
    # A learning rate that changes every step: Keras' formula (m = m*mu - lr*g) and the
    # TF1 one (m = m*mu + g) differ exactly there.
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 1, 0.5)
    optimizer = optimizer_cls(learning_rate=schedule, momentum=momentum, nesterov=nesterov)
    optimizer.build(variables)
    rng = np.random.default_rng(1)
    grads = [[tf.constant(rng.normal(size=v.shape).astype("float32")) for v in variables]
             for _ in range(3)]

    @tf.function
    def step(g):
        optimizer.apply_gradients(zip(g, variables))

    for g in grads:
        step(g)
    return [v.numpy() for v in variables], [m.numpy() for m in optimizer.momentums], optimizer


@pytest.mark.parametrize("nesterov", [False, True])
def test_fused_sgd_is_bit_identical_to_keras_sgd(nesterov):
    want, want_m, _ = _run(keras.optimizers.SGD, nesterov, 0.9)
    got, got_m, _ = _run(train_lib.FusedSGD, nesterov, 0.9)
    assert not np.array_equal(want[0], _variables(0)[0].numpy())     # the step did move them
    for a, b in zip(want + want_m, got + got_m):
        np.testing.assert_array_equal(a, b)


def test_fused_sgd_without_momentum_falls_back_to_keras():
    """(Under MirroredStrategy: tests/test_distribute.py, both replicas updated alike.)"""
    want, _, _ = _run(keras.optimizers.SGD, False, 0.0)
    got, _, _ = _run(train_lib.FusedSGD, False, 0.0)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)


def test_fused_sgd_checkpoint_restores_into_keras_sgd(tmp_path):
    """Same variables, same names: checkpoints written before FusedSGD still resume."""
    _, fused_m, fused = _run(train_lib.FusedSGD, False, 0.9)
    path = tf.train.Checkpoint(optimizer=fused).write(str(tmp_path / "ckpt"))
    plain = keras.optimizers.SGD(learning_rate=fused._learning_rate, momentum=0.9)  # pylint: disable=protected-access
    plain.build(_variables(0))
    tf.train.Checkpoint(optimizer=plain).read(path).assert_existing_objects_matched()
    for a, b in zip(fused_m, plain.momentums):
        np.testing.assert_array_equal(a, b.numpy())
    assert int(plain.iterations.numpy()) == 3
