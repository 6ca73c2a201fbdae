"""Training data straight from a folder-per-class tree: its classes, its split, its files.

`data.image_dir=PHOTOS` (official/data/pipeline.py, source "folder") reads the images
where they are, no TFRecords needed:

* `PHOTOS/<class>/<image>`: a share of each class's images (`validation_fraction`,
  rounded, at least one of every class that has two or more) is held out for
  evaluation, chosen by a seeded shuffle per class, so every run holds out the same
  files and adding a class leaves the others' split alone.
* `PHOTOS/train/<class>/...` and `PHOTOS/validation/<class>/...`: those splits as
  they are (every validation class must be a training class).

Labels are the 0-based index of the class folder in sorted order (the 1-based labels
tools/make_tfrecords.py writes, minus one). The files are listed as
`official.data.tfrecords.image_folder_examples` lists them for make_tfrecords, and
each file's header is checked as its writer checks it (`tfrecords.inspect_file`):
a file that is not an image is skipped and counted; PNG, CMYK and other non-RGB-JPEG
images are re-encoded as RGB JPEG while they are read, as the writer would store them.

Example (ten tiny photos of each of two classes, 20% held out):
    >>> from PIL import Image
    >>> for name in ("cat", "dog"):
    ...     os.makedirs(f"photos/{name}", exist_ok=True)
    ...     for i in range(10):
    ...         Image.new("RGB", (40, 32), (25 * i, 0, 0)).save(f"photos/{name}/{i}.jpg")
    >>> data = load("photos", validation_fraction=0.2)
    >>> data.classes, data.count("train"), data.count("validation")
    (('cat', 'dog'), 16, 4)
"""

import concurrent.futures
import dataclasses
import functools
import os
import random

from absl import logging

from official.data import tfrecords

SPLITS = ("train", "validation")
DEFAULT_VALIDATION_FRACTION = 0.15


@dataclasses.dataclass(frozen=True)
class FolderData:
    """A folder's classes and its two splits: (path, 0-based label, re-encode) per image."""
    image_dir: str
    classes: tuple
    splits: dict
    skipped: tuple                  # (path, reason) of the files that are no image
    held_out: float = None          # the fraction held out here; None: train/ and validation/ given

    def split(self, name):
        """The (path, label, re-encode) items of split `name` ("train" or "validation")."""
        if name not in self.splits:
            raise ValueError(f"data.image_dir={self.image_dir!r} gives the splits {SPLITS}, not {name!r}: "
                             "leave data.train_split / data.eval_split at 'train' / 'validation'")
        return self.splits[name]

    def count(self, name):
        return len(self.split(name))

    def describe(self):
        """One line: the classes, the images of each split, how the split was made, what was skipped."""
        names = ", ".join(self.classes[:6]) + (", ..." if len(self.classes) > 6 else "")
        how = (f"{self.held_out:.0%} of each class held out (seeded)" if self.held_out is not None
               else "its train/ and validation/ folders")
        skipped = f"; {len(self.skipped)} file(s) that are no image skipped" if self.skipped else ""
        return (f"{self.image_dir}: {len(self.classes)} classes ({names}), {self.count('train')} training "
                f"and {self.count('validation')} held-out images, {how}{skipped}")


def _listed(image_dir):
    """(classes, {label: [path, ...]}) of a folder-per-class tree; every class must hold images."""
    examples, classes = tfrecords.image_folder_examples(image_dir)
    by_label = {label: [] for label in range(len(classes))}
    for path, label, _, _ in examples:
        by_label[label - 1].append(path)
    empty = [classes[label] for label, paths in by_label.items() if not paths]
    if empty:
        raise FileNotFoundError(f"class folder(s) {', '.join(repr(c) for c in empty[:5])} under {image_dir!r} "
                                f"hold no images ({', '.join(tfrecords.IMAGE_EXTENSIONS)})")
    return tuple(classes), {label: sorted(paths) for label, paths in by_label.items()}


def _hold_out(classes, by_label, fraction, seed):
    """({"train": [(path, label)], "validation": [...]}) with `fraction` of each class held out."""
    train, validation = [], []
    for label, paths in by_label.items():
        paths = list(paths)
        random.Random(f"{seed}/{classes[label]}").shuffle(paths)
        n = len(paths)
        k = min(max(1, round(n * fraction)), n - 1) if n >= 2 else 0
        validation += [(p, label) for p in paths[:k]]
        train += [(p, label) for p in paths[k:]]
    return {"train": train, "validation": validation}


