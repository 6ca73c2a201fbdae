"""Readers for the official ResNet-RS checkpoints and the project's own.

Three formats, one reader each (CONTRACTS.md, "Checkpoints / export"):

* ``"tf1"``: the name-based checkpoints of the ``tensorflow/tpu`` release
  (docs/fidelity.md: TF1 checkpoints). Variables are named by per-kind counters
  (``conv2d_5/kernel``, ``batch_normalization_3/gamma``, ``dense/bias``). By default every model
  variable, BN moving statistics included, is read from its
  ``/ExponentialMovingAverage`` shadow (docs/fidelity.md #1).
* ``"garden"``: the Model Garden's TF2 object-graph checkpoints (docs/fidelity.md:
  Garden checkpoints), either a regular ``ckpt-N`` (averages in the ``average`` optimizer slots) or an
  ``ema_checkpoints/average_weights-N`` (averages in the model variables, raw
  weights in the slots). The 1001-way head loses its background column 0
  (docs/fidelity.md #4), so every model speaks the same 1000 sorted-synset classes.
* ``"native"``: ``tf.train.Checkpoint(step=, model=, optimizer=, ema=)`` as the
  project's trainer writes it (``official/training/ema.py`` holds the averages).

The tf1 and garden readers work from a declared name table (:func:`tf1_table`,
:func:`garden_table`): they check every shape, assign every model variable
exactly once, and account for every tensor of the checkpoint (used, or ignored by
a named rule: momentum slots, step counters, ...). Anything else raises
:class:`CheckpointError` naming the variable.

Official names (``resnet-rs-50-i160`` ... ``resnet-rs-420-i320``) resolve to the
official tarball, downloaded once into a cache, checked and unpacked safely
(official/checkpoints/files.py).

Example (the small model; an official name downloads its tarball once):
    >>> model = model_for_format("tf1", 50, block_counts=(1, 1, 1, 1))
    >>> load_into(model, "resnet-rs-50-i160", format="tf1")  # downloads 0.3 GB once  # doctest: +SKIP
    >>> prefix = tf.train.Checkpoint(model=model).write("run/ckpt-1")   # the native format
    >>> load_into(model_for_format("native", 50, block_counts=(1, 1, 1, 1)), prefix, format="native")
    'run/ckpt-1'
"""

import os
import re

import keras
import tensorflow as tf
from absl import logging

from official import families
from official.modeling import resnet_rs
from official.checkpoints.files import OFFICIAL, CheckpointError, resolve
from official.validation import check_choice

# --------------------------------------------------------------------------- name tables --
BN_VARIABLES = ("gamma", "beta", "moving_mean", "moving_variance")
# Where a Garden checkpoint keeps the backbone: its own entry, or the model's first layer
# (written as Checkpoint(model=...) without a separate backbone entry).
GARDEN_BACKBONES = ("backbone/", "model/layer_with_weights-0/")


def _layer_variables(layer_name):
    """Our variable names for a model layer (CONTRACTS.md)."""
    if "_bn" in layer_name:
        return BN_VARIABLES
    if layer_name.endswith(("_se_reduce", "_se_expand")) or layer_name == "logits":
        return ("kernel", "bias")
    return ("kernel",)


def tf1_table(depth, block_counts=None):
    """[(our layer, official TF1 layer)] in official creation order (docs/fidelity.md: TF1 checkpoints, #8).

    Two counters, conv2d and batch_normalization, advance independently; the
    projection conv/BN of a first block come before conv1; the SE convs take
    the next two conv indices.

    Example:
        >>> tf1_table(50)[8:10]
        [('stage2_block0_shortcut_conv', 'conv2d_4'), ('stage2_block0_shortcut_bn', 'batch_normalization_4')]
    """
    counters = {"conv2d": 0, "batch_normalization": 0}

    def take(kind):
        i = counters[kind]
        counters[kind] += 1
        return kind if i == 0 else f"{kind}_{i}"

    table = []
    for ours in resnet_rs.block_layer_names(depth, block_counts):
        if ours == "logits":
            table.append((ours, "dense"))
        else:
            table.append((ours, take("batch_normalization" if "_bn" in ours else "conv2d")))
    return table


