"""keras.applications-style ResNet-RS constructors with the published weights, on every Keras 3 backend.

`ResNetRS50(...)` ... `ResNetRS420(...)` take the arguments Keras users know from
`keras.applications` and return an `official.modeling.resnet_rs.ResNetRS` with ONE output
(probabilities by default, or logits, pooled features, the stage-5 map), ready for
`compile`/`fit`/`evaluate`/`predict`, `.keras` files and `model.export`, under the
TensorFlow, JAX or PyTorch backend. Endpoints for detection and transfer work:
`official.modeling.resnet_rs.endpoints(model)`. `preprocess_input` and
`decode_predictions` are keras.applications' companions.

Weights: `weights=None` (random), `"imagenet"` (the published checkpoint of that
depth, see `imagenet_checkpoint`), an official name (`"resnet-rs-152-i256"`), a local
TensorFlow checkpoint in the TF1, Model Garden or this project's trainer layout (read
through `official.checkpoints.readers`: TensorFlow must be installed, whichever the
backend), or a Keras `.keras` / `.weights.h5` file (no TensorFlow needed). The `family`
picks the architecture the weights were trained with ("tf1": ReLU, the
`tensorflow/tpu` release; "garden": swish, the Model Garden's); the Garden's
background logit is dropped on load, so both families speak the same 1000 classes.

`classes`: None takes the weights' own head (1000 for the ImageNet checkpoints, 4 for
a 4-class fine-tune of the trainer or a `.keras` file); with `weights=None` it is
1000, as in keras.applications. An explicit value that differs from the weights' head
is refused: for new classes load the backbone (`include_top=False`) and add a head.

Batch-norm momentum: 0.9 by default here, unlike the paper's 0. The paper's 0 is
right only under its EMA of the batch-norm statistics (our trainer, official/training/recipes.py):
there the layer's own statistics are the last batch's and the EMA keeps the usable
ones. `fit` keeps no such EMA, so with 0 a model trained by `fit` would evaluate with
one batch's statistics. 0.9 averages over the last ~10 batches: close to the data's
statistics at the usual batch sizes, and quick to move from ImageNet's to a new
dataset's in a short fine-tuning run (Keras' 0.99 needs ~500 steps for that).

Importing this module imports Keras and registers the model's classes (so
`keras.saving.load_model` reads our `.keras` files after it); TensorFlow is imported
only when a TensorFlow checkpoint is read.

Example (random weights and the small model, so that it runs anywhere; with
`weights="imagenet"` the same lines classify real photographs):
    >>> images_0_to_255 = np.zeros((2, 32, 32, 3), "uint8")        # RGB, as read from files
    >>> model = ResNetRS50(weights=None, input_shape=(32, 32, 3), block_counts=(1, 1, 1, 1))
    >>> probabilities = model.predict(images_0_to_255, verbose=0)   # [N, 1000]
    >>> probabilities.shape, [len(top) for top in decode_predictions(probabilities, top=3)]
    ((2, 1000), [3, 3])
    >>> features = ResNetRS50(weights=None, include_top=False, pooling="avg", block_counts=(1, 1, 1, 1))
    >>> features.output.shape
    (None, 2048)
    >>> model = ResNetRS50(weights="imagenet")      # downloads the checkpoint once  # doctest: +SKIP
"""

import json
import os
from typing import Any, NamedTuple, Optional, Union

import keras
import numpy as np

from official import families
from official import published
from official.validation import check_choice
from official.checkpoints import portable
from official.data import imagenet_classes
from official.modeling import normalization
from official.modeling import resnet_rs

FAMILIES = {"tf1": resnet_rs.TF1_FAMILY, "garden": resnet_rs.GARDEN_FAMILY}
# See the module docstring for why not the paper's 0.
DEFAULT_BN_MOMENTUM = 0.9
KERAS_FILES = (".keras", ".weights.h5")
# The architecture options a saved model must share with the one it is loaded into.
ARCHITECTURE_KEYS = ("depth", "block_counts", "activation", "padding", "stage2_shortcut_pool", "se_ratio")
# What the constructors set themselves; everything else goes to ResNetRS unchanged.
_OWN = {"depth": "the constructor's name (ResNetRS50 ... ResNetRS420)", "num_classes": "classes="}


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


