"""The ResNet-RS recipe shared by the eleven published checkpoints.

`recipe(...)` returns the full `ml_collections.ConfigDict` for one (depth, image size)
pair; each `configs/resnetrs*_i*.py` file is `published_config(name)`, which takes what
differs per checkpoint from the table in official/published.py. Every field can be
overridden on the command line, `--config.train.epochs=90`; unknown keys and wrong
types are rejected by ConfigDict, bad values by `official.training.config.check_config`.

Two families (choose with the config-file argument, `--config=configs/X.py:garden`);
their values come from official/families.py:

* "tf1" (default) - the published `tensorflow/tpu` checkpoints: ReLU, fixed padding,
  1000 classes (TFRecord label - 1), TF1 preprocessing and RandAugment, Nesterov
  momentum, weight decay on every non-BN trainable variable incl. SE and dense
  biases, zero-init last BN gamma, N(0, 0.01) head. The LR schedule is the paper's
  cosine: the public TF1 code only has a step schedule
  (`--config.optimizer.schedule=tf1_step`), and the paper says cosine.
* "garden" - the Model Garden recipe (`imagenet_resnetrs*.yaml`): swish, SAME padding,
  the stage-2 shortcut pool, 1001 classes (label kept, class 0 unused), Garden
  preprocessing and RandAugment, plain momentum, decay on kernels only, cosine.

Example:
    >>> config = recipe(depth=50, image_size=160, dropout_rate=0.25,
    ...                 drop_connect_rate=0.0, randaug_magnitude=10)
    >>> config.optimizer.base_lr_per_256 * config.train.global_batch_size / 256
    1.6
"""

import difflib
import os
import runpy

import ml_collections

from official import families
from official import published

FAMILIES = families.NAMES
IMAGENET_TRAIN_IMAGES = 1281167
IMAGENET_EVAL_IMAGES = 50000


def recipe(depth, image_size, dropout_rate, drop_connect_rate, randaug_magnitude, family="tf1"):
    """The ResNet-RS recipe for one (depth, size) pair in one family; see the module docstring."""
    fam = families.get(family, "config family (the part after ':' in --config)")
    config = ml_collections.ConfigDict()

    # Architecture; keyword arguments of official.modeling.resnet_rs.ResNetRS. The family's
    # options (activation, padding, shortcut pool, classes, inits) are those its
    # checkpoints were trained with.
    config.model = ml_collections.ConfigDict(dict(
        depth=depth,
        block_counts=(),                                # () = the depth's; tests use (1, 1, 1, 1)
        **fam.architecture(),
        se_ratio=0.25,
        dropout_rate=dropout_rate,
        drop_connect_rate=drop_connect_rate,            # stage s = 2..5 drops rate x s/5 (0.04 ... 0.1)
        stochastic_depth="per_stage",
        # 0: the stored statistics are the last batch's; the EMA keeps the usable
        # running statistics, as in both official trainers.
        bn_momentum=0.0,
        bn_epsilon=1e-5,                                # both official codes (Keras' default is 1e-3)
        # FusedBatchNormV3 (False: the plain-ops reference path; same numbers, slower).
        fused_batch_norm=True,
        # The head's class names, in logit order; kept in the model's config (a .keras file)
        # and in the workdir's model_config.json. () = unnamed; a data.image_dir fills it.
        class_names=(),
    ))

    # Input; fields of official.data.pipeline.build_dataset.
    config.data = ml_collections.ConfigDict(dict(
        source="tfrecord",                # "folder" when image_dir is given
        data_dir="",                      # the official ImageNet TFRecords (docs/data.md)
        # A folder-per-class tree read directly (official/data/folders.py); the classes,
        # their names and the image counts then come from it.
        image_dir="",
        validation_fraction=0.15,         # image_dir without train/ + validation/: held out per class
        tfds_name="imagenet2012",
        tfds_manual_dir="",
        train_split="train",
        eval_split="validation",
        image_size=image_size,            # train = eval size in both recipes
        eval_image_size=0,                # 0: image_size
        preprocessing=fam.name,
        # The TF1 eval crop S/(S+P): P = 32 in the 2021 code the accuracies came from.
        crop_padding=families.TF1_CROP_PADDING,
        randaug_num_layers=2,
        randaug_magnitude=randaug_magnitude,
        randaug_variant=fam.name,
        label_offset=fam.label_offset,    # TFRecord labels are 1..1000
        shuffle_buffer=16384,
        cache=False,
        deterministic=False,
        skip_corrupt=True,                # an undecodable image: skipped and counted
        skip_truncated=False,             # a TFRecord file cut short stops the run unless True
        num_train_images=IMAGENET_TRAIN_IMAGES,
        num_eval_images=IMAGENET_EVAL_IMAGES,
        dtype="float32",
    ))

    # Schedule and loop: batch 4096 for 350 epochs in both; the Garden runs 312-step loops.
    config.train = ml_collections.ConfigDict(dict(
        global_batch_size=4096,
        epochs=350.0,
        # How epochs become steps, as the family's trainer counts (109475 tf1, 109200 garden).
        run_length_rule=fam.name,
        max_steps=0,                      # > 0 overrides epochs (smoke tests)
        warmup_epochs=5.0,
        steps_per_loop=312,               # steps per tf.function call (TPU efficiency)
        checkpoint_every_steps=312,
        eval_every_steps=3120,            # 0: evaluate at the end only
        keep_checkpoints=3,
        seed=0,
        precision="auto",                 # auto: bfloat16 TPU, float16 GPU, float32 CPU
        # On resume, read and drop the batches already trained on, so the run is
        # bit-exact with an uninterrupted one (with data.deterministic). Off for
        # ImageNet: re-reading would take hours; a resume then reshuffles (seed + step).
        resume_skips_data=False,
    ))

    config.optimizer = ml_collections.ConfigDict(dict(
        base_lr_per_256=0.1,              # 1.6 at batch 4096, the paper's peak
        momentum=0.9,
        nesterov=fam.nesterov,
        momentum_rule=fam.momentum_rule,  # how the slot is kept: as the family's own trainer did
        schedule="cosine",                # "cosine" (paper, Garden) | "tf1_step" (public TF1 code)
        weight_decay=4e-5,                # coupled L2: 4e-5 x sum(v^2)/2, i.e. Keras l2(2e-5)
        weight_decay_rule=fam.name,
    ))
    # Smoothing over K = num_classes (1000 or 1001), as each official code does.
    config.loss = ml_collections.ConfigDict(dict(label_smoothing=0.1))
    config.ema = ml_collections.ConfigDict(dict(decay=0.9999))           # 0 disables
    config.eval = ml_collections.ConfigDict(dict(global_batch_size=1000))

    # Fine-tuning: backbone weights from an official name or path ("" = from scratch).
    config.init_checkpoint = ""
    # "auto": a local checkpoint's layout is read from the file, an official name is the
    # config's family's; or "tf1" | "garden" | "native" (ours), which must then match.
    config.init_checkpoint_format = "auto"

    config.export = ml_collections.ConfigDict(dict(enabled=True, image_size=0))  # 0: eval size
    return config


