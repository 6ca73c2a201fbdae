"""ResNet-RS training and evaluation: the whole loop, one file, read top to bottom.

`train_and_evaluate(config, workdir, strategy)` trains with the paper's recipe
(configs/common.py) under any `tf.distribute` strategy: a custom loop that runs
`steps_per_loop` steps per `tf.function` call (`strategy.run` inside), an EMA of the
weights and BN statistics (official/ema.py) used for evaluation, checkpoints and the
export, automatic resume from `workdir`, a checkpoint before exit on SIGTERM/Ctrl-C,
and a clean stop on a non-finite loss that leaves the last good checkpoint alone.

Sections: config checks | data | model and optimizer | loss | checkpoint |
train step | evals | the loop.

Example:
    >>> from configs import demo
    >>> metrics = train_and_evaluate(demo.get_config(), "/tmp/demo", make_strategy("auto"))
"""

import json
import math
import os
import signal
import threading
import time
import warnings

from absl import logging
import keras
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from official import data
from official import distribute
from official import ema as ema_lib
from official import families
from official import precision as precision_lib
from official import resnet_rs
from official import schedules

PRECISIONS = ("auto",) + precision_lib.PRECISIONS
KERAS_POLICY = precision_lib.KERAS_POLICY
WEIGHT_DECAY_RULES = families.NAMES
INIT_FORMATS = families.FORMATS


def scalar_summary(name, value):
    """A TensorBoard scalar without the tensorboard package (tf.summary.scalar needs it).

    Writes the same event TensorBoard's scalars plugin reads (plugin name "scalars").
    """
    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars"))
    return tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata)


class TrainingError(RuntimeError):
    """A run that cannot go on (non-finite loss, wrong workdir); the message says why."""


# ===================================================================== config checks

def _choice(name, value, allowed):
    if value not in allowed:
        raise ValueError(f"config.{name} must be one of {tuple(allowed)}, got {value!r}")


def _range(name, value, low, high, high_open=True):
    if not (low <= value < high if high_open else low <= value <= high):
        raise ValueError(f"config.{name} must be in [{low}, {high}{')' if high_open else ']'}, "
                         f"got {value!r}")


def validate_config(config):
    """Checks values (types and keys are checked by ConfigDict); ValueError names the field."""
    m, d, t, o = config.model, config.data, config.train, config.optimizer
    _choice("model.depth", m.depth, tuple(resnet_rs.SPECS))
    _choice("model.activation", m.activation, resnet_rs.ACTIVATIONS)
    _choice("model.padding", m.padding, resnet_rs.PADDINGS)
    _range("model.dropout_rate", m.dropout_rate, 0.0, 1.0)
    _range("model.drop_connect_rate", m.drop_connect_rate or 0.0, 0.0, 1.0)
    _range("model.bn_momentum", m.bn_momentum, 0.0, 1.0)
    if m.num_classes < 2:
        raise ValueError(f"config.model.num_classes must be >= 2, got {m.num_classes}")
    _choice("data.source", d.source, data.SOURCES)
    if d.source == "tfrecord" and not d.data_dir:
        raise ValueError("config.data.data_dir is empty: set --config.data.data_dir=DIR holding "
                         "train-*/validation-* TFRecords (or use --config.data.source=tfds)")
    if d.image_size < 32 or d.image_size % 32 and d.image_size < 64:
        logging.warning("config.data.image_size=%d: ResNet-RS has stride 32", d.image_size)
    if d.image_size <= 0:
        raise ValueError(f"config.data.image_size must be > 0, got {d.image_size}")
    _choice("data.preprocessing", d.preprocessing, families.NAMES)
    if t.global_batch_size <= 0:
        raise ValueError(f"config.train.global_batch_size must be > 0, got {t.global_batch_size}")
    if t.max_steps < 0 or (t.max_steps == 0 and t.epochs <= 0):
        raise ValueError(f"config.train.epochs ({t.epochs}) or config.train.max_steps "
                         f"({t.max_steps}) must be > 0")
    if t.warmup_epochs < 0:
        raise ValueError(f"config.train.warmup_epochs must be >= 0, got {t.warmup_epochs}")
    for name in ("steps_per_loop", "checkpoint_every_steps", "keep_checkpoints"):
        if t[name] < 1:
            raise ValueError(f"config.train.{name} must be >= 1, got {t[name]}")
    if t.eval_every_steps < 0:
        raise ValueError(f"config.train.eval_every_steps must be >= 0, got {t.eval_every_steps}")
    if d.num_train_images < t.global_batch_size:
        raise ValueError(f"config.data.num_train_images ({d.num_train_images}) is smaller than "
                         f"config.train.global_batch_size ({t.global_batch_size})")
    _choice("train.precision", t.precision, PRECISIONS)
    if o.base_lr_per_256 <= 0:
        raise ValueError(f"config.optimizer.base_lr_per_256 must be > 0, got {o.base_lr_per_256}")
    _range("optimizer.momentum", o.momentum, 0.0, 1.0)
    _choice("optimizer.schedule", o.schedule, ("cosine", "tf1_step"))
    if o.weight_decay < 0:
        raise ValueError(f"config.optimizer.weight_decay must be >= 0, got {o.weight_decay}")
    _choice("optimizer.weight_decay_rule", o.weight_decay_rule, WEIGHT_DECAY_RULES)
    _range("loss.label_smoothing", config.loss.label_smoothing, 0.0, 1.0)
    _range("ema.decay", config.ema.decay, 0.0, 1.0)
    ema_lib.check_bn_momentum(config.ema.decay, m.bn_momentum)
    if config.eval.global_batch_size <= 0:
        raise ValueError(f"config.eval.global_batch_size must be > 0, got {config.eval.global_batch_size}")
    _choice("init_checkpoint_format", config.init_checkpoint_format, INIT_FORMATS)


