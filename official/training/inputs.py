"""The input of a training run: the demo data, empty-split checks, distributed datasets.

Example (the fine-tuning recipe on a folder of photos, as `--config=finetune
--config.data.image_dir=photos` trains; tiny images and batches here):
    >>> from PIL import Image
    >>> from official.training import recipes
    >>> for name in ("cat", "dog"):                   # photos/<class>/: ten JPEGs each
    ...     os.makedirs(f"photos/{name}", exist_ok=True)
    ...     for i in range(10):
    ...         Image.new("RGB", (40, 32), (25 * i, 0, 0)).save(f"photos/{name}/{i}.jpg")
    >>> config = recipes.load("finetune")     # configs/finetune.py
    >>> config.data.image_dir, config.data.image_size = "photos", 32
    >>> config.train.global_batch_size = config.eval.global_batch_size = 4
    >>> print(resolve_data(config))
    photos: 2 classes (cat, dog), 16 training and 4 held-out images, 15% of each class held out (seeded)
    >>> train_ds, eval_ds = make_datasets(config, tf.distribute.get_strategy(), seed=0)
    >>> images, labels = next(iter(train_ds))
    >>> tuple(images.shape), labels.dtype
    ((4, 32, 32, 3), tf.int32)
"""

import os

from absl import logging
import tensorflow as tf

from official.data import pipeline as pipeline_lib
from official.data import reading
from official.runtime import distribute


# Recipe values that stand for "ImageNet" rather than for a choice about this data: with a
# folder, or a 0 for "count it", the data's own numbers replace them.
_IMAGENET_VALUES = {"model.num_classes": (1000, 1001),
                    "data.num_train_images": (1281167,), "data.num_eval_images": (50000,)}


def _take(config, field, found, where):
    """Sets config.`field` to `found` unless the config gives another number explicitly."""
    section, name = field.split(".")
    given = config[section][name]
    if given and given != found and given not in _IMAGENET_VALUES[field]:
        raise ValueError(f"config.{field}={given} but {where} has {found}: leave it out "
                         f"(0 = from the data) or fix the data")
    config[section][name] = found


def resolve_data(config):
    """Fills in what the data decides: the source, the classes, their names, the image counts.

    * data.image_dir set: source "folder" (official/data/folders.py); num_classes, the class
      names (config.model.class_names) and both image counts come from the folder. A
      num_classes or image count set to another number is refused (ValueError naming both).
    * TFRecords or TFDS: a 0 in num_classes / num_train_images / num_eval_images is counted
      in the data (the recipes for fine-tuning leave them 0); class names are read for a
      head that is not ImageNet's.

    Returns a one-line description of the data, or None when nothing was looked up.

    Example (the fine-tuning recipe leaves the classes and counts to the data):
        >>> from PIL import Image
        >>> from official.training import recipes
        >>> for name in ("cat", "dog"):
        ...     os.makedirs(f"pets/{name}", exist_ok=True)
        ...     for i in range(4):
        ...         Image.new("RGB", (40, 32)).save(f"pets/{name}/{i}.jpg")
        >>> config = recipes.load("finetune")
        >>> config.data.image_dir = "pets"
        >>> resolve_data(config)
        'pets: 2 classes (cat, dog), 6 training and 2 held-out images, ...'
        >>> config.model.num_classes, config.model.class_names, config.data.num_eval_images
        (2, ('cat', 'dog'), 2)
        >>> config.model.num_classes = 5                  # a number the folder contradicts
        >>> resolve_data(config)
        Traceback (most recent call last):
        ValueError: config.model.num_classes=5 but data.image_dir='pets' has 2: ...
    """
    d = config.data
    if d.image_dir:
        if d.source not in ("tfrecord", "folder"):
            raise ValueError(f"config.data.image_dir is set but config.data.source={d.source!r}: "
                             "an image folder is read as source 'folder' (leave data.source out)")
        if d.data_dir:
            raise ValueError(f"config.data.image_dir={d.image_dir!r} and config.data.data_dir="
                             f"{d.data_dir!r} are both set: give one of them")
        d.source = "folder"
    elif d.source == "folder":
        raise ValueError("config.data.source='folder' needs config.data.image_dir=PHOTOS "
                         "(a folder-per-class tree)")
    if d.source == "folder":
        from official.data import folders  # pylint: disable=g-import-not-at-top
        data = folders.load(d.image_dir, d.validation_fraction)
        _take(config, "model.num_classes", len(data.classes), f"data.image_dir={d.image_dir!r}")
        _take(config, "data.num_train_images", data.count("train"), "its training split")
        _take(config, "data.num_eval_images", data.count("validation"), "its held-out split")
        _set_class_names(config, data.classes)
        return data.describe()
    wanted = [f for f in ("model.num_classes", "data.num_train_images", "data.num_eval_images")
              if not config[f.split(".")[0]][f.split(".")[1]]]
    if not wanted or d.source not in ("tfrecord", "tfds"):
        return None
    counts = _counts(config)
    for field in wanted:
        _take(config, field, counts[field], "the data")
    from official.data import labels  # pylint: disable=g-import-not-at-top
    if config.model.num_classes not in _IMAGENET_VALUES["model.num_classes"] and not config.model.class_names:
        names = labels.class_names(config)
        if names:
            _set_class_names(config, names)
    return (f"{d.source} data: {config.model.num_classes} classes, {d.num_train_images} training and "
            f"{d.num_eval_images} evaluation images (counted)")


