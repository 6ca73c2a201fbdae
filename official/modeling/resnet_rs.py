"""ResNet-RS (Bello et al. 2021) as a Keras 3 functional model.

The architecture is data (`SPECS`, `STAGE_FILTERS`) plus the blocks of
`official/modeling/layers.py`. Defaults are the TF1 `tensorflow/tpu` release (ReLU, fixed
padding, 1000 classes); `GARDEN_FAMILY` switches to the Model Garden's swish,
SAME-padding variant.

The model takes images that are already normalised as
`(x - 255 * mean) / (255 * std)` (`official/modeling/normalization.py`) and returns ONE
output, as keras.applications models do: with `include_top`, the float32 logits
(or their softmax with `classifier_activation="softmax"`; the `logits` layer stays
reachable by name); without, the pooled features (`pooling="avg"|"max"`) or the
stage-5 map (`pooling=None`). `endpoints(model)` gives the same layers as a model
with a dict of endpoints: `stem` (stride 4), `stage2` ... `stage5` (stride 4 ... 32),
`pre_logits` (pooled 2048 features) and, with a head, `logits`.

Example (the small model, one block per stage; without `block_counts`, the published RS-50):
    >>> model = ResNetRS50(input_shape=(64, 64, 3), block_counts=(1, 1, 1, 1))
    >>> tuple(model(keras.ops.zeros((1, 64, 64, 3))).shape)
    (1, 1000)
    >>> tuple(endpoints(model)(keras.ops.zeros((1, 64, 64, 3)))["stage5"].shape)   # stride 32
    (1, 2, 2, 2048)
"""

import sys
from typing import Any, Optional, Sequence

import keras
import numpy as np

from official import families
from official.modeling import layers
from official.runtime import precision
from official.validation import check_choice

# Blocks per stage; both official codes agree (docs/fidelity.md: blocks per stage).
SPECS = {
    50: (3, 4, 6, 3),
    101: (3, 4, 23, 3),
    152: (3, 8, 36, 3),
    200: (3, 24, 36, 3),
    270: (4, 29, 53, 4),
    350: (4, 36, 72, 4),
    420: (4, 44, 87, 4),
}
# Bottleneck width f per stage; blocks output 4f.
STAGE_FILTERS = (64, 128, 256, 512)
# Our stages are numbered by their endpoint (stage k has stride 2**k), so the fact
# sheet's stage1..stage4 are stage2..stage5 here.
STAGES = (2, 3, 4, 5)

ACTIVATIONS = ("relu", "swish")
PADDINGS = ("fixed", "same")
STOCHASTIC_DEPTH_RULES = ("per_stage", "per_block")
POOLINGS = (None, "avg", "max")
# Stride 32 overall: a smaller image has no stage-5 pixel left.
MIN_INPUT_SIZE = 32
CLASSIFIER_ACTIVATIONS = (None, "softmax")

# Architecture options of each official checkpoint family (official/families.py).
TF1_FAMILY = families.TF1.architecture()
GARDEN_FAMILY = families.GARDEN.architecture()

# TPU code: N(0, 0.01); Garden: Keras' default Dense init U(-0.05, 0.05) (docs/fidelity.md: head, #13).
HEAD_INITIALIZERS = {
    "tf1": {"class_name": "RandomNormal", "config": {"stddev": 0.01}},
    "garden": {"class_name": "RandomUniform", "config": {"minval": -0.05, "maxval": 0.05}},
}


def blocks_per_stage(depth, block_counts=None):
    """Blocks in each of the four stages: `block_counts` if given, else the published depth's.

    `block_counts` builds a small ResNet-RS from the same blocks (the tests use
    (1, 1, 1, 1), which has every kind of block: stem, strided and unstrided first
    blocks, SE, head), so everything but the published shapes can be checked in seconds.

    Example:
        >>> blocks_per_stage(50), blocks_per_stage(50, (1, 1, 1, 1))
        ((3, 4, 6, 3), (1, 1, 1, 1))
    """
    check_choice("depth", depth, tuple(SPECS))
    if not block_counts:
        return SPECS[depth]
    counts = tuple(int(n) for n in block_counts)
    if len(counts) != len(STAGES) or min(counts) < 1:
        raise ValueError(f"block_counts={tuple(block_counts)!r} must be {len(STAGES)} positive integers, "
                         f"one per stage")
    return counts


