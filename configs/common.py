"""The ResNet-RS recipe shared by the eleven published checkpoints (fact sheet §4).

`recipe(...)` returns the full `ml_collections.ConfigDict` for one (depth, image size)
pair; each `configs/resnetrs*_i*.py` file only passes what differs (§4.1, §4.2). Every
field can be overridden on the command line, `--config.train.epochs=90`; unknown keys
and wrong types are rejected by ConfigDict, bad values by `official.train_lib.validate_config`.

Two families (choose with the config-file argument, `--config=configs/X.py:garden`):

* "tf1" (default) - the published `tensorflow/tpu` checkpoints: ReLU, fixed padding,
  1000 classes (TFRecord label - 1), TF1 preprocessing and RandAugment, Nesterov
  momentum (§4.4), weight decay on every non-BN trainable variable incl. SE and dense
  biases (§4.5), zero-init last BN gamma, N(0, 0.01) head. The LR schedule is the
  paper's cosine (§4.3): the public TF1 code only has a step schedule
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

import ml_collections

FAMILIES = ("tf1", "garden")
IMAGENET_TRAIN_IMAGES = 1281167
IMAGENET_EVAL_IMAGES = 50000


def recipe(depth, image_size, dropout_rate, drop_connect_rate, randaug_magnitude, family="tf1"):
    """The ResNet-RS recipe for one published (depth, size) pair; see the module docstring."""
    if family not in FAMILIES:
        raise ValueError(f"config family (the part after ':' in --config) must be one of "
                         f"{FAMILIES}, got {family!r}")
    tf1 = family == "tf1"
    config = ml_collections.ConfigDict()

    # Architecture (§1); keyword arguments of official.resnet_rs.ResNetRS.
    config.model = ml_collections.ConfigDict(dict(
        depth=depth,
        block_counts=(),                                # () = the depth's; tests use (1, 1, 1, 1)
        activation="relu" if tf1 else "swish",          # §1.7
        padding="fixed" if tf1 else "same",             # §1.9, §6.2
        stage2_shortcut_pool=not tf1,                   # §1.3, §6.6
        se_ratio=0.25,
        dropout_rate=dropout_rate,
        drop_connect_rate=drop_connect_rate,            # §1.5, per stage
        stochastic_depth="per_stage",
        # 0: the stored statistics are the last batch's; the EMA keeps the usable
        # running statistics, as in both official trainers (§1.8, §4.6).
        bn_momentum=0.0,
        bn_epsilon=1e-5,                                # §6.9
        num_classes=1000 if tf1 else 1001,              # §1.6, §6.4
        zero_init_last_bn=tf1,
        head_initializer="tf1" if tf1 else "garden",    # §6.13
        # FusedBatchNormV3 (False: the plain-ops reference path; same numbers, slower).
        fused_batch_norm=True,
    ))

    # Input (§3); fields of official.data.build_dataset.
    config.data = ml_collections.ConfigDict(dict(
        source="tfrecord",
        data_dir="",                      # the official ImageNet TFRecords (§3.1)
        tfds_name="imagenet2012",
        tfds_manual_dir="",
        train_split="train",
        eval_split="validation",
        image_size=image_size,            # train = eval size in both recipes
        eval_image_size=0,                # 0: image_size
        preprocessing=family,             # §3.2/3.3 vs §3.6
        crop_padding=32,                  # §6.16: the 2021 code the accuracies came from
        randaug_num_layers=2,
        randaug_magnitude=randaug_magnitude,
        randaug_variant=family,
        label_offset=1 if tf1 else 0,     # §3.1: TF1 subtracts 1, Garden keeps 1..1000
        shuffle_buffer=16384,
        cache=False,
        deterministic=False,
        skip_corrupt=True,
        num_train_images=IMAGENET_TRAIN_IMAGES,
        num_eval_images=IMAGENET_EVAL_IMAGES,
        dtype="float32",
    ))

    # Schedule and loop (§4.1: batch 4096, 350 epochs; Garden: 312-step loops).
    config.train = ml_collections.ConfigDict(dict(
        global_batch_size=4096,
        epochs=350.0,
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
        base_lr_per_256=0.1,              # 1.6 at batch 4096 (§4.3)
        momentum=0.9,
        nesterov=tf1,                     # §4.4
        momentum_rule="tf1" if tf1 else "keras",  # each trainer's slot rule: TF1 MomentumOptimizer, Keras SGD
        schedule="cosine",                # "cosine" (paper, Garden) | "tf1_step" (public TF1 code)
        weight_decay=4e-5,                # coupled L2: 4e-5 x sum(v^2)/2 (§4.5, §6.12)
        weight_decay_rule="tf1" if tf1 else "garden",
    ))
    config.loss = ml_collections.ConfigDict(dict(label_smoothing=0.1))   # K = num_classes (§4.7)
    config.ema = ml_collections.ConfigDict(dict(decay=0.9999))           # 0 disables (§4.6)
    config.eval = ml_collections.ConfigDict(dict(global_batch_size=1000))

    # Fine-tuning: backbone weights from an official name or path ("" = from scratch).
    config.init_checkpoint = ""
    config.init_checkpoint_format = "tf1"     # "tf1" | "garden" | "native" (ours)

    config.export = ml_collections.ConfigDict(dict(enabled=True, image_size=0))  # 0: eval size
    return config


def family_of(config_string):
    """The family named after ':' in --config (empty: tf1)."""
    return (config_string or "tf1").strip() or "tf1"
