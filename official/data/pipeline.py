"""tf.data input: ImageNet TFRecords, TFDS datasets, synthetic batches.

:func:`build_dataset` is the one entry point (contract in CONTRACTS.md). Per
replica it yields ``(images [B, S, S, 3] normalised, labels int32 [B])`` with
0-based labels.

Sources (``data_cfg.source``):

* ``"tfrecord"``: the official ImageNet layout (docs/fidelity.md: TFRecords): shards
  ``{data_dir}/{split}-NNNNN-of-MMMMM``, keys ``image/encoded`` and
  ``image/class/label`` (1-based; ``data_cfg.label_offset`` is subtracted).
* ``"tfds"``: ``tfds.builder(data_cfg.tfds_name)``; ``imagenet2012`` is
  prepared from ``data_cfg.tfds_manual_dir`` on first use; any TFDS image
  classification dataset works by name (labels are already 0-based there).
* ``"folder"``: a folder-per-class tree of image files, ``data_cfg.image_dir``, read
  directly (official/data/folders.py: the classes, the held-out split, the unreadable
  files); labels are the 0-based index of the class folder in sorted order.
* ``"synthetic"``: one fixed random batch repeated, for benchmarks.

Faults in the data: an undecodable image (one record, one image) is skipped and
counted while ``data_cfg.skip_corrupt`` (default), else the run stops. A TFRecord
file that cannot be read to its end (cut short by a failed copy, or corrupt) loses
every record after the damage, an unknown number of images: it stops the run with
an error naming the file and the record from which on it is unreadable, unless
``data_cfg.skip_truncated`` (then a warning with the same facts, each time the file is
read). A label outside the head stops the run naming the label and the file.
:func:`data_error` turns these errors into one line.

Pipeline (training): files listed and shuffled, sharded per
``tf.distribute.InputContext``, interleaved, optionally cached, records
shuffled *before* decoding, repeated, decoded + augmented in parallel
(AUTOTUNE), corrupt records skipped and counted, batched per replica
(drop_remainder), prefetched. ``data_cfg.deterministic`` makes every order and
every random draw reproducible from ``seed`` (stateless ops, per-element seeds).

Example (synthetic data; a recipe's ``config.data`` reads TFRecords or TFDS the same way):
    >>> ds = build_dataset({"source": "synthetic", "image_size": 32}, split="train",
    ...                    is_training=True, batch_size=4, num_classes=10)
    >>> images, labels = next(iter(ds))
    >>> tuple(images.shape), labels.dtype
    ((4, 32, 32, 3), tf.int32)
"""

import glob
import os
import re
import sys
from typing import Any, Mapping

from absl import logging
import ml_collections
import tensorflow as tf

from official import families
from official.data import preprocessing
from official.modeling import normalization
from official.data import reading
from official.data import tfrecords
from official.validation import check_choice

AUTOTUNE = tf.data.AUTOTUNE
SOURCES = ("tfrecord", "tfds", "folder", "synthetic")
# Marks the pipeline's own assertion messages, so data_error() can find them in TF's error text.
DATA_ERROR = "resnet_rs data error:"
# Element status in the reading stage: a record, or the end of a TFRecord file read short
# (official/data/reading.py).
_RECORD, _CUT_FILE = reading.RECORD, reading.CUT_FILE


def _cfg(data_cfg, name, default=None):
    """Reads a config field, tolerating configs that omit optional ones."""
    try:
        value = data_cfg[name]
    except (KeyError, AttributeError):
        return default
    return default if value is None else value


def _shuffle_buffer(data_cfg):
    """data.shuffle_buffer: no default here, the recipe (official/training/recipes.py) sets it."""
    size = _cfg(data_cfg, "shuffle_buffer")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"data.shuffle_buffer must be a positive integer for training, got {size!r}")
    return size


def tfrecord_files(data_dir, split):
    """Sorted shard paths ``{data_dir}/{split}-*`` (official names; docs/fidelity.md: TFRecords).

    Raises:
        FileNotFoundError: the directory does not exist or no file matches.
    """
    if not data_dir:
        raise FileNotFoundError("data.data_dir is empty: set --config.data.data_dir to the "
                                "folder holding the TFRecord shards")
    if not tf.io.gfile.isdir(data_dir):
        raise FileNotFoundError(f"data.data_dir {data_dir!r} does not exist or is not a directory")
    pattern = os.path.join(data_dir, f"{split}-*")
    files = sorted(tf.io.gfile.glob(pattern))
    if not files:
        near = sorted(os.path.basename(p) for p in glob.glob(os.path.join(data_dir, "*")))[:5]
        raise FileNotFoundError(f"no TFRecord shards match {pattern!r} (split {split!r}); "
                                f"the folder holds e.g. {near}")
    return files