# ------------------------------------------------------------------------------ sources --
class _Source(NamedTuple):
    """Where the weights come from: kind "checkpoint" (format tf1|garden|native) or "keras"."""
    kind: str
    location: str
    format: Optional[str]
    classes: Optional[int]          # the head's classes in it (None: no head)
    official: bool = False          # an official name (downloaded into cache_dir)
    architecture: Optional[dict] = None  # the saved model's own options, where recorded


def _workdir_model_config(prefix):
    """The trainer's model_config.json beside a native checkpoint (workdir/checkpoints/ckpt-N), or None."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(prefix))), "model_config.json")
    try:
        with open(path) as f:
            return json.load(f).get("model")
    except (OSError, ValueError, AttributeError):
        return None


def _resolve_weights(weights, depth, family, image_size):
    """The `_Source` of `weights`; errors name what is wrong. Nothing is downloaded here."""
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
        return _Source("checkpoint", name, family, families.IMAGENET_CLASSES, official=True)
    if name.endswith(KERAS_FILES):
        if not os.path.isfile(name):
            raise ValueError(f"weights={name!r}: no such file")
        config = portable.keras_file_config(name)
        if config is None:
            return _Source("keras", name, None, portable.h5_head_classes(name))
        head = int(config["num_classes"]) if config.get("include_top") else None
        return _Source("keras", name, None, head, architecture=config)
    if not (os.path.exists(name) or os.path.exists(name + ".index")):
        raise ValueError(f"weights={name!r} is neither None, 'imagenet', an official name, a .keras/.weights.h5 "
                         f"file nor an existing checkpoint path; official names ({family}): "
                         f"{', '.join(valid_weights(family))}")
    files, readers = portable.tensorflow_checkpoints()
    prefix = files.find_checkpoint(name)
    layout = readers.detect_format(prefix)
    if layout in FAMILIES and layout != family:
        raise ValueError(f"weights={name!r} is a {layout}-family checkpoint but family={family!r}: pass "
                         f"family={layout!r} (the families differ in activation and padding)")
    architecture = _workdir_model_config(prefix) if layout == "native" else None
    head = (portable.native_head_classes(prefix) if layout == "native"
            else portable.head_classes(portable.checkpoint_keys(prefix), layout))
    return _Source("checkpoint", prefix, layout, head, architecture=architecture)


def _check_architecture(weights, saved, wanted):
    """A saved model's architecture options must be the ones asked for (same shapes may hide a
    wrong activation or padding, which would load silently and lose accuracy)."""
    for key in ARCHITECTURE_KEYS:
        if key not in saved:
            continue
        mine, theirs = wanted.get(key, _resnet_rs_arguments()[key].default), saved[key]
        if key == "block_counts":
            mine = resnet_rs.blocks_per_stage(wanted["depth"], mine)
            theirs = resnet_rs.blocks_per_stage(saved.get("depth", wanted["depth"]), theirs)
        if mine == theirs or (isinstance(mine, float) and np.isclose(mine, theirs)):
            continue
        if key == "depth":
            hint = f"use ResNetRS{theirs}"
        elif key in FAMILIES["tf1"]:
            family = [f for f, arch in FAMILIES.items() if all(saved.get(k) == v for k, v in arch.items()
                                                               if k in ARCHITECTURE_KEYS)]
            hint = f"pass family={family[0]!r}" if family else f"pass {key}={theirs!r}"
        else:
            hint = f"pass {key}={theirs!r}"
        raise ValueError(f"weights={weights!r} holds a model with {key}={theirs!r}, this one has {key}={mine!r}: "
                         f"{hint}")


def _num_classes(weights, source, classes, include_top):
    """The head size to build: the weights' own unless `classes` asks otherwise (refused)."""
    if classes is not None and (isinstance(classes, bool) or not isinstance(classes, (int, np.integer))
                                or classes < 1):
        raise ValueError(f"classes={classes!r} must be a positive integer")
    if not include_top:
        if classes is not None:
            raise ValueError(f"classes={classes} needs include_top=True: without the head there are no classes")
        return source.classes if source and source.classes else families.IMAGENET_CLASSES
    if source is None:
        return families.IMAGENET_CLASSES if classes is None else int(classes)
    if source.classes is None:
        raise ValueError(f"weights={weights!r} holds no classification head: pass include_top=False")
    if classes is not None and classes != source.classes:
        raise ValueError(f"classes={classes} does not match weights={weights!r}, whose head has {source.classes} "
                         f"classes: omit classes=, or pass include_top=False and add a head for {classes}")
    return source.classes