def _inspect(items):
    """(items as (path, label, re-encode), skipped [(path, reason)]) after checking each header."""
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        checked = list(pool.map(_inspect_one, [p for p, _ in items]))
    kept, skipped = [], []
    for (path, label), (convert, reason) in zip(items, checked):
        if reason is None:
            kept.append((path, label, convert))
        else:
            logging.warning("skipping %s", reason)      # as tools/make_tfrecords.py does
            skipped.append((path, reason))
    return kept, skipped


def _inspect_one(path):
    try:
        return tfrecords.inspect_file(path), None
    except tfrecords.ImageError as e:
        return False, str(e)


def _fingerprint(image_dir):
    """The modification times of the folder and its sub-folders: a file added or removed changes one."""
    out = []
    for root, dirs, _ in os.walk(image_dir):
        out.append((root, os.stat(root).st_mtime_ns))
        dirs.sort()
    return tuple(out)


def load(image_dir, validation_fraction=DEFAULT_VALIDATION_FRACTION, seed=0):
    """The classes and splits of the folder-per-class tree `image_dir` (see the module docstring).

    Cached while the folder is unchanged: the trainer and each input pipeline ask for it.

    Raises:
        FileNotFoundError: no folder, no class folders, a class folder without images,
            or no image left to hold out.
        ValueError: a validation class that is no training class; a fraction outside (0, 1).

    Example (the given-splits layout; a PNG is marked for re-encoding as JPEG):
        >>> from PIL import Image
        >>> for split, name in [("train", "cat"), ("train", "dog"), ("validation", "cat")]:
        ...     os.makedirs(f"given/{split}/{name}", exist_ok=True)
        ...     Image.new("RGB", (40, 32)).save(f"given/{split}/{name}/1.jpg")
        >>> Image.new("RGB", (40, 32)).save("given/validation/cat/2.png")
        >>> data = load("given")
        >>> data.classes, data.count("train"), data.split("validation")
        (('cat', 'dog'), 2, (('given/validation/cat/1.jpg', 0, False),
                             ('given/validation/cat/2.png', 0, True)))
    """
    image_dir = os.fspath(image_dir)
    if not image_dir:
        raise FileNotFoundError("data.image_dir is empty")
    if not os.path.isdir(image_dir):
        raise FileNotFoundError(f"data.image_dir={image_dir!r} does not exist or is not a folder")
    return _load(image_dir, float(validation_fraction), seed, _fingerprint(image_dir))


@functools.lru_cache(maxsize=8)
def _load(image_dir, validation_fraction, seed, fingerprint):
    del fingerprint   # part of the cache key only
    given = {s: os.path.join(image_dir, s) for s in SPLITS if os.path.isdir(os.path.join(image_dir, s))}
    held_out = None
    if len(given) == 2:
        classes, train = _listed(given["train"])
        val_classes, val = _listed(given["validation"])
        index = {name: i for i, name in enumerate(classes)}
        unknown = [c for c in val_classes if c not in index]
        if unknown:
            raise ValueError(f"{given['validation']!r} has class folder(s) {', '.join(repr(c) for c in unknown[:5])} "
                             f"that {given['train']!r} lacks")
        splits = {"train": [(p, label) for label, paths in train.items() for p in paths],
                  "validation": [(p, index[val_classes[label]]) for label, paths in val.items() for p in paths]}
    elif "train" in given:
        raise FileNotFoundError(f"{image_dir!r} has train/ but no validation/: give both, or point "
                                f"data.image_dir at {given['train']!r} to hold out a share of it")
    else:
        if not 0.0 < validation_fraction < 1.0:
            raise ValueError(f"config.data.validation_fraction must be in (0, 1), got {validation_fraction!r}")
        classes, by_label = _listed(image_dir)
        splits = _hold_out(classes, by_label, validation_fraction, seed)
        held_out = validation_fraction
    skipped = []
    for name in SPLITS:
        splits[name], bad = _inspect(splits[name])
        skipped += bad
        splits[name] = tuple(sorted(splits[name]))
    if not splits["validation"]:
        raise FileNotFoundError(f"{image_dir!r}: no image to hold out (each class has a single readable "
                                "image); add images or give train/ and validation/ folders")
    return FolderData(image_dir, classes, splits, tuple(skipped), held_out)


load.cache_clear = _load.cache_clear
