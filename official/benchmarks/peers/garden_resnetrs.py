"""The TensorFlow Model Garden's ResNet-RS-50: training-step or inference images/s.

Runs in its own virtual environment (tf-models-official pins its own TensorFlow):

    python3 -m venv /work/peervenvs/garden
    /work/peervenvs/garden/bin/pip install tf-models-official

The model is what the Garden's `resnet_rs_imagenet` experiment builds (ResNet-D stem,
SE 0.25, dropout 0.25, L2 4e-5 as kernel regularisers, label smoothing 0.1); the
training step is a plain Keras one: forward, loss + regularisers, gradients, SGD with
momentum 0.9 (no EMA: the Garden's trainer keeps none by default).

Usage:
    python official/benchmarks/peers/garden_resnetrs.py --mode train --batch 32 [--size 160]
    python official/benchmarks/peers/garden_resnetrs.py --mode infer --batch 1
    python official/benchmarks/peers/garden_resnetrs.py --mode train --device gpu --precision float16 --xla
    python official/benchmarks/peers/garden_resnetrs.py --mode train --op_profile
Final line: RESULT {json} with img_s_median/min/max and the peak RSS in MiB; with --op_profile
also "op_profile", the step's op time by kind of work, measured as ours is
(`tools/benchmark.py --op_profile`), so that the two steps compare kind by kind.
"""

import argparse
import os

p = argparse.ArgumentParser()
p.add_argument("--mode", choices=["train", "infer"], required=True)
p.add_argument("--batch", type=int, default=32)
p.add_argument("--size", type=int, default=160)
p.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
p.add_argument("--precision", choices=["float32", "float16", "bfloat16"], default="float32",
               help="float16 / bfloat16: Keras mixed precision (float32 variables)")
p.add_argument("--xla", action="store_true", help="compile the step with XLA (jit_compile)")
p.add_argument("--reps", type=int, default=4)
p.add_argument("--rep-seconds", type=float, default=4.0)
p.add_argument("--op_profile", action="store_true",
               help="after the timing, the step's op time per kind of work (official/benchmarks/op_profile.py)")
a = p.parse_args()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
if a.device == "cpu":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

import tensorflow as tf  # noqa: E402
# The Model Garden is built on tf_keras (Keras 2); this script runs only in the Garden's own venv
# (tools/compare_performance.py), never in ours, which keeps tf_keras out of requirements.txt.
import tf_keras  # noqa: E402
from official.core import exp_factory  # noqa: E402  (the Garden's package, not ours)
from official.vision.modeling import factory  # noqa: E402

from peer_timing import load_op_profile, print_result, time_steps  # noqa: E402

if a.device == "gpu" and not tf.config.list_physical_devices("GPU"):
    raise SystemExit("--device gpu: TensorFlow sees no GPU in this environment")
if a.precision != "float32":
    tf_keras.mixed_precision.set_global_policy("mixed_" + a.precision)

exp = exp_factory.get_exp_config("resnet_rs_imagenet")
model_config = exp.task.model
model_config.input_size = [a.size, a.size, 3]
weight_decay = exp.task.losses.l2_weight_decay
model = factory.build_classification_model(
    input_specs=tf_keras.layers.InputSpec(shape=[None, a.size, a.size, 3]),
    model_config=model_config,
    l2_regularizer=tf_keras.regularizers.l2(weight_decay / 2.0) if weight_decay else None)
classes = model_config.num_classes
images = tf.random.uniform([a.batch, a.size, a.size, 3], seed=0)

if a.mode == "infer":
    forward = tf.function(lambda x: model(x, training=False), jit_compile=a.xla)
    step = lambda: forward(images).numpy()  # noqa: E731  (.numpy() waits for the result)
else:
    labels = tf.one_hot(tf.random.uniform([a.batch], 0, classes, tf.int32, seed=0), classes)
    optimizer = tf_keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    if a.precision == "float16":
        optimizer = tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    smoothing = exp.task.losses.label_smoothing

    @tf.function(jit_compile=a.xla)
    def train_step(x, y):
        with tf.GradientTape() as tape:
            logits = tf.cast(model(x, training=True), tf.float32)
            loss = tf.reduce_mean(tf_keras.losses.categorical_crossentropy(
                y, logits, from_logits=True, label_smoothing=smoothing))
            loss += tf.add_n(model.losses) if model.losses else 0.0
            scaled = optimizer.get_scaled_loss(loss) if a.precision == "float16" else loss
        grads = tape.gradient(scaled, model.trainable_variables)
        if a.precision == "float16":
            grads = optimizer.get_unscaled_gradients(grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    step = lambda: train_step(images, labels).numpy()  # noqa: E731

result = time_steps(step, a.batch, a.reps, a.rep_seconds)
if a.op_profile:
    op_profile = load_op_profile()     # by its path: this venv has no `official` of ours
    result["op_profile"] = op_profile.profile(step, calls=2)
from importlib.metadata import version  # noqa: E402
print_result(dict(system="tf-models-official " + version("tf-models-official"), tf=tf.__version__,
                  mode=a.mode, batch=a.batch, size=a.size, device=a.device, precision=a.precision,
                  xla=a.xla, **result))
