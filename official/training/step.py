"""The training step: the loss (cross-entropy, coupled L2) and the multi-step loop.

Example (traces a training step, ~20 s: tests/test_distribute.py runs it on the small model):
    >>> train_loop = make_train_loop(model, optimizer, ema, wd_variables, config, strategy)  # doctest: +SKIP
    >>> mean_loss = train_loop(iter(train_ds), tf.constant(10))    # 10 steps in one call  # doctest: +SKIP
"""

import keras
import tensorflow as tf


def cross_entropy(labels, logits, label_smoothing):
    """Per-example softmax cross-entropy on one-hot targets onehot x (1 - s) + s / K (docs/fidelity.md: loss).

    K is the number of logits (1000 TF1, 1001 Garden; docs/fidelity.md #12).
    """
    num_classes = logits.shape[-1]
    onehot = tf.one_hot(labels, num_classes, dtype=tf.float32)
    loss = keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=label_smoothing,
                                                reduction=None)
    return loss(onehot, tf.cast(logits, tf.float32))


def l2_term(variables, weight_decay):
    """weight_decay x sum(v^2) / 2 over `variables` (docs/fidelity.md: weight decay; = Keras l2(weight_decay / 2))."""
    if not variables or weight_decay == 0:
        return tf.constant(0.0)
    return weight_decay * tf.add_n([tf.nn.l2_loss(tf.cast(v, tf.float32)) for v in variables])



def make_train_loop(model, optimizer, ema, wd_variables, config, strategy):
    """A tf.function running `num_steps` steps: strategy.run + EMA update per step."""
    global_batch = config.train.global_batch_size
    replicas = strategy.num_replicas_in_sync
    smoothing, weight_decay = config.loss.label_smoothing, config.optimizer.weight_decay
    loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)
            # Sum / global batch: the replicas' gradients add up to the global mean's.
            ce = tf.reduce_sum(cross_entropy(labels, logits, smoothing)) / global_batch
            loss = ce + l2_term(wd_variables, weight_decay) / replicas
            scaled = optimizer.scale_loss(loss) if loss_scaling else loss
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def train_loop(iterator, num_steps):
        total = tf.constant(0.0)
        for _ in tf.range(num_steps):
            loss = strategy.run(replica_step, args=next(iterator))
            if ema is not None:
                ema.update(optimizer.iterations)
            total += strategy.reduce(tf.distribute.ReduceOp.SUM, loss, axis=None)
        return total / tf.cast(num_steps, tf.float32)

    return train_loop