def drop_rates(depth, drop_connect_rate, rule="per_stage", block_counts=None):
    """Stochastic-depth rate of every block, as a list per stage.

    per_stage (both official codes; docs/fidelity.md: stochastic depth): rate x k/5 for our stage k = 2..5,
    constant inside a stage (0.04, 0.06, 0.08, 0.10 for rate 0.1).
    per_block (timm's rule): rate x b/(B-1) for the global block index b.

    Example:
        >>> drop_rates(50, 0.1)[0]
        [0.04, 0.04, 0.04]
    """
    blocks = blocks_per_stage(depth, block_counts)
    if rule == "per_stage":
        return [[drop_connect_rate * stage / 5] * n for stage, n in zip(STAGES, blocks)]
    total = sum(blocks)
    rates, b = [], 0
    for n in blocks:
        rates.append([drop_connect_rate * (b + i) / max(total - 1, 1) for i in range(n)])
        b += n
    return rates


def block_name(stage, block):
    """Name prefix of a block's layers, e.g. `stage2_block0`."""
    return f"stage{stage}_block{block}"


def _check_rate(name, value):
    if value is None or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name}={value!r} must be a float in [0, 1)")


@keras.saving.register_keras_serializable(package="resnet_rs")
class ResNetRS(keras.Model):
    """ResNet-RS of any published depth, with feature endpoints.

    Args:
        depth: 50, 101, 152, 200, 270, 350 or 420.
        block_counts: blocks per stage instead of the depth's published ones (a small
            model of the same blocks, for tests and experiments); None: the depth's.
        input_shape: (H, W, 3); H and W may be None (any size, stride 32 overall).
        num_classes: logits of the head (1000; the Garden trains with 1001).
        include_top: add dropout + dense logits; False gives a feature extractor.
        pooling: without a head, the output: None (the stage-5 map), "avg" or
            "max" (pooled features). A head always follows average pooling.
        classifier_activation: None (the output is the logits: what the trainer,
            the checkpoint readers and the export use) or "softmax" (a separate
            final layer; the `logits` layer keeps its output).
        include_preprocessing: take RGB on the 0..255 scale and normalise inside
            (a `preprocessing` layer without variables); False: normalised input.
        activation: "relu" (TF1 release, paper) or "swish" (Garden checkpoints).
        padding: "fixed" (TF1: symmetric pad + VALID for strided convs) or "same" (Garden).
        stage2_shortcut_pool: Garden's 2x2 stride-1 average pool in the first block's shortcut.
        se_ratio: squeeze-and-excitation ratio of the block output width (0 disables).
        drop_connect_rate: stochastic-depth rate of the last stage (0 disables).
        stochastic_depth: "per_stage" (official) or "per_block" (timm).
        dropout_rate: dropout before the head.
        bn_momentum, bn_epsilon: batch-norm settings (ResNet-RS: 0 and 1e-5). The
            momentum depends on how the model is trained: 0 (the default here) only
            under the trainer's EMA of the batch-norm statistics, which keeps the
            usable running statistics while the layer's own are the last batch's;
            with plain `fit` or any loop without that EMA use a normal momentum
            (`official.applications` constructors default to 0.9). Inference does
            not depend on it.
        zero_init_last_bn: start every block's last BN gamma at zero (TF1 release).
        head_initializer: "tf1" (N(0, 0.01)) or "garden" (U(-0.05, 0.05)).
        fused_batch_norm: run batch norm as one fused op (faster; same numbers as
            False within float rounding, see `layers.BatchNorm`).
        fold_batch_norm: an inference-only model whose convolutions carry each batch
            norm as a scaled kernel and a bias (no BN layers); made from a trained
            model by `fold_batch_norm(model)`.
        class_names: the names of the head's classes, in logit order (stored in the
            config, so a `.keras` file carries them; `official.cli.predict` prints them).
            None: unnamed (ImageNet's for a 1000-class head of the published weights).
        input_tensor: a Keras tensor (`keras.Input(...)` or a layer's output) to build
            the network on, as in keras.applications: the model's inputs are its
            source inputs, so layers before it (augmentation, resizing) belong to the
            model and are saved with it. Its shape gives `input_shape`.
        name, trainable: as for any keras.Model.

    Any other keyword is refused (TypeError naming it): this class builds the network
    only; weights and class counts of published checkpoints are
    `official.applications.ResNetRS50(weights=..., classes=...)`'s job.

    Example:
        >>> features = ResNetRS(50, include_top=False, pooling="avg", block_counts=(1, 1, 1, 1))
        >>> tuple(features(keras.ops.zeros((1, 64, 64, 3))).shape)
        (1, 2048)
    """

    def __init__(self, depth: int = 50, block_counts: Optional[Sequence[int]] = None,
                 input_shape: Sequence[Optional[int]] = (None, None, 3), num_classes: int = 1000,
                 include_top: bool = True, pooling: Optional[str] = None,
                 classifier_activation: Optional[str] = None, include_preprocessing: bool = False,
                 activation: str = "relu", padding: str = "fixed", stage2_shortcut_pool: bool = False,
                 se_ratio: float = 0.25, drop_connect_rate: float = 0.0, stochastic_depth: str = "per_stage",
                 dropout_rate: float = 0.25, bn_momentum: float = 0.0, bn_epsilon: float = 1e-5,
                 zero_init_last_bn: bool = True, head_initializer: str = "tf1", fused_batch_norm: bool = True,
                 fold_batch_norm: bool = False,
                 class_names: Optional[Sequence[str]] = None, input_tensor: Optional[keras.KerasTensor] = None,
                 name: Optional[str] = None, trainable: bool = True, **unknown: Any):
        _refuse_unknown("ResNetRS", unknown)
        blocks = blocks_per_stage(depth, block_counts)
        class_names = tuple(str(n) for n in class_names) if class_names else None
        if class_names and include_top and len(class_names) != int(num_classes):
            raise ValueError(f"class_names has {len(class_names)} names for num_classes={num_classes}")
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("padding", padding, PADDINGS)
        check_choice("stochastic_depth", stochastic_depth, STOCHASTIC_DEPTH_RULES)
        check_choice("head_initializer", head_initializer, tuple(HEAD_INITIALIZERS))
        check_choice("pooling", pooling, POOLINGS)
        check_choice("classifier_activation", classifier_activation, CLASSIFIER_ACTIVATIONS)
        if include_top and pooling == "max":
            raise ValueError("pooling='max' needs include_top=False: the head follows average pooling")
        if not include_top and classifier_activation:
            raise ValueError(f"classifier_activation={classifier_activation!r} needs include_top=True")
        _check_rate("drop_connect_rate", drop_connect_rate or 0.0)
        _check_rate("dropout_rate", dropout_rate or 0.0)
        _check_rate("bn_momentum", bn_momentum)
        if not 0.0 <= float(se_ratio) <= 1.0:
            raise ValueError(f"se_ratio={se_ratio!r} must be in [0, 1]")
        input_shape, preceding = _input_shape(input_shape, input_tensor)
        if len(input_shape) != 3 or input_shape[-1] != 3:
            raise ValueError(f"input_shape={input_shape!r} must be (height, width, 3): ResNet-RS takes RGB images")
        small = [d for d in input_shape[:2] if d is not None and d < MIN_INPUT_SIZE]
        if small:
            raise ValueError(f"input_shape={input_shape!r} is too small: ResNet-RS downsamples by 32, so "
                             f"height and width must be at least {MIN_INPUT_SIZE}")
        if include_top and int(num_classes) < 1:
            raise ValueError(f"num_classes={num_classes!r} must be a positive integer")

        # Keras builds and walks a functional graph recursively, one Python frame per layer
        # on the longest path; RS-270 and deeper (1,200+ layers) pass Python's default
        # limit of 1000. Raise it (never lower it) for them.
        sys.setrecursionlimit(max(sys.getrecursionlimit(), 20 * sum(blocks) + 2000))
        norm = None if fold_batch_norm else layers.batch_norm_factory(bn_momentum, bn_epsilon,
                                                                     fused=fused_batch_norm)
        if input_tensor is None:
            inputs = x = keras.Input(input_shape, name="images")
        else:
            inputs, x = keras.utils.get_source_inputs(input_tensor), input_tensor
            inputs = inputs[0] if len(inputs) == 1 else inputs
        x = layers.Normalize(name="preprocessing")(x) if include_preprocessing else x
        x = layers.stem(x, activation=activation, padding=padding, norm=norm)
        endpoints = {"stem": x}
        rates = drop_rates(depth, drop_connect_rate or 0.0, stochastic_depth, blocks)
        for stage, filters, n, stage_rates in zip(STAGES, STAGE_FILTERS, blocks, rates):
            for b in range(n):
                x = layers.bottleneck_block(
                    x, filters, strides=(1 if stage == 2 else 2) if b == 0 else 1, first=b == 0,
                    activation=activation, padding=padding, norm=norm, se_ratio=se_ratio,
                    drop_rate=stage_rates[b], stage2_shortcut_pool=stage2_shortcut_pool,
                    zero_init_last_bn=zero_init_last_bn, name=block_name(stage, b))
            endpoints[f"stage{stage}"] = x
        if include_top or pooling == "avg":
            x = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
            endpoints["pre_logits"] = x
        elif pooling == "max":
            x = keras.layers.GlobalMaxPooling2D(name="max_pool")(x)
            endpoints["pre_logits"] = x
        if include_top:
            if dropout_rate:
                x = keras.layers.Dropout(dropout_rate, name="head_dropout")(x)
            # float32 logits under mixed precision: the loss and softmax need them.
            x = keras.layers.Dense(
                num_classes, kernel_initializer=HEAD_INITIALIZERS[head_initializer], dtype="float32",
                name="logits")(x)
            endpoints["logits"] = x
            if classifier_activation:
                x = keras.layers.Activation(classifier_activation, dtype="float32", name="predictions")(x)
        outputs = x
        super().__init__(inputs=inputs, outputs=outputs, name=name or f"resnet_rs_{depth}", trainable=trainable)
        # Layer names, not tensors: `endpoints()` reads each layer's output.
        self._endpoint_layers = {k: t._keras_history.operation.name for k, t in endpoints.items()}
        self._init_config = dict(
            depth=depth, block_counts=tuple(blocks) if block_counts else None, input_shape=input_shape,
            num_classes=num_classes, include_top=include_top,
            pooling=pooling, classifier_activation=classifier_activation,
            include_preprocessing=include_preprocessing,
            activation=activation, padding=padding, stage2_shortcut_pool=stage2_shortcut_pool,
            se_ratio=se_ratio, drop_connect_rate=drop_connect_rate, stochastic_depth=stochastic_depth,
            dropout_rate=dropout_rate, bn_momentum=bn_momentum, bn_epsilon=bn_epsilon,
            zero_init_last_bn=zero_init_last_bn, head_initializer=head_initializer,
            fused_batch_norm=fused_batch_norm, fold_batch_norm=fold_batch_norm)
        if preceding is not None:    # only then: other models' configs stay as they were
            self._init_config["input_tensor"] = preceding
        if class_names:   # only when given: configs of unnamed models stay as they were
            self._init_config["class_names"] = class_names

    @property
    def class_names(self):
        """The head's class names in logit order, or None when none were given."""
        return self._init_config.get("class_names")

    @property
    def depth(self):
        return self._init_config["depth"]

    @property
    def block_counts(self):
        """Blocks per stage actually built (the depth's published ones unless overridden)."""
        return blocks_per_stage(self.depth, self._init_config["block_counts"])

    def get_config(self):
        config = {"name": self.name, "trainable": self.trainable, **self._init_config}
        if "input_tensor" in config:      # the layers before the network, as a model of their own
            config["input_tensor"] = keras.saving.serialize_keras_object(config["input_tensor"])
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if config.get("input_tensor") is not None:
            config["input_tensor"] = keras.saving.deserialize_keras_object(config["input_tensor"]).output
        return cls(**config)