def _set_class_names(config, names):
    given = tuple(config.model.class_names or ())
    if given and given != tuple(names):
        raise ValueError(f"config.model.class_names={given} but the data's classes are {tuple(names)}")
    config.model.class_names = tuple(names)


def _counts(config):
    """{field: number} counted in TFRecords (labels read, images not decoded) or a TFDS builder's info."""
    d = config.data
    if d.source == "tfds":
        import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
        builder = tfds.builder(d.tfds_name, data_dir=d.data_dir or None)
        _, label_key = builder.info.supervised_keys or ("image", "label")
        return {"model.num_classes": builder.info.features[label_key].num_classes,
                "data.num_train_images": builder.info.splits[d.train_split].num_examples,
                "data.num_eval_images": builder.info.splits[d.eval_split].num_examples}
    found = {}
    top = 0
    for field, split in (("data.num_train_images", d.train_split), ("data.num_eval_images", d.eval_split)):
        found[field], largest = reading.count_records(pipeline_lib.tfrecord_files(d.data_dir, split),
                                                      d.get("skip_truncated", False))
        top = max(top, largest)
    found["model.num_classes"] = top - d.label_offset + 1
    return found


def check_not_empty(config, split):
    """Stops at start-up on a split with no records (rather than hanging or dying later)."""
    if config.data.source != "tfrecord":
        return
    files = pipeline_lib.tfrecord_files(config.data.data_dir, split)    # FileNotFoundError names the dir
    for path in files:
        for _ in tf.data.TFRecordDataset(path).take(1):
            return
    raise ValueError(f"config.data.data_dir={config.data.data_dir!r}: the {len(files)} "
                     f"'{split}' file(s) hold no records (empty dataset)")


def prepare_demo_data(config, workdir):
    """configs/demo.py: write the digits TFRecords into {workdir}/digits_tfrecords if needed.

    Runs only for configs with `demo_data_size` > 0 and an empty data.data_dir; fills
    data.data_dir in `config`.
    """
    size = config.get("demo_data_size", 0)
    if not size or config.data.data_dir:
        return
    from official.data import demo_data  # pylint: disable=g-import-not-at-top
    out_dir = os.path.join(workdir, "digits_tfrecords")
    if not demo_data.exists(out_dir):
        logging.info("writing the demo digits (%dx%d JPEG TFRecords) to %s", size, size, out_dir)
        demo_data.write_digits(out_dir, image_size=size)
    config.data.data_dir = out_dir


def make_datasets(config, strategy, seed, skip_steps=0):
    """Distributed (train, eval) datasets, one input pipeline per worker (sharded inside).

    skip_steps: training steps already done; their batches are read and dropped, so a
    resumed deterministic run sees exactly the batches an uninterrupted one would.
    """
    num_classes = config.model.num_classes

    def train_fn(ctx):
        ds = pipeline_lib.build_dataset(
            config.data, split=config.data.train_split, is_training=True,
            batch_size=ctx.get_per_replica_batch_size(config.train.global_batch_size),
            num_classes=num_classes, input_context=ctx, seed=seed)
        if skip_steps:
            # Each step takes one batch per local replica from this worker's pipeline.
            ds = ds.skip(skip_steps * ctx.num_replicas_in_sync // ctx.num_input_pipelines)
        return ds

    def eval_fn(ctx):
        return pipeline_lib.build_dataset(
            config.data, split=config.data.eval_split, is_training=False,
            batch_size=ctx.get_per_replica_batch_size(config.eval.global_batch_size),
            num_classes=num_classes, input_context=ctx)

    distribute.per_replica_batch_size(config.train.global_batch_size, strategy)
    distribute.per_replica_batch_size(config.eval.global_batch_size, strategy)
    return (strategy.distribute_datasets_from_function(train_fn),
            strategy.distribute_datasets_from_function(eval_fn))