def _load(model, source, ema, include_top, cache_dir):
    if source.kind == "keras":
        portable.read_keras(model, source.location, source.architecture)
    elif source.format == "native":
        portable.read_native(model, source.location, ema, include_top)
    else:
        _, readers = portable.tensorflow_checkpoints()
        readers.load_into(model, source.location, format=source.format, ema=ema, include_top=include_top,
                          cache_dir=cache_dir)


# ------------------------------------------------------------------------------ building --
def build_application(depth: int, weights: Union[str, os.PathLike, None] = None, include_top: bool = True,
          input_tensor: Optional[keras.KerasTensor] = None, input_shape: Optional[tuple] = None,
          pooling: Optional[str] = None, classes: Optional[int] = None,
          classifier_activation: Optional[str] = "softmax", include_preprocessing: bool = True,
          family: str = "tf1", bn_momentum: float = DEFAULT_BN_MOMENTUM, ema: Optional[bool] = None,
          cache_dir: Optional[str] = None, **kwargs: Any) -> resnet_rs.ResNetRS:
    """A ResNet-RS of `depth` as the keras.applications constructors build it (see ResNetRS50).

    Everything is checked before anything is built or downloaded, and the weights are
    read in full and checked before any is assigned, so a bad argument or checkpoint
    raises without a half-loaded model. Unknown keywords raise TypeError naming them.

    Example:
        >>> build_application(50, weights=None, classes=10, input_shape=(64, 64, 3)).output.shape
        (None, 10)
    """
    what = f"ResNetRS{depth}"
    for key, use in _OWN.items():
        if key in kwargs:
            raise TypeError(f"{what} takes no {key}= (it is {use})")
    allowed = set(_resnet_rs_arguments()) - {"self", "depth", "unknown"}
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise TypeError(f"{what} got unexpected argument(s) {', '.join(k + '=' for k in unknown)}")
    check_choice("family", family, tuple(FAMILIES))
    if input_tensor is not None and input_shape is None:
        input_shape = tuple(input_tensor.shape[1:]) if keras.utils.is_keras_tensor(input_tensor) else None
    input_shape = tuple(input_shape) if input_shape is not None else (None, None, 3)
    source = None
    if weights is not None:
        source = _resolve_weights(weights, depth, family, input_shape[0])
    if source is not None and source.kind == "checkpoint":
        portable.tensorflow_checkpoints()       # without TensorFlow: the one-line ImportError, before any build
    if ema is not None and (source is None or source.kind != "checkpoint"):
        raise ValueError(f"ema={ema} applies to TensorFlow checkpoints (their moving averages); "
                         f"weights={weights!r} has none")
    if cache_dir is not None and not (source and source.official):
        raise ValueError(f"cache_dir= is where official checkpoints are downloaded; weights={weights!r} is not one")
    preset = {k: v for k, v in FAMILIES[family].items() if k != "num_classes"}   # classes= decides
    arguments = {**preset, "depth": depth, **kwargs}
    if source is not None and source.architecture:
        _check_architecture(weights, source.architecture, arguments)
    num_classes = _num_classes(weights, source, classes, include_top)
    model = resnet_rs.ResNetRS(
        input_shape=input_shape, input_tensor=input_tensor, include_top=include_top, pooling=pooling,
        num_classes=num_classes, classifier_activation=classifier_activation if include_top else None,
        include_preprocessing=include_preprocessing, bn_momentum=bn_momentum, **arguments)
    if source is not None:
        _load(model, source, True if ema is None else ema, include_top, cache_dir)
    return model


