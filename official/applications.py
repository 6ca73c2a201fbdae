"""keras.applications-style ResNet-RS constructors with the published weights.

`ResNetRS50(...)` ... `ResNetRS420(...)` take the arguments Keras users know from
`keras.applications` and return an `official.modeling.resnet_rs.ResNetRS` with ONE output
(probabilities by default, or logits, pooled features, the stage-5 map), ready for
`compile`/`fit`/`evaluate`/`predict`, `.keras` files and `model.export`. Endpoints for
detection and transfer work: `official.modeling.resnet_rs.endpoints(model)`.

Weights come through `official.checkpoints.readers` (the download-once cache and the
checked readers): `weights=None` (random), `"imagenet"` (the published checkpoint of
that depth, see `imagenet_checkpoint`), an official name (`"resnet-rs-152-i256"`) or
a local checkpoint in the TF1, Model Garden or this project's own format. The
`family` picks the architecture the weights were trained with ("tf1": ReLU, the
`tensorflow/tpu` release; "garden": swish, the Model Garden's); the Garden's
background logit is dropped on load, so both families speak the same 1000 classes.

Batch-norm momentum: 0.9 by default here, unlike the paper's 0. The paper's 0 is
right only under its EMA of the batch-norm statistics (our trainer, official/training/recipes.py):
there the layer's own statistics are the last batch's and the EMA keeps the usable
ones. `fit` keeps no such EMA, so with 0 a model trained by `fit` would evaluate with
one batch's statistics. 0.9 averages over the last ~10 batches: close to the data's
statistics at the usual batch sizes, and quick to move from ImageNet's to a new
dataset's in a short fine-tuning run (Keras' 0.99 needs ~500 steps for that).

Example (ImageNet weights download once; the runnable lines build the small model):
    >>> model = ResNetRS50(weights="imagenet")  # downloads 0.3 GB once  # doctest: +SKIP
    >>> features = ResNetRS50(weights="imagenet", include_top=False, pooling="avg")  # doctest: +SKIP
    >>> model = ResNetRS50(classes=10, input_shape=(64, 64, 3), block_counts=(1, 1, 1, 1))
    >>> model.predict(tf.zeros((2, 64, 64, 3)), verbose=0).shape   # probabilities, input RGB 0..255
    (2, 10)
"""

import os

import tensorflow as tf

from official.checkpoints import files as checkpoint_files
from official.checkpoints import readers as readers_lib
from official import families
from official import published
from official.modeling import resnet_rs
from official.validation import check_choice

FAMILIES = {"tf1": resnet_rs.TF1_FAMILY, "garden": resnet_rs.GARDEN_FAMILY}
# See the module docstring for why not the paper's 0.
DEFAULT_BN_MOMENTUM = 0.9


def published_checkpoints(family="tf1"):
    """{official name: (depth, training image size)} of the checkpoints `family` published.

    Read from the one table of releases (official/published.py).

    Example:
        >>> published_checkpoints()["resnet-rs-50-i160"]
        (50, 160)
    """
    name = families.get(family).name
    return {c.name: (c.depth, c.image_size) for c in published.CHECKPOINTS.values() if name in c.top1}


def imagenet_checkpoint(depth, image_size=None, family="tf1"):
    """The official name `weights="imagenet"` stands for at this depth.

    The checkpoint trained at `image_size` when that depth was published at that size,
    else the depth's largest published size (its best accuracy).

    Example:
        >>> imagenet_checkpoint(152), imagenet_checkpoint(152, 224)
        ('resnet-rs-152-i256', 'resnet-rs-152-i224')
    """
    sizes = {s: name for name, (d, s) in published_checkpoints(family).items() if d == depth}
    if not sizes:
        raise ValueError(f"the {'Model Garden' if family == 'garden' else 'TF1 release'} published no ImageNet "
                         f"checkpoint of ResNet-RS-{depth}; its checkpoints: {', '.join(valid_weights(family))}")
    return sizes.get(image_size, sizes[max(sizes)])


def valid_weights(family="tf1"):
    """Every official name `weights=` accepts in `family` (besides None, "imagenet", a path)."""
    return list(published_checkpoints(family))


def _resolve_weights(weights, depth, family, image_size):
    """(checkpoint prefix or name, format) for `weights`; errors name what is wrong."""
    if weights == "imagenet":
        weights = imagenet_checkpoint(depth, image_size, family)
    name = os.fspath(weights)
    if name in published.CHECKPOINTS:
        published_depth = published.CHECKPOINTS[name].depth
        if published_depth != depth:
            raise ValueError(f"weights={name!r} is a ResNet-RS-{published_depth} checkpoint; this is "
                             f"ResNet-RS-{depth}: use ResNetRS{published_depth}(weights={name!r})")
        if name not in published_checkpoints(family):
            raise ValueError(f"weights={name!r}: the Model Garden published no such checkpoint; use "
                             "family='tf1'")
        return name, family
    if not (os.path.exists(name) or os.path.exists(name + ".index")):
        raise ValueError(f"weights={name!r} is neither None, 'imagenet', an official name nor an existing "
                         f"checkpoint path; official names ({family}): {', '.join(valid_weights(family))}")
    prefix = checkpoint_files.find_checkpoint(name)
    format = readers_lib.detect_format(prefix)  # pylint: disable=redefined-builtin
    if format in FAMILIES and format != family:
        raise ValueError(f"weights={name!r} is a {format}-family checkpoint but family={family!r}: pass "
                         f"family={format!r} (the families differ in activation and padding)")
    return prefix, format


