"""How a training config's labels map to logit columns, and the names of its classes.

The data pipeline feeds 0-based labels in [0, num_classes): TFRecord labels (1-based,
as the official converter writes them) minus `data.label_offset`; TFDS labels as
they are (already 0-based). So which head column no label ever reaches depends on
the source, not on the family:

* Garden recipe on TFRecords (offset 0, 1001 logits): labels 1..1000, column 0 is
  the unused "background" class, as in the Garden's own checkpoints.
* Garden recipe on TFDS (1001 logits): labels 0..999, column 1000 is the unused one;
  dropping column 0 here would shift every class by one.
* TF1 recipe, fine-tuning recipes (num_classes = the classes): every column is used.

Example:
    >>> from official.training import recipes
    >>> garden_config = recipes.published_config("resnet-rs-50-i160")("garden")
    >>> garden_config.data.source, unused_logit_column(garden_config)
    ('tfrecord', 0)
"""

import tensorflow as tf

from official import families
from official.data import pipeline as pipeline_lib
from official.data import tfrecords


def unused_logit_column(config):
    """The head column no training label reaches in a 1001-way ImageNet head, else None."""
    if config.model.num_classes != families.IMAGENET_CLASSES + 1:
        return None
    if config.data.source == "tfrecord" and config.data.label_offset == 0:
        return 0
    if config.data.source == "tfds":
        return families.IMAGENET_CLASSES
    return None


def class_names(config, limit=100000):
    """Names of the config's classes by 0-based label, read from its data; None when unknown.

    config.model.class_names when set; a folder (data.image_dir): its class folders;
    TFDS: the dataset's label names. TFRecords (tools/make_tfrecords.py): each label's
    `image/class/synset` (the folder name of a folder-per-class tree), read from the
    eval split until every class is seen (at most `limit` records).

    Example:
        >>> class_names(finetune_config)   # folders astronaut/, chelsea/, coffee/  # doctest: +SKIP
        ['astronaut', 'chelsea', 'coffee']
    """
    num_classes = config.model.num_classes
    recorded = tuple(config.model.get("class_names") or ())
    if len(recorded) == num_classes:          # a folder's, or given with the config
        return list(recorded)
    if config.data.source == "folder":
        from official.data import folders  # pylint: disable=g-import-not-at-top
        names = folders.load(config.data.image_dir, config.data.validation_fraction).classes
        return list(names) if len(names) == num_classes else None
    if config.data.source == "tfds":
        import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
        builder = tfds.builder(config.data.tfds_name, data_dir=config.data.data_dir or None)
        _, label_key = builder.info.supervised_keys or ("image", "label")
        names = list(getattr(builder.info.features[label_key], "names", None) or [])
        return names if len(names) == num_classes else None
    if config.data.source != "tfrecord":
        return None
    found = {}
    files = pipeline_lib.tfrecord_files(config.data.data_dir, config.data.eval_split)
    spec = {tfrecords.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
            tfrecords.SYNSET_KEY: tf.io.FixedLenFeature([], tf.string, default_value="")}
    for record in tf.data.TFRecordDataset(files).take(limit):
        parsed = tf.io.parse_single_example(record, spec)
        label = int(parsed[tfrecords.LABEL_KEY]) - config.data.label_offset
        name = parsed[tfrecords.SYNSET_KEY].numpy().decode()
        if 0 <= label < num_classes and name:
            found.setdefault(label, name)
        if len(found) == num_classes:
            return [found[i] for i in range(num_classes)]
    return None