def _resnet_rs_arguments():
    import inspect  # pylint: disable=import-outside-toplevel
    return inspect.signature(resnet_rs.ResNetRS.__init__).parameters


_ARGS_DOC = """

    Args:
        weights: None (random), "imagenet" (the published checkpoint of this depth:
            the one trained at input_shape's size if published, else the largest),
            an official name ("resnet-rs-{depth}-i{size}"), a TensorFlow checkpoint
            path in the tf1, garden or this project's trainer layout (a prefix or a
            directory; reading it needs TensorFlow installed, on any backend), or a
            `.keras` / `.weights.h5` file.
        include_top: the classification head; False: a feature extractor (the
            backbone of any of the weights above).
        input_tensor: a Keras tensor (`keras.Input(...)` or a layer's output) to build
            the model on, as in keras.applications.
        input_shape: (H, W, 3), H and W >= 32, None for any size; default (None, None, 3)
            or input_tensor's.
        pooling: without the head: None (the stage-5 map), "avg" or "max".
        classes: the head's classes. None: the weights' head (1000 for ImageNet, the
            fine-tune's for a checkpoint of our trainer or a .keras file), 1000 without
            weights. A value different from the weights' head is refused.
        classifier_activation: "softmax" (probabilities) or None (logits); ignored
            without the head, as in keras.applications.
        include_preprocessing: True: input RGB on the 0..255 scale, normalised in the
            model; False: input already normalised (`preprocess_input`).
        family: "tf1" (ReLU, the TPU release) or "garden" (swish, the Model Garden);
            must match the weights.
        bn_momentum: batch-norm momentum (0.9 for `fit`; 0 only under an EMA of the
            batch-norm statistics, as the official trainers).
        ema: TensorFlow checkpoints only: load their moving averages (default True:
            the weights the published accuracies were measured with).
        cache_dir: official names only: the download cache (default $RESNET_RS_CACHE
            or ~/.cache/resnet_rs).
        **kwargs: other `official.modeling.resnet_rs.ResNetRS` arguments (block_counts,
            dropout_rate, drop_connect_rate, name, ...); any other name is a TypeError.

    Returns:
        An `official.modeling.resnet_rs.ResNetRS` (a keras.Model with one output).
    """


def _constructor(depth):
    def constructor(weights: Union[str, os.PathLike, None] = None, include_top: bool = True,
                    pooling: Optional[str] = None, classes: Optional[int] = None,
                    classifier_activation: Optional[str] = "softmax", include_preprocessing: bool = True,
                    input_shape: Optional[tuple] = None, family: str = "tf1",
                    input_tensor: Optional[keras.KerasTensor] = None, **kwargs: Any) -> resnet_rs.ResNetRS:
        return build_application(depth, weights=weights, include_top=include_top, pooling=pooling, classes=classes,
                     classifier_activation=classifier_activation, include_preprocessing=include_preprocessing,
                     input_shape=input_shape, family=family, input_tensor=input_tensor, **kwargs)

    constructor.__name__ = constructor.__qualname__ = f"ResNetRS{depth}"
    name = imagenet_checkpoint(depth)
    size = published_checkpoints()[name][1]
    constructor.__doc__ = (
        f"ResNet-RS-{depth}, keras.applications style.\n\n    Example:\n"
        f"        >>> imagenet_checkpoint({depth})          # what weights=\"imagenet\" loads\n"
        f"        '{name}'\n"
        f"        >>> model = ResNetRS{depth}(weights=\"imagenet\")   # a download  # doctest: +SKIP\n"
        f"        >>> model.predict(np.zeros((1, {size}, {size}, 3)), verbose=0).shape   # doctest: +SKIP\n"
        f"        (1, 1000)"
        + _ARGS_DOC)
    return constructor