def parse_example(serialized):
    """Official ImageNet Example -> (image_bytes, raw label int32, filename)."""
    features = tf.io.parse_single_example(serialized, {
        tfrecords.IMAGE_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
        tfrecords.LABEL_KEY: tf.io.FixedLenFeature([], tf.int64, default_value=-1),
        tfrecords.FILENAME_KEY: tf.io.FixedLenFeature([], tf.string, default_value=""),
    })
    return (features[tfrecords.IMAGE_KEY], tf.cast(features[tfrecords.LABEL_KEY], tf.int32),
            features[tfrecords.FILENAME_KEY])


def _shard_files(files, input_context):
    """Shards at file level when every pipeline gets a file, else at record level."""
    if input_context is None or input_context.num_input_pipelines <= 1:
        return files, None
    n, i = input_context.num_input_pipelines, input_context.input_pipeline_id
    if len(files) >= n:
        return files[i::n], None
    logging.warning("%d files for %d input pipelines: sharding by record instead of by file",
                    len(files), n)
    return files, (n, i)


def _tfrecord_records(data_cfg, split, is_training, input_context, seed, deterministic):
    """Dataset of (image_bytes, label, filename, status, note) from the official TFRecords."""
    files = tfrecord_files(_cfg(data_cfg, "data_dir"), split)
    files, record_shard = _shard_files(files, input_context)
    ds = tf.data.Dataset.from_tensor_slices((files, tf.constant(reading.file_sizes(files), tf.int64)))
    if is_training:
        ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    ds = ds.interleave(
        reading.read_checked, cycle_length=min(16, len(files)), block_length=1,
        num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if record_shard:
        ds = ds.shard(*record_shard)
    if _cfg(data_cfg, "cache", False):
        ds = ds.cache()
    if is_training:
        ds = ds.shuffle(_shuffle_buffer(data_cfg), seed=seed,
                        reshuffle_each_iteration=True)
        ds = ds.repeat()
    offset = int(_cfg(data_cfg, "label_offset", 1))
    stand_in = reading.stand_in_jpeg()

    def parse(record, status, note):
        # A cut file's marker parses as an empty Example; its image is a stand-in that
        # decodes, so the decode stage counts real images only (see build_dataset).
        image_bytes, label, filename = parse_example(record)
        is_cut = tf.equal(status, _CUT_FILE)
        return (tf.where(is_cut, stand_in, image_bytes), tf.where(is_cut, 0, label - offset),
                tf.where(is_cut, note, filename), status, note)

    # Parsing is cheap next to decoding: records stay serialized through shuffle.
    return ds.map(parse, num_parallel_calls=AUTOTUNE, deterministic=deterministic)


def _folder_records(data_cfg, split, is_training, input_context, seed, deterministic):
    """Dataset of (path, label, path, status, note) from a folder-per-class tree (read in decode)."""
    from official.data import folders  # pylint: disable=g-import-not-at-top
    data = folders.load(_cfg(data_cfg, "image_dir"), _cfg(data_cfg, "validation_fraction", 0.15))
    items = data.split(split)
    paths = [p for p, _, _ in items]
    ds = tf.data.Dataset.from_tensor_slices((paths, [label for _, label, _ in items],
                                             [convert for _, _, convert in items]))
    if input_context is not None and input_context.num_input_pipelines > 1:
        ds = ds.shard(input_context.num_input_pipelines, input_context.input_pipeline_id)
    if is_training:
        ds = ds.shuffle(len(items), seed=seed, reshuffle_each_iteration=True).repeat()
    # status carries "re-encode first" (PNG, CMYK, ...), as tools/make_tfrecords.py would have.
    return ds.map(lambda path, label, convert: (path, label, path, tf.cast(convert, tf.int32) * _CONVERT, ""))


# Folder source: the element's first field is a path to read in the decode stage, re-encoded
# as an RGB JPEG first with this status (official/data/tfrecords.py to_jpeg).
_CONVERT = 2


def _read_image_file(path, status):
    """The bytes of an image file, re-encoded as an RGB JPEG where tools/make_tfrecords.py would."""
    from official.data import tfrecords  # pylint: disable=g-import-not-at-top
    data = tf.io.read_file(path)

    def reencode(raw):
        return tfrecords.to_jpeg(raw)[0]

    return tf.cond(tf.equal(status, _CONVERT),
                   lambda: tf.reshape(tf.numpy_function(reencode, [data], tf.string, stateful=False), []),
                   lambda: data)


def _tfds_records(data_cfg, split, is_training, input_context, seed, deterministic):
    """Dataset of (image_bytes, label, filename) from a TFDS builder."""
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    name = _cfg(data_cfg, "tfds_name", "imagenet2012")
    data_dir = _cfg(data_cfg, "data_dir") or None
    builder = tfds.builder(name, data_dir=data_dir)
    if not tf.io.gfile.exists(os.path.join(builder.data_dir, "dataset_info.json")):
        manual_dir = _cfg(data_cfg, "tfds_manual_dir") or None
        if name.startswith("imagenet2012") and not manual_dir:
            raise FileNotFoundError(
                f"TFDS dataset {name!r} is not prepared in {builder.data_dir!r} and "
                "data.tfds_manual_dir is empty: set it to the folder holding "
                "ILSVRC2012_img_train.tar / ILSVRC2012_img_val.tar")
        if manual_dir and not tf.io.gfile.isdir(manual_dir):
            raise FileNotFoundError(f"data.tfds_manual_dir {manual_dir!r} does not exist")
        logging.info("preparing TFDS %s in %s (manual dir %s)", name, builder.data_dir, manual_dir)
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    image_key, label_key = builder.info.supervised_keys or ("image", "label")
    read_config = tfds.ReadConfig(
        input_context=input_context, shuffle_seed=seed,
        interleave_cycle_length=16, try_autocache=False)
    options = tf.data.Options()
    options.deterministic = deterministic
    read_config.options = options
    ds = builder.as_dataset(split=split, shuffle_files=is_training, read_config=read_config,
                            decoders={image_key: tfds.decode.SkipDecoding()})
    has_name = "file_name" in builder.info.features

    def select(example):
        filename = example["file_name"] if has_name else tf.constant("")
        return example[image_key], tf.cast(example[label_key], tf.int32), filename, _RECORD, ""

    ds = ds.map(select, num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    if _cfg(data_cfg, "cache", False):
        ds = ds.cache()
    if is_training:
        ds = ds.shuffle(_shuffle_buffer(data_cfg), seed=seed,
                        reshuffle_each_iteration=True).repeat()
    return ds


def _synthetic(data_cfg, is_training, batch_size, num_classes, image_size, dtype, seed):
    """One fixed random batch, repeated (training) or num_eval_images worth (eval)."""
    g = tf.random.Generator.from_seed(seed or 0)
    images = normalization.normalize(
        g.uniform([batch_size, image_size, image_size, 3], 0.0, 255.0), dtype)
    labels = g.uniform([batch_size], 0, num_classes, dtype=tf.int32)
    ds = tf.data.Dataset.from_tensors((images, labels))
    if is_training:
        return ds.repeat()
    n = int(_cfg(data_cfg, "num_eval_images", 0)) or batch_size
    return ds.repeat(max(1, n // batch_size))


def _count_skipped(ds):
    """Logs how many records the decode step dropped (gaps in the element index).

    Elements carry their index from before decoding; the decode map runs in
    order, so after ``ignore_errors`` a gap is exactly a skipped record.
    """

    @tf.autograph.experimental.do_not_convert
    def step(state, element):
        expected, skipped = state
        index, rest = element[0], element[1:]
        gap = index - expected
        new_skipped = skipped + gap

        def report():
            tf.print("WARNING: official.data.pipeline skipped", gap,
                     "corrupt or undecodable record(s); total skipped:", new_skipped,
                     "(set data.skip_corrupt=False to make this fatal; "
                     "TF_CPP_MIN_LOG_LEVEL<=1 shows each decode error)",
                     output_stream=sys.stderr)
            return tf.constant(0)

        tf.cond(gap > 0, report, lambda: tf.constant(0))
        return (index + 1, new_skipped), rest

    return ds.scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)), step)


def _check_labels(num_classes, offset):
    """Fails the pipeline with one line naming the label and the file (data_error reads it)."""

    @tf.autograph.experimental.do_not_convert
    def check(image, label, filename):
        ok = (label >= 0) & (label < num_classes)
        where = tf.where(tf.strings.length(filename) > 0, tf.strings.join([" of ", filename]), "")
        message = tf.strings.join([
            "label ", tf.strings.as_string(label + offset), where, f" is outside the head of "
            f"{num_classes} classes (0..{num_classes - 1}"
            + (f" after subtracting data.label_offset={offset}" if offset else "")
            + "): set config.model.num_classes to the data's number of classes, or fix the label"])
        assertion = tf.debugging.Assert(ok, [DATA_ERROR, message], summarize=1)
        with tf.control_dependencies([assertion]):
            return image, tf.identity(label)

    return check


def _cut_files(skip):
    """A marker of a file read short: an error, or with `skip` a warning; the markers are dropped after."""

    @tf.autograph.experimental.do_not_convert
    def check(image, label, filename, status, note):
        cut = tf.equal(status, _CUT_FILE)
        if skip:
            def report():
                tf.print("WARNING:", note, "(data.skip_truncated=True: going on without them)",
                         output_stream=sys.stderr)
                return tf.constant(0)

            deps = [tf.cond(cut, report, lambda: tf.constant(0))]
        else:
            deps = [tf.debugging.Assert(~cut, [DATA_ERROR, tf.strings.join([
                note, "; copy or write the file again, or set data.skip_truncated=True to train "
                "without its lost records"])], summarize=1)]
        with tf.control_dependencies(deps):
            return image, tf.identity(label), filename, status

    return check


def data_error(error):
    """The one-line message of a data fault the pipeline raised, from TensorFlow's error; or None.

    A label outside the head, a truncated TFRecord file and (with data.skip_corrupt=False)
    an undecodable image surface as a tf.errors.OpError with many lines of graph context;
    this keeps what the user needs.

    Example (a folder of three classes read for a head of two):
        >>> from PIL import Image
        >>> for name in ("cat", "dog", "owl"):
        ...     os.makedirs(f"zoo/{name}", exist_ok=True)
        ...     for i in range(2):
        ...         Image.new("RGB", (48, 40)).save(f"zoo/{name}/{i}.jpg")
        >>> ds = build_dataset({"source": "folder", "image_dir": "zoo", "image_size": 32}, split="train",
        ...                    is_training=False, batch_size=4, num_classes=2)
        >>> try:
        ...     next(iter(ds))
        ... except tf.errors.OpError as e:
        ...     print(data_error(e))
        label 2 of zoo/owl/1.jpg is outside the head of 2 classes (0..1): set config.model.num_classes ...
    """
    text = getattr(error, "message", None) or str(error)
    found = re.search(re.escape(DATA_ERROR) + r"\] \[(.*)\]", text)
    if found:   # Assert prints strings with their quotes escaped
        return found.group(1).replace("\\'", "'").replace('\\"', '"')
    if isinstance(error, tf.errors.InvalidArgumentError) and re.search(r"JPEG|[Dd]ecode|image", text):
        first = re.sub(r"\{\{[^}]*\}\}\s*", "", text.strip().splitlines()[0])[:200]
        return (f"an image in the data cannot be decoded ({first}); data.skip_corrupt=True skips "
                "such images and counts them")
    return None


class DataError(ValueError):
    """A fault in the data that stops the run (the message is one line: what and where)."""


def build_dataset(data_cfg: ml_collections.ConfigDict | Mapping[str, Any], *, split: str, is_training: bool,
                  batch_size: int, num_classes: int, input_context: tf.distribute.InputContext | None = None,
                  seed: int | None = None) -> tf.data.Dataset:
    """The input pipeline for one replica.

    Args:
        data_cfg: the ``config.data`` ConfigDict (fields in CONTRACTS.md).
        split: split name ("train", "validation", or a TFDS split string).
        is_training: training (random crop, flip, RandAugment, shuffle, repeat,
          drop_remainder) or eval (centre crop, one pass, keep the remainder).
        batch_size: PER-REPLICA batch size.
        num_classes: labels must lie in [0, num_classes) after the offset.
        input_context: ``tf.distribute.InputContext`` for sharding, or None.
        seed: int seed; with ``data_cfg.deterministic`` (default 0 then) every
          run yields the same elements in the same order.

    Returns:
        tf.data.Dataset of (images [B, S, S, 3] normalised ``data_cfg.dtype``,
        labels int32 [B], 0-based).

    Raises:
        ValueError: unknown source / preprocessing / dtype values.
        FileNotFoundError: missing data directory or no matching shard.

    Example (a folder of photos, two of each class, half of them held out):
        >>> from PIL import Image
        >>> for name in ("cat", "dog", "owl"):
        ...     os.makedirs(f"photos/{name}", exist_ok=True)
        ...     for i in range(2):
        ...         Image.new("RGB", (48, 40)).save(f"photos/{name}/{i}.jpg")
        >>> data_cfg = {"source": "folder", "image_dir": "photos", "image_size": 32,
        ...             "validation_fraction": 0.5}
        >>> ds = build_dataset(data_cfg, split="validation", is_training=False, batch_size=4, num_classes=3)
        >>> [(tuple(images.shape), labels.numpy().tolist()) for images, labels in ds]   # the remainder kept
        [((3, 32, 32, 3), [0, 1, 2])]

        A recipe's `config.data` (ImageNet TFRecords, official/training/recipes.py) the same way:

        >>> ds = build_dataset(config.data, split=config.data.train_split, is_training=True,
        ...                    batch_size=64, num_classes=1000)   # ImageNet on disk  # doctest: +SKIP
    """
    source = _cfg(data_cfg, "source", "tfrecord")
    check_choice("data.source", source, SOURCES)
    family = families.get(_cfg(data_cfg, "preprocessing", families.TF1.name), "data.preprocessing").name
    dtype_name = _cfg(data_cfg, "dtype", "float32")
    check_choice("data.dtype", dtype_name, ("float32", "bfloat16"))
    dtype = tf.as_dtype(dtype_name)
    image_size = int(_cfg(data_cfg, "image_size", 224))
    if not is_training:
        image_size = int(_cfg(data_cfg, "eval_image_size", 0)) or image_size
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    deterministic = bool(_cfg(data_cfg, "deterministic", False))
    if deterministic and seed is None:
        seed = 0
    if seed is not None and input_context is not None:
        # Different random streams per input pipeline.
        seed = seed + 1000003 * input_context.input_pipeline_id

    if source == "synthetic":
        ds = _synthetic(data_cfg, is_training, batch_size, num_classes, image_size, dtype, seed)
        return ds.prefetch(AUTOTUNE)

    records = {"tfrecord": _tfrecord_records, "tfds": _tfds_records, "folder": _folder_records}[source]
    ds = records(data_cfg, split, is_training, input_context, seed, deterministic)
    from_files = source == "folder"

    crop_padding = int(_cfg(data_cfg, "crop_padding", preprocessing.CROP_PADDING))
    if is_training:
        magnitude = _cfg(data_cfg, "randaug_magnitude", 0)
        num_layers = int(_cfg(data_cfg, "randaug_num_layers", 2))
        variant = _cfg(data_cfg, "randaug_variant", family)

        def preprocess(image_bytes, seed_pair):
            return preprocessing.preprocess_for_train(
                image_bytes, image_size, family=family, randaug_num_layers=num_layers,
                randaug_magnitude=magnitude, randaug_variant=variant,
                crop_padding=crop_padding, seed=seed_pair)
    else:
        def preprocess(image_bytes, seed_pair):
            del seed_pair
            return preprocessing.preprocess_for_eval(image_bytes, image_size, family, crop_padding)

    # Per-element seeds for the stateless random ops: reproducible when seeded.
    seeds = tf.data.Dataset.random(seed=seed).batch(2)
    ds = tf.data.Dataset.zip((ds, seeds)).enumerate()

    # No autograph: nothing here branches in Python on tensors, and converting
    # the RandAugment graph's 2 x 16 branches would triple the tracing time.
    @tf.autograph.experimental.do_not_convert
    def decode(index, element):
        (image_bytes, label, filename, status, note), seed_pair = element
        if from_files:   # read here, so an unreadable file counts as one skipped image
            image_bytes = _read_image_file(image_bytes, status)
            status = tf.constant(_RECORD)
        image = normalization.normalize(preprocess(image_bytes, seed_pair), dtype)
        return index, image, label, filename, status, note

    skip = bool(_cfg(data_cfg, "skip_corrupt", True))
    # Skipping needs the decode map in order so gaps in `index` count the drops.
    ds = ds.map(decode, num_parallel_calls=AUTOTUNE, deterministic=deterministic or skip)
    if skip:
        ds = ds.ignore_errors(log_warning=True)
        ds = _count_skipped(ds)
    else:
        ds = ds.map(lambda i, *rest: rest)
    # After the skipping above: a truncated file must not pass for one skipped image.
    ds = ds.map(_cut_files(bool(_cfg(data_cfg, "skip_truncated", False))))
    ds = ds.filter(lambda image, label, filename, status: tf.equal(status, _RECORD))
    offset = 0 if source != "tfrecord" else int(_cfg(data_cfg, "label_offset", 1))
    ds = ds.map(lambda image, label, filename, status: _check_labels(num_classes, offset)(
        image, label, filename))
    ds = ds.batch(batch_size, drop_remainder=is_training,
                  num_parallel_calls=AUTOTUNE, deterministic=deterministic)
    options = tf.data.Options()
    options.deterministic = deterministic
    ds = ds.with_options(options)
    return ds.prefetch(AUTOTUNE)