def _refuse_unknown(what, unknown):
    """No argument is silently ignored: name the unknown ones, and where weights belong."""
    if not unknown:
        return
    names = ", ".join(f"{k}=" for k in sorted(unknown))
    hint = ""
    if {"weights", "classes"} & set(unknown):
        hint = ("; this builds the bare network (logits, normalised input, num_classes=): for published or "
                "saved weights and classes= use official.applications.ResNetRS50 ... ResNetRS420")
    raise TypeError(f"{what} got unexpected argument(s) {names}{hint}")


def _input_shape(input_shape, input_tensor):
    """(H, W, C) from `input_shape` or `input_tensor` (which must agree), and the layers before
    `input_tensor` as a keras.Model (None when it is an Input itself or not given)."""
    input_shape = tuple(input_shape)
    if input_tensor is None:
        return input_shape, None
    if not keras.utils.is_keras_tensor(input_tensor):
        raise TypeError(f"input_tensor must be a Keras tensor (keras.Input(...) or a layer's output), "
                        f"got {type(input_tensor).__name__}")
    shape = tuple(input_tensor.shape[1:])
    if len(shape) != len(input_shape) or any(a is not None and a != b for a, b in zip(input_shape, shape)):
        raise ValueError(f"input_shape={input_shape!r} does not match input_tensor's shape {shape!r}")
    sources = keras.utils.get_source_inputs(input_tensor)
    if len(sources) == 1 and sources[0] is input_tensor:
        return shape, None
    return shape, keras.Model(sources, input_tensor, name="input_tensor")


