"""official/serving/inference.py: the sliced inference call gives the single call's logits.

Equal up to float rounding: oneDNN computes each image alike at any batch size (0.0
difference measured), Eigen's GEMM blocking depends on the batch (~2e-8 here).
A wrong slice order or a lost image would differ by O(1).
"""

import numpy as np
import pytest
import tensorflow as tf

from conftest import small_model
from official.serving import inference


@pytest.fixture(scope="module")
def model():
    return small_model(input_shape=(32, 32, 3), num_classes=10)


def close(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def single(model, images):
    return model(images, training=False).numpy()


@pytest.mark.parametrize("batch,splits", [(4, 2), (5, 2), (5, 3)])
def test_static_batch_is_sliced_and_equal(model, batch, splits):
    images = tf.random.stateless_normal((batch, 32, 32, 3), seed=(batch, splits))
    fn = tf.function(lambda x: inference.logits(model, x, splits))
    close(fn(images).numpy(), single(model, images))
    ops = {op.type for op in fn.get_concrete_function(images).graph.get_operations()}
    assert "SplitV" in ops and "ConcatV2" in ops        # really cut into slices


@pytest.mark.parametrize("batch", [1, 2, 3])
def test_unknown_batch_small_and_large(model, batch):
    """The serving signature's batch is unknown until run time: slices only from `splits` up."""
    fn = tf.function(lambda x: inference.logits(model, x, 2),
                     input_signature=[tf.TensorSpec([None, 32, 32, 3])])
    images = tf.random.stateless_normal((batch, 32, 32, 3), seed=(7, batch))
    close(fn(images).numpy(), single(model, images))


def test_one_split_is_the_plain_call_and_zero_is_refused(model):
    images = tf.zeros((2, 32, 32, 3))
    fn = tf.function(lambda x: inference.logits(model, x, 1))
    assert "SplitV" not in {op.type for op in fn.get_concrete_function(images).graph.get_operations()}
    with pytest.raises(ValueError, match="batch_splits"):
        inference.logits(model, images, 0)


def test_serving_model_folds_batch_norm_below_float32_or_when_asked():
    import keras  # pylint: disable=import-outside-toplevel
    from official.runtime import precision  # pylint: disable=import-outside-toplevel
    model = small_model(input_shape=(32, 32, 3), num_classes=10)
    # float32 by default: the model itself, so float32 outputs keep the official order of operations.
    assert inference.serving_model(model) is model
    # Trained-looking statistics, so that a wrong fold (a scale or shift lost) moves the logits.
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, c), rng.normal(0, 0.2, c),
                               rng.normal(0, 0.2, c), rng.uniform(0.5, 2.0, c)])
    served = inference.serving_model(model, fold_batch_norm=True)
    assert served.get_config()["fold_batch_norm"] and precision.of(served) == "float32"
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in served.layers)
    images = tf.random.stateless_normal((3, 32, 32, 3), seed=(1, 2))
    expected = single(model, images)
    np.testing.assert_allclose(single(served, images), expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    with precision.policy("bfloat16"):
        mixed = small_model(input_shape=(32, 32, 3), num_classes=10)
    served = inference.serving_model(mixed)
    assert served.get_config()["fold_batch_norm"] and precision.of(served) == "bfloat16"
    assert not inference.serving_model(mixed, fold_batch_norm=False).get_config()["fold_batch_norm"]
