"""Test helper: checkpoints in the two official layouts, and an independent forward pass.

Written from the documented layouts alone (docs/fidelity.md: TF1 checkpoints, Garden checkpoints), sharing no code with
``official/``: the name tables are walked here with their own counters, the files
are written with ``tf.raw_ops.SaveV2`` under the exact official keys, and
:func:`reference_logits` computes the official network with plain ``tf.nn`` ops,
reading every tensor by its official name straight from the checkpoint file. If
``official/checkpoints/readers.py`` and this file disagree, a test fails.

Example:
    >>> values = write_tf1("/tmp/ck/model.ckpt", depth=50)
    >>> logits = reference_logits("/tmp/ck/model.ckpt", "tf1", 50, images)
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

# docs/fidelity.md (blocks per stage): blocks per stage and bottleneck widths.
BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3), 200: (3, 24, 36, 3),
          270: (4, 29, 53, 4), 350: (4, 36, 72, 4), 420: (4, 44, 87, 4)}
WIDTHS = (64, 128, 256, 512)
STEM = ((3, 32, 2), (32, 32, 1), (32, 64, 1), (64, 64, 2))  # (in, out, stride), all 3x3
BN = ("gamma", "beta", "moving_mean", "moving_variance")
SHADOW = "/ExponentialMovingAverage"
VALUE = "/.ATTRIBUTES/VARIABLE_VALUE"
AVERAGE = "/.OPTIMIZER_SLOT/optimizer/average"
MOMENTUM = "/.OPTIMIZER_SLOT/optimizer/ema_base_optimizer/momentum"


def network(depth):
    """The official network as data: stem convs, blocks, head (layer keys filled in by the layouts).

    `depth` may also be a tuple of blocks per stage, e.g. (1, 1, 1, 1): the same layout for
    the small model of the same blocks (every writer below takes it).
    """
    stem = [dict(kernel=(3, 3, i, o), stride=s) for i, o, s in STEM]
    blocks, width = [], 64
    for stage, (n, f) in enumerate(zip(BLOCKS[depth] if depth in BLOCKS else tuple(depth), WIDTHS)):
        for b in range(n):
            stride = 2 if (stage > 0 and b == 0) else 1
            blocks.append(dict(stage=stage, first=b == 0, stride=stride, f=f, cin=width))
            width = 4 * f
    return stem, blocks


def tf1_layers(depth, num_classes=1000):
    """[(official layer name, kind, shape info)] in TF1 creation order (docs/fidelity.md: TF1 checkpoints).

    kind: "conv" (kernel shape), "se" (kernel shape, has bias), "bn" (channels), "dense".
    """
    conv_i, bn_i, out = 0, 0, []

    def conv(shape, kind="conv"):
        nonlocal conv_i
        out.append(("conv2d" if conv_i == 0 else f"conv2d_{conv_i}", kind, shape))
        conv_i += 1

    def bn(c):
        nonlocal bn_i
        out.append(("batch_normalization" if bn_i == 0 else f"batch_normalization_{bn_i}", "bn", c))
        bn_i += 1

    stem, blocks = network(depth)
    for s in stem:
        conv(s["kernel"])
        bn(s["kernel"][-1])
    for blk in blocks:
        f, cin = blk["f"], blk["cin"]
        if blk["first"]:
            conv((1, 1, cin, 4 * f))
            bn(4 * f)
        conv((1, 1, cin, f)); bn(f)
        conv((3, 3, f, f)); bn(f)
        conv((1, 1, f, 4 * f)); bn(4 * f)
        conv((1, 1, 4 * f, f), "se")
        conv((1, 1, f, 4 * f), "se")
    out.append(("dense", "dense", (2048, num_classes)))
    return out


def garden_layers(depth, num_classes=1001, backbone="backbone/"):
    """Same as :func:`tf1_layers` with the Garden's object-graph key prefixes (docs/fidelity.md: Garden checkpoints)."""
    out = []
    stem, blocks = network(depth)
    for i, s in enumerate(stem):
        out.append((f"{backbone}layer_with_weights-{2 * i}", "conv", s["kernel"]))
        out.append((f"{backbone}layer_with_weights-{2 * i + 1}", "bn", s["kernel"][-1]))
    for b, blk in enumerate(blocks):
        p, f, cin = f"{backbone}layer_with_weights-{8 + b}", blk["f"], blk["cin"]
        if blk["first"]:
            out.append((f"{p}/_shortcut1", "conv", (1, 1, cin, 4 * f)))
            out.append((f"{p}/_norm0", "bn", 4 * f))
        out += [(f"{p}/_conv1", "conv", (1, 1, cin, f)), (f"{p}/_norm1", "bn", f),
                (f"{p}/_conv2", "conv", (3, 3, f, f)), (f"{p}/_norm2", "bn", f),
                (f"{p}/_conv3", "conv", (1, 1, f, 4 * f)), (f"{p}/_norm3", "bn", 4 * f),
                (f"{p}/_squeeze_excitation/_se_reduce", "se", (1, 1, 4 * f, f)),
                (f"{p}/_squeeze_excitation/_se_expand", "se", (1, 1, f, 4 * f))]
    out.append(("model/layer_with_weights-1", "dense", (2048, num_classes)))
    return out


