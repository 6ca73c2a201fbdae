"""EMA against the formulas of docs/fidelity.md (EMA), eagerly, in tf.function and mirrored."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from official.runtime import distribute
from official.training import ema as ema_lib

# Before TF starts its runtime: two logical CPUs for the MirroredStrategy test.
distribute.configure_logical_cpus(2)   # no-op when conftest.py did it first


def _model():
    inputs = keras.Input((3,))
    x = keras.layers.Dense(4, name="dense")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.0, name="bn")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


def test_averages_trainables_and_bn_statistics_only():
    model = _model()
    ema = ema_lib.ExponentialMovingAverage(model, decay=0.9999)
    names = [v.path for v in ema.model_variables]
    assert "bn/moving_mean" in names and "bn/moving_variance" in names
    assert len(names) == len(model.trainable_variables) + 2
    # The model itself is not a checkpoint dependency of the EMA (only the averages are).
    deps = list(ema._trackable_children())
    assert deps == ["averages"]


def test_update_follows_warmup_decay_formula():
    model = _model()
    ema = ema_lib.ExponentialMovingAverage(model, decay=0.9999)
    values0 = [v.numpy().copy() for v in ema.model_variables]
    expected = [v.copy() for v in values0]
    rng = np.random.default_rng(0)
    update = tf.function(ema.update)
    for step in (1, 2, 3, 50000):
        for v in ema.model_variables:
            v.assign(rng.normal(size=v.shape).astype("float32"))
        d = min(0.9999, (1.0 + step) / (10.0 + step))
        expected = [d * e + (1 - d) * v.numpy() for e, v in zip(expected, ema.model_variables)]
        update(step) if step % 2 else ema.update(tf.constant(step, tf.int64))
    for a, e in zip(ema.averages, expected):
        np.testing.assert_allclose(a.numpy(), e, rtol=1e-5, atol=1e-6)
    assert float(ema.decay_at(1)) == pytest.approx(2 / 11)
    assert float(ema.decay_at(10 ** 6)) == pytest.approx(0.9999)


def test_swap_twice_restores_and_copy_to():
    model = _model()
    ema = ema_lib.ExponentialMovingAverage(model, decay=0.5)
    for v in ema.model_variables:
        v.assign(v + 1.0)
    raw = [v.numpy().copy() for v in ema.model_variables]
    avg = [a.numpy().copy() for a in ema.averages]
    ema.swap()
    for v, a in zip(ema.model_variables, avg):
        np.testing.assert_array_equal(v.numpy(), a)
    ema.swap()
    for v, r in zip(ema.model_variables, raw):
        np.testing.assert_array_equal(v.numpy(), r)
    other = _model()
    ema.copy_to(other)
    for v, a in zip(ema_lib.averaged_variables(other), avg):
        np.testing.assert_array_equal(v.numpy(), a)


def test_refuses_ema_with_bn_momentum():
    with pytest.raises(ValueError, match="bn_momentum"):
        ema_lib.check_bn_momentum(0.9999, 0.9)
    ema_lib.check_bn_momentum(0.9999, 0.0)
    ema_lib.check_bn_momentum(0.0, 0.9)


def test_under_mirrored_strategy_two_logical_cpus():
    strategy = distribute.make_strategy("mirrored")
    # tests/conftest.py splits the CPU in two before TensorFlow starts; one replica here
    # would test nothing about cross-replica averaging, so it is a failure, not a skip.
    assert strategy.num_replicas_in_sync == 2, "the mirrored strategy did not get 2 logical CPUs"
    with strategy.scope():
        model = _model()
        ema = ema_lib.ExponentialMovingAverage(model, decay=0.9)
    assert isinstance(ema.averages[0], tf.distribute.DistributedValues)
    start = [a.numpy().copy() for a in ema.averages]

    @tf.function
    def replica_update():
        ema.update(tf.constant(100, tf.int64))   # replica context -> merge_call

    for v in ema.model_variables:
        v.assign(v + 2.0)
    strategy.run(replica_update)
    d = 0.9
    for a, s, v in zip(ema.averages, start, ema.model_variables):
        want = d * s + (1 - d) * v.numpy()
        for component in a.values:
            np.testing.assert_allclose(component.numpy(), want, rtol=1e-5, atol=1e-6)
    tf.function(ema.swap)()
    np.testing.assert_allclose(ema.model_variables[0].numpy(), d * start[0] + (1 - d) * (start[0] + 2.0),
                               rtol=1e-5, atol=1e-6)
