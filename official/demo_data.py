"""The demo's dataset: scikit-learn's handwritten digits as ImageNet-format TFRecords.

`sklearn.datasets.load_digits` ships inside scikit-learn (1797 8x8 grey images, 16
levels, ten classes), so the demo needs no download. Each image is scaled to
0..255, upscaled (bicubic) to `image_size`, made RGB and written through the
project's own writer (official/tfrecords.py) as JPEG TFRecords in the official
layout, labels 1..10 (so `data.label_offset=1`, as for ImageNet). The split is a
fixed, stratified 80/20 train/validation split.

Example:
    >>> counts = write_digits(Path("/tmp/digits"), image_size=32)
    >>> counts
    {'train': 1438, 'validation': 359}
"""

import os

import numpy as np
from PIL import Image

from official import tfrecords

SPLITS = ("train", "validation")


def digits_arrays(image_size=32, validation_fraction=0.2, seed=0):
    """{split: (uint8 images [N, S, S, 3], 0-based labels [N])}, stratified and fixed."""
    from sklearn import datasets  # pylint: disable=g-import-not-at-top
    digits = datasets.load_digits()
    images = (digits.images * (255.0 / 16.0)).round().astype(np.uint8)   # 0..16 levels
    rng = np.random.default_rng(seed)
    val_index = []
    for label in range(10):
        members = np.flatnonzero(digits.target == label)
        val_index.extend(rng.choice(members, int(round(len(members) * validation_fraction)),
                                    replace=False))
    is_val = np.zeros(len(images), bool)
    is_val[val_index] = True

    def upscale(image):
        big = Image.fromarray(image, "L").resize((image_size, image_size), Image.BICUBIC)
        return np.repeat(np.asarray(big)[..., None], 3, axis=-1)

    out = {}
    for split, mask in (("train", ~is_val), ("validation", is_val)):
        out[split] = (np.stack([upscale(im) for im in images[mask]]), digits.target[mask].astype(np.int64))
    return out


def exists(out_dir):
    """True if `out_dir` already holds both splits."""
    return all(tfrecords_glob(out_dir, split) for split in SPLITS)


def tfrecords_glob(out_dir, split):
    import glob  # pylint: disable=g-import-not-at-top
    return sorted(glob.glob(os.path.join(out_dir, f"{split}-*-of-*")))


def write_digits(out_dir, image_size=32, validation_fraction=0.2, seed=0, num_shards=2):
    """Writes train/validation TFRecords to `out_dir`; returns {split: count}."""
    counts = {}
    for split, (images, labels) in digits_arrays(image_size, validation_fraction, seed).items():
        examples = [(image, int(label) + 1, f"digit{int(label)}", f"{split}_{i:04d}_{int(label)}.jpg")
                    for i, (image, label) in enumerate(zip(images, labels))]
        tfrecords.write_tfrecords(examples, os.fspath(out_dir), split, num_shards, progress=False)
        counts[split] = len(examples)
    return counts
