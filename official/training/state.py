"""The training state of a run: created once, then resumed, initialised or left fresh.

`create_train_state(config, strategy, precision, workdir)` builds the model, the
optimizer with its schedule, the EMA, the variables the L2 term covers, and the
`tf.train.Checkpoint` (and, given a workdir, its manager); the trainer and
tools/benchmark.py both use it. `restore_or_initialize` then resumes from the
workdir's latest checkpoint, else loads `config.init_checkpoint` (the EMA restarting
from the loaded weights), else leaves the fresh initialisation.

Example (the demo recipe on the small model; a fresh workdir starts at step 0):
    >>> from official.training import recipes
    >>> config = recipes.load("demo")     # configs/demo.py
    >>> config.model.block_counts = (1, 1, 1, 1)
    >>> state = create_train_state(config, tf.distribute.get_strategy(), "float32", workdir="run")
    >>> restore_or_initialize(state, config, "run", total_steps=100)
    0
"""

import dataclasses
import json
import os
from typing import Any, Optional

from absl import logging
import keras
import ml_collections
import tensorflow as tf

from official.runtime import distribute
from official.runtime import precision as precision_lib
from official.training import ema as ema_lib
from official import families
from official.training import optimizer as optimizer_lib
from official.modeling import resnet_rs
from official.training import schedules
from official.training import config as config_lib
from official.runtime import workdir as workdir_lib


class TrainingError(RuntimeError):
    """A run that cannot go on (non-finite loss, wrong workdir); the message says why."""


def model_from_config(config, name=None):
    """official.modeling.resnet_rs.ResNetRS(**config.model) at the training resolution."""
    kwargs = dict(config.model)
    size = config.data.image_size
    return resnet_rs.ResNetRS(input_shape=(size, size, 3), name=name, **kwargs)


def weight_decay_variables(model, rule):
    """The variables the coupled L2 term covers (docs/fidelity.md: weight decay, #12).

    tf1: every trainable variable except batch-norm gamma/beta, i.e. conv and dense
    kernels AND the SE and dense biases (TF1 filters on 'batch_normalization' in the name).
    garden: kernels only (Keras kernel regularizers on convs incl. SE, and the dense).
    """
    family = families.get(rule, "config.optimizer.weight_decay_rule")
    bn_ids = {id(v) for layer in model._flatten_layers()  # pylint: disable=protected-access
              if isinstance(layer, keras.layers.BatchNormalization) for v in layer.weights}
    chosen = [v for v in model.trainable_variables if id(v) not in bn_ids]
    if not family.weight_decay_on_biases:
        chosen = [v for v in chosen if v.path.endswith("kernel")]
    return chosen


def _config_fingerprint(config):
    # Through JSON, as it reads back from model_config.json: a tuple (block_counts) is a
    # list there, and must compare equal to itself on resume.
    return json.loads(json.dumps({"model": dict(config.model), "image_size": config.data.image_size}))


# Model keys that leave the variables alone: a resumed run may change them.
_FREE_ON_RESUME = ("dropout_rate", "drop_connect_rate", "fused_batch_norm", "class_names")


def check_workdir_model(config, workdir, chief):
    """A workdir holding another model's checkpoint stops the run before anything is lost."""
    path = os.path.join(workdir, "model_config.json")
    mine = _config_fingerprint(config)
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


def checkpoint_dir(workdir, strategy):
    # Multi-worker: every worker must save (the save has collectives); only the chief's copy is kept.
    if distribute.is_chief(strategy):
        return os.path.join(workdir, "checkpoints")
    task = strategy.cluster_resolver.task_id
    return os.path.join(workdir, "tmp", f"worker{task}_checkpoints")


def config_family(config):
    """The official family whose architecture options config.model has ("tf1", "garden"), or None."""
    for family in families.FAMILIES.values():
        want = family.architecture()
        if all(config.model.get(k) == want[k] for k in ("activation", "padding", "stage2_shortcut_pool")):
            return family.name
    return None


