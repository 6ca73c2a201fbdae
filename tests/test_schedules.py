"""LR schedules against the formulas of docs/fidelity.md (LR schedule)."""

import math

import numpy as np
import pytest

from official.training import schedules


def _garden(t, peak=1.6, total=109200, warmup=1560):
    cosine = lambda s: peak * 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    return t / warmup * cosine(warmup) if t < warmup else cosine(t)


@pytest.mark.parametrize("t", [0, 1, 780, 1559, 1560, 1561, 50000, 109199, 109200, 120000])
def test_cosine_matches_garden_formula(t):
    lr = schedules.WarmupCosine(peak=1.6, total_steps=109200, warmup_steps=1560)
    assert float(lr(t)) == pytest.approx(_garden(t), rel=1e-5, abs=1e-7)


def test_cosine_spans_all_steps_unlike_keras_cosine_decay():
    lr = schedules.WarmupCosine(peak=1.0, total_steps=100, warmup_steps=10)
    # The cosine counts the warm-up steps: at step 50 it is at its midpoint.
    assert float(lr(50)) == pytest.approx(0.5, abs=1e-6)
    assert float(lr(10)) < 1.0 and float(lr(100)) == pytest.approx(0.0, abs=1e-7)
    assert float(lr(0)) == 0.0


def test_peak_is_linear_scaling():
    assert schedules.scaled_learning_rate(0.1, 4096) == pytest.approx(1.6)


def test_tf1_step_schedule_boundaries():
    lr = schedules.TF1StepSchedule(peak=1.6, total_steps=109475, num_train_images=1281167,
                                   global_batch_size=4096)
    # docs/fidelity.md (LR schedule): warm-up to epoch 19, x0.1 at 116, x0.01 at 233, x0.001 at 311.
    assert [b for _, b in lr.boundaries] == [19, 116, 233, 311]
    steps_per_epoch = 1281167 / 4096
    for epoch, want in [(0, 0.0), (9.5, 1.6 * 9.5 / 19), (19, 1.6), (115.9, 1.6), (116, 0.16),
                        (233, 0.016), (311, 0.0016), (350, 0.0016)]:
        t = int(math.ceil(epoch * steps_per_epoch))
        e = t / steps_per_epoch
        expected = want if epoch not in (9.5,) else 1.6 * e / 19
        assert float(lr(t)) == pytest.approx(expected, rel=1e-4), epoch


def test_make_schedule_rejects_unknown():
    with pytest.raises(ValueError, match="config.optimizer.schedule"):
        schedules.make_schedule("linear", peak=1, total_steps=10, warmup_steps=1,
                                num_train_images=100, global_batch_size=10)


def test_schedules_run_in_graph():
    import tensorflow as tf
    lr = schedules.WarmupCosine(1.0, 100, 10)
    values = tf.function(lambda: tf.stack([lr(tf.constant(s, tf.int64)) for s in (5, 55)]))()
    np.testing.assert_allclose(values.numpy(), [_garden(5, 1.0, 100, 10), _garden(55, 1.0, 100, 10)],
                               rtol=1e-6)
