"""Writing image classification data in the official ImageNet TFRecord layout.

The layout of ``tools/datasets/imagenet_to_gcs.py`` (docs/fidelity.md: TFRecords): shards
``{split}-00000-of-0NNNN``; one ``tf.train.Example`` per image with keys
``image/encoded`` (JPEG), ``image/class/label`` (int64, 1-based),
``image/class/synset``, ``image/format``, ``image/filename``,
``image/height``, ``image/width``, ``image/colorspace``, ``image/channels``.
As the official converter does, PNG and CMYK (and, here, every other non-RGB-
JPEG) image is re-encoded as an RGB JPEG; RGB and grayscale JPEGs are stored
as they are.

Example:
    >>> jpeg_bytes = tf.io.encode_jpeg(tf.zeros([32, 48, 3], tf.uint8)).numpy()
    >>> write_tfrecords([(jpeg_bytes, 1, "n01440764", "a.JPEG")], "out", "train", num_shards=1, progress=False)
    ['out/train-00000-of-00001']
"""

import concurrent.futures
import io
import os
import threading

from absl import logging
import numpy as np
from PIL import Image
import tensorflow as tf

from official.runtime import workdir

# The feature keys the readers use (official/data/pipeline.py, official/data/labels.py).
IMAGE_KEY = "image/encoded"
LABEL_KEY = "image/class/label"
SYNSET_KEY = "image/class/synset"
FILENAME_KEY = "image/filename"

JPEG_QUALITY = 95  # the official converter's re-encoding quality


class ImageError(ValueError):
    """An input file that is not a readable image."""


def _bytes(v):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))


def _int(v):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))


def to_jpeg(data, filename=""):
    """Returns (jpeg_bytes, height, width, channels, converted) for any image.

    RGB and grayscale JPEGs pass through untouched (the official converter keeps
    them); anything else (PNG, CMYK JPEG, GIF, BMP, numpy arrays) is converted to
    RGB and encoded as JPEG.

    Raises:
        ImageError: the bytes are not an image PIL can read (names the file).
    """
    if isinstance(data, np.ndarray):
        array = data
        if array.dtype != np.uint8:
            raise ImageError(f"{filename or 'array'}: expected uint8 pixels, got {array.dtype}")
        if array.ndim == 2:
            array = np.stack([array] * 3, -1)
        if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
            raise ImageError(f"{filename or 'array'}: expected [H, W, 3] pixels, got {array.shape}")
        image = Image.fromarray(np.ascontiguousarray(array[..., :3]) if array.shape[-1] != 1
                                else array[..., 0]).convert("RGB")
        return _encode(image) + (True,)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except Exception as e:  # PIL raises many types for bad data
        raise ImageError(f"{filename or 'image'}: not a readable image ({type(e).__name__}: {e})") from e
    if _stored_as_is(image):
        return data, image.height, image.width, 3 if image.mode == "RGB" else 1, False
    return _encode(image.convert("RGB")) + (True,)


def _stored_as_is(image):
    """RGB and grayscale JPEGs are kept as they are; every other image is re-encoded."""
    return image.format == "JPEG" and image.mode in ("RGB", "L")


def inspect_file(path):
    """Whether the image file at `path` needs re-encoding as an RGB JPEG (:func:`to_jpeg`'s rule).

    Reads the header only (PIL opens lazily), so a folder of thousands is checked in
    seconds; pixel data cut short is found later, when the image is decoded.

    Raises:
        ImageError: not an image PIL can identify (names the file).

    Example:
        >>> Image.new("RGB", (8, 8)).save("1.png")
        >>> Image.new("RGB", (8, 8)).save("2.jpg")
        >>> inspect_file("1.png"), inspect_file("2.jpg")     # a PNG is re-encoded, an RGB JPEG kept
        (True, False)
    """
    try:
        with Image.open(path) as image:
            return not _stored_as_is(image)
    except OSError as e:   # PIL's UnidentifiedImageError is an OSError
        raise ImageError(f"{path}: not a readable image ({type(e).__name__}: {e})") from e


def _encode(image):
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue(), image.height, image.width, 3


def make_example(image, label, synset="", filename=""):
    """One official-layout tf.train.Example (image: bytes or uint8 array)."""
    jpeg, height, width, channels, _ = to_jpeg(image, filename)
    return tf.train.Example(features=tf.train.Features(feature={
        IMAGE_KEY: _bytes(jpeg),
        "image/format": _bytes(b"JPEG"),
        LABEL_KEY: _int(int(label)),
        SYNSET_KEY: _bytes(synset.encode()),
        FILENAME_KEY: _bytes(os.path.basename(filename).encode()),
        "image/height": _int(height),
        "image/width": _int(width),
        "image/colorspace": _bytes(b"RGB"),
        "image/channels": _int(channels),
    }))