def fold_batch_norm(model):
    """An inference copy of `model` with every batch norm folded into the conv before it.

    Inference batch norm is per channel y = (x - mean) * s + beta with
    s = gamma / sqrt(variance + epsilon), so conv(x, W) then BN equals conv(x, W * s)
    plus the bias beta - mean * s (computed here in float64). Same logits as `model`
    up to float rounding; built in `model`'s precision. Why: in float32 oneDNN already
    fuses conv + BN + ReLU by itself, but in bfloat16 TensorFlow runs each batch norm
    as its own op (its statistics are float32 while the convolution is bfloat16), which
    cost 17% of ResNet-RS-50's bfloat16 inference time on an AVX512-BF16 CPU; folded,
    conv + bias + ReLU run as one fused op. A bfloat16 copy also stores its weights in
    bfloat16 (the head stays float32): rounded once here instead of cast at every call
    (1.2x at batch 1), half the bytes. For serving only: the copy has no batch norm to
    train and no BN variables for the checkpoint readers.

    Example:
        >>> model = ResNetRS(50, input_shape=(64, 64, 3), block_counts=(1, 1, 1, 1))
        >>> served = fold_batch_norm(model)
        >>> images = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype("float32")
        >>> np.allclose(served(images), model(images), atol=1e-4)   # the same up to rounding
        True
    """
    if not isinstance(model, ResNetRS):
        raise TypeError(f"fold_batch_norm takes a ResNetRS model, got {type(model).__name__}")
    config = model.get_config()
    if config["fold_batch_norm"]:
        return model
    config.update(fold_batch_norm=True, name=f"{model.name}_folded")
    with precision.policy(precision.of(model), weights_too=True):
        folded = ResNetRS.from_config(config)
    for layer in folded.layers:
        if not layer.weights:
            continue
        source = model.get_layer(layer.name)
        if isinstance(layer, keras.layers.Conv2D) and layer.use_bias and not source.use_bias:
            bn = model.get_layer(layer.name.replace("_conv", "_bn"))
            gamma, beta, mean, variance = (np.asarray(keras.ops.convert_to_numpy(w), np.float64)
                                           for w in (bn.gamma, bn.beta, bn.moving_mean, bn.moving_variance))
            scale = gamma / np.sqrt(variance + bn.epsilon)
            kernel = np.asarray(keras.ops.convert_to_numpy(source.kernel), np.float64) * scale
            layer.set_weights([kernel, beta - mean * scale])    # cast to the layer's dtype
        else:
            layer.set_weights(source.get_weights())
    return folded