def garden_table(depth, backbone="backbone/", block_counts=None):
    """[(our layer, Garden layer key prefix)] (docs/fidelity.md: Garden checkpoints).

    Stem conv i -> layer_with_weights-2i, stem BN i -> 2i+1, block b (0-based
    over the whole net) -> 8+b with ``_conv1..3``, ``_norm1..3``, ``_shortcut1``,
    ``_norm0``, ``_squeeze_excitation/_se_{reduce,expand}``; the head is
    ``model/layer_with_weights-1``.

    Example:
        >>> garden_table(50)[8]
        ('stage2_block0_shortcut_conv', 'backbone/layer_with_weights-8/_shortcut1')
    """
    table, blocks = [], []
    inside = {"shortcut_conv": "_shortcut1", "shortcut_bn": "_norm0", "conv1": "_conv1", "bn1": "_norm1",
              "conv2": "_conv2", "bn2": "_norm2", "conv3": "_conv3", "bn3": "_norm3",
              "se_reduce": "_squeeze_excitation/_se_reduce", "se_expand": "_squeeze_excitation/_se_expand"}
    for ours in resnet_rs.block_layer_names(depth, block_counts):
        stem = re.match(r"stem_(conv|bn)(\d)$", ours)
        if stem:
            index = 2 * (int(stem.group(2)) - 1) + (stem.group(1) == "bn")
            table.append((ours, f"{backbone}layer_with_weights-{index}"))
        elif ours == "logits":
            table.append((ours, "model/layer_with_weights-1"))
        else:
            block, part = re.match(r"(stage\d+_block\d+)_(.+)$", ours).groups()
            if block not in blocks:
                blocks.append(block)
            table.append((ours, f"{backbone}layer_with_weights-{7 + len(blocks)}/{inside[part]}"))
    return table


# --------------------------------------------------------------------------- reading --
def detect_format(prefix):
    """"tf1", "garden" or "native" (this project's trainer): the format of the checkpoint at `prefix`.

    Told apart by the variable names: TF1 ``conv2d_N/...``, Garden ``backbone/...`` or
    ``model/layer_with_weights-0/...`` (:data:`GARDEN_BACKBONES`), ours ``model/...`` with ``ema/...``.

    Example:
        >>> model = model_for_format("native", 50, block_counts=(1, 1, 1, 1))
        >>> detect_format(tf.train.Checkpoint(model=model).write("run/ckpt-1"))
        'native'
    """
    _, keys = _open(prefix)
    if any(k.startswith(("conv2d/", "conv2d_", "batch_normalization")) for k in keys):
        return "tf1"
    if _garden_backbone(keys):
        return "garden"
    if any(k.startswith("model/") for k in keys):
        return "native"
    raise CheckpointError(f"{prefix!r} is not a ResNet-RS checkpoint of a known format "
                          "(tf1, garden or this project's trainer)")


def _garden_backbone(keys):
    """The prefix of the backbone's variables in a Garden checkpoint, or None."""
    for backbone in GARDEN_BACKBONES:
        if any(k.startswith(backbone) for k in keys):
            return backbone
    return None


def _open(prefix):
    try:
        reader = tf.train.load_checkpoint(prefix)
        return reader, reader.get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"cannot read checkpoint {prefix!r} (corrupt, truncated or not a "
                              f"TensorFlow checkpoint): {str(e).splitlines()[0]}") from e


def _get(reader, prefix, key):
    try:
        return reader.get_tensor(key)
    except (tf.errors.OpError, ValueError, IndexError) as e:  # IndexError: a truncated data file
        raise CheckpointError(f"cannot read {key!r} from checkpoint {prefix!r} (corrupt or "
                              f"truncated data file?): {str(e).splitlines()[0]}") from e


def _model_variables(model, layer_name):
    try:
        layer = model.get_layer(layer_name)
    except ValueError as e:
        raise CheckpointError(f"the model has no layer {layer_name!r}; build it with "
                              "official.modeling.resnet_rs (other depth or include_top?)") from e
    by_name = {v.name.split("/")[-1].split(":")[0]: v for v in layer.weights}
    expected = _layer_variables(layer_name)
    if sorted(by_name) != sorted(expected):
        raise CheckpointError(f"model layer {layer_name!r} has variables {sorted(by_name)}, expected {list(expected)}")
    return [(name, by_name[name]) for name in expected]


