"""official/training/optimizer.py: TF1's momentum rule against an independent NumPy reference,
FusedSGD bit for bit against keras.optimizers.SGD, the rule per family, slot conversion
and the rule recorded in checkpoints."""

import types

import numpy as np
import pytest
import keras
import tensorflow as tf

from official.training import recipes
from official.runtime import distribute
from official.training import optimizer as optimizer_lib
from official.training import schedules

distribute.configure_logical_cpus(2)   # no-op when conftest.py did it first
MU = 0.9
SHAPES = ((3, 3, 4, 8), (8,), (5,))
# lr 0 at step 0, 1/6 and 1/3 of the peak at steps 1-2 (warm-up), the peak at steps 3-17,
# x0.1 from step 18 (the TF1 step schedule of a 54-"epoch" run of one step per epoch).
TF1_SCHEDULE = schedules.TF1StepSchedule(peak=0.5, total_steps=54, num_train_images=8,
                                         global_batch_size=8)
STEPS = 24


def _variables(seed):
    rng = np.random.default_rng(seed)
    return [tf.Variable(rng.normal(size=s).astype("float32")) for s in SHAPES]


def _noise(steps):
    rng = np.random.default_rng(1)
    return [[rng.normal(size=s).astype("float32") for s in SHAPES] for _ in range(steps)]


def _gradient(noise, w):
    """The gradient of a quadratic loss plus noise: it depends on where the weights are."""
    return noise + np.float32(0.5) * w


def tf1_momentum_reference(weights, noise, learning_rates, mu, nesterov):
    """tf.train.MomentumOptimizer, from its documented formula, in float64.

    accumulation = momentum * accumulation + gradient
    variable -= learning_rate * accumulation                      (use_nesterov=False)
    variable -= learning_rate * (gradient + momentum * accumulation)  (use_nesterov=True)
    """
    w = [x.astype(np.float64) for x in weights]
    a = [np.zeros_like(x) for x in w]
    for step_noise, lr in zip(noise, learning_rates):
        for i, n in enumerate(step_noise):
            g = _gradient(n.astype(np.float64), w[i])
            a[i] = mu * a[i] + g
            w[i] = w[i] - (lr * (g + mu * a[i]) if nesterov else lr * a[i])
    return w, a


def _apply(optimizer, variables, noise):
    optimizer.apply_gradients(zip([tf.convert_to_tensor(n) + 0.5 * v for n, v in zip(noise, variables)],
                                  variables))


def _run(optimizer_cls, nesterov, momentum=MU, schedule=TF1_SCHEDULE, steps=STEPS, variables=None):
    """`steps` steps of `optimizer_cls` from _variables(0): (weights, slots, optimizer)."""
    variables = variables or _variables(0)
    optimizer = optimizer_cls(learning_rate=schedule, momentum=momentum, nesterov=nesterov)
    optimizer.build(variables)
    step = tf.function(lambda noise: _apply(optimizer, variables, noise))
    for noise in _noise(steps):
        step([tf.constant(n) for n in noise])
    return [v.numpy() for v in variables], [m.numpy() for m in optimizer.momentums], optimizer