def endpoints(model):
    """A keras.Model on the same layers and weights as `model` returning its endpoints.

    The dict holds `stem`, `stage2` ... `stage5`, `pre_logits` (the pooled features:
    average pooling, or `model`'s own pooling; added when `model` has none) and, with a
    head, `logits` (before any `classifier_activation`). For detection and transfer
    work: training it trains `model`.

    Example:
        >>> features = endpoints(ResNetRS(50, include_top=False, block_counts=(1, 1, 1, 1)))
        >>> sorted(features(keras.ops.zeros((1, 64, 64, 3))))
        ['pre_logits', 'stage2', 'stage3', 'stage4', 'stage5', 'stem']
    """
    names = getattr(model, "_endpoint_layers", None)
    if names is None:
        raise TypeError(f"endpoints takes a ResNetRS model, got {type(model).__name__}")
    outputs = {key: model.get_layer(name).output for key, name in names.items()}
    if "pre_logits" not in outputs:
        outputs["pre_logits"] = keras.layers.GlobalAveragePooling2D(name="pre_logits_pool")(outputs["stage5"])
    return keras.Model(model.input, outputs, name=f"{model.name}_endpoints")


def logits_model(model):
    """`model` itself when its output is the logits, else a model on the same layers that outputs them.

    The trainer, the export and the evaluators need logits; a classifier built with
    `classifier_activation="softmax"` outputs probabilities.

    Example:
        >>> classifier = ResNetRS(50, classifier_activation="softmax", block_counts=(1, 1, 1, 1))
        >>> logits_model(classifier).output is classifier.get_layer("logits").output
        True
    """
    if not any(layer.name == "logits" for layer in model.layers):
        raise ValueError(f"model {model.name!r} has no 'logits' layer: build it with include_top=True")
    if model.layers[-1].name == "logits":
        return model
    return keras.Model(model.input, model.get_layer("logits").output, name=f"{model.name}_logits")