def shard_name(split, index, num_shards):
    return f"{split}-{index:05d}-of-{num_shards:05d}"


def _partial_name(path):
    """Where a shard is written until every shard of its split is (hidden from `split-*` globs)."""
    directory, name = os.path.split(path)
    return os.path.join(directory, f".{name}.partial")


def _write_shard(path, items, load, progress):
    """Writes one shard; returns (written, skipped) counts. `progress`: [items done, bytes]."""
    written = skipped = 0
    with tf.io.TFRecordWriter(path) as writer:
        for item in items:
            image, label, synset, filename = item
            try:
                if load is not None:
                    image = load(image)
                example = make_example(image, label, synset, filename)
            except (ImageError, OSError) as e:
                logging.warning("skipping %s", e)
                skipped += 1
                continue
            record = example.SerializeToString()
            writer.write(record)
            written += 1
            with progress[2]:
                progress[0] += 1
                progress[1] += len(record)
    return written, skipped


def write_tfrecords(examples, out_dir, split, num_shards, *, num_workers=None,
                    load=None, progress=True):
    """Writes ``examples`` as ``{out_dir}/{split}-0000i-of-0000N`` shards.

    Examples are dealt round-robin to the shards; shards are written in
    parallel threads (PIL and TF release the GIL while coding images).

    Args:
        examples: iterable (list, generator) of (image, label_1_based, synset,
          filename); image is encoded bytes, a uint8 [H, W, 3] array, or, with
          ``load``, anything ``load`` turns into one of those (e.g. a path).
        out_dir: output folder (created).
        split: "train", "validation", ...
        num_shards: number of files.
        num_workers: threads (default: CPU count).
        load: optional function applied to each image in the worker (e.g. read
          the file), so reading runs in parallel too.
        progress: show a progress bar.

    Each shard is written under a hidden name and all are renamed into place once
    every one is complete, so a failure (full disk, crash) never leaves a split of
    fewer shards or a truncated shard behind.

    Returns:
        The shard paths.

    Raises:
        ValueError: num_shards < 1 or a label < 1.
        official.runtime.workdir.WriteError: the storage refused a write (full disk, ...): the
            message names the folder, the free space and about how much is needed.
    """
    if num_shards < 1:
        raise ValueError(f"num_shards must be >= 1, got {num_shards}")
    examples = list(examples)
    for image, label, _, filename in examples:
        if int(label) < 1:
            raise ValueError(f"labels are 1-based in the official layout; {filename!r} has {label}")
    with workdir.writing(out_dir, "the output folder"):
        tf.io.gfile.makedirs(out_dir)
    for stale in tf.io.gfile.glob(os.path.join(out_dir, f".{split}-*.partial")):   # a killed run's
        tf.io.gfile.remove(stale)
    paths = [os.path.join(out_dir, shard_name(split, i, num_shards)) for i in range(num_shards)]
    buckets = [examples[i::num_shards] for i in range(num_shards)]
    bar = None
    if progress:
        import keras  # pylint: disable=g-import-not-at-top
        bar = keras.utils.Progbar(num_shards, unit_name="shard")
    total_written = total_skipped = 0
    partials = [_partial_name(p) for p in paths]
    progress = [0, 0, threading.Lock()]     # examples written, bytes written

    def needed():   # the bytes so far, scaled to all the examples
        return progress[1] * len(examples) // max(progress[0], 1) if progress[0] else None

    def cleanup():
        for path in partials:
            if tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)

    what = (f"the {num_shards} TFRecord shard(s) of '{split}' ({len(examples)} images; none is "
            "renamed into place before all are complete)")
    with workdir.writing(out_dir, what, needed, cleanup=cleanup):
        with concurrent.futures.ThreadPoolExecutor(num_workers or os.cpu_count()) as pool:
            futures = [pool.submit(_write_shard, p, b, load, progress) for p, b in zip(partials, buckets)]
            try:
                for f in concurrent.futures.as_completed(futures):
                    written, skipped = f.result()
                    total_written += written
                    total_skipped += skipped
                    if bar is not None:
                        bar.add(1)
            except BaseException:
                for f in futures:    # stop the shards not started; the running ones finish
                    f.cancel()
                raise
        for partial, path in zip(partials, paths):
            tf.io.gfile.rename(partial, path, overwrite=True)
    logging.info("%s: wrote %d images to %d shards in %s (%d unreadable skipped)",
                 split, total_written, num_shards, out_dir, total_skipped)
    return paths


# ----------------------------------------------------------- input layouts ---
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif")


def read_file(ref):
    """Loads an image reference: a path, or (tar_path, offset, size) of a tar member."""
    if isinstance(ref, tuple):
        path, offset, size = ref
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(size)
    with open(ref, "rb") as f:
        return f.read()