def variables(layers):
    """{layer/var: shape} of the model variables, in order; and the set of trainable ones."""
    shapes, trainable = {}, set()
    for name, kind, info in layers:
        if kind == "bn":
            for v in BN:
                shapes[f"{name}/{v}"] = (info,)
            trainable |= {f"{name}/gamma", f"{name}/beta"}
        else:
            shapes[f"{name}/kernel"] = info
            trainable.add(f"{name}/kernel")
            if kind in ("se", "dense"):
                shapes[f"{name}/bias"] = (info[-1],)
                trainable.add(f"{name}/bias")
    return shapes, trainable


def random_value(rng, name, shape):
    """Random weights that keep a deep random net's activations finite and O(1)."""
    leaf = name.split("/")[-1]
    if leaf == "kernel":
        fan_in = int(np.prod(shape[:-1]))
        scale = 0.05 if len(shape) == 2 else np.sqrt(1.0 / fan_in)
        return (rng.standard_normal(shape, dtype=np.float32) * scale).astype(np.float32)
    if leaf == "gamma":
        return rng.uniform(0.2, 0.6, shape).astype(np.float32)
    if leaf == "moving_variance":
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return (rng.standard_normal(shape, dtype=np.float32) * 0.1).astype(np.float32)


def _save(prefix, tensors):
    os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
    names = list(tensors)
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(tensors[n]) for n in names])


def tf1_tensors(depth=50, seed=0, num_classes=1000, shadows=True, momentum=True):
    """The tensors of a TF1 training checkpoint (model vars, /Momentum, /ExponentialMovingAverage,
    global_step), every shadow different from its raw variable. Returns (tensors, raw, shadow)."""
    rng = np.random.default_rng(seed)
    shapes, trainable = variables(tf1_layers(depth, num_classes))
    raw = {n: random_value(rng, n, s) for n, s in shapes.items()}
    shadow = {n: random_value(rng, n, s) for n, s in shapes.items()}
    tensors = dict(raw)
    tensors["global_step"] = np.array(109475, np.int64)
    for n in shapes:
        if momentum and n in trainable:
            tensors[n + "/Momentum"] = raw[n] * np.float32(0.5)
        if shadows:
            tensors[n + SHADOW] = shadow[n]
    return tensors, raw, shadow


def write_tf1(prefix, depth=50, seed=0, num_classes=1000, shadows=True, momentum=True, checkpoint_file=False):
    """Writes a TF1 training checkpoint (see :func:`tf1_tensors`); returns (raw, shadow) by official name."""
    tensors, raw, shadow = tf1_tensors(depth, seed, num_classes, shadows, momentum)
    _save(prefix, tensors)
    if checkpoint_file:
        with open(os.path.join(os.path.dirname(prefix), "checkpoint"), "w") as f:
            f.write(f'model_checkpoint_path: "{os.path.basename(prefix)}"\n')
    return raw, shadow