def block_layer_names(depth, block_counts=None):
    """Names of the variable-holding layers in official creation order (docs/fidelity.md: TF1 checkpoints).

    Stem conv/BN pairs, then per block: [shortcut conv, shortcut BN,] conv1, bn1,
    conv2, bn2, conv3, bn3, se_reduce, se_expand; then `logits`. The checkpoint
    readers walk this list with their own name tables.

    Example:
        >>> block_layer_names(50)[8:12]
        ['stage2_block0_shortcut_conv', 'stage2_block0_shortcut_bn', 'stage2_block0_conv1', 'stage2_block0_bn1']
    """
    names = []
    for i in range(1, 5):
        names += [f"stem_conv{i}", f"stem_bn{i}"]
    for stage, n in zip(STAGES, blocks_per_stage(depth, block_counts)):
        for b in range(n):
            p = block_name(stage, b)
            if b == 0:
                names += [f"{p}_shortcut_conv", f"{p}_shortcut_bn"]
            for j in (1, 2, 3):
                names += [f"{p}_conv{j}", f"{p}_bn{j}"]
            names += [f"{p}_se_reduce", f"{p}_se_expand"]
    names.append("logits")
    return names


def _named(depth, millions, note=""):
    """The named variant ResNetRS{depth}(**kwargs) = ResNetRS(depth, **kwargs), refusing the
    keras.applications arguments by name (they are official.applications' constructors')."""

    def variant(**kwargs: Any) -> ResNetRS:
        refused = sorted({"weights", "classes"} & set(kwargs))
        if refused:
            raise TypeError(f"official.modeling.resnet_rs.ResNetRS{depth} takes no {'= or '.join(refused)}=: it "
                            f"builds the bare network (logits, normalised input, num_classes=); for weights and "
                            f"classes use official.applications.ResNetRS{depth}")
        return ResNetRS(depth, **kwargs)

    variant.__name__ = variant.__qualname__ = f"ResNetRS{depth}"
    variant.__doc__ = f"""ResNet-RS-{depth} ({millions} M parameters{note}): `ResNetRS({depth}, **kwargs)`, the bare network.

    The trainer's and the checkpoint readers' class: logits out, normalised input,
    `num_classes=`. Published weights, `classes=`, probabilities and 0..255 input are
    `official.applications.ResNetRS{depth}`'s (which builds this class).

    Example (the full network takes seconds to minutes to build; the small one of the same
    blocks, `block_counts=(1, 1, 1, 1)`, runs here):
        >>> model = ResNetRS{depth}(input_shape=(160, 160, 3))     # {millions} M parameters  # doctest: +SKIP
        >>> ResNetRS{depth}(input_shape=(64, 64, 3), block_counts=(1, 1, 1, 1), num_classes=10).output.shape
        (None, 10)
    """
    return variant


ResNetRS50 = _named(50, 35.7)
ResNetRS101 = _named(101, 63.6)
ResNetRS152 = _named(152, 86.6)
ResNetRS200 = _named(200, 93.2, "; published with stochastic depth 0.1")
ResNetRS270 = _named(270, 129.9, "; published with stochastic depth 0.1")
ResNetRS350 = _named(350, 164.0, "; published with stochastic depth 0.1")
ResNetRS420 = _named(420, 191.9, "; published with stochastic depth 0.1")


def from_family(family, depth, **kwargs):
    """A model configured like an official checkpoint family: "tf1" or "garden".

    Example:
        >>> from_family("garden", 50, block_counts=(1, 1, 1, 1)).get_config()["activation"]
        'swish'
    """
    return ResNetRS(depth, **{**families.get(family).architecture(), **kwargs})