def init_checkpoint_source(config):
    """(official name or checkpoint prefix, format) that config.init_checkpoint names.

    An official name is the config's family's checkpoint. A local path is a checkpoint
    prefix, a folder holding one, or one of our runs' workdirs (its latest checkpoint);
    its layout (tf1, garden, or native for ours) is read from the variable names, and
    must be the config's family. config.init_checkpoint_format "auto" takes what is
    found; another value must agree with it.

    Raises:
        ValueError / FileNotFoundError: the message names the value and what is wrong.

    Example (official names are checked without a download):
        >>> from official.training import recipes
        >>> config = recipes.load("demo")     # a ResNet-RS-50, tf1
        >>> config.init_checkpoint = "resnet-rs-50-i160"
        >>> init_checkpoint_source(config)
        ('resnet-rs-50-i160', 'tf1')
        >>> config.init_checkpoint = "resnet-rs-101-i192"
        >>> init_checkpoint_source(config)
        Traceback (most recent call last):
        ValueError: config.init_checkpoint='resnet-rs-101-i192' is a ResNet-RS-101 checkpoint but ...depth=50
    """
    from official.checkpoints import files as checkpoint_files  # pylint: disable=g-import-not-at-top
    from official.checkpoints import readers as readers_lib  # pylint: disable=g-import-not-at-top
    path, fmt = config.init_checkpoint, config.get("init_checkpoint_format", "auto") or "auto"
    family = config_family(config)
    other = f"use --config=RECIPE:{{}} (the {family} family's architecture differs in activation and padding)"
    if path in checkpoint_files.OFFICIAL:
        if checkpoint_files.OFFICIAL[path][0] != config.model.depth:
            # Before any download: the checkpoint of another depth cannot fit.
            raise ValueError(f"config.init_checkpoint={path!r} is a ResNet-RS-{checkpoint_files.OFFICIAL[path][0]} "
                             f"checkpoint but config.model.depth={config.model.depth}")
        fmt = (family or families.TF1.name) if fmt == "auto" else fmt
        if fmt == "native" or (family and fmt != family):
            raise ValueError(f"config.init_checkpoint={path!r} is an official name and "
                             f"config.init_checkpoint_format={fmt!r}: the config builds the {family} family, "
                             f"so leave init_checkpoint_format at 'auto'")
        return path, fmt
    run = os.path.join(path, "checkpoints")
    if tf.io.gfile.isdir(run):        # one of our runs: its latest checkpoint
        prefix = tf.train.latest_checkpoint(run)
        if not prefix:
            raise FileNotFoundError(f"config.init_checkpoint={path!r}: its checkpoints/ holds no checkpoint")
    else:
        try:
            prefix = checkpoint_files.find_checkpoint(path)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"config.init_checkpoint={path!r} is no official name "
                                    f"({', '.join(list(checkpoint_files.OFFICIAL)[:3])}, ...) and {e}") from None
    layout = readers_lib.detect_format(prefix)
    if fmt not in ("auto", layout):
        raise ValueError(f"config.init_checkpoint_format={fmt!r} but {prefix} is a {layout}-layout checkpoint "
                         "(read from its variable names): leave init_checkpoint_format at 'auto'")
    if layout in families.NAMES and family and layout != family:
        raise ValueError(f"config.init_checkpoint={path!r} is a {layout}-family checkpoint but the config "
                         f"builds the {family} family: {other.format(layout)}")
    if layout == "native":
        _check_run_model(config, path, prefix)
    return prefix, layout


def _check_run_model(config, path, prefix):
    """One of our runs must have trained this architecture (its model_config.json says which)."""
    recorded = os.path.join(os.path.dirname(os.path.dirname(prefix)), "model_config.json")
    if not tf.io.gfile.exists(recorded):
        return
    with tf.io.gfile.GFile(recorded) as f:
        theirs = json.load(f)["model"]
    mine = _config_fingerprint(config)["model"]
    keys = ("depth", "block_counts", "activation", "padding", "stage2_shortcut_pool", "se_ratio")
    diff = [f"{k} {theirs.get(k)!r} there, {mine.get(k)!r} here" for k in keys if theirs.get(k) != mine.get(k)]
    if diff:
        raise ValueError(f"config.init_checkpoint={path!r} is a run of another model ({'; '.join(diff)}): "
                         "use the recipe it was trained with")


def init_from_checkpoint(config, model):
    """Fine-tuning: backbone weights from an official name/path (tf1, garden) or our own run.

    Returns (prefix or name, format) as init_checkpoint_source found them.
    """
    from official.checkpoints import readers as readers_lib  # pylint: disable=g-import-not-at-top
    from official.checkpoints import files as checkpoint_files  # pylint: disable=g-import-not-at-top
    path, fmt = init_checkpoint_source(config)
    if fmt != "native":
        readers_lib.load_into(model, path, format=fmt, include_top=False)
        return path, fmt
    # Our own checkpoints hold a full model: read it into one with its own head,
    # then copy every layer but the head (the class count may differ).
    prefix = checkpoint_files.resolve(path, format="native")
    shapes = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
    head = [s for k, s in shapes.items() if k.startswith("model/") and "logits" in k and len(s) == 2]
    source_config = config.copy_and_resolve_references()
    source_config.model.class_names = ()
    if head:
        source_config.model.num_classes = int(head[0][1])
    source = model_from_config(source_config, name="init_source")
    readers_lib.load_into(source, prefix, format="native", include_top=True)
    for layer in model.layers:
        if layer.weights and layer.name != "logits":
            layer.set_weights(source.get_layer(layer.name).get_weights())
    return path, fmt


@dataclasses.dataclass
class TrainState:
    """What a run trains and saves; `manager` is None when created without a workdir."""
    model: Any
    optimizer: Any
    ema: Optional[ema_lib.ExponentialMovingAverage]
    schedule: Any
    wd_variables: list
    checkpoint: tf.train.Checkpoint
    manager: Optional[tf.train.CheckpointManager]