def family_of(config_string):
    """The family named after ':' in --config (empty: tf1)."""
    return (config_string or families.TF1.name).strip() or families.TF1.name


def published_config(name):
    """The ``get_config(family="")`` of the recipe file of a published checkpoint.

    Example:
        >>> get_config = published_config("resnet-rs-50-i160")
        >>> get_config("garden").model.activation
        'swish'
    """
    entry = published.get(name)

    def get_config(family=""):
        return recipe(**entry.recipe(family_of(family)))

    get_config.__doc__ = published.describe(name)
    return get_config


def recipe_dir():
    """The folder of the recipe files (`configs/`): shipped inside the package when installed.

    A wheel holds them as `official/configs/`; a checkout has them at its top level.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    installed = os.path.join(os.path.dirname(here), "configs")
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(os.path.dirname(here)), "configs")


def names():
    """The recipes that can be named without a path, e.g. "demo", "finetune", "resnetrs50_i160"."""
    return sorted(f[:-3] for f in os.listdir(recipe_dir()) if f.endswith(".py") and not f.startswith("_"))


def find(value):
    """The recipe file for a --config value: a path, or a recipe name, each with an optional ':family'.

    An existing path is kept as it is; a name is looked up in `recipe_dir()`.

    Example:
        >>> os.path.basename(find("finetune:garden"))
        'finetune.py:garden'
        >>> find("configs/demo.py") == "configs/demo.py"
        True
    """
    path, colon, family = value.partition(":")
    if os.path.exists(path) or os.sep in path or path.endswith(".py"):
        return value              # a path: ml_collections reports one that does not exist
    name = path
    if name not in names():
        close = difflib.get_close_matches(name, names(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ValueError(f"--config={value}: no recipe named {name!r}; {hint}recipes: "
                         f"{', '.join(n for n in names() if not n.startswith('resnetrs'))}, resnetrsDEPTH_iSIZE "
                         "(the published ones), or a path to a recipe file")
    return os.path.join(recipe_dir(), name + ".py") + colon + family


def load(value):
    """The ConfigDict of a --config value (a recipe name or a path, with an optional ':family').

    What `--config` gives the CLIs, for library code and notebooks.

    Example:
        >>> config = load("finetune:garden")
        >>> config.model.activation, config.data.preprocessing
        ('swish', 'garden')
    """
    path, _, family = find(value).partition(":")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--config={value}: no recipe file {path}")
    return runpy.run_path(path)["get_config"](family)