def _assert_float32_close(got, want, err_msg=""):
    """Equal within float32 rounding: 16 ulps of the values' scale (measured: <= 3 after 24 steps)."""
    scale = np.max(np.abs(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=16 * np.finfo(np.float32).eps * scale,
                               err_msg=err_msg)


def test_schedule_crosses_warmup_and_the_drop():
    lrs = [float(TF1_SCHEDULE(s)) for s in range(STEPS)]
    assert lrs[0] == 0 and 0 < lrs[1] < lrs[2] < lrs[3] == 0.5
    assert lrs[17] == 0.5 and lrs[18] == pytest.approx(0.05)


@pytest.mark.parametrize("nesterov", [True, False])
def test_tf1_rule_equals_numpy_momentum_optimizer(nesterov):
    got, got_a, _ = _run(optimizer_lib.TF1MomentumSGD, nesterov)
    lrs = [np.float64(np.float32(TF1_SCHEDULE(s))) for s in range(STEPS)]
    want, want_a = tf1_momentum_reference([v.numpy() for v in _variables(0)], _noise(STEPS), lrs,
                                          MU, nesterov)
    for i in range(len(SHAPES)):
        _assert_float32_close(got[i], want[i], f"weights {i}")
        _assert_float32_close(got_a[i], want_a[i], f"slot {i}")
    # The reference is not trivially close to where the weights started.
    assert np.max(np.abs(want[0] - _variables(0)[0].numpy())) > 0.1


@pytest.mark.parametrize("nesterov", [False, True])
def test_fused_sgd_is_bit_identical_to_keras_sgd(nesterov):
    want, want_m, _ = _run(keras.optimizers.SGD, nesterov)
    got, got_m, _ = _run(optimizer_lib.FusedSGD, nesterov)
    assert not np.array_equal(want[0], _variables(0)[0].numpy())     # the step did move them
    for a, b in zip(want + want_m, got + got_m):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", [optimizer_lib.FusedSGD, optimizer_lib.TF1MomentumSGD])
def test_without_momentum_both_rules_are_plain_sgd(cls):
    want, _, _ = _run(keras.optimizers.SGD, False, momentum=0.0)
    got, _, _ = _run(cls, False, momentum=0.0)
    for a, b in zip(want, got):
        np.testing.assert_array_equal(a, b)


def test_fused_sgd_checkpoint_restores_into_keras_sgd(tmp_path):
    """Same variables, same names: checkpoints written before FusedSGD still resume."""
    _, fused_m, fused = _run(optimizer_lib.FusedSGD, False, steps=3)
    path = tf.train.Checkpoint(optimizer=fused).write(str(tmp_path / "ckpt"))
    plain = keras.optimizers.SGD(learning_rate=fused._learning_rate, momentum=0.9)  # pylint: disable=protected-access
    plain.build(_variables(0))
    tf.train.Checkpoint(optimizer=plain).read(path).assert_existing_objects_matched()
    for a, b in zip(fused_m, plain.momentums):
        np.testing.assert_array_equal(a, b.numpy())
    assert int(plain.iterations.numpy()) == 3


def _config(family, **optimizer):
    config = recipes.recipe(50, 160, 0.0, 0.0, 10, family=family)
    config.optimizer.update(optimizer)
    return config


def test_rule_per_family_and_bad_rule_named():
    model_like = types.SimpleNamespace(trainable_variables=[tf.Variable(np.zeros((2,), "float32"))])
    tf1 = optimizer_lib.make_optimizer(_config("tf1"), 0.1, "float32", model_like)
    garden = optimizer_lib.make_optimizer(_config("garden"), 0.1, "float32", model_like)
    assert type(tf1) is optimizer_lib.TF1MomentumSGD and tf1.nesterov
    assert type(garden) is optimizer_lib.FusedSGD and not garden.nesterov
    scaled = optimizer_lib.make_optimizer(_config("tf1"), 0.1, "float16", model_like)
    assert type(scaled.inner_optimizer) is optimizer_lib.TF1MomentumSGD
    with pytest.raises(ValueError, match=r"config\.optimizer\.momentum_rule.*'tf2'"):
        optimizer_lib.make_optimizer(_config("tf1", momentum_rule="tf2"), 0.1, "float32", model_like)


def test_garden_step_equals_keras_sgd():
    """The Garden family's optimizer is keras.optimizers.SGD's update, bit for bit."""
    variables = _variables(0)
    optimizer = optimizer_lib.make_optimizer(_config("garden"), TF1_SCHEDULE, "float32",
                                             types.SimpleNamespace(trainable_variables=variables))
    reference_vars = _variables(0)
    reference = keras.optimizers.SGD(learning_rate=TF1_SCHEDULE, momentum=MU)
    reference.build(reference_vars)
    for noise in _noise(STEPS):
        _apply(optimizer, variables, noise)
        _apply(reference, reference_vars, noise)
    for a, b in zip(variables + optimizer.momentums, reference_vars + reference.momentums):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_conversion_makes_the_next_update_the_old_rules():
    """a = -v/lr(step): after 20 Keras steps, one TF1 step lands where Keras' 21st does."""
    keras_w, keras_v, _ = _run(optimizer_lib.FusedSGD, True, steps=21)
    variables = _variables(0)
    _, _, old = _run(optimizer_lib.FusedSGD, True, steps=20, variables=variables)
    tf1 = optimizer_lib.TF1MomentumSGD(learning_rate=TF1_SCHEDULE, momentum=MU, nesterov=True)
    tf1.build(variables)
    tf1.iterations.assign(old.iterations)
    for mine, theirs in zip(tf1.momentums, old.momentums):
        mine.assign(theirs)
    lr = float(tf1.learning_rate)
    assert lr == pytest.approx(0.05)                       # the rate of step 20, after the drop
    optimizer_lib.convert_momentum(tf1, "keras", "tf1", lr)
    _apply(tf1, variables, _noise(21)[20])
    for i, v in enumerate(variables):
        np.testing.assert_allclose(v.numpy(), keras_w[i], rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(tf1.momentums[i].numpy() * -lr, keras_v[i], rtol=1e-5, atol=1e-6)
    optimizer_lib.convert_momentum(tf1, "tf1", "keras", lr)          # and back
    for i in range(len(SHAPES)):
        np.testing.assert_allclose(tf1.momentums[i].numpy(), keras_v[i], rtol=1e-5, atol=1e-6)


def test_conversion_refuses_a_zero_rate_with_momentum():
    _, _, opt = _run(optimizer_lib.FusedSGD, True, steps=3)
    with pytest.raises(ValueError, match="momentum_rule=keras"):
        optimizer_lib.convert_momentum(opt, "keras", "tf1", 0.0)
    with pytest.raises(ValueError, match="momentum_rule"):
        optimizer_lib.convert_momentum(opt, "keras", "sgd", 0.1)


def test_conversion_under_mirrored_strategy_updates_every_replica():
    strategy = distribute.make_strategy("mirrored")
    with strategy.scope():
        variables = [keras.Variable(np.ones((4,), "float32"))]
        optimizer = optimizer_lib.TF1MomentumSGD(learning_rate=0.5, momentum=MU, nesterov=True)
        optimizer.build(variables)

    @tf.function
    def step():
        def replica_fn():
            replica = tf.distribute.get_replica_context().replica_id_in_sync_group
            optimizer.apply_gradients([(tf.cast(replica + 1, tf.float32) * tf.ones(4), variables[0])])
        strategy.run(replica_fn)

    step()
    step()
    # The replicas' gradients (1 and 2) are summed; one TF1 kernel per replica copy.
    want_w, want_a = 1.0, 0.0
    for _ in range(2):
        want_a = MU * want_a + 3.0
        want_w -= 0.5 * (3.0 + MU * want_a)
    for copy_w, copy_a in zip(variables[0].value.values, optimizer.momentums[0].value.values):
        np.testing.assert_allclose(copy_w.numpy(), want_w, rtol=1e-6)
        np.testing.assert_allclose(copy_a.numpy(), want_a, rtol=1e-6)
    optimizer_lib.convert_momentum(optimizer, "tf1", "keras", 0.5)
    for copy_a in optimizer.momentums[0].value.values:
        np.testing.assert_allclose(copy_a.numpy(), -0.5 * want_a, rtol=1e-6)


def test_checkpoint_records_the_rule(tmp_path):
    _, v, opt = _run(optimizer_lib.FusedSGD, True, steps=3)
    checkpoint = tf.train.Checkpoint(optimizer=opt)
    assert optimizer_lib.track_momentum_rule(checkpoint, opt, "keras") == "keras"
    keras_path = checkpoint.save(str(tmp_path / "keras" / "ckpt"))
    assert optimizer_lib.recorded_rule(keras_path) == "keras"
    unrecorded = tf.train.Checkpoint(optimizer=opt).save(str(tmp_path / "old" / "ckpt"))
    assert optimizer_lib.recorded_rule(unrecorded) == "keras"   # written before the record

    # A TF1-rule run resuming the Keras checkpoint: converted once, recorded as tf1.
    variables = _variables(0)
    resumed = optimizer_lib.TF1MomentumSGD(learning_rate=TF1_SCHEDULE, momentum=MU, nesterov=True)
    resumed.build(variables)
    checkpoint = tf.train.Checkpoint(optimizer=resumed)
    checkpoint.restore(keras_path).assert_existing_objects_matched()
    assert optimizer_lib.track_momentum_rule(checkpoint, resumed, "tf1", keras_path) == "tf1"
    lr = float(TF1_SCHEDULE(3))
    for mine, theirs in zip(resumed.momentums, v):
        np.testing.assert_allclose(mine.numpy(), -theirs / lr, rtol=1e-6)
    assert optimizer_lib.recorded_rule(checkpoint.save(str(tmp_path / "tf1" / "ckpt"))) == "tf1"
    # No step left: nothing converted, the record keeps what the slots are.
    checkpoint = tf.train.Checkpoint(optimizer=resumed)
    checkpoint.restore(keras_path).assert_existing_objects_matched()
    assert optimizer_lib.track_momentum_rule(checkpoint, resumed, "tf1", keras_path, 0) == "keras"
    for mine, theirs in zip(resumed.momentums, v):
        np.testing.assert_array_equal(mine.numpy(), theirs)
