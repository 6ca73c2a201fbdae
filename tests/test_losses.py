"""The loss terms against the coupled L2 and label smoothing of docs/fidelity.md (weight decay, loss)."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import SMALL, small_model
from official.training import state
from official.training import step


def test_label_smoothing_uses_k_logits():
    rng = np.random.default_rng(0)
    for k in (1000, 1001):
        logits = rng.normal(size=(3, k)).astype("float32")
        labels = np.array([0, 5, k - 1])
        target = np.eye(k)[labels] * 0.9 + 0.1 / k                     # docs/fidelity.md (loss)
        log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        want = -(target * log_probs).sum(-1)
        got = step.cross_entropy(tf.constant(labels), tf.constant(logits), 0.1).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5)


def test_l2_term_is_sum_of_squares_over_two():
    variables = [tf.Variable([[1.0, 2.0]]), tf.Variable([3.0])]
    assert float(step.l2_term(variables, 4e-5)) == pytest.approx(4e-5 * (1 + 4 + 9) / 2)


@pytest.fixture(scope="module")
def model():
    return small_model(input_shape=(32, 32, 3), num_classes=10)


def test_weight_decay_rules(model):
    tf1 = {v.path for v in state.weight_decay_variables(model, "tf1")}
    garden = {v.path for v in state.weight_decay_variables(model, "garden")}
    # TF1 (docs/fidelity.md: weight decay): every non-BN trainable, incl. SE and dense biases; never gamma/beta.
    assert "logits/bias" in tf1 and "logits/kernel" in tf1
    assert any(p.endswith("se_reduce/bias") for p in tf1)
    assert not any(p.endswith(("gamma", "beta")) for p in tf1 | garden)
    # Garden: kernels only.
    assert garden == {p for p in tf1 if p.endswith("kernel")}
    blocks = sum(SMALL)
    assert len(tf1) - len(garden) == 2 * blocks + 1    # SE biases of every block + the dense bias
    # TF1 counts (docs/fidelity.md: TF1 checkpoints; B blocks): trainable = 26 + 13B, of which 2 x (8 + 3B) are BN.
    assert len(model.trainable_variables) == 26 + 13 * blocks
    assert len(tf1) == len(model.trainable_variables) - 2 * (8 + 3 * blocks)