def write_garden(prefix, depth=50, seed=0, averages_in_model=False, head=True, slots=True,
                 backbone="backbone/"):
    """Writes a Garden checkpoint with the trainer's full keys (docs/fidelity.md: Garden checkpoints).

    averages_in_model False: ckpt-N (raw weights in the model, averages in the
    ``average`` slots); True: ema_checkpoints/average_weights-N (the reverse).
    Returns (raw, average) dicts keyed by the model-variable key without the suffix.
    """
    rng = np.random.default_rng(seed)
    layers = garden_layers(depth, backbone=backbone)
    if not head:
        layers = layers[:-1]
    shapes, trainable = variables(layers)
    raw = {n: random_value(rng, n, s) for n, s in shapes.items()}
    average = {n: random_value(rng, n, s) for n, s in shapes.items()}
    model_values, slot_values = (average, raw) if averages_in_model else (raw, average)
    tensors = {}
    for n in shapes:
        tensors[n + VALUE] = model_values[n]
        if slots:
            tensors[n + AVERAGE + VALUE] = slot_values[n]
            if n in trainable:
                tensors[n + MOMENTUM + VALUE] = raw[n] * np.float32(0.5)
    tensors["global_step" + VALUE] = np.array(109200, np.int64)
    tensors["save_counter" + VALUE] = np.array(350, np.int64)
    if slots:
        tensors["optimizer/ema_base_optimizer/iter" + VALUE] = np.array(109200, np.int64)
        tensors["optimizer/ema_base_optimizer/decay" + VALUE] = np.array(0.0, np.float32)
        tensors["optimizer/ema_base_optimizer/momentum" + VALUE] = np.array(0.9, np.float32)
    graph = trackable_object_graph_pb2.TrackableObjectGraph().SerializeToString()
    tensors["_CHECKPOINTABLE_OBJECT_GRAPH"] = np.array(graph, dtype=object)
    _save(prefix, tensors)
    return raw, average


# --------------------------------------------------------------------------- reference --
def _conv(x, kernel, stride, padding):
    """tf.nn.conv2d with the family's padding rule (docs/fidelity.md: convolutions)."""
    if stride > 1 and padding == "fixed":
        k = kernel.shape[0]
        before = (k - 1) // 2
        x = tf.pad(x, [[0, 0], [before, k - 1 - before], [before, k - 1 - before], [0, 0]])
        return tf.nn.conv2d(x, kernel, stride, "VALID")
    return tf.nn.conv2d(x, kernel, stride, "SAME")


def reference_logits(prefix, family, depth, images, num_classes=None, backbone="backbone/"):
    """The official network's logits, computed with tf.nn ops from the checkpoint file.

    Args:
        prefix: checkpoint prefix in the family's layout.
        family: "tf1" (ReLU, fixed padding, no stage-1 shortcut pool, EMA shadows)
            or "garden" (swish, SAME padding, 2x2/1 shortcut pool on stage 1, the
            averages of a ckpt-N, i.e. the ``average`` slots).
        depth: network depth.
        images: normalised float32 [N, H, W, 3].

    Returns:
        float32 [N, classes]: 1000 for tf1, 1001 (with the background) for garden.
    """
    reader = tf.train.load_checkpoint(prefix)
    if family == "tf1":
        layers = tf1_layers(depth)

        def get(name):
            return tf.constant(reader.get_tensor(name + SHADOW))

        act, padding, stage1_pool = tf.nn.relu, "fixed", False
    else:
        layers = garden_layers(depth, backbone=backbone)

        def get(name):
            return tf.constant(reader.get_tensor(name + AVERAGE + VALUE))

        act, padding, stage1_pool = tf.nn.silu, "same", True
    return _forward(get, layers, depth, act, padding, stage1_pool, images).numpy()


