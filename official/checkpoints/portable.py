"""Checkpoint readers that run on every Keras 3 backend, for official.applications.

* The trainer's own ("native") checkpoints, read by LAYER ORDER instead of through
  `tf.train.Checkpoint(model=...)` (which needs the model's variables to be TensorFlow's):
  `read_native` loads them into a model with the same or no head on JAX and PyTorch too.
* Keras `.keras` and `.weights.h5` files into a model of the same network, with or
  without the head (`read_keras`).
* What a file holds before a model is built: the head's classes (`head_classes`,
  `h5_head_classes`) and a `.keras` file's config (`keras_file_config`).

TensorFlow checkpoints are read with TensorFlow's checkpoint reader whatever the Keras
backend: `tensorflow_checkpoints()` imports it (and official.checkpoints.files/readers)
only then, with a one-line error naming the fix where TensorFlow is not installed.

Example (a checkpoint as the trainer writes it, read into a model without the head):
    >>> import tensorflow as tf
    >>> trained = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1), num_classes=4)
    >>> prefix = tf.train.Checkpoint(model=trained).write("run/checkpoints/ckpt-300")
    >>> backbone = resnet_rs.ResNetRS(50, block_counts=(1, 1, 1, 1), include_top=False)  # any backend
    >>> read_native(backbone, prefix, ema=False, include_top=False)   # this one has no EMA
    >>> all(np.array_equal(a, b) for a, b in zip(backbone.get_weights(), trained.get_weights()))
    True
"""

import importlib.util
import json
import re
import warnings
import zipfile

import numpy as np

from official.modeling import resnet_rs

# In the trainer's checkpoints a model variable's object path is its layer's operation index and its name.
NATIVE_PATH = re.compile(r"^model/_operations/(\d+)/(_?kernel|bias|gamma|beta|moving_mean|moving_variance)$")
EMA_PATH = re.compile(r"^ema/averages/(\d+)$")
# A layer's variables in the order Keras creates them (= model.variables' order).
VARIABLE_ORDER = {"kernel": 0, "bias": 1, "gamma": 0, "beta": 1, "moving_mean": 2, "moving_variance": 3}


def tensorflow_checkpoints():
    """official.checkpoints.{files, readers}: they read TensorFlow checkpoints, so they need TensorFlow
    (on any Keras backend), and are imported only when a checkpoint is read."""
    if importlib.util.find_spec("tensorflow") is None:
        raise ImportError("reading a TensorFlow checkpoint (weights='imagenet', an official name or a checkpoint "
                          "path) needs TensorFlow, on any Keras backend: pip install tensorflow==2.21.0 "
                          "(.keras and .weights.h5 files load without it)")
    from official.checkpoints import files, readers  # pylint: disable=import-outside-toplevel
    return files, readers


def checkpoint_reader(prefix):
    """(tf.train.CheckpointReader, {key: shape}) of a TensorFlow checkpoint; CheckpointError if unreadable."""
    files, _ = tensorflow_checkpoints()
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    try:
        reader = tf.train.load_checkpoint(prefix)
        return reader, reader.get_variable_to_shape_map()
    except (tf.errors.OpError, ValueError) as e:
        raise files.CheckpointError(f"cannot read checkpoint {prefix!r}: {str(e).splitlines()[0]}") from e


def checkpoint_keys(prefix):
    return checkpoint_reader(prefix)[1]


def head_classes(keys, layout):
    """The head's class count a TensorFlow checkpoint of `layout` holds (None: backbone only)."""
    if layout == "tf1":
        shape = keys.get("dense/kernel")
        return int(shape[-1]) if shape else None
    if layout == "garden":
        shape = keys.get("model/layer_with_weights-1/kernel/.ATTRIBUTES/VARIABLE_VALUE")
        # 1001 = the background column (dropped on load) + the 1000 ImageNet classes.
        return None if not shape else (int(shape[-1]) - 1 if shape[-1] == 1001 else int(shape[-1]))
    raise ValueError(f"layout must be 'tf1' or 'garden' here, got {layout!r} (native: native_head_classes)")


def object_paths(reader):
    """{object path: checkpoint key} of every variable of a TF2 object-graph checkpoint.

    A variable reachable along several paths (the model's `model/_operations/N/kernel` and
    the optimizer's `optimizer/_trainable_variables/M`) is SAVED under one key only,
    whichever path the saver met first; the object graph stored in the file maps every
    path to that key.
    """
    from tensorflow.core.protobuf import trackable_object_graph_pb2  # pylint: disable=import-outside-toplevel

    graph = trackable_object_graph_pb2.TrackableObjectGraph()
    graph.ParseFromString(reader.get_tensor("_CHECKPOINTABLE_OBJECT_GRAPH"))
    paths, queue, expanded = {}, [(0, "")], set()
    while queue:
        node_id, path = queue.pop(0)
        for attribute in graph.nodes[node_id].attributes:
            if attribute.name == "VARIABLE_VALUE":
                paths[path] = attribute.checkpoint_key
        if node_id in expanded:
            continue
        expanded.add(node_id)
        queue += [(c.node_id, f"{path}/{c.local_name}" if path else c.local_name) for c in graph.nodes[node_id].children]
    return paths


def native_head_classes(prefix):
    """The head's classes in a checkpoint of the trainer (the last layer's 2-D kernel), or None."""
    reader, keys = checkpoint_reader(prefix)
    kernels = sorted((int(m.group(1)), keys[key]) for path, key in object_paths(reader).items()
                     for m in [NATIVE_PATH.match(path)] if m and m.group(2).endswith("kernel"))
    return int(kernels[-1][1][-1]) if kernels and len(kernels[-1][1]) == 2 else None


