"""Evaluation: top-1/top-5 over a distributed dataset, with the EMA weights when kept.

Example (a trained model's; tests/test_train.py evaluates the small one):
    >>> evaluate = make_eval_fn(model, strategy)  # doctest: +SKIP
    >>> evaluate_with_ema(evaluate, eval_ds, ema)  # doctest: +SKIP
    {'ema_top_1': 0.76, 'ema_top_5': 0.93, 'count': 50000}
"""

import os

import warnings

import tensorflow as tf

from official.runtime import distribute
from official.training import ema as ema_lib
from official.training import inputs
from official.training import state


def make_eval_fn(model, strategy):
    """A tf.function returning (top-1, top-5, count) over one pass of a distributed dataset."""

    def replica_eval(images, labels):
        logits = model(images, training=False)
        labels = tf.cast(labels, tf.int32)
        top1 = tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, logits, 1), tf.float32))
        top5 = tf.reduce_sum(tf.cast(tf.math.in_top_k(labels, logits, min(5, logits.shape[-1])),
                                     tf.float32))
        return top1, top5, tf.cast(tf.shape(labels)[0], tf.float32)

    @tf.function
    def eval_pass(dataset):
        sums = [tf.constant(0.0)] * 3
        for images, labels in dataset:
            out = strategy.run(replica_eval, args=(images, labels))
            sums = [s + strategy.reduce(tf.distribute.ReduceOp.SUM, o, axis=None)
                    for s, o in zip(sums, out)]
        return sums

    def evaluate(dataset):
        with warnings.catch_warnings():
            # Tracing the `for` above, tf.distribute asks the dataset for its options and
            # tf.data warns (UserWarning) that graph-mode options may be stale; ours are set
            # when the dataset is built, so the warning says nothing here.
            warnings.filterwarnings("ignore", message="To make it possible to preserve tf.data options")
            top1, top5, count = (float(x) for x in eval_pass(dataset))
        if count == 0:
            raise state.TrainingError("the evaluation split yielded no images")
        return {"top_1": top1 / count, "top_5": top5 / count, "count": int(count)}

    return evaluate


def evaluate_with_ema(evaluate, eval_ds, ema):
    """Metrics with the EMA weights (what the recipes publish), or raw without EMA."""
    if ema is None:
        return evaluate(eval_ds)
    ema.swap()
    try:
        metrics = evaluate(eval_ds)
    finally:
        ema.swap()
    return {f"ema_{k}" if k != "count" else k: v for k, v in metrics.items()}


def evaluate_checkpoint(config, checkpoint_path, strategy=None, use_ema=True):
    """Top-1/top-5 of a trainer checkpoint (prefix or workdir) on config.data.eval_split.

    Example:
        >>> evaluate_checkpoint(config, "run")   # the workdir's latest checkpoint  # doctest: +SKIP
        {'ema_top_1': ..., 'ema_top_5': ..., 'count': ...}
    """
    strategy = strategy or distribute.make_strategy("auto")
    if tf.io.gfile.isdir(checkpoint_path):
        found = tf.train.latest_checkpoint(os.path.join(checkpoint_path, "checkpoints")) or \
            tf.train.latest_checkpoint(checkpoint_path)
        if not found:
            raise ValueError(f"no checkpoint in {checkpoint_path!r}")
        checkpoint_path = found
    inputs.resolve_data(config)           # a folder's classes and held-out split, counted zeros
    inputs.check_not_empty(config, config.data.eval_split)
    with strategy.scope():
        model = state.model_from_config(config)
        ema = ema_lib.ExponentialMovingAverage(model, max(config.ema.decay, 0.5)) if use_ema else None
    objects = {"model": model}
    if ema is not None:
        objects["ema"] = ema
    status = tf.train.Checkpoint(**objects).read(checkpoint_path)
    try:
        status.assert_existing_objects_matched()
    except AssertionError as e:
        raise ValueError(f"{checkpoint_path} does not match config.model: {str(e)[:400]}") from e
    status.expect_partial()
    _, eval_ds = inputs.make_datasets(config, strategy, seed=0)
    return evaluate_with_ema(make_eval_fn(model, strategy), eval_ds, ema)