def _tar_members(tar_path):
    """(member name, (tar_path, offset, size)) for each file in an uncompressed tar."""
    import tarfile  # pylint: disable=g-import-not-at-top
    with tarfile.open(tar_path, "r:") as tar:
        return [(m.name, (tar_path, m.offset_data, m.size)) for m in tar.getmembers() if m.isfile()]


def _is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def imagenet_train_examples(train_dir, seed=0):
    """References to the ImageNet training images in their distributed layout.

    Args:
        train_dir: folder holding per-synset tars ``n01440764.tar`` ... (the
          contents of ILSVRC2012_img_train.tar) or per-synset folders of JPEGs.
        seed: the list is shuffled (so every shard mixes classes), reproducibly.

    Returns:
        (examples, synsets): examples are (ref, label, synset, filename) with
        label = 1 + index of the synset in the sorted synset list (docs/fidelity.md: TFRecords); load each
        ref with :func:`read_file`.

    Raises:
        FileNotFoundError: the folder is missing or holds no synset tar/folder.
    """
    import random  # pylint: disable=g-import-not-at-top
    if not os.path.isdir(train_dir):
        raise FileNotFoundError(f"ImageNet training folder {train_dir!r} does not exist")
    entries = sorted(os.listdir(train_dir))
    tars = {e[:-4]: os.path.join(train_dir, e) for e in entries if e.endswith(".tar")}
    dirs = {e: os.path.join(train_dir, e) for e in entries
            if os.path.isdir(os.path.join(train_dir, e))}
    synsets = sorted(set(tars) | set(dirs))
    if not synsets:
        raise FileNotFoundError(f"{train_dir!r} holds no per-synset tars (nXXXXXXXX.tar) or folders")
    examples = []
    for label, synset in enumerate(synsets, start=1):
        if synset in tars:
            members = _tar_members(tars[synset])
        else:
            members = [(n, os.path.join(dirs[synset], n)) for n in sorted(os.listdir(dirs[synset]))]
        examples += [(ref, label, synset, os.path.basename(name))
                     for name, ref in members if _is_image(name)]
    random.Random(seed).shuffle(examples)
    return examples, synsets


def imagenet_validation_examples(val_dir, labels_file, synsets=None):
    """References to the flat validation files with their labels.

    Args:
        val_dir: folder of ``ILSVRC2012_val_00000001.JPEG`` ... files.
        labels_file: one synset per line, line i for the i-th file in sorted
          order (``imagenet_2012_validation_synset_labels.txt``).
        synsets: the sorted training synsets (labels = 1 + index); None: the
          sorted synsets named in ``labels_file`` (all 1000 for ImageNet).

    Raises:
        FileNotFoundError / ValueError: missing inputs, a count mismatch, or a
          synset that is not among the training synsets (all named).
    """
    if not os.path.isdir(val_dir):
        raise FileNotFoundError(f"ImageNet validation folder {val_dir!r} does not exist")
    if not os.path.isfile(labels_file):
        raise FileNotFoundError(f"validation labels file {labels_file!r} does not exist")
    files = sorted(f for f in os.listdir(val_dir) if _is_image(f))
    with open(labels_file) as f:
        labels = [line.strip() for line in f if line.strip()]
    if len(labels) != len(files):
        raise ValueError(f"{labels_file!r} has {len(labels)} labels for {len(files)} images "
                         f"in {val_dir!r}")
    if synsets is None:
        synsets = sorted(set(labels))
    index = {s: i + 1 for i, s in enumerate(synsets)}
    examples = []
    for name, synset in zip(files, labels):
        if synset not in index:
            raise ValueError(f"{name}: synset {synset!r} from {labels_file!r} is not one of the "
                             f"{len(synsets)} training synsets")
        examples.append((os.path.join(val_dir, name), index[synset], synset, name))
    return examples


def image_folder_examples(image_dir, seed=0):
    """References to a folder-per-class tree ``image_dir/<class>/<image>``.

    Labels are 1 + index of the class folder in sorted order (as ImageNet).

    Returns:
        (examples, class_names), examples shuffled reproducibly.

    Raises:
        FileNotFoundError: missing folder, no class folders, or no images.
    """
    import random  # pylint: disable=g-import-not-at-top
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"image folder {image_dir!r} does not exist")
    classes = sorted(e for e in os.listdir(image_dir) if os.path.isdir(os.path.join(image_dir, e)))
    if not classes:
        raise FileNotFoundError(f"{image_dir!r} holds no class sub-folders")
    examples = []
    for label, name in enumerate(classes, start=1):
        folder = os.path.join(image_dir, name)
        examples += [(os.path.join(folder, f), label, name, f)
                     for f in sorted(os.listdir(folder)) if _is_image(f)]
    if not examples:
        raise FileNotFoundError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) under {image_dir!r}")
    random.Random(seed).shuffle(examples)
    return examples, classes