def create_train_state(config: ml_collections.ConfigDict, strategy: tf.distribute.Strategy, precision: str,
                       workdir: str | None = None) -> TrainState:
    """Model, optimizer, EMA, schedule, L2 variables and checkpoint of `config`.

    Seeds Keras with config.train.seed first, so that the initial weights are those of
    every other run of the config. The model is built under the Keras policy of
    `precision`; the previous global policy is restored afterwards.

    Args:
        config: a training ConfigDict (configs/).
        strategy: the tf.distribute strategy whose scope holds the variables.
        precision: "float32", "bfloat16" or "float16" (config_lib.resolve_precision).
        workdir: where the checkpoints go; given, its checkpoint directory is cleaned of
            a killed save's leftovers (and the chief's export/ of partial exports), and
            `manager` is set. None (the benchmark): no manager.

    Returns:
        A TrainState.

    Example:
        >>> from official.training import recipes
        >>> config = recipes.load("demo")     # configs/demo.py
        >>> config.model.block_counts = (1, 1, 1, 1)     # the small model
        >>> state = create_train_state(config, tf.distribute.get_strategy(), "float32")
        >>> int(state.optimizer.iterations.numpy()), state.manager is None
        (0, True)
    """
    _, total_steps, warmup_steps = config_lib.run_lengths(config)
    keras.utils.set_random_seed(config.train.seed)
    with precision_lib.policy(precision):
        schedule = schedules.make_schedule(
            config.optimizer.schedule,
            peak=schedules.scaled_learning_rate(config.optimizer.base_lr_per_256,
                                                config.train.global_batch_size),
            total_steps=total_steps, warmup_steps=warmup_steps,
            num_train_images=config.data.num_train_images,
            global_batch_size=config.train.global_batch_size)
        with strategy.scope():
            model = model_from_config(config)
            ema = (ema_lib.ExponentialMovingAverage(model, config.ema.decay)
                   if config.ema.decay > 0 else None)
            optimizer = optimizer_lib.make_optimizer(config, schedule, precision, model)
    wd_variables = weight_decay_variables(model, config.optimizer.weight_decay_rule)

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
    manager = None
    if workdir:
        workdir_lib.clean_checkpoint_leftovers(checkpoint_dir(workdir, strategy))
        if distribute.is_chief(strategy):
            workdir_lib.remove_partial_dirs(os.path.join(workdir, "export"))
        manager = tf.train.CheckpointManager(checkpoint, checkpoint_dir(workdir, strategy),
                                             max_to_keep=config.train.keep_checkpoints)
    return TrainState(model, optimizer, ema, schedule, wd_variables, checkpoint, manager)


def restore_or_initialize(state, config, workdir, total_steps):
    """Resumes from the workdir, else initialises from config.init_checkpoint, else keeps.

    A resumed checkpoint must match the model exactly. An init checkpoint fills the
    backbone (official/checkpoints/readers.py reads the tf1, garden and native formats) and the
    EMA restarts from the loaded weights. Either way the momentum rule is recorded
    with the slots, and a resumed checkpoint of the other rule is converted once.

    Returns:
        The step the run goes on from (0 unless resumed).

    Raises:
        TrainingError: the workdir's checkpoint is not one of this model.

    Example (a run saved at step 7, then resumed; the module's example starts afresh):
        >>> from official.training import recipes
        >>> config = recipes.load("demo")
        >>> config.model.block_counts = (1, 1, 1, 1)
        >>> strategy = tf.distribute.get_strategy()
        >>> state = create_train_state(config, strategy, "float32", workdir="saved")
        >>> _ = state.optimizer.iterations.assign(7)     # as if 7 steps were trained
        >>> state.manager.save()
        'saved/checkpoints/ckpt-1'
        >>> state = create_train_state(config, strategy, "float32", workdir="saved")   # the next run
        >>> restore_or_initialize(state, config, "saved", total_steps=100)
        7
    """
    model, optimizer, ema = state.model, state.optimizer, state.ema
    checkpoint, manager = state.checkpoint, state.manager
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
        path, fmt = init_from_checkpoint(config, model)
        if ema is not None:   # the averages start from the loaded weights
            for average, v in zip(ema.averages, ema.model_variables):
                average.assign(v.value)
        logging.info("initialised the backbone from %s (%s layout); the head is new", path, fmt)
    else:
        logging.info("config.init_checkpoint is empty: training from scratch (random initial weights)")
    # What the momentum slots mean, saved with them; a resumed checkpoint of the other
    # rule (or of a run before the rule was recorded) is converted once here.
    optimizer_lib.track_momentum_rule(
        checkpoint, optimizer, config.optimizer.momentum_rule, manager.latest_checkpoint,
        steps_left=total_steps - int(optimizer.iterations.numpy()))
    return int(optimizer.iterations.numpy())
