"""Config checks and the quantities derived from a training config.

`check_config` checks every value of a training config (ConfigDict already checks
types and keys) and the relations between fields, in one place; a bad value raises a
ValueError naming the field. `run_lengths` and `resolve_precision` derive the run's
step counts and activation dtype.

Example:
    >>> from configs import demo       # installed: from official.configs import demo
    >>> config = demo.get_config()
    >>> config.data.data_dir = "digits"  # the trainer sets it to WORKDIR/digits_tfrecords
    >>> check_config(config)
    >>> run_lengths(config)            # steps per epoch, steps, warm-up steps
    (..., ..., ...)
"""


from absl import logging
import tensorflow as tf

from official.data import pipeline
from official.runtime import distribute
from official.training import ema as ema_lib
from official import families
from official.training import optimizer as optimizer_lib
from official.runtime import precision as precision_lib
from official.runtime import precision_probe
from official.modeling import resnet_rs
from official.validation import check_choice

PRECISIONS = ("auto",) + precision_lib.PRECISIONS
# "auto": the format read from the checkpoint itself (official/training/state.py).
INIT_FORMATS = ("auto",) + families.FORMATS


def _range(name, value, low, high, high_open=True):
    if not (low <= value < high if high_open else low <= value <= high):
        raise ValueError(f"config.{name} must be in [{low}, {high}{')' if high_open else ']'}, "
                         f"got {value!r}")


def check_config(config):
    """Checks values (types and keys are checked by ConfigDict); ValueError names the field.

    The relations between fields are checked here too: data.data_dir for TFRecords,
    num_train_images against the batch, epochs or max_steps, the EMA decay against
    the BN momentum.

    Example:
        >>> from configs import demo
        >>> config = demo.get_config(); config.data.data_dir = "digits"
        >>> config.train.global_batch_size = 0
        >>> check_config(config)
        Traceback (most recent call last):
        ValueError: config.train.global_batch_size must be > 0, got 0
    """
    m, d, t, o = config.model, config.data, config.train, config.optimizer
    check_choice("config.model.depth", m.depth, tuple(resnet_rs.SPECS))
    check_choice("config.model.activation", m.activation, resnet_rs.ACTIVATIONS)
    check_choice("config.model.padding", m.padding, resnet_rs.PADDINGS)
    _range("model.dropout_rate", m.dropout_rate, 0.0, 1.0)
    _range("model.drop_connect_rate", m.drop_connect_rate or 0.0, 0.0, 1.0)
    _range("model.bn_momentum", m.bn_momentum, 0.0, 1.0)
    if m.num_classes < 2:
        raise ValueError(f"config.model.num_classes must be >= 2, got {m.num_classes}"
                         + (" (0: from the data, which official.training.inputs.resolve_data counts)"
                            if m.num_classes == 0 else ""))
    check_choice("config.data.source", d.source, pipeline.SOURCES)
    if d.source == "tfrecord" and not d.data_dir:
        raise ValueError("config.data.data_dir is empty: set --config.data.data_dir=DIR holding "
                         "train-*/validation-* TFRecords, or --config.data.image_dir=PHOTOS for a "
                         "folder-per-class tree of images (or use --config.data.source=tfds)")
    if d.source == "folder" and not d.get("image_dir"):
        raise ValueError("config.data.source='folder' needs config.data.image_dir=PHOTOS")
    _range("data.validation_fraction", d.get("validation_fraction", 0.15), 0.0, 1.0)
    if d.image_size < 32 or d.image_size % 32 and d.image_size < 64:
        logging.warning("config.data.image_size=%d: ResNet-RS has stride 32", d.image_size)
    if d.image_size <= 0:
        raise ValueError(f"config.data.image_size must be > 0, got {d.image_size}")
    check_choice("config.data.preprocessing", d.preprocessing, families.NAMES)
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
                         f"config.train.global_batch_size ({t.global_batch_size}): a training step "
                         "needs a full batch; lower --config.train.global_batch_size")
    check_choice("config.train.precision", t.precision, PRECISIONS)
    if o.base_lr_per_256 <= 0:
        raise ValueError(f"config.optimizer.base_lr_per_256 must be > 0, got {o.base_lr_per_256}")
    _range("optimizer.momentum", o.momentum, 0.0, 1.0)
    check_choice("config.optimizer.schedule", o.schedule, ("cosine", "tf1_step"))
    if o.weight_decay < 0:
        raise ValueError(f"config.optimizer.weight_decay must be >= 0, got {o.weight_decay}")
    check_choice("config.optimizer.weight_decay_rule", o.weight_decay_rule, families.NAMES)
    optimizer_lib.check_momentum_rule(o.get("momentum_rule"))
    _range("loss.label_smoothing", config.loss.label_smoothing, 0.0, 1.0)
    _range("ema.decay", config.ema.decay, 0.0, 1.0)
    ema_lib.check_bn_momentum(config.ema.decay, m.bn_momentum)
    if config.eval.global_batch_size <= 0:
        raise ValueError(f"config.eval.global_batch_size must be > 0, got {config.eval.global_batch_size}")
    check_choice("config.init_checkpoint_format", config.init_checkpoint_format, INIT_FORMATS)
    families.get(t.run_length_rule, "config.train.run_length_rule")


def run_lengths(config):
    """(steps_per_epoch, total_steps, warmup_steps) from the config.

    steps/epoch = floor(N / B) (312 for ImageNet at 4096, as the Garden); the run is
    train.max_steps if > 0, else epochs counted by train.run_length_rule's family
    (families.Family.train_steps: tf1 ceil(epochs x N / B) = 109475, the TF1 configs'
    train_steps; garden epochs x floor(N / B) = 109200, the Garden's); warm-up =
    warmup_epochs x steps/epoch (1560, as the Garden).
    """
    n, b = config.data.num_train_images, config.train.global_batch_size
    steps_per_epoch = max(1, n // b)
    rule = families.get(config.train.run_length_rule, "config.train.run_length_rule")
    total = config.train.max_steps or rule.train_steps(config.train.epochs, n, b)
    warmup = min(total, int(round(config.train.warmup_epochs * steps_per_epoch)))
    return steps_per_epoch, total, warmup


def resolve_precision(config, strategy, probe_fn=None):
    """The float type of the activations: config.train.precision, or by device for "auto".

    "auto" is bfloat16 on TPU, float16 on GPU and, on CPU, bfloat16 only where a short
    measurement found it faster (official/runtime/precision_probe.py; cached per machine, logged);
    float32 for multi-worker CPU runs, whose workers must all pick the same.
    """
    precision = config.train.precision
    if precision != "auto":
        return precision
    precision = distribute.default_precision(strategy)
    if precision == "float32" and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        # Each worker would measure its own machine, and noise could split them between two
        # precisions (two different graphs): every worker must build the same one.
        logging.info("precision auto: float32 (several CPU workers; set train.precision=bfloat16 "
                     "explicitly where `python -m official.runtime.precision_probe` finds it faster)")
    elif precision == "float32":
        precision = precision_probe.auto_precision(probe_fn or precision_probe.probe)
    return precision