def _checkpoint_depth(keys, format):
    """The depth a checkpoint was written for, from its largest layer index (or None)."""
    blocks = {sum(spec): depth for depth, spec in resnet_rs.SPECS.items()}
    if format == "tf1":
        convs = [int(m.group(1) or 0) for k in keys for m in [re.match(r"conv2d(?:_(\d+))?/", k)] if m]
        return blocks.get((max(convs) - 7) // 5) if convs else None
    layers = [int(m.group(1)) for k in keys for m in [re.search(r"^(?:backbone|model/layer_with_weights-0)/"
                                                                r"layer_with_weights-(\d+)/", k)] if m]
    return blocks.get(max(layers) - 7) if layers else None


def _check_family(model, format):
    """The model's architecture options must be those the checkpoint family was trained with."""
    config = getattr(model, "get_config", dict)()
    if format == "native" or "activation" not in config:
        return
    # Same shapes either way: a wrong option would load silently and just lose accuracy.
    want = families.of_format(format).architecture()
    for key in ("activation", "padding", "stage2_shortcut_pool"):
        if config[key] != want[key]:
            raise CheckpointError(
                f"model has {key}={config[key]!r} but {format} checkpoints need {key}={want[key]!r} "
                f"(docs/fidelity.md); build it with readers.model_for_format({format!r}, depth)")


def _assign(model, plan, prefix, include_top):
    """Assign every (layer, variable) of ``plan``; shapes and exactly-once coverage are checked
    for the whole plan first, so a mismatch leaves the model untouched."""
    pending, seen = [], set()
    for layer_name, var_name, key, value in plan:
        variable = dict(_model_variables(model, layer_name))[var_name]
        if tuple(variable.shape) != tuple(value.shape):
            raise CheckpointError(
                f"shape mismatch for {variable.path}: model {tuple(variable.shape)}, checkpoint "
                f"{key!r} {tuple(value.shape)} in {prefix!r} (wrong --depth or format?)")
        if id(variable) in seen:
            raise CheckpointError(f"{variable.path} would be assigned twice (from {key!r})")
        seen.add(id(variable))
        pending.append((variable, value))
    head = {id(v) for v in model.get_layer("logits").weights} if _has_head(model) else set()
    for v in model.weights:
        if id(v) not in seen and not (id(v) in head and not include_top):
            raise CheckpointError(f"model variable {v.path} was not loaded from {prefix!r}")
    for variable, value in pending:
        variable.assign(value.astype(variable.dtype))
    return len(pending)


def _has_head(model):
    return any(layer.name == "logits" for layer in model.layers)


def _depth_hint(keys, format, depth):
    guess = _checkpoint_depth(keys, format)
    if guess and guess != depth:
        return f" (the checkpoint looks like depth {guess}: check --depth)"
    return " (wrong --depth or --checkpoint_format?)"


def _unaccounted(keys, used, ignored_rules, prefix, format, depth):
    """Raise for any checkpoint tensor neither used nor ignored by a named rule."""
    for key in sorted(keys):
        if key in used or any(rule(key) for _, rule in ignored_rules):
            continue
        raise CheckpointError(f"checkpoint {prefix!r} has variable {key!r} that the {format} name table "
                              f"for depth {depth} does not account for{_depth_hint(keys, format, depth)}")


def _read_tf1(model, prefix, depth, ema, include_top):
    reader, shapes = _open(prefix)
    if not any(re.match(r"(conv2d|batch_normalization|dense)(_\d+)?/", k) for k in shapes):
        raise CheckpointError(f"{prefix!r} is not a TF1 ResNet-RS checkpoint (no conv2d/... variables); "
                              "is --checkpoint_format right?")
    suffix = "/ExponentialMovingAverage"
    has_shadows = any(k.endswith(suffix) for k in shapes)
    if ema and not has_shadows:
        logging.warning("%s has no /ExponentialMovingAverage shadows; loading the raw weights", prefix)
    use_shadow = ema and has_shadows
    plan, used = [], set()
    for ours, theirs in tf1_table(depth, model.block_counts):
        if ours == "logits" and not include_top:
            continue
        for var in _layer_variables(ours):
            official = f"{theirs}/{var}"
            key = official + suffix if use_shadow else official
            if key not in shapes:
                what = "EMA shadow " if use_shadow else ""
                raise CheckpointError(f"checkpoint {prefix!r} lacks the {what}{key!r} for {ours}/{var}"
                                      f"{_depth_hint(shapes, 'tf1', depth)}")
            plan.append((ours, var, key, _get(reader, prefix, key)))
            used.add(key)
    rules = [
        ("step counter", lambda k: k == "global_step"),
        ("momentum slots", lambda k: k.endswith("/Momentum")),
        ("raw values (shadows used)" if use_shadow else "EMA shadows (ema=False)",
         lambda k: (k + suffix in used) if use_shadow else (k.endswith(suffix) and k[:-len(suffix)] in used)),
        ("head (include_top=False)", lambda k: not include_top and k.startswith("dense/")),
    ]
    _unaccounted(shapes, used, rules, prefix, "tf1", depth)
    return plan


GARDEN_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"
GARDEN_AVERAGE = "/.OPTIMIZER_SLOT/optimizer/average"


def averages_in_model(prefix):
    """True for a Garden ``ema_checkpoints/average_weights-N`` file: the EMA eval action swaps
    the averages into the model before saving, so the slots then hold the raw weights
    (docs/fidelity.md: Garden checkpoints)."""
    return (os.path.basename(os.path.dirname(os.path.abspath(prefix))) == "ema_checkpoints"
            or os.path.basename(prefix).startswith("average_weights"))


def _read_garden(model, prefix, depth, ema, include_top):
    reader, shapes = _open(prefix)
    backbone = _garden_backbone(shapes)
    if backbone is None:
        raise CheckpointError(f"{prefix!r} is not a Model Garden checkpoint (no backbone/... or "
                              "model/layer_with_weights-0/... keys); is --checkpoint_format right?")
    has_head = any(k.startswith("model/layer_with_weights-1/") for k in shapes)
    if include_top and not has_head:
        raise CheckpointError(f"{prefix!r} is a backbone-only Garden checkpoint: load it with "
                              "include_top=False")
    swapped = averages_in_model(prefix)
    has_slots = any(GARDEN_AVERAGE in k for k in shapes)
    # The averages live in the slots of ckpt-N and in the model of ema_checkpoints/...
    if ema:
        from_slot = not swapped and has_slots
        if not swapped and not has_slots:
            logging.warning("%s has no EMA 'average' slots; loading the raw weights", prefix)
    else:
        from_slot = swapped
        if swapped and not has_slots:
            raise CheckpointError(f"{prefix!r} is an ema_checkpoints file without 'average' slots: "
                                  "its raw weights are not in it (use ema=True)")
    plan, used = [], set()
    for ours, theirs in garden_table(depth, backbone, model.block_counts):
        if ours == "logits" and not include_top:
            continue
        for var in _layer_variables(ours):
            base = f"{theirs}/{var}"
            key = base + (GARDEN_AVERAGE if from_slot else "") + GARDEN_SUFFIX
            if key not in shapes:
                raise CheckpointError(f"checkpoint {prefix!r} lacks {key!r} for {ours}/{var}"
                                      f"{_depth_hint(shapes, 'garden', depth)}")
            value = _get(reader, prefix, key)
            if ours == "logits":
                value = _drop_background(model, value, key, prefix)
            plan.append((ours, var, key, value))
            used.add(key)
    rules = [
        ("object graph", lambda k: k == "_CHECKPOINTABLE_OBJECT_GRAPH"),
        ("step counters", lambda k: k.split("/")[0] in ("global_step", "save_counter")),
        ("optimizer hyper-parameters", lambda k: k.startswith("optimizer/")),
        ("momentum slots", lambda k: re.search(r"/\.OPTIMIZER_SLOT/optimizer/(ema_)?base_optimizer/momentum/", k)),
        ("the other copy of the averaged weights",
         lambda k: _other_copy(k) in used),
        ("head (include_top=False)", lambda k: not include_top and k.startswith("model/layer_with_weights-1/")),
    ]
    _unaccounted(shapes, used, rules, prefix, "garden", depth)
    return plan


def _other_copy(key):
    """The model-variable key for a slot key and vice versa."""
    if GARDEN_AVERAGE in key:
        return key.replace(GARDEN_AVERAGE, "")
    return key[:-len(GARDEN_SUFFIX)] + GARDEN_AVERAGE + GARDEN_SUFFIX if key.endswith(GARDEN_SUFFIX) else None


def _drop_background(model, value, key, prefix):
    """Garden heads have 1001 outputs, column 0 an unused background class (docs/fidelity.md: head, #4)."""
    units = model.get_layer("logits").units
    if value.shape[-1] == units + 1:
        return value[..., 1:]
    if value.shape[-1] == units:
        return value
    raise CheckpointError(f"checkpoint {prefix!r} head {key!r} has {value.shape[-1]} classes; the model "
                          f"has {units} (the Garden's 1001 map to 1000 by dropping the background)")


def _read_native(model, prefix, ema, include_top):
    from official.training import ema as ema_lib  # the trainer's EMA; only the native format needs it.

    reader, shapes = _open(prefix)
    if not any(k.startswith("model/") for k in shapes):
        raise CheckpointError(f"{prefix!r} is not a checkpoint written by tools/train.py (no model/... keys); "
                              "is --checkpoint_format right?")
    if not include_top or not _has_head(model):
        raise CheckpointError("native checkpoints hold the full model; load into a model with "
                              "include_top=True and take features from resnet_rs.endpoints(model)")
    has_ema = any(k.startswith("ema/") for k in shapes)
    objects = {"model": model}
    if ema and has_ema:
        objects["ema"] = ema_lib.ExponentialMovingAverage(model)
    try:
        status = tf.train.Checkpoint(**objects).read(prefix)
        status.assert_existing_objects_matched()
        status.expect_partial()  # the optimizer and the step are training state.
    except (AssertionError, tf.errors.OpError, ValueError) as e:
        raise CheckpointError(f"native checkpoint {prefix!r} does not match the model (wrong --depth, "
                              f"family or format?): {str(e).splitlines()[0][:500]}") from e
    if "ema" in objects:
        objects["ema"].copy_to(model)
    elif ema:
        logging.warning("%s has no EMA averages; using the raw weights", prefix)
    return len(model.weights)


def model_for_format(format, depth, include_top=True, input_shape=(None, None, 3), family=None, **kwargs):
    """A ResNet-RS configured as checkpoints of ``format`` need, with a 1000-class head.

    tf1: ReLU, fixed padding, no stage-2 shortcut pool. garden: swish, SAME
    padding, the 2x2 stride-1 shortcut pool (docs/fidelity.md #2, #6, #7), 1000 classes
    (the background column is dropped on load). native: ``family`` (default tf1).

    Example:
        >>> model_for_format("garden", 50, block_counts=(1, 1, 1, 1)).get_config()["activation"]
        'swish'
    """
    check_choice("format", format, families.FORMATS)
    family = families.of_format(format, family).name
    kwargs = {"num_classes": families.IMAGENET_CLASSES, **kwargs}
    return resnet_rs.from_family(family, depth, include_top=include_top, input_shape=input_shape, **kwargs)


def load_into(model: keras.Model, path_or_name: str | os.PathLike,
              format: str = "tf1",  # pylint: disable=redefined-builtin
              ema: bool = True, include_top: bool | None = None, cache_dir: str | None = None) -> str:
    """Loads a checkpoint into ``model`` (a ResNet-RS of the right depth and family).

    Args:
        model: an ``official.modeling.resnet_rs.ResNetRS`` (see :func:`model_for_format`).
        path_or_name: a checkpoint prefix, a directory holding one, or an official
            name (tf1/garden: downloaded and cached).
        format: "tf1", "garden" or "native".
        ema: load the moving averages (the weights the published accuracies were
            measured with); False loads the raw training weights.
        include_top: load the head too; default: whether the model has one.
            False loads the backbone only (also from backbone-only checkpoints).
        cache_dir: the download cache for official names.

    Returns:
        The resolved checkpoint prefix.

    Raises:
        CheckpointError: the checkpoint and the model do not match; the message
            names the variable, shape, flag or file.
    """
    check_choice("--checkpoint_format", format, families.FORMATS, error=CheckpointError)
    prefix = resolve(path_or_name, format, cache_dir)
    include_top = _has_head(model) if include_top is None else include_top
    if include_top and not _has_head(model):
        raise CheckpointError("include_top=True but the model has no 'logits' layer")
    depth = getattr(model, "depth", None)
    if depth not in resnet_rs.SPECS:
        raise CheckpointError(f"model {model.name!r} is not an official.modeling.resnet_rs.ResNetRS")
    _check_family(model, format)
    logging.info("loading %s checkpoint %s (ema=%s, include_top=%s)", format, prefix, ema, include_top)
    if format == "native":
        _read_native(model, prefix, ema, include_top)
        return prefix
    plan = (_read_tf1 if format == "tf1" else _read_garden)(model, prefix, depth, ema, include_top)
    n = _assign(model, plan, prefix, include_top)
    logging.info("assigned %d variables from %s", n, prefix)
    return prefix


def load(path_or_name, format="tf1", depth=None, ema=True, include_top=True, input_shape=(None, None, 3),
         cache_dir=None, **kwargs):
    """Builds the right model for a checkpoint and loads it; returns the model.

    ``depth`` defaults to the official name's, else the depth the checkpoint's
    layer indices imply (tf1/garden).

    Example:
        >>> model = load("resnet-rs-50-i160", format="tf1")  # downloads 0.3 GB once  # doctest: +SKIP
    """
    if depth is None:
        if str(path_or_name) in OFFICIAL:
            depth = OFFICIAL[str(path_or_name)][0]
        elif format != "native":
            _, shapes = _open(resolve(path_or_name, format, cache_dir))
            depth = _checkpoint_depth(shapes, format)
        if depth is None:
            raise CheckpointError(f"cannot tell the depth of {path_or_name!r}; pass --depth")
    model = model_for_format(format, depth, include_top=include_top, input_shape=input_shape, **kwargs)
    load_into(model, path_or_name, format=format, ema=ema, include_top=include_top, cache_dir=cache_dir)
    return model