ResNetRS50 = _constructor(50)
ResNetRS101 = _constructor(101)
ResNetRS152 = _constructor(152)
ResNetRS200 = _constructor(200)
ResNetRS270 = _constructor(270)
ResNetRS350 = _constructor(350)
ResNetRS420 = _constructor(420)


# ------------------------------------------------------------------ keras.applications' companions --
def preprocess_input(x: Any, data_format: Optional[str] = None) -> Any:
    """RGB on the 0..255 scale -> what a model built with `include_preprocessing=False` takes.

    `(x - 255 * mean) / (255 * std)` per channel in float32 (ImageNet mean and std,
    `official.modeling.normalization.normalize`). The constructors' default,
    `include_preprocessing=True`, normalises INSIDE the model: give such a model the raw
    0..255 pixels and do not call this function (it would normalise twice), as with
    keras.applications' EfficientNet and ConvNeXt, whose `preprocess_input` is a
    pass-through for that reason.

    Args:
        x: [..., H, W, 3] RGB array or tensor, 0..255 (float or integer).
        data_format: None or "channels_last" (the only layout ResNet-RS takes).

    Returns:
        float32: a NumPy array for a NumPy input, else a tensor of the current backend.

    Example:
        >>> x = preprocess_input(np.full((1, 32, 32, 3), 255, "uint8"))
        >>> x.shape, x.dtype, x[0, 0, 0].round(2)          # white: (255 - 255 * mean) / (255 * std)
        ((1, 32, 32, 3), dtype('float32'), array([2.25, 2.43, 2.64], dtype=float32))
        >>> model = ResNetRS50(weights=None, include_preprocessing=False, block_counts=(1, 1, 1, 1))
        >>> model.predict(x, verbose=0).shape
        (1, 1000)
    """
    if data_format not in (None, "channels_last"):
        raise ValueError(f"data_format={data_format!r}: ResNet-RS takes channels_last images only")
    shape = tuple(x.shape) if hasattr(x, "shape") else np.shape(x)
    if shape[-1:] != (3,):
        raise ValueError(f"preprocess_input takes RGB images [..., H, W, 3], got shape {shape}")
    y = normalization.normalize(x)
    return keras.ops.convert_to_numpy(y) if isinstance(x, np.ndarray) else y


def decode_predictions(preds: Any, top: int = 5) -> list:
    """The `top` ImageNet classes of each prediction, as keras.applications' `decode_predictions`.

    Args:
        preds: [N, 1000] probabilities (or logits: the order is the same) in the ImageNet
            class order of both official families (sorted synsets).
        top: how many classes per image.

    Returns:
        One list per image of (synset, class name, score) tuples, best first, e.g.
        `("n02510455", "giant panda", 0.93)` (`official/data/imagenet_classes.txt`).

    Example:
        >>> preds = np.zeros((1, 1000), "float32")
        >>> preds[0, 388], preds[0, 0] = 0.93, 0.05       # what a model might say of a panda
        >>> [(synset, name) for synset, name, _ in decode_predictions(preds, top=2)[0]]
        [('n02510455', 'giant panda'), ('n01440764', 'tench')]
    """
    preds = np.asarray(keras.ops.convert_to_numpy(preds))
    if preds.ndim != 2 or preds.shape[1] != families.IMAGENET_CLASSES:
        raise ValueError(f"decode_predictions takes [N, {families.IMAGENET_CLASSES}] ImageNet predictions, got shape "
                         f"{preds.shape}")
    if isinstance(top, bool) or not isinstance(top, (int, np.integer)) or not 1 <= top <= families.IMAGENET_CLASSES:
        raise ValueError(f"top={top!r} must be an integer in 1..{families.IMAGENET_CLASSES}")
    synsets, names = imagenet_classes.synsets(), imagenet_classes.short_names()
    best = np.argsort(-preds, axis=1, kind="stable")[:, :top]
    return [[(synsets[i], names[i], row[i]) for i in indices] for row, indices in zip(preds, best)]