def run_lengths(config):
    """(steps_per_epoch, total_steps, warmup_steps) from the config.

    steps/epoch = floor(N / B) (312 for ImageNet at 4096, as the Garden); the run is
    ceil(epochs x N / B) steps (109475, the TF1 configs' train_steps) unless
    train.max_steps > 0; warm-up = warmup_epochs x steps/epoch (1560, as the Garden).
    """
    n, b = config.data.num_train_images, config.train.global_batch_size
    steps_per_epoch = max(1, n // b)
    total = config.train.max_steps or int(math.ceil(config.train.epochs * n / b))
    warmup = min(total, int(round(config.train.warmup_epochs * steps_per_epoch)))
    return steps_per_epoch, total, warmup


def resolve_precision(config, strategy):
    """The float type of the activations: config.train.precision, or by device for "auto"."""
    precision = config.train.precision
    return distribute.default_precision(strategy) if precision == "auto" else precision


# ============================================================================ data

def _check_not_empty(config, split):
    """Stops at start-up on a split with no records (rather than hanging or dying later)."""
    if config.data.source != "tfrecord":
        return
    files = data.tfrecord_files(config.data.data_dir, split)    # FileNotFoundError names the dir
    for path in files:
        for _ in tf.data.TFRecordDataset(path).take(1):
            return
    raise ValueError(f"config.data.data_dir={config.data.data_dir!r}: the {len(files)} "
                     f"'{split}' file(s) hold no records (empty dataset)")


def prepare_demo_data(config, workdir):
    """configs/demo.py: write the digits TFRecords into {workdir}/digits_tfrecords if needed.

    Runs only for configs with `demo_data_size` > 0 and an empty data.data_dir; fills
    data.data_dir in `config`.
    """
    size = config.get("demo_data_size", 0)
    if not size or config.data.data_dir:
        return
    from official import demo_data  # pylint: disable=g-import-not-at-top
    out_dir = os.path.join(workdir, "digits_tfrecords")
    if not demo_data.exists(out_dir):
        logging.info("writing the demo digits (%dx%d JPEG TFRecords) to %s", size, size, out_dir)
        demo_data.write_digits(out_dir, image_size=size)
    config.data.data_dir = out_dir


def make_datasets(config, strategy, seed, skip_steps=0):
    """Distributed (train, eval) datasets, one input pipeline per worker (sharded inside).

    skip_steps: training steps already done; their batches are read and dropped, so a
    resumed deterministic run sees exactly the batches an uninterrupted one would.
    """
    num_classes = config.model.num_classes

    def train_fn(ctx):
        ds = data.build_dataset(
            config.data, split=config.data.train_split, is_training=True,
            batch_size=ctx.get_per_replica_batch_size(config.train.global_batch_size),
            num_classes=num_classes, input_context=ctx, seed=seed)
        if skip_steps:
            # Each step takes one batch per local replica from this worker's pipeline.
            ds = ds.skip(skip_steps * ctx.num_replicas_in_sync // ctx.num_input_pipelines)
        return ds

    def eval_fn(ctx):
        return data.build_dataset(
            config.data, split=config.data.eval_split, is_training=False,
            batch_size=ctx.get_per_replica_batch_size(config.eval.global_batch_size),
            num_classes=num_classes, input_context=ctx)

    distribute.per_replica_batch_size(config.train.global_batch_size, strategy)
    distribute.per_replica_batch_size(config.eval.global_batch_size, strategy)
    return (strategy.distribute_datasets_from_function(train_fn),
            strategy.distribute_datasets_from_function(eval_fn))


# ============================================================== model and optimizer

def build_model(config, name=None):
    """official.resnet_rs.ResNetRS(**config.model) at the training resolution."""
    kwargs = dict(config.model)
    size = config.data.image_size
    return resnet_rs.ResNetRS(input_shape=(size, size, 3), name=name, **kwargs)


def weight_decay_variables(model, rule):
    """The variables the coupled L2 term covers (docs/fidelity.md: weight decay, #12).

    tf1: every trainable variable except batch-norm gamma/beta, i.e. conv and dense
    kernels AND the SE and dense biases (TF1 filters on 'batch_normalization' in the name).
    garden: kernels only (Keras kernel regularizers on convs incl. SE, and the dense).
    """
    _choice("optimizer.weight_decay_rule", rule, WEIGHT_DECAY_RULES)
    bn_ids = {id(v) for layer in model._flatten_layers()  # pylint: disable=protected-access
              if isinstance(layer, keras.layers.BatchNormalization) for v in layer.weights}
    chosen = [v for v in model.trainable_variables if id(v) not in bn_ids]
    if not families.get(rule).weight_decay_on_biases:
        chosen = [v for v in chosen if v.path.endswith("kernel")]
    return chosen


class FusedSGD(keras.optimizers.SGD):
    """keras.optimizers.SGD whose momentum update is one kernel per variable.

    Keras' update (m = m*momentum - g*lr; var += m) runs five element-wise ops per
    variable, each a pass over memory; TensorFlow's ResourceApplyKerasMomentum computes
    the same formula (nesterov too) in one pass, bit for bit (tests/test_optimizer.py). It
    saves ~13 ms of a ~1.5 s ResNet-RS-50 step on a 2-core CPU and ~200 MiB of peak
    memory. Same variables and checkpoint layout as SGD.

    Example:
        >>> opt = FusedSGD(learning_rate=0.1, momentum=0.9)
        >>> opt.apply_gradients(zip(grads, model.trainable_variables))
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0 or isinstance(gradient, tf.IndexedSlices):
            return super().update_step(gradient, variable, learning_rate)
        momentum = self.momentums[self._get_variable_index(variable)]
        var = variable.value if isinstance(variable, keras.Variable) else variable
        accum = momentum.value if isinstance(momentum, keras.Variable) else momentum
        # Called per replica inside strategy.extended.update: `.handle` is the local copy's.
        return tf.raw_ops.ResourceApplyKerasMomentum(
            var=var.handle, accum=accum.handle, lr=tf.cast(learning_rate, var.dtype),
            grad=tf.cast(gradient, var.dtype), momentum=tf.cast(self.momentum, var.dtype),
            use_nesterov=self.nesterov)


def make_optimizer(config, schedule, precision, model):
    """SGD with momentum (FusedSGD), built now (keras#23085: slots must exist before tracing)."""
    optimizer = FusedSGD(learning_rate=schedule, momentum=config.optimizer.momentum,
                         nesterov=config.optimizer.nesterov)
    if precision == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    # keras-team/keras#23085 (Keras 3.15): a stateful optimizer creates its slots lazily inside
    # the traced replica function and fails under tf.distribute; build them here.
    optimizer.build(model.trainable_variables)
    return optimizer


# ============================================================================ loss

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


# ====================================================================== checkpoint

def _config_fingerprint(config):
    return {"model": dict(config.model), "image_size": config.data.image_size}


# Model keys that leave the variables alone: a resumed run may change them.
_FREE_ON_RESUME = ("dropout_rate", "drop_connect_rate", "fused_batch_norm")


def _check_workdir_model(config, workdir, chief):
    """A workdir holding another model's checkpoint stops the run before anything is lost."""
    path = os.path.join(workdir, "model_config.json")
    # Compared as JSON reads it back (a tuple such as block_counts=() comes back a list).
    mine = json.loads(json.dumps(_config_fingerprint(config)))
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path) as f:
            theirs = json.load(f)
        diff = {k: (theirs["model"].get(k), v) for k, v in mine["model"].items()
                if theirs["model"].get(k) != v and k not in _FREE_ON_RESUME}
        if diff:
            raise TrainingError(
                f"--workdir={workdir} holds a checkpoint of another model: "
                + ", ".join(f"config.model.{k} is {new!r} here but {old!r} there"
                            for k, (old, new) in diff.items())
                + "; use another --workdir or the matching --config")
    elif chief:
        tf.io.gfile.makedirs(workdir)
        with tf.io.gfile.GFile(path, "w") as f:
            json.dump(mine, f, indent=1)


def _checkpoint_dir(workdir, strategy):
    # Multi-worker: every worker must save (the save has collectives); only the chief's copy is kept.
    if distribute.is_chief(strategy):
        return os.path.join(workdir, "checkpoints")
    task = strategy.cluster_resolver.task_id
    return os.path.join(workdir, "tmp", f"worker{task}_checkpoints")


def _init_from_checkpoint(config, model):
    """Fine-tuning: backbone weights from an official name/path (tf1, garden) or our own run."""
    from official import checkpoints  # pylint: disable=g-import-not-at-top
    path, fmt = config.init_checkpoint, config.init_checkpoint_format
    if fmt != "native":
        checkpoints.load_into(model, path, format=fmt, include_top=False)
        return
    # Our own checkpoints hold a full model: read it into one with its own head,
    # then copy every layer but the head (the class count may differ).
    prefix = checkpoints.resolve(path, format="native")
    shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    head = [s for k, s in shapes.items() if k.startswith("model/") and "logits" in k and len(s) == 2]
    source_config = config.copy_and_resolve_references()
    if head:
        source_config.model.num_classes = int(head[0][1])
    source = build_model(source_config, name="init_source")
    checkpoints.load_into(source, prefix, format="native", include_top=True)
    for layer in model.layers:
        if layer.weights and layer.name != "logits":
            layer.set_weights(source.get_layer(layer.name).get_weights())


# ====================================================================== train step

def make_train_loop(model, optimizer, ema, wd_variables, config, strategy, precision):
    """A tf.function running `num_steps` steps: strategy.run + EMA update per step."""
    global_batch = config.train.global_batch_size
    replicas = strategy.num_replicas_in_sync
    smoothing, weight_decay = config.loss.label_smoothing, config.optimizer.weight_decay
    loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            logits = model(images, training=True)["logits"]
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


# =========================================================================== evals

def make_eval_fn(model, strategy):
    """A tf.function returning (top-1, top-5, count) over one pass of a distributed dataset."""

    def replica_eval(images, labels):
        logits = model(images, training=False)["logits"]
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
            raise TrainingError("the evaluation split yielded no images")
        return {"top_1": top1 / count, "top_5": top5 / count, "count": int(count)}

    return evaluate


def _evaluate(evaluate, eval_ds, ema):
    """Metrics with the EMA weights (what the recipes publish), or raw without EMA."""
    if ema is None:
        return evaluate(eval_ds)
    ema.swap()
    try:
        metrics = evaluate(eval_ds)
    finally:
        ema.swap()
    return {f"ema_{k}" if k != "count" else k: v for k, v in metrics.items()}


# ======================================================================== the loop

class _StopRequest:
    """SIGTERM (preemption) and Ctrl-C set a flag; the loop checkpoints and stops."""

    def __init__(self):
        self.signal = None
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        del frame
        self.signal = signum
        # A second Ctrl-C kills at once.
        signal.signal(signum, self._previous.get(signum, signal.SIG_DFL))
        logging.warning("received %s: checkpointing and stopping after the current loop",
                        signal.Signals(signum).name)

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _format_eta(seconds):
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def export_model(config, model, ema, export_dir):
    """SavedModel of the averaged weights through official/export.py (float32, no strategy).

    A Garden-family head (1001 logits, class 0 the unused background) is exported with
    the 1000 ImageNet columns, as official.checkpoints does (docs/fidelity.md #4). Returns the export
    directory, or None when official/export.py cannot serve this head (it serves the
    1000 ImageNet classes only); the checkpoint then is the result.
    """
    from official import export  # pylint: disable=g-import-not-at-top
    clone = build_model(config, name=model.name)
    clone.set_weights([v.numpy() for v in model.weights])
    if ema is not None:
        ema.copy_to(clone)
    if config.model.num_classes == 1001 and config.data.label_offset == 0:
        kernel, bias = clone.get_layer("logits").get_weights()
        head_config = config.copy_and_resolve_references()
        head_config.model.num_classes = 1000
        dropped = build_model(head_config, name=model.name)
        for layer in dropped.layers:
            if layer.weights:
                layer.set_weights(clone.get_layer(layer.name).get_weights())
        dropped.get_layer("logits").set_weights([kernel[:, 1:], bias[1:]])
        clone = dropped
    size = config.export.image_size or config.data.eval_image_size or config.data.image_size
    try:
        return export.export_saved_model(clone, export_dir, image_size=size,
                                         preprocessing=config.data.preprocessing,
                                         crop_padding=config.data.crop_padding)
    except ValueError as e:
        logging.warning("no SavedModel export: %s", e)
        return None


def train_and_evaluate(config, workdir, strategy=None, handle_signals=True, stop_at_step=None):
    """Trains `config` in `workdir` (resuming from its checkpoint), evaluates, exports.

    Args:
        config: a ConfigDict from configs/ (validated here).
        workdir: checkpoints (workdir/checkpoints), summaries (workdir/train, /eval),
            the SavedModel (workdir/export). Rerunning resumes.
        strategy: a tf.distribute strategy (default: distribute.make_strategy("auto")).
        handle_signals: checkpoint and stop on SIGTERM / SIGINT (main thread only).
        stop_at_step: checkpoint and stop once this step is reached, as a preempted run
            would (a time-boxed job; the schedule still spans the whole run).

    Returns:
        dict: step, loss, the last eval metrics, interrupted (signal name or None),
        export_dir (or None).

    Raises:
        ValueError: a bad config value, empty dataset or mismatched workdir.
        TrainingError: a non-finite loss (the last good checkpoint is kept).
    """
    if not workdir:
        raise ValueError("a workdir is required (--workdir=DIR): checkpoints, summaries and the "
                         "export go there")
    prepare_demo_data(config, workdir)
    validate_config(config)
    strategy = strategy or distribute.make_strategy("auto")
    chief = distribute.is_chief(strategy)
    precision = resolve_precision(config, strategy)
    steps_per_epoch, total_steps, warmup_steps = run_lengths(config)
    _check_workdir_model(config, workdir, chief)
    _check_not_empty(config, config.data.train_split)
    _check_not_empty(config, config.data.eval_split)
    logging.info("%s on %d replica(s), precision %s: %d steps (%d per epoch, %d warm-up) at "
                 "batch %d", config.model.depth, strategy.num_replicas_in_sync, precision,
                 total_steps, steps_per_epoch, warmup_steps, config.train.global_batch_size)
    native_bf16 = precision_lib.cpu_bfloat16_support()
    if precision == "float32" and native_bf16 and distribute.default_precision(strategy) == "float32":
        logging.info("this CPU multiplies bfloat16 natively (%s): --config.train.precision=bfloat16 "
                     "trains ~1.5x faster (float32 variables and checkpoints)", ", ".join(native_bf16))

    previous_policy = keras.config.dtype_policy()
    keras.utils.set_random_seed(config.train.seed)
    try:
        # ------------------------------------------------ model, optimizer, EMA
        keras.config.set_dtype_policy(KERAS_POLICY[precision])
        schedule = schedules.make_schedule(
            config.optimizer.schedule,
            peak=schedules.scaled_learning_rate(config.optimizer.base_lr_per_256,
                                                config.train.global_batch_size),
            total_steps=total_steps, warmup_steps=warmup_steps,
            num_train_images=config.data.num_train_images,
            global_batch_size=config.train.global_batch_size)
        with strategy.scope():
            model = build_model(config)
            ema = (ema_lib.ExponentialMovingAverage(model, config.ema.decay)
                   if config.ema.decay > 0 else None)
            optimizer = make_optimizer(config, schedule, precision, model)
        keras.config.set_dtype_policy(previous_policy)
        wd_variables = weight_decay_variables(model, config.optimizer.weight_decay_rule)

        # ------------------------------------------------ checkpoint (resume or init)
        objects = dict(step=optimizer.iterations, model=model, optimizer=optimizer)
        if ema is not None:
            objects["ema"] = ema
        # Keras does not checkpoint its SeedGenerator states (dropout, stochastic depth);
        # saving them makes a resumed run draw the same masks as an uninterrupted one.
        rng = tf.Module()
        rng.states = [getattr(v, "_value", v) for v in model.variables
                      if v.path.endswith("seed_generator_state")]
        objects["rng"] = rng
        checkpoint = tf.train.Checkpoint(**objects)
        manager = tf.train.CheckpointManager(checkpoint, _checkpoint_dir(workdir, strategy),
                                             max_to_keep=config.train.keep_checkpoints)
        if manager.latest_checkpoint:
            try:
                checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
            except (AssertionError, ValueError, tf.errors.OpError) as e:
                raise TrainingError(f"--workdir={workdir}: cannot resume from "
                                    f"{manager.latest_checkpoint} (a checkpoint of another model or "
                                    f"run?): {str(e).splitlines()[0][:400]}") from e
            logging.info("resumed from %s at step %d", manager.latest_checkpoint,
                         int(optimizer.iterations.numpy()))
        elif config.init_checkpoint:
            _init_from_checkpoint(config, model)
            if ema is not None:   # the averages start from the loaded weights
                for average, v in zip(ema.averages, ema.model_variables):
                    average.assign(v.value)
            logging.info("initialised the backbone from %s (%s)", config.init_checkpoint,
                         config.init_checkpoint_format)

        # ------------------------------------------------ data
        step = int(optimizer.iterations.numpy())
        if config.train.resume_skips_data:
            train_ds, eval_ds = make_datasets(config, strategy, config.train.seed, skip_steps=step)
        else:
            # ImageNet-sized: reading the consumed batches again would take hours, so a
            # resumed run draws a fresh (equally random) order instead.
            train_ds, eval_ds = make_datasets(config, strategy, config.train.seed + step)
        train_iter = iter(train_ds)

        train_loop = make_train_loop(model, optimizer, ema, wd_variables, config, strategy, precision)
        evaluate = make_eval_fn(model, strategy)
        if chief:
            train_writer = tf.summary.create_file_writer(os.path.join(workdir, "train"))
            eval_writer = tf.summary.create_file_writer(os.path.join(workdir, "eval"))
        else:
            train_writer = eval_writer = tf.summary.create_noop_writer()

        # ------------------------------------------------ the loop
        start_step, start_time = step, time.time()
        result = {"step": step, "loss": None, "interrupted": None, "export_dir": None}
        eval_every = config.train.eval_every_steps
        with _StopRequest() if handle_signals else _NoStop() as stop:
            while step < total_steps:
                boundaries = [total_steps, step + config.train.steps_per_loop,
                              (step // config.train.checkpoint_every_steps + 1)
                              * config.train.checkpoint_every_steps]
                if eval_every:
                    boundaries.append((step // eval_every + 1) * eval_every)
                num_steps = min(boundaries) - step
                t0 = time.time()
                try:
                    loss = float(train_loop(train_iter, tf.constant(num_steps, tf.int32)))
                except tf.errors.OutOfRangeError as e:
                    raise ValueError(f"the training split '{config.data.train_split}' ran out of "
                                     f"data (empty dataset?): {e}") from None
                step = int(optimizer.iterations.numpy())
                if not math.isfinite(loss):
                    raise TrainingError(
                        f"the loss is {loss} at step {step}; stopping. The last good checkpoint "
                        f"({manager.latest_checkpoint or 'none yet'}) is left as it was; lower "
                        "config.optimizer.base_lr_per_256 or check the data")
                elapsed = time.time() - t0
                images_per_sec = num_steps * config.train.global_batch_size / max(elapsed, 1e-9)
                lr = float(schedule(step))
                eta = (time.time() - start_time) / (step - start_step) * (total_steps - step)
                logging.info("step %d/%d  loss %.4f  lr %.4g  %.1f images/s  ETA %s", step,
                             total_steps, loss, lr, images_per_sec, _format_eta(eta))
                with train_writer.as_default(step=step):
                    scalar_summary("loss", loss)
                    scalar_summary("learning_rate", lr)
                    scalar_summary("images_per_sec", images_per_sec)
                result.update(step=step, loss=loss)
                if stop_at_step is not None and step >= stop_at_step and stop.signal is None:
                    stop.signal = "stop_at_step"
                saved = step % config.train.checkpoint_every_steps == 0 or step == total_steps
                if saved or stop.signal is not None:
                    manager.save(checkpoint_number=step)
                if stop.signal is not None:
                    result["interrupted"] = (stop.signal if isinstance(stop.signal, str)
                                             else signal.Signals(stop.signal).name)
                    logging.warning("stopped by %s at step %d; checkpoint %s; rerun the same "
                                    "command to resume", result["interrupted"], step,
                                    manager.latest_checkpoint)
                    return result
                if eval_every and step % eval_every == 0 and step < total_steps:
                    _log_eval(result, _evaluate(evaluate, eval_ds, ema), eval_writer, step)

        # ------------------------------------------------ final eval and export
        _log_eval(result, _evaluate(evaluate, eval_ds, ema), eval_writer, step)
        if manager.latest_checkpoint is None or not manager.latest_checkpoint.endswith(f"-{step}"):
            manager.save(checkpoint_number=step)
        if config.export.enabled and chief:
            result["export_dir"] = export_model(config, model, ema, os.path.join(workdir, "export"))
            if result["export_dir"]:
                logging.info("exported the %s weights to %s", "EMA" if ema else "raw",
                             result["export_dir"])
        train_writer.flush()
        eval_writer.flush()
        return result
    finally:
        keras.config.set_dtype_policy(previous_policy)


class _NoStop:
    signal = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def _log_eval(result, metrics, writer, step):
    logging.info("eval at step %d: %s", step,
                 "  ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "count"))
    with writer.as_default(step=step):
        for k, v in metrics.items():
            if k != "count":
                scalar_summary(k, v)
    result.update(metrics)


def evaluate_checkpoint(config, checkpoint_path, strategy=None, use_ema=True):
    """Top-1/top-5 of a trainer checkpoint (prefix or workdir) on config.data.eval_split."""
    strategy = strategy or distribute.make_strategy("auto")
    if tf.io.gfile.isdir(checkpoint_path):
        found = tf.train.latest_checkpoint(os.path.join(checkpoint_path, "checkpoints")) or \
            tf.train.latest_checkpoint(checkpoint_path)
        if not found:
            raise ValueError(f"no checkpoint in {checkpoint_path!r}")
        checkpoint_path = found
    _check_not_empty(config, config.data.eval_split)
    with strategy.scope():
        model = build_model(config)
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
    _, eval_ds = make_datasets(config, strategy, seed=0)
    return _evaluate(make_eval_fn(model, strategy), eval_ds, ema)