def keras_file_config(path):
    """The ResNetRS config a `.keras` file records (None for a `.weights.h5` file)."""
    if not path.endswith(".keras"):
        return None
    try:
        with zipfile.ZipFile(path) as archive:
            saved = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as e:
        raise ValueError(f"weights={path!r} is not a readable .keras file: {e}") from e
    if saved.get("class_name") != "ResNetRS":
        raise ValueError(f"weights={path!r} holds a {saved.get('class_name')!r} model, not a ResNetRS")
    return saved["config"]


def h5_head_classes(path):
    """The head size a `.weights.h5` file of a ResNetRS holds (Keras names the Dense layer `dense`)."""
    import h5py  # pylint: disable=import-outside-toplevel  (a Keras dependency)

    try:
        with h5py.File(path, "r") as f:
            kernel = f.get("layers/dense/vars/0")
            return int(kernel.shape[-1]) if kernel is not None else None
    except OSError as e:
        raise ValueError(f"weights={path!r} is not a readable .weights.h5 file: {e}") from e


def _leaf(variable):
    return variable.path.split("/")[-1]


def read_native(model, prefix, ema, include_top):
    """Reads a checkpoint of this project's trainer into `model` on any Keras backend.

    The trainer's `tf.train.Checkpoint(model=..., optimizer=..., ema=...)` reaches the
    model's variables by the functional graph's operation index
    (`model/_operations/N/kernel`; `object_paths` finds the key each is saved under) and
    the EMA averages by their position in the model's variables (`ema/averages/J`).
    Both follow the builder's layer order, which is the same on every backend and with
    or without the `preprocessing` layer, so the k-th weighted layer of the checkpoint
    is the k-th of `model` (names and every shape checked). Without the head, the
    checkpoint's last layer (the head) is left out.
    """
    files, _ = tensorflow_checkpoints()
    reader, keys = checkpoint_reader(prefix)
    paths = object_paths(reader)
    groups = {}
    for path, key in paths.items():
        m = NATIVE_PATH.match(path)
        if m:
            groups.setdefault(int(m.group(1)), []).append((VARIABLE_ORDER[m.group(2).lstrip("_")], path, key))
        elif path.startswith("model/") and "seed_generator" not in path:
            raise files.CheckpointError(f"native checkpoint {prefix!r} has variable {path!r} that no ResNet-RS layer "
                                        "holds (a checkpoint of another model?)")
    saved = [[(p, k) for _, p, k in sorted(group)] for _, group in sorted(groups.items())]
    layers = [layer for layer in model.layers if layer.weights]
    if not include_top and len(saved) == len(layers) + 1:
        saved = saved[:-1]            # the head
    if len(saved) != len(layers):
        raise files.CheckpointError(f"native checkpoint {prefix!r} holds {len(saved)} weighted layers, the model "
                                    f"{len(layers)}: another depth or block_counts?")
    averages = sorted((int(m.group(1)), key) for path, key in paths.items() for m in [EMA_PATH.match(path)] if m)
    use_ema = bool(ema) and bool(averages)
    if ema and not averages:
        warnings.warn(f"{prefix} has no EMA averages; loading the raw weights", stacklevel=4)
    plan, position = [], 0
    for layer, saved_layer in zip(layers, saved):
        variables = sorted(layer.weights, key=lambda v: VARIABLE_ORDER[_leaf(v)])
        names = [_leaf(v) for v in variables]
        saved_names = [NATIVE_PATH.match(p).group(2).lstrip("_") for p, _ in saved_layer]
        if names != saved_names:
            raise files.CheckpointError(f"native checkpoint {prefix!r}: layer {layer.name} has {names}, the "
                                        f"checkpoint's {saved_layer[0][0].rsplit('/', 1)[0]} {saved_names}")
        for variable, (_, key) in zip(variables, saved_layer):
            if use_ema:
                key = averages[position][1]
            position += 1
            if tuple(keys[key]) != tuple(variable.shape):
                raise files.CheckpointError(f"shape mismatch for {variable.path}: model {tuple(variable.shape)}, "
                                            f"checkpoint {key!r} {tuple(keys[key])} in {prefix!r}")
            plan.append((variable, key))
    for variable, key in plan:
        variable.assign(np.asarray(reader.get_tensor(key), dtype=variable.dtype))


def read_keras(model, path, saved_config):
    """Loads a `.keras` or `.weights.h5` file into `model` by layer name, through a model built as
    the file's (Keras' own loader), so the head can be left out and the backend is any."""
    if saved_config is not None:
        source = resnet_rs.ResNetRS.from_config({**saved_config, "name": "weights_source"})
    else:
        config = model.get_config()
        head = h5_head_classes(path)
        config.update(include_top=head is not None, num_classes=head or config["num_classes"],
                      classifier_activation=None, pooling=None if head else config["pooling"],
                      name="weights_source")
        config.pop("input_tensor", None)
        source = resnet_rs.ResNetRS.from_config(config)
    try:
        source.load_weights(path)
    except (ValueError, KeyError) as e:
        raise ValueError(f"weights={path!r} does not fit ResNet-RS-{model.depth} (another depth, block_counts "
                         f"or head?): {str(e).splitlines()[0]}") from e
    for layer in model.layers:
        if not layer.weights:
            continue
        try:
            theirs = source.get_layer(layer.name)
        except ValueError as e:
            raise ValueError(f"weights={path!r} has no layer {layer.name!r}") from e
        values = theirs.get_weights()
        if [tuple(v.shape) for v in values] != [tuple(w.shape) for w in layer.weights]:
            raise ValueError(f"weights={path!r}: layer {layer.name} has shapes {[v.shape for v in values]}, "
                             f"the model {[tuple(w.shape) for w in layer.weights]}")
        layer.set_weights(values)