def build_application(depth, weights=None, include_top=True, pooling=None, classes=families.IMAGENET_CLASSES,
                      classifier_activation="softmax", include_preprocessing=True, input_shape=None,
                      family="tf1", bn_momentum=DEFAULT_BN_MOMENTUM, ema=True, cache_dir=None, **kwargs):
    """A ResNet-RS of `depth` as the keras.applications constructors build it (see ResNetRS50).

    Everything is checked before anything is built or downloaded, and the weights are
    read in full and checked before any is assigned (official.checkpoints.readers), so a bad
    argument or checkpoint raises without a half-loaded model.

    Example:
        >>> build_application(50, classes=10, input_shape=(64, 64, 3), block_counts=(1, 1, 1, 1)).output.shape
        (None, 10)
    """
    check_choice("family", family, FAMILIES)
    input_shape = tuple(input_shape) if input_shape is not None else (None, None, 3)
    if weights is not None and include_top and classes != families.IMAGENET_CLASSES:
        raise ValueError(f"weights={weights!r} with include_top=True needs classes={families.IMAGENET_CLASSES} (the "
                         f"published head); got classes={classes}. For {classes} classes pass "
                         "include_top=False and add a head, or fine-tune (configs/finetune.py)")
    source = None
    if weights is not None:
        source = _resolve_weights(weights, depth, family, input_shape[0])
    preset = {**FAMILIES[family], "num_classes": classes}
    model = resnet_rs.ResNetRS(
        depth, input_shape=input_shape, include_top=include_top, pooling=pooling,
        classifier_activation=classifier_activation if include_top else None,
        include_preprocessing=include_preprocessing, bn_momentum=bn_momentum, **{**preset, **kwargs})
    if source is not None:
        prefix, format = source  # pylint: disable=redefined-builtin
        readers_lib.load_into(model, prefix, format=format, ema=ema, include_top=include_top, cache_dir=cache_dir)
    return model


_ARGS_DOC = """

    Args:
        weights: None (random), "imagenet" (the published checkpoint of this depth:
            the one trained at input_shape's size if published, else the largest),
            an official name ("resnet-rs-{depth}-i{size}") or a checkpoint path in
            the tf1, garden or this project's format (a prefix or a directory).
        include_top: the 1000-class (or `classes`) head; False: a feature extractor.
        pooling: without the head: None (the stage-5 map), "avg" or "max".
        classes: the head's classes (1000 with ImageNet weights).
        classifier_activation: "softmax" (probabilities) or None (logits).
        include_preprocessing: True: input RGB on the 0..255 scale, normalised in the
            model; False: input already normalised (`official.data.preprocessing.normalize`).
        input_shape: (H, W, 3), H and W >= 32, None for any size; default (None, None, 3).
        family: "tf1" (ReLU, the TPU release) or "garden" (swish, the Model Garden);
            must match the weights.
        bn_momentum: batch-norm momentum (0.9 for `fit`; 0 only under an EMA of the
            batch-norm statistics, as the official trainers).
        ema: load the checkpoint's moving averages (the published accuracies).
        cache_dir: the download cache (default $RESNET_RS_CACHE or ~/.cache/resnet_rs).
        **kwargs: any other `official.modeling.resnet_rs.ResNetRS` argument (dropout_rate,
            drop_connect_rate, name, ...).

    Returns:
        An `official.modeling.resnet_rs.ResNetRS` (a keras.Model with one output).
    """


def _constructor(depth):
    def constructor(weights=None, include_top=True, pooling=None, classes=families.IMAGENET_CLASSES,
                    classifier_activation="softmax", include_preprocessing=True, input_shape=None,
                    family="tf1", **kwargs):
        return build_application(depth, weights=weights, include_top=include_top, pooling=pooling,
                                 classes=classes, classifier_activation=classifier_activation,
                                 include_preprocessing=include_preprocessing, input_shape=input_shape,
                                 family=family, **kwargs)

    constructor.__name__ = constructor.__qualname__ = f"ResNetRS{depth}"
    constructor.__doc__ = (f"ResNet-RS-{depth}, keras.applications style.\n\n    Example:\n"
                           f"        >>> model = ResNetRS{depth}(weights=\"imagenet\")  # downloads  # doctest: +SKIP\n"
                           f"        >>> model.predict(images_0_to_255)   # [N, 1000] probabilities  # doctest: +SKIP"
                           + _ARGS_DOC)
    return constructor


ResNetRS50 = _constructor(50)
ResNetRS101 = _constructor(101)
ResNetRS152 = _constructor(152)
ResNetRS200 = _constructor(200)
ResNetRS270 = _constructor(270)
ResNetRS350 = _constructor(350)
ResNetRS420 = _constructor(420)