def _forward(get, layers, depth, act, padding, stage1_pool, images, batch_stats=None):
    """The network's logits from tensors `get(official name)`; with `batch_stats` (a dict),
    every BN normalises with its batch's moments instead and records them there by name."""
    it = iter(layers)

    def conv(x, stride):
        name, _, _ = next(it)
        return _conv(x, get(name + "/kernel"), stride, padding)

    def bn(x):
        name, kind, _ = next(it)
        assert kind == "bn", name
        if batch_stats is None:
            mean, variance = get(name + "/moving_mean"), get(name + "/moving_variance")
        else:
            mean, variance = tf.nn.moments(x, [0, 1, 2])
            batch_stats[name] = (mean.numpy(), variance.numpy())
        return tf.nn.batch_normalization(x, mean, variance, get(name + "/beta"), get(name + "/gamma"), 1e-5)

    def se_conv(x):
        name, kind, _ = next(it)
        assert kind == "se", name
        return tf.nn.conv2d(x, get(name + "/kernel"), 1, "VALID") + get(name + "/bias")

    x = tf.constant(images, tf.float32)
    stem, blocks = network(depth)
    for s in stem:
        x = act(bn(conv(x, s["stride"])))
    for blk in blocks:
        shortcut = x
        if blk["first"]:
            if blk["stride"] == 2 or stage1_pool:
                # 'SAME' average pooling excludes the padded cells from the mean, as TF does.
                shortcut = tf.nn.avg_pool2d(shortcut, 2, blk["stride"], "SAME")
            shortcut = bn(conv(shortcut, 1))
        h = act(bn(conv(x, 1)))
        h = act(bn(conv(h, blk["stride"])))
        h = bn(conv(h, 1))
        s = tf.reduce_mean(h, [1, 2], keepdims=True)
        s = tf.nn.relu(se_conv(s))  # ReLU inside SE in both families (docs/fidelity.md: squeeze-excite)
        s = tf.sigmoid(se_conv(s))
        x = act(h * s + shortcut)
    pooled = tf.reduce_mean(x, [1, 2])
    name, _, _ = next(it)
    return tf.matmul(pooled, get(name + "/kernel")) + get(name + "/bias")


def write_tf1_calibrated(prefix, images, depth=50, seed=0):
    """A TF1 checkpoint whose EMA batch-norm statistics are the moments of `images`.

    Random weights with random statistics give every image nearly the same logits
    (the statistics, not the image, decide them); statistics measured on real
    photographs, as in a trained checkpoint, make the top-5 depend on the image.
    `images`: normalised float32 [N, H, W, 3]. Returns the shadow values by name.
    """
    tensors, _, shadow = tf1_tensors(depth, seed)
    stats = {}
    _forward(lambda name: tf.constant(shadow[name]), tf1_layers(depth), depth, tf.nn.relu, "fixed",
             False, images, batch_stats=stats)
    for name, (mean, variance) in stats.items():
        shadow[name + "/moving_mean"], shadow[name + "/moving_variance"] = mean, variance
        tensors[name + "/moving_mean" + SHADOW] = mean
        tensors[name + "/moving_variance" + SHADOW] = variance
    _save(prefix, tensors)
    return shadow


def tf1_eval_crop(height, width, image_size, crop_padding=32):
    """The TF1 eval window by the formula of docs/fidelity.md (eval preprocessing), in plain Python/numpy."""
    side = int(np.float32(image_size / (image_size + crop_padding)) * np.float32(min(height, width)))
    return ((height - side) + 1) // 2, ((width - side) + 1) // 2, side


def reference_tf1_preprocess(jpeg_bytes, image_size, crop_padding=32):
    """TF1 eval preprocessing (docs/fidelity.md: eval preprocessing, normalisation) for a JPEG: decode-and-crop, legacy bicubic, normalise."""
    h, w = tf.image.extract_jpeg_shape(jpeg_bytes).numpy()[:2]
    oy, ox, side = tf1_eval_crop(int(h), int(w), image_size, crop_padding)
    crop = tf.image.decode_and_crop_jpeg(jpeg_bytes, [oy, ox, side, side], channels=3)
    resized = tf.compat.v1.image.resize_bicubic(crop[None], [image_size, image_size], align_corners=False,
                                                half_pixel_centers=False)[0]
    mean = np.array([0.485, 0.456, 0.406], np.float32) * 255
    std = np.array([0.229, 0.224, 0.225], np.float32) * 255
    return ((resized.numpy() - mean) / std).astype(np.float32)


def reference_garden_preprocess(jpeg_bytes, image_size):
    """Garden eval preprocessing (docs/fidelity.md: input): 0.875 centre crop while decoding, TF2 bilinear."""
    h, w = (int(v) for v in tf.image.extract_jpeg_shape(jpeg_bytes).numpy()[:2])
    short = np.float32(0.875) * np.float32(min(h, w))
    side = int(short)
    oy, ox = int((np.float32(h) - short) / 2), int((np.float32(w) - short) / 2)
    crop = tf.image.decode_and_crop_jpeg(jpeg_bytes, [oy, ox, side, side], channels=3)
    resized = tf.image.resize(crop, [image_size, image_size], method="bilinear")
    mean = np.array([0.485, 0.456, 0.406], np.float32) * 255
    std = np.array([0.229, 0.224, 0.225], np.float32) * 255
    return ((resized.numpy() - mean) / std).astype(np.float32)
